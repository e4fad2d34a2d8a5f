"""video_lights.features.decode on synthetic videos whose brightness encodes the frame index (synthetic_videos.py).

The "modern" slot rule must pick exactly the frames (and pixels) of PyAV's own FFmpeg fps filter graph; the "legacy"
rule (FFmpeg 3.x, which PyAV cannot run) must give the lists derived by hand from the old vf_fps.c below.
"""
import gc
import pickle
import weakref
from fractions import Fraction
from types import SimpleNamespace

import numpy as np
import pytest

av = pytest.importorskip("av")

from synthetic_videos import frame_index, index_luma, make_video, write_luma_video  # noqa: E402
from video_lights.features.decode import (FrameSampler, VideoError, _timed, decode, fps_graph_frames,  # noqa: E402
                                          front_end_geometry, probe, sample_video, select_indices,
                                          short_video_rate)
from video_lights.utils.cli import UserError  # noqa: E402

VFR_TIMES = [0, 0.04, 0.1, 0.35, 0.36, 0.9, 1.0, 1.6, 2.5, 2.55, 3.7, 3.71, 3.72, 4.9]
CASES = {   # name -> make_video arguments
    "30fps_8.5s": dict(fps=30, duration=8.5),
    "29.97fps_5.5s": dict(fps=29.97, duration=5.5),
    "25fps_5s": dict(fps=25, duration=5.0),
    "24fps_5s": dict(fps=24, duration=5.0),
    "60fps_5.5s": dict(fps=60, duration=5.5),
    "vfr": dict(timestamps=VFR_TIMES),
    "start_1.234s": dict(fps=30, duration=5.0, start_time=1.234),
    "x264_30fps_5s": dict(fps=30, duration=5.0, codec="libx264"),
    "x264_29.97fps_start": dict(fps=29.97, duration=5.0, codec="libx264", start_time=0.5),
    "portrait_1.5s": dict(fps=30, duration=1.5, size=(180, 320)),
}
RATES = {"half": 0.5, "one": 1, "two": 2, "sf": 30}


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """videos(name) -> path of the CASES video, encoded on first use."""
    folder = tmp_path_factory.mktemp("videos")
    made = {}

    def get(name):
        if name not in made:
            kw = CASES[name]
            made[name] = make_video(folder / (name + (".mp4" if kw.get("codec") == "libx264" else ".mkv")), **kw)
        return made[name]
    return get


def indices(frames):
    return [frame_index(f) for f in frames]


# ---------------------------------------------------------------------------------------------- pure rules

@pytest.mark.parametrize("size, expected", [
    ((640, 360), (398, 224, 87, 0)), ((360, 640), (224, 398, 0, 87)), ((320, 180), (398, 224, 87, 0)),
    ((1280, 720), (398, 224, 87, 0)), ((224, 224), (224, 224, 0, 0)), ((480, 360), (298, 224, 37, 0)),
    ((500, 360), (311, 224, 43, 0)), ((360, 500), (224, 311, 0, 43))])
def test_front_end_geometry(size, expected):
    assert front_end_geometry(*size) == expected


def test_short_video_rate():
    assert short_video_rate(0.5, 1.5) == 2.0          # a 1.5-s video at "0.5 fps" is read at 2 fps
    assert short_video_rate(0.5, 2.05) == 1.0         # 2.05 < 2.1 -> 2 / int(2.05)
    assert short_video_rate(1, 0.5) == 2.0            # int(0.5) = 0 -> 2 / 1
    assert short_video_rate(0.5, 2.1) == 0.5
    assert short_video_rate(0.5, 150.0) == 0.5
    assert short_video_rate(0.5, None) == 0.5 and short_video_rate(0.5, 0.0) == 0.5


def test_rules_on_a_150s_video():
    """Modern: slot k = last frame before t = 2k + 1 (frames 29, 89, ...), 75 rows; legacy: t = 0, 1, 3, 5, ...
    and the buffered frame flushed at EOF: 76 rows."""
    times = [Fraction(i, 30) for i in range(4500)]
    modern = select_indices(times, 0.5, 150)
    legacy = select_indices(times, 0.5, 150, rule="legacy")
    assert modern.dtype == np.int64 and modern.tolist() == [60 * k + 29 for k in range(75)]
    assert legacy.tolist() == [0] + [30 * (2 * k - 1) for k in range(1, 76)]


