"""The predictor on one's own videos: a synthetic video through tiny random extractors and a tiny VideoLights model,
batching, videos of any length (windows, merging, a planted 20-minute input), the command line, the exported
directory and the one-line errors."""
import dataclasses
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("av", reason="the video extra is not installed (pip install -e .[video])")
pytest.importorskip("transformers", reason="the video extra is not installed (pip install -e .[video])")

from synthetic_videos import make_video  # noqa: E402
from video_lights import load_checkpoint  # noqa: E402
from video_lights.config import parse_args, save_opt  # noqa: E402
from video_lights.data.inputs import batch_inputs, query_input, video_input  # noqa: E402
from video_lights.engine.postprocessing import decode_moments, temporal_nms, valid_saliency  # noqa: E402
from video_lights.features import blip2, clip, slowfast  # noqa: E402
from video_lights.model import build_model  # noqa: E402
from video_lights.model.checkpoint import save_checkpoint  # noqa: E402
from video_lights.predict import Prediction, Predictor, QueryFeatures, VideoFeatures  # noqa: E402
from video_lights.predict.__main__ import main as predict_main  # noqa: E402
from video_lights.predict.long_video import finalists, merge_moments, merge_saliency, prefers_second, promote, \
    side_by_side, window_spans  # noqa: E402
from video_lights.predict.predictor import PredictError  # noqa: E402
from video_lights.export import main as export_main  # noqa: E402

# tiny random extractors: SlowFast width 8 -> 288, CLIP projection 16 / text width 32, BLIP-2 Q-Former 32
V_DIM, T_DIM = 288 + 16 + 32, 32 + 32
TINY = ["--hidden_dim", "32", "--dim_feedforward", "64", "--nheads", "4", "--enc_layers", "1", "--dec_layers", "2",
        "--num_queries", "5", "--contrastive_hdim", "16"]
DURATION = 9.0   # 5 clips of 2 s, the last one 1 s long
QUERIES = ["a man cooks food", "the dog walks in the street with a cat", "a woman talks"]
ERROR_LINE = re.compile(r"^error: [^\n]+\n$")


def _write_checkpoint(path, *flags, seed=0):
    opt = parse_args(["--preset", "qvhl", "--device", "cpu", "--results_root", str(path.parent), *TINY, *flags])
    torch.manual_seed(seed)
    save_checkpoint(path, build_model(opt), epoch=0, opt=opt)
    save_opt(opt, path.parent / "opt.json")
    return path


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    """Tiny random extractor weights, a tiny VideoLights-B checkpoint (SlowFast + CLIP + BLIP-2 video, CLIP + BLIP-2
    text, widths of the tiny extractors) with its opt.json and run metrics, and a 9-s synthetic video."""
    root = tmp_path_factory.mktemp("predict")
    w = root / "weights"
    ids = dict(clip=clip.save_tiny_random(str(w / "clip")), blip2=blip2.save_tiny_random(str(w / "blip2")),
               slowfast=slowfast.save_tiny_random(str(w / "slowfast.safetensors")))
    run = root / "run"
    run.mkdir()
    ckpt = _write_checkpoint(run / "model_best.ckpt", "--v_feat_dim", str(V_DIM), "--t_feat_dim", str(T_DIM))
    (run / "hl_val_submission_metrics.json").write_text(json.dumps({"brief": {"MR-full-R1@0.5": 12.34,
                                                                              "HL-min-VeryGood-mAP": 5.67}}))
    video = make_video(str(root / "cooking.mp4"), fps=30, duration=DURATION, size=(160, 90), codec="libx264")
    return dict(root=root, ids=ids, ckpt=ckpt, video=video)


def _flags(assets):
    ids = assets["ids"]
    return ["--slowfast", ids["slowfast"], "--clip", ids["clip"], "--blip2", ids["blip2"], "--device", "cpu"]


@pytest.fixture(scope="module")
def predictor(assets):
    ids = assets["ids"]
    return Predictor.from_checkpoint(assets["ckpt"], slowfast=ids["slowfast"], clip=ids["clip"], blip2=ids["blip2"],
                                     cache_dir=str(assets["root"] / "cache"))


PROGRESS = []


@pytest.fixture(scope="module")
def encoded(predictor, assets):
    return predictor.encode_video(assets["video"], progress=lambda done, total: PROGRESS.append((done, total)))


def _random_video(n_clips, dims=(288, 16, 32), seed=0, clip_length=2.0):
    rng = np.random.default_rng(seed)
    feats = {n: rng.normal(size=(n_clips, d)).astype(np.float32) for n, d in zip(("slowfast", "clip", "blip2"), dims)}
    return VideoFeatures(feats, n_clips * clip_length, clip_length, "random")


