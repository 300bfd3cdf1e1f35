"""Typed analysis parameters: one frozen dataclass per analysis, read by everything.

An analysis declares its parameters once, as a dataclass with typed, defaulted fields. The
spec validator reads the field names, types and defaults from it (an unknown key or a value
of the wrong type is a :class:`~analysis_py.errors.SpecError` naming the field), the runner
builds the object from the spec, and the estimator takes the object — so a default can never
differ between the spec, the constructor and the runner.

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class P:
...     alpha: float = 0.05
...     methods: list[str] | None = None
>>> build(P, {"alpha": 0.1}, "spec 'x'")
P(alpha=0.1, methods=None)
>>> build(P, {"alpha": "high"}, "spec 'x'")
Traceback (most recent call last):
...
analysis_py.errors.SpecError: spec 'x': field 'parameters.alpha' must be a number, got 'high'
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal

from analysis_py.errors import SpecError, did_you_mean


def defaults(cls) -> dict[str, Any]:
    """Field name -> default value (a fresh copy for mutable defaults)."""
    out = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
        else:
            out[f.name] = None
    return out


def build(cls, given: dict[str, Any], where: str, analysis: str | None = None):
    """The params object for ``given`` (a spec's ``parameters``), every value type-checked."""
    if not isinstance(given, dict):
        raise SpecError(f"{where}: field 'parameters' must be a mapping")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key, value in given.items():
        if key not in hints:
            maybe = did_you_mean(key, names, n=1)
            hint = f"; {maybe}" if maybe else f" (valid: {', '.join(names)})"
            of = f" of {analysis}" if analysis else ""
            raise SpecError(f"{where}: field 'parameters.{key}' is not a parameter{of}{hint}")
        problem = _mismatch(value, hints[key])
        if problem:
            raise SpecError(f"{where}: field 'parameters.{key}' must be {problem}, got {value!r}")
    return cls(**given)


def _mismatch(value: Any, hint: Any) -> str | None:
    """None when ``value`` fits ``hint``, else a description of what it must be."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        problems = [_mismatch(value, a) for a in options]
        if any(p is None for p in problems):
            return None
        return " or ".join(p for p in problems if p)
    if origin is Literal:
        return None if value in args else "one of " + ", ".join(repr(a) for a in args)
    if hint is Any:
        return None
    if hint is bool:
        return None if isinstance(value, bool) else "true or false"
    if hint is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "an integer"
    if hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else "a number"
    if hint is str:
        return None if isinstance(value, str) else "a string"
    if origin is list:
        if not isinstance(value, list):
            return "a list"
        inner = args[0] if args else Any
        bad = [v for v in value if _mismatch(v, inner)]
        return f"a list of {_name(inner)}" if bad else None
    if origin is dict:
        if not isinstance(value, dict):
            return "a mapping"
        if args:
            bad = [v for v in value.values() if _mismatch(v, args[1])]
            if bad:
                return f"a mapping of {_name(args[0])} to {_name(args[1])}"
        return None
    return None


def _name(hint: Any) -> str:
    return {str: "strings", int: "integers", float: "numbers", bool: "booleans"}.get(hint, "values")
