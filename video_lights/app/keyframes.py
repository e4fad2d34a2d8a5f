"""One frame per moment, for the page's gallery: the frame shown at a given time, decoded with PyAV."""
import numpy as np

from video_lights.features.decode import VideoError


def frames_at(path, times, width: int = 320) -> list:
    """The frames shown at `times` (seconds from the start of the video): one uint8 (H, width, 3) RGB array per
    time (H keeps the aspect ratio, even), the last frame for a time past the end. Seeks to the keyframe before
    each time and decodes forward. Raises VideoError naming the file when it cannot be read."""
    import av
    from av.video.reformatter import VideoReformatter
    # our own scaler, freed when this call returns: frame.to_ndarray(width=...) would cache one per thread with
    # FFmpeg slice threads, and a process that forks later (DataLoader workers) hangs in the child freeing it
    reformatter = VideoReformatter()
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as e:
        raise VideoError(path, f"cannot open ({e.strerror or e})") from None
    with container:
        if not container.streams.video:
            raise VideoError(path, "no video stream")
        stream = container.streams.video[0]
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        ctx = stream.codec_context
        height = max(2, round(width * ctx.height / max(1, ctx.width) / 2) * 2)
        out = []
        for t in times:
            target = start + max(0.0, float(t))
            container.seek(int(target / stream.time_base), stream=stream, backward=True, any_frame=False)
            chosen = None
            try:
                for frame in container.decode(stream):
                    if chosen is not None and frame.time is not None and frame.time > target:
                        break
                    chosen = frame
            except av.FFmpegError as e:
                raise VideoError(path, f"cannot decode a frame at {t:.1f} s ({e.strerror or e})") from None
            if chosen is None:
                raise VideoError(path, f"no frame at {t:.1f} s")
            out.append(np.ascontiguousarray(reformatter.reformat(chosen, width, height, "rgb24").to_ndarray()))
        return out
