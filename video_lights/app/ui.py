"""The Gradio page: a video (uploaded or an example), queries (one per line), and per query the top moments as a
table whose rows seek the player, the saliency curve with the windows, and a keyframe per moment.

    demo = build_app(predictor, examples=["clip.mp4"], max_upload_mb=500)   # a gr.Blocks; server.py launches it

Only `predictor` (a video_lights.predict.Predictor: predict(path, queries, top_k) -> [Prediction]) runs the model;
its in-memory feature cache (keyed by the file's content) makes new queries on the same video fast. Element ids
(for the browser test and custom CSS): vl-player, vl-queries, vl-run, vl-status, vl-moments, vl-plot, vl-keyframes.

Under load (RequestGate): at most `concurrency` requests run the model at a time and at most `max_queue` wait for
it; a request beyond those is answered at once with a busy status (Busy) and the page's results left as they are.
This counter is ours rather than Gradio's queue size (demo.queue(max_size=N)) because Gradio answers a full queue
with HTTP 503 and a fixed "Queue is full" error (a toast in the browser, QueueError in gradio_client), not with an
answer of the app. So the run event has no Gradio concurrency limit: each request reaches on_run at once, which
checks the inputs (errors come back at once too), then hands the model's work to RequestGate, whose `concurrency`
threads run it in order of arrival (the progress bar says how many are ahead). Waiting requests hold a server
thread each (server.py raises max_threads to fit).

Temporary files: uploads and keyframes (Gradio writes the gallery's arrays as images) stay in GRADIO_TEMP_DIR for
`keep_files_s` seconds so that the browser can fetch them and ask more queries on the same upload; Gradio's
delete_cache then removes them (every min(60, keep_files_s) s; the hash-named folders stay, empty). A query on an
upload already removed is answered with "the upload is missing, upload it again"; one that a waiting or running
request reads is kept for it by a hard link (HeldUploads) until it is answered. The plot is sent inline.
"""
import concurrent.futures
import contextlib
import contextvars
import hashlib
import os
import threading
import time

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"   # before gradio is imported: no usage reports, no version check

import gradio as gr  # noqa: E402

from gradio.utils import get_upload_folder  # noqa: E402

from video_lights.app.keyframes import frames_at  # noqa: E402
from video_lights.app.queries import parse_queries  # noqa: E402
from video_lights.app.results import HEADERS, format_time, moment_rows, seek_time  # noqa: E402
from video_lights.predict.report import saliency_figure  # noqa: E402
from video_lights.app.uploads import check_upload  # noqa: E402
from video_lights.features.decode import DEFAULT_LIMITS  # noqa: E402
from video_lights.utils.cli import UserError, one_line  # noqa: E402

# runs in the page after a row was clicked: the hidden number holds the row's start (s)
SEEK_JS = """(t) => {
  const v = document.querySelector('#vl-player video');
  if (v && t !== null && t !== undefined && !Number.isNaN(Number(t))) { v.currentTime = Number(t); }
  return [];
}"""
GALLERY_COLUMNS = 6
INTRO = ("## VideoLights: find the moments of a video that match a query\n"
         "Upload a video (or pick an example), type one query per line and press **Find moments**. "
         "Click a row of the table to play the video from that moment.")


BUSY = "**busy:**"


class Busy(Exception):
    """A request turned away while `admitted` requests run or wait for the model. str(): the page's status line."""

    def __init__(self, admitted: int):
        are = "request is" if admitted == 1 else "requests are"
        super().__init__(f"{BUSY} {admitted} {are} running or waiting; try again in a minute")


