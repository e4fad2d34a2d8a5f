"""The authors' VideoLights model against ours, in one run, on the same weights and the same seeded batches.

    python scripts/bench_vs_authors.py                       # 3 alternating rounds, fp32 and amp for ours
    python scripts/bench_vs_authors.py --rounds 5 --iters 3 --modes fp32

Each side runs in its own worker process (both packages are named video_lights): the authors' code from
../shared/authors_model with PYTHONPATH set to it and a working directory outside the repository, ours from this
checkout. Both build the model from ../shared/ref_fixture/opt.json (VideoLights-B, QVHighlights) and load
../shared/ref_fixture/model_state.pt, then time, on the same seeded random batch (QVHighlights-like lengths):

    train step   forward, losses, backward, clipping at 0.1, AdamW (lr 1e-4, wd 1e-4) at batch 32, dropout on:
                 the authors' train_epoch body; ours engine/training.train_step with the trainer's optimizer
    inference    eval-mode forward under no_grad at batch 100: the authors' compute_mr_results calls
                 model(**inputs) (their full forward, negative pass included); ours the predictor's path

Rounds alternate between the sides (authors, ours in each mode, authors, ...), so a slow spell of the machine
hits both; each cell is the median over all rounds of the per-round median. Prints a table with the CPU, its
AVX-512 / AMX flags, torch's thread count, each side's median and the ratio (authors / ours).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VIDEOLIGHTS_SHARED", REPO.parent / "shared"))
AUTHORS = SHARED / "authors_model"
FIXTURE = SHARED / "ref_fixture"
TASKS = {"train": 32, "infer": 100}  # task -> batch size


# ---- the batch (stdlib + torch only: both workers build it with this code) -------------------------------------
def make_batch(batch_size, v_dim, t_dim, seed):
    """QVHighlights-like inputs and targets: 9 in 10 videos have 75 clips, the others 20-74; queries have 8-32
    tokens; L2-normalised random features with the loader's zero padding; 1-3 windows, saliency 0-12 per clip."""
    import torch
    import torch.nn.functional as F
    g = torch.Generator().manual_seed(seed)
    vid_lens = [75 if float(torch.rand(1, generator=g)) < 0.9 else int(torch.randint(20, 75, (1,), generator=g))
                for _ in range(batch_size)]
    txt_lens = torch.randint(8, 33, (batch_size,), generator=g).tolist()
    Lv, Lq = max(vid_lens), max(txt_lens)
    vid_mask = (torch.arange(Lv)[None] < torch.tensor(vid_lens)[:, None]).float()
    txt_mask = (torch.arange(Lq)[None] < torch.tensor(txt_lens)[:, None]).float()
    src_vid = F.normalize(torch.randn(batch_size, Lv, v_dim, generator=g), dim=-1) * vid_mask[..., None]
    src_txt = F.normalize(torch.randn(batch_size, Lq, t_dim, generator=g), dim=-1) * txt_mask[..., None]
    labels = torch.zeros(batch_size, Lv)
    spans, pos, neg = [], [], []
    for b, n in enumerate(vid_lens):
        windows = []
        for _ in range(int(torch.randint(1, 4, (1,), generator=g))):
            st = int(torch.randint(0, n - 4, (1,), generator=g))
            ln = int(torch.randint(1, min(15, n - st) + 1, (1,), generator=g))
            labels[b, st:st + ln] = torch.randint(1, 13, (ln,), generator=g).float()
            windows.append([(st + ln / 2) / n, ln / n])
        spans.append({"spans": torch.tensor(windows)})
        positive = labels[b].nonzero()[:, 0]
        negative = (labels[b, :n] == 0).nonzero()[:, 0]
        pos.append([int(positive[0]), int(positive[-1])])
        neg.append([int(negative[0]), int(negative[-1])])
    inputs = dict(src_txt=src_txt, src_txt_mask=txt_mask, src_vid=src_vid, src_vid_mask=vid_mask)
    targets = {"span_labels": spans, "saliency_pos_labels": torch.tensor(pos),
               "saliency_neg_labels": torch.tensor(neg), "saliency_pos_index": (labels > 0).long(),
               "saliency_all_labels": labels}
    return inputs, targets


# ---- workers ---------------------------------------------------------------------------------------------------
def authors_side(opt_json, state_path):
    """(train step, inference) closures of the authors' code; runs with PYTHONPATH = ../shared/authors_model."""
    import torch
    from video_lights.model import build_model  # the authors' package
    opt = argparse.Namespace(**json.load(open(opt_json)))
    opt.device = torch.device("cpu")
    model, criterion = build_model(opt)
    model.load_state_dict(torch.load(state_path, weights_only=True))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=opt.lr,
                                  weight_decay=opt.wd)  # their setup_model

    def train(inputs, targets):  # their train_epoch body
        model.train()
        criterion.train()
        outputs = model(**inputs)
        loss_dict = criterion(outputs, targets, 0)
        losses = sum(loss_dict[k] * criterion.weight_dict[k] for k in loss_dict if k in criterion.weight_dict)
        optimizer.zero_grad()
        losses.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), opt.grad_clip)
        optimizer.step()
        float(losses.detach())  # they log every term with float(): the step ends on the host

    @torch.no_grad()
    def infer(inputs):  # compute_mr_results: model(**model_inputs) in eval mode
        model.eval()
        model(**inputs)["pred_spans"].sum().item()

    return (opt.v_feat_dim, opt.t_feat_dim), train, infer  # their opt.json holds the widths with tef


