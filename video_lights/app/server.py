"""Start and stop the page on a local port. Uploads, keyframes and plots go to a temporary folder of the app's own
(GRADIO_TEMP_DIR, removed on close; a request's files are removed keep_files_s seconds after they were written);
Gradio's usage reports are off and nothing is fetched from the internet. At most `concurrency` requests run the
model and `max_queue` wait; more get a busy answer (ui.py RequestGate, which says why Gradio's queue size is not
used).

    running = serve(predictor, port=7860)       # returns at once (the server runs in its own threads)
    print(running.url); ...; running.close()   # frees the port and removes the temporary folder
"""
import dataclasses
import os
import shutil
import tempfile

from video_lights.app.uploads import MB
from video_lights.features.decode import DEFAULT_LIMITS


@dataclasses.dataclass
class Running:
    """A launched page: its gr.Blocks, its local URL and its temporary folder."""
    demo: object
    url: str
    temp_dir: str

    def close(self):
        """Stop the server (the port is free afterwards) and remove the temporary folder."""
        try:
            self.demo.close()
        finally:
            shutil.rmtree(self.temp_dir, ignore_errors=True)


def serve(predictor, host: str = "127.0.0.1", port=None, max_upload_mb: float = 500.0, examples=(), top_k: int = 5,
          max_queries: int = 10, quiet: bool = False, concurrency: int = 1, max_queue: int = 16,
          keep_files_s: int = 600, limits=DEFAULT_LIMITS) -> Running:
    """Build the page for `predictor` and launch it on host:port (port None: the first free one from 7860) without
    blocking (the other arguments: ui.build_app's). The process's GRADIO_TEMP_DIR is set to a new temporary folder:
    one page per process."""
    temp_dir = tempfile.mkdtemp(prefix="video_lights_app_")
    os.environ["GRADIO_TEMP_DIR"] = temp_dir          # read by Gradio when the page and its server are built
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    try:
        from video_lights.app.ui import build_app
        demo = build_app(predictor, examples=examples, max_upload_mb=max_upload_mb, top_k=top_k,
                         max_queries=max_queries, concurrency=concurrency, max_queue=max_queue,
                         keep_files_s=keep_files_s, limits=limits)
        demo.queue(default_concurrency_limit=1)   # the run event has none: ui.RequestGate answers busy instead
        _, url, _ = demo.launch(server_name=host, server_port=port, prevent_thread_lock=True, share=False,
                                inbrowser=False, show_error=True, quiet=quiet, max_file_size=int(max_upload_mb * MB),
                                ssr_mode=False, pwa=False, mcp_server=False, enable_monitoring=False,
                                # a thread per waiting request, and some for uploads, busy answers and files
                                max_threads=max(40, concurrency + max_queue + 16))
    except BaseException:
        shutil.rmtree(temp_dir, ignore_errors=True)
        raise
    return Running(demo=demo, url=url, temp_dir=temp_dir)
