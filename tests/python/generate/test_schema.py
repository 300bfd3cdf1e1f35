"""Every raw table has exactly the columns and Arrow types of docs/raw_data.md.

The expected schema is parsed from the contract itself, so the document and the files
cannot drift apart silently.
"""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

DOC = Path(__file__).resolve().parents[3] / "docs" / "raw_data.md"
TYPES = {
    "string": pa.string(),
    "date32": pa.date32(),
    "int32": pa.int32(),
    "double": pa.float64(),
    "timestamp": pa.timestamp("us"),
}
LOAD_COLUMNS = [("_load_id", pa.int32()), ("_loaded_at", pa.timestamp("us"))]


def contract() -> dict[str, list[tuple[str, pa.DataType]]]:
    """``source/table`` -> [(column, type)] from the ``### source.table`` sections."""
    out: dict[str, list[tuple[str, pa.DataType]]] = {}
    current = None
    for line in DOC.read_text().splitlines():
        m = re.match(r"^### (\w+)\.(\w+)", line)
        if m:
            current = f"{m.group(1)}/{m.group(2)}"
            out[current] = []
            continue
        if line.startswith("## "):
            current = None
        if current is None or not line.startswith("| "):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] in ("column", "---") or set(cells[0]) <= {"-", " "}:
            continue
        names = [n.strip() for n in cells[0].split(",")]
        if names == ["_load_id", "_loaded_at"]:
            continue
        typ = cells[1].split()[0] if cells[1] else ""
        if typ not in TYPES:
            raise AssertionError(f"{current}.{names}: unknown type {cells[1]!r} in the contract")
        out[current].extend((n, TYPES[typ]) for n in names)
    for cols in out.values():
        cols.extend(LOAD_COLUMNS)
    return out


CONTRACT = contract()


def test_contract_parsed():
    assert set(CONTRACT) == {
        "crm/clients",
        "crm/cases",
        "crm/case_events",
        "survey_vendor/csat_responses",
        "payments/payment_instructions",
        "market_data/fx_rates",
        "platform/requests",
        "platform/incidents",
    }


@pytest.mark.parametrize("table", sorted(CONTRACT))
def test_schema_matches_contract(raw_dir, table):
    files = sorted((raw_dir / table).glob("load_*.parquet"))
    assert files, f"no files for {table}"
    expected = CONTRACT[table]
    for f in files:
        schema = pq.read_schema(f)
        got = [(n, schema.field(n).type) for n in schema.names]
        assert got == expected, f"{f.name}: {got} != {expected}"


def test_every_landing_is_named_by_its_load(raw_dir):
    for table in CONTRACT:
        for f in (raw_dir / table).glob("*.parquet"):
            load = int(re.fullmatch(r"load_(\d{4})\.parquet", f.name).group(1))
            ids = pq.read_table(f, columns=["_load_id"]).column(0).to_pylist()
            assert set(ids) == {load}


def test_ground_truth_row_counts_match_files(raw_dir, truth):
    for table in CONTRACT:
        name = table.split("/")[1]
        n = sum(pq.read_metadata(f).num_rows for f in (raw_dir / table).glob("*.parquet"))
        assert truth["row_counts"][name]["raw_rows"] == n
