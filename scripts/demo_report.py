"""Before/after table and a saliency plot for a finished demo run (called by scripts/demo.sh).

    python scripts/demo_report.py RUN_DIR --gt_path VAL_JSONL [--qid QID]

Reads the untrained evaluation (epoch -1) from RUN_DIR/eval.log.txt, the trained model's metrics from
RUN_DIR/standalone_eval_metrics.json (the standalone evaluator's output on hl_val_submission.jsonl), prints
the brief metrics side by side and saves RUN_DIR/saliency_qid{QID}.png: one val query's predicted saliency
curve against its ground-truth scores, with the predicted top-1 and the true windows.
"""
import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from video_lights.data.annotations import read_jsonl  # noqa: E402
from video_lights.utils.io import load_json  # noqa: E402


def untrained_metrics(eval_log):
    """The brief metrics logged for epoch -1 (the --eval_untrained evaluation)."""
    with open(eval_log) as f:
        for line in f:
            if "[Epoch] -01" in line:
                return json.loads(line.split("[Metrics] ", 1)[1])["brief"]
    raise ValueError(f"{eval_log}: no line for epoch -1 (was the run started with --eval_untrained?)")


def plot_query(row, pred, path):
    n = len(pred["pred_saliency_scores"])
    gt = [0] * n
    for cid, scores in zip(row["relevant_clip_ids"], row["saliency_scores"]):
        if cid < n:
            gt[cid] = sum(scores)
    times = [2 * i + 1 for i in range(n)]
    fig, ax = plt.subplots(figsize=(10, 3.6))
    ax.bar(times, gt, width=1.8, color="#c7d9ee", label="ground-truth saliency (sum of 3 raters, 0-12)")
    ax2 = ax.twinx()
    ax2.plot(times, pred["pred_saliency_scores"], color="#d2452b", lw=1.6, label="predicted saliency")
    for i, (st, ed) in enumerate(row["relevant_windows"]):
        ax.axvspan(st, ed, ymin=0.93, ymax=1.0, color="#2b7bd2", label="true windows" if i == 0 else None)
    st, ed, score = pred["pred_relevant_windows"][0]
    ax.axvspan(st, ed, ymin=0.85, ymax=0.92, color="#d2452b", alpha=0.8, label=f"predicted top-1 ({score:.2f})")
    ax.set_xlim(0, 2 * n)
    ax.set_ylim(0, 14)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("ground-truth score")
    ax2.set_ylabel("predicted score")
    ax.set_title(f"qid {row['qid']}: {row['query']}"[:110], fontsize=9)
    handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    labels = ax.get_legend_handles_labels()[1] + ax2.get_legend_handles_labels()[1]
    ax.legend(handles, labels, fontsize=7, loc="upper left", bbox_to_anchor=(0, -0.18), ncol=4, frameon=False)
    fig.tight_layout()
    fig.savefig(path + ".tmp.png", dpi=110)
    plt.close(fig)
    os.replace(path + ".tmp.png", path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir")
    parser.add_argument("--gt_path", required=True)
    parser.add_argument("--qid", type=int, default=None, help="val query to plot (default: the first with 2+ windows)")
    args = parser.parse_args(argv)

    before = untrained_metrics(os.path.join(args.run_dir, "eval.log.txt"))
    after = load_json(os.path.join(args.run_dir, "standalone_eval_metrics.json"))["brief"]
    print(f"\n{'metric':<24}{'untrained':>11}{'trained':>10}")
    for k in after:
        print(f"{k:<24}{before.get(k, float('nan')):>11.2f}{after[k]:>10.2f}")

    gt = {r["qid"]: r for _, r in read_jsonl(args.gt_path)}
    preds = {r["qid"]: r for _, r in read_jsonl(os.path.join(args.run_dir, "hl_val_submission.jsonl"))}
    qid = args.qid if args.qid is not None else next(q for q, r in gt.items() if len(r["relevant_windows"]) > 1)
    if qid not in gt or qid not in preds:
        sys.exit(f"error: qid {qid} is not in {args.gt_path} and the submission")
    path = os.path.join(args.run_dir, f"saliency_qid{qid}.png")
    plot_query(gt[qid], preds[qid], path)
    print(f"\nplot: {path}")
    print(f"metrics: {os.path.join(args.run_dir, 'standalone_eval_metrics.json')}")


if __name__ == "__main__":
    main()
