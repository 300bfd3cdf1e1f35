"""``opsmetrics generate``: write the raw source data with planted effects."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("generate")
@click.option(
    "--scale",
    type=float,
    default=1.0,
    show_default=True,
    help="Size: 1 ≈ 2,000 clients, 250k cases, 2M payments, 5M requests.",
)
@click.option("--seed", type=int, default=42, show_default=True, help="Random seed.")
@click.option(
    "--effects",
    "effects_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="YAML file overriding planted effects (DESIGN.md §2 keys).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder [default: $OPSMETRICS_DATA_DIR or data/raw].",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def generate(scale: float, seed: int, effects_file: Path | None, out_dir: Path | None,
             quiet: bool) -> None:  # fmt: skip
    """Generate raw source data (Parquet per source system) and ground_truth.json."""
    from analysis_py.generate import generate as run

    truth = run(out_dir, scale=scale, seed=seed, effects=effects_file, progress=not quiet)
    if not quiet:
        rows = sum(t["raw_rows"] for t in truth["row_counts"].values())
        click.echo(f"wrote {rows:,} rows; anomaly cells: {truth['anomalies']['count']}")
