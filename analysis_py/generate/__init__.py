"""Synthetic source systems for opsmetrics (DESIGN.md §2, contract in docs/raw_data.md).

>>> from analysis_py.generate import generate
>>> truth = generate("/tmp/raw", scale=0.01, seed=7, progress=False)  # doctest: +SKIP
"""

from analysis_py.generate.core import TABLES, generate
from analysis_py.generate.effects import DEFAULTS, resolve_effects

__all__ = ["DEFAULTS", "TABLES", "generate", "resolve_effects"]
