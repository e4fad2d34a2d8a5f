"""A synthetic QVHighlights-format dataset whose features carry a learnable query-to-clip signal.

    python -m video_lights.data.synthetic --out data/synthetic [--seed 0] [--n_train 1200 --n_val 200 --n_test 150]
                                          [--signal 1.0] [--real_dims]

Layout (the released QVHighlights layout):
    OUT/annotations/highlight_{train,val,test}_release.jsonl   (test without labels, like the real test split)
    OUT/features/{slowfast_features,clip_features,blip_video_features}/{vid}.npz            key "features" (L, D)
    OUT/features/{clip_text_features,blip_aug_text_features_openai}/qid{qid}.npz  keys "last_hidden_state" (T, D),
                                                                                    "pooler_output" (D,)
    OUT/dims.json and OUT/README.txt: the dims and the command-line flags that train on it.
    OUT/concepts.json: the bank concepts each query ("queries": {qid: index}) and each video ("videos": {vid: [index,
    ...]}, its queries' and its distractors') carry, for benchmarks that need videos without a query's concept.
Dims: small by default (video 64 + 32 + 32 = 128, text 32 + 32 = 64) so that the model trains in minutes on a CPU;
--real_dims gives the released ones (video 2304 + 512 + 768 = 3584, text 512 + 768 = 1280).

How the signal is built (all vectors live in a shared latent space of `latent_dim` dims, then each feature type is
a fixed random linear map of the latent plus Gaussian noise and a constant offset):
    * every query has a unit concept vector z, drawn from a bank of `n_concepts` concepts shared by all queries
      (as real queries keep mentioning the same things; 0 = a fresh concept per query, which the model learns
      far more slowly); its text tokens carry `s * z` with s = 2 * signal (content tokens
      and the end-of-text token; other tokens carry only word vectors from a shared vocabulary);
    * a video is a sequence of 3-8 scenes (a latent per scene) plus per-clip noise;
    * clips inside a relevant window add `s * (0.4 + 0.6 * quality) * z`, where `quality` in [0, 1] is the
      hidden per-clip relevance from which the 3 rater scores (0-4) are drawn, so stronger clips score higher;
    * 1-3 distractor segments outside the relevant windows carry concepts of the bank with the same strength, so
      relevance cannot be detected without reading the query;
    * signal = 0 removes z from both sides: the features are then independent of the annotations.
Deterministic for a seed (numpy PCG64).
"""
import argparse
import os
import sys

import numpy as np

from video_lights.utils.cli import ArgumentParser, command
from video_lights.utils.io import save_json, save_jsonl

SMALL_DIMS = {"video": {"slowfast_features": 64, "clip_features": 32, "blip_video_features": 32},
              "text": {"clip_text_features": 32, "blip_aug_text_features_openai": 32}}
REAL_DIMS = {"video": {"slowfast_features": 2304, "clip_features": 512, "blip_video_features": 768},
             "text": {"clip_text_features": 512, "blip_aug_text_features_openai": 768}}
CLIP_LENGTH = 2
SIGNAL_SCALE = 2.0  # --signal 1 (default) puts 2 * z into tokens and relevant clips; calibration: data/README.md
_WORDS = ("man woman people dog cat car kitchen beach street camera food table friends family shows talks about "
          "walks runs holds picks cooks plays rides drives sits stands looks water city house girl boy baby "
          "video vlog red blue green big small young old two group outside inside night morning sunset "
          "mountain river road market shop phone computer book guitar ball game dance song music tree park").split()


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _windows(rng, n_clips, scale=1.0):
    """Non-overlapping windows in clip units [(st, ed_exclusive)], QVHighlights-like count/length distribution
    (lengths scaled by `scale` = max video length / 150 s)."""
    n_win = int(rng.choice(np.arange(1, 9), p=[0.67, 0.17, 0.065, 0.037, 0.02, 0.011, 0.008, 0.019]))
    lengths = np.clip(np.round(np.exp(rng.normal(np.log(11.0 * scale), 0.9, size=n_win)) / np.sqrt(n_win)), 1, n_clips)
    lengths = lengths.astype(int)
    while lengths.sum() + len(lengths) - 1 > n_clips and len(lengths) > 1:
        lengths = lengths[:-1]
    lengths[0] = min(lengths[0], n_clips)
    free = n_clips - lengths.sum() - (len(lengths) - 1)  # slack beyond the mandatory 1-clip gaps
    cuts = np.sort(rng.integers(0, free + 1, size=len(lengths)))  # start offsets (non-decreasing)
    out, acc = [], 0
    for i, (L, c) in enumerate(zip(lengths, cuts)):
        st = int(c) + acc + i
        out.append((st, st + int(L)))
        acc += int(L)
    return out


