"""Time the VideoLights model at the QVHighlights VideoLights-B dimensions, and measure the BiCMF mask quirk.

    python scripts/bench_model.py                 # fp32: forward, forward+backward, eval forward at batch 32
    python scripts/bench_model.py --amp           # bfloat16 autocast on CPU (float16 on CUDA, --amp-dtype)
    python scripts/bench_model.py --mask-effect --val-jsonl ../shared/data/qvhighlights/highlight_val_release.jsonl

Rows: "fwd" = train-mode forward + losses; "fwd+bwd" = that + backward; "eval-fwd" = eval-mode forward under
no_grad without the loss-only outputs (our inference path); "eval-fwd (loss outputs)" = eval forward that also
computes the negative pass and MR->HD head (what the authors' inference ran, minus the negative-pass decoder).
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

from video_lights.config import parse_args
from video_lights.model import build_criterion, build_model, input_dims


def qvhl_b_opt(device, *extra):
    """The options of video_lights/scripts/qvhl/train.sh (VideoLights-B, the qvhl preset): SlowFast 2304 + CLIP 512 +
    BLIP-2 768 video (v_feat_dim 3584; the model adds the 2 tef dims: input width 3586), CLIP + BLIP-2 text 1280."""
    return parse_args(["--preset", "qvhl", "--device", str(device), *extra])


def make_batch(vid_lens, txt_lens, opt, device, seed=0):
    """Random L2-normalised features with the loader's zero padding, and matching random targets."""
    g = torch.Generator().manual_seed(seed)
    B, Lv, Lq = len(vid_lens), max(vid_lens), max(txt_lens)
    vid_mask = (torch.arange(Lv)[None] < torch.tensor(vid_lens)[:, None]).float()
    txt_mask = (torch.arange(Lq)[None] < torch.tensor(txt_lens)[:, None]).float()
    v_dim, t_dim = input_dims(opt)
    src_vid = F.normalize(torch.randn(B, Lv, v_dim, generator=g), dim=-1) * vid_mask[..., None]
    src_txt = F.normalize(torch.randn(B, Lq, t_dim, generator=g), dim=-1) * txt_mask[..., None]
    labels = torch.zeros(B, Lv)
    spans, pos, neg = [], [], []
    for b, n in enumerate(vid_lens):
        st = int(torch.randint(0, n - 5, (1,), generator=g))
        labels[b, st:st + 5] = torch.randint(1, 13, (5,), generator=g).float()
        spans.append({"spans": torch.tensor([[(st + 2.5) / n, 5 / n]])})
        pos.append([st, st + 1])
        neg.append([st + 4, (st + 10) % n])
    inputs = dict(src_txt=src_txt, src_txt_mask=txt_mask, src_vid=src_vid, src_vid_mask=vid_mask)
    targets = {"span_labels": [{"spans": s["spans"].to(device)} for s in spans],
               "saliency_pos_labels": torch.tensor(pos, device=device),
               "saliency_neg_labels": torch.tensor(neg, device=device),
               "saliency_pos_index": (labels > 0).long().to(device), "saliency_all_labels": labels.to(device)}
    return {k: v.to(device) for k, v in inputs.items()}, targets


def timeit(fn, device, warmup, iters):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def bench(args, device):
    opt = qvhl_b_opt(device)
    torch.manual_seed(0)
    model, criterion = build_model(opt), build_criterion(opt)
    model.to(device)
    criterion.to(device)
    # QVHL-like padding: almost every video has 75 clips, queries 8..32 tokens
    g = torch.Generator().manual_seed(1)
    vid_lens = [75] * args.bsz
    vid_lens[-1] = 60
    txt_lens = torch.randint(8, 33, (args.bsz,), generator=g).tolist()
    inputs, targets = make_batch(vid_lens, txt_lens, opt, device)
    dtype = {"bfloat16": torch.bfloat16, "float16": torch.float16}[args.amp_dtype or
                                                                  ("bfloat16" if device.type == "cpu" else "float16")]
    autocast = torch.autocast(device.type, dtype=dtype, enabled=args.amp)

    def fwd():
        with autocast:
            return criterion.weighted_total(criterion(model(**inputs), targets, 0))

    def fwd_bwd():
        model.zero_grad(set_to_none=True)
        fwd().backward()

    def eval_fwd(loss_outputs):
        with torch.no_grad(), autocast:
            model(**inputs, loss_outputs=loss_outputs)

    model.train()
    rows = [("fwd", timeit(fwd, device, args.warmup, args.iters)),
            ("fwd+bwd", timeit(fwd_bwd, device, args.warmup, args.iters))]
    model.eval()
    rows += [("eval-fwd", timeit(lambda: eval_fwd(False), device, args.warmup, args.iters)),
             ("eval-fwd (loss outputs)", timeit(lambda: eval_fwd(True), device, args.warmup, args.iters))]
    precision = f"autocast {dtype}".replace("torch.", "") if args.amp else "fp32"
    print(f"device {device} ({torch.get_num_threads()} threads), batch {args.bsz}, Lv 75, Lq <= 32, "
          f"v_feat {input_dims(opt)[0]}, t_feat {input_dims(opt)[1]}, {precision}, median of {args.iters}")
    print("| step | ms |\n|---|---|")
    for name, ms in rows:
        print(f"| {name} | {ms:.1f} |")


