"""Profile (EDA) of any governed table, computed in the engine.

One aggregate query per table returns, for every column, the row and null counts and the
distinct count; numeric columns add min/max/mean/sd and quantiles, and the share of values
beyond 3 IQR of the quartiles (outliers); date/time columns give the time coverage; short
text columns their most frequent values. Only these aggregates leave the warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis_py.analyses.base import AnalysisResults


@dataclass(frozen=True)
class Params:
    """Parameters of a ``profile`` spec."""

    #: columns to profile (none = all)
    columns: list[str] | None = None
    top_values: int = 5
    #: top values are listed only for columns with at most this many distinct values
    max_distinct_for_top: int = 50
    #: key columns checked for duplicates (default: the model's primary key in the manifest)
    key_columns: list[str] | None = None
    #: a date column: missingness by month and drift of the last period vs the one before
    date_column: str | None = None
    period_days: int = 90
    #: rows sampled per period for distributions and the KS test
    sample_rows: int = 50000
    where: str | None = None


def profile_table(t, *, columns=None, top_values=5, max_distinct_for_top=50) -> pd.DataFrame:
    """Per-column statistics of an Ibis table, all computed by the backend."""
    schema = t.schema()
    cols = columns or list(schema.names)
    aggs = {"__rows": t.count()}
    for c in cols:
        col = t[c]
        aggs[f"{c}__nulls"] = col.isnull().sum()
        aggs[f"{c}__distinct"] = col.nunique()
        dt = schema[c]
        if dt.is_numeric() and not dt.is_boolean():
            x = col.cast("float64")
            aggs[f"{c}__min"] = x.min()
            aggs[f"{c}__max"] = x.max()
            aggs[f"{c}__mean"] = x.mean()
            aggs[f"{c}__std"] = x.std()
            for q in (0.01, 0.25, 0.5, 0.75, 0.99):
                aggs[f"{c}__q{int(q * 100):02d}"] = x.quantile(q)
        elif dt.is_boolean():
            aggs[f"{c}__mean"] = col.cast("float64").mean()
        elif dt.is_temporal():
            aggs[f"{c}__tmin"] = col.min().cast("string")
            aggs[f"{c}__tmax"] = col.max().cast("string")
    row = t.aggregate(**aggs).to_pandas().iloc[0]
    n = int(row["__rows"])
    out = []
    for c in cols:
        dt = schema[c]
        rec = {
            "column": c,
            "type": str(dt),
            "rows": n,
            "nulls": int(row[f"{c}__nulls"]),
            "null_share": (int(row[f"{c}__nulls"]) / n) if n else float("nan"),
            "distinct": int(row[f"{c}__distinct"]),
        }
        for key in ("min", "max", "mean", "std", "q01", "q25", "q50", "q75", "q99"):
            if f"{c}__{key}" in row:
                rec[key] = float(row[f"{c}__{key}"]) if pd.notna(row[f"{c}__{key}"]) else None
        if f"{c}__tmin" in row:
            rec["time_min"] = row[f"{c}__tmin"]
            rec["time_max"] = row[f"{c}__tmax"]
        out.append(rec)
    prof = pd.DataFrame(out)
    # outliers (beyond 3 IQR) for numeric columns, one more aggregate query
    num = prof.dropna(subset=["q25"]) if "q25" in prof else prof.iloc[0:0]
    if len(num):
        oaggs = {}
        for r in num.itertuples():
            iqr = r.q75 - r.q25
            x = t[r.column].cast("float64")
            oaggs[r.column] = ((x < r.q25 - 3 * iqr) | (x > r.q75 + 3 * iqr)).cast("int64").sum()
        orow = t.aggregate(**oaggs).to_pandas().iloc[0]
        prof["outliers_3iqr"] = prof["column"].map(
            lambda c: int(orow[c]) if c in orow and pd.notna(orow[c]) else None
        )
    tops = []
    for r in prof.itertuples():
        dt = schema[r.column]
        if (dt.is_string() or dt.is_boolean()) and 0 < r.distinct <= max_distinct_for_top:
            vc = (
                t.group_by(t[r.column].cast("string").name("v"))
                .aggregate(k=t.count())
                .order_by(lambda s: s.k.desc())
                .limit(top_values)
                .to_pandas()
            )
            tops.append(
                ", ".join(
                    f"{'null' if pd.isna(v) else v} ({k:,})"
                    for v, k in zip(vc["v"], vc["k"], strict=True)
                )
            )
        else:
            tops.append(None)
    prof["top_values"] = tops
    return prof


class Profile:
    def __init__(
        self,
        table,
        name: str,
        params: Params = Params(),
        *,
        key: list[str] | None = None,
    ):
        self.table = table
        self.name = name
        self.params = params
        self.key = list(params.key_columns or key or [])

    def fit(self) -> AnalysisResults:
        p = self.params
        prof = profile_table(
            self.table,
            columns=p.columns,
            top_values=p.top_values,
            max_distinct_for_top=p.max_distinct_for_top,
        )
        n = int(prof["rows"].iloc[0]) if len(prof) else 0
        tables = {"profile": prof.assign(model=self.name)}
        look: list[str] = []  # things to look at, in plain words
        nully = prof[prof.null_share > 0].sort_values("null_share", ascending=False)
        empty = prof[prof.nulls == n]["column"].tolist() if n else []
        if empty:
            look.append(f"entirely null: {', '.join(empty)}")
        mostly = nully[(nully.null_share >= 0.5) & ~nully.column.isin(empty)]
        if len(mostly):
            look.append(
                "mostly null: "
                + ", ".join(f"{r.column} ({r.null_share:.0%})" for r in mostly.itertuples())
            )
        dup = self._duplicate_keys() if self.key else None
        if dup:
            look.append(f"{dup:,} rows share a key ({', '.join(self.key)}) with another row")
        samples = {}
        if p.date_column:
            miss, jumps = self._missingness()
            tables["missingness"] = miss
            if jumps:
                look.append(
                    "missingness changes over time: "
                    + ", ".join(f"{c} ({lo:.0%} → {hi:.0%} by month)" for c, lo, hi in jumps)
                )
            drift, samples = self._drift(prof)
            tables["drift"] = drift
            moved = drift[drift["verdict"] != "stable"]
            if len(moved):
                look.append(
                    f"changed in the last {p.period_days} days vs the {p.period_days} before: "
                    + ", ".join(f"{r.column} ({r.verdict})" for r in moved.itertuples())
                )
        assoc = self._associations(prof)
        if len(assoc):
            tables["associations"] = assoc
            strong = assoc[assoc["strong"]]
            if len(strong):
                look.append(
                    "strongly associated: "
                    + ", ".join(
                        f"{r.column_a} ~ {r.column_b} ({r.measure} {r.value:.2f})"
                        for r in strong.head(5).itertuples()
                    )
                )
        out_cols = (
            prof[prof["outliers_3iqr"].fillna(0) > 0] if "outliers_3iqr" in prof else prof.iloc[0:0]
        )
        if len(out_cols):
            look.append(
                "outliers beyond 3 IQR in "
                + ", ".join(
                    f"{r.column} ({int(r.outliers_3iqr):,})" for r in out_cols.head(3).itertuples()
                )
            )
        cov = prof.dropna(subset=["time_min"]) if "time_min" in prof else prof.iloc[0:0]
        cov_txt = (
            "; time coverage "
            + ", ".join(
                f"{r.column} {r.time_min[:10]} → {r.time_max[:10]}"
                for r in cov.head(2).itertuples()
            )
            if len(cov)
            else ""
        )
        finding = (
            f"{self.name}: {n:,} rows, {len(prof)} columns; "
            + (
                ", ".join(f"{r.column} {r.null_share:.1%} null" for r in nully.head(4).itertuples())
                if len(nully)
                else "no nulls"
            )
            + cov_txt
            + ". "
            + (
                "Things to look at: " + "; ".join(look) + "."
                if look
                else "Nothing stands out: no duplicate keys, no drift, no empty columns."
            )
        )
        res = AnalysisResults(
            analysis="profile",
            title=f"Profile of {self.name}",
            finding=finding,
            headline=(
                f"{self.name}: {n:,} rows; {len(look)} thing{'s' if len(look) != 1 else ''} to "
                "look at."
                if look
                else f"{self.name}: {n:,} rows; nothing stands out."
            ),
            recommendation=(
                f"Start with: {look[0]}." if look else "The table can be used as it is."
            ),
            method=(
                "Aggregates computed in the warehouse: counts, nulls, distinct values, moments, "
                "quantiles, 3-IQR outliers, time range, top values; duplicate keys"
                + (
                    f"; null share by month of {p.date_column}; the last {p.period_days} days "
                    f"against the {p.period_days} before: population-stability index for "
                    "categories (shifted above 0.2), two-sample Kolmogorov–Smirnov on up to "
                    f"{p.sample_rows:,} sampled rows per period for numbers (shifted when "
                    "p < 0.01 and D > 0.1), and the change in distinct values"
                    if p.date_column
                    else ""
                )
                + f"; associations on up to {p.sample_rows:,} sampled rows: Spearman correlation "
                "between numbers (strong at |ρ| ≥ 0.8), Cramér's V between categories (strong "
                "at V ≥ 0.5)."
            ),
            assumptions=["The governed table is complete for the period it covers."],
            limitations=[
                "Quantiles may be approximate on some engines.",
                "Drift compares two periods; a seasonal difference reads as drift.",
            ],
            tables=tables,
        )
        res.add_measure("rows", n, "intrinsic")
        res.add_measure("columns_with_nulls", len(nully), "intrinsic")
        if self.key:
            res.add_measure(
                "duplicate_key_rows", dup or 0, "intrinsic", "rows", ", ".join(self.key)
            )
        if "drift" in tables:
            res.add_measure(
                "columns_drifted", int((tables["drift"]["verdict"] != "stable").sum()), "intrinsic"
            )
        res.warnings = look
        numeric = [c for c, v in samples.items() if len(v)]
        if numeric:
            res.plot_fns["distributions"] = lambda: _distributions_plot(samples, p.period_days)
            res.plot_fns["ecdf"] = lambda: _ecdf_plot(samples, p.period_days)
        return res

    def _associations(self, prof: pd.DataFrame) -> pd.DataFrame:
        """Spearman ρ between numeric columns, Cramér's V between low-cardinality categories,
        on one sample of rows."""
        from scipy.stats.contingency import association

        p = self.params
        schema = self.table.schema()
        skip = {*self.key, p.date_column}
        nums, cats = [], []
        for r in prof.itertuples():
            dt = schema[r.column]
            if r.column in skip or r.nulls == r.rows or r.distinct < 2:
                continue
            if dt.is_numeric() and not dt.is_boolean():
                nums.append(r.column)
            elif (dt.is_string() or dt.is_boolean()) and r.distinct <= p.max_distinct_for_top:
                cats.append(r.column)
        if len(nums) + len(cats) < 2:
            return pd.DataFrame()
        df = _sample_rows(self.table, [*nums, *cats], p.sample_rows)
        rows = []
        if len(nums) >= 2:
            rho = df[nums].astype(float).corr(method="spearman")
            for i, a in enumerate(nums):
                for b in nums[i + 1 :]:
                    v = rho.loc[a, b]
                    if pd.notna(v):
                        rows.append((a, b, "spearman", float(v), abs(v) >= 0.8))
        for i, a in enumerate(cats):
            for b in cats[i + 1 :]:
                tab = pd.crosstab(df[a].astype("string"), df[b].astype("string"))
                if min(tab.shape) < 2:
                    continue
                v = float(association(tab.to_numpy(), method="cramer"))
                rows.append((a, b, "cramers_v", v, v >= 0.5))
        out = pd.DataFrame(rows, columns=["column_a", "column_b", "measure", "value", "strong"])
        return out.reindex(out["value"].abs().sort_values(ascending=False).index).reset_index(
            drop=True
        )

    def _duplicate_keys(self) -> int:
        t = self.table
        g = t.group_by(self.key).aggregate(k=t.count())
        dup = g.filter(g.k > 1).aggregate(rows=g.k.sum()).to_pandas()["rows"].iloc[0]
        return int(dup) if pd.notna(dup) else 0

    def _periods(self):
        t = self.table
        d = t[self.params.date_column].cast("date")
        last = pd.Timestamp(t.aggregate(m=d.max()).to_pandas()["m"].iloc[0])
        cut = (last - pd.Timedelta(days=self.params.period_days)).date()
        start = (last - pd.Timedelta(days=2 * self.params.period_days)).date()
        return t.filter((d > start) & (d <= cut)), t.filter(d > cut)

    def _missingness(self):
        t = self.table
        month = t[self.params.date_column].cast("date").truncate("M").name("month")
        cols = [c for c in t.columns if c != self.params.date_column]
        aggs = {"__n": t.count(), **{c: t[c].isnull().cast("int64").sum() for c in cols}}
        m = t.group_by(month).aggregate(**aggs).to_pandas().sort_values("month")
        long = m.melt(id_vars=["month", "__n"], var_name="column", value_name="nulls")
        long["null_share"] = long["nulls"] / long["__n"]
        long = long.rename(columns={"__n": "rows"})
        jumps = []
        for c, g in long[long["rows"] >= 30].groupby("column", sort=False):
            lo, hi = float(g["null_share"].min()), float(g["null_share"].max())
            if hi - lo > 0.1:
                jumps.append((c, lo, hi))
        return long[["month", "column", "rows", "nulls", "null_share"]], jumps

    def _drift(self, prof: pd.DataFrame):
        from scipy import stats

        from analysis_py.analyses._stats import psi

        p = self.params
        before, after = self._periods()
        schema = self.table.schema()
        numeric = [
            c
            for c in prof["column"]
            if c != p.date_column
            and c not in self.key
            and schema[c].is_numeric()
            and not schema[c].is_boolean()
        ]
        before_rows = _sample_rows(before, numeric, p.sample_rows) if numeric else None
        after_rows = _sample_rows(after, numeric, p.sample_rows) if numeric else None
        rows, samples = [], {}
        for r in prof.itertuples():
            c = r.column
            if c == p.date_column or c in self.key:
                continue
            dt = schema[c]
            if dt.is_numeric() and not dt.is_boolean():
                a = before_rows[c].dropna().to_numpy(float)
                b = after_rows[c].dropna().to_numpy(float)
                if len(a) < 20 or len(b) < 20:
                    continue
                ks = stats.ks_2samp(a, b)
                shifted = ks.pvalue < 0.01 and ks.statistic > 0.1
                rows.append(
                    {
                        "column": c,
                        "kind": "numeric",
                        "psi": psi(pd.Series(a), pd.Series(b), numeric=True),
                        "ks_statistic": float(ks.statistic),
                        "ks_p_value": float(ks.pvalue),
                        "distinct_before": None,
                        "distinct_after": None,
                        "verdict": "shifted" if shifted else "stable",
                    }
                )
                samples[c] = (a, b)
            elif (dt.is_string() or dt.is_boolean()) and r.distinct <= 10 * p.max_distinct_for_top:
                vb = _counts(before, c)
                va = _counts(after, c)
                if vb.sum() < 20 or va.sum() < 20:
                    continue
                e = vb.index.repeat(vb.to_numpy()).to_series(index=None)
                x = va.index.repeat(va.to_numpy()).to_series(index=None)
                value = psi(e, x)
                nb, na = len(vb), len(va)
                verdict = "shifted" if value > 0.2 else "stable"
                if max(nb, na) >= 5 and abs(na - nb) / max(nb, 1) > 0.5:
                    verdict = "cardinality changed" if verdict == "stable" else verdict
                rows.append(
                    {
                        "column": c,
                        "kind": "categorical",
                        "psi": value,
                        "ks_statistic": None,
                        "ks_p_value": None,
                        "distinct_before": nb,
                        "distinct_after": na,
                        "verdict": verdict,
                    }
                )
        cols = [
            "column",
            "kind",
            "psi",
            "ks_statistic",
            "ks_p_value",
            "distinct_before",
            "distinct_after",
            "verdict",
        ]
        return pd.DataFrame(rows, columns=cols), samples


def _sample_rows(t, columns: list[str], n: int) -> pd.DataFrame:
    """About ``n`` rows of ``columns``, sampled in the engine (all rows when there are fewer)."""
    x = t.select(*columns)
    total = int(x.count().to_pandas())
    if total > n:
        x = x.sample(n / total, seed=0)
    return x.to_pandas()


def _counts(t, column: str) -> pd.Series:
    g = t.group_by(t[column].cast("string").fill_null("null").name("v")).aggregate(k=t.count())
    df = g.to_pandas()
    return pd.Series(df["k"].to_numpy(), index=df["v"].astype(str))


def _grid(plt, k: int):
    """Small multiples: up to three per row."""
    ncol = min(3, k)
    nrow = (k + ncol - 1) // ncol
    return plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.4 * nrow), squeeze=False)


def _finish(fig, axes, k: int):
    for ax in axes.ravel()[k:]:
        ax.axis("off")
    axes.ravel()[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def _distributions_plot(samples: dict, period_days: int):
    import matplotlib.pyplot as plt

    cols = list(samples)[:12]
    fig, axes = _grid(plt, len(cols))
    for ax, c in zip(axes.ravel(), cols, strict=False):
        a, b = samples[c]
        both = np.concatenate([a, b])
        lo, hi = np.nanquantile(both, [0.005, 0.995])
        bins = np.linspace(lo, hi, 40) if hi > lo else 10
        ax.hist(a, bins=bins, density=True, alpha=0.5, label="before")
        ax.hist(b, bins=bins, density=True, alpha=0.5, label=f"last {period_days} d")
        ax.set_title(c, fontsize=8)
        ax.tick_params(labelsize=7)
    return _finish(fig, axes, len(cols))


def _ecdf_plot(samples: dict, period_days: int):
    """Empirical CDFs before vs the last period, per numeric column, with the KS distance
    (the largest vertical gap) marked — where the drift verdict comes from."""
    import matplotlib.pyplot as plt

    cols = list(samples)[:12]
    fig, axes = _grid(plt, len(cols))
    for ax, c in zip(axes.ravel(), cols, strict=False):
        a, b = (np.sort(x[np.isfinite(x)]) for x in samples[c])
        if not len(a) or not len(b):
            ax.axis("off")
            continue
        grid = np.union1d(a, b)
        fa = np.searchsorted(a, grid, side="right") / len(a)
        fb = np.searchsorted(b, grid, side="right") / len(b)
        ax.step(grid, fa, where="post", lw=1, label="before")
        ax.step(grid, fb, where="post", lw=1, label=f"last {period_days} d")
        k = int(np.argmax(np.abs(fa - fb)))
        ax.vlines(grid[k], min(fa[k], fb[k]), max(fa[k], fb[k]), color="#c0504d", lw=2)
        ax.set_title(f"{c} (KS D = {abs(fa[k] - fb[k]):.3f})", fontsize=8)
        lo, hi = np.quantile(grid, [0.005, 0.995])
        if hi > lo:
            ax.set_xlim(lo, hi)
        ax.tick_params(labelsize=7)
    return _finish(fig, axes, len(cols))


def run(inputs, spec) -> AnalysisResults:
    p: Params = spec.params()
    where = f"spec '{spec.name}'"
    name = spec.input["mart"]
    t = inputs.table(name, where=f"{where}: input.mart")
    needed = [*(p.columns or []), *(p.key_columns or [])]
    needed += [p.date_column] if p.date_column else []
    if needed:
        inputs.check_columns(t, needed, f"{where}: parameters")
    if p.where:
        t = inputs.filter_sql(t, p.where, f"{where}: parameters.where")
    rel = inputs.manifest.models.get(name)
    key = [c for c in (rel.primary_key if rel else ()) if c in t.columns]
    return Profile(t, name, p, key=key).fit()