def test_rules_60_to_30_fps():
    """60 -> 30 fps: modern keeps even frames, legacy 0 then odd frames (+ the EOF flush)."""
    times = [Fraction(i, 60) for i in range(330)]
    assert select_indices(times, 30, 5.5).tolist() == list(range(0, 330, 2))
    assert select_indices(times, 30, 5.5, rule="legacy").tolist() == [0] + list(range(1, 330, 2))


def test_rules_25_to_30_fps():
    """25 -> 30 fps repeats one frame in five; no slot holds two frames, so both rules agree (slot of frame i =
    round(1.2 i): 0 1 2 4 5 6 7 8 10 ..., and an empty slot repeats the previous frame)."""
    times = [Fraction(i, 25) for i in range(25)]
    expected = [0, 1, 2, 2, 3, 4, 5, 6, 7, 7, 8, 9, 10, 11, 12, 12, 13, 14, 15, 16, 17, 17, 18, 19, 20, 21, 22, 22,
                23, 24]
    assert select_indices(times, 30, 1).tolist() == expected
    assert select_indices(times, 30, 1, rule="legacy").tolist() == expected


def test_modern_end_of_stream():
    """Output stops before slot round(EOF * rate), EOF = end of the last frame (round half away from zero)."""
    times = [Fraction(i, 30) for i in range(255)]            # 8.5 s
    assert len(select_indices(times, 0.5, 8.5)) == 4         # round(4.25)
    assert len(select_indices(times, 1, 8.5)) == 9           # round(8.5) = 9
    assert len(select_indices(times, 1, 8.49)) == 8
    assert len(select_indices(times[:1], 0.5, 1 / 30)) == 0  # one frame: nothing at 0.5 fps
    assert select_indices([0.0, 0.1], 1, 3.0).tolist() == [1, 1, 1]   # the last frame repeats up to EOF


def test_sampler_holds_at_most_one_frame():
    class Frame:
        pass
    for rule in ("modern", "legacy"):
        sampler = FrameSampler(0.5, rule)
        refs = []
        for i in range(300):
            frame = Frame()
            refs.append(weakref.ref(frame))
            sampler.push(i / 30, frame)
            del frame
        gc.collect()
        assert sum(r() is not None for r in refs) == 1, rule


def test_sampler_rejects_bad_arguments():
    with pytest.raises(ValueError, match="frame rule"):
        FrameSampler(1, "ffmpeg3")
    with pytest.raises(ValueError, match="positive"):
        FrameSampler(0)


def test_timestamps_fallbacks():
    """pts, rebased by the container start; no pts -> dts; neither -> index / avg_rate; no duration -> 1/avg_rate
    rounded to the time base."""
    tb = Fraction(1, 1000)
    frames = [SimpleNamespace(pts=1500, dts=1500, duration=40, time_base=tb),
              SimpleNamespace(pts=None, dts=1540, duration=0, time_base=tb),
              SimpleNamespace(pts=None, dts=None, duration=0, time_base=None)]
    out = list(_timed(frames, Fraction(25), start_us=1_500_000, stream_tb=tb))
    assert [(t, d) for _, t, d in out] == [(0, Fraction(40, 1000)), (Fraction(40, 1000), Fraction(40, 1000)),
                                           (Fraction(2, 25), Fraction(40, 1000))]
    out = list(_timed(frames[1:2], Fraction(30000, 1001), start_us=0, stream_tb=tb))
    assert out[0][2] == Fraction(33, 1000)


# ---------------------------------------------------------------------------------------------- real videos

@pytest.mark.parametrize("case", list(CASES))
def test_modern_rule_equals_fps_filter_graph(videos, case):
    """One decode for all rates == PyAV's fps filter graph at each rate: same frames and identical pixels."""
    path = videos(case)
    frames, _ = decode(path, RATES)
    for name, rate in RATES.items():
        oracle = fps_graph_frames(path, rate)
        assert indices(frames[name]) == indices(oracle), (case, rate)
        assert frames[name].shape == oracle.shape and np.array_equal(frames[name], oracle), (case, rate)


