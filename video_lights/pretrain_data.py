"""Synthetic pretraining queries from raw videos: BLIP captions of one frame per 10 s, each the query of its
window, with BLIP ITM pseudo-saliency (the authors' recipe, video_lights/features/captions.py), written in the
format of the released `pre_train_blip.jsonl`.

    python -m video_lights.pretrain_data --videos VIDEO_DIR_OR_LIST --out pre_train_blip.jsonl \
        [--captioner Salesforce/blip-image-captioning-large] [--matcher Salesforce/blip-itm-base-coco] \
        [--max_duration 500] [--batch_size 16] [--device auto|cpu|cuda] [--fp16]
    torchrun --nproc_per_node 4 -m video_lights.pretrain_data ...   # each rank a fixed, disjoint share

Videos: every video file of a folder or the paths listed in a text file (one per line); a video's id is its file
name without the extension and without "-cam-002". Videos longer than --max_duration seconds are skipped with a
note (the authors' rule); one past a decoding limit (--max_pixels, --max_video_s, --max_decode_s) is a failure.
Each finished video is written at once, atomically, to its own part file in OUT.parts/; when every rank is
done the parts are appended to OUT (atomically: existing lines kept, new videos in id order) and OUT.parts/ is
removed, so a stopped run resumes where it stopped and a rerun skips the videos already in OUT. A video that
cannot be read is reported by name and reason, the others carry on, and the command exits with status 2 after a
summary of every failure (of all ranks).
Then `python -m video_lights.extract --dataset pretrain_captions --annotations OUT ...` makes its features.
"""
import os
import shutil
import sys
import time

from video_lights.data.annotations import DataError, read_jsonl
from video_lights.features.layouts import DEFAULT_MODELS
from video_lights.features.limits import add_limit_options, limits_from_args
from video_lights.features.sources import video_id, videos_by_id
from video_lights.utils.cli import ArgumentParser, UserError, command
from video_lights.utils.distributed import gather, local_device, other_rank_status, rank_and_world, report_failures
from video_lights.utils.io import atomic_open, remove_stale_tmp

DROPPED_SUFFIX = "-cam-002"     # the authors' generator strips it from the video id


def build_parser():
    p = ArgumentParser(prog="python -m video_lights.pretrain_data", description=__doc__.split("\n\n")[0])
    p.add_argument("--videos", required=True, help="a folder of videos or a text file listing video paths")
    p.add_argument("--out", required=True, help="the jsonl to write (appended to when it exists)")
    p.add_argument("--captioner", default=DEFAULT_MODELS["blip_captioner"],
                   help="BLIP captioner: hub id (local cache) or folder")
    p.add_argument("--matcher", default=DEFAULT_MODELS["blip_itm"],
                   help="BLIP ITM model: hub id (local cache) or folder")
    p.add_argument("--max_duration", type=float, default=500.0, help="skip videos longer than this (s)")
    p.add_argument("--batch_size", type=int, default=16,
                   help="caption frames per batch (videos are grouped up to it) and ITM frames / pairs per pass")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (torchrun: cuda:LOCAL_RANK)")
    p.add_argument("--fp16", action="store_true", help="both BLIP models in float16 (CUDA; the authors ran float32)")
    p.add_argument("--bf16", action="store_true",
                   help="both BLIP models under bfloat16 autocast (a CPU with AMX / AVX512-BF16, or CUDA; float32 "
                        "with a warning elsewhere)")
    add_limit_options(p)
    return p


def pretrain_vid(path) -> str:
    """The id of a video in the captions: its file name without extension and without "-cam-002"."""
    return video_id(path).replace(DROPPED_SUFFIX, "")


def list_work(videos_arg) -> list:
    """Sorted [(vid, path)] of the videos; UserError when two files give the same id."""
    out = videos_by_id(videos_arg, pretrain_vid)
    if not out:
        raise UserError(f"{videos_arg}: no video files")
    return sorted(out.items())


def _parts_dir(out) -> str:
    return f"{out}.parts"


def _part_path(out, vid) -> str:
    return os.path.join(_parts_dir(out), f"{vid}.jsonl")


def done_vids(out) -> set:
    """The ids of the videos already captioned: those with rows in `out` and those with a complete part file (a
    damaged one is named on stderr and captioned again)."""
    done = set()
    if os.path.exists(out):
        try:
            rows = read_jsonl(out)
        except DataError as e:
            if "is empty" not in str(e):
                raise
            rows = []
        for lineno, row in rows:
            if not isinstance(row.get("vid"), str):
                raise DataError(f"{out}:{lineno}: field 'vid' is missing or not a string; is this a captions file?")
            done.add(row["vid"])
    parts = _parts_dir(out)
    if os.path.isdir(parts):
        for vid in (f[:-len(".jsonl")] for f in os.listdir(parts) if f.endswith(".jsonl")):
            _, reason = read_part(_part_path(out, vid), vid)
            if reason is None:
                done.add(vid)
            elif rank_and_world()[0] == 0:  # every rank reads every part; one says it
                print(f"{_part_path(out, vid)}: damaged ({reason}); captioning it again", file=sys.stderr, flush=True)
    return done


