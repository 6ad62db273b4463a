"""Read-only queries behind the dashboard pages and /metrics.

Every function takes an open read-only DuckDB connection and a ``Filters``
(``gpucost.dashboard.filters``) and returns pandas frames or small dataclasses; values reach
SQL only as bind parameters. Pages read the hourly rollup ``usage_hourly`` (model
sql/models/usage_hourly.sql), ``int_job_daily``, ``raw_prices`` and ``asset_costs`` — never
the 47 M-row ``gpu_usage`` for a month of 1,000 GPUs — except the per-GPU drill-down over a
short window, which reads one device's steps.

Modules: common (filter SQL, data window, buckets), options (filter choices), overview,
utilisation, jobs, teams, prices, metrics.
"""
