"""Killed and resumed: extraction SIGKILLed in the middle of a video and in the middle of a file write, then the same
command again, gives the uninterrupted run's files array for array (a damaged file is named and redone, no
temporary file is left); pretrain_data redoes a damaged part file; under torchrun a SIGKILLed rank of extraction or
training stops the job within a bounded time, with torchrun's summary naming that rank."""
import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("av", reason="the video extra is not installed (pip install -e .[video])")
pytest.importorskip("transformers", reason="the video extra is not installed (pip install -e .[video])")

from conftest import REPO, synthetic_run_args  # noqa: E402
from synthetic_videos import make_video  # noqa: E402
from video_lights.extract import main as extract_main  # noqa: E402
from video_lights.features import clip, slowfast  # noqa: E402

WORKER = str(REPO / "tests" / "dist_kill_worker.py")
ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
BOUND_S = 120  # a killed rank must stop the whole job within this


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Three short videos, their queries and tiny random SlowFast and CLIP weights."""
    root = tmp_path_factory.mktemp("kill_corpus")
    (root / "videos").mkdir()
    rows = []
    for i, (vid, dur) in enumerate({"a": 4.0, "b": 5.0, "c": 3.0}.items()):
        make_video(str(root / "videos" / f"{vid}.mp4"), fps=25, duration=dur, size=(96, 54), codec="libx264")
        rows.append(dict(qid=i, query=f"a person cooks pasta {i}", duration=dur, vid=vid, relevant_windows=[[0, 2]],
                         relevant_clip_ids=[0], saliency_scores=[[2, 3, 4]]))
    (root / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    clip.save_tiny_random(str(root / "clip"))
    slowfast.save_tiny_random(str(root / "slowfast.safetensors"))
    return root


def _args(corpus, out):
    return ["--dataset", "qvhighlights", "--out", str(out), "--videos", str(corpus / "videos"),
            "--annotations", str(corpus / "train.jsonl"), "--extractors", "slowfast", "clip",
            "--slowfast", str(corpus / "slowfast.safetensors"), "--clip", str(corpus / "clip"), "--device", "cpu"]


@pytest.fixture(scope="module")
def uninterrupted(corpus):
    out = corpus / "uninterrupted"
    assert extract_main(_args(corpus, out)) == 0
    return out


def _files(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


def assert_same_arrays(a, b):
    """The same files (so no leftover temporary file) and in each the same keys and arrays, bit for bit."""
    assert _files(a) == _files(b)
    for f in _files(a):
        if f.endswith(".json"):  # extract's extraction.json
            assert json.loads((a / f).read_text()) == json.loads((b / f).read_text()), f
            continue
        with np.load(a / f) as x, np.load(b / f) as y:
            assert x.files == y.files, f
            for k in x.files:
                assert x[k].dtype == y[k].dtype and np.array_equal(x[k], y[k]), f"{f}: {k}"


def killed(*args):
    """Run the worker in one process; it must die of its SIGKILL."""
    proc = subprocess.run([sys.executable, WORKER, *args], cwd=REPO, env=ENV, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == -9, proc.stderr[-2000:]


def test_killed_in_the_middle_of_a_video_then_resumed(corpus, uninterrupted, tmp_path, capsys):
    out = tmp_path / "feats"
    killed("extract", "0", "video", "2", *_args(corpus, out))  # video "a" written, "b" half through SlowFast
    assert _files(out) == ["clip_features/a.npz", "extraction.json", "slowfast_features/a.npz"]
    assert extract_main(_args(corpus, out)) == 0
    assert "extracted 2 videos and 3 queries, skipped 1 already done" in capsys.readouterr().out
    assert_same_arrays(uninterrupted, out)


def test_killed_in_a_write_and_damaged_files_are_redone(corpus, uninterrupted, tmp_path, capsys):
    out = tmp_path / "feats"
    killed("extract", "0", "write", "3", *_args(corpus, out))  # a's two files written, b's first one torn
    (tmp,) = [f for f in _files(out) if f.endswith(".tmp")]
    assert os.path.basename(tmp).startswith(".b.npz.")  # the torn write: atomic_open's temporary file
    # and what no atomic write prevents: a copy cut short, a flipped byte, a file of garbage
    torn, flipped, garbage = (out / "slowfast_features" / "a.npz", out / "clip_features" / "a.npz",
                              out / "clip_text_features" / "qid2.npz")
    torn.write_bytes(torn.read_bytes()[:300])
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0x40
    flipped.write_bytes(bytes(data))
    garbage.parent.mkdir()
    garbage.write_bytes(b"PK\x03\x04" + b"\x00" * 60)
    assert extract_main(_args(corpus, out)) == 0
    captured = capsys.readouterr()
    for f in (torn, flipped, garbage):
        assert re.search(rf"{re.escape(str(f))}: damaged \(.+\); extracting it again", captured.err), captured.err
    assert "extracted 3 videos and 3 queries, skipped 0 already done" in captured.out
    assert_same_arrays(uninterrupted, out)


def test_pretrain_data_redoes_a_damaged_part_and_a_killed_merge(tmp_path, capsys):
    from test_pretrain_data import tiny_tokenizer
    from video_lights.features import blip
    from video_lights.pretrain_data import main as pretrain_data_main
    (tmp_path / "videos").mkdir()
    for vid, dur in (("p", 3.0), ("q", 2.0)):
        make_video(str(tmp_path / "videos" / f"{vid}.mkv"), fps=5, duration=dur, size=(54, 48))
    blip.save_tiny_random_captioner(str(tmp_path / "captioner"), tiny_tokenizer())
    blip.save_tiny_random_matcher(str(tmp_path / "matcher"), tiny_tokenizer())

    def caption(out):
        return pretrain_data_main(["--videos", str(tmp_path / "videos"), "--out", str(out), "--captioner",
                                   str(tmp_path / "captioner"), "--matcher", str(tmp_path / "matcher"),
                                   "--device", "cpu"])
    assert caption(tmp_path / "straight.jsonl") == 0
    straight = (tmp_path / "straight.jsonl").read_text()
    p_rows = [line for line in straight.splitlines() if json.loads(line)["vid"] == "p"]
    assert p_rows
    out = tmp_path / "resumed.jsonl"
    parts = tmp_path / "resumed.jsonl.parts"
    parts.mkdir()
    (parts / "p.jsonl").write_text("\n".join(p_rows)[:-5])  # a part cut short
    (tmp_path / ".resumed.jsonl.k1ll3d_0.tmp").write_text("{")  # a merge killed mid-write
    capsys.readouterr()
    assert caption(out) == 0
    assert f"{parts / 'p.jsonl'}: damaged (its last line has no newline (truncated))" in capsys.readouterr().err
    assert out.read_text() == straight
    assert sorted(os.listdir(tmp_path)) == ["captioner", "matcher", "resumed.jsonl", "straight.jsonl", "videos"]


def torchrun_killed(what, rank, *args):
    """torchrun of 2 workers whose rank `rank` SIGKILLs itself: (seconds until torchrun returned, its output)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", WORKER, what,
           str(rank), *args]
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=BOUND_S + 60)
    seconds, output = time.monotonic() - start, proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-3000:]
    # torchrun's summary: the first failure (the root cause) is that rank, killed by signal 9
    assert "Root Cause" in output, output[-3000:]
    root_cause = output[output.index("Root Cause"):]
    assert re.search(rf"rank\s*: {rank} \(local_rank: {rank}\)\s+exitcode\s*: -9", root_cause), output[-3000:]
    assert "Signal 9 (SIGKILL)" in root_cause
    return seconds, output


