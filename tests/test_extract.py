"""End to end from raw video: synthetic videos -> `python -m video_lights.extract` with tiny random weights -> the
layout the presets read -> the dataset loader -> one training epoch; failures named, resumable, sharded."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("av", reason="the video extra is not installed (pip install -e .[video])")
pytest.importorskip("transformers", reason="the video extra is not installed (pip install -e .[video])")

from conftest import TINY_MODEL  # noqa: E402
from synthetic_videos import make_video  # noqa: E402
from video_lights.extract import main as extract_main  # noqa: E402
from video_lights.features import blip2, clip, slowfast  # noqa: E402
from video_lights.features.parity import row_cosines  # noqa: E402

DURATIONS = {"cook_a": 6.0, "cook_b": 5.0, "walk_c": 8.5, "walk_d": 4.0}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Videos (one of them broken), QVHighlights-style annotations and tiny random weights for all extractors."""
    root = tmp_path_factory.mktemp("corpus")
    videos = root / "videos"
    videos.mkdir()
    for i, (vid, dur) in enumerate(DURATIONS.items()):
        size = (160, 90) if i < 3 else (90, 160)  # one portrait video
        make_video(str(videos / f"{vid}.mp4"), fps=30 if i % 2 == 0 else 25, duration=dur, size=size, codec="libx264")
    (videos / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 20)
    rows = []
    for i, (vid, dur) in enumerate(DURATIONS.items()):
        n_clips = int(np.ceil(dur / 2))
        for j in range(2):
            qid = 100 + 2 * i + j
            rows.append(dict(qid=qid, query=f"a person cooks pasta number {j}", duration=dur, vid=vid,
                             relevant_windows=[[0, 2]], relevant_clip_ids=[0], saliency_scores=[[2, 3, 4]]))
            assert rows[-1]["relevant_clip_ids"][0] < n_clips
    (root / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows[:6]))
    (root / "val.jsonl").write_text("\n".join(json.dumps(r) for r in rows[6:]))
    weights = root / "weights"
    clip.save_tiny_random(str(weights / "clip"))
    blip2.save_tiny_random(str(weights / "blip2"))
    slowfast.save_tiny_random(str(weights / "slowfast.safetensors"))
    return root


def _args(corpus, out, *extra):
    w = corpus / "weights"
    return ["--dataset", "qvhighlights", "--out", str(out), "--videos", str(corpus / "videos"),
            "--annotations", str(corpus / "train.jsonl"), str(corpus / "val.jsonl"),
            "--slowfast", str(w / "slowfast.safetensors"), "--clip", str(w / "clip"), "--blip2", str(w / "blip2"),
            "--device", "cpu", *extra]


def _dims(out):
    def dim(d):
        f = sorted(os.listdir(out / d))[0]
        with np.load(out / d / f) as z:
            return z["features" if "features" in z.files else "last_hidden_state"].shape[1]
    return (sum(dim(d) for d in ("slowfast_features", "clip_features", "blip_video_features")),
            sum(dim(d) for d in ("clip_text_features", "blip_aug_text_features_openai")))


def test_extract_names_the_bad_video_resumes_and_trains(corpus, tmp_path, capsys):
    out = tmp_path / "feats"
    assert extract_main(_args(corpus, out)) == 2  # one video is broken: reported, the others extracted
    captured = capsys.readouterr()
    assert "broken.mp4" in captured.err and "extracted 4 videos and 8 queries" in captured.out
    for vid in DURATIONS:
        with np.load(out / "slowfast_features" / f"{vid}.npz") as z:
            sf = z["features"]
        assert sf.dtype == np.float16 and len(sf) == int(np.ceil(DURATIONS[vid] / 2))  # one row per 2-s clip
        with np.load(out / "clip_features" / f"{vid}.npz") as z:
            assert z["features"].dtype == np.float16
        with np.load(out / "blip_video_features" / f"{vid}.npz") as z:
            assert z["features"].dtype == np.float32
    with np.load(out / "clip_text_features" / "qid100.npz") as z:
        assert set(z.files) == {"last_hidden_state", "pooler_output"} and z["last_hidden_state"].dtype == np.float16
    with np.load(out / "blip_aug_text_features_openai" / "qid100.npz") as z:
        assert z["last_hidden_state"].dtype == np.float32
    stamp = os.path.getmtime(out / "clip_features" / "cook_a.npz")
    assert extract_main(_args(corpus, out)) == 2  # resumable: only the broken one is tried again
    assert "skipped 12 already done" in capsys.readouterr().out
    assert os.path.getmtime(out / "clip_features" / "cook_a.npz") == stamp

    from video_lights.train import main as train_main
    v_dim, t_dim = _dims(out)
    assert train_main(["--preset", "qvhl", "--feat_root", str(out), "--train_path", str(corpus / "train.jsonl"),
                       "--eval_path", str(corpus / "val.jsonl"), "--v_feat_dim", str(v_dim), "--t_feat_dim",
                       str(t_dim), "--results_root", str(tmp_path / "res"), "--device", "cpu", "--num_workers", "0",
                       "--bsz", "4", "--n_epoch", "1", "--eval_epoch", "1", *TINY_MODEL]) == 0
    (run,) = os.listdir(tmp_path / "res")
    assert os.path.isfile(tmp_path / "res" / run / "hl_val_submission_metrics.json")


