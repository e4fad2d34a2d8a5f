"""Predictions for people: h:mm:ss tables, saliency peaks, the saliency plot with the windows, JSON.

Used by the command line (predict/__main__.py) and usable by any front end (no command-line code here).
"""
import io

import numpy as np

from video_lights.utils.cli import UserError
from video_lights.utils.io import atomic_open

PEAKS = 5


def hms(seconds: float) -> str:
    """Seconds as h:mm:ss (rounded to the second)."""
    s = int(round(max(seconds, 0.0)))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def saliency_peaks(saliency, k=PEAKS) -> list:
    """Indices of the k highest local maxima of a 1-D saliency curve (each at least its neighbours), best first."""
    s = np.asarray(saliency, np.float64)
    left = np.r_[-np.inf, s[:-1]]
    right = np.r_[s[1:], -np.inf]
    peaks = np.flatnonzero((s >= left) & (s >= right))
    return [int(i) for i in peaks[np.argsort(-s[peaks], kind="stable")][:k]]


def format_prediction(index, p, top_k) -> str:
    """The table of one query: rank, start - end (h:mm:ss), score; then the saliency peaks."""
    lines = [f'query {index}: "{p.query}"', "   #  start     end        score"]
    for rank, (st, ed, score) in enumerate(p.windows[:top_k], 1):
        lines.append(f"  {rank:2d}  {hms(st)} - {hms(ed)}  {score:.4f}")
    if not p.windows:
        lines.append("   (no moment)")
    peaks = [f"{hms(p.clip_times[i, 0])}-{hms(p.clip_times[i, 1])} ({p.saliency[i]:.3f})"
             for i in saliency_peaks(p.saliency)]
    lines.append("  saliency peaks: " + ", ".join(peaks))
    return "\n".join(lines)


def plot_predictions(predictions, path, duration, top_k=3):
    """One panel per query: the saliency curve over time (clip centres) and the top_k windows shaded, as a PNG
    written atomically to `path`. Needs matplotlib (Agg backend, no display)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise UserError(f"--plot needs matplotlib: pip install matplotlib ({e})") from None
    fig, axes = plt.subplots(len(predictions), 1, figsize=(10, 2.2 * len(predictions)), squeeze=False)
    for ax, p in zip(axes[:, 0], predictions):
        centres = p.clip_times.mean(1)
        ax.plot(centres, p.saliency, color="tab:blue", lw=1.2, label="saliency")
        for rank, (st, ed, score) in enumerate(p.windows[:top_k]):
            ax.axvspan(st, ed, color="tab:orange", alpha=0.45 / (rank + 1), label=f"#{rank + 1} ({score:.2f})")
        ax.set_xlim(0, duration)
        ax.set_title(p.query, fontsize=9)
        ax.legend(fontsize=7, loc="upper right")
    axes[-1, 0].set_xlabel("seconds")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    with atomic_open(path, "wb") as f:
        f.write(buf.getvalue())


def as_json(video, predictions) -> dict:
    """{"video", "duration", "clip_length", "predictions": [{"query", "windows", "saliency", "clip_times"}]}."""
    return {"video": video.source, "duration": video.duration, "clip_length": video.clip_length,
            "predictions": [{"query": p.query, "windows": p.windows, "saliency": [float(x) for x in p.saliency],
                             "clip_times": p.clip_times.tolist()} for p in predictions]}
