"""Check a dataset without training: annotations, feature files, dimensions and values, every problem in one pass.

    python -m video_lights.data.check --preset qvhl --feat_root ../Datasets/qvhl/features
    python -m video_lights.data.check --dataset my_spec.json --train_path data/train.jsonl \
        --eval_path data/val.jsonl --v_feat_dirs feats/slowfast_features feats/clip_features --v_feat_dim 2816 \
        --t_feat_dirs feats/clip_text_features --t_feat_dim 512 [--splits train eval] [--max_errors 20]

Takes the training options (any of them, presets and dataset specs included). For each annotation file it reports
malformed JSON lines (and checks the other lines), missing or invalid fields, windows outside the video, missing
feature files (count and first few), unreadable feature folders, and, by loading every item exactly as training
does, feature files with a wrong dimension, NaN/inf values or no rows. Exit status 0 when everything is fine, 2
otherwise (the messages name file, line and field).
"""
import sys

from video_lights.config import parse_args
from video_lights.data.annotations import DataError
from video_lights.data.dataset import build_dataset
from video_lights.utils.cli import USER_ERROR, ArgumentParser, command, describe_os_error


def check_file(opt, path, spec, progress=False):
    """All problems of one annotation file with its features: (list of messages, number of rows checked)."""
    errors = []
    try:
        ds = build_dataset(opt, path, spec=spec, errors=errors)
    except DataError as e:  # unreadable annotation file, missing feature folder, rows mixing labels
        return errors + [str(e)], 0
    except OSError as e:  # an unreadable feature folder
        return errors + [describe_os_error(e)], 0
    indices = range(len(ds))
    if progress and sys.stderr.isatty():
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


@command
def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    p = ArgumentParser(description=__doc__.split("\n\n")[0], add_help=False)
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
        path, spec = (opt.train_path, opt.dataset) if split == "train" else (opt.eval_path, opt.eval_dataset)
        if not path:
            print(f"{split}: no file (--{split}_path is empty)")
            continue
        errors, n = check_file(opt, path, spec, progress=not own.no_progress)
        if errors:
            n_bad += 1
            print(f"{split}: {path}: {len(errors)} problem(s)", file=sys.stderr)
            for msg in errors[:own.max_errors]:
                print(f"  error: {msg}", file=sys.stderr)
            if len(errors) > own.max_errors:
                print(f"  ... and {len(errors) - own.max_errors} more", file=sys.stderr)
        else:
            print(f"{split}: {path}: OK ({n} queries)")
    return USER_ERROR if n_bad else 0


if __name__ == "__main__":
    sys.exit(main())
