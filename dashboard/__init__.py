"""asktell's live web dashboard: `asktell dashboard --server HOST:PORT`.

A small HTTP server (the standard library's `ThreadingHTTPServer`) that reads
everything through the gRPC API with the public client, so it works against any
replica of a production deployment and never touches the store. It keeps a cache
of each open study's trials, refreshed by polling (`cache.StudyTrials`), and
answers the browser's JSON calls from it: server-side sorting, filtering and
pagination of the trials table (`table.py`), chart data and parameter importance
(`charts.py`). The pages are plain HTML and one JavaScript module each, drawing
with the Apache ECharts copy shipped under `static/vendor/` (no CDN: it works
air-gapped). See docs/dashboard.md.
"""

from __future__ import annotations
