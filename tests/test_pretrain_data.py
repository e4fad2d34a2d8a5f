"""Synthetic pretraining captions from raw video (`python -m video_lights.pretrain_data`): the authors' recipe
(windows, qids, clip ids, saliency) against the released file and on synthetic videos with tiny random BLIP
models; over-length skip, resume, failures, empty captions, shards; then extraction, a pretraining epoch and a
finetune from its checkpoint."""
import contextlib
import io
import json
import math
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("av", reason="the video extra is not installed (pip install -e .[video])")
pytest.importorskip("transformers", reason="the video extra is not installed (pip install -e .[video])")

import torch  # noqa: E402
from transformers import BertTokenizer  # noqa: E402

from conftest import REPO, TINY_MODEL  # noqa: E402
from synthetic_videos import make_video  # noqa: E402
from video_lights.features import blip, blip2, captions, clip  # noqa: E402
from video_lights.features.decode import probe  # noqa: E402
from video_lights.pretrain_data import main as pretrain_data_main  # noqa: E402

# a small WordPiece vocabulary: the special tokens, the prompt's words and a few caption words
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "picture", "of", "man", "woman", "dog", "cooks", "in",
         "the", "kitchen", "on", "street", "sits", "with", "guitar", ",", "'", "s", "##s"]
E, E25 = float(np.float32(math.e)), float(np.float32(math.e ** 2.5))
# the released qids / windows of a 29-s video with three caption frames (D4CHP in pre_train_blip.jsonl)
WINDOWS_29 = [[0, 9.666666666666666], [9.666666666666666, 19.333333333333332], [19.333333333333332, 29.0]]
CLIP_IDS_29 = [[0, 1, 2, 3, 4], [4, 5, 6, 7, 8, 9], [9, 10, 11, 12, 13]]