def _same(a: Prediction, b: Prediction, atol=1e-4):
    assert a.query == b.query and len(a.windows) == len(b.windows)
    np.testing.assert_allclose(np.array(a.windows), np.array(b.windows), atol=atol)
    np.testing.assert_allclose(a.saliency, b.saliency, atol=1e-5)
    np.testing.assert_array_equal(a.clip_times, b.clip_times)


# ---------------------------------------------------------------------------------------------------------------
def test_predictor_on_a_synthetic_video(predictor, encoded, assets):
    assert predictor.video_types == ["slowfast", "clip", "blip2"] and predictor.text_types == ["clip", "blip2"]
    assert encoded.n_clips == 5 and encoded.duration == pytest.approx(DURATION)
    assert [encoded.features[n].shape[1] for n in predictor.video_types] == [288, 16, 32]
    (p,) = predictor.predict(assets["video"], QUERIES[0], top_k=4)  # a path: served by the in-memory cache
    assert isinstance(p, Prediction) and p.query == QUERIES[0]
    assert 1 <= len(p.windows) <= 4
    scores = [w[2] for w in p.windows]
    assert scores == sorted(scores, reverse=True)
    assert all(0 <= st < ed <= DURATION for st, ed, _ in p.windows)
    assert p.saliency.dtype == np.float32 and p.saliency.shape == (5,)
    assert p.clip_times.shape == (5, 2) and p.clip_times[0].tolist() == [0, 2]
    assert p.clip_times[-1].tolist() == [8, 9]  # the last clip is clipped to the duration
    assert PROGRESS[-1] == (DURATION, DURATION) and len(PROGRESS) >= 3  # SlowFast batches, then CLIP, BLIP-2
    assert all(a[0] <= b[0] for a, b in zip(PROGRESS, PROGRESS[1:]))


def test_encode_video_is_cached_by_content_in_memory_and_on_disk(predictor, encoded, assets, tmp_path):
    assert predictor.encode_video(assets["video"]) is encoded
    cache = assets["root"] / "cache"
    assert len(os.listdir(cache)) == 1 and os.listdir(cache)[0].startswith(encoded.sha256)
    copy = tmp_path / "renamed.mp4"
    copy.write_bytes(open(assets["video"], "rb").read())
    fresh = Predictor(predictor.model, predictor.opt, predictor.extractors, cache_dir=str(cache),
                      extractor_ids=predictor.extractor_ids)
    again = fresh.encode_video(copy)  # same content, new file name: read from the disk cache
    assert again.sha256 == encoded.sha256 and again.source == str(copy) and len(os.listdir(cache)) == 1
    for n in predictor.video_types:
        np.testing.assert_array_equal(again.features[n], encoded.features[n])

    bf16 = Predictor(predictor.model, predictor.opt, dataclasses.replace(predictor.extractors, precision="bf16"),
                     cache_dir=str(cache), extractor_ids=predictor.extractor_ids)
    assert bf16._extractor_key != fresh._extractor_key  # bfloat16 features are not float32's


def test_memory_caches_keep_only_their_most_recent_entries(predictor):
    """A long-running predictor (the web app) keeps a bounded number of queries, videos and file hashes."""
    fresh = Predictor(predictor.model, predictor.opt, predictor.extractors, extractor_ids=predictor.extractor_ids)
    fresh._query_cache.size = 2
    a, b = fresh.encode_query(QUERIES[0]), fresh.encode_query(QUERIES[1])
    assert fresh.encode_query(QUERIES[0]) is a  # a read makes QUERIES[0] the most recent
    fresh.encode_query("a third query")
    assert list(fresh._query_cache) == [QUERIES[0], "a third query"]  # QUERIES[1] was the least recent
    assert fresh.encode_query(QUERIES[1]) is not b  # computed again
    np.testing.assert_array_equal(fresh.encode_query(QUERIES[1]).features["clip"], b.features["clip"])
    assert all(c.size > 0 for c in (fresh._video_cache, fresh._query_cache, fresh._digests))


