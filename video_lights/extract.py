"""Extract VideoLights features from raw videos and queries, in the layout the presets read.

    python -m video_lights.extract --dataset qvhighlights --out FEAT_ROOT --videos VIDEO_DIR_OR_LIST \
        [--annotations data/highlight_val_release.jsonl ...] [--video_dir DIR] \
        [--extractors slowfast clip blip2] [--slowfast SLOWFAST_8x8_R50.safetensors] \
        [--clip openai/clip-vit-base-patch32] [--blip2 Salesforce/blip2-itm-vit-g] [--frame_rule modern|legacy]
    torchrun --nproc_per_node 4 -m video_lights.extract ...      # each rank a fixed, disjoint share

Videos: every video file of a folder, the paths listed in a text file (one per line), or, with --video_dir, the
videos named by the `vid` of the --annotations rows ({vid}.mp4 / .mkv / .webm / .avi / .mov / .mpg in that folder).
Queries: the `qid` / `query` of the --annotations rows. Each video is decoded once for all video extractors.
Finished files are skipped (every write is atomic), so an interrupted run resumes where it stopped: on resume each
file is read back, a damaged one (a torn copy, say) is named and extracted again, and a killed write's temporary
file is removed. A video that cannot be read (unreadable file, no video stream, no frames, too short) or goes past
a decoding limit (--max_pixels, --max_video_s, --max_decode_s: features/limits.py) is reported by name and reason
and the others carry on; the command then exits with status 2 after a summary of every failure (of all ranks).
`python -m video_lights.train --preset ... --feat_root FEAT_ROOT` reads the output unchanged. FEAT_ROOT/extraction.json
records, per extractor, what its features depend on (weights, precision, clip length, frame rule); a run that asks
for other settings into the same folder is refused by name instead of mixing two kinds of features.
"""
import os
import sys
import time

from video_lights.data.annotations import read_jsonl
from video_lights.data.specs import REGISTRY, load_spec
from video_lights.features.layouts import DEFAULT_MODELS, TEXT_EXTRACTORS, VIDEO_EXTRACTORS, extractor_ids
from video_lights.features.limits import add_limit_options, limits_from_args
from video_lights.features.sources import find_video, videos_by_id, video_id
from video_lights.utils.cli import ArgumentParser, UserError, command
from video_lights.utils.distributed import gather, local_device, other_rank_status, rank_and_world, report_failures
from video_lights.utils.io import load_json, save_json, save_npz

MANIFEST = "extraction.json"  # in --out: the settings each extractor's features were made with

def build_parser():
    p = ArgumentParser(prog="python -m video_lights.extract", description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="qvhighlights",
                   help=f"the dataset spec whose layout to write: {', '.join(REGISTRY)} or a spec file")
    p.add_argument("--out", required=True, help="feature root (the presets' --feat_root)")
    p.add_argument("--videos", help="a folder of videos or a text file listing video paths")
    p.add_argument("--annotations", nargs="+", default=[], help="annotation jsonl files: their queries (and with "
                                                                "--video_dir their videos) are extracted")
    p.add_argument("--video_dir", help="folder holding the videos named by the annotations' vid")
    p.add_argument("--extractors", nargs="+", choices=VIDEO_EXTRACTORS, default=list(VIDEO_EXTRACTORS))
    p.add_argument("--slowfast", help="SlowFast-R50 weights (.safetensors from "
                                      "python -m video_lights.features.convert_slowfast)")
    p.add_argument("--clip", default=DEFAULT_MODELS["clip"], help="CLIP: hub id (local cache) or folder")
    p.add_argument("--blip2", default=DEFAULT_MODELS["blip2"], help="BLIP-2: hub id (local cache) or folder")
    p.add_argument("--frame_rule", choices=["modern", "legacy"], default="modern",
                   help="FFmpeg fps-filter frame selection: modern (FFmpeg >= 4) or legacy (FFmpeg 3.x)")
    p.add_argument("--clip_length", type=float, default=None, help="seconds per clip (default: the spec's)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (torchrun: cuda:LOCAL_RANK)")
    p.add_argument("--batch_size", type=int, default=16, help="frames per CLIP / BLIP-2 batch (SlowFast: / 4)")
    p.add_argument("--fp16", action="store_true", help="CLIP and BLIP-2's ViT in float16 (CUDA), as the authors ran")
    p.add_argument("--bf16", action="store_true",
                   help="bfloat16 autocast (a CPU with AMX / AVX512-BF16, or CUDA; float32 with a warning elsewhere)")
    add_limit_options(p)
    return p


def collect_work(args):
    """(videos: sorted [(vid, path or None)], queries: sorted [(qid, query)]) named by the arguments; UserError when
    two files of --videos give the same id (a.mp4 and a.mkv would write the same feature files)."""
    videos = videos_by_id(args.videos, video_id) if args.videos else {}
    queries = {}
    for ann in args.annotations:
        for _, row in read_jsonl(ann):
            if "qid" in row and "query" in row:
                queries.setdefault(str(row["qid"]), (row["qid"], row["query"]))
            if args.video_dir and "vid" in row:
                videos.setdefault(row["vid"], find_video(args.video_dir, row["vid"]))
    if not videos and not queries:
        raise UserError("nothing to extract: give --videos, or --annotations (with --video_dir for their videos)")
    return sorted(videos.items()), [queries[k] for k in sorted(queries)]