def our_side(opt_json, state_path, mode):
    """(train step, inference) closures of ours in one precision mode (fp32, amp, compile)."""
    import torch
    sys.path.insert(0, str(REPO))
    from video_lights.config import load_opt
    from video_lights.engine.precision import autocast_context
    from video_lights.engine.training import build_optimizer, train_step
    from video_lights.model import build_criterion, build_model, input_dims
    from video_lights.utils.memory import keep_freed_memory
    keep_freed_memory()  # as our command lines do (utils/memory.py)
    device = torch.device("cpu")
    opt = load_opt(opt_json, device=device)
    model, criterion = build_model(opt), build_criterion(opt)
    model.load_state_dict(torch.load(state_path, weights_only=True))
    optimizer = build_optimizer(model, opt)
    amp = mode == "amp"
    train_model = torch.compile(model) if mode == "compile" else model

    def train(inputs, targets):
        model.train()
        train_step(train_model, criterion, optimizer, inputs, targets, device, amp=amp, grad_clip=opt.grad_clip)

    @torch.inference_mode()
    def infer(inputs):  # engine/evaluation.predict and the predictor: no loss-only outputs
        model.eval()
        with autocast_context(device, amp):
            train_model(**inputs, loss_outputs=False)["pred_spans"].sum().item()

    return input_dims(opt), train, infer


def worker(side, mode, seed):
    """Build one side, then answer lines 'TASK ITERS' on stdin with a JSON list of seconds on stdout."""
    import torch
    opt_json, state_path = FIXTURE / "opt.json", FIXTURE / "model_state.pt"
    dims, train, infer = (authors_side(opt_json, state_path) if side == "authors" else
                          our_side(opt_json, state_path, mode))
    batches = {task: make_batch(bsz, *dims, seed) for task, bsz in TASKS.items()}
    torch.manual_seed(seed)
    run = {"train": lambda: train(*batches["train"]), "infer": lambda: infer(batches["infer"][0])}
    print(json.dumps({"ready": True, "threads": torch.get_num_threads(), "torch": torch.__version__}), flush=True)
    for line in sys.stdin:
        task, iters = line.split()
        times = []
        for _ in range(int(iters)):
            start = time.perf_counter()
            run[task]()
            times.append(time.perf_counter() - start)
        print(json.dumps(times), flush=True)


# ---- driver ----------------------------------------------------------------------------------------------------
class Worker:
    def __init__(self, side, mode, seed, warmup):
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", side, "--mode", mode, "--seed", str(seed)]
        env = dict(os.environ)
        if side == "authors":
            env["PYTHONPATH"] = str(AUTHORS)
            cwd = tempfile.mkdtemp(prefix="bench_authors_")
        else:
            env.pop("PYTHONPATH", None)
            cwd = str(REPO)
        self.name = "authors" if side == "authors" else f"ours {mode}"
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=cwd)
        self.info = self._read()
        for task in TASKS:
            self.time(task, warmup)

    def _read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"error: the {self.name} worker stopped (see its message above)")
        return json.loads(line)

    def time(self, task, iters):
        self.proc.stdin.write(f"{task} {iters}\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--iters", type=int, default=3, help="timed steps per task, side and round")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps per task and side before the rounds")
    p.add_argument("--modes", nargs="+", default=["fp32", "amp"], choices=["fp32", "amp", "compile"],
                   help="our precision modes (amp: bfloat16 autocast on this CPU)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--worker", choices=["authors", "ours"], help=argparse.SUPPRESS)
    p.add_argument("--mode", default="fp32", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        return worker(a.worker, a.mode, a.seed)
    for path in (AUTHORS / "video_lights" / "model.py", FIXTURE / "model_state.pt"):
        if not path.is_file():
            raise SystemExit(f"error: {path} is missing: this benchmark needs ../shared (authors_model, ref_fixture)")
    workers = [Worker("authors", "fp32", a.seed, a.warmup)] + [Worker("ours", m, a.seed, a.warmup) for m in a.modes]
    medians = {(w.name, task): [] for w in workers for task in TASKS}
    for r in range(a.rounds):
        for w in workers:
            for task in TASKS:
                medians[(w.name, task)].append(statistics.median(w.time(task, a.iters)))
        print(f"  round {r + 1}: " + ", ".join(f"{w.name} {medians[(w.name, 'train')][-1]:.3f} / "
                                                f"{medians[(w.name, 'infer')][-1]:.3f} s" for w in workers),
              flush=True)
    for w in workers:
        w.close()
    sys.path.insert(0, str(REPO))  # here, not at the top: the authors' worker imports their own video_lights
    from video_lights.utils.hardware import cpu_description
    threads = workers[0].info["threads"]
    print(f"\nCPU: {cpu_description()}, {os.cpu_count()} logical CPUs, "
          f"torch {workers[0].info['torch']}, {threads} threads; VideoLights-B (ref_fixture weights), seeded "
          f"QVHighlights-like batches; median over {a.rounds} alternating rounds of the median of {a.iters} steps")
    print("| task | authors s | " + " | ".join(f"{w.name} s | speed-up" for w in workers[1:]) + " |")
    print("|---|---|" + "---|---|" * (len(workers) - 1))
    labels = {"train": f"train step, batch {TASKS['train']} (fwd, losses, bwd, clip, AdamW)",
              "infer": f"inference forward, batch {TASKS['infer']}"}
    for task in TASKS:
        theirs = statistics.median(medians[("authors", task)])
        cells = []
        for w in workers[1:]:
            ours = statistics.median(medians[(w.name, task)])
            cells.append(f"{ours:.3f} | {theirs / ours:.2f}x")
        print(f"| {labels[task]} | {theirs:.3f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