def test_torchrun_extraction_stops_when_a_rank_is_killed_then_resumes(corpus, uninterrupted, tmp_path):
    out = tmp_path / "feats"
    seconds, _ = torchrun_killed("extract", 1, "video", "1", *_args(corpus, out))
    assert seconds < BOUND_S
    # torchrun SIGTERMs rank 0 wherever it is (perhaps in a write, leaving a temporary file); a rerun finishes
    assert extract_main(_args(corpus, out)) == 0
    assert_same_arrays(uninterrupted, out)


@pytest.mark.parametrize("rank", [0, 1])
def test_torchrun_training_stops_when_a_rank_is_killed(rank, tmp_path):
    from video_lights.data.synthetic import generate
    generate(str(tmp_path / "data"), seed=5, n_train=40, n_val=8, n_test=2)
    seconds, _ = torchrun_killed("train", rank, "2", *synthetic_run_args(tmp_path / "data", tmp_path / "results",
                                                                         "--n_epoch", "3", "--eval_epoch", "1"))
    assert seconds < BOUND_S


def test_remove_stale_tmp_removes_only_the_temporaries_of_the_named_files(tmp_path):
    from video_lights.utils.io import remove_stale_tmp
    names = [".a.npz.k2j4_x9q.tmp", ".a.npz.x.k2j4_x9q.tmp", ".b.npz.k2j4_x9q.tmp", "a.npz", ".a.npz..tmp"]
    for n in names:
        (tmp_path / n).write_text("x")
    remove_stale_tmp([tmp_path / "a.npz"])
    # a.npz's temporary goes; a.npz.x's, b.npz's, the file itself and a name mkstemp never makes stay
    assert sorted(os.listdir(tmp_path)) == sorted(names[1:])
