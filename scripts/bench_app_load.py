"""The web demo under load on 127.0.0.1: concurrent clients, latency, busy answers, the server's memory and its
temporary files. Prints one table row per --max_queue value.

    python scripts/bench_app_load.py                  # 8 clients, 5 + 45 requests; rows for max_queue 16 and 2
    python scripts/bench_app_load.py --max_queue 16   # the first row only (8 clients fit: no busy answers)
    python scripts/bench_app_load.py --max_queue 2    # the second only (more clients than places: busy answers)

Each row starts `python -m video_lights.app` as a subprocess (so its RSS is its own) with an untrained small
VideoLights and tiny random SlowFast / CLIP / BLIP-2 weights written into a temporary folder (nothing is downloaded).
One client sends --warmup requests one after another, then --clients gradio_client clients send --requests more
requests together (at most --time_limit seconds of sending), each a synthetic H.264 video and 2 queries; client i
alternates between two videos of its own, so the feature cache both misses (a video's first request) and hits.
Latency: seconds from submit to answer (upload included) of the answered requests; busy: "**busy:**" answers;
errors: exceptions, error events and "**error:**" answers (goal 0). RSS: the server's after the warm-up and after
all requests. Temp files: files in the server's GRADIO_TEMP_DIR after the load, and again after --keep_files plus
Gradio's sweep period (the answered requests' uploads and keyframes should be gone by then). Torch threads: this
process's count, which the server inherits with its environment.
"""
import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
QUERIES = ["a man cooks in the kitchen", "a dog runs on the beach", "people dance at a party",
           "a car drives down the road", "someone plays the guitar", "a woman talks to the camera"]
BUSY, ERROR = "**busy:**", "**error:**"


def make_assets(root: Path) -> dict:
    """Tiny random extractor weights and an untrained small VideoLights checkpoint of their widths in `root`, as
    the app's tests make them (test_app_browser._tiny_predictor): {checkpoint, slowfast, clip, blip2} paths."""
    from test_app_browser import _tiny_predictor
    _tiny_predictor(root)
    return dict(checkpoint=str(root / "tiny.ckpt"), slowfast=str(root / "slowfast.safetensors"),
                clip=str(root / "clip"), blip2=str(root / "blip2"))


def make_videos(root: Path, n: int) -> list:
    """n synthetic 160x90 10-fps H.264 videos of different lengths (4 s, 4.5 s, ...): n different contents."""
    from synthetic_videos import make_video
    return [make_video(root / f"video{i}.mp4", fps=10, duration=4 + 0.5 * i, size=(160, 90), codec="libx264")
            for i in range(n)]


def rss_mb(pid: int) -> float:
    """Resident memory of process `pid` in MiB (psutil if installed, else /proc/PID/status VmRSS)."""
    try:
        import psutil
        return psutil.Process(pid).memory_info().rss / 2 ** 20
    except ImportError:
        with open(f"/proc/{pid}/status") as f:
            kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        return kb / 1024


def folder_usage(folder) -> tuple:
    """(files, folders, bytes) under `folder` (zeros when it is gone)."""
    files = folders = size = 0
    for dirpath, dirnames, names in os.walk(folder):
        folders += len(dirnames)
        for name in names:
            with contextlib.suppress(OSError):
                size += os.path.getsize(os.path.join(dirpath, name))
                files += 1
    return files, folders, size