def feature_settings(args, names, precision, clip_length) -> dict:
    """{extractor: {weights, precision, clip_length, frame_rule}}: what the features of each of `names` depend on
    (weights by file or folder name, so a moved copy of the same weights still matches)."""
    weights = extractor_ids(names, {"slowfast": args.slowfast, "clip": args.clip, "blip2": args.blip2})
    return {n: {"weights": os.path.basename(os.path.normpath(weights[n])) if weights[n] else "default",
                "precision": precision, "clip_length": float(clip_length), "frame_rule": args.frame_rule}
            for n in names}


def check_settings(out, settings) -> dict:
    """The manifest of `out` (MANIFEST) with `settings` merged in; UserError naming the file and the setting when
    an extractor's features in `out` were made with other settings (resuming them now would mix the two)."""
    path = os.path.join(out, MANIFEST)
    try:
        done = load_json(path) if os.path.isfile(path) else {}
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: unreadable ({e}); it records how the features in {out} were made") from None
    if not isinstance(done, dict):
        raise UserError(f"{path}: not a JSON object of extractor settings")
    for name, want in settings.items():
        had = done.get(name)
        changed = [k for k in want if had.get(k) != want[k]] if isinstance(had, dict) else []
        if changed:  # keys only the manifest has (a later version's) are not a mismatch
            field = changed[0]
            raise UserError(f"{path}: the {name} features in {out} were extracted with {field} {had.get(field)!r}; "
                            f"this run asks for {want[field]!r}. Finish them with the same options, or extract "
                            f"into another --out")
    return {**done, **settings}


def run(args):
    """Extract this rank's share; returns the summaries of all ranks."""
    try:
        from video_lights.features.decode import VideoError
        from video_lights.features.layouts import Layout
        from video_lights.features.pipeline import Extractors, extract_text, extract_video
        from video_lights.features.precision import resolve_precision
    except ImportError as e:
        raise UserError(f"feature extraction needs the video extra: pip install -e .[video] ({e})") from None
    limits = limits_from_args(args)
    spec = load_spec(args.dataset)
    layout = Layout(args.out, spec)
    clip_length = args.clip_length or spec.clip_length
    rank, world = rank_and_world()
    videos, queries = collect_work(args)
    videos, queries = videos[rank::world], queries[rank::world]  # a fixed, disjoint share per rank
    names = list(args.extractors)
    precision, _ = resolve_precision(local_device(args.device), args.fp16, args.bf16)
    manifest = check_settings(args.out, feature_settings(args, names, precision, clip_length))
    todo_v = layout.unfinished_videos(names, videos)  # missing or damaged files (named on stderr) are redone
    text_names = [n for n in names if n in TEXT_EXTRACTORS]
    todo_q = layout.unfinished_queries(text_names, queries)
    summary = {"rank": rank, "videos": 0, "queries": 0, "skipped": len(videos) - len(todo_v) + len(queries)
               - len(todo_q), "video_seconds": 0.0, "seconds": 0.0, "failed": []}
    if not todo_v and not (todo_q and text_names):
        return gather(summary)
    extractors = Extractors.load(names, slowfast=args.slowfast, clip=args.clip, blip2=args.blip2,
                                 device=local_device(args.device), batch_size=args.batch_size, fp16=args.fp16,
                                 bf16=args.bf16)
    if extractors.precision_note and rank == 0:
        print(extractors.precision_note, file=sys.stderr, flush=True)
    os.makedirs(args.out, exist_ok=True)
    save_json(manifest, os.path.join(args.out, MANIFEST), sort_keys=True)  # every rank writes the same object
    start = time.perf_counter()
    from tqdm import tqdm
    bar = tqdm(unit="s", unit_scale=True, desc=f"seconds of video (rank {rank})", disable=not sys.stderr.isatty())
    for vid, p in todo_v:
        step = {"done": 0.0}

        def advance(done, total, step=step):  # the bar counts seconds of video through the extractors
            bar.update(done - step["done"])
            step["done"] = done
        try:
            if p is None:
                raise VideoError(vid, f"no video file named {vid}.* in {args.video_dir}")
            rows, info = extract_video(p, extractors, clip_length, args.frame_rule, progress=advance, limits=limits)
            for n, feats in rows.items():
                save_npz(layout.video_path(n, vid), **layout.video_arrays(n, feats))
            summary["videos"] += 1
            summary["video_seconds"] += info.duration or 0.0
        except VideoError as e:
            summary["failed"].append(str(e))
    bar.close()
    for qid, query in (todo_q if text_names else []):
        for n, text in extract_text(query, extractors).items():
            save_npz(layout.text_path(n, qid), **layout.text_arrays(n, text))
        summary["queries"] += 1
    summary["seconds"] = time.perf_counter() - start
    return gather(summary)


def report(summaries):
    """One summary line for all ranks and one line per failed video; returns the exit status."""
    total = {k: sum(s[k] for s in summaries) for k in ("videos", "queries", "skipped", "video_seconds")}
    seconds = max(s["seconds"] for s in summaries)
    failed = [f for s in summaries for f in s["failed"]]
    speed = f", {total['video_seconds'] / seconds:.2f} s of video per second" if seconds > 0 and total["videos"] else ""
    print(f"extracted {total['videos']} videos and {total['queries']} queries, skipped {total['skipped']} already "
          f"done, {len(failed)} failed ({len(summaries)} rank(s){speed})")
    return report_failures(failed)


@command
def main(argv=None):
    args = build_parser().parse_args(argv)
    summaries = run(args)
    if rank_and_world()[0] != 0:
        return other_rank_status(summaries)
    return report(summaries)


if __name__ == "__main__":
    sys.exit(main())
