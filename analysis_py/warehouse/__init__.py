"""Running dbt, publishing builds atomically, and opening the published warehouse."""

from analysis_py.warehouse.publish import Published, current, published_duckdb

__all__ = ["Published", "current", "published_duckdb"]
