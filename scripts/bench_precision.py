"""What mixed precision and torch.compile cost in accuracy and gain in speed: per mode, the train-step time at
batch 32 (VideoLights-B dimensions) and how far outputs and losses move from fp32 on the reference fixture batch.

    python scripts/bench_precision.py                          # modes fp32 amp compile amp+compile
    python scripts/bench_precision.py --modes fp32 amp --iters 5

Modes: fp32; amp = autocast (bfloat16 on CPU, float16 on CUDA, losses in float32 as in training); compile =
torch.compile of the model (the first steps compile: minutes on a small CPU; not counted). Deviations use the
authors' initial weights and their fixture batch (../shared/ref_fixture, 2 queries) with dropout off: the largest
absolute difference from fp32 in the eval outputs (foreground probability, normalised spans, saliency) and the
largest relative difference over the loss terms and the weighted total. Without ../shared, the weights are
random and the batch is bench_model's random one (said in the output). Prints a table.
"""
import argparse
import os
import statistics
import time
from pathlib import Path

import torch

from bench_model import make_batch, qvhl_b_opt
from video_lights.config import load_opt
from video_lights.engine.precision import autocast_context, grad_scaler, resolve_amp
from video_lights.engine.training import build_optimizer, train_step
from video_lights.model import build_criterion, build_model
from video_lights.utils.hardware import cpu_description

FIXTURE = Path(os.environ.get("VIDEOLIGHTS_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "ref_fixture"


def no_dropout(model):
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
        if hasattr(m, "dropout") and isinstance(m.dropout, float):
            m.dropout = 0.0
    return model


def reference_setup(device):
    """(opt, initial state dict, inputs, targets, source): the fixture's when present, else random."""
    if (FIXTURE / "model_state.pt").is_file():
        opt = load_opt(FIXTURE / "opt.json", device=device)
        batch = torch.load(FIXTURE / "batch1_inputs.pt", weights_only=True)
        state = torch.load(FIXTURE / "model_state.pt", weights_only=True)
        inputs = {k: v.to(device) for k, v in batch["model_inputs"].items()}
        t = batch["targets"]
        targets = {k: ([{"spans": s["spans"].to(device)} for s in v] if k == "span_labels" else v.to(device))
                   for k, v in t.items()}
        return opt, state, inputs, targets, "the reference fixture batch (2 queries) and the authors' weights"
    opt = qvhl_b_opt(device)
    torch.manual_seed(0)
    state = build_model(opt).state_dict()
    inputs, targets = make_batch([75, 60], [20, 12], opt, device)
    return opt, state, inputs, targets, "a random batch (2 queries) and random weights (../shared is absent)"


def measure(model, criterion, inputs, targets, device, amp):
    """Eval outputs (fg prob, spans, saliency) and train-mode losses (dropout off) in float32 for comparison."""
    model.eval()
    with torch.no_grad(), autocast_context(device, amp):
        out = model(**inputs, loss_outputs=False)
    outputs = {"foreground prob": out["pred_logits"].float().softmax(-1)[..., 0], "spans": out["pred_spans"].float(),
               "saliency": out["saliency_scores"].float()}
    model.train()
    with torch.no_grad(), autocast_context(device, amp):
        losses = criterion(model(**inputs), targets, 0)
    losses["weighted total"] = criterion.weighted_total(losses)
    return outputs, {k: v.float().sum() for k, v in losses.items()}


def step_time(model, criterion, opt, device, amp, iters, warmup, bsz):
    """Median seconds of a full train step (forward, losses, backward, clip, AdamW) at batch bsz, dropout on."""
    g = torch.Generator().manual_seed(1)
    vid_lens = [75] * bsz
    vid_lens[-1] = 60
    inputs, targets = make_batch(vid_lens, torch.randint(8, 33, (bsz,), generator=g).tolist(), opt, device)
    optimizer = build_optimizer(model, opt)  # the trainer's (its lr and wd)
    scaler = grad_scaler(device, amp)
    model.train()
    times = []
    for i in range(warmup + iters):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        train_step(model, criterion, optimizer, inputs, targets, device, amp=amp, scaler=scaler)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--modes", nargs="+", default=["fp32", "amp", "compile", "amp+compile"],
                   choices=["fp32", "amp", "compile", "amp+compile"])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--bsz", type=int, default=32)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2, help="untimed steps (compile modes compile in them)")
    a = p.parse_args()
    device = torch.device(a.device)
    opt, state, inputs, targets, source = reference_setup(device)

    def fresh(mode):
        model = build_model(opt)
        model.load_state_dict(state)
        model.to(device)
        criterion = build_criterion(opt).to(device)
        return (torch.compile(model) if "compile" in mode else model), criterion

    base_out, base_loss = measure(no_dropout(fresh("fp32")[0]), fresh("fp32")[1], inputs, targets, device, False)
    rows = []
    for mode in a.modes:
        amp = mode.startswith("amp")
        model, criterion = fresh(mode)
        t0 = time.perf_counter()
        seconds = step_time(model, criterion, opt, device, amp, a.iters, a.warmup, a.bsz)
        warm = time.perf_counter() - t0 - seconds * a.iters
        model, criterion = fresh(mode)
        out, loss = measure(no_dropout(model), criterion, inputs, targets, device, amp)
        d_out = {k: (out[k] - base_out[k]).abs().max().item() for k in base_out}
        d_loss = max(((loss[k] - v).abs() / v.abs().clamp_min(1e-12)).item() for k, v in base_loss.items())
        d_total = ((loss["weighted total"] - base_loss["weighted total"]).abs() / base_loss["weighted total"]).item()
        rows.append((mode, seconds, warm, d_out, d_loss, d_total))
        print(f"  {mode}: {seconds:.3f} s/step", flush=True)
    name = (torch.cuda.get_device_name(device) if device.type == "cuda" else
            f"{cpu_description()}, {torch.get_num_threads()} threads")
    if "amp" in " ".join(a.modes):
        print(resolve_amp("on", device)[1], "(what --amp on resolves to here; the rows above ran the mode anyway)")
    print(f"\nVideoLights-B train step at batch {a.bsz} ({name}, torch {torch.__version__}), median of {a.iters}; "
          f"deviations from fp32 on {source}")
    print("| mode | s/step | speed-up | warm-up s | max abs d fg prob | max abs d span | max abs d saliency "
          "| max rel d loss term | rel d total |")
    print("|---|---|---|---|---|---|---|---|---|")
    fp32 = next((r[1] for r in rows if r[0] == "fp32"), None)
    for mode, seconds, warm, d_out, d_loss, d_total in rows:
        speed = f"{fp32 / seconds:.2f}x" if fp32 else "-"
        print(f"| {mode} | {seconds:.3f} | {speed} | {warm:.0f} | {d_out['foreground prob']:.2e} | "
              f"{d_out['spans']:.2e} | {d_out['saliency']:.2e} | {d_loss:.2e} | {d_total:.2e} |")


if __name__ == "__main__":
    main()