def _quality(rng, n):
    """Hidden per-clip relevance in [0, 1] inside a window: a smooth random profile around a window-level mean."""
    mean = rng.uniform(0.6, 1.0)
    walk = np.cumsum(rng.normal(0, 0.08, size=n))
    return np.clip(mean + walk - (walk.mean() if n else 0.0), 0.0, 1.0)


class _Maps:
    """The fixed random maps latent -> feature type (one per type), with noise scale and offset."""

    def __init__(self, rng, dims, latent_dim):
        self.maps = {k: (rng.normal(0, 1 / np.sqrt(latent_dim), size=(latent_dim, d)),
                         rng.normal(0.1, 0.05, size=d)) for k, d in dims.items()}

    def __call__(self, rng, name, latents, noise):
        w, offset = self.maps[name]
        x = latents @ w + offset + noise * rng.normal(size=(len(latents), w.shape[1]))
        return x.astype(np.float32)


def generate(out_dir, seed=0, n_train=1200, n_val=200, n_test=150, signal=1.0, real_dims=False, latent_dim=32,
             n_concepts=12,
             feat_noise=0.25, compress=True, max_duration=150, verbose=False):
    """Write the dataset to out_dir (see the module docstring). Returns the dims dict written to dims.json.

    max_duration (s, even): videos last max_duration (90 %) or 80-99 % of it; the default 150 is QVHighlights'.
    Shorter videos make a faster demo (the model's cost grows with the number of clips)."""
    if max_duration < 20 or max_duration % CLIP_LENGTH:
        raise ValueError(f"max_duration must be an even number of seconds >= 20, got {max_duration}")
    scale = max_duration / 150
    rng = np.random.default_rng(seed)
    strength = SIGNAL_SCALE * signal
    dims = REAL_DIMS if real_dims else SMALL_DIMS
    vmaps = _Maps(rng, dims["video"], latent_dim)
    tmaps = _Maps(rng, dims["text"], latent_dim)
    vocab = {w: _unit(rng.normal(size=latent_dim)) for w in _WORDS}
    bank = _unit(rng.normal(size=(n_concepts, latent_dim))) if n_concepts > 0 else None

    concepts = {"queries": {}, "videos": {}}  # which bank concepts each query and video carry (-1: a fresh one)

    def concept(vid):
        if bank is None:
            z, index = _unit(rng.normal(size=latent_dim)), -1
        else:
            index = int(rng.integers(n_concepts))
            z = bank[index]
        concepts["videos"].setdefault(vid, []).append(index)
        return z, index
    save = np.savez_compressed if compress else np.savez
    feat_dir = os.path.join(out_dir, "features")
    for name in list(dims["video"]) + list(dims["text"]):
        os.makedirs(os.path.join(feat_dir, name), exist_ok=True)
    os.makedirs(os.path.join(out_dir, "annotations"), exist_ok=True)

    qid = 10000
    for split, n_queries in (("train", n_train), ("val", n_val), ("test", n_test)):
        rows = []
        while len(rows) < n_queries:
            # --- one video, with 1 query (90 %) or 2 queries (10 %)
            max_clips = max_duration // CLIP_LENGTH
            duration = max_duration if rng.random() < 0.9 else int(rng.integers(int(0.8 * max_clips), max_clips)) * 2
            n_clips = duration // CLIP_LENGTH
            ytid = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"), 11))
            st0 = int(rng.integers(0, 200)) * 30
            vid = f"{ytid}_{st0}.0_{st0 + duration}.0"
            n_scenes = int(rng.integers(3, 9))
            bounds = np.sort(rng.choice(np.arange(1, n_clips), size=n_scenes - 1, replace=False))
            scene_of_clip = np.searchsorted(bounds, np.arange(n_clips), side="right")
            scenes = _unit(rng.normal(size=(n_scenes, latent_dim)))
            lat = scenes[scene_of_clip] + rng.normal(0, 0.5 / np.sqrt(latent_dim), size=(n_clips, latent_dim))

            occupied = np.zeros(n_clips, dtype=bool)
            n_q = 1 if (rng.random() < 0.9 or n_queries - len(rows) < 2) else 2
            for _ in range(n_q):
                z, index = concept(vid)
                wins = [w for w in _windows(rng, n_clips, scale) if not occupied[w[0]:w[1]].any()]
                if not wins:
                    continue
                clip_ids, scores = [], []
                for st, ed in wins:
                    q = _quality(rng, ed - st)
                    lat[st:ed] += strength * (0.4 + 0.6 * q)[:, None] * z
                    occupied[st:ed] = True
                    raw = 4 * q[:, None] + rng.normal(0, 0.7, size=(ed - st, 3))
                    scores += np.clip(np.round(raw), 0, 4).astype(int).tolist()
                    clip_ids += list(range(st, ed))
                words = list(rng.choice(_WORDS, size=int(rng.integers(5, 17))))
                query = " ".join(words).capitalize() + "."
                _write_text(rng, tmaps, feat_dir, qid, words, z, vocab, strength, feat_noise, save)
                row = {"qid": qid, "query": query, "duration": duration, "vid": vid}
                concepts["queries"][qid] = index
                if split != "test":
                    row.update(relevant_clip_ids=clip_ids, saliency_scores=scores,
                               relevant_windows=[[st * CLIP_LENGTH, ed * CLIP_LENGTH] for st, ed in wins])
                rows.append(row)
                qid += 1
            # --- distractor segments: other concepts, outside every relevant window
            for _ in range(int(rng.integers(1, 4))):
                L = int(np.clip(round(np.exp(rng.normal(np.log(8.0 * scale), 0.8))), 1, n_clips))
                st = int(rng.integers(0, n_clips - L + 1))
                seg = np.arange(st, st + L)[~occupied[st:st + L]]
                lat[seg] += strength * (0.4 + 0.6 * _quality(rng, len(seg)))[:, None] * concept(vid)[0]
            for name in dims["video"]:
                save(os.path.join(feat_dir, name, f"{vid}.npz"), features=vmaps(rng, name, lat, feat_noise))
        save_jsonl(rows, os.path.join(out_dir, "annotations", f"highlight_{split}_release.jsonl"))
        if verbose:
            print(f"{split}: {len(rows)} queries")

    info = {"seed": seed, "signal": signal, "real_dims": real_dims, "latent_dim": latent_dim, "n_concepts": n_concepts,
            "clip_length": CLIP_LENGTH, "video_dims": dims["video"], "text_dims": dims["text"],
            "v_feat_dim": sum(dims["video"].values()), "t_feat_dim": sum(dims["text"].values()),
            "n_train": n_train, "n_val": n_val, "n_test": n_test, "max_duration": max_duration}
    info["flags"] = train_flags(out_dir, info)
    save_json(info, os.path.join(out_dir, "dims.json"))
    save_json(concepts, os.path.join(out_dir, "concepts.json"))
    with open(os.path.join(out_dir, "README.txt"), "w", encoding="utf-8") as f:
        f.write(f"Synthetic QVHighlights-format dataset (video_lights.data.synthetic, seed {seed}, signal {signal}).\n"
                f"Not real data: features are random projections of latent concepts, see the module docstring.\n\n"
                f"Train on it with these options (v_feat_dim excludes the 2 tef dims, which are added automatically):\n"
                f"  {' '.join(info['flags'])}\n")
    return info


