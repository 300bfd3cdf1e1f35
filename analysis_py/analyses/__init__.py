"""Analyses on governed tables: model → ``fit()`` → results, declared in specs, written back.

Modules: :mod:`.inputs` (public contracted marts and metric series through Ibis),
:mod:`.profile`, :mod:`.forecast`, :mod:`.anomalies`, :mod:`.drivers`, :mod:`.survival`,
:mod:`.impact`, :mod:`.compare` (the analyses), :mod:`.spec` (YAML specs), :mod:`.runner`
(parallel execution) and :mod:`.store` (Parquet write-back and the ``analysis`` views).
"""

from analysis_py.warehouse.results import register_views

__all__ = ["register_views"]
