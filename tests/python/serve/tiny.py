"""A tiny published warehouse for protocol tests: real DuckDB build files, published with
the real publisher (symlink swap + current.json), a manifest marking PII and keys."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from analysis_py.config import resolve_paths
from analysis_py.warehouse.publish import publish

REPO = Path(__file__).resolve().parents[3]

CLIENTS = [
    (1, "Acme Bank", "acme@example.com", "Corporate", "EMEA", "GB"),
    (2, "Globex", "ops@globex.example", "Institutional", "AMER", "US"),
    (3, "Initech", "it@initech.example", "Corporate", "EMEA", "DE"),
    (4, "Umbrella", None, "FI", "APAC", "SG"),
]


def _manifest() -> dict:
    def model(name, cols, pii=(), pk=None):
        return {
            "resource_type": "model",
            "name": name,
            "alias": name,
            "schema": "main",
            "access": "public",
            "description": f"The {name} mart.",
            "columns": {
                c: {
                    "name": c,
                    "description": f"{c} of {name}",
                    "meta": {"pii": True} if c in pii else {},
                }
                for c in cols
            },
            "constraints": [{"type": "primary_key", "columns": [pk]}] if pk else [],
        }

    return {
        "nodes": {
            "model.t.dim_clients": model(
                "dim_clients",
                ["client_id", "legal_name", "contact_email", "segment", "region", "country"],
                pii=("legal_name", "contact_email"),
                pk="client_id",
            ),
            "model.t.fct_payments": model(
                "fct_payments",
                [
                    "payment_id",
                    "client_id",
                    "created_date",
                    "created_at",
                    "rail",
                    "amount",
                    "amount_usd",
                    "is_stp",
                    "repair_minutes",
                    "status",
                ],
                pk="payment_id",
            ),
            "model.t.stg_hidden": {
                "resource_type": "model",
                "name": "stg_hidden",
                "alias": "stg_hidden",
                "schema": "main",
                "access": "protected",
                "columns": {},
            },
        }
    }


def make_build(
    root: Path, build_id: str, n_payments: int = 1000, marker: int = 1
) -> tuple[Path, Path]:
    """A build file with dim_clients, fct_payments (``marker`` in every row) and a target dir."""
    builds = root / "builds"
    builds.mkdir(parents=True, exist_ok=True)
    db = builds / f"{build_id}.duckdb"
    con = duckdb.connect(str(db))
    con.execute(
        "CREATE TABLE dim_clients (client_id INTEGER, legal_name VARCHAR, contact_email "
        "VARCHAR, segment VARCHAR, region VARCHAR, country VARCHAR)"
    )
    con.executemany("INSERT INTO dim_clients VALUES (?, ?, ?, ?, ?, ?)", CLIENTS)
    con.execute(f"ALTER TABLE dim_clients ADD COLUMN build_marker INTEGER DEFAULT {marker}")
    con.execute(f"""
        CREATE TABLE fct_payments AS
        SELECT i::BIGINT AS payment_id, (i % 4 + 1)::INTEGER AS client_id,
               DATE '2025-01-01' + (i % 365)::INTEGER AS created_date,
               TIMESTAMP '2025-01-01 08:00:00' + i * INTERVAL 7 MINUTE AS created_at,
               ['SWIFT','ACH','RTP','SEPA'][i % 4 + 1] AS rail,
               (i * 1.25)::DECIMAL(18, 2) AS amount,
               (i * 1.5)::DOUBLE AS amount_usd,
               (i % 10 <> 0) AS is_stp,
               CASE WHEN i % 10 = 0 THEN i % 60 END AS repair_minutes,
               'settled' AS status,
               {marker}::INTEGER AS build_marker
        FROM range({n_payments}) t(i)""")
    con.execute("CREATE TABLE stg_hidden AS SELECT 1 AS secret")
    con.close()
    target = builds / f"{build_id}.target"
    target.mkdir(exist_ok=True)
    (target / "manifest.json").write_text(json.dumps(_manifest()))
    return db, target


def make_warehouse(root: Path, n_payments: int = 1000) -> Path:
    """A warehouse folder with one published build; returns the warehouse dir."""
    wh = root / "warehouse"
    wh.mkdir(parents=True, exist_ok=True)
    db, target = make_build(wh, "b0001", n_payments)
    paths = resolve_paths(project_dir=REPO, warehouse_dir=wh, data_dir=root / "raw")
    publish(paths, "b0001", db, target, {})
    return wh


def publish_build(wh: Path, build_id: str, n_payments: int, marker: int) -> None:
    db, target = make_build(wh, build_id, n_payments, marker)
    paths = resolve_paths(project_dir=REPO, warehouse_dir=wh, data_dir=wh.parent / "raw")
    publish(paths, build_id, db, target, {})