def test_charades_and_tvsum_layouts(corpus, tmp_path):
    """1-s clips for Charades-STA; TVSum's folder names and its "token" key."""
    out = tmp_path / "ch"
    assert extract_main(_args(corpus, out, "--dataset", "charades_sta", "--extractors", "slowfast", "clip")) == 2
    with np.load(out / "slowfast_features" / "walk_c.npz") as z:
        assert len(z["features"]) == 9  # ceil(8.5 / 1)
    assert sorted(os.listdir(out)) == ["clip_features", "clip_text_features", "extraction.json", "slowfast_features"]
    assert json.loads((out / "extraction.json").read_text())["slowfast"]["clip_length"] == 1.0
    out = tmp_path / "tv"
    assert extract_main(_args(corpus, out, "--dataset", "tvsum", "--extractors", "clip")) == 2
    assert sorted(os.listdir(out)) == ["clip_features", "extraction.json", "query_features"]
    with np.load(out / "query_features" / "100.npz") as z:
        assert z.files == ["token"]
    spec = tmp_path / "kitchen.json"  # a dataset of one's own: QVHighlights folder names, the spec's file names
    spec.write_text(json.dumps({"label_kind": "window", "clip_length": 1, "text_file": "q_{qid}"}))
    out = tmp_path / "own"
    assert extract_main(_args(corpus, out, "--dataset", str(spec), "--extractors", "slowfast", "clip")) == 2
    assert os.path.isfile(out / "clip_text_features" / "q_100.npz")
    with np.load(out / "slowfast_features" / "walk_c.npz") as z:
        assert len(z["features"]) == 9


def test_torchrun_shards_write_the_same_files(corpus, tmp_path):
    single, sharded = tmp_path / "one", tmp_path / "two"
    assert extract_main(_args(corpus, single, "--extractors", "slowfast", "clip")) == 2
    torchrun = shutil.which("torchrun") or os.path.join(os.path.dirname(sys.executable), "torchrun")
    r = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", "-m", "video_lights.extract",
                        *_args(corpus, sharded, "--extractors", "slowfast", "clip")],
                       capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode != 0 and "broken.mp4" in r.stderr, r.stderr[-2000:]
    assert "extracted 4 videos and 8 queries" in r.stdout and "2 rank(s)" in r.stdout  # one summary of both shares
    files = sorted(os.path.relpath(os.path.join(d, f), single) for d, _, fs in os.walk(single) for f in fs)
    assert files == sorted(os.path.relpath(os.path.join(d, f), sharded) for d, _, fs in os.walk(sharded) for f in fs)
    assert json.loads((single / "extraction.json").read_text()) == json.loads((sharded / "extraction.json").read_text())
    for f in (f for f in files if f.endswith(".npz")):
        with np.load(single / f) as a, np.load(sharded / f) as b:
            for k in a.files:
                np.testing.assert_array_equal(a[k], b[k], err_msg=f)


