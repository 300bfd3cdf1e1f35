"""market_data.fx_rates: daily USD rates on weekdays only (weekends are gaps to fill)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from analysis_py.generate.calendar import DATA_END, epoch_day, weekday_of_epoch_day
from analysis_py.generate.common import add_load_columns, dates, table_rng
from analysis_py.generate.labels import CURRENCIES

FX_START = dt.date(2023, 12, 1)
START_RATE = {
    "USD": 1.0,
    "EUR": 1.09,
    "GBP": 1.27,
    "JPY": 0.0068,
    "HKD": 0.128,
    "SGD": 0.75,
    "INR": 0.012,
}
DAILY_VOL = {"USD": 0.0, "EUR": 0.005, "GBP": 0.005, "JPY": 0.006, "HKD": 0.0003,
             "SGD": 0.003, "INR": 0.003}  # fmt: skip


class FxRates:
    """USD per unit by (currency, epoch day), forward-filled over weekends."""

    def __init__(self, first_day: int, filled: np.ndarray):
        self.first_day = first_day
        self.filled = filled  # [currency, day]

    def usd_per_unit(self, currency: np.ndarray, day: np.ndarray) -> np.ndarray:
        return self.filled[currency, np.asarray(day) - self.first_day]


def make_fx(seed: int) -> tuple[FxRates, pa.Table]:
    rng = table_rng(seed, "fx_rates")
    first, last = epoch_day(FX_START), epoch_day(DATA_END)
    days = np.arange(first, last)
    rates = np.empty((len(CURRENCIES), len(days)))
    for i, c in enumerate(CURRENCIES):  # loop over currencies only
        steps = rng.normal(0.0, DAILY_VOL[c], len(days))
        rates[i] = START_RATE[c] * np.exp(np.cumsum(steps))
    rates = np.round(rates, 8)
    weekday = weekday_of_epoch_day(days) < 5
    # Forward-fill weekends from the preceding Friday (what staging must also do).
    last_bd = np.maximum.accumulate(np.where(weekday, np.arange(len(days)), 0))
    filled = rates[:, last_bd]
    bd = days[weekday]
    n_c = len(CURRENCIES)
    table = pa.table(
        {
            "rate_date": dates(np.repeat(bd, n_c)),
            "currency": pa.array(np.tile(np.array(CURRENCIES), len(bd))),
            "usd_per_unit": pa.array(rates[:, weekday].T.reshape(-1)),
        }
    )
    # Landed monthly; December 2023 rates come with the first load.
    month = (np.repeat(bd, n_c).astype("datetime64[D]").astype("datetime64[M]")
             - np.datetime64("2024-01", "M")).astype(np.int64)  # fmt: skip
    load = np.clip(month + 1, 1, 24)
    return FxRates(first, filled), add_load_columns(table, load)
