"""Thin click commands; ``analysis_py.cli`` imports each module only when it is invoked."""
