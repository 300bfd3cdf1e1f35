"""Joins to dimension sources as MetricFlow makes them, checked on a small DuckDB database
against hand-written SQL:

* two models that both have a partition dimension of the same name are joined on it too;
* each multi-hop path to a different model is joined on its own (a bridge model reached twice is
  joined twice), and a shorter path that starts a longer one is read from the longer one's joins.

The data are chosen so that the other readings give other numbers: a bridge that holds an
account twice (once per partition day), so sharing or not sharing its join changes the rows.
"""

from __future__ import annotations

import duckdb
import pytest

from analysis_py.semantic.layer import SemanticLayer


def _rel(name):
    return {"alias": name, "schema_name": "main", "database": "j", "relation_name": name}


def _dim(name, type_="categorical", partition=False):
    tp = {"time_granularity": "day", "validity_params": None} if type_ == "time" else None
    return {
        "name": name,
        "type": type_,
        "is_partition": partition,
        "type_params": tp,
        "expr": None,
    }


def _model(name, entities, dims, measures=(), atd=None):
    return {
        "name": name,
        "defaults": {"agg_time_dimension": atd} if atd else None,
        "node_relation": _rel(name),
        "primary_entity": None,
        "entities": [{"name": n, "type": t, "expr": n} for n, t in entities],
        "measures": list(measures),
        "dimensions": dims,
    }


