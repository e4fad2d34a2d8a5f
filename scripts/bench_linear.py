"""Time the model's float32 linear products on this CPU: torch's default (MKL's sgemm) against oneDNN's, as
video_lights/model/linear.py uses them, per shape of VideoLights-B (train batch 32 with the negative pass, inference
batch 100).

    python scripts/bench_linear.py            # a table: GFLOP/s per shape and product, the ratio, the CPU named

Rows: forward (x @ W^T + b), input gradient (g @ W), weight gradient (g^T @ x); "ours" is what model/linear.py runs
(oneDNN, but torch.mm for the weight gradient of a layer that does not narrow: the same kernel on both sides, so
that row shows the noise). Inference rows: forward only. Alternating rounds, median of each.
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from video_lights.model.linear import _PRODUCT, _product, _weight_grad
from video_lights.utils.hardware import cpu_description

# (rows, in, out): the products that dominate the step and the forward (torch.profiler, scripts/bench_vs_authors.py)
SHAPES = {
    "input projection, train": (2400, 3586, 256),
    "encoder FFN up, train (pos + neg)": (4864, 256, 1024),
    "encoder FFN down, train (pos + neg)": (4864, 1024, 256),
    "attention / decoder 256 -> 256, train": (4864, 256, 256),
    "input projection, inference": (7500, 3586, 256),
    "encoder FFN up, inference": (7600, 256, 1024),
    "encoder FFN down, inference": (7600, 1024, 256),
}


def products(rows, d_in, d_out):
    x, w, b, g = torch.randn(rows, d_in), torch.randn(d_out, d_in), torch.randn(d_out), torch.randn(rows, d_out)
    return {
        "forward": (lambda: F.linear(x, w, b), lambda: _product(x, w, b)),
        "input gradient": (lambda: g @ w, lambda: _product(g, w.t(), None)),
        "weight gradient": (lambda: g.t() @ x, lambda: _weight_grad(g, x)),
    }


def median_seconds(fn, iters):
    fn()
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iters", type=int, default=5)
    args = parser.parse_args()
    if _PRODUCT is None:
        raise SystemExit("this torch build has no oneDNN linear (torch.backends.mkldnn): model/linear.py uses F.linear")
    print(f"CPU: {cpu_description()}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"median over {args.rounds} alternating rounds of the median of {args.iters}")
    print("| product | rows x in -> out | torch default GFLOP/s | ours GFLOP/s | speed-up |")
    print("|---|---|---|---|---|")
    for name, (rows, d_in, d_out) in SHAPES.items():
        flop = 2 * rows * d_in * d_out
        for kind, (default, ours) in products(rows, d_in, d_out).items():
            if "inference" in name and kind != "forward":
                continue
            times = {"default": [], "ours": []}
            for _ in range(args.rounds):
                times["default"].append(median_seconds(default, args.iters))
                times["ours"].append(median_seconds(ours, args.iters))
            t_default, t_ours = statistics.median(times["default"]), statistics.median(times["ours"])
            print(f"| {name}: {kind} | {rows} x {d_in} -> {d_out} | {flop / t_default / 1e9:.0f} | "
                  f"{flop / t_ours / 1e9:.0f} | {t_default / t_ours:.2f}x |")


if __name__ == "__main__":
    main()
