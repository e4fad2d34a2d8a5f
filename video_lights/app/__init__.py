"""The web demo: upload a video (or pick an example), type queries, see the top moments, the saliency curve and a
keyframe per moment. `python -m video_lights.app --checkpoint CKPT` (needs the `demo` extra: gradio).

    queries.py    the query box's text -> the queries
    uploads.py    refuse an upload that is too large or not a video
    results.py    predictions -> the moments table (h:mm:ss.s), and a table row -> the time to seek to
    keyframes.py  one frame per moment (PyAV)
    plot.py       the saliency curve with the predicted windows (matplotlib)
    ui.py         the Gradio page and its events; only video_lights.predict.Predictor runs the model
    server.py     start / stop the page on a local port, uploads in a temporary folder of its own
    __main__.py   the command line

Gradio is imported only by ui.py and server.py; importing this package loads nothing heavy.
"""
