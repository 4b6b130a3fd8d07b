"""Decode exactly the frames a clip needs from an MP4, with PyAV.

Contract: ``decode_frames(path, times_s)`` returns a ``uint8`` array ``(N, H, W, 3)`` (RGB,
THWC) holding, for each requested time, **the frame on screen at that time** (the last
frame whose presentation time is <= t). Times are seconds from the first frame of the
stream. This one rule covers:

- resampling: a clip at the sampling rate tau of a 30 fps timeline is just the times
  ``start + i * tau / 30``; a 25 or 60 fps file gives the frames shown at those instants;
- variable frame rate: times are compared with each frame's own timestamp, never with a
  frame count;
- windows that leave the video (a short video, a keyframe near the start of a movie):
  times before the first frame get the first frame and times after the last frame get the
  last frame. This is PySlowFast's policy (its frame indices are clamped to the video, so
  the edge frame repeats); it keeps the clip length fixed and never wraps around in time.

Speed: it seeks to the keyframe at or before the first time, decodes forward, stops as soon
as the last time is covered, and converts to RGB only the frames that are returned (once
each, even when a frame is returned for several times). Decoding is threaded (FFmpeg's
slice and frame threads, ``thread_type="AUTO"``).

Rotated videos (a display matrix, as phones write) are turned upright, so H and W are the
displayed height and width. Unusable files raise ``VideoDecodeError`` naming the file.

With a frame cache installed (``set_frame_cache``, see ``model.data.clip_cache``), small
videos are decoded once, whole (``decode_whole_video``), and every clip is picked from those
frames by the same rule; the result is bit-identical.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from model.data.errors import VideoDecodeError

if TYPE_CHECKING:
    from model.data.clip_cache import FrameCache

__all__ = ["TIME_EPS_S", "VideoInfo", "decode_frames", "decode_whole_video", "probe_video",
           "set_frame_cache"]

# A frame whose timestamp is within this many seconds after a requested time still counts
# as "on screen" at that time: times computed as start + i * step carry rounding error.
TIME_EPS_S = 1e-4

# The process's cache of decoded videos (``model.data.clip_cache``), None: decode every clip.
_frame_cache: FrameCache | None = None


def set_frame_cache(cache: FrameCache | None) -> None:
    """Serve ``decode_frames``/``probe_video`` from ``cache`` where it holds the video."""
    global _frame_cache
    _frame_cache = cache


@dataclass(frozen=True)
class VideoInfo:
    """What a sampler needs to know about a video before decoding it."""

    path: str
    width: int          # displayed (after rotation)
    height: int
    fps: float          # average frame rate
    duration_s: float   # from the first frame's start to the last frame's end
    rotation: int       # degrees of the display matrix, 0 if none


def _open(path: str | Path) -> av.container.InputContainer:
    path = Path(path)
    if not path.is_file():
        raise VideoDecodeError(path, "video file not found")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError) as error:
        # FFmpeg's str() repeats the path and an errno; its own words are enough after ours.
        reason = getattr(error, "strerror", None) or str(error)
        raise VideoDecodeError(path, f"not a readable video, truncated or not an MP4 ({reason})") from None
    if not container.streams.video:
        container.close()
        raise VideoDecodeError(path, "no video stream")
    return container


def _stream_start(stream: av.video.stream.VideoStream) -> int:
    return stream.start_time if stream.start_time is not None else 0


def _rotation_of(frame: av.VideoFrame) -> int:
    return int(round(frame.rotation or 0)) % 360


def _upright(image: np.ndarray, rotation: int) -> np.ndarray:
    # The display matrix angle is counter-clockwise; showing the frame means turning it back.
    if rotation == 0:
        return image
    return np.ascontiguousarray(np.rot90(image, k=rotation // 90))


def probe_video(path: str | Path, *, cache: bool = True) -> VideoInfo:
    """Read the header (and the first frame, for the rotation) without decoding the rest.

    With a frame cache installed (``set_frame_cache``) and ``cache``, the cached header."""
    if cache and _frame_cache is not None:
        return _frame_cache.header(path)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 30)
        if stream.duration is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1e6
        else:
            duration = (stream.frames or 0) / fps
        try:
            first = next(container.decode(stream))
        except (StopIteration, av.error.FFmpegError) as error:
            raise VideoDecodeError(path, f"no decodable frame ({error or 'empty stream'})") \
                from None
        rotation = _rotation_of(first)
        width, height = first.width, first.height
        if rotation in (90, 270):
            width, height = height, width
        return VideoInfo(str(path), width, height, fps, duration, rotation)
    finally:
        container.close()


class _LandedLate(Exception):
    """The seek put the first decoded frame after the first requested time."""


def decode_frames(path: str | Path, times_s: Sequence[float], *,
                  threads: int = 0) -> np.ndarray:
    """Return the frames on screen at ``times_s`` (non-decreasing) as ``(N, H, W, 3)`` uint8.

    ``threads`` is FFmpeg's thread count (0 = one per core). Should a seek land after the
    first requested time (an index that points past the wanted keyframe), the clip is
    decoded again from the start of the stream rather than returning a wrong first frame.
    """
    times = np.asarray(times_s, dtype=np.float64)
    if times.ndim != 1 or times.size == 0:
        raise ValueError("times_s must be a non-empty 1-D sequence")
    if np.any(np.diff(times) < 0):
        raise ValueError("times_s must be non-decreasing")
    if _frame_cache is not None:
        entry = _frame_cache.entry(path)
        if entry is not None:
            return entry.frames_at(times)
    container = _open(path)
    try:
        try:
            return _decode_at(container, path, times, threads, seek=times[0] > 0)
        except _LandedLate:
            return _decode_at(container, path, times, threads, seek=False)
    finally:
        container.close()


def _decode_at(container, path, times: np.ndarray, threads: int, *, seek: bool) -> np.ndarray:
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    stream.thread_count = threads
    origin = _stream_start(stream)
    time_base = float(stream.time_base)
    if seek:
        target = origin + int(times[0] / time_base)
        container.seek(target, stream=stream, backward=True, any_frame=False)
    else:
        container.seek(origin, stream=stream, backward=True, any_frame=False)
    # One reformatter per call: PyAV's per-frame ``to_ndarray(format=...)`` sets up a new
    # colour converter every frame, which costs ~30x the conversion itself.
    reformatter = VideoReformatter()
    picked: list[np.ndarray | None] = [None] * times.size
    previous: av.VideoFrame | None = None
    previous_rgb: np.ndarray | None = None
    rotation = 0
    next_time = 0

    def rgb_of_previous() -> np.ndarray:
        nonlocal previous_rgb
        if previous_rgb is None:
            previous_rgb = _upright(
                reformatter.reformat(previous, format="rgb24").to_ndarray(), rotation)
        return previous_rgb

    try:
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            frame_time = (frame.pts - origin) * time_base
            if previous is None:
                if seek and frame_time > times[0] + TIME_EPS_S:
                    raise _LandedLate()
                rotation = _rotation_of(frame)
                # Times before the first frame of the stream show that frame.
                previous, previous_rgb = frame, None
            while next_time < times.size and times[next_time] < frame_time - TIME_EPS_S:
                picked[next_time] = rgb_of_previous()
                next_time += 1
            if next_time == times.size:
                break
            if frame is not previous:
                previous, previous_rgb = frame, None
    except av.error.FFmpegError as error:
        raise VideoDecodeError(path, f"decoding failed ({error})") from None
    if previous is None:
        raise VideoDecodeError(path, "no decodable frame")
    while next_time < times.size:  # past the last frame: repeat it
        picked[next_time] = rgb_of_previous()
        next_time += 1
    return np.stack(picked)


def decode_whole_video(path: str | Path, *, threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Every frame of ``path``: (presentation times in s from the first frame (N,) float64,
    upright RGB frames ``(N, H, W, 3)`` uint8), in decoding order.

    What ``model.data.clip_cache`` stores; the times are computed as ``decode_frames``
    computes them, so choosing frames from them gives the same clip. ``threads``: FFmpeg's
    (1 by default, as the datasets decode; 0 = one per core)."""
    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.thread_count = threads
        origin = _stream_start(stream)
        time_base = float(stream.time_base)
        reformatter = VideoReformatter()
        times: list[float] = []
        frames: list[np.ndarray] = []
        rotation: int | None = None
        try:
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                if rotation is None:
                    rotation = _rotation_of(frame)
                times.append((frame.pts - origin) * time_base)
                frames.append(_upright(reformatter.reformat(frame, format="rgb24").to_ndarray(),
                                       rotation))
        except av.error.FFmpegError as error:
            raise VideoDecodeError(path, f"decoding failed ({error})") from None
    finally:
        container.close()
    if not frames:
        raise VideoDecodeError(path, "no decodable frame")
    return np.asarray(times, dtype=np.float64), np.stack(frames)
