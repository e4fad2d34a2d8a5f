"""Reading JSON-lines files and checking a submission before it is scored (docs/fidelity.md, 'Evaluation').

Strict (default): a submission that the official evaluator would crash on, or would score silently but
wrongly, raises ``SubmissionError`` with one message naming the problem and the first offending lines
("line n" is the n-th row, i.e. line n of the file) and qids. Behaviours that are well defined and only
surprising are scored as the official evaluator does, with a ``SubmissionWarning``.

compat=True accepts what the official evaluator accepts and scores it identically: inverted windows
(start > end, including the NaN-IoU bug), saliency lists of any length (truncated / zero-padded), duplicate
rows (pooled for mAP, last row for R1/mIoU/HL), rows with more than 3 numbers per window, and dispatch on the
first row's prediction keys. It still raises where the official evaluator crashes (missing / extra qids,
empty window or saliency lists, fewer than 3 numbers, non-finite numbers, saliency without saliency labels).
"""
import gzip
import json
import math
import numbers
import warnings

import numpy as np

MAX_SHOWN = 5  # offending lines / qids named in one message
WINDOWS, SALIENCY = "pred_relevant_windows", "pred_saliency_scores"
# Published QVHighlights predictions (Moment-DETR, QD-DETR, CG-DETR, TR-DETR, VideoLights) give 1 clip
# fewer than floor(duration / 2) for ~1 % of the videos, whose features are one clip short; the official
# evaluator zero-pads them. Strict mode accepts exactly this shortfall, with a warning.
SALIENCY_SHORTFALL_OK = 1


class SubmissionError(ValueError):
    """A submission (or input file) that cannot be scored. The message names the problem and where it is."""


class SubmissionWarning(UserWarning):
    """Something scored the way the official evaluator scores it, which may not be what the author meant."""


def warn(message: str) -> None:
    warnings.warn(message, SubmissionWarning, stacklevel=3)


