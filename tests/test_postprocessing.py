"""Submission rows from model outputs: exact equality with the reference's post-processed batch."""
import json

import torch

from video_lights.data import load_spec
from video_lights.engine.evaluation import submission_rows
from video_lights.engine.postprocessing import apply_nms, decode_moments, snap_windows, temporal_nms


def test_fixture_submission_exact(ref_fixture):
    outputs = torch.load(ref_fixture / "batch1_outputs_eval.pt", weights_only=True)
    metas = torch.load(ref_fixture / "batch1_inputs.pt", weights_only=True)["meta"]
    expected = json.loads((ref_fixture / "batch1_postprocessed_submissions.json").read_text())["batch1"]
    rows = submission_rows(metas, outputs, load_spec("qvhighlights"), clip_length=2)  # what predict() writes
    assert rows == expected["no_nms"]
    assert apply_nms(rows, 0.7, 10, 10) == expected["nms_thd_0.7"]


def test_snap_rounds_half_to_even_and_clamps_to_150():
    rows = snap_windows([[3.0, 5.0, 0.12345], [-4.0, 151.0, 0.5], [1.0, 7.0, 0.1]], clip_length=2, max_ts=150)
    assert rows == [[4.0, 4.0, 0.1235], [0.0, 150.0, 0.5], [0.0, 8.0, 0.1]]


def test_decode_sorts_by_foreground_probability():
    logits = torch.tensor([[[0.0, 1.0], [2.0, 0.0]]])  # query 1 is more foreground
    spans = torch.tensor([[[0.5, 0.2], [0.25, 0.5]]])
    rows = decode_moments(logits, spans, [100])[0]
    assert rows[0][:2] == [0.0, 50.0] and rows[1][:2] == [40.0, 60.0]
    assert rows[0][2] > rows[1][2]
    unsorted = decode_moments(logits, spans, [100], sort=False)[0]
    assert unsorted[0][:2] == [40.0, 60.0]


def test_temporal_nms_uses_enclosing_span_iou():
    rows = [[0, 10, 0.9], [0, 8, 0.8], [20, 30, 0.7], [0, 4, 0.6]]
    # [0,8] vs [0,10]: 8/10 > 0.7 suppressed; [0,4] vs [0,10]: 0.4 kept
    assert temporal_nms(rows, 0.7, 10) == [[0, 10, 0.9], [20, 30, 0.7], [0, 4, 0.6]]
    assert temporal_nms(rows, 0.7, 2) == [[0, 10, 0.9], [20, 30, 0.7]]