def test_modern_known_lists(videos):
    frames, _ = decode(videos("30fps_8.5s"), RATES)
    assert indices(frames["half"]) == [29, 89, 149, 209]                # t = 0.967, 2.967, ...; 4 rows for 8.5 s
    assert indices(frames["one"]) == [14 + 30 * k for k in range(9)]    # 9 rows for 8.5 s
    assert indices(frames["sf"]) == list(range(255))                    # 30 -> 30 fps is the identity
    frames, _ = decode(videos("25fps_5s"), {"sf": 30})
    assert indices(frames["sf"])[:12] == [0, 1, 2, 2, 3, 4, 5, 6, 7, 7, 8, 9] and len(frames["sf"]) == 150
    for case in ("start_1.234s", "x264_30fps_5s", "x264_29.97fps_start"):    # start times are rebased away
        frames, _ = decode(videos(case), {"half": 0.5})
        assert indices(frames["half"]) == [29, 89, 149], case


def test_legacy_rule_hand_derived(videos):
    """Old vf_fps.c on the real files: slot 0 = frame 0, then the first frame at or after (k - 0.5) / rate,
    and the buffered frame once more at EOF."""
    frames, _ = decode(videos("30fps_8.5s"), RATES, rule="legacy")
    assert indices(frames["half"]) == [0, 30, 90, 150, 210]
    assert indices(frames["one"]) == [0, 15, 45, 75, 105, 135, 165, 195, 225]
    assert indices(frames["sf"]) == list(range(255))
    for case in ("start_1.234s", "x264_30fps_5s", "x264_29.97fps_start"):
        frames, _ = decode(videos(case), {"half": 0.5}, rule="legacy")
        assert indices(frames["half"]) == [0, 30, 90], case


def test_variable_frame_rate_hand_derived(videos):
    """VFR frame times (s): 0 .04 .1 .35 .36 .9 1.0 1.6 2.5 2.55 3.7 3.71 3.72 4.9, slot = round(t * rate).
    Modern: the last frame of the latest non-empty slot <= k, up to round(EOF * rate); legacy: the first frame of
    it, plus the buffered frame once more at EOF. At 2 fps the slots are 0 0 0 1 1 2 2 3 5 5 7 7 7 10."""
    path = videos("vfr")
    modern, _ = decode(path, RATES)
    legacy, _ = decode(path, RATES, rule="legacy")
    assert indices(modern["half"]) == [5, 9]
    assert indices(modern["one"]) == [4, 6, 7, 9, 12]
    assert indices(modern["two"]) == [2, 4, 6, 7, 7, 9, 9, 12, 12, 12]     # gaps repeat the previous frame
    assert indices(legacy["half"]) == [0, 6, 10]                              # t = 1.0 -> round(0.5) = 1
    assert indices(legacy["one"]) == [0, 5, 7, 8, 10, 13]
    assert indices(legacy["two"]) == [0, 3, 5, 7, 7, 8, 8, 10, 10, 10, 13]


def test_short_video_rule_on_a_short_video(videos):
    path = videos("portrait_1.5s")
    info = probe(path)
    rate = short_video_rate(0.5, info.duration)
    assert rate == 2.0
    frames, _ = decode(path, {"clip": rate})
    assert indices(frames["clip"]) == [7, 22, 37] == indices(fps_graph_frames(path, rate))


def test_sample_video_streams_once(videos):
    """A generator in decode order; a frame kept by two rates is one read-only array."""
    stream = sample_video(videos("30fps_8.5s"), {"sf": 30, "clip": 0.5})
    items = list(stream)
    assert [n for n, _ in items].count("clip") == 4 and [n for n, _ in items].count("sf") == 255
    sf = [f for n, f in items if n == "sf"]
    clip = [(i, f) for i, (n, f) in enumerate(items) if n == "clip"]
    for position, frame in clip:
        assert frame is sf[frame_index(frame)]
        first = next(i for i, (_, f) in enumerate(items) if f is frame)
        assert items[first][0] == "sf" and first < position     # 30 fps decides a slot sooner than 0.5 fps
    assert all(f.shape == (224, 224, 3) and f.dtype == np.uint8 and not f.flags.writeable for f in sf)
    assert [frame_index(f) for f in sf] == list(range(255))


