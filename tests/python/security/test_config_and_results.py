"""Server limits and grants are validated when the config is read, and analysis results
(computed over every row) are never served to a role with row policies."""

from __future__ import annotations

import pytest

from analysis_py.errors import ConfigError
from analysis_py.pg.engine import Engine
from analysis_py.pg.governance import Grants, Role, RowPolicy
from analysis_py.pg.session import Session
from analysis_py.serve.config import load_config
from analysis_py.serve.scram import make_verifier
from tests.python.serve.tiny import make_warehouse


def _config(server=None, roles=None):
    return {
        "server": server or {},
        "row_policies": {
            "emea": {"table": "dim_clients", "key": "client_id", "filter": "region = 'EMEA'"}
        },
        "roles": roles or {"r": {"marts": "*"}},
        "users": {"u": {"password": make_verifier("pw"), "role": next(iter(roles or {"r": 0}))}},
    }


@pytest.mark.parametrize(
    "server,message",
    [
        ({"statement_timeout": -5}, "statement_timeout: must be at least 0"),
        ({"max_rows": -1}, "max_rows: must be at least 0"),
        ({"max_connections": 0}, "max_connections: must be between 1"),
        ({"port": 70000}, "port: must be between 0 and 65535"),
        ({"poll_interval": 0}, "poll_interval: must be greater than 0"),
        ({"threads": 0}, "threads: must be between 1"),
        ({"max_message_bytes": 10}, "max_message_bytes"),
        ({"authentication_timeout": 0}, "authentication_timeout"),
        ({"max_rows": True}, "expected a number"),
        ({"max_rows": "lots"}, "expected a number"),
        ({"memory_limit": "1TB'; drop table x; --"}, "not a memory size"),
        ({"memory_limit": 5}, "not a memory size"),
        ({"database": "ops'metrics"}, "not a valid database name"),
        ({"max_connectoins": 5}, "unknown settings"),
    ],
)
def test_bad_server_limits_are_refused_at_start(server, message):
    with pytest.raises(ConfigError, match=message):
        load_config(data=_config(server))


def test_defaults_bound_the_engine():
    cfg = load_config(data=_config())
    assert cfg.memory_limit == "1GB" and cfg.threads and cfg.threads >= 1
    assert cfg.authentication_timeout <= 10 and cfg.max_message_bytes <= 16 << 20
    assert cfg.query_log_max_bytes > 0


def test_a_role_with_row_policies_cannot_be_granted_analysis_results():
    with pytest.raises(ConfigError, match="row policies cannot be granted analysis"):
        load_config(
            data=_config(roles={"e": {"marts": "*", "analysis": "*", "row_policies": ["emea"]}})
        )
    cfg = load_config(data=_config(roles={"e": {"marts": "*", "row_policies": ["emea"]}}))
    assert not cfg.roles["e"].analysis.names


def test_analysis_results_never_reach_a_role_with_row_policies(tmp_path):
    wh = make_warehouse(tmp_path)
    (wh / "analysis").mkdir()
    policy = RowPolicy("emea", "dim_clients", "region = 'EMEA'", "client_id")
    # built by hand, past the config check: the engine refuses them too (defence in depth)
    roles = {
        "all": Role("all", analysis=Grants(None)),
        "emea": Role("emea", analysis=Grants(None), row_policies=(policy,)),
    }
    engine = Engine(wh, roles).start()
    try:
        names = {
            r[0]
            for r in Session(engine, "a", roles["all"])
            .execute(
                "select table_name from information_schema.tables where table_schema = 'analysis'"
            )
            .source.fetch(100)
        }
        assert names, "the unrestricted role sees the analysis schema"
        emea = Session(engine, "e", roles["emea"])
        rows = emea.execute(
            "select table_name from information_schema.tables where table_schema = 'analysis'"
        ).source.fetch(100)
        assert list(rows) == []
        with pytest.raises(Exception, match=r"does not exist|not found"):
            emea.execute(f"select * from analysis.{sorted(names)[0]}")
    finally:
        engine.close()


def test_the_example_config_grants_every_input_of_its_metrics(built_warehouse):
    """config/serve.example.yml against the project's semantic manifest: a role granted a
    ratio or derived metric is granted what it is computed from (else it could not query it)."""
    import json
    from pathlib import Path

    from analysis_py.semantic.layer import metrics_touched
    from analysis_py.semantic.manifest import load_manifest
    from analysis_py.semantic.request import make_request

    repo = Path(__file__).resolve().parents[3]
    manifest_path = built_warehouse.paths.warehouse_dir / "target" / "semantic_manifest.json"
    manifest = load_manifest(json.loads(manifest_path.read_text()))
    cfg = load_config(repo / "config" / "serve.example.yml")
    for role in cfg.roles.values():
        if role.metrics.names is None:
            continue
        for m in role.metrics.names:
            used = metrics_touched(manifest, make_request([m]))
            assert used <= role.metrics.names, (role.name, m, sorted(used - role.metrics.names))
