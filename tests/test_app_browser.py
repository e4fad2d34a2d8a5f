"""The web demo (video_lights.app): its pieces offline, and the whole page in a real browser.

The browser test starts the app on a free 127.0.0.1 port with tiny random extractor weights and a small untrained
checkpoint, drives Debian's Chromium (/usr/bin/chromium, or $VIDEOLIGHTS_CHROMIUM) with PyPI Playwright (no
browser download), refuses a non-video and an oversized upload with messages in the page, uploads a synthetic
video, runs two queries, checks the rendered table against the predictor's own answer, clicks a row and checks the
player's position, and saves a screenshot into the test's temporary folder. Nothing leaves 127.0.0.1: every
browser request and every connection the app's process opens is checked. It skips, saying why, where Gradio,
Playwright or Chromium is absent (`pip install -e .[demo,browser]`; `apt-get install -y --no-install-recommends
chromium`; scripts/test.sh does both where it can).
"""
import contextlib
import os
import socket
import sys

import numpy as np
import pytest

from video_lights.app.queries import parse_queries
from video_lights.app.results import format_time, moment_rows, parse_time, seek_time
from video_lights.utils.cli import UserError

sys.path.insert(0, os.path.dirname(__file__))
CHROMIUM = os.environ.get("VIDEOLIGHTS_CHROMIUM", "/usr/bin/chromium")
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
QUERIES = ["a man cooks in the kitchen", "a dog runs on the beach"]
TOP_K = 3
MAX_UPLOAD_MB = 1


# --- the pieces, without a browser ---------------------------------------------------------------------------
def test_queries_one_per_line():
    assert parse_queries("  a man  cooks \n\n a dog runs\na man cooks\n") == ["a man cooks", "a dog runs"]
    for text, reason in (("", "at least one"), (" \n \n", "at least one"), ("a\nb\nc", "at most 2"),
                         ("x" * 501, "longer than 500")):
        with pytest.raises(UserError, match=reason):
            parse_queries(text, max_queries=2)


def test_times_are_h_mm_ss_and_rows_seek_to_their_start():
    assert [format_time(t) for t in (0, 9.14, 59.96, 3725.25, -1)] == \
        ["0:00:00.0", "0:00:09.1", "0:01:00.0", "1:02:05.2", "0:00:00.0"]
    assert parse_time("1:02:05.2") == pytest.approx(3725.2) and parse_time("09.5") == 9.5
    with pytest.raises(ValueError):
        parse_time("a:b")

    class P:  # the fields of video_lights.predict.Prediction that the table reads
        query, windows = "q", [[4.0, 10.0, 0.91], [0.0, 2.0, 0.5], [20.0, 22.0, 0.1]]
    rows = moment_rows([P()], top_k=2)
    assert rows == [["q", 1, "0:00:04.0", "0:00:10.0", 0.91], ["q", 2, "0:00:00.0", "0:00:02.0", 0.5]]
    assert seek_time(rows[0]) == 4.0


def test_uploads_that_are_not_videos_or_too_large_are_refused(tmp_path):
    pytest.importorskip("av", reason="reading videos needs the video extra (pip install -e .[video])")
    from synthetic_videos import make_video

    from video_lights.app.uploads import check_upload
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    with pytest.raises(UserError, match=r"^notes.mp4: not a video this app can read \(cannot open"):
        check_upload(text, 1)
    big = tmp_path / "big.mp4"
    big.write_bytes(b"\0" * (2 * 1024 * 1024))
    with pytest.raises(UserError, match=r"^big.mp4: 2.0 MB is over the upload limit of 1.5 MB"):
        check_upload(big, 1.5)
    with pytest.raises(UserError, match="missing"):
        check_upload(tmp_path / "gone.mp4", 1)
    info = check_upload(make_video(tmp_path / "v.mp4", fps=10, duration=3, codec="libx264"), 1)
    assert info.duration == pytest.approx(3, abs=0.2)


