"""Feature-extraction speed: seconds of video per second, per extractor and in total, in each precision, with the
cosine of each precision's rows to float32's; decoding once for all extractors versus once per frame rate (as other
pipelines do); the predictor end to end. Prints a table.

    python scripts/bench_extract.py [--seconds 20] [--device cpu|cuda] [--precisions fp32 bf16] [--batch_size 16]

Runs on a generated 640x360 30-fps H.264 video of moving noise texture with randomly initialised full-size models
(SlowFast-R50, CLIP ViT-B/32 and a BLIP-2 of the released size): the speed is that of the real models, no weights
are needed; the cosines are those of random weights (the released weights' can differ). Precisions: fp32; bf16 =
bfloat16 autocast around float32 weights (`--bf16`: pays on a CPU with AMX / AVX512-BF16); fp16 = float16 CLIP
and BLIP-2 ViT weights (`--fp16`, CUDA only).
"""
import argparse
import os
import sys
import tempfile
import time

import torch

import av
import numpy as np

from video_lights.features.decode import decode
from video_lights.features.parity import row_cosines
from video_lights.features.precision import extractor_settings
from video_lights.features.slowfast import ClipAssembler, SlowFastExtractor, SlowFastR50


def textured_video(path, seconds, fps=30, size=(640, 360)):
    """An H.264 video of moving noise texture (harder to decode than flat frames, like real footage)."""
    rng = np.random.default_rng(0)
    w, h = size
    texture = rng.integers(0, 256, (h, 2 * w, 3), dtype=np.uint8)
    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(int(seconds * fps)):
            x = (4 * i) % w
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(texture[:, x:x + w]), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def full_size_clip(device, dtype, bf16=False):
    """CLIP ViT-B/32 at its released size with random weights; a small stand-in tokenizer (the vocabulary size
    does not change the speed of the image or text tower)."""
    from transformers import CLIPConfig, CLIPModel
    from video_lights.features.clip import ClipExtractor, _tiny_tokenizer
    tokenizer = _tiny_tokenizer()
    model = CLIPModel(CLIPConfig(projection_dim=512,
                                 text_config=dict(vocab_size=len(tokenizer), hidden_size=512, intermediate_size=2048,
                                                  num_hidden_layers=12, num_attention_heads=8,
                                                  max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id,
                                                  eos_token_id=tokenizer.eos_token_id,
                                                  pad_token_id=tokenizer.eos_token_id),
                                 vision_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                                    num_attention_heads=12, patch_size=32, image_size=224)))
    return ClipExtractor(model, device=device, dtype=dtype, tokenizer=tokenizer, bf16=bf16)


