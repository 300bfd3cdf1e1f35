"""The one reader of dbt's ``manifest.json``: public relations, contracts, docs, PII columns
(one rule), primary keys, NOT NULL guarantees and relationships.

The server (catalog, masking, row policies) and the analyses (governed inputs) both read it
here, so a PII tag or a contract means the same everywhere.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

_RELATIONS = ("model", "seed", "snapshot")


@dataclass(frozen=True)
class Relation:
    """A model, seed or snapshot of the project, as the manifest declares it."""

    name: str  # the relation's name in the warehouse (alias, else name)
    unique_id: str
    resource_type: str
    schema: str
    access: str  # public | protected | private
    contract_enforced: bool
    description: str | None
    column_docs: dict[str, str] = field(hash=False, compare=False)
    #: columns tagged ``meta: {pii: true}`` (on the column or in its ``config.meta``)
    pii: frozenset[str] = frozenset()
    #: display names of columns: ``meta.label`` (or ``config.meta.label``) on the column, else
    #: the label of the semantic-model dimension over that column
    labels: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    primary_key: tuple[str, ...] = ()
    #: columns never NULL: primary key, contract not_null constraints, unconditional
    #: not_null tests
    not_null: frozenset[str] = frozenset()
    #: (column, parent relation, parent column): relationships tests and semantic models'
    #: foreign entities pointing at another model's primary entity
    foreign_keys: tuple[tuple[str, str, str], ...] = ()
    #: dbt's materialization (``table``, ``view``, ``ephemeral``, ``seed``…)
    materialized: str = ""

    @property
    def governed(self) -> bool:
        """Public with an enforced contract: what analyses may read."""
        return self.access == "public" and self.contract_enforced


class DbtManifest:
    """A parsed ``manifest.json``: :meth:`relations` by warehouse name."""

    def __init__(self, data: dict, path: str = "<memory>"):
        self.data = data
        self.path = path
        self._relations: dict[str, Relation] | None = None

    @classmethod
    def read(cls, path: str | Path) -> DbtManifest | None:
        """The manifest at ``path``, or None when it is missing or unreadable."""
        p = Path(path)
        if not p.is_file():
            return None
        try:
            return cls(json.loads(p.read_text()), str(p))
        except (OSError, ValueError):
            return None

    def relations(self) -> dict[str, Relation]:
        if self._relations is None:
            self._relations = self._build()
        return self._relations

    def models(self) -> dict[str, Relation]:
        return {n: r for n, r in self.relations().items() if r.resource_type == "model"}

    def _build(self) -> dict[str, Relation]:
        nodes = self.data.get("nodes", {})
        fks = _foreign_keys(self.data)
        not_null = _not_null(self.data)
        dim_labels = _dimension_labels(self.data)
        out: dict[str, Relation] = {}
        for uid, node in nodes.items():
            if node.get("resource_type") not in _RELATIONS:
                continue
            name = node.get("alias") or node["name"]
            cols = node.get("columns") or {}
            pk = _primary_key(node)
            out[name] = Relation(
                name=name,
                unique_id=uid,
                resource_type=node["resource_type"],
                schema=node.get("schema") or "main",
                access=node.get("access") or "protected",
                contract_enforced=bool(
                    ((node.get("config") or {}).get("contract") or {}).get("enforced")
                ),
                description=node.get("description") or None,
                column_docs={c: s["description"] for c, s in cols.items() if s.get("description")},
                pii=frozenset(c for c, spec in cols.items() if _is_pii(spec)),
                labels={
                    **dim_labels.get(name, {}),
                    **{c: lab for c, spec in cols.items() if (lab := _meta(spec).get("label"))},
                },
                primary_key=pk,
                not_null=frozenset(not_null.get(uid, ())) | frozenset(pk),
                foreign_keys=tuple(sorted(fks.get(name, ()))),
                materialized=str((node.get("config") or {}).get("materialized") or ""),
            )
        return out


def _meta(column: dict) -> dict:
    """A column's ``meta``: on the column, overridden by its ``config.meta``."""
    return {**(column.get("meta") or {}), **((column.get("config") or {}).get("meta") or {})}


def _is_pii(column: dict) -> bool:
    """The one PII rule: ``meta.pii`` on the column, or in its ``config.meta``."""
    return bool(_meta(column).get("pii"))


