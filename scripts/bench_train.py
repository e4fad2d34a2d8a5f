"""Training speed at batch 32 with the QVHighlights-B dimensions on synthetic data: seconds per iteration (compute
and data wait) and projected seconds per QVHighlights epoch (7218 queries), fp32 and AMP, per feature store.

    python scripts/bench_train.py [--iters 10] [--stores npz h5 cache] [--precisions fp32 amp] [--device cpu]

Generates a synthetic dataset with the released feature dimensions (SlowFast 2304 + CLIP 512 + BLIP-2 768 video,
CLIP 512 + BLIP-2 768 text) in a temporary folder, packs it for the h5 store, and times real training iterations
(forward, loss, backward, clipping, AdamW step) of the full VideoLights-B model. Prints a table.
"""
import argparse
import subprocess
import sys
import tempfile
import time

import torch
from torch.utils.data import DataLoader

from video_lights.config import parse_args
from video_lights.data import build_dataset, prepare_batch_inputs, start_end_collate
from video_lights.data.synthetic import generate
from video_lights.engine.precision import grad_scaler
from video_lights.engine.training import build_optimizer, train_step
from video_lights.model import build_criterion, build_model

QVHL_TRAIN_QUERIES = 7218


def time_iterations(opt, iters, warmup):
    """Mean (compute s/iter, data-wait s/iter) over `iters` iterations after `warmup` ones."""
    torch.manual_seed(0)
    dataset = build_dataset(opt, opt.train_path)
    loader = DataLoader(dataset, batch_size=opt.bsz, shuffle=True, collate_fn=start_end_collate,
                        num_workers=opt.num_workers, drop_last=True, persistent_workers=opt.num_workers > 0)
    model, criterion = build_model(opt), build_criterion(opt)
    model.to(opt.device).train()
    criterion.to(opt.device).train()
    optimizer = build_optimizer(model, opt)  # the trainer's
    scaler = grad_scaler(opt.device, opt.amp)
    compute = data = 0.0
    done = 0
    while done < warmup + iters:
        t_data = time.perf_counter()
        for _, batched in loader:
            inputs, targets = prepare_batch_inputs(batched, opt.device)
            t0 = time.perf_counter()
            train_step(model, criterion, optimizer, inputs, targets, opt.device, amp=opt.amp,
                       grad_clip=opt.grad_clip, scaler=scaler)
            if opt.device.type == "cuda":
                torch.cuda.synchronize()
            t1 = time.perf_counter()
            if done >= warmup:
                compute += t1 - t0
                data += t0 - t_data
            done += 1
            t_data = time.perf_counter()
            if done >= warmup + iters:
                break
    return compute / iters, data / iters


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--warmup", type=int, default=4, help="untimed iterations (one epoch: fills the cache)")
    p.add_argument("--stores", nargs="+", default=["npz", "h5", "cache"], choices=["npz", "h5", "cache"])
    p.add_argument("--precisions", nargs="+", default=["fp32", "amp"], choices=["fp32", "amp"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--num_workers", type=int, default=0)
    a = p.parse_args(argv)

    with tempfile.TemporaryDirectory() as root:
        n_train = 32 * 4  # 4 iterations per epoch: the timed ones re-read (or hit the cache of) the first epoch
        print(f"generating {n_train} synthetic queries with the released dims ...", flush=True)
        generate(root, seed=0, n_train=n_train, n_val=0, n_test=0, real_dims=True)
        if "h5" in a.stores:
            subprocess.run([sys.executable, "-m", "video_lights.data.pack",
                            *[f"{root}/features/{d}" for d in ("slowfast_features", "clip_features",
                                                               "blip_video_features", "clip_text_features",
                                                               "blip_aug_text_features_openai")]],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        rows = []
        for store in a.stores:
            for precision in a.precisions:
                args = ["--preset", "synthetic", "--feat_root", root, "--v_feat_dim", "3584", "--t_feat_dim", "1280",
                        "--bsz", "32", "--device", a.device, "--num_workers", str(a.num_workers)]
                args += {"npz": [], "h5": ["--feat_store", "h5"], "cache": ["--feat_cache"]}[store]
                args += ["--amp", "on" if precision == "amp" else "off"]
                opt = parse_args(args)
                compute, data = time_iterations(opt, a.iters, a.warmup)
                rows.append((store, precision, compute, data))
                print(f"  {store:<6}{precision:<6} compute {compute:.3f} s/iter, data {data:.4f} s/iter", flush=True)

    iters_per_epoch = -(-QVHL_TRAIN_QUERIES // 32)
    device = (torch.cuda.get_device_name(opt.device) if opt.device.type == "cuda"
              else f"CPU ({torch.get_num_threads()} threads)")
    print(f"\nVideoLights-B, batch 32, {device}, torch {torch.__version__}; epoch = {iters_per_epoch} iterations")
    print(f"{'store':<8}{'precision':<11}{'s/iter':>8}{'data s/iter':>13}{'data %':>8}{'s/epoch':>9}")
    for store, precision, compute, data in rows:
        total = compute + data
        print(f"{store:<8}{precision:<11}{total:>8.3f}{data:>13.4f}{100 * data / total:>7.1f}%"
              f"{total * iters_per_epoch:>9.0f}")


if __name__ == "__main__":
    main()
