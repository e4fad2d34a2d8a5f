"""Summarise per-domain runs (TVSum, YouTube Highlights: one model per domain): mAP (x100) per domain as mean and
standard deviation over the runs (seeds), plus the average over the domains.

    python -m video_lights.domain_report results/tvsum/v-i3d-t-clip [--domains BK BT ...]
    python -m video_lights.domain_report results/youtubeuni

Reads RESULTS_ROOT/{domain}/*/hl_val_submission_metrics.json (one per run, written by the final inference); the
domains are the sub-folders that hold finished runs, in name order, unless --domains lists them.
"""
import argparse
import glob
import os
import statistics
import sys

from video_lights.utils.cli import ArgumentParser, UserError, command
from video_lights.utils.io import load_json

METRICS_FILE = "hl_val_submission_metrics.json"


def collect(results_root, domains=None):
    """{domain: [mAP x 100 of each run]} for the domains (default: every sub-folder) that have finished runs."""
    if domains is None:
        domains = sorted(d for d in os.listdir(results_root) if os.path.isdir(os.path.join(results_root, d)))
    out = {}
    for d in domains:
        files = sorted(glob.glob(os.path.join(results_root, d, "*", METRICS_FILE)))
        if files:
            out[d] = [100 * load_json(f)["brief"]["mAP"] for f in files]
    return out


def format_table(per_domain):
    """One line per domain (runs, mean, sample std; 0 for one run) and the average of the domain means."""
    lines = [f"{'domain':<12}{'runs':>5}{'mean':>9}{'std':>8}"]
    for d, vals in per_domain.items():
        std = statistics.stdev(vals) if len(vals) > 1 else 0.0
        lines.append(f"{d:<12}{len(vals):>5}{statistics.mean(vals):>9.2f}{std:>8.2f}")
    means = [statistics.mean(v) for v in per_domain.values()]
    lines.append(f"{'Avg.':<12}{'':>5}{statistics.mean(means):>9.2f}")
    return "\n".join(lines)


@command
def main(argv=None):
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results_root")
    parser.add_argument("--domains", nargs="+", default=None, help="domains to report, in this order")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.results_root):
        raise UserError(f"{args.results_root}: no such folder of per-domain runs")
    per_domain = collect(args.results_root, args.domains)
    if not per_domain:
        raise UserError(f"no finished run under {args.results_root} "
                        f"(expected {args.results_root}/DOMAIN/*/{METRICS_FILE})")
    print(format_table(per_domain))
    return 0


if __name__ == "__main__":
    sys.exit(main())
