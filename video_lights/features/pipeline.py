"""One video -> every video feature type, decoding it once; one query -> every text feature type.

    extractors = Extractors.load(["slowfast", "clip", "blip2"], slowfast="sf.safetensors", device="cpu")
    rows = extract_video(path, extractors, clip_length=2)       # {"slowfast": (n, 2304), "clip": (m, 512), ...}
    text = extract_text("a man cooks", extractors)               # {"clip": {"last_hidden_state", ...}, ...}

SlowFast reads the 30-fps stream in HERO's clips of clip_length seconds; CLIP and BLIP-2 read the same frames at
1 / clip_length fps (the fps filter's slot rule, `modern` or `legacy`; a video shorter than one clip is read at the
authors' short-video rate). Both streams come from one sequential decode (features/decode.py).
"""
import dataclasses
from typing import Optional

import numpy as np

from video_lights.features.decode import VideoError, probe, sample_video, short_video_rate
from video_lights.utils.cli import UserError

SLOWFAST_RATE = 30  # HERO resamples every video to 30 fps for SlowFast
DEFAULT_MODELS = {"clip": "openai/clip-vit-base-patch32", "blip2": "Salesforce/blip2-itm-vit-g"}


@dataclasses.dataclass
class Extractors:
    """The loaded feature extractors (None = that type is not extracted)."""
    slowfast: Optional[object] = None
    clip: Optional[object] = None
    blip2: Optional[object] = None

    @classmethod
    def load(cls, names, slowfast=None, clip=DEFAULT_MODELS["clip"], blip2=DEFAULT_MODELS["blip2"], device="cpu",
             batch_size=16, fp16=False):
        """Load the named extractors (weights from local paths or the local Hugging Face cache; nothing is
        downloaded). slowfast: a .safetensors file made by `python -m video_lights.features.convert_slowfast`.
        fp16: CLIP and BLIP-2's ViT in float16 on CUDA, as OpenAI CLIP and LAVIS run there (SlowFast stays fp32)."""
        import torch
        if fp16 and not str(device).startswith("cuda"):
            raise UserError("--fp16 needs a CUDA device (float16 CLIP / BLIP-2 as the authors ran them on GPUs)")
        dtype = torch.float16 if fp16 else torch.float32
        out = cls()
        if "slowfast" in names:
            from video_lights.features.slowfast import SlowFastExtractor
            out.slowfast = SlowFastExtractor(slowfast, device=device, batch_size=max(1, batch_size // 4))
        if "clip" in names:
            from video_lights.features.clip import ClipExtractor
            out.clip = ClipExtractor(clip, device=device, batch_size=batch_size, dtype=dtype)
        if "blip2" in names:
            from video_lights.features.blip2 import Blip2Extractor
            out.blip2 = Blip2Extractor(blip2, device=device, batch_size=batch_size, dtype=dtype)
        return out

    def video_names(self):
        return [n for n in ("slowfast", "clip", "blip2") if getattr(self, n) is not None]

    def text_names(self):
        return [n for n in ("clip", "blip2") if getattr(self, n) is not None]


def extract_video(path, extractors: Extractors, clip_length=2, frame_rule="modern"):
    """All video feature types of one file: {name: float32 (rows, D)}. Raises VideoError naming the file for an
    unreadable video, one without a video stream or frames, or one too short to give a single row."""
    info = probe(path)
    rates = {}
    if extractors.slowfast is not None:
        rates["slowfast"] = SLOWFAST_RATE
    if extractors.clip is not None or extractors.blip2 is not None:
        rates["frames"] = short_video_rate(1.0 / clip_length, info.duration or 0.0)
    if extractors.slowfast is not None:
        from video_lights.features.slowfast import ClipAssembler
        assembler = ClipAssembler(int(clip_length), info.clip_duration)
    clips, sf_rows, frames = [], [], []
    for name, frame in sample_video(path, rates, frame_rule):
        if name == "frames":
            frames.append(frame)
            continue
        clips.extend(assembler.push(frame))
        if len(clips) >= extractors.slowfast.batch_size:  # bounded memory: a few clips at a time
            sf_rows.append(extractors.slowfast.features(clips, info.fps))
            clips = []
    out = {}
    if extractors.slowfast is not None:
        clips.extend(assembler.finish())
        if clips:
            sf_rows.append(extractors.slowfast.features(clips, info.fps))
        out["slowfast"] = np.concatenate(sf_rows) if sf_rows else np.zeros((0, 1), np.float32)
    if "frames" in rates:
        stack = np.stack(frames) if frames else None
        for name in ("clip", "blip2"):
            ex = getattr(extractors, name)
            if ex is not None:
                out[name] = ex.image_features(stack) if stack is not None else np.zeros((0, 1), np.float32)
    empty = [n for n, rows in out.items() if len(rows) == 0]
    if empty:
        raise VideoError(f"{path}: too short: no {' / '.join(empty)} row (duration {info.duration} s)")
    return out


def extract_text(query, extractors: Extractors):
    """All text feature types of one query: {name: {"last_hidden_state": (L, D), "pooler_output": (D,)}}."""
    return {n: getattr(extractors, n).text_features(query) for n in extractors.text_names()}
