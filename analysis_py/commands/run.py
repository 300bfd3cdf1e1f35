"""``opsmetrics run``: the Quickstart's main job, end to end on the embedded DuckDB warehouse.

generate (if the raw data for this scale/seed is missing) → build → query → analyse → report.
"""

from __future__ import annotations

import json
import time

import click


@click.command()
@click.option(
    "--scale",
    default=1.0,
    show_default=True,
    type=float,
    help="Data scale (1 ≈ 2 years, 250k cases).",
)
@click.option(
    "--seed", default=42, show_default=True, type=int, help="Random seed of the generator."
)
@click.option("--regenerate", is_flag=True, help="Generate the raw data even if it exists.")
@click.option("--skip-analyses", is_flag=True, help="Stop after the metric queries.")
@click.option("--quiet", "-q", is_flag=True)
def run(scale, seed, regenerate, skip_analyses, quiet):
    """Generate → build → query → analyse → report, printing where everything is."""
    from analysis_py.config import resolve_paths
    from analysis_py.jobs import main_job

    paths = resolve_paths()
    t0 = time.perf_counter()
    summary = main_job(
        paths,
        scale=scale,
        seed=seed,
        regenerate=regenerate,
        analyses=not skip_analyses,
        quiet=quiet,
        echo=click.echo,
    )
    click.echo("")
    click.secho(f"Done in {time.perf_counter() - t0:.0f}s.", bold=True)
    for key, value in summary.items():
        click.echo(f"  {key:<14} {value if isinstance(value, str) else json.dumps(value)}")
