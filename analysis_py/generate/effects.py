"""Planted effects: the defaults of DESIGN.md §2 and validation of ``--effects`` files.

The keys are a contract (tests and analyses check recovered effects against them), so an
unknown key or a bad value is an :class:`~analysis_py.errors.EffectsError` naming the dotted
key, raised before anything is generated or written.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from analysis_py.errors import EffectsError
from analysis_py.generate.calendar import DATA_END, DATA_START
from analysis_py.generate.labels import CHANNELS, PRIORITIES, PRODUCTS, RAILS

DEFAULTS: dict[str, Any] = {
    "case_volume": {
        "weekend_factor": 0.15,
        "holiday_factor": 0.30,
        "annual_growth": 0.20,
        "month_end_uplift": 0.25,
    },
    "resolution": {
        "channel_multiplier": {"chat": 0.70, "phone": 0.80, "portal": 1.00, "email": 1.20},
        "priority_multiplier": {"P1": 0.30, "P2": 0.60, "P3": 1.00, "P4": 1.50},
        "process_change": {"product": "Payments", "start_date": "2025-04-01", "multiplier": 0.85},
    },
    "incidents": {"case_volume_multiplier": 2.0, "stp_drop": 0.10},
    "stp": {
        "base_rate": {
            "RTP": 0.97,
            "ACH": 0.95,
            "SEPA": 0.94,
            "FEDWIRE": 0.92,
            "CHAPS": 0.90,
            "SWIFT": 0.85,
        },
        "api_uplift": 0.03,
    },
    "adoption": {"digital_share": {"start": 0.55, "end": 0.75}},
    "anomalies": {"count": 12},
    "csat": {"resolution_slope": -0.15},
}

Validator = Callable[[str, Any], Any]


def _number(lo: float, hi: float, *, lo_open: bool = False) -> Validator:
    def check(key: str, v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise EffectsError(f"effects key '{key}' must be a number, got {v!r}")
        if (v <= lo if lo_open else v < lo) or v > hi:
            left = "(" if lo_open else "["
            raise EffectsError(f"effects key '{key}' must be in {left}{lo}, {hi}], got {v!r}")
        return float(v)

    return check


def _multiplier(key: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise EffectsError(f"effects key '{key}' must be a number, got {v!r}")
    if v <= 0:
        raise EffectsError(f"effects key '{key}' is a multiplier and must be > 0, got {v!r}")
    if v > 100:
        raise EffectsError(f"effects key '{key}' must be ≤ 100, got {v!r}")
    return float(v)


def _count(key: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise EffectsError(f"effects key '{key}' must be an integer, got {v!r}")
    if not 0 <= v <= 60:
        raise EffectsError(f"effects key '{key}' must be in [0, 60], got {v!r}")
    return v


def _product(key: str, v: Any) -> str:
    if v not in PRODUCTS:
        raise EffectsError(f"effects key '{key}' must be one of {list(PRODUCTS)}, got {v!r}")
    return v


def _date(key: str, v: Any) -> str:
    if isinstance(v, dt.datetime):
        v = v.date()
    if isinstance(v, str):
        try:
            v = dt.date.fromisoformat(v)
        except ValueError:
            raise EffectsError(
                f"effects key '{key}' must be a date YYYY-MM-DD, got {v!r}"
            ) from None
    if not isinstance(v, dt.date):
        raise EffectsError(f"effects key '{key}' must be a date YYYY-MM-DD, got {v!r}")
    if not DATA_START < v < DATA_END:
        raise EffectsError(
            f"effects key '{key}' must fall inside the simulated period "
            f"{DATA_START}..{DATA_END - dt.timedelta(days=1)}, got {v}"
        )
    return v.isoformat()


#: dotted leaf key -> validator; mapping keys not listed here are unknown.
SCHEMA: dict[str, Validator] = {
    "case_volume.weekend_factor": _multiplier,
    "case_volume.holiday_factor": _multiplier,
    "case_volume.annual_growth": _number(-0.9, 5.0),
    "case_volume.month_end_uplift": _number(0.0, 10.0),
    **{f"resolution.channel_multiplier.{c}": _multiplier for c in CHANNELS},
    **{f"resolution.priority_multiplier.{p}": _multiplier for p in PRIORITIES},
    "resolution.process_change.product": _product,
    "resolution.process_change.start_date": _date,
    "resolution.process_change.multiplier": _multiplier,
    "incidents.case_volume_multiplier": _multiplier,
    "incidents.stp_drop": _number(0.0, 1.0),
    **{f"stp.base_rate.{r}": _number(0.0, 1.0) for r in RAILS},
    "stp.api_uplift": _number(-1.0, 1.0),
    "adoption.digital_share.start": _number(0.0, 1.0),
    "adoption.digital_share.end": _number(0.0, 1.0),
    "anomalies.count": _count,
    "csat.resolution_slope": _number(-5.0, 5.0),
}


def _merge(base: dict, override: Mapping, prefix: str) -> None:
    for k, v in override.items():
        key = f"{prefix}{k}"
        if not isinstance(k, str) or k not in base:
            choices = ", ".join(sorted(base))
            raise EffectsError(
                f"unknown effects key '{key}'",
                hint=f"allowed keys here: {choices}" if choices else None,
            )
        if isinstance(base[k], dict):
            if not isinstance(v, Mapping):
                raise EffectsError(
                    f"effects key '{key}' must be a mapping of {sorted(base[k])}, got {v!r}"
                )
            _merge(base[k], v, f"{key}.")
        else:
            base[k] = SCHEMA[key](key, v)


def resolve_effects(effects: Mapping | str | Path | None = None) -> dict[str, Any]:
    """Defaults overridden by ``effects`` (a mapping, or a YAML file path); validated.

    Returns every key of :data:`DEFAULTS` with the effective value.
    """
    out = copy.deepcopy(DEFAULTS)
    if effects is None:
        return out
    if isinstance(effects, str | Path):
        effects = load_effects_file(effects)
    if not isinstance(effects, Mapping):
        raise EffectsError(f"effects must be a mapping of sections, got {type(effects).__name__}")
    _merge(out, effects, "")
    return out


def load_effects_file(path: str | Path) -> Mapping:
    import yaml

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise EffectsError(f"cannot read effects file {p}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise EffectsError(
            f"effects file {p} is not UTF-8 text (byte {exc.start})",
            hint="save it as UTF-8 YAML",
        ) from None
    try:
        data = yaml.safe_load(text)
    except RecursionError:
        raise EffectsError(
            f"effects file {p} is nested too deeply to be an effects file",
            hint="effects are at most a few levels deep: section → key → value",
        ) from None
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        raise EffectsError(
            f"effects file {p} is not valid YAML{where}: {getattr(exc, 'problem', exc)}"
        ) from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise EffectsError(
            f"effects file {p} must hold a mapping of sections "
            f"({', '.join(DEFAULTS)}), got {type(data).__name__}"
        )
    return data