def test_missing_weights_and_extra_are_one_clear_line(corpus, tmp_path, capsys):
    assert extract_main(_args(corpus, tmp_path / "x", "--extractors", "clip", "--clip", "no/such-model")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no/such-model" in err and "download" in err
    assert extract_main(_args(corpus, tmp_path / "x", "--extractors", "clip", "--fp16")) == 2
    assert "--fp16 needs a CUDA device" in capsys.readouterr().err
    code = ("import sys; sys.modules['av'] = None; from video_lights.extract import main; "
            f"sys.exit(main(['--out', {str(tmp_path / 'y')!r}, '--videos', {str(corpus / 'videos')!r}]))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 2 and "pip install -e .[video]" in r.stderr and "Traceback" not in r.stderr


def test_parity_table_and_frame_rule_from_the_data(corpus, tmp_path, capsys):
    """Released features made with the legacy rule: the parity tool finds it from the data, and reports exact
    equality for the folders extracted the same way."""
    from video_lights.features.parity import main as parity_main
    legacy, modern = tmp_path / "released", tmp_path / "ours"
    for out, rule in ((legacy, "legacy"), (modern, "modern")):
        extract_main(_args(corpus, out, "--extractors", "clip", "--frame_rule", rule, "--dataset", "charades_sta"))
    capsys.readouterr()
    assert parity_main(["--ours", str(modern), "--released", str(legacy), "--videos", str(corpus / "videos"),
                        "--clip", str(corpus / "weights" / "clip"), "--clip_length", "1"]) == 0
    out = capsys.readouterr().out
    assert "clip_text_features" in out and "frame rule of the released clip_features: legacy" in out
    text_row = next(line for line in out.splitlines() if line.startswith("clip_text_features"))
    assert "1.0000" in text_row  # the same text features: cosine 1
    assert parity_main(["--ours", str(modern), "--released", str(tmp_path / "nowhere")]) == 2


def _all_arrays(out):
    arrays = {}
    for d, _, files in os.walk(out):
        for f in (f for f in files if f.endswith(".npz")):
            with np.load(os.path.join(d, f)) as z:
                arrays.update({(os.path.relpath(os.path.join(d, f), out), k): z[k].astype(np.float64)
                               for k in z.files})
    return arrays


def test_bf16_where_the_cpu_has_it_and_float32_with_a_warning_where_not(corpus, tmp_path, capsys, monkeypatch):
    """--bf16: bfloat16 autocast (other numbers, the same rows to a cosine of 0.99) on a CPU with native bfloat16;
    on one without, float32 (the same files bit for bit) and one warning line; with --fp16, one error line."""
    from video_lights.features import precision
    flags = ["--annotations", str(corpus / "val.jsonl")]  # two videos' queries: enough, and quick
    assert extract_main(_args(corpus, tmp_path / "fp32") + flags) == 2
    capsys.readouterr()
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    assert extract_main(_args(corpus, tmp_path / "fallback", "--bf16") + flags) == 2
    err = capsys.readouterr().err
    assert err.count("--bf16 ignored") == 1 and "no native bfloat16" in err and "Traceback" not in err
    fp32, fallback = _all_arrays(tmp_path / "fp32"), _all_arrays(tmp_path / "fallback")
    assert fp32.keys() == fallback.keys() and all(np.array_equal(fp32[k], fallback[k]) for k in fp32)
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    assert extract_main(_args(corpus, tmp_path / "bf16", "--bf16") + flags) == 2
    assert "--bf16 ignored" not in capsys.readouterr().err
    bf16 = _all_arrays(tmp_path / "bf16")
    assert bf16.keys() == fp32.keys() and any(not np.array_equal(fp32[k], bf16[k]) for k in fp32)
    for k in fp32:
        cos = row_cosines(fp32[k].reshape(-1, fp32[k].shape[-1]), bf16[k].reshape(-1, fp32[k].shape[-1]))
        assert cos.min() > 0.99, (k, cos.min())
    assert extract_main(_args(corpus, tmp_path / "x", "--bf16", "--fp16")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "exclude each other" in err and not os.path.exists(tmp_path / "x")

    # resuming float32 features in bfloat16 (or with other weights) would mix two kinds of rows: refused by name
    manifest = json.loads((tmp_path / "fp32" / "extraction.json").read_text())
    assert manifest["clip"]["precision"] == "fp32" and manifest["clip"]["weights"] == "clip"
    assert json.loads((tmp_path / "fallback" / "extraction.json").read_text()) == manifest  # it ran in float32
    before = _all_arrays(tmp_path / "fp32")
    assert extract_main(_args(corpus, tmp_path / "fp32", "--bf16") + flags) == 2
    err = capsys.readouterr().err
    assert err.count("error: ") == 1 and "extraction.json" in err and "precision 'fp32'" in err and "'bf16'" in err
    after = _all_arrays(tmp_path / "fp32")
    assert after.keys() == before.keys() and all(np.array_equal(after[k], before[k]) for k in before)
    assert json.loads((tmp_path / "fp32" / "extraction.json").read_text()) == manifest


def test_settings_check_names_the_changed_field_and_ignores_keys_only_the_manifest_has(tmp_path):
    from video_lights.extract import MANIFEST, check_settings
    from video_lights.utils.cli import UserError
    want = {"clip": {"weights": "default", "precision": "fp32", "clip_length": 2.0, "frame_rule": "center"}}
    (tmp_path / MANIFEST).write_text(json.dumps({"clip": {**want["clip"], "added_later": 1}, "slowfast": {}}))
    assert check_settings(str(tmp_path), want)["slowfast"] == {}  # merged; the extra key is no mismatch
    (tmp_path / MANIFEST).write_text(json.dumps({"clip": {**want["clip"], "precision": "bf16"}}))
    with pytest.raises(UserError, match="extracted with precision 'bf16'; this run asks for 'fp32'"):
        check_settings(str(tmp_path), want)
