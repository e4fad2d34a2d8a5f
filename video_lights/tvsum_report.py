"""Summarise TVSum runs: top-5 mAP (x100) per domain as mean and standard deviation over seeds, plus the average.

    python -m video_lights.tvsum_report results/tvsum/v-i3d-t-clip [--domains BK BT ...]

Reads RESULTS_ROOT/{domain}/*/hl_val_submission_metrics.json (one per run, written by the final inference).
"""
import argparse
import glob
import os
import statistics
import sys

from video_lights.utils.cli import ArgumentParser, UserError, command
from video_lights.utils.io import load_json

DOMAINS = ("BK", "BT", "DS", "FM", "GA", "MS", "PK", "PR", "VT", "VU")


def collect(results_root, domains=DOMAINS):
    """{domain: [mAP x 100 of each run]} for the domains that have finished runs."""
    out = {}
    for d in domains:
        files = sorted(glob.glob(os.path.join(results_root, d, "*", "hl_val_submission_metrics.json")))
        if files:
            out[d] = [100 * load_json(f)["brief"]["mAP"] for f in files]
    return out


def format_table(per_domain):
    lines = [f"{'domain':<8}{'runs':>5}{'mean':>9}{'std':>8}"]
    for d, vals in per_domain.items():
        std = statistics.stdev(vals) if len(vals) > 1 else 0.0
        lines.append(f"{d:<8}{len(vals):>5}{statistics.mean(vals):>9.2f}{std:>8.2f}")
    means = [statistics.mean(v) for v in per_domain.values()]
    lines.append(f"{'Avg.':<8}{'':>5}{statistics.mean(means):>9.2f}")
    return "\n".join(lines)


@command
def main(argv=None):
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results_root")
    parser.add_argument("--domains", nargs="+", default=list(DOMAINS))
    args = parser.parse_args(argv)
    per_domain = collect(args.results_root, args.domains)
    if not per_domain:
        raise UserError(f"no finished TVSum run under {args.results_root} "
                        f"(expected {args.results_root}/DOMAIN/*/hl_val_submission_metrics.json)")
    print(format_table(per_domain))
    return 0


if __name__ == "__main__":
    sys.exit(main())