def _dimension_labels(manifest: dict) -> dict[str, dict[str, str]]:
    """relation → {column: label} from the semantic models' labelled dimensions over a
    plain column."""
    out: dict[str, dict[str, str]] = {}
    for sm in (manifest.get("semantic_models") or {}).values():
        rel = (sm.get("node_relation") or {}).get("alias")
        for d in sm.get("dimensions") or []:
            col = d.get("expr") or d.get("name")
            if rel and d.get("label") and isinstance(col, str) and col.isidentifier():
                out.setdefault(rel, {})[col] = d["label"]
    return out


def _primary_key(node: dict) -> tuple[str, ...]:
    for c in node.get("constraints") or []:
        if c.get("type") == "primary_key" and c.get("columns"):
            return tuple(c["columns"])
    pk = []
    for cname, spec in (node.get("columns") or {}).items():
        for c in spec.get("constraints") or []:
            if c.get("type") == "primary_key":
                pk.append(cname)
    return tuple(pk)


def _not_null(manifest: dict) -> dict[str, set[str]]:
    """Columns each model guarantees are never NULL: a ``not_null`` constraint of its
    contract (on the column or the model) or an unconditional ``not_null`` test."""
    out: dict[str, set[str]] = {}
    for uid, n in manifest.get("nodes", {}).items():
        if n.get("resource_type") == "model":
            for c in n.get("constraints") or []:
                if c.get("type") == "not_null":
                    out.setdefault(uid, set()).update(c.get("columns") or ())
            for cname, spec in (n.get("columns") or {}).items():
                if any(c.get("type") == "not_null" for c in spec.get("constraints") or []):
                    out.setdefault(uid, set()).add(cname)
        meta = n.get("test_metadata") or {}
        if n.get("resource_type") == "test" and meta.get("name") == "not_null":
            column = n.get("column_name") or (meta.get("kwargs") or {}).get("column_name")
            conditional = (n.get("config") or {}).get("where")
            if n.get("attached_node") and _plain(column) and not conditional:
                out.setdefault(n["attached_node"], set()).add(column)
    return out


def _foreign_keys(manifest: dict) -> dict[str, set[tuple[str, str, str]]]:
    """(column, parent relation, parent column) of each relation, as the project declares
    them: dbt ``relationships`` tests, and semantic models' foreign entities pointing at the
    model whose primary (or unique) entity they name. Only plain column names."""
    nodes = manifest.get("nodes", {})
    name_of = {
        uid: n.get("alias") or n.get("name")
        for uid, n in nodes.items()
        if n.get("resource_type") in _RELATIONS
    }
    out: dict[str, set[tuple[str, str, str]]] = {}
    for n in nodes.values():
        meta = n.get("test_metadata") or {}
        if n.get("resource_type") != "test" or meta.get("name") != "relationships":
            continue
        kwargs = meta.get("kwargs") or {}
        child = n.get("attached_node")
        column, parent_col = n.get("column_name") or kwargs.get("column_name"), kwargs.get("field")
        parents = [
            u for u in (n.get("depends_on") or {}).get("nodes", []) if u != child and u in name_of
        ]
        if child in name_of and len(parents) == 1 and _plain(column) and _plain(parent_col):
            out.setdefault(name_of[child], set()).add((column, name_of[parents[0]], parent_col))
    models = list((manifest.get("semantic_models") or {}).values())
    owner: dict[str, tuple[str, str]] = {}
    for sm in models:
        table = (sm.get("node_relation") or {}).get("alias")
        for e in sm.get("entities") or []:
            col = e.get("expr") or e.get("name")
            if table and e.get("type") in ("primary", "unique", "natural") and _plain(col):
                owner.setdefault(e["name"], (table, col))
    for sm in models:
        table = (sm.get("node_relation") or {}).get("alias")
        for e in sm.get("entities") or []:
            col = e.get("expr") or e.get("name")
            parent = owner.get(e.get("name"))
            if (
                table
                and e.get("type") == "foreign"
                and _plain(col)
                and parent
                and parent[0] != table
            ):
                out.setdefault(table, set()).add((col, *parent))
    return out


def _plain(name) -> bool:
    return isinstance(name, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) is not None
