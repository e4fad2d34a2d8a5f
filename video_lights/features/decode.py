"""Decoding exactly as HERO's extractors do it, with PyAV: probe, the 224 front end and the fps filter's frame rule.

HERO (`video_loader.py`) and Moment-DETR / VideoLights (`run_on_video/data_utils.py::VideoProcessor`) run
`ffmpeg -i VIDEO -vf fps=R,scale=W':H',crop=224:224:x:y -f rawvideo -pix_fmt rgb24` once per frame rate. Here a
video is decoded once, sequentially, at its native rate: every decoded frame gets its timestamp (rebased by the
container start time, as the ffmpeg CLI does), the fps filter's slot rule is applied in Python to those timestamps
once per requested rate (30 fps for SlowFast, 0.5 or 1 fps for CLIP / BLIP-2), and only the frames that some rate
keeps go through FFmpeg's own scale (bicubic) and crop filters, so their pixels equal the CLI's.

The slot rule exists in two generations of FFmpeg's `vf_fps.c` (see `FrameSampler`): "modern" (FFmpeg >= 4, what
PyAV bundles; `fps_graph_frames` runs that filter itself and is the test oracle) and "legacy" (FFmpeg 3.x), which
PyAV cannot run and which only this Python rule offers.
"""
import math
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional

import av
import numpy as np

from video_lights.features.limits import DecodeLimits
from video_lights.utils.cli import UserError

RULES = ("modern", "legacy")
DEFAULT_LIMITS = DecodeLimits()
_AV_TIME_BASE = 1_000_000          # container start_time and duration are in microseconds
_MAX_RATE_DEN = 1_001_000          # FFmpeg's av_parse_video_rate: av_d2q(rate, 1001000)


def display_name(path) -> str:
    """The path as one printable line: control characters (a newline in a file name) and undecodable bytes
    escaped as Python writes them ('a\\nb.mp4'), everything else (spaces, accents) as is."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(path))


class VideoError(UserError):
    """A video that cannot be used: unreadable file, no video stream, no frames decoded, too short, past a decoding
    limit. The message is `{path}: {reason}` on one line (display_name)."""

    def __init__(self, path, reason: str):
        super().__init__(f"{display_name(path)}: {reason}")
        self.path = str(path)
        self.reason = reason

    def __reduce__(self):      # picklable across worker processes despite the two-argument constructor
        return type(self), (self.path, self.reason)


@dataclass(frozen=True)
class VideoInfo:
    """What HERO's ffprobe call reads from the first video stream (HERO `video_loader.py`)."""
    path: str
    width: int                   # coded frame size of the first video stream (ffprobe's width / height)
    height: int
    avg_rate: float              # the stream's average frame rate (29.97...)
    fps: int                     # floor(avg_rate): HERO's integer source fps (29.97 -> 29)
    duration: Optional[float]    # stream duration in s, else the container's (mkv / webm), else None
    n_frames: Optional[int]      # the stream's frame count (nb_frames), else None
    start_time: float            # container start time in s (0.0 when unknown)
    # HERO's duration for SlowFast's clip truncation: the stream's own duration when the stream reports both its
    # duration and its frame count, else None (HERO's -1: every clip is kept), as mkv / webm streams often do
    clip_duration: Optional[float] = None


def front_end_geometry(width: int, height: int, size: int = 224) -> tuple:
    """HERO's scale and centre crop: the short side becomes `size`, the long side int(long * size / short)
    (truncated), then a centre crop of size x size at x = int((W' - size) / 2), y = int((H' - size) / 2).

    Returns (scaled_w, scaled_h, x, y); 640x360 -> (398, 224, 87, 0), 360x640 -> (224, 398, 0, 87).
    """
    if height >= width:
        scaled_w, scaled_h = size, int(height * size / width)
    else:
        scaled_w, scaled_h = int(width * size / height), size
    return scaled_w, scaled_h, int((scaled_w - size) / 2), int((scaled_h - size) / 2)


def short_video_rate(rate: float, duration: Optional[float]) -> float:
    """The CLIP / BLIP-2 loaders' rule for very short videos (HERO `clip/` and Moment-DETR `VideoProcessor`):
    0 < duration < 1/rate + 0.1 -> 2 / max(int(duration), 1) fps (a 1.5-s video at 0.5 fps is read at 2 fps)."""
    if duration is not None and 0 < duration < 1 / rate + 0.1:
        return 2 / max(int(duration), 1)
    return rate


