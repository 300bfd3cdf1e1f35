"""Shared helpers: per-table random streams, id formatting, timestamps, landing loads."""

from __future__ import annotations

import zlib

import numpy as np
import pyarrow as pa

from analysis_py.generate.calendar import DATA_END_S, DATA_START, DAY

#: Number of monthly landings that cover the simulated period; loads after it carry only
#: re-landed and late rows (at most 4 loads after the period).
N_PERIOD_LOADS = 24


def table_rng(seed: int, name: str) -> np.random.Generator:
    """An independent, stable random stream per (seed, table): changing how one table is
    generated does not shift the random numbers of the others."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def format_ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """``prefix`` + zero-padded ``numbers`` (``CS00000001``), built straight into an Arrow
    string buffer: every id has the same length, so offsets are arithmetic."""
    num = np.asarray(numbers, dtype=np.int64)
    if len(num) and (num.min() < 0 or num.max() >= 10**width):
        raise ValueError(f"ids do not fit in {width} digits")
    n, k = len(num), len(prefix) + width
    chars = np.empty((n, k), dtype=np.uint8)
    chars[:, : len(prefix)] = np.frombuffer(prefix.encode(), dtype=np.uint8)
    rest = num.copy()
    for j in range(k - 1, len(prefix) - 1, -1):  # loop over digit positions
        chars[:, j] = 48 + rest % 10
        rest //= 10
    offsets = np.arange(0, (n + 1) * k, k, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(chars.tobytes()))


def ts(seconds: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """UTC epoch seconds → naive ``timestamp[us]`` (null where ``mask`` is True)."""
    us = np.asarray(seconds, dtype=np.int64) * 1_000_000
    return pa.array(us, type=pa.int64(), mask=mask).cast(pa.timestamp("us"))


def dates(days: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """Epoch days → ``date32``."""
    return pa.array(np.asarray(days, dtype=np.int32), type=pa.int32(), mask=mask).cast(pa.date32())


_MONTH0 = np.datetime64(DATA_START.isoformat(), "M")


def month_index(t: np.ndarray) -> np.ndarray:
    """Months since 2024-01 of UTC time ``t`` (0-based)."""
    m = np.asarray(t, dtype=np.int64).astype("datetime64[s]").astype("datetime64[M]")
    return (m - _MONTH0).astype(np.int64)


def load_for_time(t: np.ndarray) -> np.ndarray:
    """The regular monthly landing of a row whose business time is ``t`` (1..24)."""
    return np.clip(month_index(t) + 1, 1, N_PERIOD_LOADS)


def loaded_at_seconds(load_id: np.ndarray) -> np.ndarray:
    """Landing time of load ``k``: 02:15 UTC on the first day of the month after its
    month (load 1 covers 2024-01 and lands 2024-02-01 02:15)."""
    months = _MONTH0 + np.asarray(load_id, dtype=np.int64)
    return months.astype("datetime64[s]").astype(np.int64) + 2 * 3600 + 15 * 60


def add_load_columns(table: pa.Table, load_id: np.ndarray) -> pa.Table:
    load_id = np.asarray(load_id, dtype=np.int64)
    table = table.append_column("_load_id", pa.array(load_id.astype(np.int32)))
    return table.append_column("_loaded_at", ts(loaded_at_seconds(load_id)))


def relanded_load(rng: np.random.Generator, load_id: np.ndarray) -> np.ndarray:
    """A later landing (1 or 2 loads after) for re-landed or late rows."""
    return load_id + rng.integers(1, 3, size=len(load_id))


def choose(rng: np.random.Generator, p: np.ndarray, size: int) -> np.ndarray:
    """Category codes drawn with probabilities ``p`` (vectorised inverse-CDF)."""
    cdf = np.cumsum(np.asarray(p, dtype=float))
    cdf /= cdf[-1]
    return np.minimum(np.searchsorted(cdf, rng.random(size), side="right"), len(cdf) - 1)


def choose_rows(rng: np.random.Generator, P: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Per-row categorical draw: row ``i`` uses probabilities ``P[rows[i]]``.

    Loops over the distinct rows of ``P`` (a handful), not over data rows."""
    cdf = np.cumsum(P, axis=1)
    cdf /= np.where(cdf[:, -1:] > 0, cdf[:, -1:], 1)
    u = rng.random(len(rows))
    out = np.zeros(len(rows), dtype=np.int64)
    for g in np.unique(rows):
        m = rows == g
        out[m] = np.searchsorted(cdf[g], u[m], side="right")
    return np.minimum(out, P.shape[1] - 1)


def clip_to_period(t: np.ndarray) -> np.ndarray:
    return t < DATA_END_S


def utc_tod_from_local_profile(
    rng: np.random.Generator, offset_s: np.ndarray, business_share: float = 0.85
) -> np.ndarray:
    """Seconds into the UTC day for events that follow a local business-hours profile
    (mostly 08:00–19:00 local), wrapped so they stay on the same UTC date — the date of a
    payment or request cell is its UTC date."""
    n = len(offset_s)
    local = np.where(
        rng.random(n) < business_share,
        np.clip(rng.normal(12.75 * 3600, 2.4 * 3600, n), 7 * 3600, 19.5 * 3600),
        rng.random(n) * DAY,
    ).astype(np.int64)
    return (local - offset_s) % DAY