def test_short_video_gives_exactly_the_single_window_result(predictor, encoded):
    """A video of fewer than max_v_l clips is one model input built by data/inputs.py, decoded with the video's
    duration: the predictor's answer is that, clipped to the duration and NMS'd, bit for bit."""
    opt = predictor.opt
    q = predictor.encode_query(QUERIES[1])
    v = video_input([encoded.features[n] for n in predictor.video_types], opt.max_v_l)
    t = query_input([q.features[n] for n in predictor.text_types], opt.max_q_l)
    with torch.no_grad():
        inputs = batch_inputs([v], [t])
        out = predictor.model(**inputs, loss_outputs=False)
    rows = decode_moments(out["pred_logits"], out["pred_spans"], [encoded.duration])[0]
    rows = [[min(max(a, 0), DURATION), min(max(b, 0), DURATION), s] for a, b, s in rows]
    rows = [[float(f"{a:.4f}"), float(f"{b:.4f}"), s] for a, b, s in rows if b > a]
    saliency = valid_saliency(out["saliency_scores"].float(), out["video_mask"])[0]
    (p,) = predictor.predict(encoded, QUERIES[1], nms_thd=None)
    assert p.windows == rows[:10]
    assert p.saliency.tolist() == np.float32(saliency).tolist()
    (p,) = predictor.predict(encoded, QUERIES[1], top_k=3)
    assert p.windows == temporal_nms(rows, 0.7, 3)


def test_batched_queries_equal_one_by_one(predictor, encoded):
    long_video = _random_video(200)  # 5 windows of 75 clips: 15 model inputs, batches of 4
    predictor.batch_size = 4
    try:
        for video in (encoded, long_video):
            batched = predictor.predict(video, QUERIES)
            assert [p.query for p in batched] == QUERIES
            for q, p in zip(QUERIES, batched):
                _same(p, predictor.predict(video, q)[0])
    finally:
        predictor.batch_size = 32


# ---------------------------------------------------------------------------------------------------------------
def test_window_spans_cover_any_length_with_the_last_window_at_the_end():
    assert window_spans(8, 75) == [(0, 8)] and window_spans(75, 75) == [(0, 75)] and window_spans(900, -1) == [(0, 900)]
    spans = window_spans(600, 75)
    assert spans[0] == (0, 75) and spans[-1] == (525, 600) and spans[-2] == (518, 593)
    assert all(b - a == 75 for a, b in spans) and all(s2[0] - s1[0] <= 37 for s1, s2 in zip(spans, spans[1:]))
    assert window_spans(76, 75) == [(0, 75), (1, 76)]


def test_merge_shifts_to_video_time_clips_to_the_duration_and_never_to_150_s():
    spans = [(0, 75), (37, 112), (45, 120)]
    per_window = [[[10.0, 20.0, 0.5]], [[100.0, 140.0, 0.9], [4.0, 8.0, 0.2], [0.0, 4.0, 0.3]], [[140.0, 150.0, 0.8]]]
    # sigmoid(saliency) 0.5, 1, 0.5 per window, so clip relevance 0.5 (clips 0-36), 0.75 (37-44), 2/3 (45-74),
    # 0.75 (75-111), 0.5 (112-119)
    saliency = [np.zeros(75), np.full(75, 30.0), np.zeros(75)]
    rows = merge_moments(per_window, saliency, spans, clip_length=2, duration=235.0, top_k=10, nms_thd=None)
    # scores: the model's times the moments' mean clip relevance; [0, 4] of the second window starts at its inner
    # edge (a piece of a moment the first window sees whole) and is dropped; the last window's end is the video's
    assert rows == [[174.0, 214.0, 0.675], [230.0, 235.0, 0.4], [10.0, 20.0, 0.25], [78.0, 82.0, 0.15]]
    mixed = merge_moments([[[10.0, 30.0, 0.5]], [[0.0, 20.0, 0.5]]], [np.zeros(75), np.full(75, 30.0)],
                          [(0, 75), (37, 112)], 2, 224.0, 10, None)
    assert mixed == [[10.0, 30.0, 0.25]]
    alone = merge_moments([[], [[0.0, 20.0, 0.5]]], [np.zeros(75), np.zeros(75)], [(0, 75), (37, 112)], 2, 224.0)
    assert alone == [[74.0, 94.0, 0.25]]  # kept when nothing else is left
    merged = merge_moments([[[10.0, 20.0, 0.5]], [[-64.0, -54.0, 0.4]]], [np.zeros(75), np.zeros(75)],
                           [(0, 75), (37, 112)], 2, 235.0, 10)
    assert merged == [[10.0, 20.0, 0.25]]  # the same moment seen by two windows is kept once
    sal = merge_saliency([np.ones(75), 3 * np.ones(75)], [(0, 75), (37, 112)], 112)
    assert sal[:37].tolist() == [1] * 37 and sal[37:75].tolist() == [2] * 38 and sal[75:].tolist() == [3] * 37


def test_one_window_keeps_the_models_scores():
    rows = [[10.0, 20.0, 0.9], [0.0, 150.0, 0.2], [30.0, 40.0, 0.5]]
    assert merge_moments([rows], [np.full(75, -9.0)], [(0, 75)], 2, 150.0, 10, None) == sorted(
        rows, key=lambda r: r[2], reverse=True)


