"""Time the standalone evaluator on the shared reference submissions and print a table.

    python scripts/bench_eval.py [--repeat 5] [--oracle] [--data ../shared/data]

"read" is loading the gzipped submission and the GT, "score" is eval_submission, "total" their sum (wall
clock), "cpu" the process CPU time of both (less sensitive to other jobs on the machine); the best of
--repeat runs is shown. The official evaluator takes 15-18 s per QVHighlights val file (1550 queries) on a 2-core
machine (reference_submissions/README.md); the speed-up column compares the time per 1550-query file with
the 15 s end of that anchor. --oracle also times the plain-Python implementation of the official rules
(standalone_eval/oracle.py, one run), a rough stand-in for the official code on this machine.
"""
import argparse
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from standalone_eval import oracle  # noqa: E402
from standalone_eval.eval import eval_submission  # noqa: E402
from standalone_eval.submission import read_jsonl  # noqa: E402

OFFICIAL_SECONDS = 15.0  # per 1550-query val file, 2 cores
REFERENCES = [("moment_detr_sample", "sample_val_preds.jsonl.gz", "highlight_val_release.jsonl"),
              ("qvh_val_qddetr_best", "preds.jsonl.gz", "highlight_val_release.jsonl"),
              ("qvh_val_cgdetr_best", "preds.jsonl.gz", "highlight_val_release.jsonl"),
              ("qvh_test_cgdetr_submission", "preds.jsonl.gz", "highlight_test_with_gt.jsonl"),
              ("qvh_test_trdetr_submission", "preds.jsonl.gz", "highlight_test_with_gt.jsonl")]


def best_of(repeat: int, fn, clock=time.perf_counter):
    times, result = [], None
    for _ in range(repeat):
        start = clock()
        result = fn()
        times.append(clock() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data", help="the shared data folder")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--oracle", action="store_true", help="also time the plain-Python oracle (standalone_eval/oracle.py)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # the published files' one-clip-short saliency lists

    header = (f"{'submission':<28} {'queries':>7} {'read s':>7} {'score s':>8} {'total s':>8} {'cpu s':>6} "
              f"{'s/1550 q':>9} {'vs 15 s':>8}")
    print(header + (f" {'oracle s':>9}" if args.oracle else ""))
    per_file = []
    for folder, preds, gt_name in REFERENCES:
        sub_path, gt_path = args.data / "reference_submissions" / folder / preds, args.data / "qvhighlights" / gt_name
        read_s, (sub, gt) = best_of(args.repeat, lambda: (read_jsonl(sub_path), read_jsonl(gt_path)))
        score_s, _ = best_of(args.repeat, lambda: eval_submission(sub, gt, verbose=False))
        total = read_s + score_s
        cpu_s, _ = best_of(args.repeat, lambda: eval_submission(read_jsonl(sub_path), read_jsonl(gt_path),
                                                                verbose=False), clock=time.process_time)
        per_1550 = total * 1550 / len(sub)
        per_file.append(per_1550)
        line = (f"{folder:<28} {len(sub):>7} {read_s:>7.3f} {score_s:>8.3f} {total:>8.3f} {cpu_s:>6.3f} "
                f"{per_1550:>9.3f} {OFFICIAL_SECONDS / per_1550:>7.0f}x")
        if args.oracle:
            line += f" {best_of(1, lambda: oracle.eval_submission(sub, gt))[0]:>9.2f}"
        print(line)
    mean = sum(per_file) / len(per_file)
    print(f"mean time per 1550-query file: {mean:.3f} s, {OFFICIAL_SECONDS / mean:.0f}x faster than the "
          f"{OFFICIAL_SECONDS:.0f} s official anchor")


if __name__ == "__main__":
    main()
