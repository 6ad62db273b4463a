"""Recommendations with $ savings and evidence (docs/recommendations.md).

Public API:
    Recommendation, Finding, Window          records (model.py)
    load_rules() / kinds()                   the rule plug-ins in precedence order (runner.py)
    data_window(con, days=14)                the default window: the last 14 days of built data
    recommend(con, window, params=None)      run the rules, settle double counting -> rows
    write(con, recs)                         replace the recommendations table (one transaction)
    export.read_table(con) / export.export(rows, fmt, path)
                                             CSV, JSON, Parquet, Markdown, YAML patches (export.py)
Rules: one module each in ``rules/`` (KIND, PRECEDENCE, Params, find), discovered by the runner.
"""

from gpucost.analytics.recommend.model import Finding, Recommendation, Window
from gpucost.analytics.recommend.runner import data_window, hour_window, kinds, load_rules, recommend, write

__all__ = ["Finding", "Recommendation", "Window", "data_window", "hour_window", "kinds", "load_rules", "recommend",
           "write"]
