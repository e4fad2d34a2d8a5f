"""Strict reading and validation of annotation files and feature arrays.

Every problem raises `DataError` (a ValueError) whose message names the file, the 1-based line and the field,
e.g. `data/train.jsonl:17: field 'relevant_windows'[1] = [140, 160] is outside the video (duration 150 s)`.
The command-line tools print the message as one `error: ...` line (video_lights.utils.cli).
"""
import json
import math
from numbers import Integral, Real

import numpy as np

from video_lights.utils.cli import UserError


class DataError(UserError, ValueError):
    """Malformed annotation or feature data; the message says where (file, line, field)."""


class MissingStoreError(DataError):
    """A feature folder or packed store does not exist (build_dataset adds what to download)."""


def read_jsonl(path, errors=None):
    """Read a JSON-lines file into a list of (lineno, row dict). Blank lines are skipped.

    Raises DataError for a missing file, an unparsable line or a line that is not a JSON object; with a list
    `errors`, a bad line is appended there as a message and skipped instead (the check command reports them all).
    """
    rows = []
    try:
        f = open(path, "r", encoding="utf-8")
    except OSError as e:
        raise DataError(f"{path}: cannot open annotation file ({e.strerror})") from None
    with f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise DataError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
            except (json.JSONDecodeError, DataError) as e:
                if isinstance(e, json.JSONDecodeError):
                    e = DataError(f"{path}:{lineno}: not valid JSON ({e.msg} at column {e.colno})")
                if errors is None:
                    raise e from None
                errors.append(str(e))
                continue
            rows.append((lineno, row))
    if not rows:
        raise DataError(f"{path}: the annotation file has no valid row" if errors else
                        f"{path}: the annotation file is empty")
    return rows


def _is_num(x):
    return isinstance(x, Real) and not isinstance(x, bool) and math.isfinite(x)


def _is_int(x):
    return isinstance(x, Integral) and not isinstance(x, bool)


def validate_row(row, where, kind, load_labels, clip_length=2, tol=1e-3):
    """Check one annotation row. `where` = "file:line" prefix; kind: a label kind of data/specs.py. Raises
    DataError."""
    def fail(field, msg, index=None):
        at = "" if index is None else f"[{index}]"
        raise DataError(f"{where}: field '{field}'{at} {msg}")

    for field in ("qid", "query", "vid", "duration"):
        if field not in row:
            fail(field, "is missing")
    if not isinstance(row["qid"], (str, int)) or isinstance(row["qid"], bool):
        fail("qid", f"must be an int or a string, got {row['qid']!r}")
    if not isinstance(row["vid"], str) or not row["vid"]:
        fail("vid", f"must be a non-empty string, got {row['vid']!r}")
    if not isinstance(row["query"], str):
        fail("query", f"must be a string, got {type(row['query']).__name__}")
    duration = row["duration"]
    if not _is_num(duration) or duration <= 0:
        fail("duration", f"must be a positive number, got {duration!r}")
    if not load_labels:
        return

    if kind in ("tvsum", "youtube"):
        label = row.get("label")
        if label is None:
            fail("label", "is missing (rows need per-clip scores: #clips x annotators)")
        try:
            arr = np.asarray(label, dtype=np.float64)
        except (TypeError, ValueError):
            fail("label", "must be a rectangular list of per-clip score lists")
        if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
            fail("label", f"must be a non-empty #clips x #annotators list, got shape {arr.shape}")
        if not np.isfinite(arr).all():
            fail("label", "contains NaN or inf")
        return

    windows = row.get("relevant_windows")
    if windows is None:
        fail("relevant_windows", "is missing")
    if not isinstance(windows, list) or len(windows) == 0:
        fail("relevant_windows", f"must be a non-empty list of [start, end], got {windows!r}")
    for i, w in enumerate(windows):
        if not (isinstance(w, (list, tuple)) and len(w) == 2 and all(_is_num(x) for x in w)):
            fail("relevant_windows", f"= {w!r} is not a [start, end] pair of numbers", i)
        if w[1] < w[0]:
            fail("relevant_windows", f"= {list(w)} ends before it starts", i)
        if w[0] < -tol or w[1] > duration + tol:
            fail("relevant_windows", f"= {list(w)} is outside the video (duration {duration} s)", i)
    if kind != "qvhighlights":
        return

    for field in ("relevant_clip_ids", "saliency_scores"):
        if field not in row:
            fail(field, "is missing")
        if not isinstance(row[field], list) or len(row[field]) == 0:
            fail(field, f"must be a non-empty list, got {row[field]!r}")
    ids, scores = row["relevant_clip_ids"], row["saliency_scores"]
    if len(ids) != len(scores):
        fail("saliency_scores", f"has {len(scores)} entries but relevant_clip_ids has {len(ids)}")
    n_clips = math.ceil(duration / clip_length - 1e-9)
    for i, c in enumerate(ids):
        if not _is_int(c) or c < 0:
            fail("relevant_clip_ids", f"= {c!r} is not a non-negative int", i)
        if c >= n_clips:
            fail("relevant_clip_ids", f"= {c} is outside the video (duration {duration} s = {n_clips} clips "
                                      f"of {clip_length} s)", i)
    width = None
    for i, s in enumerate(scores):
        if not (isinstance(s, list) and len(s) > 0 and all(_is_num(x) for x in s)):
            fail("saliency_scores", f"= {s!r} is not a non-empty list of numbers", i)
        if width is None:
            width = len(s)
        elif len(s) != width:
            fail("saliency_scores", f"has {len(s)} rater scores, expected {width} like entry 0", i)


def check_feature_array(arr, path, expect_dim=None, what="feature"):
    """Raise DataError unless arr is a finite 2-D (rows, dim) array with rows > 0 (and dim == expect_dim)."""
    if arr.ndim != 2:
        raise DataError(f"{path}: {what} array has shape {tuple(arr.shape)}, expected (rows, dim)")
    if arr.shape[0] == 0:
        raise DataError(f"{path}: {what} array is empty (0 rows)")
    if expect_dim is not None and arr.shape[1] != expect_dim:
        raise DataError(f"{path}: {what} dim is {arr.shape[1]}, expected {expect_dim}")
    if not np.isfinite(arr).all():
        n_bad = int((~np.isfinite(arr)).sum())
        raise DataError(f"{path}: {what} array contains {n_bad} NaN/inf values")


def missing_message(store_name, missing, total, what, show=5):
    """One message for `missing` names (a list) out of `total` expected in one feature store."""
    first = ", ".join(missing[:show])
    more = "" if len(missing) <= show else ", ..."
    return (f"{store_name}: {len(missing)} of {total} {what} feature files are missing "
            f"(first: {first}{more})")