def test_command_line_errors_are_one_line(tmp_path, capsys):
    from video_lights.app.__main__ import main
    assert main(["--checkpoint", "x.ckpt", "--max_upload_mb", "0"]) == 2
    assert capsys.readouterr().err == "error: --max_upload_mb 0: must be positive (see --help)\n"
    for module, extra in (("gradio", "demo"), ("av", "video"), ("transformers", "video")):
        pytest.importorskip(module, reason=f"the web demo needs the {extra} extra (pip install -e .[{extra}])")
    assert main(["--checkpoint", "x.ckpt", "--examples", str(tmp_path / "nope.mp4")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nope.mp4: no such example video" in err and err.count("\n") == 1
    assert main(["--checkpoint", str(tmp_path / "missing.ckpt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "missing.ckpt" in err and err.count("\n") == 1


# --- the page in a real browser ------------------------------------------------------------------------------
def _browser_skip_reason():
    for module, extra in (("gradio", "demo"), ("playwright.sync_api", "browser"), ("av", "video"),
                          ("transformers", "video")):
        try:
            __import__(module)
        except ImportError:
            return f"{module.split('.')[0]} is not installed (pip install -e .[{extra}])"
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"no Chromium at {CHROMIUM} (apt-get install -y --no-install-recommends chromium)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _only_loopback(monkeypatch):
    """Record every connection or name lookup of this process (the app's server threads included) that is not
    for the loopback interface."""
    outside = []
    connect, getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def guarded_connect(self, address):
        if isinstance(address, tuple) and address[0] not in LOOPBACK:
            outside.append(("connect", address))
        return connect(self, address)

    def guarded_getaddrinfo(host, *args, **kwargs):
        if host not in LOOPBACK and host is not None:
            outside.append(("getaddrinfo", host))
        return getaddrinfo(host, *args, **kwargs)
    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    yield outside


def _tiny_predictor(root):
    """A Predictor of tiny random SlowFast / CLIP / BLIP-2 weights and an untrained small VideoLights whose input
    widths fit them (VideoLights-B's feature set: SlowFast + CLIP + BLIP-2 video, CLIP + BLIP-2 text)."""
    from video_lights import build_model, parse_args
    from video_lights.features import blip2, clip, slowfast
    from video_lights.features.pipeline import Extractors
    from video_lights.model.checkpoint import save_checkpoint
    from video_lights.predict import Predictor
    weights = dict(slowfast=slowfast.save_tiny_random(root / "slowfast.safetensors"),
                   clip=clip.save_tiny_random(root / "clip"), blip2=blip2.save_tiny_random(root / "blip2"))
    ex = Extractors.load(["slowfast", "clip", "blip2"], **weights)
    v_dim = ex.slowfast.feature_dim + ex.clip.image_dim + ex.blip2.image_dim
    t_dim = ex.clip.text_dim + ex.blip2.text_dim
    opt = parse_args(["--preset", "qvhl", "--device", "cpu", "--v_feat_dim", str(v_dim), "--t_feat_dim", str(t_dim),
                      "--hidden_dim", "32", "--dim_feedforward", "64", "--enc_layers", "1", "--dec_layers", "1",
                      "--results_root", str(root / "results")])
    save_checkpoint(root / "tiny.ckpt", build_model(opt), opt=opt)
    return Predictor.from_checkpoint(str(root / "tiny.ckpt"), **weights)


def test_the_page_in_a_real_browser(tmp_path, monkeypatch):
    reason = _browser_skip_reason()
    if reason:
        pytest.skip(reason)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from playwright.sync_api import expect, sync_playwright
    from synthetic_videos import make_video

    from video_lights.app.server import serve
    predictor = _tiny_predictor(tmp_path)
    video = make_video(tmp_path / "kitchen.mp4", fps=10, duration=12, size=(320, 180), codec="libx264")
    (tmp_path / "notes.mp4").write_text("not a video\n")
    (tmp_path / "huge.mp4").write_bytes(os.urandom(int(1.5 * MAX_UPLOAD_MB * 1024 * 1024)))
    expected = moment_rows(predictor.predict(video, QUERIES, top_k=TOP_K), TOP_K)
    port = _free_port()
    requests = []
    with _only_loopback(monkeypatch) as outside:
        running = serve(predictor, port=port, max_upload_mb=MAX_UPLOAD_MB, top_k=TOP_K, quiet=True)
        try:
            assert running.url.startswith(f"http://127.0.0.1:{port}")
            with sync_playwright() as pw:
                home = {k: str(tmp_path / "chromium" / k) for k in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME")}
                browser = pw.chromium.launch(executable_path=CHROMIUM, env={**os.environ, **home},
                                             args=["--no-sandbox", "--disable-background-networking"])
                page = browser.new_page(viewport={"width": 1200, "height": 1300})
                page.set_default_timeout(30_000)
                page.on("request", lambda r: requests.append(r.url))
                page.goto(running.url)
                upload = page.locator("#vl-player input[type=file]")
                status = page.locator("#vl-status")

                upload.set_input_files(str(tmp_path / "notes.mp4"))          # refused by the app
                expect(status).to_contain_text("notes.mp4: not a video this app can read")
                upload.set_input_files(str(tmp_path / "huge.mp4"))           # refused before it is sent
                expect(page.get_by_text("exceed the maximum allowed size")).to_be_visible()

                upload.set_input_files(video)
                expect(status).to_contain_text("kitchen.mp4: 0:00:12.0, 320x180")
                page.locator("#vl-queries textarea").fill("\n".join(QUERIES))
                page.locator("#vl-run").click()
                expect(status).to_contain_text(f"{len(expected)} moments for 2 queries")

                table = page.locator("#vl-moments [role=grid]")         # Gradio 6's ARIA grid
                headers = [h.strip() for h in table.locator("[role=columnheader]").all_inner_texts()]
                assert headers == ["query", "rank", "start", "end", "score"]
                rows = table.locator("[role=row][data-index]")
                expect(rows).to_have_count(len(expected))
                shown = [[c.strip() for c in rows.nth(i).locator("[role=gridcell]").all_inner_texts()]
                         for i in range(len(expected))]
                assert shown == [[str(c) for c in row] for row in expected]
                assert all(0 <= parse_time(r[2]) < parse_time(r[3]) <= 12.05 for r in shown)
                expect(page.locator("#vl-keyframes img")).to_have_count(len(expected))
                expect(page.locator("#vl-plot img")).to_have_count(1)

                pick = max(range(len(shown)), key=lambda i: parse_time(shown[i][2]))   # the latest start
                rows.nth(pick).locator("[role=gridcell]").nth(2).click()
                page.wait_for_function(
                    "t => Math.abs(document.querySelector('#vl-player video').currentTime - t) < 0.15",
                    arg=parse_time(shown[pick][2]))
                src = page.evaluate("() => document.querySelector('#vl-player video').src")
                assert f"/file={os.path.realpath(running.temp_dir)}/" in src    # the upload lives in its folder
                page.screenshot(path=str(tmp_path / "app.png"), full_page=True)
                browser.close()
        finally:
            running.close()
    assert os.path.getsize(tmp_path / "app.png") > 10_000
    hosts = {u.split("/")[2] for u in requests if u.startswith(("http:", "https:", "ws:", "wss:"))}
    assert hosts == {f"127.0.0.1:{port}"}
    assert outside == []
    assert not os.path.exists(running.temp_dir)
    with socket.socket() as s:  # the port is free again: nothing listens on it (the browser's closed
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # connections may linger in TIME_WAIT under
        s.bind(("127.0.0.1", port))                              # load; a listening socket still refuses this)
    assert np.isfinite([r[4] for r in expected]).all()