class RequestGate:
    """Thread-safe admission of requests to the model: at most `concurrency` run at a time, on as many long-lived
    threads of their own (the model's memory is allocated by the same few threads however many requests come, so
    the allocator keeps few arenas), and at most `max_queue` wait; run() raises Busy for one more."""

    def __init__(self, concurrency: int = 1, max_queue: int = 16):
        if concurrency < 1 or max_queue < 0:
            raise ValueError(f"concurrency {concurrency} must be >= 1 and max_queue {max_queue} >= 0")
        self.concurrency, self.max_queue = concurrency, max_queue
        self._pool = concurrent.futures.ThreadPoolExecutor(concurrency, thread_name_prefix="video_lights_model")
        self._lock = threading.Lock()
        self._admitted = 0    # running + waiting

    @property
    def admitted(self) -> int:
        """Requests running or waiting now."""
        return self._admitted

    def run(self, work, on_wait=None):
        """work() on a model thread, in order of arrival, in this thread's context (Gradio's progress bar works from
        there); first on_wait(position), 1 = next, when all model threads are taken. Busy at once when max_queue
        requests already wait."""
        with self._lock:
            if self._admitted >= self.concurrency + self.max_queue:
                raise Busy(self._admitted)
            position = self._admitted - self.concurrency + 1
            self._admitted += 1
        try:
            if position > 0 and on_wait is not None:
                on_wait(position)
            return self._pool.submit(contextvars.copy_context().run, work).result()
        finally:
            with self._lock:
                self._admitted -= 1