def tiny_tokenizer():
    return BertTokenizer(vocab={w: i for i, w in enumerate(VOCAB)})


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Videos (29.6 s named with -cam-002, 4 s, a broken file) and tiny random BLIP captioner and ITM models."""
    root = tmp_path_factory.mktemp("captions")
    videos = root / "videos"
    videos.mkdir()
    make_video(str(videos / "v29-cam-002.mkv"), fps=5, duration=29.6, size=(96, 54))
    make_video(str(videos / "short4.mkv"), fps=5, duration=4.0, size=(54, 96))
    (videos / "broken.mkv").write_bytes(b"\x1aE\xdf\xa3" + b"garbage" * 20)
    tok = tiny_tokenizer()
    blip.save_tiny_random_captioner(str(root / "captioner"), tok)
    blip.save_tiny_random_matcher(str(root / "matcher"), tok)
    return root


@pytest.fixture(scope="module")
def captioned(corpus):
    """One run over the corpus folder: (exit status, stdout, stderr, the output file)."""
    out = corpus / "run" / "pre_train_blip.jsonl"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = pretrain_data_main(_args(corpus, out))
    return code, stdout.getvalue(), stderr.getvalue(), out


def _args(corpus, out, *extra, videos=None):
    return ["--videos", str(videos or corpus / "videos"), "--out", str(out), "--captioner", str(corpus / "captioner"),
            "--matcher", str(corpus / "matcher"), "--device", "cpu", *extra]


def _rows(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


# ----------------------------------------------------------------------------------------------------------------
# The recipe

def test_the_recipe_gives_every_released_window_qid_and_clip_id(shared_data):
    """From each released video's duration and caption count, the windows and qids are rebuilt exactly, and the
    clip ids from the windows with the 0.5-fps frame count of the video (round(D / 2) for these durations),
    including the two records with empty saliency."""
    rows = _rows(shared_data / "charades_sta" / "pre_train_blip.jsonl")
    by_vid = {}
    for r in rows:
        by_vid.setdefault(r["vid"], []).append(r)
    empty = []
    for vid, records in by_vid.items():
        d = records[0]["duration"]
        windows = captions.caption_windows(d, len(records))
        n_itm = math.floor(d / 2 + 0.5)
        for (start, end), r in zip(windows, records):
            assert r["qid"] == captions.qid(vid, start, end) and r["relevant_windows"] == [[start, end]]
            assert type(r["relevant_windows"][0][0]) is type(start)  # the first start is the int 0
            assert r["relevant_clip_ids"] == captions.saliency_clip_ids(start, end, n_itm), r["qid"]
            assert len(r["saliency_scores"]) == len(r["relevant_clip_ids"])
            assert all(E <= s <= E25 for (s,) in r["saliency_scores"])
            if not r["saliency_scores"]:
                empty.append(r["qid"])
    assert sorted(empty) == ["D69VI_2.0_4.0", "D8K7T_2.0_4.0"]
    assert any(s == E for r in rows for (s,) in r["saliency_scores"])  # the clamp's floor, a float32 e


def test_saliency_mapping_and_clip_ids():
    assert captions.saliency_value(0.0) == captions.saliency_value(0.4) == E  # 2.5 p clamped to at least 1
    assert captions.saliency_value(1.0) == E25
    assert captions.saliency_value(0.6) == float(np.exp(np.float32(1.5)))
    assert captions.saliency_clip_ids(20.0, 30.0, 15) == [10, 11, 12, 13]  # end 15 = frame count: pulled back
    assert captions.saliency_clip_ids(0, 10.0, 15) == [0, 1, 2, 3, 4]
    assert captions.saliency_clip_ids(2.0, 4.0, 2) == []
    assert captions.caption_windows(4, 2) == [(0, 2.0), (2.0, 4.0)]


def test_a_video_under_one_second_is_refused_by_name(tmp_path):
    """Its floored duration would be 0 s (windows of length 0, a record the loader refuses)."""
    from video_lights.features.decode import VideoError
    path = make_video(str(tmp_path / "tiny.mkv"), fps=5, duration=0.6, size=(64, 36))
    with pytest.raises(VideoError, match=r"tiny\.mkv: too short: 0\.600 s"):
        captions.read_video(path, "tiny", probe(path))


def test_preprocessing_is_lavis_blip_image_eval():
    """PIL's bicubic resize of the 224 crop to 384 bit for bit, then CLIP's normalisation: equal to transformers'
    own PIL-based BLIP image processor."""
    Image = pytest.importorskip("PIL.Image", reason="Pillow is not installed")
    from transformers.models.blip.image_processing_pil_blip import BlipImageProcessorPil
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (2, 224, 224, 3), dtype=np.uint8)
    frames[1, :, :112] = 255  # a hard edge: overshoot clipped as PIL clips it
    resized = blip.resize_like_pil(torch.from_numpy(frames), 384).permute(0, 2, 3, 1).to(torch.uint8).numpy()
    pil = np.stack([np.asarray(Image.fromarray(f).resize((384, 384), Image.BICUBIC)) for f in frames])
    np.testing.assert_array_equal(resized, pil)
    reference = BlipImageProcessorPil(size={"height": 384, "width": 384})(images=list(frames), return_tensors="pt")
    torch.testing.assert_close(blip.blip_pixels(frames, 384, "cpu", torch.float32), reference["pixel_values"],
                               rtol=0, atol=1e-6)


def test_models_through_the_exact_calls(corpus):
    """The captioner is given the prompt ([DEC] a picture of) and strips it; the matcher's explicit calls equal the
    model's own forward with [ENC] in place of [CLS]."""
    cap = blip.BlipCaptioner(str(corpus / "captioner"))
    frames = np.random.default_rng(1).integers(0, 256, (3, 224, 224, 3), dtype=np.uint8)
    ids = cap.generate(blip.blip_pixels(frames[:1], 384, "cpu", torch.float32))
    dec = cap.model.config.text_config.bos_token_id
    assert ids[0, :4].tolist() == [dec, VOCAB.index("a"), VOCAB.index("picture"), VOCAB.index("of")]
    assert ids.shape[1] <= blip.MAX_LENGTH and (ids[:, :blip.MIN_LENGTH] != VOCAB.index("[SEP]")).all()
    (text,) = cap.tokenizer.batch_decode(ids, skip_special_tokens=True)
    assert text.startswith("a picture of") and cap.captions(frames[:1]) == [text[len("a picture of "):]]
    itm = blip.BlipMatcher(str(corpus / "matcher"), batch_size=2)
    pairs = [(0, "a man cooks."), (2, "a dog"), (0, "the woman sits with a guitar")]
    p = itm.match_probabilities(frames, pairs)
    assert p.dtype == np.float32 and p.shape == (3,)
    for (f, text), got in zip(pairs, p):
        ids, mask = itm._text_inputs([text])
        assert ids[0, 0] == dec + 1 and ids[0, -1] == VOCAB.index("[SEP]")
        out = itm.model(input_ids=ids, attention_mask=mask, pixel_values=blip.blip_pixels(frames[f:f + 1], 384, "cpu",
                                                                                           torch.float32))
        assert got == pytest.approx(torch.softmax(out.itm_score, 1)[0, 1].item(), abs=1e-6)


