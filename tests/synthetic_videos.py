"""Synthetic test videos encoded with PyAV whose frames carry their own index in their brightness.

Frame i is flat grey (U = V = 128) in two vertical halves: the left half has luma level(i % 24), the right half
level(i // 24), level(v) = 20 + 9 v (limited-range Y, 20..227), so up to 576 frames are told apart after bicubic
scaling, centre cropping (both halves survive any centre crop), yuv -> rgb conversion and near-lossless H.264.

    from synthetic_videos import make_video, frame_index
    path = make_video(tmp_path / "v.mkv", fps=29.97, duration=5.5)
    frames, info = decode(path, {"clip": 0.5})
    [frame_index(f) for f in frames["clip"]]
"""
from fractions import Fraction

import numpy as np

LEVELS = 24                 # levels per half: index = coarse * 24 + fine
BASE, STEP = 20, 9          # luma of level v: BASE + STEP * v
TOLERANCE = 3               # luma error accepted when reading a level back
MAX_FRAMES = LEVELS * LEVELS
VFR_TIME_BASE = Fraction(1, 90000)
_FORMATS = {"ffv1": "matroska", "libx264": "mp4"}
_OPTIONS = {"ffv1": {}, "libx264": {"crf": "8"}}   # x264: near-lossless, B-frames and reordering kept


def nominal_rate(fps) -> Fraction:
    """fps as a fraction; 29.97, 59.94 and 23.976 become the NTSC rates 30000/1001, 60000/1001, 24000/1001."""
    if isinstance(fps, Fraction):
        return fps
    ntsc = Fraction(round(fps * 1.001) * 1000, 1001)
    if not float(fps).is_integer() and abs(float(ntsc) - fps) < 1e-3:
        return ntsc
    return Fraction(fps).limit_denominator(1001)


def index_luma(index: int, size=(320, 180)) -> np.ndarray:
    """The luma plane (H, W) uint8 of frame `index`; size = (width, height)."""
    if not 0 <= index < MAX_FRAMES:
        raise ValueError(f"frame index {index} outside 0..{MAX_FRAMES - 1}")
    w, h = size
    y = np.empty((h, w), np.uint8)
    y[:, :w // 2] = BASE + STEP * (index % LEVELS)
    y[:, w // 2:] = BASE + STEP * (index // LEVELS)
    return y


def write_luma_video(path, lumas, fps=30, codec="ffv1", timestamps=None, start_time=0.0) -> str:
    """Encode grey frames given by their luma planes (each (H, W) uint8, H and W even) with chroma 128.

    CFR: frame i at start_time + i / fps (time base 1 / fps); timestamps (s, one per frame): variable frame rate
    (time base 1/90000; fps is then only the nominal rate told to the encoder). codec "ffv1" (lossless, Matroska)
    or "libx264" (yuv420p, crf 8, MP4), whatever the file name's extension. Returns str(path)."""
    import av
    rate = nominal_rate(fps)
    tb = VFR_TIME_BASE if timestamps is not None else 1 / rate
    offset = round(Fraction(start_time) / tb)
    with av.open(str(path), "w", format=_FORMATS[codec]) as container:
        stream = container.add_stream(codec, rate=rate, options=_OPTIONS[codec])
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = tb
        for i, luma in enumerate(lumas):
            h, w = luma.shape
            if i == 0:
                stream.width, stream.height = w, h
            plane = np.full((h * 3 // 2, w), 128, np.uint8)
            plane[:h] = luma
            frame = av.VideoFrame.from_ndarray(plane, format="yuv420p")
            frame.time_base = tb
            frame.pts = offset + (i if timestamps is None else round(Fraction(timestamps[i]) / tb))
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return str(path)


def make_video(path, fps=30, duration=5.0, size=(320, 180), codec="ffv1", timestamps=None, start_time=0.0) -> str:
    """A video whose frame i encodes i (read back with frame_index). CFR: round(duration * fps) frames at
    `fps` (29.97 means 30000/1001); timestamps = a list of frame times in s for variable frame rate (duration is
    then unused). size = (width, height), portrait when height > width; the first frame is at start_time."""
    n = len(timestamps) if timestamps is not None else round(duration * float(nominal_rate(fps)))
    lumas = (index_luma(i, size) for i in range(n))
    return write_luma_video(path, lumas, fps, codec, timestamps, start_time)


def _level(patch: np.ndarray) -> int:
    y = 16 + float(patch.mean()) * 219 / 255            # back to limited-range luma
    v = round((y - BASE) / STEP)
    if not 0 <= v < LEVELS or abs(y - (BASE + STEP * v)) > TOLERANCE:
        raise ValueError(f"luma {y:.1f} is no index level")
    return v


def frame_index(frame) -> int:
    """The index encoded by make_video in a decoded frame: uint8 RGB (H, W, 3) or grey (H, W), any size, centre
    crops included. Raises ValueError for a frame that is no synthetic index frame (e.g. a blend of two)."""
    a = np.asarray(frame)
    h, w = a.shape[:2]
    rows = slice(h // 4, h - h // 4)
    fine = _level(a[rows, w // 8: 3 * w // 8])
    coarse = _level(a[rows, 5 * w // 8: 7 * w // 8])
    return coarse * LEVELS + fine
