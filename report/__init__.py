"""The weekly cost report (presenter layer; reads the warehouse, never writes it).

``gpucost report weekly`` -> `weekly.generate` -> collect (queries, quality) -> charts/images
-> files (render: HTML, Markdown; CSV, JSON), pdf -> deliver (SMTP, S3).

Modules: week (ISO weeks), model (the report's numbers), queries (gpu_usage for a week),
quality (identity, bill, stranded, recommendations), collect (a report per scope), charts
(report-only figure builders), images (PNG via kaleido), render (HTML, Markdown), files
(writing), pdf (Chromium print), deliver (SMTP, S3), weekly (end to end).
"""
