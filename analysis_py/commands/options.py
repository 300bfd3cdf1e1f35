"""Command-line options several commands share, declared once."""

from __future__ import annotations

import click

#: the published warehouse folder (default: ``$OPSMETRICS_WAREHOUSE_DIR`` or ``warehouse/``)
warehouse_dir = click.option(
    "--warehouse-dir", type=click.Path(file_okay=False), help="Published warehouse folder."
)
#: the dbt project folder (default: ``$OPSMETRICS_PROJECT_DIR`` or the current checkout)
project_dir = click.option(
    "--project-dir", type=click.Path(file_okay=False), help="dbt project folder (as in dbt)."
)
#: the serve config naming users, roles, grants, masking and row policies
serve_config = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="Serve config YAML (users, roles, grants, policies).",
)
#: the config user whose grants apply to a local command
as_user = click.option(
    "--as", "as_user", help="User from --config whose grants, masking and row policies apply."
)


def apply(*options):
    """One decorator applying ``options`` in the order given (top to bottom, as written)."""

    def wrap(fn):
        for opt in reversed(options):
            fn = opt(fn)
        return fn

    return wrap
