"""Staffing from a volume forecast: Erlang C per hour of the day.

Cases arrive at rate λ per hour and each takes ``aht`` minutes of agent time; with N agents
the queue is M/M/N (Erlang C). The probability a case waits is

    P_wait = C(N, A),  A = λ·aht/60 (the offered load in Erlangs),

and the service level — the share answered within ``t`` minutes — is
``1 − P_wait · exp(−(N − A)·t / aht)``. The agents needed in an hour are the smallest N with
that share at or above the target (and N > A, or the queue grows without bound).

>>> round(erlang_c(11, 10.0), 4)   # textbook: 10 Erlangs on 11 agents wait 68% of the time
0.6821
>>> agents_needed(rate=100, aht=6.0, answer_within=1.0, target=0.8)
(13, 0.827, 0.7692)
"""

from __future__ import annotations

import math


def erlang_c(agents: int, load: float) -> float:
    """Probability of waiting with ``agents`` servers and offered ``load`` (Erlangs), from
    the Erlang-B recursion (stable for large N)."""
    if agents <= load:
        return 1.0
    b = 1.0
    for k in range(1, agents + 1):
        b = load * b / (k + load * b)
    return agents * b / (agents - load * (1 - b))


def service_level(agents: int, load: float, aht: float, answer_within: float) -> float:
    if agents <= load:
        return 0.0
    return 1.0 - erlang_c(agents, load) * math.exp(-(agents - load) * answer_within / aht)


def agents_needed(
    rate: float, aht: float, answer_within: float, target: float
) -> tuple[int, float, float]:
    """(agents, service level achieved, occupancy) for ``rate`` arrivals per hour."""
    load = rate * aht / 60.0
    if load <= 0:
        return 0, 1.0, 0.0
    n = max(1, math.floor(load) + 1)
    while service_level(n, load, aht, answer_within) < target:
        n += 1
    return n, round(service_level(n, load, aht, answer_within), 4), round(load / n, 4)


# --- from a forecast to a staffing table -------------------------------------------------------
def measure_workload(inputs, spec, p, data) -> dict:
    """What a case costs in agent time, measured on the marts: agent touches per case (events
    of ``p.touches_mart`` matching ``p.touch_where``) per segment of the spec's first slicing,
    and the hour-of-day arrival profile from ``p.arrival_column``, over the 180 days that end
    30 days before the data ends (recent cases are still open)."""
    import numpy as np
    import pandas as pd

    from analysis_py.errors import InputError

    where = f"spec '{spec.name}': parameters"
    metric = spec.input.get("metric") or spec.series()[0][0]
    mdef = spec.metric_definition(metric) or inputs.manifest.metrics.get(metric)
    if mdef is None:
        raise InputError(f"{where}.staffing: metric '{metric}' has no mart definition to measure")
    cases = inputs.table(mdef.mart, where=f"{where}.staffing ({metric} → {mdef.mart})")
    rel = inputs.manifest.models.get(mdef.mart)
    key = [c for c in (rel.primary_key if rel else ()) if c in cases.columns]
    if len(key) != 1:
        raise InputError(f"{where}.staffing: {mdef.mart} needs a one-column primary key")
    key = key[0]
    events = inputs.table(p.touches_mart, where=f"{where}.touches_mart")
    inputs.check_columns(events, [key], f"{where}.touches_mart")
    inputs.check_columns(cases, [mdef.date_column, p.arrival_column], f"{where}")
    events = inputs.filter_sql(events, p.touch_where, f"{where}.touch_where")
    day = cases[mdef.date_column].cast("date")
    hi = pd.Timestamp(day.max().to_pandas()) - pd.Timedelta(days=30)
    lo = hi - pd.Timedelta(days=180)
    recent = cases.filter((day > lo.date()) & (day <= hi.date()))
    segment = None
    for _, dims in spec.series():
        if dims:
            col = dims[0].split("__")[-1]
            segment = col if col in cases.columns else None
            break
    touches = events.group_by(key).aggregate(touches=events.count())
    j = recent.left_join(touches, recent[key] == touches[key])
    n = j.touches.fill_null(0)
    group = [j[segment].cast("string").name("segment")] if segment else []
    agg = (j.group_by(group) if group else j).aggregate(cases=j.count(), touches=n.sum())
    df = agg.to_pandas()
    if df.empty or df["cases"].sum() == 0:
        raise InputError(
            f"{where}.staffing: no cases in {mdef.mart} between {lo:%Y-%m-%d} and {hi:%Y-%m-%d}"
        )
    overall = float(df["touches"].sum() / df["cases"].sum())
    by_segment = (
        {str(r.segment): float(r.touches / r.cases) for r in df.itertuples() if r.cases}
        if segment
        else {}
    )
    hours = recent[p.arrival_column].hour().name("hour")
    prof = recent.group_by(hours).aggregate(n=recent.count()).to_pandas()
    profile = np.zeros(24)
    profile[prof["hour"].astype(int).to_numpy()] = prof["n"].to_numpy(float)
    profile = profile / profile.sum()
    per = f" per {segment}" if segment else ""
    return {
        "metric": metric,
        "segment": segment,
        "by_segment": by_segment,
        "overall": overall,
        "profile": profile,
        "minutes_per_touch": float(p.minutes_per_touch),
        "method": (
            f"Staffing: agent touches per case{per} measured on {p.touches_mart} "
            f"({p.touch_where}) for {int(df['cases'].sum()):,} cases opened {lo:%Y-%m-%d} to "
            f"{hi:%Y-%m-%d} (overall {overall:.2f}), × {p.minutes_per_touch:g} minutes per touch; "
            f"each forecast day spread over the hours by the {p.arrival_column} profile; agents "
            f"per hour from Erlang C for {p.service_level:.0%} answered within "
            f"{p.answer_within_minutes:g} minutes; FTE = staffed hours / ({p.shift_hours:g} h × "
            f"(1 − {p.shrinkage:.0%} shrinkage))."
        ),
        "limitation": (
            f"The marts record agent touches, not handling times: {p.minutes_per_touch:g} minutes "
            "per touch is an assumption; Erlang C assumes Poisson arrivals within an hour, "
            "exponential handling and no abandonment."
        ),
    }