@contextlib.contextmanager
def app_server(assets: dict, root: Path, concurrency: int, max_queue: int, keep_files: int, timeout: float = 180):
    """`python -m video_lights.app` on a free 127.0.0.1 port: yields (process, url, its GRADIO_TEMP_DIR); stopped
    with SIGTERM (as Ctrl-C) at the end."""
    tmp = Path(tempfile.mkdtemp(prefix="server_tmp_", dir=root))   # the server's mkdtemp lands here
    from test_app_browser import _free_port
    port = _free_port()
    cmd = [sys.executable, "-m", "video_lights.app", "--checkpoint", assets["checkpoint"], "--slowfast",
           assets["slowfast"], "--clip", assets["clip"], "--blip2", assets["blip2"], "--port", str(port),
           "--concurrency", str(concurrency), "--max_queue", str(max_queue), "--keep_files", str(keep_files)]
    env = {**os.environ, "TMPDIR": str(tmp), "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    log = open(root / f"server_{port}.log", "w+")
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        url = _wait_for_url(proc, timeout)
        if url is None:
            log.seek(0)
            tail = log.read()[-3000:]
            raise RuntimeError(f"the app did not start within {timeout:.0f} s (exit {proc.poll()}):\n{tail}")
        threading.Thread(target=proc.stdout.read, daemon=True).start()    # drain whatever it prints later
        temp_dir = next(tmp.glob("video_lights_app_*"))
        yield proc, url, temp_dir
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _wait_for_url(proc, timeout: float):
    """The URL of the app's 'VideoLights demo on URL' line, or None when it exits or times out first."""
    found = []

    def read():
        for line in proc.stdout:
            if "demo on " in line:
                found.append(line.split("demo on ")[1].split()[0])
                return
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    return found[0] if found else None


class Load:
    """Hands out request numbers (at most `total`, none after `deadline`) and collects the outcomes."""

    def __init__(self, total: int, seconds: float):
        self.total, self.deadline = total, time.monotonic() + seconds
        self.issued, self.latencies, self.busy, self.errors = 0, [], 0, []
        self._lock = threading.Lock()

    def take(self):
        with self._lock:
            if self.issued >= self.total or time.monotonic() > self.deadline:
                return None
            self.issued += 1
            return self.issued - 1

    def record(self, seconds: float, status, error=None):
        with self._lock:
            if error is not None or not isinstance(status, str) or status.startswith(ERROR):
                self.errors.append(error or repr(status)[:200])
            elif status.startswith(BUSY):
                self.busy += 1
            else:
                self.latencies.append(seconds)


def one_request(client, video: str, n: int, load: Load):
    """Send one video and 2 queries; record the answer's kind and latency."""
    from gradio_client import handle_file
    queries = "\n".join([QUERIES[n % len(QUERIES)], QUERIES[(n + 1) % len(QUERIES)]])
    t0 = time.perf_counter()
    try:
        out = client.predict(handle_file(video), queries, api_name="/on_run")
    except Exception as e:   # noqa: BLE001 - any failure of a request is what this counts
        load.record(time.perf_counter() - t0, None, f"{type(e).__name__}: {e}"[:200])
        return
    load.record(time.perf_counter() - t0, out[-1])


def client_loop(url: str, own_videos: list, load: Load, downloads: str):
    """One client: its requests until the load has handed out all of them, alternating its own videos."""
    from gradio_client import Client
    client = Client(url, verbose=False, download_files=downloads)
    k = 0
    while (n := load.take()) is not None:
        one_request(client, own_videos[k % len(own_videos)], n, load)
        k += 1


def run_row(args, assets, videos, root: Path, max_queue: int) -> dict:
    """One server, warm-up then load: the row's numbers."""
    from gradio_client import Client
    downloads = tempfile.mkdtemp(prefix="downloads_", dir=root)
    with app_server(assets, root, args.concurrency, max_queue, args.keep_files) as (proc, url, temp_dir):
        warm = Load(args.warmup, args.time_limit)
        client = Client(url, verbose=False, download_files=downloads)
        while (n := warm.take()) is not None:
            one_request(client, videos[n % len(videos)], n, warm)
        rss_warm = rss_mb(proc.pid)
        load = Load(args.requests, args.time_limit)
        threads = [threading.Thread(target=client_loop, args=(url, videos[2 * i:2 * i + 2], load, downloads))
                   for i in range(args.clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        rss_load = rss_mb(proc.pid)
        after = folder_usage(temp_dir)
        time.sleep(args.keep_files + min(60, args.keep_files) + 2)    # age + one sweep period + slack
        swept = folder_usage(temp_dir)
    lat = np.array(load.latencies) if load.latencies else np.array([np.nan])
    return dict(clients=args.clients, conc=args.concurrency, max_queue=max_queue, requests=warm.issued + load.issued,
                answered=len(warm.latencies) + len(load.latencies), busy=load.busy,
                errors=len(load.errors) + len(warm.errors), p50=np.percentile(lat, 50), p95=np.percentile(lat, 95),
                wall=wall, rss_warm=rss_warm, rss_end=rss_load, files_left=after[0], files_swept=swept[0],
                error_list=warm.errors + load.errors)


COLUMNS = [("clients", "{:d}"), ("conc", "{:d}"), ("max_queue", "{:d}"), ("requests", "{:d}"), ("answered", "{:d}"),
           ("busy", "{:d}"), ("errors", "{:d}"), ("p50", "{:.2f}"), ("p95", "{:.2f}"), ("wall", "{:.1f}"),
           ("rss_warm", "{:.0f}"), ("rss_end", "{:.0f}"), ("files_left", "{:d}"), ("files_swept", "{:d}")]


def print_table(rows, args):
    import torch

    from video_lights.utils.hardware import cpu_description
    print(f"CPU: {cpu_description()}; torch threads: {torch.get_num_threads()}; {args.warmup} requests one by one, "
          f"then {args.requests} from {args.clients} clients; time limit {args.time_limit:g} s, keep_files "
          f"{args.keep_files} s")
    print(f"p50/p95: latency (s) of the answered concurrent requests, wall: their total (s); rss_warm / rss_end: the "
          f"server's RSS (MiB)\nafter the first {args.warmup} and after all {args.warmup + args.requests} requests; "
          f"files_left: files in its temporary folder "
          f"after the load,\nfiles_swept: after keep_files and one sweep more")
    print("| " + " | ".join(name for name, _ in COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for row in rows:
        print("| " + " | ".join(fmt.format(row[name]) for name, fmt in COLUMNS) + " |")
    for row in rows:
        for e in row["error_list"][:5]:
            print(f"error (max_queue {row['max_queue']}): {e}")


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    p.add_argument("--requests", type=int, default=45, help="requests after the warm-up (default 45: 50 in all)")
    p.add_argument("--warmup", type=int, default=5, help="requests sent one by one first (default 5)")
    p.add_argument("--max_queue", type=int, nargs="+", default=[16, 2], help="one row per value (default 16 2)")
    p.add_argument("--concurrency", type=int, default=1, help="the app's --concurrency (default 1)")
    p.add_argument("--keep_files", type=int, default=15,
                   help="the app's --keep_files in s (default 15: longer than a loaded client takes to fetch its "
                        "keyframes)")
    p.add_argument("--time_limit", type=float, default=300, help="no request is sent after this many s (default 300)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    with tempfile.TemporaryDirectory(prefix="bench_app_load_") as tmp:
        root = Path(tmp)
        assets = make_assets(root)
        videos = make_videos(root, max(2 * args.clients, args.warmup))
        rows = [run_row(args, assets, videos, root, q) for q in args.max_queue]
    print_table(rows, args)
    return 1 if any(r["errors"] for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
