"""Every kind of bad input gives a DataError naming file / line / field, and the CLIs print it without a traceback."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from video_lights.config import parse_args
from video_lights.data import DataError, build_dataset
from video_lights.data.check import main as check_main
from video_lights.data.synthetic import generate


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    out = tmp_path_factory.mktemp("valid")
    info = generate(out, seed=11, n_train=8, n_val=3, n_test=2)
    return out, info


@pytest.fixture
def data(base, tmp_path):
    """A private copy of the small synthetic dataset, plus its options."""
    src, info = base
    dst = tmp_path / "d"
    shutil.copytree(src, dst)
    flags = [f.replace(str(src), str(dst)) for f in info["flags"]]
    opt = parse_args(flags + ["--device", "cpu"])
    rows = [json.loads(line) for line in open(opt.train_path)]
    return dst, flags, opt, rows


def _write(path, rows, raw_line=None, at=1):
    lines = [json.dumps(r) for r in rows]
    if raw_line is not None:
        lines[at] = raw_line
    path.write_text("\n".join(lines))


def _error(opt, path=None, index=None):
    with pytest.raises(DataError) as e:
        ds = build_dataset(opt, path or opt.train_path)
        if index is not None:
            ds[index]
    return str(e.value)


def test_malformed_line(data):
    _, _, opt, rows = data
    _write(Path(opt.train_path), rows, raw_line='{"qid": 1, "query": ', at=2)
    msg = _error(opt)
    assert msg.startswith(f"{opt.train_path}:3: not valid JSON")


@pytest.mark.parametrize("field", ["duration", "relevant_windows", "saliency_scores", "vid"])
def test_missing_field(data, field):
    _, _, opt, rows = data
    del rows[1][field]
    _write(Path(opt.train_path), rows)
    assert _error(opt).startswith(f"{opt.train_path}:2: field '{field}' is missing")


def test_window_outside_video(data):
    _, _, opt, rows = data
    d = rows[3]["duration"]
    rows[3]["relevant_windows"].append([d - 10, d + 10])
    _write(Path(opt.train_path), rows)
    k = len(rows[3]["relevant_windows"]) - 1
    assert _error(opt) == (f"{opt.train_path}:4: field 'relevant_windows'[{k}] = [{d - 10}, {d + 10}] is outside "
                           f"the video (duration {d} s)")


def test_bad_values(data):
    _, _, opt, rows = data
    rows[0]["relevant_clip_ids"][0] = 500
    rows[1]["saliency_scores"] = rows[1]["saliency_scores"][:-1]
    _write(Path(opt.train_path), rows)
    assert "train_release.jsonl:1: field 'relevant_clip_ids'[0] = 500 is outside the video" in _error(opt)
    rows[0]["relevant_clip_ids"][0] = 0
    _write(Path(opt.train_path), rows)
    assert "train_release.jsonl:2: field 'saliency_scores' has" in _error(opt)


def test_missing_feature_files(data):
    root, _, opt, rows = data
    vids = list(dict.fromkeys(r["vid"] for r in rows))
    for v in vids[:3]:
        (root / "features" / "clip_features" / f"{v}.npz").unlink()
    msg = _error(opt)
    assert msg.startswith(f"{opt.v_feat_dirs[1]}: 3 of {len(vids)} video feature files are missing (first: ")
    assert vids[0] in msg and vids[2] in msg
    (root / "features" / "clip_text_features" / f"qid{rows[0]['qid']}.npz").unlink()
    opt.v_feat_dirs = opt.v_feat_dirs[:1]
    opt.v_feat_dim = 64 + 2
    assert _error(opt) == (f"{opt.t_feat_dirs[0]}: 1 of {len(rows)} text feature files are missing "
                           f"(first: qid{rows[0]['qid']})")


def test_missing_folder(data):
    _, _, opt, _ = data
    opt.v_feat_dirs = opt.v_feat_dirs + ["/nonexistent/feats"]
    msg = _error(opt)
    assert msg.startswith("/nonexistent/feats: feature folder not found. Download the QVHighlights features")


def test_wrong_dimension(data):
    root, _, opt, rows = data
    path = root / "features" / "clip_features" / f"{rows[2]['vid']}.npz"
    np.savez(path, features=np.ones((75, 31), np.float32))
    msg = _error(opt, index=2)
    assert msg.startswith(f"{opt.train_path}:3 (qid {rows[2]['qid']}): video features of '{rows[2]['vid']}' have "
                          f"127 dims (")
    assert f"{path} 31" in msg and "--v_feat_dim is 128" in msg


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_inf(data, bad):
    root, _, opt, rows = data
    path = root / "features" / "blip_video_features" / f"{rows[1]['vid']}.npz"
    x = np.ones((75, 32), np.float32)
    x[3, 4] = bad
    np.savez(path, features=x)
    assert _error(opt, index=1) == (f"{opt.train_path}:2 (qid {rows[1]['qid']}): {path}: video array contains 1 "
                                    f"NaN/inf values")


def test_empty_text(data):
    root, _, opt, rows = data
    path = root / "features" / "blip_aug_text_features_openai" / f"qid{rows[0]['qid']}.npz"
    np.savez(path, last_hidden_state=np.zeros((0, 32), np.float32), pooler_output=np.zeros(32, np.float32))
    assert _error(opt, index=0) == (f"{opt.train_path}:1 (qid {rows[0]['qid']}): {path}: text array is empty "
                                    f"(0 rows)")


def test_wrong_key(data):
    root, _, opt, rows = data
    path = root / "features" / "clip_text_features" / f"qid{rows[0]['qid']}.npz"
    np.savez(path, tokens=np.ones((5, 32), np.float32))
    assert f"{path}: has no array 'last_hidden_state' (arrays: tokens)" in _error(opt, index=0)


def test_check_cli(data, capsys):
    root, flags, opt, rows = data
    assert check_main(flags + ["--no_progress"]) == 0
    assert "train: " in capsys.readouterr().out
    assert check_main(flags + ["--no_progress", "--eval_path", ""]) == 0  # training without an eval split
    assert "eval: no file" in capsys.readouterr().out
    assert check_main(flags + ["--splits", "foo"]) == 2
    assert capsys.readouterr().err.startswith("error: argument --splits")
    rows[0]["relevant_windows"] = [[0, 1000]]
    _write(Path(opt.train_path), rows)
    (root / "features" / "slowfast_features" / f"{rows[3]['vid']}.npz").unlink()
    x = np.ones((75, 32), np.float32)
    x[0, 0] = np.nan
    np.savez(root / "features" / "clip_features" / f"{rows[5]['vid']}.npz", features=x)
    lines = Path(opt.train_path).read_text().split("\n")
    lines.insert(2, '{"qid": 99, "query": ')  # a malformed line: reported, the other lines still checked
    Path(opt.train_path).write_text("\n".join(lines))
    assert check_main(flags + ["--no_progress"]) == 2
    err = capsys.readouterr().err
    assert "train_release.jsonl:3: not valid JSON" in err
    assert "train_release.jsonl:1: field 'relevant_windows'[0] = [0, 1000] is outside the video" in err
    assert "1 of 7 video feature files are missing" in err or "video feature files are missing" in err
    assert "NaN/inf" in err and "Traceback" not in err
    # as a real command line: message on stderr, no traceback, exit status 2
    r = subprocess.run([sys.executable, "-m", "video_lights.data.check", "--no_progress"] + flags,
                       capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "outside the video" in r.stderr