def test_finalists_are_the_first_rows_that_overlap_none_before_them():
    rows = [[10.0, 20.0, 0.9], [15.0, 30.0, 0.8], [40.0, 50.0, 0.7], [20.0, 40.0, 0.6], [60.0, 70.0, 0.5],
            [80.0, 90.0, 0.4]]
    assert finalists(rows) == [rows[0], rows[2], rows[3]]  # [20, 40] only touches its neighbours
    assert finalists(rows, 2) == [rows[0], rows[2]] and finalists([]) == []
    assert promote(rows, rows[3]) == [rows[3]] + rows[:3] + rows[4:]


def test_side_by_side_shows_both_moments_in_exactly_max_v_l_clips():
    # far apart: the two moments (clips 50-54 and 150-154) share 65 clips of context, 32 and 33, around them
    clips, owner = side_by_side([300.0, 310.0, 0.5], [100.0, 110.0, 0.9], 600, 75, 2)
    assert clips.tolist() == list(range(34, 71)) + list(range(134, 172)) and len(clips) == 75
    assert owner.tolist() == [1] * 37 + [0] * 38  # 0: the first moment's stretch, here the later one
    # near the video's ends the stretches move inside it
    clips, owner = side_by_side([0.0, 4.0, 0.5], [1190.0, 1200.0, 0.9], 600, 75, 2)
    assert clips.tolist() == list(range(0, 36)) + list(range(561, 600)) and owner.sum() == 39
    # one window holds both (clips 50-54 and 80-84): that window, centred on them, split halfway between them
    clips, owner = side_by_side([100.0, 110.0, 0.5], [160.0, 170.0, 0.9], 600, 75, 2)
    assert clips.tolist() == list(range(30, 105)) and owner.tolist() == [0] * 37 + [1] * 38
    swapped = side_by_side([160.0, 170.0, 0.9], [100.0, 110.0, 0.5], 600, 75, 2)
    assert swapped[0].tolist() == clips.tolist() and swapped[1].tolist() == (1 - owner).tolist()
    assert side_by_side([100.0, 110.0, 0.5], [105.0, 120.0, 0.9], 600, 75, 2) is None  # overlapping
    assert side_by_side([0.0, 80.0, 0.5], [200.0, 262.0, 0.9], 600, 75, 2) is not None  # 40 + 31 clips: 4 left
    assert side_by_side([0.0, 80.0, 0.5], [200.0, 264.0, 0.9], 600, 75, 2) is None  # 40 + 32: no room for context


def test_prefers_second_compares_the_two_sides_of_one_input():
    owner = np.array([0] * 40 + [1] * 35)  # side_by_side's: the first moment's clips, then the second's
    saliency = np.zeros(75)
    rows = [[10.0, 20.0, 0.9], [100.0, 110.0, 0.8]]  # one moment on each side
    assert not prefers_second(owner, rows, saliency, 2)
    saliency[50:55] = 9.0  # the second's clips match the query
    assert prefers_second(owner, rows, saliency, 2)
    assert prefers_second(1 - owner, rows, saliency, 2) is False  # the same input, the roles swapped
    assert not prefers_second(owner, [[70.0, 90.0, 0.99]], saliency, 2)  # 5 of 10 clips: the first's side
    assert prefers_second(owner, [[76.0, 90.0, 0.99]], saliency, 2)  # 5 of 7 clips: the second's
    assert not prefers_second(owner, [], saliency, 2)  # no moment: the first stays


class PlantedOracle(torch.nn.Module):
    """A model right by construction, with VideoLights' forward signature and output names: the saliency of a clip
    is the cosine of its (normalised, tef-free) feature with the mean query token; its moments are the runs of clips
    with saliency > 0.6, in the window's normalised (center, width), with foreground logit 5 * mean + log(length)
    (one more run, a decoy at the window's start, scores low)."""

    def __init__(self, dim, num_queries=3):
        super().__init__()
        self.dim, self.num_queries = dim, num_queries  # no weights: the predictor reads the widths from opt

    def forward(self, src_txt, src_txt_mask, src_vid, src_vid_mask, loss_outputs=True):
        B, L, _ = src_vid.shape
        q = F.normalize((src_txt * src_txt_mask[..., None]).sum(1), dim=-1)
        sim = (F.normalize(src_vid[..., :self.dim], dim=-1) * q[:, None]).sum(-1) * src_vid_mask  # (B, L)
        logits = torch.zeros(B, self.num_queries, 2)
        spans = torch.tensor([0.05, 0.1]).repeat(B, self.num_queries, 1)
        logits[..., 0] = -6.0
        for b in range(B):
            n = int(src_vid_mask[b].sum())
            hot = (sim[b, :n] > 0.6).int().tolist() + [0]
            runs, start = [], None
            for i, h in enumerate(hot):
                if h and start is None:
                    start = i
                elif not h and start is not None:
                    runs.append((start, i))
                    start = None
            for k, (st, ed) in enumerate(runs[:self.num_queries - 1]):
                spans[b, k] = torch.tensor([(st + ed) / 2 / n, (ed - st) / n])
                logits[b, k, 0] = 5 * sim[b, st:ed].mean() + np.log(ed - st)
            logits[b, -1, 0] = -2.0  # the decoy
        return {"pred_logits": logits, "pred_spans": spans, "saliency_scores": sim, "video_mask": src_vid_mask}