def test_bf16_autocast_keeps_the_matcher_and_the_captioner_close(corpus):
    """bfloat16 autocast (--bf16) changes the numbers, not what they say: ITM probabilities within 0.02 and
    captions of the same frames still text."""
    video = captions.read_video(str(corpus / "videos" / "v29-cam-002.mkv"), "v29",
                                probe(str(corpus / "videos" / "v29-cam-002.mkv")))
    pairs = [(i, "a man cooks food") for i in range(len(video.itm_frames))]
    fp32 = blip.BlipMatcher(str(corpus / "matcher")).match_probabilities(video.itm_frames, pairs)
    bf16 = blip.BlipMatcher(str(corpus / "matcher"), bf16=True).match_probabilities(video.itm_frames, pairs)
    assert bf16.dtype == np.float32 and not np.array_equal(fp32, bf16)
    np.testing.assert_allclose(bf16, fp32, atol=0.02)
    texts = blip.BlipCaptioner(str(corpus / "captioner"), bf16=True).captions(video.caption_frames)
    assert len(texts) == 3 and all(isinstance(t, str) for t in texts)


# ----------------------------------------------------------------------------------------------------------------
# The command line

def test_captions_file_follows_the_recipe_names_the_bad_video_and_resumes(corpus, captioned, tmp_path, capsys):
    code, stdout, stderr, out = captioned
    assert code == 2  # one video is broken: reported, the others written
    assert "broken.mkv" in stderr and "captioned 2 videos into 5 queries" in stdout
    rows = _rows(out)
    assert [r["vid"] for r in rows] == ["short4", "short4", "v29", "v29", "v29"]  # ids in order, -cam-002 dropped
    v29 = [r for r in rows if r["vid"] == "v29"]
    assert [r["relevant_windows"][0] for r in v29] == WINDOWS_29
    assert [r["qid"] for r in v29] == ["v29_0_9.666666666666666", "v29_9.666666666666666_19.333333333333332",
                                       "v29_19.333333333333332_29.0"]
    assert [r["relevant_clip_ids"] for r in v29] == CLIP_IDS_29
    for r in rows:
        assert set(r) == {"qid", "query", "vid", "duration", "split", "relevant_windows", "relevant_clip_ids",
                          "saliency_scores"}
        assert r["split"] == "train" and r["query"] and isinstance(r["duration"], int)
        assert len(r["saliency_scores"]) == len(r["relevant_clip_ids"])
        assert all(len(s) == 1 and E <= s[0] <= E25 for s in r["saliency_scores"])
    assert {r["duration"] for r in rows} == {4, 29}
    # the 4-s video: read at the short-video rate (two frames), its last window covers only the last clip
    short = [r for r in rows if r["vid"] == "short4"]
    assert [r["qid"] for r in short] == ["short4_0_2.0", "short4_2.0_4.0"]
    assert [r["relevant_clip_ids"] for r in short] == [[0], []] and short[1]["saliency_scores"] == []

    # the records are the models' outputs on the recipe's frames
    video = captions.read_video(str(corpus / "videos" / "v29-cam-002.mkv"), "v29",
                                probe(str(corpus / "videos" / "v29-cam-002.mkv")))
    assert video.caption_frames.shape == (3, 224, 224, 3) and video.itm_frames.shape == (15, 224, 224, 3)
    assert [r["query"] for r in v29] == blip.BlipCaptioner(str(corpus / "captioner")).captions(video.caption_frames)
    p = blip.BlipMatcher(str(corpus / "matcher")).match_probabilities(video.itm_frames, [(4, v29[1]["query"])])
    assert v29[1]["saliency_scores"][0][0] == pytest.approx(captions.saliency_value(p[0]), rel=1e-6)

    assert not os.path.exists(f"{out}.parts")
    rerun = tmp_path / out.name
    shutil.copy(out, rerun)
    assert pretrain_data_main(_args(corpus, rerun)) == 2  # a rerun skips the captioned videos, retries the broken
    assert "skipped 2 already done" in capsys.readouterr().out and rerun.read_text() == out.read_text()


