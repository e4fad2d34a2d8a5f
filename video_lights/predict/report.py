"""Predictions for people: h:mm:ss tables, saliency peaks, the saliency plot with the windows, JSON.

Used by the command line (predict/__main__.py) and usable by any front end (no command-line code here).
"""
import io

import numpy as np

from video_lights.utils.cli import UserError
from video_lights.utils.io import atomic_open

PEAKS = 5


def hms(seconds: float, tenths: bool = False) -> str:
    """Seconds as h:mm:ss (rounded to the second), or h:mm:ss.s with tenths, e.g. 3725.25 -> '1:02:05.2' (halves
    rounded to even; never negative)."""
    if not tenths:
        s = int(round(max(seconds, 0.0)))
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    t = round(max(0.0, float(seconds)) * 10)
    h, rest = divmod(t, 36000)
    m, rest = divmod(rest, 600)
    return f"{h}:{m:02d}:{rest // 10:02d}.{rest % 10}"


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


def saliency_figure(predictions, top_k: int = 5, width: float = 9.0):
    """A matplotlib Figure with one panel per prediction: saliency (n_clips,) against clip mid-times (s); the best
    window shaded, and the first top_k windows as numbered bars in a lane under the curve (rank 1 on top)."""
    from matplotlib.figure import Figure
    n = max(1, len(predictions))
    fig = Figure(figsize=(width, 2.0 * n + 0.4), dpi=80, layout="constrained")
    axes = fig.subplots(n, 1, squeeze=False)[:, 0]
    for ax, p in zip(axes, predictions):
        windows = list(p.windows[:top_k])
        times = p.clip_times.mean(axis=1)
        lo, hi = (float(p.saliency.min()), float(p.saliency.max())) if len(p.saliency) else (0.0, 1.0)
        span = (hi - lo) or 1.0
        lane = 0.6 * span                     # the bars take the bottom of the panel, the curve the top
        ax.plot(times, p.saliency, color="tab:blue", lw=1.5, marker=".", ms=3)
        if windows:
            ax.axvspan(windows[0][0], windows[0][1], color="tab:orange", alpha=0.18, lw=0)
        step = lane / max(1, len(windows))
        for rank, (start, end, score) in enumerate(windows, 1):
            y = lo - step * rank
            ax.plot([start, end], [y, y], color="tab:orange", lw=4, solid_capstyle="butt")
            ax.text(end, y, f" {rank}", va="center", fontsize=7)
        ax.set_ylim(lo - lane - step * 0.6, hi + 0.1 * span)
        ax.set_title(p.query if len(p.query) <= 80 else p.query[:77] + "...", fontsize=10, loc="left")
        ax.set_ylabel("saliency")
        ax.grid(axis="x", alpha=0.3)
        if len(p.clip_times):
            ax.set_xlim(0, float(p.clip_times[-1, 1]))
    axes[-1].set_xlabel("time (s); bars: top windows by rank")
    return fig


def plot_predictions(predictions, path, top_k=3):
    """saliency_figure of the predictions as a PNG written atomically to `path` (no display needed)."""
    try:
        fig = saliency_figure(predictions, top_k)
    except ImportError as e:
        raise UserError(f"--plot needs matplotlib: pip install matplotlib ({e})") from None
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    with atomic_open(path, "wb") as f:
        f.write(buf.getvalue())


def as_json(video, predictions) -> dict:
    """{"video", "duration", "clip_length", "predictions": [{"query", "windows", "saliency", "clip_times"}]}."""
    return {"video": video.source, "duration": video.duration, "clip_length": video.clip_length,
            "predictions": [{"query": p.query, "windows": p.windows, "saliency": [float(x) for x in p.saliency],
                             "clip_times": p.clip_times.tolist()} for p in predictions]}