def _planted(n_clips=600, dim=32, where=(250, 260), strength=12.0, seed=1):
    """Random clip features whose only stretch along the query's direction is `where` (clips), and the query."""
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=dim)
    direction /= np.linalg.norm(direction)
    clips = rng.normal(size=(n_clips, dim)).astype(np.float32)
    clips[where[0]:where[1]] += (strength * direction).astype(np.float32)
    tokens = (direction + 0.1 * rng.normal(size=(5, dim))).astype(np.float32)
    return clips, tokens


def test_planted_20_minute_input_is_found_at_the_top():
    """20 minutes (600 clips of 2 s) of random features; only 500-520 s carries the query's direction.

    Why an oracle model and not the tiny VideoLights: an untrained (or seconds-trained) VideoLights ranks moments
    by weights that ignore the query, so "found at the top" would test luck, not the long-video code. The oracle
    (PlantedOracle) is right by construction on any single window, so what this tests is everything around the
    model: the input contract (per-row L2 normalisation, tef, type order), the 16 overlapping windows of 75 clips
    (the stretch lies inside two of them, a third sees one clip of it), decoding with each window's duration, the
    shift to video time, the merge (NMS keeps the moment once, above the one-clip piece and the decoys), the
    saliency average and the 1200-s duration with no 150-s clamp. A wrong offset, stride or duration moves or
    loses the moment. The real tiny VideoLights runs the same 20 minutes in the next test."""
    clips, tokens = _planted()
    opt = parse_args(["--preset", "qvhl", "--device", "cpu", "--v_feat_dirs", "clip_features", "--t_feat_dirs",
                      "clip_text_features", "--v_feat_dim", "32", "--t_feat_dim", "32"])
    predictor = Predictor(PlantedOracle(32), opt)
    video = VideoFeatures({"clip": clips}, 1200.0, 2.0, "planted")
    (p,) = predictor.predict(video, QueryFeatures("the planted thing", {"clip": tokens}), top_k=5)
    top = p.windows[0]
    assert min(top[1], 520) - max(top[0], 500) > 0  # overlaps 500-520 s
    assert top[:2] == pytest.approx([500, 520], abs=1e-3)
    assert not any(w[:2] == pytest.approx([500, 520], abs=1e-3) for w in p.windows[1:])  # merged once
    assert all(0 <= st < ed <= 1200 for st, ed, _ in p.windows)
    assert 250 <= int(np.argmax(p.saliency)) < 260 and p.saliency.shape == (600,)
    assert p.saliency[250:260].min() > np.delete(p.saliency, np.s_[250:260]).max()


class WindowConfidentOracle(torch.nn.Module):
    """The failure that long videos showed (scripts/bench_long_video.py), made deterministic: every window answers
    with its clips most like the query, at a confidence that depends on the window's content and not on the query
    (as a model trained on videos that always hold the query does). The saliency is the clips' own match,
    8 * (cos - 0.5): high only where the query is."""

    def __init__(self, dim, num_queries=2):
        super().__init__()
        self.dim, self.num_queries = dim, num_queries

    def forward(self, src_txt, src_txt_mask, src_vid, src_vid_mask, loss_outputs=True):
        B, L, _ = src_vid.shape
        q = F.normalize((src_txt * src_txt_mask[..., None]).sum(1), dim=-1)
        sim = (F.normalize(src_vid[..., :self.dim], dim=-1) * q[:, None]).sum(-1)  # (B, L)
        best = sim.argmax(1).float()  # the window's best clip, at the centre of a 10-clip moment
        spans = torch.stack([((best + 0.5) / L).clamp(5 / L, 1 - 5 / L), torch.full_like(best, 10 / L)], -1)
        confidence = 4 + 3 * src_vid[:, :, 1].mean(1)  # content, not query
        logits = torch.full((B, self.num_queries, 2), -6.0)
        logits[:, 0, 0], logits[:, :, 1] = confidence, 0.0
        spans = torch.cat([spans[:, None], torch.tensor([0.05, 0.1]).repeat(B, self.num_queries - 1, 1)], 1)
        return {"pred_logits": logits, "pred_spans": spans, "saliency_scores": 8 * (sim - 0.5),
                "video_mask": src_vid_mask}


