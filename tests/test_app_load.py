"""The web demo under load, on 127.0.0.1: requests beyond --concurrency + --max_queue get a busy answer (never an
error), the others their result, even when their upload is removed while they wait; the temporary files of
answered requests are removed after keep_files_s; links and files outside the upload folder are refused by name;
the decoding limits reach the page's upload check. scripts/bench_app_load.py measures the same app under 8 clients.

The app runs in this process with tiny random extractors and an untrained small checkpoint (test_app_browser's
_tiny_predictor); its predictor holds every request until the test has seen the busy answers, so which requests
are turned away does not depend on timing."""
import os
import sys
import threading
import time

import pytest

for _module, _extra in (("gradio", "demo"), ("gradio_client", "demo"), ("av", "video"), ("transformers", "video")):
    pytest.importorskip(_module, reason=f"the web demo needs {_module} (pip install -e .[{_extra}])")

sys.path.insert(0, os.path.dirname(__file__))
from synthetic_videos import make_video  # noqa: E402
from test_app_browser import _free_port, _tiny_predictor  # noqa: E402

QUERIES = "a man cooks in the kitchen\na dog runs on the beach"
REQUESTS = 4


class HeldPredictor:
    """A predictor whose predict() waits for `release` first (at most 60 s)."""

    def __init__(self, predictor):
        self.predictor, self.release = predictor, threading.Event()

    def predict(self, *args, **kwargs):
        self.release.wait(60)
        return self.predictor.predict(*args, **kwargs)


def _files(folder) -> list:
    return [os.path.join(d, n) for d, _, names in os.walk(folder) for n in names]


def _send(url, video, downloads, answers, i):
    """One client's request: its status line, or the exception it raised."""
    from gradio_client import Client, handle_file
    try:
        client = Client(url, verbose=False, download_files=downloads)
        answers[i] = client.predict(handle_file(video), QUERIES, api_name="/on_run")[-1]
    except Exception as e:   # noqa: BLE001 - the test reports any failure
        answers[i] = e


def test_gate_admits_concurrency_plus_max_queue_and_turns_away_the_rest():
    from video_lights.app.ui import Busy, RequestGate
    gate = RequestGate(concurrency=1, max_queue=1)
    release, waited, answers = threading.Event(), [], []
    first = threading.Thread(target=lambda: answers.append(gate.run(lambda: release.wait(10) and "first")))
    second = threading.Thread(target=lambda: answers.append(gate.run(lambda: "second", on_wait=waited.append)))
    first.start()
    while gate.admitted < 1:
        time.sleep(0.01)
    second.start()
    while gate.admitted < 2:
        time.sleep(0.01)
    with pytest.raises(Busy, match=r"^\*\*busy:\*\* 2 requests are running or waiting; try again in a minute$"):
        gate.run(lambda: "third")
    release.set()
    first.join(10)
    second.join(10)
    assert sorted(answers) == ["first", "second"] and waited == [1] and gate.admitted == 0
    assert gate.run(lambda: "again") == "again"     # the places are free again
    with pytest.raises(ZeroDivisionError):           # the work's own errors reach the request
        gate.run(lambda: 1 / 0)
    assert gate.admitted == 0


def test_a_held_upload_outlives_its_removal_until_its_last_reader_is_done(tmp_path):
    from video_lights.app.ui import HeldUploads
    held = HeldUploads(str(tmp_path / "in_flight"))
    upload = tmp_path / "abc" / "clip.mp4"
    upload.parent.mkdir()
    upload.write_bytes(b"video bytes")
    with held.hold(upload) as first:
        with held.hold(upload) as second:      # a second request on the same upload reads the same link
            assert first == second != str(upload) and os.path.basename(first) == "clip.mp4"
            os.remove(upload)                  # what Gradio's delete_cache does once the upload is old enough
            with open(second, "rb") as f:
                assert f.read() == b"video bytes"
        assert os.path.isfile(first)           # the first request still reads it
    assert _files(tmp_path) == [] and os.listdir(tmp_path / "in_flight") == []
    with held.hold(tmp_path / "gone.mp4") as path:   # nothing to hold: the path itself (check_upload answers)
        assert path == str(tmp_path / "gone.mp4")