def _rate_fraction(rate) -> Fraction:
    """The output rate as FFmpeg's fps filter holds it (the option string goes through av_d2q(rate, 1001000))."""
    if isinstance(rate, (int, Fraction)):
        r = Fraction(rate)
    else:
        r = Fraction(float(rate)).limit_denominator(_MAX_RATE_DEN)
    if not r > 0:
        raise ValueError(f"frame rate must be positive, got {rate!r}")
    return r


def _round(x: Fraction) -> int:
    """Round half away from zero (FFmpeg's AV_ROUND_NEAR_INF, the fps filter's default rounding)."""
    return math.floor(x + Fraction(1, 2)) if x >= 0 else -math.floor(-x + Fraction(1, 2))


def _time(t) -> Fraction:
    return t if isinstance(t, Fraction) else Fraction(t)


class FrameSampler:
    """FFmpeg's fps filter slot rule applied to a stream of timestamped frames (timestamps in s, in decode order).

    Output slot k is the instant k / rate; an input frame at time t falls into slot round(t * rate) (round half away
    from zero). Two generations of `vf_fps.c`:

    - "modern" (FFmpeg >= 4.0, the 2018 `activate` rewrite; equal to PyAV's own fps filter graph): the first slot is
      the first frame's slot; slot k gets the LAST frame with round(t * rate) <= k (with two frames A, B buffered, A
      is dropped when B's slot <= k, else A is written to slot k); slots without a frame repeat the previous one;
      output stops before slot round(EOF * rate), EOF = end of the last frame.
    - "legacy" (FFmpeg 3.x, e.g. Ubuntu 18.04's 3.4): slots count from the first frame's time t0 and slot 0 is the
      first frame; a new frame with delta = round((t - t0) * rate - n) < 1 (n = slots written so far) is dropped and
      the buffered one kept; a frame with delta >= 1 writes the buffered frame delta times and is buffered itself.
      So slot k gets the FIRST frame of the latest non-empty slot <= k (when downsampling: slot k >= 1 = the first
      frame with round((t - t0) * rate) = k, at 0.5 fps on 30 fps t = 0, 1.0, 3.0, 5.0, ...); empty slots repeat
      the previous frame. At EOF the buffered frame is written once more, whatever the EOF time (a 150-s 30-fps
      video gives 76 frames at 0.5 fps, not 75). Unlike the C code the slot instants are not rounded to the input
      time base (identical unless a timestamp lies within half a tick of a half-slot boundary).

    Frames are opaque objects: push returns the frames whose slots are decided now, in slot order (one frame
    object per slot, repeated for repeated slots); at most one frame is held back.
    """

    def __init__(self, rate: float, rule: str = "modern"):
        if rule not in RULES:
            raise ValueError(f"frame rule must be one of {', '.join(RULES)}, got {rule!r}")
        self.rate = _rate_fraction(rate)
        self.rule = rule
        self._held = None        # the buffered frame (None before the first push and after finish)
        self._held_slot = 0      # modern: round(t * rate) of the buffered frame
        self._next = None        # modern: the next output slot; legacy: slots written so far
        self._t0 = None          # legacy: the first frame's time

    def push(self, t, frame) -> list:
        """Add the next decoded frame at time t (s); returns the frames whose output slots are decided now."""
        t = _time(t)
        if self.rule == "legacy":
            return self._push_legacy(t, frame)
        slot = _round(t * self.rate)
        if self._next is None:
            self._next = slot
        out = []
        if self._held is not None:
            while slot > self._next:
                out.append(self._held)
                self._next += 1
        self._held, self._held_slot = frame, slot
        return out

    def _push_legacy(self, t: Fraction, frame) -> list:
        if self._t0 is None:
            self._t0, self._next, self._held = t, 0, frame
            return []
        delta = _round((t - self._t0) * self.rate - self._next)
        if delta < 1:
            return []
        out = [self._held] * delta
        self._next += delta
        self._held = frame
        return out

    def finish(self, end_time) -> list:
        """End of stream at end_time (s) = the end of the last frame (its time + its duration); returns the
        remaining slots (modern: up to round(end_time * rate) - 1; legacy: the buffered frame once)."""
        if self._held is None:
            return []
        held, self._held = self._held, None
        if self.rule == "legacy":
            self._next += 1
            return [held]
        end_slot = _round(_time(end_time) * self.rate)
        out = []
        while self._next < end_slot:
            out.append(held)
            self._next += 1
        return out


