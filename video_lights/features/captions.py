"""Synthetic pretraining queries from raw video: VideoLights' `extract_feature/pretrain_data_generator_using_blip2.py`
recipe (feature-extraction spec §5.1), whose output is the released `pre_train_blip.jsonl`.

    video = read_video(path, vid, probe(path))          # the 0.1-fps caption frames and the 0.5-fps ITM frames
    records = caption_videos([video, ...], BlipCaptioner(...), BlipMatcher(...))   # {vid: [record, ...]}

Per video: frames at 0.1 fps through HERO's front end and the fps filter's slot rule (features/decode.py; one
224 crop per 10 s, the frame just before the middle of each 10-s window with the modern rule; a video shorter
than 10.1 s is read at the authors' short-video rate, 2 / int(duration) fps), duration D = floor(probed
duration), n caption frames, window length fd = D / n. Frame k's caption is the query of the window
[start_k, start_k + fd] with start_0 = 0 (an int, as the released qids "{vid}_0_..." show) and start_{k+1} the
previous end, accumulated in floating point (the released ends read 19.333333333333332, 127.00000000000004).
Saliency: BLIP ITM on the 0.5-fps frames (2-s clips) with ids in [floor(start / 2), ceil(end / 2)), the end pulled
back by one when it reaches the number of 0.5-fps frames; each score is saliency_value(p).

Two edge cases, as the released data shows them:
- A window whose clip range is empty after the pull-back keeps its record with empty `relevant_clip_ids` and
  `saliency_scores`. This is what the two such records of the released file are: 4-s videos read at the
  short-video rate 0.5 fps give two caption frames, windows [0, 2] and [2, 4]; the second covers clip 1 only
  (ceil(4 / 2) = 2), and 2 equals the two 0.5-fps frames, so the end is pulled back to 1 and the range is empty.
  In general the last window of a video has no score when it covers only the last 2-s clip.
- A caption that is empty after the prompt is stripped gives no record (a query with no words cannot be
  retrieved and its text features would hold only the start and end tokens); the other windows of the video
  keep their geometry. No released query is empty.
"""
import dataclasses
import math

import numpy as np
import torch

from video_lights.features.decode import DEFAULT_LIMITS, VideoError, VideoInfo, sample_video, short_video_rate

CAPTION_RATE = 0.1      # frames per second captioned
SALIENCY_RATE = 0.5     # the 2-s clips scored by ITM
CLIP_LENGTH = 2


@dataclasses.dataclass
class VideoFrames:
    """One video's frames for the recipe: caption frames uint8 (n, 224, 224, 3), ITM frames uint8 (m, 224, 224,
    3), duration = floor(probed duration) (int s)."""
    vid: str
    duration: int
    caption_frames: np.ndarray
    itm_frames: np.ndarray


def read_video(path, vid, info: VideoInfo, limits=DEFAULT_LIMITS) -> VideoFrames:
    """Decode `path` (probed as `info`) once for both rates with the modern frame rule (the FFmpeg of the authors'
    2023-24 runs), each rate through the short-video rule of their loaders. Raises VideoError (unreadable, no video
    stream, no frames, too short for one frame at some rate, no duration, shorter than 1 s: its floored duration
    would be 0, past the decoding limits)."""
    if info.duration is None:
        raise VideoError(path, "the video reports no duration (the windows are fractions of it)")
    if info.duration < 1:
        raise VideoError(path, f"too short: {info.duration:.3f} s (captions need a duration of at least 1 s)")
    rates = {"caption": short_video_rate(CAPTION_RATE, info.duration),
             "itm": short_video_rate(SALIENCY_RATE, info.duration)}
    frames = {name: [] for name in rates}
    for name, frame in sample_video(path, rates, limits=limits):
        frames[name].append(frame)
    return VideoFrames(vid, math.floor(info.duration), np.stack(frames["caption"]), np.stack(frames["itm"]))


def caption_windows(duration: int, n_frames: int) -> list:
    """[(start, end)] of the n_frames caption windows of a `duration`-s video: fd = duration / n_frames, start_0 =
    0 (int), end = start + fd, the next start = this end (accumulated, as the authors' loop does)."""
    fd = duration / n_frames
    windows, start = [], 0
    for _ in range(n_frames):
        end = start + fd
        windows.append((start, end))
        start = end
    return windows


def saliency_clip_ids(start, end, n_itm_frames: int) -> list:
    """The 2-s clip ids scored for window [start, end]: range(floor(start / 2), ceil(end / 2)), the end pulled back
    by one when it reaches n_itm_frames (the authors' rule is for an end equal to the count; an end past it, which
    only float accumulation could give, is treated alike so that every id names a frame)."""
    lo, hi = math.floor(start / CLIP_LENGTH), math.ceil(end / CLIP_LENGTH)
    if hi >= n_itm_frames:
        hi = n_itm_frames - 1
    return list(range(lo, hi))


def saliency_value(p) -> float:
    """The authors' pseudo-saliency of an ITM probability p in [0, 1]: max(exp(clamp(2.5 p, min=1)), 2), in
    float32 as their torch code computes it; in [e, e**2.5] = [2.7182817, 12.182494] (float32)."""
    x = torch.clamp(2.5 * torch.tensor(p, dtype=torch.float32), min=1.0)
    return float(torch.clamp(torch.exp(x), min=2.0))


def qid(vid, start, end) -> str:
    """The released qid: "{vid}_{start}_{end}" with Python's str of the numbers ("D4CHP_0_9.666666666666666")."""
    return f"{vid}_{start}_{end}"


def caption_videos(videos, captioner, matcher) -> dict:
    """The records of several videos, their frames batched together: {vid: [record, ...]} in window order.

    videos: [VideoFrames]; captioner: BlipCaptioner-like (captions(frames) -> list of str); matcher: BlipMatcher-
    like (match_probabilities(frames, [(frame index, text)]) -> (P,) float32). A record: {qid, query, vid,
    duration, split "train", relevant_windows [[start, end]], relevant_clip_ids, saliency_scores [[s], ...]}
    (see the module docstring for empty ranges and empty captions)."""
    if not videos:
        return {}
    captions = captioner.captions(np.concatenate([v.caption_frames for v in videos]))
    offsets = np.cumsum([0] + [len(v.itm_frames) for v in videos])
    per_video, pairs, k = [], [], 0
    for v, offset in zip(videos, offsets):
        rows = []
        for start, end in caption_windows(v.duration, len(v.caption_frames)):
            caption = captions[k]
            k += 1
            if not caption:
                continue
            ids = saliency_clip_ids(start, end, len(v.itm_frames))
            rows.append((start, end, caption, ids, len(pairs)))
            pairs += [(int(offset) + i, caption) for i in ids]
        per_video.append(rows)
    probabilities = matcher.match_probabilities(np.concatenate([v.itm_frames for v in videos]), pairs)
    out = {}
    for v, rows in zip(videos, per_video):
        out[v.vid] = [{"qid": qid(v.vid, start, end), "query": caption, "vid": v.vid, "duration": v.duration,
                       "split": "train", "relevant_windows": [[start, end]], "relevant_clip_ids": ids,
                       "saliency_scores": [[saliency_value(p)] for p in probabilities[first:first + len(ids)]]}
                      for start, end, caption, ids, first in rows]
    return out
