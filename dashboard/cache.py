"""A small per-app cache of query results, for callbacks that page through one result (the
jobs grid asks for rows 100 at a time, and its CSV download wants the same rows).

Entries are keyed by the warehouse file being read (path, inode, size, mtime: a newly
published snapshot is another file) plus the caller's key, so a new build is never hidden
by the cache. Least recently used entries are dropped beyond ``max_entries``.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Hashable, TypeVar

from gpucost.settings import Settings
from gpucost.warehouse import snapshot_path

T = TypeVar("T")


def warehouse_identity(settings: Settings) -> tuple:
    """Which file a read-only, snapshot-preferring open reads now, and its version."""
    snap = snapshot_path(settings)
    path = snap if snap.exists() else Path(settings.db)
    try:
        st = os.stat(path)
    except OSError:
        return (str(path), None)
    return (str(path), st.st_ino, st.st_size, st.st_mtime_ns)


class ResultCache:
    def __init__(self, max_entries: int = 16):
        self.max_entries = max_entries
        self._items: OrderedDict[Hashable, object] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_compute(self, settings: Settings, key: Hashable, compute: Callable[[], T]) -> T:
        if self.max_entries <= 0:
            return compute()
        full_key = (warehouse_identity(settings), key)
        with self._lock:
            if full_key in self._items:
                self._items.move_to_end(full_key)
                return self._items[full_key]  # type: ignore[return-value]
        value = compute()                      # outside the lock: queries may run in parallel
        with self._lock:
            self._items[full_key] = value
            self._items.move_to_end(full_key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)
        return value
