"""The ``opsmetrics`` command: a thin, lazily-loading front over the package.

Each sub-command lives in ``analysis_py/commands/<name>.py`` and is imported only when it
is invoked, so ``opsmetrics query`` does not pay for dbt, pandas or statsmodels imports.
Errors of type :class:`~analysis_py.errors.OpsMetricsError` are printed without a
traceback and set the exit code.
"""

from __future__ import annotations

import importlib
import sys

import click

#: command name -> (module, attribute, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "generate": (
        "analysis_py.commands.generate",
        "generate",
        "Generate raw source data with planted effects.",
    ),
    "build": (
        "analysis_py.commands.build",
        "build",
        "Run dbt build and publish the warehouse atomically.",
    ),
    "run": (
        "analysis_py.commands.run",
        "run",
        "The main job: generate, build, query, analyse, report.",
    ),
    "query": ("analysis_py.commands.query", "query", "Query metrics from the semantic layer."),
    "list": ("analysis_py.commands.query", "list_", "List metrics, dimensions or entities."),
    "validate": ("analysis_py.commands.query", "validate", "Validate the semantic manifest."),
    "export": (
        "analysis_py.commands.query",
        "export",
        "Saved-query exports as tables, or the semantic layer as Ossie.",
    ),
    "import": (
        "analysis_py.commands.query",
        "import_",
        "Turn an Apache Ossie document into dbt semantic YAML.",
    ),
    "rollups": (
        "analysis_py.commands.rollups",
        "rollups",
        "Propose rollups from the server's query log.",
    ),
    "spark": (
        "analysis_py.commands.spark",
        "spark",
        "Start, stop or check a local Spark cluster.",
    ),
    "sql": ("analysis_py.commands.sql", "sql", "Run semantic or read-only SQL."),
    "serve": (
        "analysis_py.commands.serve",
        "serve",
        "Serve the warehouse over the Postgres wire protocol.",
    ),
    "mcp": (
        "analysis_py.commands.mcp",
        "mcp",
        "Serve metrics to AI agents over the Model Context Protocol.",
    ),
    "analyze": ("analysis_py.commands.analyze", "analyze", "Run declarative analysis specs."),
    "report": (
        "analysis_py.commands.analyze",
        "report",
        "Write the HTML report of analysis results.",
    ),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        module, attr, help_text = spec
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:  # the command is not implemented in this checkout
                return click.Command(cmd_name, help=f"{help_text} (not available: {exc})")
            raise
        return getattr(mod, attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Use the static table so `--help` imports nothing.
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="opsmetrics")
def cli() -> None:
    """opsmetrics: governed operations metrics, from raw data to analysis."""


def main(argv: list[str] | None = None) -> int:
    from analysis_py.errors import OpsMetricsError

    try:
        rv = cli.main(args=argv, prog_name="opsmetrics", standalone_mode=False)
    except OpsMetricsError as exc:
        click.secho(f"Error: {exc.message}", fg="red", err=True)
        if exc.hint:
            click.echo(f"Hint: {exc.hint}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return 130
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":
    sys.exit(main())
