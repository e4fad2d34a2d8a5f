"""The saliency curve of each query with its top windows (matplotlib, no pyplot: safe in the server's threads)."""


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
