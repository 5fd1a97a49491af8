"""Shared fixtures: tiny seeded scenes, and the real layouts in ../shared/data when present."""

from __future__ import annotations

from pathlib import Path

import pytest

from hsi.data.synthetic import make_scene

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def small_scene():
    return make_scene(32, 32, bands=40, n_classes=4, seed=0)


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} not present")
    return SHARED_DATA
