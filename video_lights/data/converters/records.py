"""What every converter shares: the queries read from an input, the collection of its bad rows, and the
QVHighlights rows made from the queries, with saliency labels derived from the windows.

Derived saliency (the input has windows only): clip k covers [k * L, (k + 1) * L) for the clip length L; it is
relevant when its centre (k + 1/2) * L lies inside one of the query's windows, and the clip holding a window's
midpoint is relevant even when the window is shorter than a clip. Every relevant clip gets the scores [4, 4, 4]
(three raters, "Very Good", the top of QVHighlights' 0-4 scale); the others count as 0. The rows say so with
"saliency_derived": true. QVHighlights' own windows (multiples of 2 s) give exactly its relevant_clip_ids this way.
"""
import dataclasses
import math
from typing import Optional

from video_lights.data.annotations import DataError

DERIVED_SCORES = [4, 4, 4]


class ConversionError(DataError):
    """An input with bad rows; `problems` lists one message per bad row (file, line or entry, field)."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__(f"{len(self.problems)} problem(s), nothing written; the first: {self.problems[0]}")


class Problems:
    """Bad rows of one conversion, collected so that all of them are reported at once."""

    def __init__(self):
        self.messages = []
        self.notes = []

    def add(self, where, message):
        self.messages.append(f"{where}: {message}")

    def note(self, message):
        """Something converted by a documented rule (a clamped window, a skipped empty one): told, not an error."""
        self.notes.append(message)

    def raise_any(self):
        if self.messages:
            raise ConversionError(self.messages)


@dataclasses.dataclass
class Query:
    """One query of the input: its video, text and windows (seconds), where it was read (for messages), and the
    video's duration and the query's id when the input gives them."""
    vid: str
    query: str
    windows: list
    where: str
    duration: Optional[float] = None
    qid: Optional[object] = None


def number(text, where, field, problems, positive=False):
    """float(text) if it is a finite number (> 0 with positive), else None with a problem naming the field."""
    try:
        x = float(text)
    except (TypeError, ValueError):
        x = math.nan
    if not math.isfinite(x) or (positive and x <= 0):
        problems.add(where, f"field '{field}' = {text!r} is not a {'positive ' if positive else ''}number")
        return None
    return x


def derived_saliency(windows, clip_length):
    """(relevant_clip_ids, saliency_scores) derived from windows by the rule of the module docstring."""
    ids = set()
    for st, ed in windows:
        first, last = math.ceil(st / clip_length - 0.5), math.ceil(ed / clip_length - 0.5) - 1  # centres in [st, ed)
        ids.update(range(max(first, 0), last + 1))
        ids.add(int((st + ed) / 2 // clip_length))
    ids = sorted(ids)
    return ids, [list(DERIVED_SCORES) for _ in ids]


def to_rows(queries, durations, clip_length, problems):
    """QVHighlights rows of `queries`; durations: {vid: seconds} (from the input or probed).

    Windows must start at 0 or later, before the video ends, and not end before they start; an end past the
    duration is clamped to it (noted). qid: the input's, else "{vid}_{k}" with k counting the video's queries in
    input order (TACoS' own ids). Problems are collected in `problems`; rows are returned either way.
    """
    rows, counts, seen, clamped = [], {}, {}, 0
    for q in queries:
        duration = durations.get(q.vid)
        k = counts.get(q.vid, 0)
        counts[q.vid] = k + 1
        qid = q.qid if q.qid is not None else f"{q.vid}_{k}"
        if qid in seen:
            problems.add(q.where, f"qid {qid!r} is already used by {seen[qid]}")
            continue
        seen[qid] = q.where
        if duration is None:
            continue  # already reported: no duration in the input and none probed
        windows, ok = [], True
        for i, (st, ed) in enumerate(q.windows):
            if st < 0 or ed < st or st >= duration:
                problems.add(q.where, f"window [{st}, {ed}] " + ("starts before 0" if st < 0 else
                                                                 "ends before it starts" if ed < st else
                                                                 f"starts after the video ends ({duration} s)"))
                ok = False
                continue
            if ed > duration:
                clamped += 1
            windows.append([st, min(ed, duration)])
        if not ok:
            continue
        clip_ids, scores = derived_saliency(windows, clip_length)
        rows.append(dict(qid=qid, query=q.query, duration=duration, vid=q.vid, relevant_windows=windows,
                         relevant_clip_ids=clip_ids, saliency_scores=scores, saliency_derived=True))
    if clamped:
        problems.note(f"clamped {clamped} window end(s) past their video's duration to the duration")
    return rows
