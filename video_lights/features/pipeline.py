"""One video -> every video feature type, decoding it once; one query -> every text feature type.

    extractors = Extractors.load(["slowfast", "clip", "blip2"], slowfast="sf.safetensors", device="cpu")
    rows, info = extract_video(path, extractors, clip_length=2)  # {"slowfast": (n, 2304), "clip": (m, 512), ...}
    text = extract_text("a man cooks", extractors)               # {"clip": {"last_hidden_state", ...}, ...}

SlowFast reads the 30-fps stream in HERO's clips of clip_length seconds; CLIP and BLIP-2 read the same frames at
1 / clip_length fps (the fps filter's slot rule, `modern` or `legacy`; a video shorter than one clip is read at the
authors' short-video rate). Both streams come from one sequential decode (features/decode.py).
"""
import dataclasses
from typing import Optional

import numpy as np

from video_lights.features.decode import DEFAULT_LIMITS, VideoError, probe, sample_video, short_video_rate
from video_lights.features.layouts import DEFAULT_MODELS, TEXT_EXTRACTORS, VIDEO_EXTRACTORS



@dataclasses.dataclass
class Extractors:
    """The loaded feature extractors (None = that type is not extracted) and the precision they run in."""
    slowfast: Optional[object] = None
    clip: Optional[object] = None
    blip2: Optional[object] = None
    precision: str = "fp32"            # features/precision.py: fp32, fp16 or bf16
    precision_note: Optional[str] = None  # the warning when --bf16 fell back to float32

    @classmethod
    def load(cls, names, slowfast=None, clip=DEFAULT_MODELS["clip"], blip2=DEFAULT_MODELS["blip2"], device="cpu",
             batch_size=16, fp16=False, bf16=False):
        """Load the named extractors (weights from local paths or the local Hugging Face cache; nothing is
        downloaded). slowfast: a .safetensors file made by `python -m video_lights.features.convert_slowfast`.
        fp16: CLIP and BLIP-2's ViT in float16 on CUDA, as OpenAI CLIP and LAVIS run there (SlowFast stays fp32).
        bf16: all three under bfloat16 autocast, where the device has native bfloat16 (else float32 and
        `precision_note` says so; features/precision.py)."""
        from video_lights.features.precision import extractor_settings, resolve_precision
        precision, note = resolve_precision(device, fp16, bf16)
        settings = extractor_settings(precision)
        out = cls(precision=precision, precision_note=note)
        if "slowfast" in names:  # SlowFast stays float32 under --fp16, as HERO ran it
            from video_lights.features.slowfast import SlowFastExtractor
            out.slowfast = SlowFastExtractor(slowfast, device=device, batch_size=max(1, batch_size // 4),
                                             bf16=settings["bf16"])
        if "clip" in names:
            from video_lights.features.clip import ClipExtractor
            out.clip = ClipExtractor(clip, device=device, batch_size=batch_size, **settings)
        if "blip2" in names:
            from video_lights.features.blip2 import Blip2Extractor
            out.blip2 = Blip2Extractor(blip2, device=device, batch_size=batch_size, **settings)
        return out

    def video_names(self):
        return [n for n in VIDEO_EXTRACTORS if getattr(self, n) is not None]

    def text_names(self):
        return [n for n in TEXT_EXTRACTORS if getattr(self, n) is not None]


def extract_video(path, extractors: Extractors, clip_length=2, frame_rule="modern", progress=None,
                  limits=DEFAULT_LIMITS):
    """All video feature types of one file: ({name: float32 (rows, D)}, its VideoInfo). Raises VideoError naming the
    file for an unreadable video, one without a video stream or frames, one too short to give a single row, or one
    past the decoding limits (features/limits.py DecodeLimits).

    progress: optional callable(seconds of video done, total seconds), told as SlowFast's clips and the frame
    extractors' chunks are computed (each stage counts for its share) and once at the end."""
    info = probe(path, limits)
    total = info.duration or 0.0
    names = extractors.video_names()
    done = dict.fromkeys(names, 0.0)

    def advance(name, seconds):
        done[name] = min(done[name] + seconds, total) if total else done[name] + seconds
        if progress is not None:
            progress(sum(done.values()) / len(names), total)

    rates = {}
    if extractors.slowfast is not None:
        from video_lights.features.slowfast import TARGET_FPS, ClipAssembler
        rates["slowfast"] = TARGET_FPS
        assembler = ClipAssembler(clip_length, info.clip_duration)
    if extractors.clip is not None or extractors.blip2 is not None:
        rates["frames"] = short_video_rate(1.0 / clip_length, total)
    clips, sf_rows, frames = [], [], []

    def run_slowfast():
        sf_rows.append(extractors.slowfast.features(clips, info.fps))
        advance("slowfast", len(clips) * clip_length)
        clips.clear()
    for name, frame in sample_video(path, rates, frame_rule, limits=limits):
        if name == "frames":
            frames.append(frame)
            continue
        clips.extend(assembler.push(frame))
        if len(clips) >= extractors.slowfast.batch_size:  # bounded memory: a few clips at a time
            run_slowfast()
    out = {}
    if extractors.slowfast is not None:
        clips.extend(assembler.finish())
        if clips:
            run_slowfast()
        out["slowfast"] = np.concatenate(sf_rows) if sf_rows else np.zeros((0, extractors.slowfast.feature_dim))
    for name in ("clip", "blip2"):
        ex = getattr(extractors, name)
        if ex is None:
            continue
        chunk, rows = max(1, 4 * ex.batch_size), []
        for i in range(0, len(frames), chunk):
            rows.append(ex.image_features(np.stack(frames[i:i + chunk])))
            advance(name, len(rows[-1]) / rates["frames"])
        out[name] = np.concatenate(rows) if rows else np.zeros((0, ex.image_dim), np.float32)
    empty = [n for n, rows in out.items() if len(rows) == 0]
    if empty:
        raise VideoError(path, f"too short: no {' / '.join(empty)} row (duration {info.duration} s)")
    if progress is not None:
        progress(total, total)
    return out, info


def extract_text(query, extractors: Extractors):
    """All text feature types of one query: {name: {"last_hidden_state": (L, D), "pooler_output": (D,)}}."""
    return {n: getattr(extractors, n).text_features(query) for n in extractors.text_names()}