def test_long_video_moments_rank_by_clip_relevance_not_by_window_confidence():
    """20 minutes, the query's 20 s planted at 500-520 s; the oracle's most confident window is elsewhere, so
    ranking by foreground probability (the merge before clip relevance) puts a wrong moment first."""
    clips, tokens = _planted(where=(250, 260), seed=3)
    opt = parse_args(["--preset", "qvhl", "--device", "cpu", "--v_feat_dirs", "clip_features", "--t_feat_dirs",
                      "clip_text_features", "--v_feat_dim", "32", "--t_feat_dim", "32"])
    predictor = Predictor(WindowConfidentOracle(32), opt)
    video = VideoFeatures({"clip": clips}, 1200.0, 2.0, "planted")
    query = QueryFeatures("the planted thing", {"clip": tokens})
    spans = window_spans(600, opt.max_v_l)
    inputs = batch_inputs([video_input([clips[a:b]], opt.max_v_l) for a, b in spans],
                          [query_input([tokens], opt.max_q_l)] * len(spans))
    out = predictor.model(**inputs)
    confident = int(F.softmax(out["pred_logits"][:, 0], -1)[:, 0].argmax())
    assert not spans[confident][0] <= 250 < 260 <= spans[confident][1]  # the old merge's first moment is wrong
    (p,) = predictor.predict(video, query, top_k=5)
    start, end, score = p.windows[0]
    assert min(end, 520) - max(start, 500) >= 10  # half of it or more is the planted stretch
    elsewhere = [w for w in p.windows if min(w[1], 520) <= max(w[0], 500)]
    assert elsewhere and all(w[2] < score for w in elsewhere)


class SaliencyScaleOracle(PlantedOracle):
    """PlantedOracle whose saliency has a per-window offset: 6 x the window's mean of its (normalised) feature 1, a
    content property unrelated to the query. The same clip's sigmoid(saliency) then differs between windows, so
    clip relevance does not rank moments of different windows; within one input both sides share the offset."""

    def forward(self, src_txt, src_txt_mask, src_vid, src_vid_mask, loss_outputs=True):
        out = super().forward(src_txt, src_txt_mask, src_vid, src_vid_mask, loss_outputs)
        offset = 6 * (src_vid[:, :, 1] * src_vid_mask).sum(1) / src_vid_mask.sum(1)
        return dict(out, saliency_scores=8 * (out["saliency_scores"] - 0.5) + offset[:, None])


def test_knock_out_ranks_the_planted_moment_first_where_the_merge_did_not(monkeypatch):
    """20 minutes: the query (strongly) at 500-520 s in plain content, a weaker match at 900-920 s inside a stretch
    of content that raises every saliency of its windows. The merge ranks the weaker one first (by the knock-out's
    switch turned off); shown side by side in one input, the planted one wins."""
    rng = np.random.default_rng(5)
    direction = rng.normal(size=32)
    direction[1] = 0.0
    direction /= np.linalg.norm(direction)
    clips = rng.normal(size=(600, 32)).astype(np.float32)
    clips[250:260] += (12 * direction).astype(np.float32)
    clips[450:460] += (8 * direction).astype(np.float32)  # the weaker match
    clips[400:520, 1] += 6.0  # the content that lifts saliency
    tokens = (direction + 0.1 * rng.normal(size=(5, 32))).astype(np.float32)
    opt = parse_args(["--preset", "qvhl", "--device", "cpu", "--v_feat_dirs", "clip_features", "--t_feat_dirs",
                      "clip_text_features", "--v_feat_dim", "32", "--t_feat_dim", "32"])
    predictor = Predictor(SaliencyScaleOracle(32), opt)
    video = VideoFeatures({"clip": clips}, 1200.0, 2.0, "planted")
    query = QueryFeatures("the planted thing", {"clip": tokens})
    (p,) = predictor.predict(video, query, top_k=5)
    assert p.windows[0][:2] == pytest.approx([500, 520], abs=1e-3)
    assert any(w[:2] == pytest.approx([900, 920], abs=1e-3) for w in p.windows[1:])
    monkeypatch.setattr("video_lights.predict.predictor.KNOCKOUT", 1)  # no bouts: the merge's own ranking
    (merged,) = predictor.predict(video, query, top_k=5)
    assert merged.windows[0][:2] == pytest.approx([900, 920], abs=1e-3)
    assert sorted(map(tuple, merged.windows)) == sorted(map(tuple, p.windows))  # the same rows, re-ranked


