"""What every page callback does around its queries: read the filters from the URL, open the
warehouse read-only (the published snapshot), and turn a missing/locked/outdated warehouse
or a query error into a message on the page instead of a failed callback."""

from __future__ import annotations

import logging
from typing import Callable, TypeVar

import duckdb

from gpucost.dashboard.filters import Filters, parse_query
from gpucost.errors import GpucostError
from gpucost.settings import Settings
from gpucost.warehouse import open_warehouse

T = TypeVar("T")
log = logging.getLogger("gpucost.dashboard")


class PageDataError(Exception):
    """The page cannot show data; ``str()`` is the one-line cause for the user."""


def read(settings: Settings, search: str | None,
         fn: Callable[[duckdb.DuckDBPyConnection, Filters], T], cache_key: str | None = None) -> tuple[Filters, T]:
    """Run ``fn(con, filters)`` on a read-only connection; raise PageDataError on failure.

    cache_key: keep the result in the app's ResultCache under (cache_key, URL query) for the
    current warehouse snapshot (``fn`` must then depend on nothing else), so revisiting a
    view or switching a page-local control does not query again.
    """
    filters = parse_query(search)
    if cache_key is not None:
        from gpucost.dashboard.app import current_cache  # the app module imports the pages
        return filters, current_cache().get_or_compute(
            settings, (cache_key, search or ""), lambda: read(settings, search, fn)[1])
    try:
        with open_warehouse(settings, read_only=True, prefer_snapshot=True) as con:
            return filters, fn(con, filters)
    except GpucostError as exc:
        raise PageDataError(f"Cannot read the warehouse: {exc}") from None
    except duckdb.Error as exc:
        log.warning("dashboard query failed: %s", exc)
        raise PageDataError(f"The warehouse could not answer this query: {str(exc).splitlines()[0]}") from None


def span_label(hours: float) -> str:
    """'7 days', '1 day', '12 hours'."""
    if hours >= 24 and hours % 24 == 0:
        days = int(hours // 24)
        return f"{days} day{'s' if days != 1 else ''}"
    return f"{hours:.0f} hours"