def test_an_interrupted_run_resumes_from_its_parts(corpus, tmp_path, capsys):
    """A run stopped after one video left its part file: the rerun does only the other and then writes both."""
    videos = tmp_path / "videos.txt"
    videos.write_text(f"{corpus / 'videos' / 'short4.mkv'}\n{corpus / 'videos' / 'v29-cam-002.mkv'}\n")
    out = tmp_path / "caps.jsonl"
    out.write_text('{"qid": "old_0_1.0", "query": "a man", "vid": "old", "duration": 1, "split": "train", '
                   '"relevant_windows": [[0, 1.0]], "relevant_clip_ids": [], "saliency_scores": []}')
    part = tmp_path / "caps.jsonl.parts" / "short4.jsonl"
    part.parent.mkdir()
    part.write_text('{"vid": "short4", "query": "from the stopped run"}\n')
    assert pretrain_data_main(_args(corpus, out, videos=videos)) == 0
    assert "captioned 1 videos into 3 queries, skipped 1 already done" in capsys.readouterr().out
    rows = _rows(out)
    assert [r["vid"] for r in rows] == ["old", "short4", "v29", "v29", "v29"]  # kept, then the parts in id order
    assert rows[1]["query"] == "from the stopped run" and not part.parent.exists()


def test_over_length_videos_are_skipped_with_a_note(corpus, tmp_path, capsys):
    out = tmp_path / "caps.jsonl"
    assert pretrain_data_main(_args(corpus, out, "--max_duration", "20")) == 2  # the broken one still fails
    captured = capsys.readouterr()
    assert "note: " in captured.out and "v29-cam-002.mkv: 29.6 s is longer than --max_duration 20 s" in captured.out
    assert "1 too long" in captured.out and {r["vid"] for r in _rows(out)} == {"short4"}