def staffing_table(forecasts, workload: dict, p):
    """Per forecast day, for the metric's total and the measured segments: cases, handling
    minutes per case, workload hours, staffed agent-hours (Erlang C per hour), peak agents,
    the service level at the peak hour, and FTE. Returns (table, a sentence)."""
    import numpy as np
    import pandas as pd

    fc = forecasts[forecasts.metric == workload["metric"]]
    mpt = workload["minutes_per_touch"]
    seg = workload["by_segment"]
    rows = []
    for (slc, date), r in fc.set_index(["slice", "date"]).iterrows():
        if slc == "all":
            parts = fc[(fc.date == date) & fc.slice.isin(list(seg))]
            if len(parts) and parts["forecast"].sum() > 0:
                w = parts["forecast"].to_numpy()
                touches = float(np.average([seg[s] for s in parts["slice"]], weights=w))
            else:
                touches = workload["overall"]
        elif slc in seg:
            touches = seg[slc]
        else:
            continue
        aht = touches * mpt
        cases = float(r["forecast"])
        staffed, peak, peak_sl = 0, 0, 1.0
        for rate in cases * workload["profile"]:
            if rate <= 0:
                continue
            n, sl, _ = agents_needed(rate, aht, p.answer_within_minutes, p.service_level)
            staffed += n
            if n > peak:
                peak, peak_sl = n, sl
        work = cases * aht / 60.0
        rows.append(
            {
                "metric": workload["metric"],
                "slice": slc,
                "date": date,
                "cases": cases,
                "handle_minutes": aht,
                "workload_hours": work,
                "staffed_hours": float(staffed),
                "peak_agents": int(peak),
                "service_level_at_peak": peak_sl,
                "occupancy": work / staffed if staffed else 0.0,
                "fte": staffed / (p.shift_hours * (1 - p.shrinkage)),
            }
        )
    table = pd.DataFrame(rows)
    if table.empty:
        return table, ""
    tot = table[table.slice == "all"] if (table.slice == "all").any() else table
    busiest = tot.loc[tot["fte"].idxmax()]
    text = (
        f"Staffing ({workload['metric']}, all slices): {tot['workload_hours'].sum():,.0f} "
        f"agent-hours of work over the {len(tot)} forecast days; the busiest day "
        f"({pd.Timestamp(busiest['date']):%Y-%m-%d}) needs {busiest['peak_agents']} agents at "
        f"the peak hour and {busiest['fte']:.1f} FTE for {p.service_level:.0%} of cases "
        f"answered within {p.answer_within_minutes:g} minutes (staffing table)."
    )
    return table, text