def select_indices(timestamps, rate: float, end_time: float, rule: str = "modern") -> np.ndarray:
    """The slot rule of FrameSampler on a whole list of frame timestamps (s, decode order).

    Returns the selected frame positions in `timestamps`, one per output slot: int64 (n_slots,)."""
    sampler = FrameSampler(rate, rule)
    picked = []
    for i, t in enumerate(timestamps):
        picked += sampler.push(t, i)
    picked += sampler.finish(end_time)
    return np.asarray(picked, dtype=np.int64)


class _Source:
    """An open container, its first video stream and its probe values, checked against `limits` (the header's
    frame size and duration at once, the decoded frames' as they come)."""

    def __init__(self, path, limits: DecodeLimits = DEFAULT_LIMITS):
        self.path = str(path)
        self.limits = limits
        try:
            self.container = av.open(self.path)
        except (av.FFmpegError, OSError) as e:
            raise VideoError(path, f"cannot open ({e.strerror or e})") from None
        except (ValueError, UnicodeError, OverflowError, MemoryError) as e:  # PyAV on a damaged header
            raise VideoError(path, f"cannot open ({type(e).__name__}: {e})") from None
        try:
            self._probe()
        except BaseException:
            self.container.close()
            raise

    def _probe(self):
        c = self.container
        if not c.streams.video:
            raise VideoError(self.path, "no video stream")
        s = self.stream = c.streams.video[0]
        rate = s.average_rate or s.guessed_rate
        if not rate:
            raise VideoError(self.path, "the video stream has no frame rate")
        self.rate = Fraction(rate)
        if s.duration:
            duration = float(s.duration * s.time_base)
        elif c.duration:
            duration = c.duration / _AV_TIME_BASE
        else:
            duration = None
        self.start_us = c.start_time or 0
        ctx = s.codec_context
        if ctx is None:  # a codec id FFmpeg has no decoder for (a damaged header)
            raise VideoError(self.path, "the video stream's codec has no decoder")
        if ctx.width <= 0 or ctx.height <= 0:
            raise VideoError(self.path, "the video stream has no frame size (none declared, or one FFmpeg refuses)")
        self._check_size(ctx.width, ctx.height, "declares")
        if duration is not None and duration > self.limits.max_duration:
            raise VideoError(self.path, f"declares {duration:.0f} s of video, over the limit of "
                                        f"{self.limits.max_duration:g} s (--max_video_s)")
        stream_duration = float(s.duration * s.time_base) if s.duration and s.frames else None
        self.info = VideoInfo(path=self.path, width=ctx.width, height=ctx.height, avg_rate=float(self.rate),
                              fps=math.floor(self.rate), duration=duration, n_frames=s.frames or None,
                              start_time=self.start_us / _AV_TIME_BASE, clip_duration=stream_duration)

    def _check_size(self, width, height, verb):
        if width * height > self.limits.max_pixels:
            raise VideoError(self.path, f"{verb} {width}x{height} frames, over the limit of "
                                        f"{self.limits.max_pixels:.0f} pixels (--max_pixels)")

    def frames(self):
        """Yield (frame, t, duration) for the decoded frames in decode order (see _timed). VideoError for a frame
        past the frame-size limit, or one that ends more than max_duration after the first frame's time (a
        stream without a declared duration, a timestamp jump: the fps filter would repeat frames up to it)."""
        self.stream.thread_type = "AUTO"
        count, first = 0, None
        try:
            for frame, t, duration in _timed(self.container.decode(self.stream), self.rate, self.start_us,
                                             self.stream.time_base):
                self._check_size(frame.width, frame.height, f"decodes frame {count} as")
                first = t if first is None else first
                if t + duration - first > self.limits.max_duration:
                    raise VideoError(self.path, f"frame {count} ends {float(t + duration - first):.0f} s after the "
                                                f"first, over the limit of {self.limits.max_duration:g} s "
                                                f"(--max_video_s)")
                yield frame, t, duration
                count += 1
        except av.FFmpegError as e:
            raise VideoError(self.path, f"cannot decode frame {count} ({e.strerror or e})") from None
        except (ValueError, ZeroDivisionError, OverflowError, MemoryError) as e:  # PyAV on damaged frames / times
            raise VideoError(self.path, f"cannot decode frame {count} ({type(e).__name__}: {e})") from None
        if count == 0:
            raise VideoError(self.path, "no frames decoded")

    def close(self):
        self.container.close()