def test_empty_captions_give_no_record(corpus, tmp_path, capsys, monkeypatch):
    """A caption with nothing after the prompt (here the model's second frame of each batch) is dropped; the other
    windows keep their geometry."""
    generate = blip.BlipCaptioner.generate

    def nothing_for_the_second(self, pixel_values):
        ids = generate(self, pixel_values)
        ids[1, 4] = self.model.config.text_config.sep_token_id  # [DEC] a picture of [SEP]
        ids[1, 5:] = self.model.config.text_config.pad_token_id
        return ids
    monkeypatch.setattr(blip.BlipCaptioner, "generate", nothing_for_the_second)
    videos = tmp_path / "videos.txt"
    videos.write_text(f"{corpus / 'videos' / 'v29-cam-002.mkv'}\n")
    out = tmp_path / "caps.jsonl"
    assert pretrain_data_main(_args(corpus, out, videos=videos)) == 0
    assert "into 2 queries (1 empty captions dropped)" in capsys.readouterr().out
    rows = _rows(out)
    assert [r["relevant_windows"][0] for r in rows] == [WINDOWS_29[0], WINDOWS_29[2]]
    assert [r["relevant_clip_ids"] for r in rows] == [CLIP_IDS_29[0], CLIP_IDS_29[2]]


def test_bad_models_and_arguments_are_one_clear_line(corpus, tmp_path, capsys):
    assert pretrain_data_main(_args(corpus, tmp_path / "x.jsonl", "--captioner", "no/such-model")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no/such-model" in err and "download" in err and "Traceback" not in err
    assert pretrain_data_main(_args(corpus, tmp_path / "x.jsonl", "--matcher", str(corpus / "nowhere"))) == 2
    assert "nowhere: not a directory" in capsys.readouterr().err
    assert pretrain_data_main(_args(corpus, tmp_path / "x.jsonl", "--fp16")) == 2
    assert "--fp16 needs a CUDA device" in capsys.readouterr().err
    assert pretrain_data_main(_args(corpus, tmp_path / "x.jsonl", "--fp16", "--bf16")) == 2
    assert "exclude each other" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"vid": "a"}\nnot json\n')
    assert pretrain_data_main(_args(corpus, bad)) == 2
    assert f"{bad}:2: not valid JSON" in capsys.readouterr().err
    assert not (tmp_path / "x.jsonl").exists() and not (tmp_path / "x.jsonl.parts").exists()


def test_shards_split_the_work_and_rank_0_writes_the_same_file(corpus, captioned, tmp_path, capsys, monkeypatch):
    """Two ranks as torchrun runs them, one after the other in this process: each captions its fixed share into
    part files, rank 0 merges after the gather (here a stand-in for the gloo all-gather of
    video_lights.utils.distributed, which tests/test_extract.py runs under torchrun)."""
    import video_lights.pretrain_data as cli
    single, sharded = captioned[3], tmp_path / "two.jsonl"
    summaries = []

    def gather(summary):
        summaries.append(summary)
        return sorted(summaries, key=lambda s: s["rank"])
    monkeypatch.setattr(cli, "gather", gather)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert pretrain_data_main(_args(corpus, sharded)) == 0  # rank 1: short4 only, no report, no merge
    assert os.listdir(f"{sharded}.parts") == ["short4.jsonl"] and not sharded.exists()
    assert capsys.readouterr().out == ""
    monkeypatch.setenv("RANK", "0")
    assert pretrain_data_main(_args(corpus, sharded)) == 2  # rank 0: broken and v29, then the merge
    out = capsys.readouterr()
    assert "captioned 2 videos into 5 queries" in out.out and "2 rank(s)" in out.out and "broken.mkv" in out.err
    assert sharded.read_text() == single.read_text()


# ----------------------------------------------------------------------------------------------------------------
# The whole path: captions -> features -> pretraining -> finetuning

def _width(path):
    with np.load(path) as z:
        return z["features" if "features" in z.files else "last_hidden_state"].shape[1]


def _launcher_argv(script, *args, **env):
    """The arguments that a launcher passes to `python -m video_lights.train` (PYTHON=echo prints its call)."""
    r = subprocess.run(["bash", str(REPO / "video_lights" / "scripts" / script), *args], cwd=REPO,
                       capture_output=True, text=True, env={**os.environ, "PYTHON": "echo", **env})
    assert r.returncode == 0, r.stderr
    argv = shlex.split(r.stdout)
    assert argv[:2] == ["-m", "video_lights.train"]
    return argv[2:]


