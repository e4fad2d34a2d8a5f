"""Standalone evaluator: QVHighlights / Charades-STA / TACoS moment retrieval + highlight detection, TVSum and
YouTube Highlights.

Reproduces the VideoLights / CG-DETR evaluator (the authors' standalone_eval/eval.py and utils.py) number for
number (docs/fidelity.md, 'Evaluation'), strict about malformed submissions by default (see
standalone_eval/submission.py), numpy only.

    python standalone_eval/eval.py --submission_path P --gt_path G --save_path OUT.json [--not_verbose]
    python standalone_eval/eval.py --submission_zip sub.zip --gt_dir DIR --save_path OUT.json
    python standalone_eval/eval.py --tvsum --submission_path P --gt_path tvsum_val.jsonl --save_path OUT.json
    python standalone_eval/eval.py --youtube --submission_path P --gt_path youtube_valid.jsonl --save_path OUT.json

A malformed submission prints one message on stderr, exits with code 2 and writes no file.
"""
import argparse
import json
import os
import sys
import tempfile
import time
import warnings
import zipfile
from pathlib import Path

if __name__ == "__main__" and not __package__:  # run as a script: import the package, not its files
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from standalone_eval.highlight import CLIP_LENGTH, eval_highlight, n_clips  # noqa: E402
from standalone_eval.moment_retrieval import Predictions, eval_moment_retrieval, pack_gt_windows  # noqa: E402
from standalone_eval.submission import (SALIENCY_SHORTFALL_OK, SubmissionError, SubmissionWarning,  # noqa: E402
                                        check_ground_truth, check_saliency, check_windows, has_saliency_labels,
                                        parse_jsonl, prediction_tasks, read_jsonl, select_rows, warn)
from standalone_eval.tvsum import eval_tvsum  # noqa: E402
from standalone_eval.youtube import eval_youtube  # noqa: E402

ZIP_MEMBERS = {"val": "hl_val_submission.jsonl", "test": "hl_test_submission.jsonl"}  # the Codalab layout
GT_FILES = {"val": "highlight_val_release.jsonl", "test": "highlight_test_with_gt.jsonl"}
PAPER_COLUMNS = {"R1@0.5": "MR-full-R1@0.5", "R1@0.7": "MR-full-R1@0.7", "mAP@0.5": "MR-full-mAP@0.5",
                 "mAP@0.75": "MR-full-mAP@0.75", "mAP avg": "MR-full-mAP",
                 "HD mAP": "HL-min-VeryGood-mAP", "HIT@1": "HL-min-VeryGood-Hit1"}


def eval_submission(submission: list, ground_truth: list, verbose: bool = True, match_number: bool = True,
                    compat: bool = False, clip_length=CLIP_LENGTH) -> dict:
    """Score a QVHighlights or Charades-STA submission, as the authors' standalone_eval/eval.py `eval_submission`.

    Args:
        submission: rows {"qid", "pred_relevant_windows": [[start, end, score], ...] (listed by descending
            score), "pred_saliency_scores": [one float per 2-s clip] (QVHighlights only)}.
        ground_truth: the rows of the GT jsonl (qid, duration, relevant_windows, relevant_clip_ids,
            saliency_scores).
        verbose: print the bucket sizes and the time taken.
        match_number: the qid sets must be equal (True, as the official command line), or both sides are
            cut to the shared qids (False).
        compat: accept and score exactly what the official evaluator accepts (see submission.py).
        clip_length: seconds per saliency clip (a dataset spec's; 2 for QVHighlights): a video has
            ceil(duration / clip_length) clips.
    Returns:
        The official layout: {"brief": {...}, "HL-min-Fair": {...}, ..., "full": {...}, "long": ...,
        "middle": ..., "short": ...}; MR blocks iff the first row has windows, HL blocks iff it has saliency.
    Raises:
        SubmissionError (a ValueError) naming the problem and the first offending lines / qids. Scoreable
        oddities are reported as SubmissionWarning.
    """
    start = time.time()
    check_ground_truth(ground_truth)
    submission, ground_truth = select_rows(submission, ground_truth, match_number, compat)
    do_mr, do_hl = prediction_tasks(submission, has_saliency_labels(ground_truth), compat)
    gt_by_qid = {row["qid"]: row for row in ground_truth}
    row_qids = [row["qid"] for row in submission]
    metrics, brief = {}, {}
    if do_mr:
        check_ground_truth(ground_truth, windows=True)
        qids, preds = Predictions.pack(row_qids, check_windows(submission, gt_by_qid, compat))
        mr = eval_moment_retrieval(preds, pack_gt_windows(qids, gt_by_qid), verbose)
        metrics.update(mr)
        brief.update(sorted({
            "MR-full-mAP": mr["full"]["MR-mAP"]["average"],
            "MR-full-mAP@0.5": mr["full"]["MR-mAP"]["0.5"],
            "MR-full-mAP@0.75": mr["full"]["MR-mAP"]["0.75"],
            "MR-short-mAP": mr["short"]["MR-mAP"]["average"],
            "MR-middle-mAP": mr["middle"]["MR-mAP"]["average"],
            "MR-long-mAP": mr["long"]["MR-mAP"]["average"],
            "MR-full-mIoU": mr["full"]["MR-mIoU"],
            "MR-full-R1@0.3": mr["full"]["MR-R1"]["0.3"],
            "MR-full-R1@0.5": mr["full"]["MR-R1"]["0.5"],
            "MR-full-R1@0.7": mr["full"]["MR-R1"]["0.7"],
        }.items()))
    if do_hl:
        scores = check_saliency(submission, [n_clips(gt_by_qid[q], clip_length) for q in row_qids], compat,
                                SALIENCY_SHORTFALL_OK)
        last_row = dict(zip(row_qids, scores))  # duplicates (compat): first position, last row's scores
        hl = eval_highlight(list(last_row.values()), [gt_by_qid[q] for q in last_row], clip_length)
        metrics.update(hl)
        brief.update({f"{name}-{key.split('-')[1]}": v for name, block in hl.items() for key, v in block.items()})
    if verbose:
        print(f"[eval_submission] {len(submission)} rows scored in {time.time() - start:.2f} seconds")
    return {"brief": brief, **dict(sorted(metrics.items()))}


