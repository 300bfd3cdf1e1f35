"""The statsforecast peer of the forecast benchmark, run in its own interpreter.

statsforecast pins pandas < 3, so it cannot share the project's environment; the benchmark
writes the series to Parquet and runs this file with a Python that has statsforecast
(``--statsforecast-python``). AutoETS (season 7, model chosen by AICc) and seasonal naive are
fitted on everything but the last ``h`` days and scored on them — the same hold-out window as
ours. Prints one JSON object.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np
import pandas as pd


def main(path: str, h: int) -> None:
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, SeasonalNaive

    df = pd.read_parquet(path)
    df["ds"] = pd.to_datetime(df["ds"])
    last = df["ds"].max() - pd.Timedelta(days=h)
    train, test = df[df.ds <= last], df[df.ds > last]
    sf = StatsForecast(
        models=[AutoETS(season_length=7), SeasonalNaive(season_length=7)],
        freq="D",
        n_jobs=os.cpu_count() or 1,
    )
    t0 = time.perf_counter()
    fc = sf.forecast(df=train, h=h, level=[80, 95])
    secs = time.perf_counter() - t0
    fc = fc.reset_index() if "unique_id" not in fc.columns else fc
    m = fc.merge(test, on=["unique_id", "ds"])
    out = {"seconds": secs, "series": int(df["unique_id"].nunique())}
    for name in ("AutoETS", "SeasonalNaive"):
        rows = []
        for uid, g in m.groupby("unique_id"):
            tr = train.loc[train.unique_id == uid, "y"].to_numpy()
            scale = np.mean(np.abs(tr[7:] - tr[:-7]))
            a, f = g["y"].to_numpy(), g[name].to_numpy()
            den = np.abs(a) + np.abs(f)
            smape = 100 * np.mean(
                np.where(den == 0, 0, 2 * np.abs(a - f) / np.where(den == 0, 1, den))
            )
            cover = np.mean((a >= g[f"{name}-lo-80"]) & (a <= g[f"{name}-hi-80"]))
            rows.append((np.mean(np.abs(a - f)) / scale, smape, cover))
        r = np.array(rows)
        out[name] = {"mase": float(r[:, 0].mean()), "smape": float(r[:, 1].mean()),
                     "coverage_80": float(r[:, 2].mean())}  # fmt: skip
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
