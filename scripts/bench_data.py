"""Data-loading throughput: npz folders vs the packed HDF5 store vs the in-memory cache.

    python scripts/bench_data.py [--n 300] [--small_dims] [--num_workers 0] [--epochs 2] [--out DIR]

Generates a synthetic QVHighlights-format dataset of the released dims (video 2304+512+768, text 512+768,
compressed npz like the release) unless --out already holds one, packs it, then times full passes over the
training set (dataset + collate, batch 32, no model) and prints samples/s per store (wall clock, and per CPU
second of this process, which other load on the machine does not distort). Epoch 1 of the cache reads the
files; later epochs come from memory.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

from torch.utils.data import DataLoader

from video_lights.config import parse_args
from video_lights.data import build_dataset, start_end_collate
from video_lights.data.pack import pack_folder
from video_lights.data.synthetic import generate
from video_lights.utils.io import load_json


def run_epochs(opt, epochs, num_workers, bsz=32):
    """(samples per wall-clock second, samples per CPU second of this process) of each epoch over opt.train_path.
    The CPU-second rate is robust to other load on the machine (meaningful with num_workers 0 only)."""
    ds = build_dataset(opt, opt.train_path)
    loader = DataLoader(ds, batch_size=bsz, shuffle=True, num_workers=num_workers, collate_fn=start_end_collate,
                        persistent_workers=num_workers > 0)
    rates = []
    for _ in range(epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        n = sum(len(metas) for metas, _ in loader)
        rates.append((n / (time.perf_counter() - t0), n / (time.process_time() - c0)))
    return rates


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=300, help="training queries to generate")
    p.add_argument("--small_dims", action="store_true", help="the generator's small dims instead of the real ones")
    p.add_argument("--num_workers", type=int, default=0)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--out", default=None, help="dataset folder (kept); default: a temporary folder (removed)")
    a = p.parse_args(argv)

    out = a.out or tempfile.mkdtemp(prefix="bench_data_")
    try:
        t0 = time.perf_counter()
        if not os.path.exists(os.path.join(out, "dims.json")):
            generate(out, seed=0, n_train=a.n, n_val=1, n_test=1, real_dims=not a.small_dims)
        info = load_json(os.path.join(out, "dims.json"))
        base = info["flags"] + ["--device", "cpu"]
        opt = parse_args(base)
        for d in opt.v_feat_dirs + opt.t_feat_dirs:
            if not os.path.exists(d + ".h5"):
                pack_folder(d)
        print(f"dataset: {out} ({info['n_train']} train queries, v_feat_dim {info['v_feat_dim']}, t_feat_dim "
              f"{info['t_feat_dim']}), prepared in {time.perf_counter() - t0:.1f} s; "
              f"num_workers {a.num_workers}, batch 32")
        print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print("| store | " + " | ".join(f"epoch {i + 1} samples/s (per CPU-s)" for i in range(a.epochs)) + " |")
        print("|---|" + "---|" * a.epochs)
        for name, extra in (("npz folders", []), ("packed HDF5", ["--feat_store", "h5"]),
                            ("npz + in-memory cache", ["--feat_cache"]),
                            ("HDF5 + in-memory cache", ["--feat_store", "h5", "--feat_cache"])):
            rates = run_epochs(parse_args(base + extra), a.epochs, a.num_workers)
            print(f"| {name} | " + " | ".join(f"{w:.0f} ({c:.0f})" for w, c in rates) + " |", flush=True)
    finally:
        if a.out is None:
            shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
