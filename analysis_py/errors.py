"""Exception types whose messages tell the user what is wrong and how to fix it.

Every error that reaches the CLI is an :class:`OpsMetricsError`; the CLI prints its
message (no traceback) and exits with its ``exit_code``.
"""

from __future__ import annotations


class OpsMetricsError(Exception):
    """Base class: a problem the user can act on."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message}\nHint: {hint}")


class ConfigError(OpsMetricsError):
    """A path, environment variable, profile or target is missing or wrong."""

    exit_code = 2


class EffectsError(ConfigError):
    """An ``--effects`` file has an unknown key or a bad value."""


class DataNotFoundError(OpsMetricsError):
    """Raw data or a published warehouse is not where it was expected."""


class BuildError(OpsMetricsError):
    """``dbt build`` failed; the published warehouse was left as it was."""


class SemanticError(OpsMetricsError):
    """A metric request or semantic manifest is invalid."""

    exit_code = 2


class ManifestError(SemanticError):
    """The semantic manifest cannot be read or is inconsistent."""


class QueryError(SemanticError):
    """A metric request names unknown objects or asks for something impossible."""


class FilterError(QueryError):
    """A where filter is not an allowed boolean expression over semantic objects."""


class SQLInterfaceError(OpsMetricsError):
    """A SQL statement is not allowed or cannot be translated."""

    exit_code = 2


class SQLStateError(SQLInterfaceError):
    """A statement-level error with the SQLSTATE a Postgres client should receive."""

    sqlstate = "42000"

    def __init__(self, message: str, *, hint: str | None = None, sqlstate: str | None = None):
        super().__init__(message, hint=hint)
        if sqlstate:
            self.sqlstate = sqlstate


class Forbidden(SQLStateError):
    sqlstate = "42501"  # insufficient_privilege


class ReadOnly(SQLStateError):
    sqlstate = "25006"  # read_only_sql_transaction


class Unsupported(SQLStateError):
    sqlstate = "0A000"  # feature_not_supported


class SyntaxErr(SQLStateError):
    sqlstate = "42601"  # syntax_error


class JDBCSyntaxError(SQLStateError):
    """dbt's JDBC ``{{ semantic_layer.… }}`` call cannot be read."""

    sqlstate = "42601"


class SemanticSQLError(SQLStateError):
    """A SELECT over ``metrics`` cannot become a metric request."""

    sqlstate = "42601"


class AnalysisError(OpsMetricsError):
    """An analysis spec or its input is invalid, or a model cannot be fitted."""


class InputError(AnalysisError):
    """An analysis input (mart, metric, column) is unknown, not governed or unusable."""

    exit_code = 2


class SpecError(AnalysisError):
    """A spec file is malformed or names an unknown field, analysis or value."""

    exit_code = 2


def close_names(name: str, options, *, n: int = 3, cutoff: float = 0.5) -> list[str]:
    """Up to ``n`` of ``options`` close to ``name``, never ``name`` itself (it is what failed):
    the one did-you-mean of every error message."""
    import difflib

    return difflib.get_close_matches(
        str(name), sorted(set(map(str, options)) - {str(name)}), n, cutoff
    )


def did_you_mean(name: str, options, *, n: int = 3, cutoff: float = 0.5) -> str:
    """``did you mean 'a'?`` (``'a', 'b' or 'c'`` for several) over the names of ``options``
    close to ``name``; ``""`` when none is.

    >>> did_you_mean("fct_casez", ["fct_cases", "dim_clients"])
    "did you mean 'fct_cases'?"
    >>> did_you_mean("zzz", ["fct_cases"])
    ''
    """
    close = [f"'{c}'" for c in close_names(name, options, n=n, cutoff=cutoff)]
    if not close:
        return ""
    listed = close[0] if len(close) == 1 else ", ".join(close[:-1]) + " or " + close[-1]
    return f"did you mean {listed}?"