def test_pretrain_on_generated_captions_then_finetune_from_it(corpus, tmp_path):
    from video_lights.extract import main as extract_main
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("v29-cam-002.mkv", "short4.mkv"):  # the pretraining videos, and the eval / finetune videos
        shutil.copy(corpus / "videos" / name, videos / name.replace("-cam-002", ""))
    caps = tmp_path / "pre_train_blip.jsonl"
    assert pretrain_data_main(_args(corpus, caps, videos=videos)) == 0
    qv = [dict(qid=10 + i, query=f"a man cooks in the kitchen {i}", duration=d, vid=vid, relevant_windows=[[0, 4]],
               relevant_clip_ids=[0, 1], saliency_scores=[[2, 3, 4], [1, 2, 3]])
          for i, (vid, d) in enumerate([("v29", 29.6), ("short4", 4.0), ("v29", 29.6)])]
    train, val = tmp_path / "qv_train.jsonl", tmp_path / "qv_val.jsonl"
    train.write_text("\n".join(json.dumps(r) for r in qv[:2]))
    val.write_text(json.dumps(qv[2]))
    w = tmp_path / "weights"
    weights = ["--extractors", "clip", "blip2", "--clip", clip.save_tiny_random(str(w / "clip")),
               "--blip2", blip2.save_tiny_random(str(w / "blip2"))]
    feats = tmp_path / "feats"
    # the captions' text features and the eval queries' (the pretraining presets evaluate on QVHighlights val)
    assert extract_main(["--dataset", "pretrain_captions", "--out", str(feats), "--videos", str(videos),
                         "--annotations", str(caps), str(val), "--device", "cpu", *weights]) == 0
    assert os.path.isfile(feats / "clip_query_features" / "qidv29_0_9.666666666666666.npz")
    # the finetuning queries' text features in the QVHighlights folders (the video files are already there)
    assert extract_main(["--dataset", "qvhighlights", "--out", str(feats), "--videos", str(videos),
                         "--annotations", str(train), str(val), "--device", "cpu", *weights]) == 0
    # the presets' feature folders without SlowFast (tests/test_extract.py trains on all three)
    video_dirs = [str(feats / d) for d in ("clip_features", "blip_video_features")]
    dims = ["--v_feat_dirs", *video_dirs, "--v_feat_dim", str(sum(_width(Path(d) / "v29.npz") for d in video_dirs)),
            "--t_feat_dim", str(sum(_width(feats / d / "qid12.npz") for d in ("clip_text_features",
                                                                              "blip_aug_text_features_openai"))),
            "--device", "cpu", "--num_workers", "0",
            "--bsz", "2", "--eval_bsz", "2", "--n_epoch", "1", "--eval_epoch", "1", *TINY_MODEL]
    from video_lights.train import main as train_main
    assert train_main(_launcher_argv("pretrain/pretrain.sh", "--eval_path", str(val), "--results_root",
                                     str(tmp_path / "pre"), *dims, FEAT_ROOT=str(feats), CAPTIONS=str(caps))) == 0
    (run,) = os.listdir(tmp_path / "pre")
    ckpt = tmp_path / "pre" / run / "model_best.ckpt"
    opt = json.loads((tmp_path / "pre" / run / "opt.json").read_text())
    assert opt["train_path"] == str(caps) and opt["dataset"] == "pretrain_captions" and ckpt.is_file()
    assert train_main(_launcher_argv("qvhl/train_from_pretrain.sh", str(ckpt), "--train_path", str(train),
                                     "--eval_path", str(val), "--results_root", str(tmp_path / "fine"), *dims,
                                     FEAT_ROOT=str(feats))) == 0
    (run,) = os.listdir(tmp_path / "fine")
    opt = json.loads((tmp_path / "fine" / run / "opt.json").read_text())
    assert opt["resume"] == str(ckpt) and os.path.isfile(tmp_path / "fine" / run / "hl_val_submission_metrics.json")
