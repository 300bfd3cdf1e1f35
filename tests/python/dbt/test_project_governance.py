"""The project holds itself to dbt-project-evaluator's governance rules, checked on the
artifacts of the test warehouse's build (manifest.json and the docs catalog): public marts are
contracted, grouped and fully documented; exposures use public models only; only staging calls
source(); PII is tagged; macros and seeds are documented."""

from __future__ import annotations

import json
import re

import pytest


@pytest.fixture(scope="module")
def artifacts(built_warehouse):
    target = built_warehouse.paths.warehouse_dir / "target"
    manifest = json.loads((target / "manifest.json").read_text())
    catalog_path = target / "catalog.json"
    catalog = json.loads(catalog_path.read_text()) if catalog_path.is_file() else None
    return manifest, catalog


def _own_models(manifest):
    return {
        uid: node
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] == "model" and node["package_name"] == "opsmetrics"
    }


def _marts(manifest):
    return {uid: n for uid, n in _own_models(manifest).items() if n["path"].startswith("marts/")}


def test_marts_are_public_contracted_grouped_and_documented(artifacts):
    manifest, catalog = artifacts
    marts = _marts(manifest)
    assert {n["name"] for n in marts.values()} >= {
        "dim_clients",
        "dim_dates",
        "metricflow_time_spine",
        "fct_cases",
        "fct_case_events",
        "fct_csat_responses",
        "fct_payments",
        "fct_platform_requests",
        "fct_platform_usage_daily",
        "fct_incidents",
    }
    for uid, node in marts.items():
        assert node["access"] == "public", uid
        assert node["config"]["contract"]["enforced"], uid
        assert (
            node["group"] in manifest["groups"]
            or f"group.opsmetrics.{node['group']}" in manifest["groups"]
        ), uid
        assert node["description"].strip(), uid
        for name, col in node["columns"].items():
            assert col["description"].strip(), f"{uid}.{name}"
            assert col["data_type"], f"{uid}.{name}"
        if catalog is not None:
            built = {c.lower() for c in catalog["nodes"][uid]["columns"]}
            assert built == set(node["columns"]), uid


def test_groups_have_owners(artifacts):
    manifest, _ = artifacts
    assert manifest["groups"]
    for group in manifest["groups"].values():
        assert group["owner"].get("email") or group["owner"].get("name")


def test_only_staging_reads_sources(artifacts):
    manifest, _ = artifacts
    for uid, node in _own_models(manifest).items():
        reads_source = any(d.startswith("source.") for d in node["depends_on"]["nodes"])
        assert reads_source == node["name"].startswith("stg_"), uid


def test_model_names_follow_layer_conventions(artifacts):
    manifest, _ = artifacts
    patterns = {
        "staging/": r"stg_[a-z_]+__[a-z_]+s",
        "intermediate/": r"int_[a-z_]+s_[a-z_]+",
        "marts/": r"(fct|dim)_[a-z_]+|metricflow_time_spine",
    }
    for uid, node in _own_models(manifest).items():
        for prefix, pattern in patterns.items():
            if node["path"].startswith(prefix):
                assert re.fullmatch(pattern, node["name"]), uid


def test_exposures_depend_only_on_public_models(artifacts):
    manifest, _ = artifacts
    dashboards = [e for e in manifest["exposures"].values() if e["type"] == "dashboard"]
    assert len(dashboards) >= 4
    for exposure in manifest["exposures"].values():
        assert exposure["owner"].get("email") or exposure["owner"].get("name"), exposure["name"]
        for dep in exposure["depends_on"]["nodes"]:
            node = manifest["nodes"].get(dep)
            if node is not None and node["resource_type"] == "model":
                assert node["access"] == "public", (exposure["name"], dep)


def test_pii_columns_are_tagged(artifacts):
    manifest, _ = artifacts
    clients = manifest["nodes"]["model.opsmetrics.dim_clients"]["columns"]
    for col in ("legal_name", "contact_email"):
        assert clients[col]["meta"].get("pii") is True
        assert "pii" in clients[col]["tags"]
    tagged = {
        (n["name"], c)
        for n in _marts(manifest).values()
        for c, col in n["columns"].items()
        if col["meta"].get("pii")
    }
    assert tagged == {("dim_clients", "legal_name"), ("dim_clients", "contact_email")}


def _signature_arguments(macro_sql: str) -> set[str]:
    """The argument names of a ``{% macro name(a, b=1) %}`` header (defaults stripped)."""
    header = re.match(r"\{%-?\s*(?:test|macro)\s+\w+\s*\((.*?)\)\s*-?%\}", macro_sql, re.S)
    assert header, macro_sql[:80]
    without_strings = re.sub(r"'[^']*'|\"[^\"]*\"", "''", header.group(1))
    params = [p.split("=", 1)[0].strip() for p in without_strings.split(",")]
    return {p for p in params if p}


def test_project_macros_are_documented_with_typed_arguments(artifacts):
    manifest, _ = artifacts
    own = {uid: m for uid, m in manifest["macros"].items() if m["package_name"] == "opsmetrics"}
    assert len(own) >= 15
    for uid, macro in own.items():
        assert macro["description"].strip(), uid
        documented = {a["name"]: a for a in macro["arguments"]}
        assert set(documented) == _signature_arguments(macro["macro_sql"]), uid
        for arg in documented.values():
            assert arg["type"] and arg["description"], (uid, arg["name"])


def test_seeds_are_documented(artifacts):
    manifest, _ = artifacts
    seeds = [n for n in manifest["nodes"].values() if n["resource_type"] == "seed"]
    assert {s["name"] for s in seeds} >= {
        "channel_map",
        "priority_map",
        "severity_map",
        "initiation_channel_map",
        "segment_map",
        "country_calendars",
        "public_holidays",
        "currencies",
        "sla_policy",
    }
    for seed in seeds:
        assert seed["description"].strip(), seed["name"]


def test_time_spine_declares_fiscal_grains(artifacts):
    manifest, _ = artifacts
    spine = manifest["nodes"]["model.opsmetrics.metricflow_time_spine"]
    assert spine["time_spine"]["standard_granularity_column"] == "date_day"
    assert {g["name"] for g in spine["time_spine"]["custom_granularities"]} == {
        "fiscal_quarter",
        "fiscal_year",
    }


def test_fiscal_calendar_values(wh):
    rows = dict(
        (str(d), (str(q), str(y), n))
        for d, q, y, n in wh.execute(
            """select date_day, fiscal_quarter, fiscal_year, fiscal_year_number
               from main.metricflow_time_spine
               where date_day in ('2024-03-31', '2024-04-01', '2024-08-15', '2025-01-05')"""
        ).fetchall()
    )
    assert rows == {
        "2024-03-31": ("2024-01-01", "2023-04-01", 2024),
        "2024-04-01": ("2024-04-01", "2024-04-01", 2025),
        "2024-08-15": ("2024-07-01", "2024-04-01", 2025),
        "2025-01-05": ("2025-01-01", "2024-04-01", 2025),
    }