class _Clock:
    """Wall-clock seconds spent in a generator's own work (paused while its consumer runs), against a limit."""

    def __init__(self, path, limit: float):
        self.path, self.limit, self.spent = path, limit, 0.0
        self._since = time.perf_counter()

    def pause(self):
        """Count the time since the last resume; VideoError once past the limit."""
        now = time.perf_counter()
        self.spent += now - self._since
        self._since = now
        if self.spent > self.limit:
            raise VideoError(self.path, f"decoding took over the limit of {self.limit:g} s (--max_decode_s)")

    def resume(self):
        self._since = time.perf_counter()


def _timed(frames, rate: Fraction, start_us: int, stream_tb: Fraction):
    """Yield (frame, t, duration), t and duration in s (Fraction), for decoded frames in decode order.

    t = (pts - container start) * time_base, the container start rescaled to the time base as the ffmpeg CLI's
    ts_offset; a frame without pts falls back to its packet dts (FFmpeg's best-effort timestamp), then to
    index / avg_rate. duration = the frame's own, else 1 / avg_rate rounded to the time base (what the ffmpeg CLI
    gives a frame of unknown duration)."""
    offsets = {}
    for index, frame in enumerate(frames):
        tb = frame.time_base or stream_tb
        if tb not in offsets:
            offsets[tb] = _round(Fraction(start_us, _AV_TIME_BASE) / tb)
        ticks = frame.pts if frame.pts is not None else frame.dts
        t = Fraction(index) / rate if ticks is None else (ticks - offsets[tb]) * tb
        yield frame, t, (frame.duration or max(1, _round(1 / (rate * tb)))) * tb


def _front_end_graph(frame, geometry, size: int, rate: Optional[Fraction] = None):
    """buffer -> [fps] -> scale (bicubic) -> crop -> format rgb24 -> buffersink, for frames like `frame`."""
    scaled_w, scaled_h, x, y = geometry
    graph = av.filter.Graph()
    chain = [graph.add_buffer(width=frame.width, height=frame.height, format=frame.format.name,
                              time_base=frame.time_base or Fraction(1, _AV_TIME_BASE))]
    if rate is not None:
        chain.append(graph.add("fps", f"{rate.numerator}/{rate.denominator}"))
    chain += [graph.add("scale", f"{scaled_w}:{scaled_h}:flags=bicubic"), graph.add("crop", f"{size}:{size}:{x}:{y}"),
              graph.add("format", "rgb24"), graph.add("buffersink")]
    for a, b in zip(chain, chain[1:]):
        a.link_to(b)
    graph.configure()
    return graph


class _FrontEnd:
    """HERO's scale + centre crop + rgb24 through FFmpeg's own filters; one frame in, one (size, size, 3) uint8
    array out. The graph is rebuilt when the decoded frame size or pixel format changes mid-stream."""

    def __init__(self, info: VideoInfo, size: int):
        self.path = info.path
        self.geometry = front_end_geometry(info.width, info.height, size)
        self.size = size
        self._graph = None
        self._key = None

    def __call__(self, frame) -> np.ndarray:
        key = (frame.width, frame.height, frame.format.name, frame.time_base)
        try:
            if key != self._key:
                self._graph, self._key = _front_end_graph(frame, self.geometry, self.size), key
            self._graph.push(frame)
            rgb = self._graph.pull().to_ndarray()
        except av.FFmpegError as e:
            raise VideoError(self.path, f"cannot scale a {frame.width}x{frame.height} {frame.format.name} frame "
                                        f"({e.strerror or e})") from None
        rgb.flags.writeable = False
        return rgb


