"""python -m video_lights.app --checkpoint CKPT [--host 127.0.0.1] [--port N] [--max_upload_mb 500]
[--examples VIDEO ...] [--device cpu] [--slowfast W --clip M --blip2 M] [--concurrency 1] [--max_queue 16]
[--keep_files 600] [--max_pixels N --max_video_s S --max_decode_s S]: the web demo (needs the `demo` extra)."""
import os
import signal
import sys
import time

from video_lights.features.limits import add_limit_options, limits_from_args
from video_lights.utils.cli import ArgumentParser, UserError, command


def build_parser():
    p = ArgumentParser(prog="python -m video_lights.app",
                       description="Web demo: find the moments of a video that match text queries (Gradio).")
    p.add_argument("--checkpoint", required=True,
                   help="our or the authors' .ckpt, an exported directory or a Hugging Face hub id (local cache)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=None, help="port (default: the first free one from 7860)")
    p.add_argument("--max_upload_mb", type=float, default=500.0, help="larger uploads are refused (default 500)")
    p.add_argument("--examples", nargs="+", default=[], metavar="VIDEO", help="videos offered as examples")
    p.add_argument("--top_k", type=int, default=5, help="moments shown per query (default 5)")
    p.add_argument("--max_queries", type=int, default=10, help="queries accepted at a time (default 10)")
    p.add_argument("--device", default="cpu", help="torch device of the model and the extractors (default cpu)")
    p.add_argument("--slowfast", default=None, help="SlowFast weights (.safetensors from features.convert_slowfast)")
    p.add_argument("--clip", default=None, help="CLIP model id or directory (default: the checkpoint's)")
    p.add_argument("--blip2", default=None, help="BLIP-2 model id or directory (default: the checkpoint's)")
    p.add_argument("--cache_dir", default=None, help="also keep the videos' features on disk here (npz)")
    p.add_argument("--concurrency", type=int, default=1, help="requests running the model at a time (default 1)")
    p.add_argument("--max_queue", type=int, default=16,
                   help="requests waiting for the model; more get a busy answer (default 16)")
    p.add_argument("--keep_files", type=int, default=600, metavar="SECONDS",
                   help="uploads and keyframes are removed this long after they were written (default 600)")
    p.add_argument("--bf16", action="store_true",
                   help="the extractors under bfloat16 autocast (a CPU with AMX / AVX512-BF16, or CUDA; float32 with "
                        "a warning elsewhere)")
    add_limit_options(p)
    return p


def check_args(p, args):
    """Option errors, missing extras and unreadable examples as one line (exit 2) before the model is loaded.
    Returns the decoding limits (features/limits.py DecodeLimits)."""
    if args.port is not None and not 0 < args.port < 65536:
        p.error(f"--port {args.port}: not a port number (1..65535)")
    if not args.max_upload_mb > 0:
        p.error(f"--max_upload_mb {args.max_upload_mb:g}: must be positive")
    if args.top_k < 1 or args.max_queries < 1:
        p.error("--top_k and --max_queries must be at least 1")
    if args.concurrency < 1 or args.max_queue < 0:
        p.error(f"--concurrency {args.concurrency} / --max_queue {args.max_queue}: need at least 1 / 0")
    if args.keep_files < 1:
        p.error(f"--keep_files {args.keep_files}: must be at least 1 second")
    limits = limits_from_args(args)
    for module, extra in (("gradio", "demo"), ("av", "video"), ("transformers", "video")):
        try:
            __import__(module)
        except ImportError:
            raise UserError(f"the web demo needs {module}: pip install -e .[{extra}]") from None
    from video_lights.app.uploads import check_upload
    for path in args.examples:
        if not os.path.isfile(path):
            raise UserError(f"{path}: no such example video")
        check_upload(path, args.max_upload_mb, limits)
    return limits


def _interrupt(signum, frame):
    raise KeyboardInterrupt


@command
def main(argv=None):
    p = build_parser()
    args = p.parse_args(argv)
    limits = check_args(p, args)
    from video_lights.app.server import serve
    from video_lights.predict import Predictor
    predictor = Predictor.from_checkpoint(args.checkpoint, device=args.device, slowfast=args.slowfast,
                                          clip=args.clip, blip2=args.blip2, cache_dir=args.cache_dir,
                                          bf16=args.bf16, limits=limits)
    if predictor.extractors.precision_note:
        print(predictor.extractors.precision_note, file=sys.stderr, flush=True)
    running = serve(predictor, host=args.host, port=args.port, max_upload_mb=args.max_upload_mb,
                    examples=[os.path.realpath(e) for e in args.examples], top_k=args.top_k,
                    max_queries=args.max_queries, quiet=True, concurrency=args.concurrency,
                    max_queue=args.max_queue, keep_files_s=args.keep_files, limits=limits)
    print(f"VideoLights demo on {running.url} (Ctrl-C stops it)", flush=True)
    signal.signal(signal.SIGTERM, _interrupt)      # `kill` stops it as cleanly as Ctrl-C
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("stopped", flush=True)
        return 0
    finally:
        running.close()


if __name__ == "__main__":
    raise SystemExit(main())
