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


# A small VideoLights-B configuration (every component and loss, as the released one, at tiny widths) that builds
# in milliseconds without ../shared. v_feat_dim is without tef: the model's video input is 22 wide.
TINY_FLAGS = ["--preset", "qvhl", "--device", "cpu", "--v_feat_dim", "20", "--t_feat_dim", "12", "--hidden_dim", "32",
              "--dim_feedforward", "64", "--contrastive_hdim", "8"]


def tiny_opt(*flags, **overrides):
    """Resolved options of the tiny configuration; extra command-line flags and attribute overrides win."""
    from video_lights.config import parse_args
    opt = parse_args(TINY_FLAGS + list(flags))
    for k, v in overrides.items():
        setattr(opt, k, v)
    return opt
