"""Long videos against short ones: does a query's moment survive being planted into a 20- or 120-minute video?

    python scripts/bench_long_video.py [--checkpoint CKPT --data DIR] [--minutes 20 120] [--queries 60]

Without --checkpoint the script generates the embedded synthetic dataset (seed 0) and trains the demo's model on it
(scripts/demo.sh's options, --epochs of them, float32) in --work; with it, --data is the synthetic folder the model
was trained on. For each of --queries val queries with one relevant window on a full-length (max_v_l-clip) video:
    * short: the query's own video, as the model was trained on it;
    * long: that video planted into a background of other val videos, cut to --minutes, at six offsets: the start,
      a window start ("aligned": one sliding window holds exactly the planted video), half a stride past a window
      start twice ("straddle": no window holds it whole), the end ("end": the last window ends with it) and half a
      stride before it ("near end"). Background videos never carry the query's concept (data/synthetic.py's
      concepts.json), so the planted window is the only right answer, as it is in the short video.
Reported per row: R@1 and R@5 (a moment among the top 1 / 5 with IoU >= 0.5 to the planted window), saliency
HIT@1 (the top-saliency clip is one of the query's relevant clips) and the predictor's time per video (features in
memory; extraction is not in it). Printed as a table with the CPU named, and as JSON with --json.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from standalone_eval.iou import cross_iou  # noqa: E402
from video_lights.utils.hardware import cpu_description  # noqa: E402

OFFSETS = ("start", "aligned", "straddle", "straddle 2", "near end", "end")
DEMO_TRAIN = ["--hidden_dim", "128", "--dim_feedforward", "512", "--bsz", "8", "--lr", "2e-4", "--seed", "2018",
              "--num_workers", "0", "--device", "cpu", "--amp", "off", "--feat_cache"]


def prepare(work, epochs):
    """(checkpoint, data folder): the synthetic dataset and the demo's model trained on it, made once in work."""
    data, results = os.path.join(work, "data"), os.path.join(work, "results")
    if not os.path.isfile(os.path.join(data, "concepts.json")):
        subprocess.run([sys.executable, "-m", "video_lights.data.synthetic", "--out", data, "--seed", "0"],
                       check=True, cwd=REPO)
    found = sorted(glob.glob(os.path.join(results, f"*-long{epochs}-*", "model_best.ckpt")))
    if not found:
        subprocess.run([sys.executable, "-m", "video_lights.train", "--preset", "synthetic", "--feat_root", data,
                        "--results_root", results, "--exp_id", f"long{epochs}", "--n_epoch", str(epochs),
                        "--eval_epoch", "2"] + DEMO_TRAIN, check=True, cwd=REPO)
        found = sorted(glob.glob(os.path.join(results, f"*-long{epochs}-*", "model_best.ckpt")))
    return found[-1], data


