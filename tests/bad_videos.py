"""A corpus of bad video files, generated (no binary files in the repository): what users have on disk or upload.

    from bad_videos import make_corpus
    corpus = make_corpus(tmp_path / "bad")      # [BadVideo(name, path, refused, reason)]

Each entry says what the decoder must answer: refused=True with `reason` in its one-line VideoError (header=True:
already by probe, from the header alone), or a result (refused=False: a decodable video, whatever is wrong with it).
Built from the synthetic videos of synthetic_videos.py with PyAV, then cut, overwritten or patched byte by byte
where no encoder would write such a file (a declared frame size past FFmpeg's own limit).
"""
import os
import random
import struct
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from synthetic_videos import make_video

SIZE = (96, 64)  # width, height of the decodable videos: small and fast


@dataclass(frozen=True)
class BadVideo:
    name: str       # what the case is
    path: str
    refused: bool   # the decoder answers with one VideoError line (else: a result)
    reason: str     # a part of that line (refused cases)
    header: bool = True  # refused by the header alone (probe), before any frame is decoded


def _mjpeg(path, fmt, n=5, size=SIZE, pts=None, tb=Fraction(1, 30), options=None) -> str:
    """n intra-coded (MJPEG) grey frames of `size` at pts (default 0..n-1 in time base tb); options: the muxer's."""
    import av
    w, h = size
    with av.open(str(path), "w", format=fmt, options=options or {}) as c:
        s = c.add_stream("mjpeg", rate=30)
        s.width, s.height, s.pix_fmt = w, h, "yuvj420p"
        s.codec_context.time_base = tb
        for i, t in enumerate(pts if pts is not None else range(n)):
            frame = av.VideoFrame.from_ndarray(np.full((h, w, 3), 30 + 40 * (i % 5), np.uint8), format="rgb24")
            frame = frame.reformat(format="yuvj420p")
            frame.pts, frame.time_base = t, tb
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return str(path)


def _declare_size(src, dst, width, height):
    """Copy the MJPEG .mov `src` (made by _mjpeg at SIZE) with every place the frame size is written (the sample
    description and each JPEG's start-of-frame header) rewritten to width x height: the header declares it, and so
    does every frame."""
    w, h = SIZE
    data = open(src, "rb").read()
    sof = b"\xff\xc0\x00\x11\x08"
    data = data.replace(sof + struct.pack(">HH", h, w), sof + struct.pack(">HH", height, width))
    data = data.replace(struct.pack(">HH", w, h), struct.pack(">HH", width, height))
    with open(dst, "wb") as f:
        f.write(data)
    return str(dst)


def _audio_only(path):
    import av
    with av.open(str(path), "w", format="matroska") as c:
        s = c.add_stream("pcm_s16le", rate=8000)
        s.layout = "mono"
        for i in range(4):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 2000), np.int16), format="s16", layout="mono")
            frame.sample_rate, frame.pts = 8000, 2000 * i
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return str(path)


def _mpegts(path, n=30):
    """n MPEG-4 Part 2 frames at 30 fps in an MPEG transport stream (which has no index: it is read packet by
    packet, so a concatenation or a damaged packet is met while decoding)."""
    import av
    w, h = SIZE
    with av.open(str(path), "w", format="mpegts") as c:
        s = c.add_stream("mpeg4", rate=30)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(np.full((h, w, 3), 5 * i % 250, np.uint8), format="rgb24")
            frame = frame.reformat(format="yuv420p")
            frame.pts = i
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return str(path)


def _write(path, data: bytes) -> str:
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


def make_corpus(folder) -> list:
    """Write the bad videos into `folder` (created); returns their BadVideo entries."""
    os.makedirs(folder, exist_ok=True)
    j = lambda name: os.path.join(str(folder), name)  # noqa: E731
    scratch = os.path.join(str(folder), ".scratch")
    os.makedirs(scratch, exist_ok=True)
    good_mp4 = make_video(os.path.join(scratch, "good.mp4"), fps=30, duration=3.0, size=SIZE, codec="libx264")
    good = open(good_mp4, "rb").read()
    rng = random.Random(0)
    out = [
        BadVideo("zero bytes", _write(j("zero_bytes.mp4"), b""), True, "cannot open"),
        BadVideo("random bytes named .mp4", _write(j("random_bytes.mp4"), rng.randbytes(20000)), True,
                 "cannot open"),
        BadVideo("an HTML page named .mp4", _write(j("html_page.mp4"), b"<!DOCTYPE html>\n<html><head><title>404 "
                                                   b"Not Found</title></head><body>Not Found</body></html>\n" * 20),
                 True, "cannot open"),
    ]
    for pct in (10, 50, 90):  # an MP4 written by PyAV keeps its index (moov) at the end: a cut file has none
        out.append(BadVideo(f"truncated at {pct} %", _write(j(f"truncated_{pct}.mp4"), good[:len(good) * pct // 100]),
                            True, "cannot open"))
    mkv = make_video(os.path.join(scratch, "good.mkv"), fps=30, duration=3.0, size=SIZE, codec="ffv1")
    mkv_data = open(mkv, "rb").read()
    out.append(BadVideo("Matroska truncated at 50 % (decodes up to the cut)",
                        _write(j("cut_in_half.mkv"), mkv_data[:len(mkv_data) // 2]), False, ""))
    out.append(BadVideo("audio only", _audio_only(j("audio_only.mkv")), True, "no video stream"))
    out.append(BadVideo("one frame", make_video(j("one_frame.mp4"), fps=30, duration=1 / 30, size=SIZE,
                                                codec="libx264"), True, "too short", header=False))
    ts = open(_mpegts(os.path.join(scratch, "a.ts")), "rb").read()
    out.append(BadVideo("timestamps going backwards (a transport stream concatenated with itself)",
                        _write(j("backwards_timestamps.mpg"), ts + ts), False, ""))
    mov = _mjpeg(os.path.join(scratch, "small.mov"), "mov")
    out.append(BadVideo("declared 16384x16384 (past FFmpeg's own limit)",
                        _declare_size(mov, j("declared_16384x16384.mov"), 16384, 16384), True, "frame size"))
    out.append(BadVideo("declared 16000x9000 (past --max_pixels)",
                        _declare_size(mov, j("declared_16000x9000.mov"), 16000, 9000), True, "--max_pixels"))
    out.append(BadVideo("declared 10-hour duration (two frames 10 h apart)",
                        _mjpeg(j("ten_hours.mkv"), "matroska", pts=[0, 36000 * 1000], tb=Fraction(1, 1000)), True,
                        "--max_video_s"))
    out.append(BadVideo("a 10-hour gap in the timestamps, no declared duration (live-streamed Matroska)",
                        _mjpeg(j("ten_hour_gap_live.mkv"), "matroska", pts=[0, 33, 36000 * 1000], tb=Fraction(1, 1000),
                               options={"live": "1"}), True, "ends 36000 s after the first", header=False))
    middle = bytearray(ts * 2)
    for at in range(len(middle) // 3, 2 * len(middle) // 3, 997):  # bytes overwritten in the middle packets
        middle[at:at + 40] = rng.randbytes(40)
    out.append(BadVideo("corrupted packets in the middle", _write(j("corrupted_middle.mpg"), bytes(middle)), False, ""))
    for name, file in (("a space in the name", "with space.mp4"), ("a unicode name", "vidéo_日本.mp4"),
                       ("a newline in the name", "new\nline.mp4")):
        out.append(BadVideo(name, _write(j(file), good), False, ""))
    return out
