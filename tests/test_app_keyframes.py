"""The demo's keyframes leave no per-thread FFmpeg scaler behind: a process that forks afterwards (DataLoader
workers after the web demo or a test of it ran in the same process) must not hang in the child."""
import os
import sys
import threading
import time

import pytest

pytest.importorskip("av", reason="keyframes need PyAV (pip install -e .[video])")
sys.path.insert(0, os.path.dirname(__file__))
from synthetic_videos import make_video  # noqa: E402

from video_lights.app.keyframes import frames_at  # noqa: E402


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork on this platform")
def test_frames_at_then_fork(tmp_path):
    path = make_video(str(tmp_path / "v.mp4"), codec="libx264", duration=2.0)
    done, stop = threading.Event(), threading.Event()
    shapes = []

    def work():  # a thread that outlives its decode, as the demo's model pool threads do
        shapes.extend(f.shape for f in frames_at(path, [0.5, 1.5], width=160))
        done.set()
        stop.wait()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    assert done.wait(60)
    assert shapes == [(90, 160, 3)] * 2
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            finished, status = os.waitpid(pid, os.WNOHANG)
            if finished:
                assert os.waitstatus_to_exitcode(status) == 0
                return
            time.sleep(0.05)
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung freeing a thread's cached FFmpeg scaler")
    finally:
        stop.set()
        thread.join(10)
