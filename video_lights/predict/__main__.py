"""Find moments in one's own video: the ranked windows and the saliency peaks per query.

    python -m video_lights.predict VIDEO --query "a man cooks pasta" [--query ...] --checkpoint CKPT \
        [--json OUT.json] [--plot OUT.png] [--device auto|cpu|cuda] [--top_k 5] [--cache_dir DIR] \
        [--slowfast WEIGHTS --clip MODEL --blip2 MODEL]

VIDEO: a video file (any length), or an .npz of features written by VideoFeatures.save (or --cache_dir).
CKPT: our or the authors' .ckpt, a directory written by `python -m video_lights.export`, or a hub id of one.
Moments of videos longer than the model's window come from overlapping windows, scored by foreground probability x
their clips' sigmoid(saliency) so that they rank across windows (docs/predict.md). Errors (unreadable video,
missing weights, a checkpoint whose features this install cannot compute) are one `error:` line and exit status 2.
"""
import os
import sys
import time

from video_lights.features.limits import add_limit_options, limits_from_args
from video_lights.predict.long_video import DEFAULT_NMS_THD
from video_lights.predict.report import as_json, format_prediction, hms, plot_predictions
from video_lights.utils.cli import ArgumentParser, UserError, command
from video_lights.utils.io import save_json

BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s of video [{elapsed}<{remaining}]"


def build_parser():
    p = ArgumentParser(prog="python -m video_lights.predict", description=__doc__.split("\n\n")[0])
    p.add_argument("video", help="a video file, or an .npz of features (VideoFeatures.save)")
    p.add_argument("--query", action="append", required=True, help="a text query (repeat for several)")
    p.add_argument("--checkpoint", required=True, help="a .ckpt, an exported directory or a Hugging Face hub id")
    p.add_argument("--json", help="write the predictions (windows, saliency, clip times) to this JSON file")
    p.add_argument("--plot", help="draw the saliency curves with the top windows into this PNG file")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--top_k", type=int, default=5, help="moments shown per query (default 5)")
    p.add_argument("--nms_thd", type=float, default=DEFAULT_NMS_THD,
                   help=f"temporal NMS threshold when merging (default {DEFAULT_NMS_THD})")
    p.add_argument("--cache_dir", help="keep extracted features here (keyed by the video's content)")
    p.add_argument("--slowfast", help="SlowFast-R50 weights (.safetensors from convert_slowfast)")
    p.add_argument("--clip", help="CLIP: hub id (local cache) or folder (default: the checkpoint's / OpenAI's)")
    p.add_argument("--blip2", help="BLIP-2: hub id (local cache) or folder (default: the checkpoint's / Salesforce's)")
    p.add_argument("--fp16", action="store_true", help="CLIP and BLIP-2's ViT in float16 (CUDA)")
    p.add_argument("--bf16", action="store_true",
                   help="the extractors under bfloat16 autocast (a CPU with AMX / AVX512-BF16, or CUDA; float32 with "
                        "a warning elsewhere)")
    add_limit_options(p)
    return p


@command
def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.top_k <= 0:
        raise UserError(f"--top_k must be positive, got {args.top_k}")
    from video_lights.predict.predictor import PredictError, Predictor, VideoFeatures
    limits = limits_from_args(args)
    if not args.video.endswith(".npz"):  # a bad video is told before the (slow) extractors load
        if not os.path.isfile(args.video):
            raise PredictError(f"{args.video}: no such video file")
        try:
            from video_lights.features.decode import probe
        except ImportError as e:
            raise UserError(f"running on videos needs the video extra: pip install -e .[video] ({e})") from None
        probe(args.video, limits)
    print(f"loading {args.checkpoint} and its extractors ...", file=sys.stderr, flush=True)
    predictor = Predictor.from_checkpoint(args.checkpoint, device=args.device, slowfast=args.slowfast,
                                          clip=args.clip, blip2=args.blip2, cache_dir=args.cache_dir, fp16=args.fp16,
                                          bf16=args.bf16, limits=limits)
    if predictor.extractors.precision_note:
        print(predictor.extractors.precision_note, file=sys.stderr, flush=True)
    start = time.perf_counter()
    if args.video.endswith(".npz"):
        video = VideoFeatures.load(args.video)
        video.source = video.source or args.video
    else:
        from tqdm import tqdm
        bar = tqdm(total=1.0, desc=f"extracting {' + '.join(predictor.video_types)}", unit="s", file=sys.stderr,
                   bar_format=BAR_FORMAT,
                   disable=not sys.stderr.isatty())

        def progress(done, total):
            bar.total = total
            bar.update(done - bar.n)

        try:
            video = predictor.encode_video(args.video, progress=progress)
        finally:
            bar.close()
        took = time.perf_counter() - start
        print(f"extracted {video.n_clips} clips ({hms(video.duration)} of video) in {took:.1f} s "
              f"({video.duration / max(took, 1e-9):.1f} s of video per second)", file=sys.stderr, flush=True)
    predictions = predictor.predict(video, args.query, top_k=max(args.top_k, 10), nms_thd=args.nms_thd)
    print(f"video: {video.source} ({hms(video.duration)}, {video.n_clips} clips of {video.clip_length:g} s)")
    for i, p in enumerate(predictions, 1):
        print()
        print(format_prediction(i, p, args.top_k))
    if args.json:
        save_json(as_json(video, predictions), args.json, indent=None)
    if args.plot:
        plot_predictions(predictions, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
