"""Convert annotations of other formats to the QVHighlights JSON-lines format that training reads.

    python -m video_lights.convert csv queries.csv --out data/mine/train.jsonl [--videos VIDEO_DIR]
    python -m video_lights.convert activitynet train.json --out data/activitynet/train.jsonl
    python -m video_lights.convert charades charades_sta_test.txt --out test.jsonl --videos Charades_v1_480/
    python -m video_lights.convert tacos test.json --out data/tacos/test.jsonl   [--clip_length 2]

Formats (video_lights/data/converters/): csv (a CSV / TSV with a header: video, query, start, end[, duration][,
qid]), activitynet (ActivityNet Captions JSON), charades (Charades-STA's "vid start end##sentence" lines), tacos
(2D-TAN's TACoS JSON). Durations the input lacks are probed from the videos in --videos (PyAV, the video extra).
Saliency labels are derived from the windows (clips whose centre lies in a window score [4, 4, 4]; rows carry
"saliency_derived": true; --clip_length sets the clips, 2 s by default). Every bad row is reported with its file
and line (or JSON entry) and then nothing is written: exit status 2. The output is written atomically.
"""
import sys

from video_lights.data.converters import READERS, Problems, to_rows
from video_lights.utils.cli import USER_ERROR, ArgumentParser, UserError, command
from video_lights.utils.io import save_jsonl


def build_parser():
    p = ArgumentParser(prog="python -m video_lights.convert", description=__doc__.split("\n\n")[0])
    p.add_argument("format", choices=sorted(READERS), help="the input's format")
    p.add_argument("input", help="the annotation file to convert")
    p.add_argument("--out", required=True, help="the QVHighlights-format .jsonl to write")
    p.add_argument("--videos", help="folder of the videos ({vid}.mp4, .mkv, ...): durations the input lacks are "
                                    "probed from them")
    p.add_argument("--clip_length", type=float, default=2.0,
                   help="seconds per clip of the derived saliency labels (the dataset's clip length; default 2)")
    return p


def probe_durations(vids, video_dir, where, problems):
    """{vid: duration in s} probed from video_dir (features/decode.py, imported here: it needs PyAV); a video that
    is missing or unreadable is a problem named by the first row that needs it."""
    if not vids:
        return {}
    if video_dir is None:
        for vid in vids:
            problems.add(where[vid], f"no duration for video '{vid}': give --videos DIR to probe it from the video")
        return {}
    try:
        from video_lights.features.decode import VideoError, probe
        from video_lights.features.sources import find_video
    except ImportError as e:
        raise UserError(f"probing durations needs the video extra: pip install -e .[video] ({e})") from None
    out = {}
    for vid in vids:
        path = find_video(video_dir, vid)
        try:
            if path is None:
                raise VideoError(vid, f"no video file named {vid}.* in {video_dir}")
            duration = probe(path).duration
        except VideoError as e:
            problems.add(where[vid], f"cannot probe the duration of video '{vid}': {e}")
            continue
        if not duration or duration <= 0:
            problems.add(where[vid], f"video '{vid}' ({path}) reports no duration")
            continue
        out[vid] = duration
    return out


def convert(fmt, path, video_dir=None, clip_length=2.0):
    """(QVHighlights rows, notes, number of probed durations) of one input file; ConversionError listing every
    bad row."""
    if not clip_length > 0:
        raise UserError(f"--clip_length must be positive, got {clip_length}")
    problems = Problems()
    try:
        queries = READERS[fmt](path, problems)
    except OSError as e:
        raise UserError(f"{path}: cannot read ({e.strerror})") from None
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    durations = {q.vid: q.duration for q in queries if q.duration is not None}
    first_row = {}
    for q in queries:
        if q.vid not in durations:
            first_row.setdefault(q.vid, q.where)
    probed = probe_durations(list(first_row), video_dir, first_row, problems)
    rows = to_rows(queries, {**durations, **probed}, clip_length, problems)
    if not queries and not problems.messages:
        problems.add(path, "holds no query")
    problems.raise_any()
    return rows, problems.notes, len(probed)


@command
def main(argv=None):
    args = build_parser().parse_args(argv)
    from video_lights.data.converters import ConversionError
    try:
        rows, notes, n_probed = convert(args.format, args.input, args.videos, args.clip_length)
    except ConversionError as e:
        for message in e.problems:
            print(f"error: {message}", file=sys.stderr)
        print(f"error: {args.input}: {len(e.problems)} problem(s); nothing written", file=sys.stderr)
        return USER_ERROR
    save_jsonl(rows, args.out)
    for note in notes:
        print(f"note: {note}")
    print(f"wrote {len(rows)} queries of {len({r['vid'] for r in rows})} videos to {args.out}"
          f"{f' ({n_probed} durations probed from the videos)' if n_probed else ''}; saliency derived from the "
          f"windows ({args.clip_length:g}-s clips)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