def parse_jsonl(data: bytes, name: str) -> list:
    """Rows of a JSON-lines file (gzip-compressed or not). Trailing blank lines are ignored."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    try:
        lines = data.decode("utf-8").split("\n")
    except UnicodeDecodeError as e:
        raise SubmissionError(f"{name} is not UTF-8 text ({e.reason} at byte {e.start})") from None
    while lines and not lines[-1].strip():
        lines.pop()
    rows = []
    for i, line in enumerate(lines, 1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise SubmissionError(f"{name}: line {i} is not valid JSON ({e.msg}, column {e.colno}): "
                                  f"{line[:80]!r}") from None
        if not isinstance(row, dict):
            raise SubmissionError(f"{name}: line {i} is a JSON {type(row).__name__}, not an object: {line[:80]!r}")
        rows.append(row)
    if not rows:
        raise SubmissionError(f"{name} holds no rows")
    return rows


def read_jsonl(path) -> list:
    """Rows of a .jsonl or .jsonl.gz file."""
    with open(path, "rb") as f:
        return parse_jsonl(f.read(), str(path))


class Offenders:
    """Collects offending lines per problem; reports the problem met first, naming its first lines."""

    def __init__(self):
        self.found = {}  # problem -> [(line, qid, detail)]

    def add(self, problem: str, index: int, qid, detail: str = "") -> None:
        self.found.setdefault(problem, []).append((index + 1, qid, detail))

    @staticmethod
    def describe(problem: str, where: list) -> str:
        shown = "; ".join(f"line {line}{'' if qid is None else f' (qid {qid!r})'}{': ' + detail if detail else ''}"
                          for line, qid, detail in where[:MAX_SHOWN])
        more = f"; and {len(where) - MAX_SHOWN} more" if len(where) > MAX_SHOWN else ""
        return f"{problem} on {len(where)} line(s): {shown}{more}"

    def raise_first(self) -> None:
        if self.found:
            problem, where = min(self.found.items(), key=lambda item: item[1][0][0])
            raise SubmissionError(self.describe(problem, where))

    def warn_all(self) -> None:
        for problem, where in self.found.items():
            warn(self.describe(problem, where))


def _listed(items: list) -> str:
    """The first MAX_SHOWN of items (strings), and how many there are in all."""
    more = f", ... ({len(items)} in all)" if len(items) > MAX_SHOWN else ""
    return ", ".join(items[:MAX_SHOWN]) + more


def check_ground_truth(gt_rows: list, windows: bool = False) -> None:
    """The ground truth needs one row per qid, all int or all str; with windows=True, each row needs a
    non-empty 'relevant_windows' list (the official evaluator crashes on an empty one)."""
    if not gt_rows:
        raise SubmissionError("the ground truth holds no rows")
    bad = Offenders()
    qid_type = type(gt_rows[0].get("qid"))
    seen = set()
    for i, row in enumerate(gt_rows):
        qid = row.get("qid")
        if qid_type not in (int, str) or type(qid) is not qid_type:
            bad.add("ground truth: qid missing or not all int / all str", i, qid)
            continue
        if qid in seen:
            bad.add("ground truth: duplicate qid", i, qid)
        seen.add(qid)
        if windows and not row.get("relevant_windows"):
            bad.add("ground truth: no 'relevant_windows'", i, qid)
    bad.raise_first()


def select_rows(submission: list, gt_rows: list, match_number: bool, compat: bool) -> tuple:
    """Check the submission's qids against the ground truth; returns the (submission, gt_rows) to score.

    Every row needs a qid of the GT's type. Strict: no duplicates. match_number=True: the qid sets must be
    equal; False: both sides are cut to the shared qids (the official non-strict path).
    """
    if not submission:
        raise SubmissionError("the submission holds no rows")
    qid_type = type(gt_rows[0]["qid"])
    bad = Offenders()
    for i, row in enumerate(submission):
        if "qid" not in row:
            bad.add("no 'qid' key", i, None)
        elif type(row["qid"]) is not qid_type:
            bad.add(f"qid type differs from the ground truth ({qid_type.__name__})", i, row["qid"],
                    f"a {type(row['qid']).__name__}")
    bad.raise_first()

    lines = {}
    for i, row in enumerate(submission):
        lines.setdefault(row["qid"], []).append(i + 1)
    repeated = [(q, ls) for q, ls in lines.items() if len(ls) > 1]
    if repeated:
        shown = "; ".join(f"qid {q!r} on lines {', '.join(map(str, ls))}" for q, ls in repeated[:MAX_SHOWN])
        message = f"{len(repeated)} qid(s) appear on several lines: {shown}"
        if not compat:
            raise SubmissionError(message)
        warn(message + " (compat: pooled for mAP, the last row is used for R1, mIoU and HL)")

    gt_qids = {row["qid"] for row in gt_rows}
    if match_number:
        missing = [row["qid"] for row in gt_rows if row["qid"] not in lines]
        if missing:
            raise SubmissionError(f"the submission misses {len(missing)} of the {len(gt_qids)} ground-truth qids: "
                                  f"{_listed([repr(q) for q in missing])}")
        extra = [f"line {ls[0]} (qid {q!r})" for q, ls in lines.items() if q not in gt_qids]
        if extra:
            raise SubmissionError(f"{len(extra)} submission qid(s) are not in the ground truth: {_listed(extra)}")
        return submission, gt_rows
    shared = gt_qids & set(lines)
    if not shared:
        raise SubmissionError("the submission and the ground truth share no qid")
    return [r for r in submission if r["qid"] in shared], [r for r in gt_rows if r["qid"] in shared]


def has_saliency_labels(gt_rows: list) -> bool:
    return all(r.get("relevant_clip_ids") is not None and r.get("saliency_scores") is not None for r in gt_rows)


def prediction_tasks(submission: list, saliency_labels: bool, compat: bool) -> tuple:
    """(score MR?, score HL?) from the prediction keys the rows carry.

    The official evaluator looks at the first row only and crashes (KeyError) when a later row lacks a key;
    strict mode also refuses rows that carry more than the first row.
    """
    first = tuple(k in submission[0] for k in (WINDOWS, SALIENCY))
    bad = Offenders()
    for i, row in enumerate(submission):
        has = tuple(k in row for k in (WINDOWS, SALIENCY))
        lacks = any(f and not h for f, h in zip(first, has))
        if lacks or (has != first and not compat):
            carried = " and ".join(k for k, h in zip((WINDOWS, SALIENCY), has) if h) or "no prediction"
            bad.add(f"rows differ in which predictions they carry (line 1: "
                    f"{' and '.join(k for k, f in zip((WINDOWS, SALIENCY), first) if f) or 'no prediction'})",
                    i, row["qid"], f"carries {carried}")
    bad.raise_first()
    if not any(first):
        raise SubmissionError(f"line 1 (qid {submission[0]['qid']!r}) carries neither '{WINDOWS}' nor '{SALIENCY}'")
    if first[1] and not saliency_labels:
        raise SubmissionError(f"the submission carries '{SALIENCY}' (line 1, qid {submission[0]['qid']!r}) but the "
                              f"ground truth has no saliency labels (relevant_clip_ids / saliency_scores), "
                              f"e.g. Charades-STA: drop the key")
    return first


def _finite_numbers(values: list) -> bool:
    """All of values are finite real numbers: int or float (numpy scalars too), not bool."""
    types = set(map(type, values))
    if not types <= {int, float} and not all(issubclass(t, numbers.Real) and t is not bool for t in types):
        return False
    try:
        return all(map(math.isfinite, values))
    except OverflowError:  # an int too large for a float
        return False


def _as_list(value):
    """In-memory rows may hold numpy arrays or tuples where a JSON file holds lists."""
    return value.tolist() if isinstance(value, np.ndarray) else list(value) if type(value) is tuple else value


def check_windows(submission: list, gt_by_qid: dict, compat: bool) -> list:
    """Checked windows of every row: a list of [[start, end, score], ...] per row (floats).

    Errors: not a list, empty, a window that is not 3 finite numbers (compat: at least 3), start > end
    (strict). Warnings: more than 10 windows, windows outside [0, duration], windows not listed by
    descending score, inverted windows (compat).
    """
    errors, notes = Offenders(), Offenders()
    checked = []
    for i, row in enumerate(submission):
        qid, windows = row["qid"], _as_list(row[WINDOWS])
        if type(windows) is not list or not windows:
            errors.add(f"'{WINDOWS}' is empty or not a list", i, qid, repr(windows)[:60])
            checked.append([])
            continue
        rows = []
        for k, w in enumerate(windows):
            w = _as_list(w)
            if (type(w) is not list or len(w) < 3 or (len(w) > 3 and not compat)
                    or not _finite_numbers(w[:3])):
                errors.add("a window is not 3 finite numbers [start, end, score]", i, qid, f"window {k} = {w!r}"[:80])
                break
            rows.append([float(x) for x in w[:3]])
        else:
            duration = gt_by_qid[qid].get("duration")
            inverted = [w for w in rows if w[0] > w[1]]
            if inverted:
                (notes if compat else errors).add("a window has start > end", i, qid, f"{inverted[0][:2]}")
            if len(rows) > 10:
                notes.add("more than 10 windows (only the first 10 as listed are scored)", i, qid, f"{len(rows)}")
            if duration is not None and any(w[0] < 0 or w[1] > duration for w in rows):
                notes.add("windows outside [0, duration] (scored as given, not clipped)", i, qid,
                          f"duration {duration}")
            if any(a[2] < b[2] for a, b in zip(rows, rows[1:])):
                notes.add("windows not listed by descending score (R1 and mIoU use the first listed window)", i, qid)
        checked.append(rows)
    errors.raise_first()
    notes.warn_all()
    return checked


def check_saliency(submission: list, n_clips: list, compat: bool, shortfall_ok: int = 0) -> list:
    """Checked saliency lists (floats), one per row; n_clips[i] is the number of clips of row i's video.

    Errors: not a list, empty, non-finite or non-numbers; strict: a length other than n_clips, except up to
    `shortfall_ok` scores fewer (scored as the official evaluator does, with a warning). compat: any
    length, with a warning.
    """
    errors, notes = Offenders(), Offenders()
    checked = []
    for i, (row, n) in enumerate(zip(submission, n_clips)):
        qid, scores = row["qid"], _as_list(row[SALIENCY])
        if type(scores) is not list or not scores or not _finite_numbers(scores):
            errors.add(f"'{SALIENCY}' is empty or not a list of finite numbers", i, qid, repr(scores)[:60])
            checked.append([])
            continue
        if len(scores) != n:
            detail = f"{len(scores)} scores for {n} clips"
            if compat:
                notes.add("saliency length differs from the number of clips (compat: scored as the official "
                          "evaluator does)", i, qid, detail)
            elif 0 < n - len(scores) <= shortfall_ok:
                notes.add(f"saliency list up to {shortfall_ok} clip(s) short (scored as the official evaluator "
                          f"does: zero-padded)", i, qid, detail)
            else:
                errors.add("saliency length differs from the number of clips", i, qid, detail)
        checked.append([float(x) for x in scores])
    errors.raise_first()
    notes.warn_all()
    return checked
