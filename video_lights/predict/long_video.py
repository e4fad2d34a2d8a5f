"""Videos of any length: overlapping windows of the model's max_v_l clips, merged back into video time.

    spans = window_spans(600, 75)               # [(0, 75), (37, 112), ..., (518, 593), (525, 600)]
    rows = merge_moments(per_window_rows, per_window_saliency, spans, clip_length=2, duration=1200.0, top_k=10)
    saliency = merge_saliency(per_window_saliency, spans, n_clips=600)   # (600,) float32

A video of at most max_v_l clips is one window (the model's own input, nothing changes). A longer one is covered by
windows of max_v_l clips with stride max_v_l // 2, the last window aligned to the end of the video; each window is
an input of its own (its own tef over its max_v_l clips), its moments are decoded with the window's duration and
shifted by the window's start, then scored, merged by temporal NMS and clipped to the video's real duration (no
150-s clamp). Saliency is averaged over the windows that cover a clip.

The score of a long video's moment is not the model's foreground probability alone: each window is a separate
forward pass whose foreground probabilities are relative to that window's content (trained on videos that always
hold the query, a window without it still scores its best guess high), so they do not rank moments of different
windows. It is multiplied by the mean over the moment's clips of sigmoid(saliency) (clip_relevance), which the
negative-pair loss trains to be low for a clip that does not match the query in whatever window; and a moment
that touches a window's inner edge is dropped as a piece of one that the next window sees whole. docs/predict.md
has the measurements (scripts/bench_long_video.py). Last, the first moment is chosen by a knock-out: the merge's
first KNOCKOUT non-overlapping moments (finalists) meet in pairs, each pair shown side by side in one model input
of max_v_l clips (side_by_side) where one forward pass scores both against the same content (prefers_second); the
winner goes first (promote), the other rows keep their order. The predictor runs the bouts (KNOCKOUT - 1 more model
inputs per query, batched over the queries).
"""
import numpy as np

from video_lights.engine.postprocessing import round4, temporal_nms

DEFAULT_NMS_THD = 0.7
EDGE_CLIPS = 0.5  # a long video's moment this close (in clips) to an inner window edge is cut by it
KNOCKOUT = 3  # a long video's top moment is the winner of the merge's first KNOCKOUT non-overlapping moments


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


def to_video_time(window_rows, span, clip_length: float, duration: float) -> list:
    """A window's rows [[start_s, end_s, score], ...] in its own seconds -> in video seconds, clipped to
    [0, duration] and rounded to 4 decimals (rows that end up empty are kept; callers drop them)."""
    offset, _ = window_seconds(span, clip_length, duration)
    return [[round4(min(max(st + offset, 0.0), duration)), round4(min(max(ed + offset, 0.0), duration)), score]
            for st, ed, score in window_rows]


def clip_relevance(per_window_saliency, spans, n_clips: int) -> np.ndarray:
    """float32 (n_clips,): per clip, sigmoid(saliency) averaged over the windows that cover it.

    sigmoid(saliency) is what the negative-pair loss trains towards 0 for a query the clip does not match
    (model/criterion.py), so unlike the foreground probabilities it means the same in every window."""
    return merge_saliency([sigmoid(s) for s in per_window_saliency], spans, n_clips)


def sigmoid(saliency) -> np.ndarray:
    """float64 sigmoid of saliency logits (any shape)."""
    return 1.0 / (1.0 + np.exp(-np.asarray(saliency, np.float64)))


def clip_ranges(rows, n: int, clip_length: float) -> tuple:
    """int64 (len(rows),) first and stop clip indices that each row [start_s, end_s, ...] overlaps: at least one
    clip, inside [0, n)."""
    bounds = np.asarray([r[:2] for r in rows], np.float64).reshape(-1, 2)
    first = np.minimum(np.floor(bounds[:, 0] / clip_length).astype(np.int64), n - 1).clip(0)
    return first, np.minimum(np.maximum(np.ceil(bounds[:, 1] / clip_length).astype(np.int64), first + 1), n)


def moment_relevance(rows, relevance, clip_length: float) -> np.ndarray:
    """float64 (len(rows),): the mean clip_relevance of the clips each row [start_s, end_s, ...] overlaps (at least
    one clip), from a cumulative sum (no loop over the rows)."""
    if not len(rows):
        return np.zeros(0)
    first, last = clip_ranges(rows, len(relevance), clip_length)
    total = np.concatenate([[0.0], np.cumsum(relevance, dtype=np.float64)])
    return (total[last] - total[first]) / (last - first)