class Planted:
    """The val split of a synthetic dataset, as the predictor's inputs: videos, queries, concepts."""

    def __init__(self, data, predictor):
        from video_lights.data.annotations import read_jsonl
        from video_lights.data.features import open_store, read_text, read_video
        from video_lights.predict import QueryFeatures
        opt = predictor.opt
        self.rows = [row for _, row in read_jsonl(os.path.join(data, "annotations", "highlight_val_release.jsonl"))]
        with open(os.path.join(data, "concepts.json"), encoding="utf-8") as f:
            concepts = json.load(f)
        self.query_concept = {int(k): v for k, v in concepts["queries"].items()}
        self.video_concepts = concepts["videos"]
        self.clip_length = float(opt.clip_length)
        feat = os.path.join(data, "features")
        v_stores = [open_store(os.path.join(feat, os.path.basename(d.rstrip("/")))) for d in opt.v_feat_dirs]
        t_stores = [open_store(os.path.join(feat, os.path.basename(d.rstrip("/")))) for d in opt.t_feat_dirs]
        vids = sorted({r["vid"] for r in self.rows})
        self.videos = {v: {n: read_video(st, v).astype(np.float32) for n, st in zip(predictor.video_types, v_stores)}
                       for v in vids}
        self.queries = {r["qid"]: QueryFeatures(r["query"], {
            n: read_text(st, f"qid{r['qid']}", "last_hidden_state").astype(np.float32)
            for n, st in zip(predictor.text_types, t_stores)}) for r in self.rows}

    def n_clips(self, vid):
        return min(len(v) for v in self.videos[vid].values())

    def chosen(self, n, max_v_l, seed):
        """n val rows with one relevant window on a video of max_v_l clips (seeded choice)."""
        rows = [r for r in self.rows if len(r["relevant_windows"]) == 1 and self.n_clips(r["vid"]) == max_v_l]
        rng = np.random.default_rng(seed)
        return [rows[i] for i in sorted(rng.choice(len(rows), size=min(n, len(rows)), replace=False))]

    def video(self, vid):
        from video_lights.predict import VideoFeatures
        n = self.n_clips(vid)
        return VideoFeatures({k: v[:n] for k, v in self.videos[vid].items()}, n * self.clip_length, self.clip_length)

    def long_video(self, row, n_total, offset, rng):
        """row's video planted at clip `offset` into a background of n_total clips of other val videos that do not
        carry row's concept (whole videos in a random order, the last one cut)."""
        from video_lights.predict import VideoFeatures
        concept = self.query_concept[row["qid"]]
        pool = [v for v in self.videos if v != row["vid"] and concept not in self.video_concepts[v]]
        n_plant = self.n_clips(row["vid"])
        parts, have = [], 0
        while have < n_total - n_plant:
            for v in rng.permutation(pool):
                parts.append(v)
                have += self.n_clips(v)
                if have >= n_total - n_plant:
                    break
        background = {k: np.concatenate([self.videos[v][k][:self.n_clips(v)] for v in parts])[:n_total - n_plant]
                      for k in self.videos[row["vid"]]}
        feats = {k: np.concatenate([b[:offset], self.videos[row["vid"]][k][:n_plant], b[offset:]])
                 for k, b in background.items()}
        return VideoFeatures(feats, n_total * self.clip_length, self.clip_length)