def full_size_blip2(device, dtype, bf16=False):
    """BLIP-2 (ViT-g + Q-Former) at its released size with random weights and a stand-in BERT vocabulary."""
    from transformers import Blip2Config, Blip2ForImageTextRetrieval
    from video_lights.features.blip2 import Blip2Extractor, tiny_tokenizer
    tokenizer = tiny_tokenizer()
    config = Blip2Config(vision_config=dict(hidden_size=1408, intermediate_size=6144, num_hidden_layers=39,
                                            num_attention_heads=16, patch_size=14, image_size=224),
                         qformer_config=dict(use_qformer_text_input=True, vocab_size=len(tokenizer)),
                         num_query_tokens=32)
    return Blip2Extractor(Blip2ForImageTextRetrieval(config), device=device, dtype=dtype, tokenizer=tokenizer,
                          bf16=bf16)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=20.0, help="length of the generated video")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--precisions", nargs="+", choices=["fp32", "bf16", "fp16"], default=["fp32", "bf16"],
                   help="fp32 comes first (the cosines are to its rows)")
    p.add_argument("--batch_size", type=int, default=16)
    p.add_argument("--skip_blip2", action="store_true", help="BLIP-2's ViT-g is slow on a CPU")
    a = p.parse_args(argv)
    precisions = ["fp32"] + [x for x in a.precisions if x != "fp32"]
    if "fp16" in precisions and not a.device.startswith("cuda"):
        p.error("fp16 needs a CUDA device")
    from video_lights.utils.hardware import cpu_description
    with tempfile.TemporaryDirectory() as tmp:
        path = textured_video(os.path.join(tmp, "v.mp4"), a.seconds)
        rates = {"slowfast": 30, "frames": 0.5}
        once, (frames, info) = timed(lambda: decode(path, rates))
        twice = sum(timed(lambda r=r: decode(path, {"f": r}))[0] for r in rates.values())
        assembler = ClipAssembler(2, info.clip_duration)
        clips = [c for f in frames["slowfast"] for c in assembler.push(f)] + assembler.finish()
        steps = [("SlowFast-R50 (2-s clips)", "slowfast"), ("CLIP ViT-B/32 (0.5 fps)", "clip")]
        if not a.skip_blip2:
            steps.append(("BLIP-2 ViT-g + Q-Former (0.5 fps)", "blip2"))
        times, rows, predictor_times = {}, {}, {}
        for prec in precisions:
            settings = extractor_settings(prec)  # as Extractors.load
            torch.manual_seed(0)  # the same random weights in every precision
            sf_batch = max(1, a.batch_size // 4)
            extractors = dict(slowfast=SlowFastExtractor(SlowFastR50().eval(), device=a.device, bf16=settings["bf16"],
                                                         batch_size=sf_batch),
                              clip=full_size_clip(a.device, **settings))
            if not a.skip_blip2:
                extractors["blip2"] = full_size_blip2(a.device, **settings)
            run = dict(slowfast=lambda: extractors["slowfast"].features(clips, info.fps),
                       clip=lambda: extractors["clip"].image_features(frames["frames"]),
                       blip2=lambda: extractors["blip2"].image_features(frames["frames"]))
            warm = dict(slowfast=lambda: extractors["slowfast"].features(clips[:sf_batch], info.fps),
                        clip=lambda: extractors["clip"].image_features(frames["frames"][:a.batch_size]),
                        blip2=lambda: extractors["blip2"].image_features(frames["frames"][:a.batch_size]))
            for _, name in steps:
                warm[name]()  # not timed: the first call of a shape builds its kernels
                times[(prec, name)], rows[(prec, name)] = timed(run[name])
            if not a.skip_blip2:  # the predictor end to end: encode_video (all extractors) + 2 queries
                from video_lights import build_model, parse_args
                from video_lights.features.pipeline import Extractors
                from video_lights.predict import Predictor
                opt = parse_args(["--preset", "qvhl", "--device", a.device])
                predictor = Predictor(build_model(opt), opt, Extractors(**extractors, precision=prec), a.device)
                encode, video = timed(lambda: predictor.encode_video(path))
                answer, _ = timed(lambda: predictor.predict(video, ["a man cooks pasta", "a dog runs on the beach"]))
                predictor_times[prec] = (encode, answer)
            extractors = run = warm = None  # free this precision's models before the next
    print(f"{a.seconds:.0f}-s 640x360 30-fps video, device {a.device}"
          + (f" ({cpu_description()}, {torch.get_num_threads()} threads)" if a.device == "cpu" else
             f" ({torch.cuda.get_device_name()})") + ", random full-size weights")
    head = " | ".join(f"{x} s | {x} s-video/s" + ("" if x == "fp32" else f" | {x} min cosine") for x in precisions)
    print(f"| step | {head} |\n|---|" + "---|" * sum(2 if x == "fp32" else 3 for x in precisions))
    print(f"| decode once, both rates | {once:.2f} | {a.seconds / once:.2f} |" + " | | |" * (len(precisions) - 1))
    print(f"| decode once per rate | {twice:.2f} | {a.seconds / twice:.2f} |" + " | | |" * (len(precisions) - 1))
    for label, name in steps + [("total (decode once + all extractors)", None)]:
        cells = []
        for prec in precisions:
            t = once + sum(times[(prec, n)] for _, n in steps) if name is None else times[(prec, name)]
            cells.append(f"{t:.2f} | {a.seconds / t:.2f}")
            if prec != "fp32":
                cells[-1] += " | " + ("" if name is None else
                                      f"{row_cosines(rows[('fp32', name)], rows[(prec, name)]).min():.5f}")
        print(f"| {label} | " + " | ".join(cells) + " |")
    for prec, (encode, answer) in predictor_times.items():
        print(f"predictor end to end, {prec}: encode_video {encode:.2f} s ({encode / a.seconds:.2f} min per minute of "
              f"video), predict 2 queries {answer:.2f} s (VideoLights-B, random weights)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
