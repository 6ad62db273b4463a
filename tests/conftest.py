"""Shared fixtures: a warehouse in a temporary folder and the path to ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gpucost.settings import Settings

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """../shared/data beside the repository, or $GPUCOST_SHARED_DATA."""
    return Path(os.environ.get("GPUCOST_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real public data not found at {path} (set GPUCOST_SHARED_DATA)")
    return path


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(db=tmp_path / "warehouse.duckdb")