def offsets(n_total, n_plant, stride, rng):
    """{kind: clip offset of the planted video} (see the module docstring); window starts are multiples of stride."""
    last = n_total - n_plant
    starts = np.arange(stride, last - stride, stride)
    a, b = rng.choice(starts, size=2, replace=False)
    return {"start": 0, "aligned": int(rng.choice(starts)), "straddle": int(a + stride // 2),
            "straddle 2": int(b + stride // 2), "near end": last - stride // 2, "end": last}


def score(pred, window, relevant_clips, shift_s, shift_clips):
    """(R@1, R@5, HIT@1) of one Prediction against the planted window [st, ed] shifted by shift_s seconds."""
    gt = (window[0] + shift_s, window[1] + shift_s)
    ious = cross_iou(np.asarray([w[:2] for w in pred.windows[:5]], np.float64).reshape(-1, 2),
                     np.asarray([gt], np.float64))[:, 0]
    hits = (np.nan_to_num(ious) >= 0.5).tolist()
    top_clip = int(np.argmax(pred.saliency)) - shift_clips
    return float(bool(hits[:1] and hits[0])), float(any(hits)), float(top_clip in relevant_clips)


def run(predictor, planted, rows, minutes, seed):
    """{row label: dict(r1, r5, hit1, s_per_video, n)} for the short videos and every (minutes, offset)."""
    opt = predictor.opt
    stride = max(1, opt.max_v_l // 2)
    table = {}

    def add(label, result, seconds):
        t = table.setdefault(label, dict(r1=[], r5=[], hit1=[], s=[]))
        for k, v in zip(("r1", "r5", "hit1"), result):
            t[k].append(v)
        t["s"].append(seconds)

    for row in rows:
        query = planted.queries[row["qid"]]
        window, clips = row["relevant_windows"][0], set(row["relevant_clip_ids"])
        t = time.perf_counter()
        pred = predictor.predict(planted.video(row["vid"]), [query], top_k=10)[0]
        add("short", score(pred, window, clips, 0.0, 0), time.perf_counter() - t)
    for m in minutes:
        n_total = int(round(m * 60 / planted.clip_length))
        rng = np.random.default_rng([seed, n_total])
        for row in rows:
            query = planted.queries[row["qid"]]
            window, clips = row["relevant_windows"][0], set(row["relevant_clip_ids"])
            for kind, off in offsets(n_total, planted.n_clips(row["vid"]), stride, rng).items():
                video = planted.long_video(row, n_total, off, rng)
                t = time.perf_counter()
                pred = predictor.predict(video, [query], top_k=10)[0]
                add(f"{m:g} min {kind}", score(pred, window, clips, off * planted.clip_length, off),
                    time.perf_counter() - t)
    out = {}
    for label, t in table.items():
        out[label] = dict(n=len(t["r1"]), r1=100 * np.mean(t["r1"]), r5=100 * np.mean(t["r5"]),
                          hit1=100 * np.mean(t["hit1"]), s_per_video=float(np.mean(t["s"])))
    for m in minutes:  # all offsets of a length together
        parts = [out[f"{m:g} min {k}"] for k in OFFSETS]
        out[f"{m:g} min all"] = dict(n=sum(p["n"] for p in parts),
                                     **{k: float(np.mean([p[k] for p in parts])) for k in ("r1", "r5", "hit1",
                                                                                         "s_per_video")})
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", help="a model trained on the synthetic preset (default: train one in --work)")
    p.add_argument("--data", help="the synthetic dataset the checkpoint was trained on (with --checkpoint)")
    p.add_argument("--work", default="bench_output/long_video", help="where the dataset and model are made")
    p.add_argument("--epochs", type=int, default=30,
                   help="epochs of the model trained without --checkpoint (30: val MR-full-R1@0.5 has levelled off)")
    p.add_argument("--minutes", type=float, nargs="+", default=[20, 120])
    p.add_argument("--queries", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="also write the table as JSON here")
    a = p.parse_args(argv)
    if bool(a.checkpoint) != bool(a.data):
        p.error("--checkpoint and --data go together")
    ckpt, data = (a.checkpoint, a.data) if a.checkpoint else prepare(a.work, a.epochs)

    from video_lights.api import checkpoint_options, load_checkpoint
    from video_lights.predict import Predictor
    model, saved = load_checkpoint(ckpt)
    opt = checkpoint_options(saved, ckpt)
    predictor = Predictor(model, opt, None, "cpu")
    planted = Planted(data, predictor)
    rows = planted.chosen(a.queries, opt.max_v_l, a.seed)
    result = run(predictor, planted, rows, a.minutes, a.seed)

    print(f"CPU: {cpu_description()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"checkpoint: {ckpt}; {len(rows)} val queries, one relevant window each")
    short = result["short"]
    print("\n| video | planted at | inputs | R@1 | R@5 | HIT@1 | R@1 / short | R@5 / short | s per video |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, r in result.items():
        length, _, kind = label.partition(" min ")
        video, where = ("150 s (own)", "-") if label == "short" else (f"{length} min", kind)
        print(f"| {video} | {where} | {r['n']} | {r['r1']:.1f} | {r['r5']:.1f} | {r['hit1']:.1f} | "
              f"{r['r1'] / max(short['r1'], 1e-9):.2f} | {r['r5'] / max(short['r5'], 1e-9):.2f} | "
              f"{r['s_per_video']:.3f} |")
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump(dict(checkpoint=ckpt, cpu=cpu_description(), rows=result), f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
