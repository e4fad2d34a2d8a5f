"""Shared test fixtures: the read-only project data in ../shared (never copied into the repo)."""
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VIDEOLIGHTS_SHARED", REPO.parent / "shared"))


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared data folder ../shared is not next to this checkout")
    return path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return _need(SHARED)


@pytest.fixture(scope="session")
def shared_data(shared_dir) -> Path:
    return _need(shared_dir / "data")


@pytest.fixture(scope="session")
def ref_fixture(shared_dir) -> Path:
    return _need(shared_dir / "ref_fixture")
