"""How cost grows with the work: the predictor against video length, a training epoch against the number of
queries, the evaluator against the file's size. Prints three tables, with the CPU named.

    python scripts/bench_scaling.py [--minutes 1 5 20 60] [--queries 64 128 256] [--copies 1 4 16]

Predictor: VideoLights-B with random weights on random features of the released widths (SlowFast + CLIP + BLIP-2,
2-s clips), 2 queries; the time is `Predictor.predict` (windows of max_v_l clips, batched, merged), the
extraction is not in it (scripts/bench_extract.py gives its seconds of video per second, which do not depend on
the length). Epoch: one training epoch (forward, losses, backward, clipping, AdamW; batch 32, fp32) over synthetic
queries of the released widths, data loading included. Evaluator: `eval_submission` on N copies of the shared
QVHighlights val submission (query ids renumbered), reading excluded. Each row is the best of --repeats runs.
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from video_lights.utils.hardware import cpu_description  # noqa: E402

SHARED = REPO.parent / "shared" / "data" / "reference_submissions"
WIDTHS = {"slowfast": 2304, "clip": 512, "blip2": 768}


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def predictor_rows(minutes, repeats):
    from video_lights import build_model, parse_args
    from video_lights.predict import Predictor, QueryFeatures, VideoFeatures
    opt = parse_args(["--preset", "qvhl", "--device", "cpu"])
    torch.manual_seed(0)
    predictor = Predictor(build_model(opt), opt, None, "cpu")
    rng = np.random.default_rng(0)
    queries = [QueryFeatures(f"q{i}", {"clip": rng.normal(size=(12, 512)).astype(np.float32),
                                       "blip2": rng.normal(size=(12, 768)).astype(np.float32)}) for i in range(2)]
    rows = []
    for m in minutes:
        n = int(m * 60 / opt.clip_length)
        video = VideoFeatures({k: rng.normal(size=(n, d)).astype(np.float32) for k, d in WIDTHS.items()},
                              duration=m * 60.0, clip_length=float(opt.clip_length))
        predictor.predict(video, queries)  # warm-up
        rows.append((m, n, best_of(lambda: predictor.predict(video, queries), repeats)))
    return rows


def epoch_rows(counts, repeats):
    from torch.utils.data import DataLoader
    from video_lights.config import parse_args
    from video_lights.data import build_dataset, prepare_batch_inputs, start_end_collate
    from video_lights.data.synthetic import generate
    from video_lights.engine.training import build_optimizer, train_step
    from video_lights.model import build_criterion, build_model
    rows = []
    with tempfile.TemporaryDirectory() as root:
        generate(root, seed=0, n_train=max(counts), n_val=0, n_test=0, real_dims=True)
        train = os.path.join(root, "annotations", "highlight_train_release.jsonl")
        lines = open(train).read().splitlines()
        for n in counts:
            path = os.path.join(root, f"train_{n}.jsonl")
            with open(path, "w") as f:
                f.write("\n".join(lines[:n]) + "\n")
            opt = parse_args(["--preset", "synthetic", "--feat_root", root, "--v_feat_dim", "3584", "--t_feat_dim",
                              "1280", "--bsz", "32", "--device", "cpu", "--num_workers", "0", "--amp", "off",
                              "--train_path", path])
            torch.manual_seed(0)
            model, criterion = build_model(opt).train(), build_criterion(opt).train()
            optimizer = build_optimizer(model, opt)
            dataset = build_dataset(opt, opt.train_path)

            def epoch():
                loader = DataLoader(dataset, batch_size=opt.bsz, shuffle=True, collate_fn=start_end_collate)
                for _, batched in loader:
                    inputs, targets = prepare_batch_inputs(batched, opt.device)
                    train_step(model, criterion, optimizer, inputs, targets, opt.device, amp=False,
                               grad_clip=opt.grad_clip)
            rows.append((n, -(-n // opt.bsz), best_of(epoch, repeats)))
    return rows


def eval_rows(copies, repeats):
    from standalone_eval.eval import eval_submission
    from standalone_eval.submission import read_jsonl
    sub = read_jsonl(SHARED / "moment_detr_sample" / "sample_val_preds.jsonl.gz")
    gt = read_jsonl(REPO.parent / "shared" / "data" / "qvhighlights" / "highlight_val_release.jsonl")

    def scaled(rows, n):
        return [dict(r, qid=int(r["qid"]) + k * 10 ** 6) for k in range(n) for r in rows]
    out = []
    for n in copies:
        s, g = scaled(sub, n), scaled(gt, n)
        out.append((n, len(s), best_of(lambda: eval_submission(s, g, verbose=False), repeats)))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, nargs="*", default=[1, 5, 20, 60])
    p.add_argument("--queries", type=int, nargs="*", default=[64, 128, 256])
    p.add_argument("--copies", type=int, nargs="*", default=[1, 4, 16])
    p.add_argument("--repeats", type=int, default=2)
    a = p.parse_args(argv)
    print(f"CPU: {cpu_description()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    if a.minutes:
        rows = predictor_rows(a.minutes, a.repeats)
        print("\n| video | clips | predict 2 queries s | ms per video minute |\n|---|---|---|---|")
        for m, n, t in rows:
            print(f"| {m:g} min | {n} | {t:.3f} | {1000 * t / m:.1f} |")
    if a.queries:
        rows = epoch_rows(a.queries, a.repeats)
        print("\n| train queries | iterations | epoch s | s per iteration |\n|---|---|---|---|")
        for n, iters, t in rows:
            print(f"| {n} | {iters} | {t:.2f} | {t / iters:.3f} |")
    if a.copies and (SHARED / "moment_detr_sample").is_dir():
        rows = eval_rows(a.copies, a.repeats)
        print("\n| submission | queries | eval_submission s | ms per 1000 queries |\n|---|---|---|---|")
        for n, q, t in rows:
            print(f"| {n}x val | {q} | {t:.3f} | {1000 * t / q * 1000:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
