"""What the page accepts: a readable video file no larger than the upload limit."""
import os

from video_lights.features.decode import VideoError, VideoInfo, probe
from video_lights.utils.cli import UserError

MB = 1024 * 1024


def check_upload(path, max_mb: float) -> VideoInfo:
    """The probe values of the uploaded file `path`, or UserError naming the file (its base name: the page does not
    show where uploads are kept) and the reason: missing, over `max_mb` megabytes (MiB), or not a readable video
    (no video stream, unknown format, no duration)."""
    name = os.path.basename(os.fspath(path))
    try:
        size = os.path.getsize(path)
    except OSError:
        raise UserError(f"{name}: the upload is missing, upload it again") from None
    if size > max_mb * MB:
        raise UserError(f"{name}: {size / MB:.1f} MB is over the upload limit of {max_mb:g} MB")
    try:
        info = probe(path)
    except VideoError as e:
        raise UserError(f"{name}: not a video this app can read ({e.reason})") from None
    if not info.duration or info.duration <= 0:
        raise UserError(f"{name}: not a video this app can read (no duration)")
    return info
