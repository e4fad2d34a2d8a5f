"""The Gradio page: a video (uploaded or an example), queries (one per line), and per query the top moments as a
table whose rows seek the player, the saliency curve with the windows, and a keyframe per moment.

    demo = build_app(predictor, examples=["clip.mp4"], max_upload_mb=500)   # a gr.Blocks; server.py launches it

Only `predictor` (a video_lights.predict.Predictor: predict(path, queries, top_k) -> [Prediction]) runs the model;
its in-memory feature cache (keyed by the file's content) makes new queries on the same video fast. Element ids
(for the browser test and custom CSS): vl-player, vl-queries, vl-run, vl-status, vl-moments, vl-plot, vl-keyframes.
"""
import os
import time

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"   # before gradio is imported: no usage reports, no version check

import gradio as gr  # noqa: E402

from video_lights.app.keyframes import frames_at  # noqa: E402
from video_lights.app.queries import parse_queries  # noqa: E402
from video_lights.app.results import HEADERS, format_time, moment_rows, seek_time  # noqa: E402
from video_lights.predict.report import saliency_figure  # noqa: E402
from video_lights.app.uploads import check_upload  # noqa: E402
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
         "Click a row of the table to play the video from that moment. Scores of windows from different parts "
         "of a long video are not calibrated against each other.")


def _error(message) -> str:
    return f"**error:** {message}"


def _table(rows):
    return {"data": rows, "headers": HEADERS}


def build_app(predictor, examples=(), max_upload_mb: float = 500.0, top_k: int = 5, max_queries: int = 10):
    """The page (a gr.Blocks, not launched) answering with `predictor`. examples: video paths offered below the
    player; max_upload_mb: larger uploads are refused with a message in the page."""

    def on_upload(path):
        """Check an upload as soon as it arrives: returns (video, status); a refused file is removed from the
        player."""
        if path is None:
            return None, ""
        try:
            info = check_upload(path, max_upload_mb)
        except UserError as e:
            return None, _error(one_line(e))
        return gr.skip(), f"{os.path.basename(path)}: {format_time(info.duration)}, {info.width}x{info.height}"

    def on_run(path, text, progress=gr.Progress()):
        """Answer the queries on the video: (table, plot, gallery, status)."""
        empty = (_table([]), None, [])
        try:
            if path is None:
                raise UserError("video: upload a video or pick an example first")
            queries = parse_queries(text, max_queries)
            check_upload(path, max_upload_mb)
            t0 = time.perf_counter()
            progress(0.05, desc="reading the video and answering the queries")
            predictions = predictor.predict(path, queries, top_k=top_k)
            progress(0.85, desc="keyframes")
            rows = moment_rows(predictions, top_k)
            mids = [(w[0] + w[1]) / 2 for p in predictions for w in p.windows[:top_k]]
            frames = frames_at(path, mids)
        except UserError as e:    # named by its base name: the page does not show where uploads are kept
            message = one_line(e).replace(os.path.dirname(path) + os.sep, "") if path else one_line(e)
            return (*empty, _error(message))
        captions = [f"{r[0][:40]} #{r[1]}: {r[2]}-{r[3]} ({r[4]:.3f})" for r in rows]
        seconds = time.perf_counter() - t0
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

    with gr.Blocks(title="VideoLights", analytics_enabled=False) as demo:
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
        run.click(on_run, inputs=[video, queries], outputs=[table, plot, gallery, status], concurrency_limit=1)
        table.select(on_select, outputs=seek).then(None, inputs=seek, js=SEEK_JS)
    return demo
