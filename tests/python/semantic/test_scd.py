"""Slowly changing dimensions (SCD type II, ``validity_params``): a measure joins the row of the
dimension table that was valid at the measure's time, as MetricFlow joins them. Checked on a
small DuckDB database against hand-written SQL."""

from __future__ import annotations

import duckdb
import pytest

from analysis_py.semantic.layer import SemanticLayer


def _rel(name):
    return {"alias": name, "schema_name": "main", "database": "scd", "relation_name": name}


def _dim(name, type_="categorical", validity=None):
    tp = None
    if type_ == "time":
        tp = {"time_granularity": "day", "validity_params": validity}
    return {"name": name, "type": type_, "is_partition": False, "type_params": tp, "expr": None}


MANIFEST = {
    "semantic_models": [
        {
            "name": "bookings",
            "defaults": {"agg_time_dimension": "ds"},
            "node_relation": _rel("fct_bookings"),
            "primary_entity": None,
            "entities": [
                {"name": "booking", "type": "primary", "expr": "booking_id"},
                {"name": "listing", "type": "foreign", "expr": "listing_id"},
            ],
            "measures": [{"name": "bookings", "agg": "sum", "expr": "1"}],
            "dimensions": [_dim("ds", "time")],
        },
        {
            "name": "listings",
            "defaults": None,
            "node_relation": _rel("dim_listings"),
            "primary_entity": None,
            "entities": [{"name": "listing", "type": "natural", "expr": "listing_id"}],
            "measures": [],
            "dimensions": [
                _dim("capacity"),
                _dim("active_from", "time", {"is_start": True, "is_end": False}),
                _dim("active_to", "time", {"is_start": False, "is_end": True}),
            ],
        },
    ],
    "metrics": [
        {
            "name": "bookings",
            "type": "simple",
            "type_params": {"measure": {"name": "bookings"}},
            "filter": None,
            "label": "Bookings",
        }
    ],
    "project_configuration": {
        "time_spines": [
            {
                "node_relation": _rel("time_spine"),
                "primary_column": {"name": "ds", "time_granularity": "day"},
                "custom_granularities": [],
            }
        ]
    },
    "saved_queries": [],
}


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect()
    c.execute("""
        create table fct_bookings as
        select i as booking_id, i % 3 as listing_id, date '2024-01-01' + (i % 20)::int as ds
        from range(60) t(i);
        create table dim_listings as select * from (values
            (0, 2, date '2023-12-01', date '2024-01-10'),
            (0, 4, date '2024-01-10', null),
            (1, 3, date '2023-12-01', null),
            (2, 5, date '2024-01-05', date '2024-01-15')
        ) t(listing_id, capacity, active_from, active_to);
        create table time_spine as
        select date '2023-12-01' + i::int as ds from range(90) t(i);
    """)
    yield c
    c.close()


def test_a_measure_joins_the_row_valid_at_its_time(con):
    sl = SemanticLayer(MANIFEST, connection=con)
    got = sorted(
        sl.compile(metrics=["bookings"], group_by=["listing__capacity"]).fetchall(),
        key=repr,
    )
    want = sorted(
        con.execute("""
            select l.capacity, count(*) from fct_bookings b
            left join dim_listings l on b.listing_id = l.listing_id
              and b.ds >= l.active_from and (b.ds < l.active_to or l.active_to is null)
            group by 1""").fetchall(),
        key=repr,
    )
    assert [(c, int(n)) for c, n in got] == [(c, int(n)) for c, n in want]
    # without the window every booking of listing 0 would count under both capacities
    ((total,),) = con.execute("select count(*) from fct_bookings").fetchall()
    assert sum(int(n) for _c, n in got) == total


def test_a_filter_on_an_scd_dimension_uses_the_valid_row(con):
    sl = SemanticLayer(MANIFEST, connection=con)
    ((got,),) = sl.compile(
        metrics=["bookings"], where=["{{ Dimension('listing__capacity') }} >= 4"]
    ).fetchall()
    (want,) = con.execute("""
        select count(*) from fct_bookings b join dim_listings l on b.listing_id = l.listing_id
          and b.ds >= l.active_from and (b.ds < l.active_to or l.active_to is null)
        where l.capacity >= 4""").fetchall()[0]
    assert int(got) == int(want)