def _write_text(rng, tmaps, feat_dir, qid, words, z, vocab, strength, noise, save):
    """Token latents: [SOT] words... [EOT]; content words (half) and EOT carry strength * z."""
    n = len(words)
    content = rng.random(n) < 0.5
    lat = np.stack([vocab[w] for w in words]) + (strength * content)[:, None] * z
    sot = np.zeros((1, len(z)))
    eot = strength * z[None] + rng.normal(0, 0.3 / np.sqrt(len(z)), size=(1, len(z)))
    lat = np.concatenate([sot, lat, eot])  # (n + 2, latent)
    for i, name in enumerate(tmaps.maps):
        tok = lat
        if i > 0 and rng.random() < 0.5:  # the second tokenizer sometimes yields one more token
            tok = np.concatenate([lat, lat[-1:]])
        h = tmaps(rng, name, tok, noise)
        save(os.path.join(feat_dir, name, f"qid{qid}.npz"), last_hidden_state=h, pooler_output=h[-1])


def train_flags(out_dir, info):
    """Command-line flags that train / evaluate on a generated dataset."""
    ann = os.path.join(out_dir, "annotations")
    feat = os.path.join(out_dir, "features")
    return (["--dataset", "qvhighlights", "--ctx_mode", "video_tef", "--clip_length", str(info["clip_length"]),
             "--train_path", os.path.join(ann, "highlight_train_release.jsonl"),
             "--eval_path", os.path.join(ann, "highlight_val_release.jsonl"),
             "--v_feat_dirs"] + [os.path.join(feat, k) for k in info["video_dims"]]
            + ["--v_feat_dim", str(info["v_feat_dim"]), "--t_feat_dirs"]
            + [os.path.join(feat, k) for k in info["text_dims"]] + ["--t_feat_dim", str(info["t_feat_dim"])])


