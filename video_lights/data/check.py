"""Check a dataset without training: annotations, feature files, dimensions and values.

    python -m video_lights.data.check --preset qvhl --feat_root ../Datasets/qvhl/features
    python -m video_lights.data.check --train_path data/train.jsonl --eval_path data/val.jsonl \
        --v_feat_dirs feats/slowfast_features feats/clip_features --v_feat_dim 2816 \
        --t_feat_dirs feats/clip_text_features --t_feat_dim 512 [--splits train eval] [--max_errors 20]

Takes the training options (any of them, presets included). For each annotation file it reports malformed lines,
missing or invalid fields, windows outside the video, missing feature files (count and first few), and, by
loading every item exactly as training does, feature files with a wrong dimension, NaN/inf values or no rows.
Exit status 0 when everything is fine, 1 otherwise (the messages name file, line and field).
"""
import argparse
import sys

from video_lights.config import parse_args
from video_lights.data.dataset import build_dataset
from video_lights.data.validate import DataError, cli_guard


def check_file(opt, path, load_labels=True, progress=False):
    """All problems of one annotation file with its features: (list of messages, number of rows checked)."""
    try:
        ds = build_dataset(opt, path, load_labels=load_labels, skip_invalid=True)
    except DataError as e:  # unreadable file, bad JSON line, missing feature folder
        return [str(e)], 0
    errors = list(ds.errors)
    indices = range(len(ds))
    if progress:
        from tqdm import tqdm
        indices = tqdm(indices, desc=path, unit="query", leave=False)
    for i in indices:
        if not ds.has_feature_files(i):  # already reported as missing
            continue
        try:
            ds[i]
        except DataError as e:
            errors.append(str(e))
    return errors, len(ds)


@cli_guard
def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], add_help=False)
    p.add_argument("--splits", nargs="+", choices=["train", "eval"], default=["train", "eval"])
    p.add_argument("--max_errors", type=int, default=20, help="print at most this many messages per file")
    p.add_argument("--no_progress", action="store_true")
    p.add_argument("-h", "--help", action="store_true")
    own, rest = p.parse_known_args(argv)
    if own.help:
        print(__doc__)
        return 0
    opt = parse_args(rest + (["--device", "cpu"] if "--device" not in rest else []))
    n_bad = 0
    for split in own.splits:
        path = opt.train_path if split == "train" else opt.eval_path
        load_labels = split == "train" or opt.eval_split_name == "val"
        errors, n = check_file(opt, path, load_labels=load_labels, progress=not own.no_progress)
        if errors:
            n_bad += 1
            print(f"{split}: {path}: {len(errors)} problem(s)", file=sys.stderr)
            for msg in errors[:own.max_errors]:
                print(f"  error: {msg}", file=sys.stderr)
            if len(errors) > own.max_errors:
                print(f"  ... and {len(errors) - own.max_errors} more", file=sys.stderr)
        else:
            print(f"{split}: {path}: OK ({n} queries, labels {'checked' if load_labels else 'not loaded'})")
    return 1 if n_bad else 0


if __name__ == "__main__":
    sys.exit(main())
