"""Where each result column comes from: the table OID and column number RowDescription
carries (0, 0 for computed columns)."""

from __future__ import annotations

from sqlglot import exp

#: (schema, relation) → (relation OID, {column: attnum}) of what a role may read
Relations = dict[tuple[str, str], tuple[int, dict[str, int]]]
Origin = tuple[int, int]


def column_origins(tree: exp.Expression, relations: Relations) -> tuple[Origin, ...] | None:
    """The origin of each output column of a plain SELECT (``*`` expanded in FROM order), or
    None when the width of the output is not known from the statement alone."""
    if not isinstance(tree, exp.Select):
        return None
    from_ = tree.args.get("from_") or tree.args.get("from")
    if from_ is None:
        return tuple((0, 0) for _ in tree.expressions) if not _has_star(tree) else None
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    sources: dict[str, tuple[int, dict[str, int]] | None] = {}
    order: list[str] = []
    for t in [from_.this, *(j.this for j in tree.args.get("joins") or [])]:
        alias = t.alias_or_name.lower()
        info = None
        if isinstance(t, exp.Table) and isinstance(t.this, exp.Identifier):
            name = t.name.lower()
            schema = (t.db or "main").lower()
            schema = "main" if schema == "public" else schema
            if not (t.db == "" and name in ctes):
                info = relations.get((schema, name))
        sources[alias] = info
        order.append(alias)
    out: list[Origin] = []
    for e in tree.expressions:
        inner = e.this if isinstance(e, exp.Alias) else e
        if isinstance(inner, exp.Star) or (
            isinstance(inner, exp.Column) and isinstance(inner.this, exp.Star)
        ):
            names = [inner.table.lower()] if isinstance(inner, exp.Column) else order
            for a in names:
                info = sources.get(a)
                if info is None:
                    return None  # a subquery's or function's columns: width unknown here
                out.extend((info[0], n) for n in sorted(info[1].values()))
            continue
        if isinstance(inner, exp.Column):
            if inner.table:
                candidates = [sources.get(inner.table.lower())]
            else:
                candidates = [
                    sources[a] for a in order if sources[a] and _attnum(sources[a], inner)
                ]
            info = candidates[0] if len(candidates) == 1 else None
            n = _attnum(info, inner) if info else None
            out.append((info[0], n) if info and n else (0, 0))
            continue
        out.append((0, 0))
    return tuple(out)


def _attnum(info: tuple[int, dict[str, int]], col: exp.Column) -> int | None:
    return info[1].get(col.name) or (None if col.this.quoted else info[1].get(col.name.lower()))


def _has_star(tree: exp.Select) -> bool:
    return any(isinstance(e, exp.Star) for e in tree.expressions)