@command
def main(argv=None):
    p = ArgumentParser(prog="python -m video_lights.data.synthetic",
                                description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n_train", type=int, default=1200)
    p.add_argument("--n_val", type=int, default=200)
    p.add_argument("--n_test", type=int, default=150)
    p.add_argument("--signal", type=float, default=1.0, help="query-to-clip signal strength (0 = pure noise)")
    p.add_argument("--real_dims", action="store_true", help="released dims: video 2304+512+768, text 512+768")
    p.add_argument("--latent_dim", type=int, default=32)
    p.add_argument("--n_concepts", type=int, default=12,
                   help="size of the concept bank shared by the queries (0 = a fresh concept per query)")
    p.add_argument("--feat_noise", type=float, default=0.25, help="per-dim Gaussian noise of the features")
    p.add_argument("--no_compress", action="store_true", help="np.savez instead of np.savez_compressed")
    p.add_argument("--max_duration", type=int, default=150,
                   help="video length in s (even; 10 %% of videos are 80-99 %% of it); shorter = faster demo")
    a = p.parse_args(argv)
    if a.signal < 0 or min(a.n_train, a.n_val, a.n_test) < 0:
        p.error("--signal and the split sizes must be >= 0")
    info = generate(a.out, seed=a.seed, n_train=a.n_train, n_val=a.n_val, n_test=a.n_test, signal=a.signal,
                    real_dims=a.real_dims, latent_dim=a.latent_dim, n_concepts=a.n_concepts, feat_noise=a.feat_noise,
                    compress=not a.no_compress, max_duration=a.max_duration, verbose=True)
    print(f"wrote {a.out}: v_feat_dim {info['v_feat_dim']} (+2 tef), t_feat_dim {info['t_feat_dim']}")
    print("train with: " + " ".join(info["flags"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
