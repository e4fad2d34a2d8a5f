"""Compare re-extracted features with released ones, and decide which FFmpeg frame rule made the released ones.

    python -m video_lights.features.parity --ours OUR_ROOT --released RELEASED_ROOT \
        [--dirs slowfast_features clip_features ...] \
        [--videos VIDEO_DIR --rule_dir clip_features --clip openai/clip-vit-base-patch32 --clip_length 2]

For every feature folder present in both roots: the number of files compared, how many have the same row count,
and the per-row cosine similarity (over the common rows) as median / mean / 5th percentile, plus the worst files.
With --videos, the frame rule is decided from the data: the frames of each video are selected with the `modern`
and the `legacy` rule, embedded with CLIP (or BLIP-2, `--rule_extractor`), and compared with the released rows of
--rule_dir; the rule whose rows match better (higher mean cosine) is reported, per video and overall. Use the
official QVHighlights videos and feature tarball: features of re-downloaded videos differ for other reasons.
"""
import os
import sys

import numpy as np

from video_lights.utils.cli import ArgumentParser, UserError, command


def _rows(path):
    with np.load(path) as z:
        key = "features" if "features" in z.files else z.files[0]
        return z[key].astype(np.float32)


def row_cosines(a, b):
    """Cosine similarity of the common rows of a (n, D) and b (m, D): (min(n, m),)."""
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)


def compare_dirs(ours, released):
    """{"files", "same_rows", "median", "mean", "p5", "worst": [(stem, mean cosine)]} over the common files."""
    stems = sorted({f[:-4] for f in os.listdir(ours) if f.endswith(".npz")}
                   & {f[:-4] for f in os.listdir(released) if f.endswith(".npz")})
    if not stems:
        return None
    same, cos, per_file = 0, [], []
    for s in stems:
        a, b = _rows(os.path.join(ours, s + ".npz")), _rows(os.path.join(released, s + ".npz"))
        same += len(a) == len(b)
        if a.shape[1] != b.shape[1]:
            raise UserError(f"{os.path.join(ours, s + '.npz')}: {a.shape[1]} dims, the released file has {b.shape[1]}")
        c = row_cosines(a, b)
        cos.append(c)
        per_file.append((s, float(c.mean())))
    allc = np.concatenate(cos)
    return {"files": len(stems), "same_rows": same, "median": float(np.median(allc)), "mean": float(allc.mean()),
            "p5": float(np.percentile(allc, 5)), "worst": sorted(per_file, key=lambda x: x[1])[:3]}


def decide_frame_rule(video_paths, released_dir, extractor, clip_length, name="clip"):
    """({video stem: {"modern": mean cosine, "legacy": mean cosine}}, the better rule overall): each video through
    the extraction pipeline (features/pipeline.py extract_video) with either rule, against the released rows."""
    from video_lights.features.pipeline import Extractors, extract_video
    extractors = Extractors(**{name: extractor})
    per_video = {}
    for path in video_paths:
        stem = os.path.splitext(os.path.basename(path))[0]
        target = os.path.join(released_dir, stem + ".npz")
        if not os.path.isfile(target):
            continue
        released = _rows(target)
        scores = {}
        for rule in ("modern", "legacy"):
            rows, _ = extract_video(path, extractors, clip_length, rule)
            scores[rule] = float(row_cosines(rows[name], released).mean())
        per_video[stem] = scores
    if not per_video:
        raise UserError(f"no video of the list has a released feature file in {released_dir}")
    mean = {r: float(np.mean([s[r] for s in per_video.values()])) for r in ("modern", "legacy")}
    return per_video, max(mean, key=mean.get)


def format_table(results):
    lines = [f"{'folder':<32}{'files':>7}{'same rows':>11}{'median cos':>12}{'mean cos':>10}{'p5 cos':>9}"]
    for name, r in results.items():
        lines.append(f"{name:<32}{r['files']:>7}{r['same_rows']:>11}{r['median']:>12.4f}{r['mean']:>10.4f}"
                     f"{r['p5']:>9.4f}   worst: " + ", ".join(f"{s} {c:.3f}" for s, c in r["worst"]))
    return "\n".join(lines)


@command
def main(argv=None):
    p = ArgumentParser(prog="python -m video_lights.features.parity", description=__doc__.split("\n\n")[0])
    p.add_argument("--ours", required=True)
    p.add_argument("--released", required=True)
    p.add_argument("--dirs", nargs="+", help="feature folders to compare (default: every folder in both roots)")
    p.add_argument("--videos", help="a folder of the source videos: decide the frame rule from the data")
    p.add_argument("--rule_dir", default="clip_features", help="released folder used to decide the frame rule")
    p.add_argument("--rule_extractor", choices=["clip", "blip2"], default="clip")
    p.add_argument("--clip", default="openai/clip-vit-base-patch32")
    p.add_argument("--blip2", default="Salesforce/blip2-itm-vit-g")
    p.add_argument("--clip_length", type=float, default=2.0)
    p.add_argument("--device", default="cpu")
    a = p.parse_args(argv)
    for root in (a.ours, a.released):
        if not os.path.isdir(root):
            raise UserError(f"{root}: not a folder")
    dirs = a.dirs or sorted(d for d in os.listdir(a.ours)
                            if os.path.isdir(os.path.join(a.ours, d)) and os.path.isdir(os.path.join(a.released, d)))
    results = {d: r for d in dirs if (r := compare_dirs(os.path.join(a.ours, d), os.path.join(a.released, d)))}
    if not results:
        raise UserError(f"no feature file is in both {a.ours} and {a.released}")
    print(format_table(results))
    if a.videos:
        from video_lights.features.sources import list_videos
        if a.rule_extractor == "clip":
            from video_lights.features.clip import ClipExtractor
            extractor = ClipExtractor(a.clip, device=a.device)
        else:
            from video_lights.features.blip2 import Blip2Extractor
            extractor = Blip2Extractor(a.blip2, device=a.device)
        per_video, rule = decide_frame_rule(list_videos(a.videos), os.path.join(a.released, a.rule_dir), extractor,
                                            a.clip_length, a.rule_extractor)
        for stem, s in per_video.items():
            print(f"{stem}: modern {s['modern']:.4f}  legacy {s['legacy']:.4f}")
        print(f"frame rule of the released {a.rule_dir}: {rule} (extract with --frame_rule {rule})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
