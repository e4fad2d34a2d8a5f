"""Videos of any length: overlapping windows of the model's max_v_l clips, merged back into video time.

    spans = window_spans(600, 75)               # [(0, 75), (37, 112), ..., (518, 593), (525, 600)]
    rows = merge_moments(per_window_rows, spans, clip_length=2, duration=1200.0, top_k=10)
    saliency = merge_saliency(per_window_saliency, spans, n_clips=600)   # (600,) float32

A video of at most max_v_l clips is one window (the model's own input, nothing changes). A longer one is covered by
windows of max_v_l clips with stride max_v_l // 2, the last window aligned to the end of the video; each window is
an input of its own (its own tef over its max_v_l clips), its moments are decoded with the window's duration and
shifted by the window's start, then all windows' moments are merged by temporal NMS and clipped to the video's real
duration (no 150-s clamp). Saliency is averaged over the windows that cover a clip.

Scores of moments from different windows are not calibrated against each other: each window is a separate forward
pass whose foreground probabilities are relative to that window's content, so a merged ranking is a heuristic.
"""
import numpy as np

from video_lights.engine.postprocessing import round4, temporal_nms

DEFAULT_NMS_THD = 0.7


def window_spans(n_clips: int, max_v_l: int) -> list:
    """Clip ranges [(start, stop), ...] (stop exclusive) covering n_clips clips with windows of max_v_l clips.

    n_clips <= max_v_l (or max_v_l <= 0: no limit): one window [(0, n_clips)]. Otherwise windows of exactly max_v_l
    clips starting every max_v_l // 2 clips, plus one window ending at n_clips if the last start leaves clips out.
    """
    if n_clips <= 0:
        raise ValueError(f"n_clips must be positive, got {n_clips}")
    if max_v_l is None or max_v_l <= 0 or n_clips <= max_v_l:
        return [(0, n_clips)]
    stride = max(1, max_v_l // 2)
    starts = list(range(0, n_clips - max_v_l + 1, stride))
    if starts[-1] + max_v_l < n_clips:
        starts.append(n_clips - max_v_l)
    return [(s, s + max_v_l) for s in starts]


def window_seconds(span, clip_length: float, duration: float) -> tuple:
    """(offset, window duration) in seconds of a clip range: [start * clip_length, min(stop * clip_length,
    duration)), the window's duration being what its moments are decoded with."""
    start, stop = span
    offset = start * clip_length
    return offset, max(min(stop * clip_length, duration) - offset, 0.0)


def merge_moments(per_window_rows, spans, clip_length: float, duration: float, top_k=10, nms_thd=DEFAULT_NMS_THD):
    """Moments of every window -> one ranked list in video time.

    Args:
        per_window_rows: per window, its decoded rows [[start_s, end_s, score], ...] in the window's own seconds
            (engine.postprocessing.decode_moments with the window's duration, see window_seconds).
        spans: the windows' clip ranges (window_spans); clip_length: seconds per clip; duration: the video's.
        top_k: moments kept; nms_thd: temporal NMS threshold (None: no NMS, only ranking by score).
    Returns:
        at most top_k rows [start_s, end_s, score] ranked by score, shifted to video time, clipped to
        [0, duration], rounded to 4 decimals; empty windows (end <= start after clipping) are dropped.
    """
    rows = []
    for window_rows, span in zip(per_window_rows, spans):
        offset, _ = window_seconds(span, clip_length, duration)
        for st, ed, score in window_rows:
            st, ed = min(max(st + offset, 0.0), duration), min(max(ed + offset, 0.0), duration)
            if ed > st:
                rows.append([round4(st), round4(ed), score])
    rows = sorted(rows, key=lambda r: r[2], reverse=True)  # stable: ties keep window order
    if nms_thd is not None:
        rows = temporal_nms(rows, nms_thd, top_k)
    return [list(r) for r in rows[:top_k]]


def merge_saliency(per_window_saliency, spans, n_clips: int) -> np.ndarray:
    """Per-window saliency (len stop - start each) -> float32 (n_clips,), the mean over the covering windows."""
    total = np.zeros(n_clips, np.float64)
    count = np.zeros(n_clips, np.int64)
    for scores, (start, stop) in zip(per_window_saliency, spans):
        scores = np.asarray(scores, np.float64)
        total[start:start + len(scores)] += scores
        count[start:start + len(scores)] += 1
    return (total / np.maximum(count, 1)).astype(np.float32)