# The kinds of metrics (a dataset spec's `metrics`, video_lights/data/specs.py) and their scorer.
METRICS = ("moment_retrieval", "tvsum", "youtube")


def evaluate(metrics: str, submission: list, ground_truth: list, compat: bool = False, verbose: bool = False,
             clip_length=CLIP_LENGTH) -> dict:
    """Score a submission with the scorer of `metrics` (one of METRICS): eval_submission (verbose: its printout;
    clip_length: its saliency clips), eval_tvsum or eval_youtube (one label per clip: no clip length)."""
    if metrics == "tvsum":
        return eval_tvsum(submission, ground_truth, compat=compat)
    if metrics == "youtube":
        return eval_youtube(submission, ground_truth, compat=compat)
    if metrics == "moment_retrieval":
        return eval_submission(submission, ground_truth, verbose=verbose, match_number=True, compat=compat,
                               clip_length=clip_length)
    raise SubmissionError(f"unknown metrics {metrics!r} (one of {', '.join(METRICS)})")


def _gt_paths(args) -> dict:
    if args.gt_dir:
        return {split: Path(args.gt_dir) / name for split, name in GT_FILES.items()}
    if args.val_gt_path and args.test_gt_path:
        return {"val": Path(args.val_gt_path), "test": Path(args.test_gt_path)}
    raise SubmissionError("--submission_zip needs --gt_dir, or both --val_gt_path and --test_gt_path")


def eval_submission_zip(zip_path, gt_rows: dict, compat: bool = False) -> dict:
    """Score a Codalab-style zip holding hl_val_submission.jsonl and hl_test_submission.jsonl at its root.

    Args:
        zip_path: the zip file.
        gt_rows: {"val": val GT rows, "test": test GT rows (highlight_test_with_gt.jsonl)}.
    Returns:
        {"val": eval_submission(...), "test": eval_submission(...)}.
    Raises:
        SubmissionError, prefixed with the member at fault. Other files in the zip are ignored with a warning.
    """
    try:
        with zipfile.ZipFile(zip_path) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/")]
            absent = [m for m in ZIP_MEMBERS.values() if m not in names]
            if absent:
                nested = [n for n in names if Path(n).name in absent]
                where = f"; found {', '.join(nested)}: the files must sit at the zip root" if nested else ""
                raise SubmissionError(f"{zip_path} lacks {' and '.join(absent)} (it holds: "
                                      f"{', '.join(names[:10]) or 'nothing'}){where}")
            ignored = [n for n in names if n not in ZIP_MEMBERS.values()]
            if ignored:
                warn(f"{zip_path}: ignored {', '.join(ignored[:10])}")
            members = {split: zf.read(m) for split, m in ZIP_MEMBERS.items()}
    except zipfile.BadZipFile as e:
        raise SubmissionError(f"{zip_path} is not a valid zip file ({e})") from None
    results = {}
    for split, member in ZIP_MEMBERS.items():
        try:
            rows = parse_jsonl(members[split], member)
            results[split] = eval_submission(rows, gt_rows[split], verbose=False, compat=compat)
        except SubmissionError as e:
            raise SubmissionError(f"{member}: {e}") from None
    return results


def paper_table(results: dict) -> str:
    """The paper's QVHighlights columns, one line per split: {split: eval_submission output} -> text."""
    lines = ["split  " + "  ".join(f"{c:>8}" for c in PAPER_COLUMNS)]
    for split, metrics in results.items():
        lines.append(f"{split:<5}  " + "  ".join(f"{metrics['brief'].get(k, float('nan')):8.2f}"
                                                 for k in PAPER_COLUMNS.values()))
    return "\n".join(lines)