def test_links_and_files_outside_the_upload_folder_are_refused_by_name_unread(tmp_path, monkeypatch):
    from video_lights.app import uploads
    from video_lights.utils.cli import UserError
    folder, elsewhere = tmp_path / "uploads", tmp_path / "elsewhere"
    folder.mkdir()
    elsewhere.mkdir()
    video = make_video(folder / "ok.mp4", fps=10, duration=2, size=(160, 90), codec="libx264")
    example = make_video(elsewhere / "example.mp4", fps=10, duration=2, size=(160, 90), codec="libx264")
    (folder / "link.mp4").symlink_to(example)
    (folder / "to_dev_zero.mp4").symlink_to("/dev/zero")
    (folder / "dir_link").symlink_to(elsewhere, target_is_directory=True)
    (elsewhere / "secret.mp4").write_bytes(b"not for the page")
    roots = [str(folder), example]
    assert uploads.check_upload(video, 1, roots=roots).width == 160
    assert uploads.check_upload(example, 1, roots=roots).width == 160      # an example of --examples
    read = []
    monkeypatch.setattr(uploads, "probe", lambda *a, **k: read.append(a))
    monkeypatch.setattr(uploads.os.path, "getsize", lambda *a: read.append(a))
    for path, name in ((folder / "link.mp4", "link.mp4"), (folder / "to_dev_zero.mp4", "to_dev_zero.mp4"),
                       (folder / "dir_link" / "secret.mp4", "secret.mp4"), (folder / ".." / "x.mp4", "x.mp4"),
                       (tmp_path / "elsewhere" / "other.mp4", "other.mp4")):
        with pytest.raises(UserError, match=rf"^{name}: not a file uploaded to this page$"):
            uploads.check_upload(path, 1, roots=roots)
    assert read == []          # refused before its size or its header was read


def test_a_video_past_a_decoding_limit_gets_the_pages_one_line_error(tmp_path, capsys):
    from video_lights.app.__main__ import main
    from video_lights.app.uploads import check_upload
    from video_lights.features.limits import DecodeLimits
    from video_lights.utils.cli import UserError
    video = make_video(tmp_path / "wide.mp4", fps=10, duration=2, size=(160, 90), codec="libx264")
    with pytest.raises(UserError, match=r"^wide.mp4: not a video this app can read \(declares 160x90 frames, over "
                                        r"the limit of 10000 pixels \(--max_pixels\)\)$"):
        check_upload(video, 1, DecodeLimits(max_pixels=10_000))
    assert main(["--checkpoint", "x.ckpt", "--max_video_s", "0"]) == 2
    assert capsys.readouterr().err == "error: --max_video_s 0: must be positive\n"
    assert main(["--checkpoint", "x.ckpt", "--examples", video, "--max_video_s", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "wide.mp4" in err and "--max_video_s" in err and err.count("\n") == 1


def test_concurrent_requests_get_results_or_busy_and_leave_no_files(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from video_lights.app.server import serve
    held = HeldPredictor(_tiny_predictor(tmp_path))
    videos = [make_video(tmp_path / f"v{i}.mp4", fps=10, duration=3 + 0.5 * i, size=(160, 90), codec="libx264")
              for i in range(REQUESTS)]
    running = serve(held, port=_free_port(), top_k=3, quiet=True, concurrency=1, max_queue=1, keep_files_s=3)
    # keep_files_s 3, not 1: on a loaded CPU an upload of 1 s was removed before its request copied it (1 of 1 runs
    # beside a matrix-product loop failed "the upload is missing"; 3 of 3 passed with 3 s)
    try:
        answers = [None] * REQUESTS
        threads = [threading.Thread(target=_send, args=(running.url, v, str(tmp_path / "downloads"), answers, i))
                   for i, v in enumerate(videos)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60   # 1 runs, 1 waits: the other 2 are answered busy while both are held
        while sum(isinstance(a, str) and a.startswith("**busy:**") for a in answers) < 2 and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        in_flight = os.path.join(running.temp_dir, "in_flight")
        uploads = lambda: [f for f in _files(running.temp_dir) if not f.startswith(in_flight)]  # noqa: E731
        while uploads() and time.monotonic() < deadline:   # delete_cache removes the uploads of the held requests
            time.sleep(0.1)
        assert uploads() == [] and len(_files(in_flight)) == 2, (answers, _files(running.temp_dir))  # held: 2
        held.release.set()
        for t in threads:
            t.join(60)
        errors = [a for a in answers if not isinstance(a, str)]
        assert errors == [], f"requests failed: {errors}"
        busy = [a for a in answers if a.startswith("**busy:**")]
        done = [a for a in answers if " moments for 2 queries in " in a]
        assert busy == ["**busy:** 2 requests are running or waiting; try again in a minute"] * 2, answers
        assert len(done) == 2, answers
        deadline = time.monotonic() + 15   # keyframes: removed 1 s after they were written, by a sweep every second
        while _files(running.temp_dir) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _files(running.temp_dir) == []
    finally:
        held.release.set()
        running.close()
