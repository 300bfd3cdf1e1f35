"""opsmetrics: a governed semantic data and metrics layer for operations analytics.

The package reads like the architecture:

- ``generate``  synthetic source systems with planted, known effects
- ``warehouse`` running dbt, publishing builds atomically, opening connections
- ``semantic``  the metric compiler (manifest -> request -> plan -> sqlglot tree)
- ``sql``       semantic SQL and dbt's JDBC syntax -> metric requests
- ``serve``     the Postgres wire-protocol server with governance
- ``analyses``  statistical analyses on governed tables, the spec runner, write-back
- ``report``    the HTML report
- ``commands``  thin click commands; ``cli`` wires them up lazily
"""

__version__ = "0.1.0"
