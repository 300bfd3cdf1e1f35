"""Superset against opsmetrics serve, through Superset's own dataset code (SqlaTable) and its
PostgreSQL engine spec: reflect a metric dataset, run a chart query with a time-range filter
and a month time grain, its samples and its row count; compare the chart with the same metric
asked in semantic SQL. One JSON line per operation; exit 1 when one fails.

Run by scripts/superset_probe.sh (a venv with Superset, its metadata DB, a server)."""

from __future__ import annotations

import datetime as dt
import json
import sys

from superset.app import create_app


def main(uri: str, metric: str, dimension: str) -> int:
    app = create_app()
    failed = 0

    def report(op, fn):
        nonlocal failed
        try:
            out = fn()
            print(json.dumps({"op": op, "ok": True, **out}, default=str))
        except Exception as exc:  # each operation's failure is reported, then the next runs
            failed += 1
            print(json.dumps({"op": op, "ok": False, "error": f"{type(exc).__name__}: {exc}"}))

    with app.app_context():
        from superset import db
        from superset.connectors.sqla.models import SqlaTable, SqlMetric
        from superset.models.core import Database

        database = Database(
            database_name=f"opsmetrics-{dt.datetime.now():%H%M%S%f}", sqlalchemy_uri=uri
        )
        db.session.add(database)
        table = SqlaTable(table_name=metric, schema="metrics", database=database)
        db.session.add(table)
        db.session.commit()

        def reflect():
            table.fetch_metadata()
            names = {c.column_name for c in table.columns}
            if not {metric, "metric_time__day", dimension} <= names:
                raise AssertionError(f"columns reflected: {sorted(names)[:10]}")
            return {"columns": len(names)}

        report("reflect_dataset", reflect)
        table.main_dttm_col = "metric_time__day"
        for c in table.columns:
            c.is_dttm = c.column_name.startswith("metric_time__")
        table.metrics.append(SqlMetric(metric_name="m", expression=f"MAX({metric})"))
        db.session.commit()

        def run(query_obj):
            r = table.query(query_obj)
            if r.status != "success":
                raise RuntimeError(r.error_message)
            return r

        chart = {}

        def time_range_chart():
            r = run(
                {
                    "granularity": "metric_time__day",
                    "from_dttm": dt.datetime(2025, 1, 1),
                    "to_dttm": dt.datetime(2025, 4, 1),
                    "groupby": [dimension],
                    "metrics": ["m"],
                    "is_timeseries": True,
                    "extras": {"time_grain_sqla": "P1M"},
                    "row_limit": 1000,
                    "filter": [],
                }
            )
            for rec in r.df.to_dict("records"):
                chart[(str(rec["__timestamp"])[:10], rec[dimension])] = rec["m"]
            return {"sql": r.query, "rows": len(r.df)}

        report("time_range_chart", time_range_chart)

        def same_as_semantic_sql():
            import psycopg2
            from sqlalchemy.engine import make_url

            u = make_url(database.sqlalchemy_uri_decrypted)
            with psycopg2.connect(
                host=u.host, port=u.port, user=u.username, password=u.password, dbname=u.database
            ) as c:
                cur = c.cursor()
                cur.execute(
                    f"select metric_time__month, {dimension}, {metric} from metrics "
                    "where metric_time__month >= '2025-01-01' and metric_time__month < '2025-04-01' "
                    "group by 1, 2"
                )
                want = {(str(m)[:10], d): v for m, d, v in cur.fetchall()}
            if not chart or want != chart:
                raise AssertionError(
                    f"chart {sorted(chart.items())[:3]} vs {sorted(want.items())[:3]}"
                )
            return {"cells": len(want)}

        report("chart_equals_semantic_sql", same_as_semantic_sql)

        def samples():
            r = run(
                {
                    "columns": ["metric_time__day", dimension, metric],
                    "metrics": [],
                    "row_limit": 10,
                    "is_timeseries": False,
                    "filter": [],
                    "granularity": None,
                    "orderby": [],
                }
            )
            return {"sql": r.query, "rows": len(r.df)}

        report("samples", samples)

        def samples_count():
            r = run(
                {
                    "columns": [],
                    "metrics": ["count"],
                    "row_limit": 10,
                    "is_timeseries": False,
                    "filter": [],
                    "granularity": None,
                    "orderby": [],
                }
            )
            return {"sql": r.query, "count": int(r.df.iloc[0, 0])}

        report("samples_count", samples_count)
        db.session.delete(table)
        db.session.delete(database)
        db.session.commit()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
