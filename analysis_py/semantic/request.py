"""A metric request and the small value types the compiler passes between its stages."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlglot import exp

from analysis_py.errors import QueryError
from analysis_py.semantic.manifest import TimeSpine
from analysis_py.semantic.names import Ref


@dataclass(frozen=True)
class Request:
    metrics: tuple[str, ...]
    group_by: tuple[str, ...] = ()
    where: tuple[str, ...] = ()
    order_by: tuple[str, ...] = ()
    limit: int | None = None
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    #: API-only, as MetricFlow's: the range (min, max) of each group-by item instead of its
    #: values, and (without metrics) values without de-duplication
    min_max_only: bool = False
    apply_group_by: bool = True


@dataclass(frozen=True)
class GroupItem:
    ref: Ref
    name: str
    kind: str  # time | entity | dimension
    grain: str | None = None

    @property
    def is_metric_time(self) -> bool:
        return self.ref.is_metric_time


@dataclass
class Resolved:
    """Where a linkable element lives relative to a measure's semantic model."""

    hops: tuple[tuple[str, str], ...]  # (entity, model) joins from the measure model
    model: str
    column: str  # column name in the model CTE
    expr: exp.Expression  # expression over the raw relation
    spine: tuple[TimeSpine, str] | None = None  # custom grain: (spine, spine column)
    order_key: tuple = ()


@dataclass
class Node:
    """A CTE producing the group-by columns plus value columns."""

    name: str
    values: list[str]
    fill: dict[str, int] = field(default_factory=dict)


def _parse_time(value) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    try:
        return dt.datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise QueryError(
            f"'{value}' is not a date or timestamp", hint="use ISO format, e.g. 2025-01-31"
        ) from None


def make_request(
    metrics=None,
    group_by=None,
    where=None,
    order_by=None,
    limit=None,
    start_time=None,
    end_time=None,
    min_max_only: bool = False,
    apply_group_by: bool = True,
) -> Request:
    def seq(v) -> tuple[str, ...]:
        if v is None:
            return ()
        if isinstance(v, str):
            return tuple(x.strip() for x in v.split(",") if x.strip())
        return tuple(str(x).strip() for x in v if str(x).strip())

    if isinstance(where, str):
        where = (where,)
    if limit is not None:
        try:
            limit = int(limit)
        except (TypeError, ValueError):
            raise QueryError(f"limit must be a whole number, got {limit!r}") from None
        if limit < 0:
            raise QueryError(f"limit must be ≥ 0, got {limit}")
    return Request(
        metrics=seq(metrics),
        group_by=seq(group_by),
        where=tuple(w for w in (where or ()) if w and str(w).strip()),
        order_by=seq(order_by),
        limit=limit,
        start_time=_parse_time(start_time),
        end_time=_parse_time(end_time),
        min_max_only=bool(min_max_only),
        apply_group_by=bool(apply_group_by),
    )


# ----------------------------------------------------------------------------------------------
# compiler
