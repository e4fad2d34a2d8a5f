"""What the page accepts: a readable video file inside the app's own folders, no larger than the upload limit and
within the decoding limits (features/limits.py)."""
import os

from video_lights.features.decode import DEFAULT_LIMITS, VideoError, VideoInfo, display_name, probe
from video_lights.utils.cli import UserError

MB = 1024 * 1024


def inside(path, roots) -> bool:
    """Whether the real path of `path` is one of `roots` or lies under one (each a file or a folder)."""
    real = os.path.realpath(path)
    for root in roots:
        root = os.path.realpath(root)
        if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
            return True
    return False


def check_upload(path, max_mb: float, limits=DEFAULT_LIMITS, roots=None) -> VideoInfo:
    """The probe values of the uploaded file `path`, or UserError naming the file (its base name: the page does not
    show where uploads are kept) and the reason: a symbolic link or a file outside `roots` (the upload folder and
    the examples; None: anywhere, for the command line's own examples), missing, over `max_mb` megabytes (MiB), or
    not a readable video within `limits` (no video stream, unknown format, no duration, too large or too long).
    A link or a file outside `roots` is refused by its name and its inode alone: nothing of it is opened."""
    name = display_name(os.path.basename(os.fspath(path)))
    if roots is not None and (os.path.islink(path) or not inside(path, roots)):
        raise UserError(f"{name}: not a file uploaded to this page")
    try:
        size = os.path.getsize(path)
    except OSError:
        raise UserError(f"{name}: the upload is missing, upload it again") from None
    if size > max_mb * MB:
        raise UserError(f"{name}: {size / MB:.1f} MB is over the upload limit of {max_mb:g} MB")
    try:
        info = probe(path, limits)
    except VideoError as e:
        raise UserError(f"{name}: not a video this app can read ({e.reason})") from None
    if not info.duration or info.duration <= 0:
        raise UserError(f"{name}: not a video this app can read (no duration)")
    return info