def read_part(path, vid):
    """(text, None) for the part file `path` of video `vid`, or (None, why it is damaged: not JSON lines of records
    of `vid`, each ending with a newline)."""
    import json
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        return None, f"unreadable: {e}"
    if text and not text.endswith("\n"):
        return None, "its last line has no newline (truncated)"
    for lineno, line in enumerate(text.splitlines(), 1):
        try:
            row = json.loads(line)
        except ValueError:
            return None, f"line {lineno}: not valid JSON"
        if not isinstance(row, dict) or row.get("vid") != vid:
            return None, f"line {lineno}: not a record of video {vid!r}"
    return text, None


def write_part(out, vid, records):
    """One finished video's records (possibly none), atomically, as OUT.parts/{vid}.jsonl."""
    import json
    with atomic_open(_part_path(out, vid), "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)


def merge_parts(out, vids):
    """Append the part files of `vids` (in that order) to `out` atomically, then remove OUT.parts/."""
    parts = _parts_dir(out)
    if not os.path.isdir(parts):
        return
    remove_stale_tmp([out])  # a merge killed mid-write
    with atomic_open(out, "w", encoding="utf-8") as f:
        if os.path.exists(out):
            with open(out, encoding="utf-8") as old:
                text = old.read()
            f.write(text if not text or text.endswith("\n") else text + "\n")
        for vid in vids:
            path = _part_path(out, vid)
            text = read_part(path, vid)[0] if os.path.isfile(path) else None
            if text is not None:  # None: still damaged, its video failed again
                f.write(text)
    shutil.rmtree(parts)


def _load_models(args):
    try:
        from video_lights.features.blip import BlipCaptioner, BlipMatcher
        from video_lights.features.precision import extractor_settings, resolve_precision
    except ImportError as e:
        raise UserError(f"caption generation needs the video extra: pip install -e .[video] ({e})") from None
    device = local_device(args.device)
    precision, note = resolve_precision(device, args.fp16, args.bf16)
    if note:
        print(note, file=sys.stderr, flush=True)
    settings = extractor_settings(precision)
    return (BlipCaptioner(args.captioner, device=device, batch_size=args.batch_size, **settings),
            BlipMatcher(args.matcher, device=device, batch_size=args.batch_size, **settings))


def run(args):
    """Caption this rank's share; returns (the summaries of all ranks, every video id in order)."""
    if args.batch_size < 1:
        raise UserError(f"--batch_size must be at least 1, got {args.batch_size}")
    try:
        from video_lights.features.captions import caption_videos, read_video
        from video_lights.features.decode import VideoError, probe
    except ImportError as e:
        raise UserError(f"caption generation needs the video extra: pip install -e .[video] ({e})") from None
    limits = limits_from_args(args)
    rank, world = rank_and_world()
    work = list_work(args.videos)
    done = done_vids(args.out)
    mine = work[rank::world]                                 # a fixed, disjoint share per rank
    todo = [(vid, p) for vid, p in mine if vid not in done]
    summary = {"rank": rank, "videos": 0, "queries": 0, "frames": 0, "empty_captions": 0,
               "skipped": len(mine) - len(todo), "long": [], "failed": [], "seconds": 0.0}
    if todo:
        captioner, matcher = _load_models(args)
        start = time.perf_counter()
        group = []

        def flush():
            records = caption_videos(group, captioner, matcher)
            for video in group:
                write_part(args.out, video.vid, records[video.vid])
                summary["videos"] += 1
                summary["queries"] += len(records[video.vid])
                summary["frames"] += len(video.caption_frames)
                summary["empty_captions"] += len(video.caption_frames) - len(records[video.vid])
            group.clear()
        for vid, path in todo:
            try:
                info = probe(path, limits)
                if info.duration is not None and info.duration > args.max_duration:
                    summary["long"].append(f"{path}: {info.duration:.1f} s is longer than --max_duration "
                                           f"{args.max_duration:g} s; skipped")
                    continue
                group.append(read_video(path, vid, info, limits))
            except VideoError as e:
                summary["failed"].append(str(e))
                continue
            if sum(len(v.caption_frames) for v in group) >= args.batch_size:
                flush()
        if group:
            flush()
        summary["seconds"] = time.perf_counter() - start
    return gather(summary), [vid for vid, _ in work]


def report(summaries):
    """One summary line for all ranks, a note per skipped long video, an error line per failed video; returns the
    exit status."""
    total = {k: sum(s[k] for s in summaries) for k in ("videos", "queries", "frames", "empty_captions", "skipped")}
    seconds = max(s["seconds"] for s in summaries)
    long = [n for s in summaries for n in s["long"]]
    failed = [f for s in summaries for f in s["failed"]]
    speed = f", {total['frames'] / seconds:.2f} captions/s" if seconds > 0 and total["frames"] else ""
    empty = f" ({total['empty_captions']} empty captions dropped)" if total["empty_captions"] else ""
    print(f"captioned {total['videos']} videos into {total['queries']} queries{empty}, skipped {total['skipped']} "
          f"already done and {len(long)} too long, {len(failed)} failed ({len(summaries)} rank(s){speed})")
    for n in long:
        print(f"note: {n}")
    return report_failures(failed)


@command
def main(argv=None):
    args = build_parser().parse_args(argv)
    summaries, vids = run(args)
    if rank_and_world()[0] != 0:
        return other_rank_status(summaries)
    merge_parts(args.out, vids)
    return report(summaries)


if __name__ == "__main__":
    sys.exit(main())