def write_json_atomic(path, obj) -> None:
    """json.dumps(obj, indent=4) to path via a temporary file in the same folder and os.replace."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # the usual mode of a new file, not mkstemp's 0600
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(obj, indent=4))
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


class _Parser(argparse.ArgumentParser):
    """Option errors as one `error: ...` line and exit status 2, like every other error of this command."""

    def error(self, message):
        self.exit(2, f"error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        description="Moments and Highlights evaluation: QVHighlights, Charades-STA and TACoS (--gt_path "
                    "charades_sta_test_tvr_format.jsonl, windows only), TVSum (--tvsum), YouTube Highlights "
                    "(--youtube). Reproduces the "
                    "VideoLights / CG-DETR evaluator exactly. Strict by default: a malformed submission (bad JSON, "
                    "missing / extra / duplicate qids, bad or inverted windows, wrong saliency length, ...) "
                    "prints one error naming the first offending lines, exits with code 2 and writes nothing; "
                    "windows outside the video, more than 10 windows and saliency lists one clip short of "
                    "floor(duration / 2) (as in every published QVHighlights submission) are scored as officially, "
                    "with a warning.",
        epilog="examples:  %(prog)s --submission_path preds.jsonl.gz --gt_path highlight_val_release.jsonl "
               "--save_path metrics.json  |  %(prog)s --submission_zip sub.zip --gt_dir data/qvhighlights")
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--submission_path", type=str, help="prediction file (.jsonl or .jsonl.gz)")
    src.add_argument("--submission_zip", type=str,
                     help="Codalab-style zip holding hl_val_submission.jsonl and hl_test_submission.jsonl; "
                          "both are scored (test against highlight_test_with_gt.jsonl) and the paper's "
                          "columns are printed. Needs --gt_dir or --val_gt_path/--test_gt_path")
    parser.add_argument("--gt_path", type=str, help="GT file for --submission_path")
    parser.add_argument("--gt_dir", type=str, help=f"for --submission_zip: folder holding {GT_FILES['val']} "
                                                   f"and {GT_FILES['test']}")
    parser.add_argument("--val_gt_path", type=str, help="for --submission_zip: val GT file (instead of --gt_dir)")
    parser.add_argument("--test_gt_path", type=str, help="for --submission_zip: test GT file (instead of --gt_dir)")
    parser.add_argument("--save_path", type=str, help="where to write the metrics JSON (zip: {'val', 'test'})")
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--tvsum", action="store_true", help="TVSum top-5 mAP per domain; --gt_path is "
                                                           "tvsum_val.jsonl (all domains or one)")
    kind.add_argument("--youtube", action="store_true",
                      help="YouTube Highlights full-list mAP per domain (videos without a positive clip are dropped, "
                           "as the authors' code does); --gt_path is youtube_valid.jsonl (all domains or one)")
    parser.add_argument("--clip_length", type=float, default=CLIP_LENGTH,
                        help="seconds per saliency clip (a dataset spec's clip_length; QVHighlights 2): a video has "
                             "ceil(duration / clip_length) clips")
    parser.add_argument("--compat", action="store_true",
                        help="accept what the official evaluator accepts and score it identically: inverted "
                             "windows (NaN IoU counts as a match), saliency lists of any length (zero-padded), "
                             "duplicate qids (pooled for mAP), dispatch on the first row's keys")
    parser.add_argument("--not_verbose", action="store_true")
    return parser


def run(args) -> dict:
    """The command line's work; raises SubmissionError (or OSError for unreadable files)."""
    if args.submission_zip:
        gt = {split: read_jsonl(path) for split, path in _gt_paths(args).items()}
        results = eval_submission_zip(args.submission_zip, gt, compat=args.compat)
        print(paper_table(results))
        return results
    if not args.gt_path:
        raise SubmissionError("--submission_path needs --gt_path")
    submission, gt = read_jsonl(args.submission_path), read_jsonl(args.gt_path)
    metrics = "tvsum" if args.tvsum else "youtube" if args.youtube else "moment_retrieval"
    if metrics == "moment_retrieval" and "label" in gt[0]:
        raise SubmissionError(f"{args.gt_path} looks like per-clip ground truth (it has 'label'): add --tvsum "
                              f"(TVSum) or --youtube (YouTube Highlights)")
    if not args.clip_length > 0:
        raise SubmissionError(f"--clip_length must be positive, got {args.clip_length}")
    results = evaluate(metrics, submission, gt, compat=args.compat, verbose=not args.not_verbose,
                       clip_length=args.clip_length)
    if not args.not_verbose:
        print(json.dumps(results, indent=4))
    return results


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SubmissionWarning)
        try:
            results = run(args)
        except (SubmissionError, OSError) as e:
            error = e
        else:
            error = None
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    if error is not None:
        if isinstance(error, OSError) and error.filename:
            error = f"{error.filename}: {error.strerror}"
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.save_path:
        try:
            write_json_atomic(args.save_path, results)
        except OSError as e:
            print(f"error: cannot write {args.save_path}: {e.strerror or e}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