class HeldUploads:
    """Hard links in `folder` to the uploads that requests are reading: delete_cache removes an upload by its age,
    even while a request waits for the model with it; the link keeps the file until the last request on it is
    answered. One link per upload, named by its base name, so the predictor's per-path digest cache still hits.
    Making and removing a link changes the upload's ctime, by which delete_cache ages it: an upload stays
    keep_files_s after its last answer, for more queries on it."""

    def __init__(self, folder):
        self.folder = folder
        self._lock = threading.Lock()
        self._users = {}    # link -> requests reading it

    @contextlib.contextmanager
    def hold(self, path):
        """The path to read in the `with` block: a hard link to `path`, or `path` itself where none can be made (a
        missing file, another file system)."""
        real = os.path.realpath(path)
        link = os.path.join(self.folder, hashlib.sha256(real.encode()).hexdigest()[:16], os.path.basename(real))
        with self._lock:
            if link not in self._users and not self._link(real, link):
                link = None
            if link is not None:
                self._users[link] = self._users.get(link, 0) + 1
        try:
            yield link or os.fspath(path)
        finally:
            if link is not None:
                self._release(link)

    @staticmethod
    def _link(real, link) -> bool:
        try:
            os.makedirs(os.path.dirname(link), exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                os.remove(link)        # left by an earlier request of this process whose removal failed
            os.link(real, link)
            return True
        except OSError:
            return False

    def _release(self, link):
        with self._lock:
            self._users[link] -= 1
            if self._users[link]:
                return
            del self._users[link]
            with contextlib.suppress(OSError):
                os.remove(link)
                os.rmdir(os.path.dirname(link))


def _error(message) -> str:
    return f"**error:** {message}"


def _table(rows):
    return {"data": rows, "headers": HEADERS}


def build_app(predictor, examples=(), max_upload_mb: float = 500.0, top_k: int = 5, max_queries: int = 10,
              concurrency: int = 1, max_queue: int = 16, keep_files_s: int = 600, limits=DEFAULT_LIMITS):
    """The page (a gr.Blocks, not launched) answering with `predictor`. examples: video paths offered below the
    player; max_upload_mb: larger uploads are refused with a message in the page; concurrency / max_queue: requests
    running the model at a time / waiting for it (RequestGate); keep_files_s: seconds uploads and keyframes are kept;
    limits: the decoding limits an upload is checked against (features/limits.py DecodeLimits)."""
    gate = RequestGate(concurrency, max_queue)
    held = HeldUploads(os.path.join(get_upload_folder(), "in_flight"))
    roots = [get_upload_folder(), *examples]    # a video the page reads lies in one of them (uploads.check_upload)

    def on_upload(path):
        """Check an upload as soon as it arrives: returns (video, status); a refused file is removed from the
        player."""
        if path is None:
            return None, ""
        try:
            info = check_upload(path, max_upload_mb, limits, roots)
        except UserError as e:
            return None, _error(one_line(e))
        return gr.skip(), f"{os.path.basename(path)}: {format_time(info.duration)}, {info.width}x{info.height}"

    def answer(path, queries, progress):
        """The model's work for one request (on a RequestGate thread): predictions, table rows, keyframes, seconds."""
        t0 = time.perf_counter()
        progress(0.05, desc="reading the video and answering the queries")
        predictions = predictor.predict(path, queries, top_k=top_k)
        progress(0.85, desc="keyframes")
        rows = moment_rows(predictions, top_k)
        mids = [(w[0] + w[1]) / 2 for p in predictions for w in p.windows[:top_k]]
        return predictions, rows, frames_at(path, mids), time.perf_counter() - t0

    def on_run(path, text, progress=gr.Progress()):
        """Answer the queries on the video: (table, plot, gallery, status)."""
        empty, local = (_table([]), None, []), path
        try:
            if path is None:
                raise UserError("video: upload a video or pick an example first")
            queries = parse_queries(text, max_queries)
            check_upload(path, max_upload_mb, limits, roots)
            with held.hold(path) as local:
                predictions, rows, frames, seconds = gate.run(
                    lambda: answer(local, queries, progress),
                    lambda n: progress(0.0, desc=f"waiting for the model: number {n} in line"))
        except Busy as e:         # the results shown stay as they are
            return gr.skip(), gr.skip(), gr.skip(), str(e)
        except UserError as e:    # named by its base name: the page does not show where uploads are kept
            message = one_line(e)
            for where in {path, local} - {None}:
                message = message.replace(os.path.dirname(where) + os.sep, "")
            return (*empty, _error(message))
        captions = [f"{r[0][:40]} #{r[1]}: {r[2]}-{r[3]} ({r[4]:.3f})" for r in rows]
        status = (f"{len(rows)} moments for {len(queries)} "
                  f"{'query' if len(queries) == 1 else 'queries'} in {seconds:.1f} s")
        gallery = gr.Gallery(value=list(zip(frames, captions)), height=70 + 150 * -(-len(rows) // GALLERY_COLUMNS))
        return _table(rows), saliency_figure(predictions, top_k), gallery, status

    def on_select(evt: gr.SelectData):
        """A clicked table row -> its start time (s) for the player."""
        try:
            return seek_time(evt.row_value)
        except (TypeError, ValueError, IndexError):
            return gr.skip()

    keep = max(1, int(keep_files_s))
    with gr.Blocks(title="VideoLights", analytics_enabled=False, delete_cache=(min(60, keep), keep)) as demo:
        gr.Markdown(INTRO)
        with gr.Row():
            with gr.Column(scale=3):
                video = gr.Video(label="video", sources=["upload"], elem_id="vl-player", height=320)
                if examples:
                    gr.Examples(examples=[[str(e)] for e in examples], inputs=[video], label="examples")
            with gr.Column(scale=2):
                queries = gr.Textbox(label="queries, one per line", lines=4, max_lines=max_queries,
                                     placeholder="a man is cooking in the kitchen", elem_id="vl-queries")
                run = gr.Button("Find moments", variant="primary", elem_id="vl-run")
                status = gr.Markdown(elem_id="vl-status")
        table = gr.Dataframe(value=_table([]), label="top moments (click a row to play from its start)",
                             interactive=False, elem_id="vl-moments", wrap=True)
        seek = gr.Number(visible="hidden", elem_id="vl-seek")
        plot = gr.Plot(label="saliency and top windows", elem_id="vl-plot")
        gallery = gr.Gallery(label="a keyframe per moment (its middle)", columns=GALLERY_COLUMNS, object_fit="contain",
                             elem_id="vl-keyframes")

        video.upload(on_upload, inputs=video, outputs=[video, status])
        video.clear(lambda: "", outputs=status)
        run.click(on_run, inputs=[video, queries], outputs=[table, plot, gallery, status],
                  concurrency_limit=None)   # RequestGate limits the model work
        table.select(on_select, outputs=seek).then(None, inputs=seek, js=SEEK_JS)
    return demo
