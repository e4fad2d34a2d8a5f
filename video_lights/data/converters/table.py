"""A CSV or TSV of queries: a header naming the columns video, query, start, end (seconds) and optionally duration
(seconds) and qid, then one window per line. Lines with the same qid (or, without a qid column, the same video and
query) are one query with several windows. `video` is a video id or file name (its extension is dropped: the
features of `python -m video_lights.extract` are named by the file name without it). A .tsv / .tab file is
tab-separated, any other comma-separated."""
import csv
import os

from video_lights.data.converters.records import Query, number

REQUIRED = ("video", "query", "start", "end")
OPTIONAL = ("duration", "qid")
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".mpg", ".mpeg", ".m4v")  # also what extract reads


def video_name(value):
    """The video id of a `video` cell: the file name without a video extension."""
    base = os.path.basename(value.strip())
    stem, ext = os.path.splitext(base)
    return stem if ext.lower() in VIDEO_EXTENSIONS else base


def _qid(text):
    return int(text) if text.lstrip("-").isdigit() else text


def read_table(path, problems):
    """[Query] of a CSV / TSV file (see the module docstring); bad lines are added to `problems`."""
    delimiter = "\t" if path.lower().endswith((".tsv", ".tab")) else ","
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f, delimiter=delimiter)
        header = next(reader, None)
        if header is None:
            problems.add(path, "the file is empty (expected a header line: video, query, start, end[, duration])")
            return []
        columns = [c.strip().lower() for c in header]
        missing = [c for c in REQUIRED if c not in columns]
        unknown = [c for c in columns if c not in REQUIRED + OPTIONAL]
        if missing or unknown:
            what = "; ".join(([f"missing column(s) {', '.join(missing)}"] if missing else [])
                             + ([f"unknown column(s) {', '.join(unknown)}"] if unknown else []))
            problems.add(f"{path}:1", f"header {header}: {what} (columns: {', '.join(REQUIRED + OPTIONAL)}; "
                                      f"{'tab' if delimiter == chr(9) else 'comma'}-separated)")
            return []
        queries, by_key, durations = [], {}, {}
        for cells in reader:
            where = f"{path}:{reader.line_num}"
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(columns):
                problems.add(where, f"{len(cells)} fields, the header has {len(columns)}")
                continue
            row = {c: v.strip() for c, v in zip(columns, cells)}
            n_bad = len(problems.messages)
            vid = video_name(row["video"])
            if not vid:
                problems.add(where, "field 'video' is empty")
            if not row["query"]:
                problems.add(where, "field 'query' is empty")
            st = number(row["start"], where, "start", problems)
            ed = number(row["end"], where, "end", problems)
            duration = number(row["duration"], where, "duration", problems, positive=True) \
                if row.get("duration") else None
            if duration is not None and durations.setdefault(vid, (duration, where))[0] != duration:
                problems.add(where, f"field 'duration' = {duration} differs from {durations[vid][0]} given for "
                                    f"video '{vid}' at {durations[vid][1]}")
            if len(problems.messages) > n_bad:
                continue
            key = ("qid", _qid(row["qid"])) if row.get("qid") else ("text", vid, row["query"])
            if key in by_key:
                if by_key[key].vid != vid or by_key[key].query != row["query"]:
                    problems.add(where, f"qid {row['qid']!r} is already used by {by_key[key].where} for another "
                                        f"video or query")
                    continue
                by_key[key].windows.append([st, ed])
                continue
            by_key[key] = Query(vid, row["query"], [[st, ed]], where, duration,
                                _qid(row["qid"]) if row.get("qid") else None)
            queries.append(by_key[key])
    for q in queries:  # a duration given on any line of the video holds for all its queries
        if q.duration is None and q.vid in durations:
            q.duration = durations[q.vid][0]
    return queries