MANIFEST = {
    "semantic_models": [
        _model(
            "txns",
            [("txn_id", "primary"), ("account_id", "foreign")],
            [_dim("ds", "time"), _dim("ds_partitioned", "time", partition=True)],
            [{"name": "txn_count", "agg": "sum", "expr": "1"}],
            atd="ds",
        ),
        _model(
            "bridge",
            [("account_id", "primary"), ("customer_id", "foreign")],
            [_dim("extra_dim"), _dim("ds_partitioned", "time", partition=True)],
        ),
        _model(
            "customers",
            [("customer_id", "primary")],
            [_dim("customer_name"), _dim("ds_partitioned", "time", partition=True)],
        ),
        _model("customer_other", [("customer_id", "primary")], [_dim("country")]),
    ],
    "metrics": [
        {
            "name": "txn_count",
            "type": "simple",
            "type_params": {"measure": {"name": "txn_count"}},
            "filter": None,
            "label": "Transactions",
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

#: the same shape without partitions: only the join paths matter
UNPARTITIONED = {
    **MANIFEST,
    "semantic_models": [
        {
            **sm,
            "dimensions": [{**d, "is_partition": False} for d in sm["dimensions"]],
        }
        for sm in MANIFEST["semantic_models"]
    ],
}


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect()
    c.execute("""
        create table txns as select * from (values
            (1, 'a0', timestamp '2020-01-01', timestamp '2020-01-01'),
            (2, 'a0', timestamp '2020-01-02', timestamp '2020-01-02'),
            (3, 'a0', timestamp '2020-01-02', timestamp '2020-01-02'),
            (4, 'a1', timestamp '2020-01-01', timestamp '2020-01-01'),
            (5, 'a2', timestamp '2020-01-03', timestamp '2020-01-03')
        ) t(txn_id, account_id, ds, ds_partitioned);
        create table bridge as select * from (values
            ('a0', 'c0', 'lux', timestamp '2020-01-01'),
            ('a0', 'c1', 'lux', timestamp '2020-01-02'),
            ('a1', 'c2', 'plain', timestamp '2020-01-01'),
            ('a2', 'c3', 'super', timestamp '2020-01-03')
        ) t(account_id, customer_id, extra_dim, ds_partitioned);
        create table customers as select * from (values
            ('c0', 'thorium', timestamp '2020-01-01'),
            ('c1', 'osmium', timestamp '2020-01-02'),
            ('c2', 'tellurium', timestamp '2020-01-01'),
            ('c3', 'einsteinium', timestamp '2020-01-04'),
            ('c8', 'unobtainium', timestamp '2020-01-04')
        ) t(customer_id, customer_name, ds_partitioned);
        create table customer_other as select * from (values
            ('c0', 'turkmenistan'), ('c1', 'paraguay'), ('c2', 'myanmar'), ('c3', 'djibouti'),
            ('c9', 'nauru')
        ) t(customer_id, country);
        create table time_spine as
        select timestamp '2019-12-01' + to_days(i::int) as ds from range(90) t(i);
    """)
    yield c
    c.close()


def _rows(rows):
    return sorted((tuple(None if v is None else str(v) for v in r) for r in rows), key=repr)


def test_models_sharing_a_partition_dimension_join_on_it(con):
    sl = SemanticLayer(MANIFEST, connection=con)
    got = sl.compile(metrics=["txn_count"], group_by=["account_id__extra_dim"]).fetchall()
    want = con.execute("""
        select b.extra_dim, count(*) from txns t
        left join bridge b on t.account_id = b.account_id
          and t.ds_partitioned = b.ds_partitioned
        group by 1""").fetchall()
    assert _rows(got) == _rows(want)
    # without the partition equality account a0 would count once per bridge row
    ((total,),) = con.execute("select count(*) from txns").fetchall()
    assert sum(int(n) for _d, n in got) == total


def test_partitions_are_joined_on_every_hop(con):
    sl = SemanticLayer(MANIFEST, connection=con)
    got = sl.compile(
        metrics=["txn_count"], group_by=["account_id__customer_id__customer_name"]
    ).fetchall()
    want = con.execute("""
        select c.customer_name, count(*) from txns t
        left join bridge b on t.account_id = b.account_id
          and t.ds_partitioned = b.ds_partitioned
        left join customers c on b.customer_id = c.customer_id
          and b.ds_partitioned = c.ds_partitioned
        group by 1""").fetchall()
    assert _rows(got) == _rows(want)
    assert (None, "1") in _rows(got)  # a2's customer is in another partition


def test_each_multi_hop_path_is_joined_on_its_own(con):
    sl = SemanticLayer(UNPARTITIONED, connection=con)
    q = sl.compile(
        metrics=["txn_count"],
        group_by=[
            "account_id__customer_id__customer_name",
            "account_id__customer_id__country",
            "account_id__extra_dim",
        ],
    )
    got, cols = q.fetchall(), q.columns
    # MetricFlow: bridge ⋈ customers and bridge ⋈ customer_other are two join sources, and
    # the one-hop extra_dim is read from the first of them
    want = con.execute("""
        with d0 as (select b.account_id, b.extra_dim, c.customer_name
                    from bridge b left join customers c on b.customer_id = c.customer_id),
             d1 as (select b.account_id, o.country
                    from bridge b left join customer_other o on b.customer_id = o.customer_id)
        select d0.customer_name, d1.country, d0.extra_dim, count(*) from txns t
        left join d0 on t.account_id = d0.account_id
        left join d1 on t.account_id = d1.account_id
        group by 1, 2, 3""").fetchall()
    order = [
        "account_id__customer_id__customer_name",
        "account_id__customer_id__country",
        "account_id__extra_dim",
    ]
    idx = [cols.index(c) for c in order] + [cols.index("txn_count")]
    assert _rows([tuple(r[i] for i in idx) for r in got]) == _rows(want)
    # a0 has two bridge rows: crossing its two paths gives four name × country rows
    assert len([r for r in want if r[2] == "lux"]) == 4


def test_distinct_values_cross_the_spine_before_the_full_outer_joins(con):
    """Without metrics, MetricFlow crosses the time spine with the first dimension source (here
    customer_other: both models reach both dimensions with one join, and it offers fewer
    group-by items) and then FULL OUTER joins the others: a row only the second source has gets
    no metric_time, so a time constraint drops it."""
    sl = SemanticLayer(UNPARTITIONED, connection=con)
    q = sl.compile(
        group_by=["metric_time__day", "customer_id__customer_name", "customer_id__country"],
        start_time="2020-01-03",
        end_time="2020-01-03",
    )
    want = con.execute("""
        select s.ds, c.customer_name, o.country from customer_other o
        cross join time_spine s
        full outer join customers c on o.customer_id = c.customer_id
        where s.ds >= timestamp '2020-01-03' and s.ds < timestamp '2020-01-04'
        group by all""").fetchall()
    idx = [
        q.columns.index(c)
        for c in ("metric_time__day", "customer_id__customer_name", "customer_id__country")
    ]
    assert _rows([tuple(r[i] for i in idx) for r in q.fetchall()]) == _rows(want)
    assert "unobtainium" not in {r[1] for r in want}


def test_a_partition_meets_the_first_model_of_the_path_that_has_it(con):
    """The bridge has no partition here: the measure's partition is joined to the customers
    at the path's end, as MetricFlow joins the pre-joined path on its simplest partition."""
    manifest = {
        **MANIFEST,
        "semantic_models": [
            sm
            if sm["name"] != "bridge"
            else {**sm, "dimensions": [d for d in sm["dimensions"] if not d["is_partition"]]}
            for sm in MANIFEST["semantic_models"]
        ],
    }
    sl = SemanticLayer(manifest, connection=con)
    got = sl.compile(
        metrics=["txn_count"], group_by=["account_id__customer_id__customer_name"]
    ).fetchall()
    want = con.execute("""
        select c.customer_name, count(*) from txns t
        left join bridge b on t.account_id = b.account_id
        left join customers c on b.customer_id = c.customer_id
          and t.ds_partitioned = c.ds_partitioned
        group by 1""").fetchall()
    assert _rows(got) == _rows(want)