def test_probe(videos):
    info = probe(videos("x264_29.97fps_start"))
    assert (info.width, info.height, info.fps, info.n_frames) == (320, 180, 29, 150)
    assert info.avg_rate == pytest.approx(30000 / 1001) and info.duration == pytest.approx(5.005)
    assert info.start_time == pytest.approx(0.5, abs=1e-3)
    info = probe(videos("29.97fps_5.5s"))      # Matroska: no stream duration or frame count -> the container's
    assert info.n_frames is None and info.duration == pytest.approx(165 * 1001 / 30000, abs=2e-3)
    info = probe(videos("portrait_1.5s"))
    assert (info.width, info.height, info.fps, info.start_time) == (180, 320, 30, 0.0)


@pytest.mark.parametrize("size", [(640, 360), (360, 640)])
def test_geometry_marker(tmp_path, size):
    """A 4x4 marker lands where HERO's scale + centre crop puts it (landscape x offset 87, portrait y offset 87)."""
    w, h = size
    x0, y0 = (300, 150) if w > h else (150, 300)
    luma = np.full((h, w), 60, np.uint8)
    luma[y0:y0 + 4, x0:x0 + 4] = 200
    path = write_luma_video(tmp_path / "marker.mkv", [luma, luma])
    frame = decode(path, {"sf": 30})[0]["sf"][0]
    assert frame.shape == (224, 224, 3)
    grey = frame.astype(float).mean(-1)
    mass = np.clip(grey - np.median(grey), 0, None)
    rows, cols = np.indices(grey.shape)
    scaled_w, scaled_h, x, y = front_end_geometry(w, h)
    assert (scaled_w, scaled_h, x, y) == ((398, 224, 87, 0) if w > h else (224, 398, 0, 87))
    expected_col = (x0 + 2) * scaled_w / w - 0.5 - x       # pixel centres, after scaling and cropping
    expected_row = (y0 + 2) * scaled_h / h - 0.5 - y
    assert (mass * cols).sum() / mass.sum() == pytest.approx(expected_col, abs=0.15)
    assert (mass * rows).sum() / mass.sum() == pytest.approx(expected_row, abs=0.15)


def test_index_frames_survive_the_front_end(videos):
    for case in ("x264_30fps_5s", "portrait_1.5s"):
        frames, _ = decode(videos(case), {"sf": 30})
        assert indices(frames["sf"]) == list(range(len(frames["sf"])))
    with pytest.raises(ValueError):     # a blend of two index frames is refused, not misread
        frame_index((index_luma(3).astype(int) + index_luma(4)) // 2)


# ---------------------------------------------------------------------------------------------- errors

def _expect_error(path, reason, **kw):
    with pytest.raises(VideoError) as e:
        decode(path, kw.pop("rates", {"clip": 0.5}), **kw)
    assert isinstance(e.value, UserError)
    assert str(e.value).startswith(f"{path}: ") and reason in str(e.value), str(e.value)
    return e.value


def test_unreadable_files(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    _expect_error(str(text), "cannot open")
    _expect_error(str(tmp_path / "missing.mp4"), "cannot open")
    with pytest.raises(VideoError, match="cannot open"):
        probe(text)


def test_no_video_stream(tmp_path):
    path = str(tmp_path / "audio.wav")
    with av.open(path, "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate, frame.pts = 8000, 0
        for packet in list(stream.encode(frame)) + list(stream.encode()):
            container.mux(packet)
    _expect_error(path, "no video stream")


def test_no_frames_decoded(tmp_path, videos):
    data = open(videos("30fps_8.5s"), "rb").read()
    path = tmp_path / "header_only.mkv"
    path.write_bytes(data[:data.index(b"\x1f\x43\xb6\x75") + 4])    # cut at the first Matroska cluster
    _expect_error(str(path), "no frames decoded")


def test_too_short(tmp_path):
    path = write_luma_video(tmp_path / "one_frame.mkv", [index_luma(0)])
    err = _expect_error(path, "too short")
    assert pickle.loads(pickle.dumps(err)).args == err.args
    assert decode(path, {"sf": 30})[0]["sf"].shape == (1, 224, 224, 3)
