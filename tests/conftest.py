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


# The tiny model of the end-to-end tests (a run of a few epochs on a generated dataset takes seconds).
TINY_MODEL = ["--hidden_dim", "32", "--dim_feedforward", "64", "--nheads", "4", "--enc_layers", "1",
              "--dec_layers", "2", "--bicmf_layers", "1", "--num_queries", "5", "--contrastive_hdim", "16"]


def synthetic_run_args(data_root, results_root, *extra):
    """Command-line arguments of a tiny training run on a generated synthetic dataset; extra flags win."""
    return ["--preset", "synthetic", "--feat_root", str(data_root), "--results_root", str(results_root),
            "--exp_id", "t", "--device", "cpu", "--num_workers", "0", "--bsz", "8", "--eval_bsz", "8",
            "--seed", "7", *TINY_MODEL, *extra]
