"""Predictions -> the moments table, and a table row -> the time the player seeks to.

A row is [query, rank, start, end, score]: start and end as h:mm:ss.s in seconds of the real video, score with
3 decimals. In a long video the score is the foreground probability x the clips' sigmoid(saliency), so that moments
of different windows rank against each other (see video_lights.predict)."""
from video_lights.predict.report import hms

HEADERS = ["query", "rank", "start", "end", "score"]


def format_time(seconds: float) -> str:
    """h:mm:ss.s, e.g. 3725.25 -> '1:02:05.2' (predict/report.py hms with tenths)."""
    return hms(seconds, tenths=True)


def parse_time(text: str) -> float:
    """Seconds of 'h:mm:ss.s' (or 'mm:ss.s', 'ss.s'); ValueError for anything else."""
    seconds = 0.0
    for part in str(text).strip().split(":"):
        value = float(part)
        if value < 0:
            raise ValueError(f"negative time {text!r}")
        seconds = seconds * 60 + value
    return seconds


def moment_rows(predictions, top_k: int) -> list:
    """One row per moment: the first top_k ranked windows of each prediction, in query order."""
    rows = []
    for p in predictions:
        for rank, (start, end, score) in enumerate(p.windows[:top_k], 1):
            rows.append([p.query, rank, format_time(start), format_time(end), round(float(score), 3)])
    return rows


def seek_time(row) -> float:
    """The start of a table row (a list in HEADERS order, as the page gives it back) in seconds."""
    return parse_time(row[HEADERS.index("start")])
