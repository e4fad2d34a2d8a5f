"""Which video files to read: every video of a folder, the paths of a list file, or a video named by its id."""
import os

from video_lights.data.converters.table import VIDEO_EXTENSIONS
from video_lights.utils.cli import UserError


def list_videos(path):
    """Sorted video files of folder `path`, or the non-empty lines of the list file `path`."""
    if os.path.isdir(path):
        return sorted(os.path.join(path, f) for f in os.listdir(path) if f.lower().endswith(VIDEO_EXTENSIONS))
    try:
        with open(path, encoding="utf-8") as f:
            return [line.strip() for line in f if line.strip()]
    except OSError as e:
        raise UserError(f"{path}: cannot read the video list ({e.strerror})") from None


def videos_by_id(path, id_of) -> dict:
    """{id_of(file): file} for the files of list_videos(path); UserError when two files give the same id (a.mp4 and
    a.mkv would write the same outputs)."""
    out = {}
    for p in list_videos(path):
        vid = id_of(p)
        if vid in out:
            raise UserError(f"{path}: {out[vid]} and {p} both give the video id {vid!r}")
        out[vid] = p
    return out


def find_video(video_dir, vid):
    """The file {video_dir}/{vid}.{ext} for the first known extension that exists, else None."""
    for ext in VIDEO_EXTENSIONS:
        path = os.path.join(video_dir, vid + ext)
        if os.path.isfile(path):
            return path
    return None


def video_id(path):
    """A video's id: its file name without the extension (QVHighlights: {youtube_id}_{start}_{end})."""
    return os.path.splitext(os.path.basename(path))[0]
