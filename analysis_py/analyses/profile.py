"""Profile (EDA) of any governed table, computed in the engine.

One aggregate query per table returns, for every column, the row and null counts and the
distinct count; numeric columns add min/max/mean/sd and quantiles, and the share of values
beyond 3 IQR of the quartiles (outliers); date/time columns give the time coverage; short
text columns their most frequent values. Only these aggregates leave the warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass

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
            tops.append(", ".join(f"{v} ({k:,})" for v, k in zip(vc["v"], vc["k"], strict=True)))
        else:
            tops.append(None)
    prof["top_values"] = tops
    return prof


class Profile:
    def __init__(self, table, name: str, **kw):
        self.table = table
        self.name = name
        self.kw = kw

    def fit(self) -> AnalysisResults:
        prof = profile_table(self.table, **self.kw)
        n = int(prof["rows"].iloc[0]) if len(prof) else 0
        nully = prof[prof.null_share > 0].sort_values("null_share", ascending=False)
        empty = prof[prof.nulls == n]["column"].tolist() if n else []
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
        out_cols = (
            prof[prof.get("outliers_3iqr", pd.Series(dtype=float)).fillna(0) > 0]
            if "outliers_3iqr" in prof
            else prof.iloc[0:0]
        )
        finding = (
            f"{self.name}: {n:,} rows, {len(prof)} columns; "
            + (
                ", ".join(f"{r.column} {r.null_share:.1%} null" for r in nully.head(4).itertuples())
                if len(nully)
                else "no nulls"
            )
            + (f"; entirely null: {', '.join(empty)}" if empty else "")
            + cov_txt
            + (
                "; outliers beyond 3 IQR in "
                + ", ".join(
                    f"{r.column} ({int(r.outliers_3iqr):,})" for r in out_cols.head(3).itertuples()
                )
                if len(out_cols)
                else ""
            )
            + "."
        )
        res = AnalysisResults(
            analysis="profile",
            title=f"Profile of {self.name}",
            finding=finding,
            method="Aggregates computed in the warehouse: counts, nulls, distinct values, moments, quantiles, 3-IQR outliers, time range, top values.",
            assumptions=["The governed table is complete for the period it covers."],
            limitations=[
                "Quantiles may be approximate on some engines; distributions are summarised, not tested."
            ],
            tables={"profile": prof.assign(model=self.name)},
        )
        res.add_measure("rows", n, "intrinsic")
        res.add_measure("columns_with_nulls", len(nully), "intrinsic")
        return res


def run(inputs, spec) -> AnalysisResults:
    p: Params = spec.params()
    where = f"spec '{spec.name}'"
    name = spec.input["mart"]
    t = inputs.table(name, where=f"{where}: input.mart")
    if p.columns:
        inputs.check_columns(t, p.columns, f"{where}: parameters.columns")
    if p.where:
        t = inputs.filter_sql(t, p.where, f"{where}: parameters.where")
    return Profile(
        t,
        name,
        columns=p.columns,
        top_values=p.top_values,
        max_distinct_for_top=p.max_distinct_for_top,
    ).fit()