class _Decoded:
    """A decoded frame that is converted by the front end at most once, and only if some rate selects it."""
    __slots__ = ("frame", "rgb")

    def __init__(self, frame):
        self.frame, self.rgb = frame, None

    def pixels(self, front_end: _FrontEnd) -> np.ndarray:
        if self.rgb is None:
            self.rgb, self.frame = front_end(self.frame), None
        return self.rgb


def probe(path, limits: DecodeLimits = DEFAULT_LIMITS) -> VideoInfo:
    """Probe values of the first video stream (see VideoInfo). Raises VideoError, also when the header declares a
    frame size or duration past `limits`."""
    source = _Source(path, limits)
    source.close()
    return source.info


def sample_video(path, rates: dict, rule: str = "modern", size: int = 224, limits: DecodeLimits = DEFAULT_LIMITS):
    """Decode the video once (sequentially, no seeking) and yield (name, frame) for every output slot of every
    named rate (`rates`: name -> frames per second), in decode order: the slots of each name come in slot order,
    different names interleave as their slots are decided.

    frame: uint8 (size, size, 3) RGB, read-only, through HERO's front end (bicubic scale of the short side to
    `size`, centre crop; see front_end_geometry); a frame kept by several rates is the same array. Slots follow
    FrameSampler(rate, rule) on the frame timestamps, rebased by the container start time (variable frame rate is
    handled by the timestamps). Memory holds at most one decoded frame per rate.

    Raises VideoError when the file cannot be opened, has no video stream, decodes no frame, is too short to give
    one frame at some rate, or goes past `limits` (frame size, duration, decoding time: the time spent here, not
    the consumer's)."""
    samplers = {name: FrameSampler(rate, rule) for name, rate in rates.items()}
    counts = dict.fromkeys(rates, 0)
    clock = _Clock(path, limits.max_decode_s)
    source = _Source(path, limits)
    try:
        front_end = _FrontEnd(source.info, size)
        end = None
        for frame, t, duration in source.frames():
            decoded = _Decoded(frame)
            for name, sampler in samplers.items():
                for d in sampler.push(t, decoded):
                    counts[name] += 1
                    rgb = d.pixels(front_end)
                    clock.pause()
                    yield name, rgb
                    clock.resume()
            clock.pause()
            end = t + duration
        for name, sampler in samplers.items():
            for d in sampler.finish(end):
                counts[name] += 1
                yield name, d.pixels(front_end)
    finally:
        source.close()
    for name, n in counts.items():
        if n == 0:
            raise VideoError(path, f"too short: no frame at {float(rates[name]):g} fps ({name}) in "
                                   f"{float(end):.3f} s of video")


def decode(path, rates: dict, rule: str = "modern", size: int = 224, limits: DecodeLimits = DEFAULT_LIMITS) -> tuple:
    """sample_video collected: ({name: uint8 (N_name, size, size, 3)}, VideoInfo). Raises VideoError."""
    info = probe(path, limits)
    frames = {name: [] for name in rates}
    for name, frame in sample_video(path, rates, rule, size, limits):
        frames[name].append(frame)
    return {name: np.stack(f) for name, f in frames.items()}, info


def fps_graph_frames(path, rate: float, size: int = 224) -> np.ndarray:
    """The test oracle: PyAV's own FFmpeg graph buffer -> fps=rate -> scale -> crop -> format rgb24 -> buffersink
    fed with the decoded frames (timestamps rebased by the container start time and durations filled in as
    sample_video does, i.e. as the ffmpeg CLI does). Returns uint8 (N, size, size, 3)."""
    r = _rate_fraction(rate)
    source = _Source(path)
    out = []
    try:
        geometry = front_end_geometry(source.info.width, source.info.height, size)
        graph = None
        for frame, t, duration in source.frames():
            tb = frame.time_base or source.stream.time_base
            frame.time_base = tb
            frame.pts = _round(t / tb)
            frame.duration = _round(duration / tb)
            if graph is None:
                graph = _front_end_graph(frame, geometry, size, r)
            graph.push(frame)
            out += _drain(graph)
        graph.push(None)
        out += _drain(graph)
    finally:
        source.close()
    return np.stack(out) if out else np.zeros((0, size, size, 3), np.uint8)


def _drain(graph) -> list:
    frames = []
    while True:
        try:
            frames.append(graph.pull().to_ndarray())
        except (av.BlockingIOError, av.EOFError):
            return frames
