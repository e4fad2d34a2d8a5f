"""Time our evaluator against the official one, on the same files, in the same run, and print a table.

    python scripts/bench_eval.py                 # the five shared reference submissions, 3 alternating rounds
    python scripts/bench_eval.py --rounds 5

Both evaluators run as the command a user types, on the same plain .jsonl submission and GT (process start,
reading, scoring, writing the metrics JSON): ours `python -m standalone_eval.eval`, the official one
`python standalone_eval/eval.py` from ../shared/official_eval (Moment-DETR's evaluator as the authors ship it; it
needs numpy and scikit-learn: `pip install scikit-learn`; without it, or without ../shared/official_eval, only our
column is printed). Rounds alternate between the two, so a slow spell of the machine hits both; each cell is the
median over the rounds. "ours score s" is eval_submission alone, in this process (best of the rounds).

How the time grows with the file's size: scripts/bench_scaling.py.
"""
import argparse
import gzip
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VIDEOLIGHTS_SHARED", REPO.parent / "shared"))
sys.path.insert(0, str(REPO))

from standalone_eval.eval import eval_submission  # noqa: E402
from standalone_eval.submission import read_jsonl  # noqa: E402
from video_lights.utils.hardware import cpu_description  # noqa: E402

REFERENCES = [("moment_detr_sample", "sample_val_preds.jsonl.gz", "highlight_val_release.jsonl"),
              ("qvh_val_qddetr_best", "preds.jsonl.gz", "highlight_val_release.jsonl"),
              ("qvh_val_cgdetr_best", "preds.jsonl.gz", "highlight_val_release.jsonl"),
              ("qvh_test_cgdetr_submission", "preds.jsonl.gz", "highlight_test_with_gt.jsonl"),
              ("qvh_test_trdetr_submission", "preds.jsonl.gz", "highlight_test_with_gt.jsonl")]


def run_cli(cmd, cwd, pythonpath=None):
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if pythonpath:  # the official script imports standalone_eval.utils: its own package, not ours
        env["PYTHONPATH"] = str(pythonpath)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"error: {' '.join(map(str, cmd))} failed:\n{done.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=SHARED / "data", help="the shared data folder")
    parser.add_argument("--official", type=Path, default=SHARED / "official_eval",
                        help="folder holding the official standalone_eval/")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # the published files' one-clip-short saliency lists

    official_ok = (args.official / "standalone_eval" / "eval.py").is_file()
    if official_ok and subprocess.run([sys.executable, "-c", "import sklearn"], capture_output=True).returncode:
        print("note: scikit-learn is not installed: the official evaluator cannot run (pip install scikit-learn)")
        official_ok = False
    elif not official_ok:
        print(f"note: {args.official}/standalone_eval/eval.py is missing: only our evaluator is timed")

    tmp = Path(tempfile.mkdtemp(prefix="bench_eval_"))
    try:
        cases = []  # (label, submission path, gt path, queries, in-memory rows)
        for folder, preds, gt_name in REFERENCES:
            sub_gz = args.data / "reference_submissions" / folder / preds
            gt_path = args.data / "qvhighlights" / gt_name
            if not sub_gz.is_file() or not gt_path.is_file():
                raise SystemExit(f"error: {sub_gz} or {gt_path} is missing (../shared/data)")
            sub_path = tmp / f"{folder}.jsonl"
            with gzip.open(sub_gz, "rb") as src, open(sub_path, "wb") as dst:
                shutil.copyfileobj(src, dst)
            cases.append((folder, sub_path, gt_path))

        times = {(label, side): [] for label, *_ in cases for side in ("ours", "official", "score")}
        for r in range(args.rounds):
            for label, sub_path, gt_path in cases:
                out = tmp / "metrics.json"
                times[(label, "ours")].append(run_cli(
                    [sys.executable, "-m", "standalone_eval.eval", "--submission_path", str(sub_path),
                     "--gt_path", str(gt_path), "--save_path", str(out)], REPO))
                if official_ok:
                    times[(label, "official")].append(run_cli(
                        [sys.executable, "standalone_eval/eval.py", "--submission_path", str(sub_path),
                         "--gt_path", str(gt_path), "--save_path", str(out), "--not_verbose"],
                        args.official, pythonpath=args.official))
                sub, gt = read_jsonl(sub_path), read_jsonl(gt_path)
                start = time.perf_counter()
                eval_submission(sub, gt, verbose=False)
                times[(label, "score")].append(time.perf_counter() - start)
            print(f"  round {r + 1} done", flush=True)

        print(f"\nCPU: {cpu_description()}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}; "
              f"median over {args.rounds} alternating rounds of the whole command (start, read, score, write)")
        print("| submission | queries | ours s | official s | speed-up | ours score s |")
        print("|---|---|---|---|---|---|")
        ratios = []
        for label, sub_path, _ in cases:
            queries = sum(1 for _ in open(sub_path))
            ours = statistics.median(times[(label, "ours")])
            score = min(times[(label, "score")])
            if official_ok:
                theirs = statistics.median(times[(label, "official")])
                ratios.append(theirs / ours)
                cells = f"{theirs:.2f} | {theirs / ours:.1f}x"
            else:
                cells = "- | -"
            print(f"| {label} | {queries} | {ours:.2f} | {cells} | {score:.3f} |")
        if ratios:
            print(f"\nspeed-up of the command, median over the files: {statistics.median(ratios):.1f}x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