def test_real_model_on_20_minutes_and_on_exactly_one_window(predictor):
    (p,) = predictor.predict(_random_video(600), QUERIES[0], top_k=10)
    assert p.saliency.shape == (600,) and p.clip_times[-1].tolist() == [1198, 1200]
    assert 1 <= len(p.windows) <= 10 and all(0 <= st < ed <= 1200 for st, ed, _ in p.windows)
    (one,) = predictor.predict(_random_video(75), QUERIES[0])
    assert one.saliency.shape == (75,) and all(ed <= 150 for _, ed, _ in one.windows)


# ---------------------------------------------------------------------------------------------------------------
def test_cli_prints_the_table_for_a_synthetic_video(assets, tmp_path, capsys):
    out_json, out_png = tmp_path / "p.json", tmp_path / "p.png"
    rc = predict_main([assets["video"], "--query", QUERIES[0], "--query", QUERIES[2], "--checkpoint",
                       str(assets["ckpt"]), *_flags(assets), "--top_k", "3", "--json", str(out_json),
                       "--plot", str(out_png), "--cache_dir", str(assets["root"] / "cache")])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "video: " in captured.out and "(0:00:09, 5 clips of 2 s)" in captured.out
    assert f'query 1: "{QUERIES[0]}"' in captured.out and f'query 2: "{QUERIES[2]}"' in captured.out
    rows = re.findall(r"^\s+\d+\s+\d:\d\d:\d\d - \d:\d\d:\d\d\s+\d\.\d{4}$", captured.out, re.M)
    assert len(rows) == 6 and captured.out.count("saliency peaks: ") == 2
    saved = json.loads(out_json.read_text())
    assert [p["query"] for p in saved["predictions"]] == [QUERIES[0], QUERIES[2]]
    assert len(saved["predictions"][0]["saliency"]) == 5 and saved["duration"] == pytest.approx(DURATION)
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_prints_the_table_for_20_minutes_of_features(assets, tmp_path, capsys):
    feats = tmp_path / "long.npz"
    _random_video(600).save(feats)
    rc = predict_main([str(feats), "--query", QUERIES[0], "--checkpoint", str(assets["ckpt"]), *_flags(assets)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "(0:20:00, 600 clips of 2 s)" in captured.out and len(re.findall(r"\d:\d\d:\d\d - ", captured.out)) == 5


# ---------------------------------------------------------------------------------------------------------------
def test_export_round_trip_gives_identical_outputs(assets, predictor, encoded, tmp_path, capsys):
    out = tmp_path / "exported"
    assert export_main([str(assets["ckpt"]), str(out), "--clip", assets["ids"]["clip"]]) == 0
    assert sorted(os.listdir(out)) == ["README.md", "config.json", "model.safetensors"]
    assert out.joinpath("model.safetensors").read_bytes()[:1] != b"\x80"  # no pickle
    config = json.loads((out / "config.json").read_text())
    assert [f["type"] for f in config["features"]["video"]] == ["slowfast", "clip", "blip2"]
    assert [f["type"] for f in config["features"]["text"]] == ["clip", "blip2"]
    assert config["features"]["v_feat_dim"] == V_DIM and config["extractors"]["clip"] == assets["ids"]["clip"]
    assert config["extractors"]["blip2"] == "Salesforce/blip2-itm-vit-g" and config["extractors"]["slowfast"] is None
    assert all("/" not in d for d in config["options"]["v_feat_dirs"] + config["options"]["t_feat_dirs"])
    assert "results_dir" not in config["options"] and "feat_root" not in config["options"]
    card = (out / "README.md").read_text()
    assert "MR-full-R1@0.5 | 12.34" in card and "hl_val_submission_metrics.json" in card

    model, ckpt = load_checkpoint(out)
    original, _ = load_checkpoint(assets["ckpt"])
    assert set(ckpt) == {"model", "opt", "config"}
    for (k, a), (k2, b) in zip(original.state_dict().items(), model.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    ids = assets["ids"]
    from_dir = Predictor.from_checkpoint(out, slowfast=ids["slowfast"], blip2=ids["blip2"])  # clip: config.json's
    assert from_dir.extractor_ids["clip"] == ids["clip"]
    for a, b in zip(from_dir.predict(encoded, QUERIES), predictor.predict(encoded, QUERIES)):
        assert a.windows == b.windows and np.array_equal(a.saliency, b.saliency)


def test_exported_directory_loads_as_a_hub_id_from_the_local_cache(assets, tmp_path):
    pytest.importorskip("huggingface_hub")
    out = tmp_path / "exported"
    assert export_main([str(assets["ckpt"]), str(out)]) == 0
    cache = tmp_path / "hub"
    snap = cache / "models--someone--videolights-tiny" / "snapshots" / ("a" * 40)
    snap.mkdir(parents=True)
    for f in os.listdir(out):
        (snap / f).write_bytes((out / f).read_bytes())
    (cache / "models--someone--videolights-tiny" / "refs").mkdir()
    (cache / "models--someone--videolights-tiny" / "refs" / "main").write_text("a" * 40)
    code = ("from video_lights import load_checkpoint; m, c = load_checkpoint('someone/videolights-tiny'); "
            "print(sorted(c), sum(float(p.sum()) for p in m.state_dict().values()))")
    env = dict(os.environ, HF_HUB_CACHE=str(cache), HF_HUB_OFFLINE="1")
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert got.returncode == 0, got.stderr
    model, _ = load_checkpoint(out)
    assert got.stdout.split()[:3] == ["['config',", "'model',", "'opt']"]
    assert float(got.stdout.split()[-1]) == pytest.approx(sum(float(p.sum()) for p in model.state_dict().values()))


# ---------------------------------------------------------------------------------------------------------------
def _one_line_error(capsys, argv, main=predict_main):
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2 and ERROR_LINE.match(err.splitlines()[-1] + "\n"), err
    return err.splitlines()[-1]


def test_bad_inputs_are_one_line_errors(assets, tmp_path, capsys):
    ckpt, flags = str(assets["ckpt"]), _flags(assets)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 20)
    assert "broken.mp4" in _one_line_error(capsys, [str(broken), "--query", "a", "--checkpoint", ckpt, *flags])
    assert "no such video file" in _one_line_error(capsys, [str(tmp_path / "none.mp4"), "--query", "a",
                                                            "--checkpoint", ckpt, *flags])
    # features this install cannot compute: TVSum's I3D video features
    (tmp_path / "i3d").mkdir()
    i3d = _write_checkpoint(tmp_path / "i3d" / "model.ckpt", "--v_feat_dirs", "video_features", "--v_feat_dim", "64",
                            "--t_feat_dim", str(T_DIM))
    msg = _one_line_error(capsys, [assets["video"], "--query", "a", "--checkpoint", str(i3d), *flags])
    assert "video_features" in msg and "cannot compute" in msg
    # the released widths against the tiny extractors: named, before any video is read
    (tmp_path / "big").mkdir()
    big = _write_checkpoint(tmp_path / "big" / "model.ckpt")
    msg = _one_line_error(capsys, [assets["video"], "--query", "a", "--checkpoint", str(big), *flags])
    assert "3584 wide" in msg and "slowfast 288 + clip 16 + blip2 32 = 336" in msg and "1280 wide" in msg
    assert "no such checkpoint" in _one_line_error(capsys, [assets["video"], "--query", "a", "--checkpoint",
                                                            str(tmp_path / "missing.ckpt"), *flags])
    assert "local Hugging Face cache" in _one_line_error(capsys, [assets["video"], "--query", "a", "--checkpoint",
                                                                  "nobody/not-cached-anywhere", *flags])
    assert "SlowFast" in _one_line_error(capsys, [assets["video"], "--query", "a", "--checkpoint", ckpt,
                                                  "--slowfast", str(tmp_path / "no.safetensors"), "--clip",
                                                  assets["ids"]["clip"], "--blip2", assets["ids"]["blip2"]])
    not_features = tmp_path / "x.npz"
    np.savez(not_features, a=np.zeros(3))
    assert "not a features file" in _one_line_error(capsys, [str(not_features), "--query", "a", "--checkpoint",
                                                             ckpt, *flags])
    assert "--query" in _one_line_error(capsys, [assets["video"], "--checkpoint", ckpt])
    assert "missing" in _one_line_error(capsys, [str(tmp_path), str(tmp_path / "out")], main=export_main)


def test_predictor_checks_its_inputs(predictor, encoded):
    with pytest.raises(PredictError, match="non-empty"):
        predictor.predict(encoded, [""])
    with pytest.raises(PredictError, match="no query"):
        predictor.predict(encoded, [])
    with pytest.raises(PredictError, match="wide video features"):
        predictor.predict(_random_video(10, dims=(288, 16, 30)), "a")
    with pytest.raises(PredictError, match="1-s clips"):
        predictor.predict(_random_video(10, clip_length=1.0), "a")
