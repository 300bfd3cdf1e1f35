"""Comparing result rows the way the oracle tests need: normalised values, relative 1e-9."""

from __future__ import annotations

import datetime as dt
import decimal
import math


def norm(v):
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, dt.date):
        return dt.datetime(v.year, v.month, v.day).isoformat(sep=" ")
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, bool):
        return v
    return v


def _same(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
            return True
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def rows_equal(ours: list, theirs: list, ordered: bool) -> tuple[bool, str]:
    a = [[norm(v) for v in r] for r in ours]
    b = [[norm(v) for v in r] for r in theirs]
    if not ordered:
        a = sorted(a, key=lambda r: [str(x) for x in r])
        b = sorted(b, key=lambda r: [str(x) for x in r])
    if len(a) != len(b):
        return False, f"{len(a)} rows vs {len(b)} rows"
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        if len(x) != len(y) or not all(_same(p, q) for p, q in zip(x, y, strict=True)):
            return False, f"row {i}: ours {x} vs theirs {y}"
    return True, ""