def merge_moments(per_window_rows, per_window_saliency, spans, clip_length: float, duration: float, top_k=10,
                  nms_thd=DEFAULT_NMS_THD):
    """Moments of every window -> one ranked list in video time.

    Args:
        per_window_rows: per window, its decoded rows [[start_s, end_s, score], ...] in the window's own seconds
            (engine.postprocessing.decode_moments with the window's duration, see window_seconds).
        per_window_saliency: per window, its clips' saliency (len stop - start each).
        spans: the windows' clip ranges (window_spans); clip_length: seconds per clip; duration: the video's.
        top_k: moments kept; nms_thd: temporal NMS threshold (None: no NMS, only ranking by score).
    Returns:
        at most top_k rows [start_s, end_s, score] ranked by score, shifted to video time, clipped to
        [0, duration], rounded to 4 decimals; empty windows (end <= start after clipping) are dropped.
        One window (a short video): the score is the model's foreground probability, as in training. Several: the
        foreground probability times the moment's mean clip_relevance, because foreground probabilities are
        relative to their window's content (a window without the query still puts its best guess near 1) and do
        not rank across windows on their own;
        moments cut by an inner window edge (within EDGE_CLIPS of it) are dropped unless nothing else is left.
    """
    rows, cut = [], []
    for window_rows, span in zip(per_window_rows, spans):
        _, window_duration = window_seconds(span, clip_length, duration)
        inner_start, inner_stop = span[0] > 0, span[1] < spans[-1][1]  # edges that are not the video's
        for (st, ed, _), row in zip(window_rows, to_video_time(window_rows, span, clip_length, duration)):
            if row[1] > row[0]:
                rows.append(row)
                cut.append((inner_start and st < EDGE_CLIPS * clip_length) or
                           (inner_stop and ed > window_duration - EDGE_CLIPS * clip_length))
    if len(spans) > 1:
        relevance = clip_relevance(per_window_saliency, spans, spans[-1][1])
        rows = [[st, ed, round4(float(r) * p)] for (st, ed, p), r in
                zip(rows, moment_relevance(rows, relevance, clip_length))]
        # a moment at a window's inner edge is a piece of what that window does not see; the windows overlap by
        # half, so another window sees any moment of up to max_v_l - stride clips whole
        rows = [r for r, c in zip(rows, cut) if not c] or rows
    rows = sorted(rows, key=lambda r: r[2], reverse=True)  # stable: ties keep window order
    if nms_thd is not None:
        rows = temporal_nms(rows, nms_thd, top_k)
    return [list(r) for r in rows[:top_k]]


def finalists(rows, k=KNOCKOUT) -> list:
    """The first k rows of a ranked list that overlap none before them: the candidates of the knock-out (the rows
    themselves, for promote; engine.postprocessing.temporal_nms copies and re-sorts, with the authors' IoU)."""
    out = []
    for r in rows:
        if not any(min(r[1], f[1]) > max(r[0], f[0]) for f in out):
            out.append(r)
            if len(out) == k:
                break
    return out


def side_by_side(first, second, n_clips: int, max_v_l: int, clip_length: float):
    """One model input of exactly max_v_l clips that shows two moments (rows [start_s, end_s, ...]) with context.

    Returns (clips, owner): int64 (max_v_l,) the video's clip indices in video order, int64 (max_v_l,) 0 where a
    clip belongs to `first` (its moment or its context), 1 where to `second`; None when the two overlap or
    together take more than max_v_l - 4 clips (no room for context). When one window of max_v_l clips holds
    both, it is that window (centred on them, inside the video; the owner changes halfway between them);
    otherwise each moment gets an equal share of the remaining clips as context around it, its stretch moved
    inside the video where it would leave it, and the two stretches are concatenated in video order."""
    starts, stops = clip_ranges([first, second], n_clips, clip_length)
    swap = int(starts[1] < starts[0])  # 1: `second` comes first in the video
    (a0, a1), (b0, b1) = sorted(zip(starts.tolist(), stops.tolist()))
    if b0 < a1 or (a1 - a0) + (b1 - b0) > max_v_l - 4:
        return None
    if b1 - a0 <= max_v_l:
        start = min(max((a0 + b1 - max_v_l) // 2, 0), n_clips - max_v_l)
        clips = np.arange(start, start + max_v_l)
        return clips, (clips >= (a1 + b0) // 2).astype(np.int64) ^ swap
    room = max_v_l - (a1 - a0) - (b1 - b0)
    parts = []
    for (a, b), share in (((a0, a1), room // 2), ((b0, b1), room - room // 2)):
        start = min(max(a - share // 2, 0), n_clips - (b - a + share))
        parts.append(np.arange(start, start + b - a + share))
    return np.concatenate(parts), np.repeat([swap, 1 - swap], [len(parts[0]), len(parts[1])])


def prefers_second(owner, rows, saliency, clip_length: float) -> bool:
    """Whether the model, shown two moments in one input (side_by_side's owner: 0 the first's clips, 1 the
    second's), rates the second above the first.

    rows: its decoded moments [[start_s, end_s, foreground probability], ...] in the input's own seconds;
    saliency: (max_v_l,) its clips' saliency. A moment counts for the side that owns at least half of its clips,
    scored by its foreground probability x the mean sigmoid(saliency) of its clips: in one
    forward pass both scores are relative to the same content, which the windows' are not. The better moment of
    each side decides; ties and no moment on either side keep the first."""
    owner = np.asarray(owner)
    best = np.full(2, -1.0)
    if rows:
        relevance = sigmoid(saliency)
        scores = moment_relevance(rows, relevance, clip_length) * np.array([r[2] for r in rows])
        for a, b, score in zip(*clip_ranges(rows, len(owner), clip_length), scores):
            votes = np.bincount(owner[a:b], minlength=2)
            side = int(np.argmax(votes))
            if votes[side] * 2 >= b - a:
                best[side] = max(best[side], score)
    return bool(best[1] > best[0])


def promote(rows, winner) -> list:
    """rows with `winner` (one of them) first, the others in their order."""
    return [list(winner)] + [list(r) for r in rows if r is not winner]


def merge_saliency(per_window_saliency, spans, n_clips: int) -> np.ndarray:
    """Per-window saliency (len stop - start each) -> float32 (n_clips,), the mean over the covering windows."""
    total = np.zeros(n_clips, np.float64)
    count = np.zeros(n_clips, np.int64)
    for scores, (start, stop) in zip(per_window_saliency, spans):
        scores = np.asarray(scores, np.float64)
        total[start:start + len(scores)] += scores
        count[start:start + len(scores)] += 1
    return (total / np.maximum(count, 1)).astype(np.float32)