def mask_effect(args, device):
    """How much the authors' BiCMF mask tiling changes eval outputs vs fix_bicmf_mask, on eval batches of 100 in
    dataset order, with QVHL val lengths (clips = duration / 2, at most 75; text tokens approximated by the
    query's word count + 2). Random-init weights and random features: the fraction of affected samples depends
    only on the lengths; the size of the change depends on the weights."""
    rows = [json.loads(line) for line in open(args.val_jsonl)]
    vid_all = [min(75, int(r["duration"]) // 2) for r in rows]
    txt_all = [min(32, len(r["query"].split()) + 2) for r in rows]
    opt = qvhl_b_opt(device)
    torch.manual_seed(0)
    quirk = build_model(opt)
    fixed = build_model(qvhl_b_opt(device, "--fix_bicmf_mask"))
    fixed.load_state_dict(quirk.state_dict())
    quirk.to(device).eval()
    fixed.to(device).eval()
    n_changed, n_total, max_sal, max_span, top1_flips = 0, 0, 0.0, 0.0, 0
    for start in range(0, len(rows), args.eval_bsz):
        vl, tl = vid_all[start:start + args.eval_bsz], txt_all[start:start + args.eval_bsz]
        inputs, _ = make_batch(vl, tl, opt, device, seed=start)
        with torch.no_grad():
            a, b = quirk(**inputs, loss_outputs=False), fixed(**inputs, loss_outputs=False)
        for i, n in enumerate(vl):
            d_sal = (a["saliency_scores"][i, :n] - b["saliency_scores"][i, :n]).abs().max().item()
            d_span = (a["pred_spans"][i] - b["pred_spans"][i]).abs().max().item()
            n_changed += max(d_sal, d_span) > 1e-5
            max_sal, max_span = max(max_sal, d_sal), max(max_span, d_span)
            top1 = lambda o: o["pred_logits"][i].softmax(-1)[:, 0].argmax().item()  # noqa: E731
            top1_flips += top1(a) != top1(b)
        n_total += len(vl)
    print(f"{args.val_jsonl}: {n_total} queries, eval_bsz {args.eval_bsz}, "
          f"{sum(v < 75 for v in vid_all)} videos shorter than 75 clips")
    print(f"samples whose outputs change (> 1e-5): {n_changed} ({100 * n_changed / n_total:.1f}%); "
          f"max |d saliency| {max_sal:.4f}; max |d span| {max_span:.4f}; top-1 query changes {top1_flips}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bsz", type=int, default=32)
    p.add_argument("--amp", action="store_true", help="autocast (bfloat16 on CPU, float16 on CUDA by default)")
    p.add_argument("--amp_dtype", choices=["bfloat16", "float16"], default=None)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--mask-effect", dest="mask_effect", action="store_true",
                   help="measure the BiCMF mask-tiling quirk against fix_bicmf_mask instead of timing")
    p.add_argument("--val-jsonl", dest="val_jsonl", default="../shared/data/qvhighlights/highlight_val_release.jsonl")
    p.add_argument("--eval_bsz", type=int, default=100)
    args = p.parse_args()
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    (mask_effect if args.mask_effect else bench)(args, device)


if __name__ == "__main__":
    main()
