"""How much one video may cost: bounds on frame size, duration and decoding time, shared by every command that
decodes users' videos (extract, pretrain_data, predict, the web demo).

    limits = DecodeLimits(max_pixels=3840 * 2160, max_duration=3600, max_decode_s=600)
    sample_video(path, rates, limits=limits)      # VideoError "{path}: ... over the limit ..." past a bound

The header decides when it can: a declared frame size or duration past a bound is refused before any frame is
decoded (features/decode.py probe). What the header does not say (mkv / webm streams often declare no duration,
frame sizes may change mid-stream, timestamps may jump) is checked frame by frame while decoding. This module stays
free of PyAV so that the commands' option parsers import it cheaply.
"""
import dataclasses

from video_lights.utils.cli import UserError


@dataclasses.dataclass(frozen=True)
class DecodeLimits:
    """Per-video bounds (each a positive number; math.inf turns one off).

    max_pixels: width * height of a frame (default 8192 x 4320, above 8K UHD);
    max_duration: seconds of video, from the first frame's timestamp to the end of the last (default 4 hours);
    max_decode_s: wall-clock seconds spent decoding and scaling frames (the extractors' time is not counted;
    default 1 hour)."""
    max_pixels: float = 8192 * 4320
    max_duration: float = 4 * 3600.0
    max_decode_s: float = 3600.0

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not (isinstance(value, (int, float)) and value > 0):  # NaN too
                raise UserError(f"{field.name} must be a positive number, got {value!r}")


def add_limit_options(parser):
    """The --max_pixels, --max_video_s and --max_decode_s options (DecodeLimits' defaults)."""
    d = DecodeLimits()
    g = parser.add_argument_group("decoding limits (per video; a video past one is reported and skipped)")
    g.add_argument("--max_pixels", type=float, default=d.max_pixels,
                   help=f"largest frame, width x height (default {d.max_pixels:.0f} = 8192 x 4320)")
    g.add_argument("--max_video_s", type=float, default=d.max_duration,
                   help=f"longest video in seconds (default {d.max_duration:g} = 4 hours)")
    g.add_argument("--max_decode_s", type=float, default=d.max_decode_s,
                   help=f"most wall-clock seconds spent decoding one video (default {d.max_decode_s:g})")


def limits_from_args(args) -> DecodeLimits:
    """DecodeLimits from the options of add_limit_options; UserError naming the option for a bad value."""
    values = {"--max_pixels": args.max_pixels, "--max_video_s": args.max_video_s, "--max_decode_s": args.max_decode_s}
    for name, value in values.items():
        if not value > 0:
            raise UserError(f"{name} {value:g}: must be positive")
    return DecodeLimits(max_pixels=args.max_pixels, max_duration=args.max_video_s, max_decode_s=args.max_decode_s)
