"""Synthetic-caption speed (python -m video_lights.pretrain_data): captions per second of the BLIP captioner, ITM
frames and pairs per second, decoding, and what that makes per QVHighlights video (150 s: 15 caption frames, 74
ITM frames, 74 pairs). Prints a table.

    python scripts/bench_captions.py [--frames 4] [--seconds 20] [--device cpu|cuda] [--fp16 | --bf16] [--batch_size 16]

The models have the released architectures with random weights (no weights can be downloaded here), configured from
their published hyperparameters: Salesforce/blip-image-captioning-large = ViT-L/16 at 384 (width 1024, 24 layers,
16 heads, MLP 4096) + a BERT-base text decoder (768, 12 layers, 12 heads, 3072, vocabulary 30524, cross-attention
to the 1024-wide image tokens); Salesforce/blip-itm-base-coco = ViT-B/16 at 384 (768, 12 layers, 12 heads, 3072) +
the same BERT-base text encoder and a 2-way ITM head. Random weights never write [SEP], so every beam runs to the
recipe's max_length 30 (the worst case); the "16 tokens" row stops beam search at 16 tokens, about the length of the
released captions (10 words on average, plus [DEC] a picture of and [SEP]).
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np
import torch
from transformers import BertTokenizer, BlipConfig, BlipForConditionalGeneration, BlipForImageTextRetrieval

from bench_extract import textured_video
from video_lights.features.blip import BlipCaptioner, BlipMatcher, blip_pixels
from video_lights.features.captions import caption_windows, read_video, saliency_clip_ids
from video_lights.features.decode import probe

QVHL_SECONDS = 150
QVHL_VIDEOS = 10_000


def _text(vision_width):
    return dict(vocab_size=30524, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                num_attention_heads=12, max_position_embeddings=512, encoder_hidden_size=vision_width)


def _vision(width, layers, heads, mlp):
    return dict(hidden_size=width, intermediate_size=mlp, num_hidden_layers=layers, num_attention_heads=heads,
                image_size=384, patch_size=16)


def stand_in_tokenizer():
    """The prompt's words and a few more (the vocabulary size does not change the speed: the models' embedding
    tables and LM head have the real 30524 rows; ids the tokenizer lacks decode as [UNK])."""
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "picture", "of", "man", "cooks", "in", "kitchen"]
    return BertTokenizer(vocab={w: i for i, w in enumerate(words)})


def qvhl_workload():
    """(caption frames, ITM frames scored, ITM pairs) of one 150-s video by the recipe."""
    windows = caption_windows(QVHL_SECONDS, round(QVHL_SECONDS * 0.1))
    ids = [saliency_clip_ids(s, e, round(QVHL_SECONDS * 0.5)) for s, e in windows]
    return len(windows), len({i for x in ids for i in x}), sum(len(x) for x in ids)


def timed(fn, warm_up=False):
    """Seconds of one call of fn (after one untimed call when warm_up: CUDA kernels, allocator)."""
    if warm_up:
        fn()
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=4, help="frames per timed batch")
    p.add_argument("--seconds", type=float, default=20.0, help="length of the generated video for decoding")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--fp16", action="store_true", help="both models in float16 (CUDA)")
    p.add_argument("--bf16", action="store_true", help="both models under bfloat16 autocast (as pretrain-data --bf16)")
    p.add_argument("--batch_size", type=int, default=16)
    a = p.parse_args(argv)
    dtype = torch.float16 if a.fp16 else torch.float32
    precision = "fp16" if a.fp16 else "bf16" if a.bf16 else "fp32"
    torch.manual_seed(0)
    tok = stand_in_tokenizer()
    captioner = BlipCaptioner(BlipForConditionalGeneration(BlipConfig(
        vision_config=_vision(1024, 24, 16, 4096), text_config=_text(1024))), a.device, a.batch_size, dtype, tok,
        bf16=a.bf16)
    matcher = BlipMatcher(BlipForImageTextRetrieval(BlipConfig(
        vision_config=_vision(768, 12, 12, 3072), text_config=_text(768))), a.device, a.batch_size, dtype, tok,
        bf16=a.bf16)
    frames = np.random.default_rng(0).integers(0, 256, (a.frames, 224, 224, 3), dtype=np.uint8)
    n_cap, n_itm, n_pairs = qvhl_workload()
    pairs = [(i % a.frames, "a man cooks pasta in a small kitchen with a wooden table") for i in range(n_pairs)]
    cuda = str(a.device).startswith("cuda")

    def seconds(fn):
        def call():
            fn()
            if cuda:
                torch.cuda.synchronize()
        return timed(call, warm_up=cuda)
    rows = []   # (stage, seconds per item, items per 150-s video or None when it is part of another row)
    rows.append(("frame preprocessing (PIL bicubic 224 -> 384; inside the rows below)",
                 seconds(lambda: blip_pixels(frames, 384, a.device, dtype)) / a.frames, None))
    rows.append(("caption, beam 3 to max_length 30", seconds(lambda: captioner.captions(frames)) / a.frames, n_cap))
    gen = captioner.model.text_decoder.generation_config
    gen.max_length = gen.min_length = 16
    rows.append(("caption, beam 3, 16 tokens (the released mean)", seconds(lambda: captioner.captions(frames))
                 / a.frames, None))
    embed = seconds(lambda: matcher.image_embeddings(frames))
    rows.append(("ITM ViT-B/16 384 (per frame)", embed / a.frames, n_itm))
    both = seconds(lambda: matcher.match_probabilities(frames, pairs))
    rows.append(("ITM text encoder + head (per pair)", max(both - embed, 0.0) / len(pairs), n_pairs))
    with tempfile.TemporaryDirectory() as tmp:
        path = textured_video(os.path.join(tmp, "v.mp4"), a.seconds)
        info = probe(path)
        rows.append(("decoding (0.1 + 0.5 fps, 640x360 30-fps H.264), per s of video",
                     timed(lambda: read_video(path, "v", info)) / a.seconds, QVHL_SECONDS))
    print(f"device {a.device} ({torch.get_num_threads()} threads), {precision}, random weights of "
          f"the released sizes, batches of {a.frames} frames")
    print("| stage | s per item | items per 150-s video | s per 150-s video |\n|---|---|---|---|")
    total = 0.0
    for name, t, n in rows:
        per_video = "" if n is None else f"{t * n:.2f}"
        total += 0.0 if n is None else t * n
        print(f"| {name} | {t:.4f} | {'' if n is None else n} | {per_video} |")
    caption = rows[1][1]
    print(f"captions/s: {1 / caption:.3f} (beam search to 30 tokens), {1 / rows[2][1]:.3f} (16 tokens)")
    print(f"one 150-s video: {total:.1f} s; {QVHL_VIDEOS} videos: {total * QVHL_VIDEOS / 3600:.1f} h on this device "
          f"with one process")
    return 0


if __name__ == "__main__":
    sys.exit(main())
