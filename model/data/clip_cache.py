"""Decoded videos kept on disk as uint8 arrays, so jobs that read the same small videos decode
them once.

The demo's AVA ensemble trains seven members twice (train, train+val) and evaluates each of
them: fourteen fine-tunes and fifteen evaluations read the same few movies, and before this
cache each of them decoded every clip again (half of a demo fine-tune's data time).

``FrameCache(directory, max_video_bytes)`` stores, per video, every frame as RGB uint8
``(N, H, W, 3)`` (upright) with the frames' presentation times, under the SHA-256 of the
file's content: a changed file has another key, so a stale entry is never read. A clip is
then the frames on screen at its times, chosen by the rule of ``decode.decode_frames`` (the
last frame whose time is <= t + 1e-4 s, the first frame before the stream, the last one
after it), so a cached clip is bit-identical to a decoded one.

Only videos whose decoded frames fit in ``max_video_bytes`` are cached (64 MiB by default:
the demo's 80x60 movies take 6 MB; a full-scale AVA movie or Kinetics clip does not fit and
is decoded as before, so paper-scale runs are unchanged). Entries are written atomically
(temporary file, then rename; the ``.json`` last, as the entry's commit), so jobs running
side by side can share a directory; an entry that cannot be read or written is decoded as
without a cache, never an error.

``decode.decode_frames`` and ``decode.probe_video`` consult the cache installed with
``use_frame_cache`` (one per process; the jobs install one under ``<data.root>/.frame_cache``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np

from contract.files import atomic_write, atomic_write_json, sha256_file
from model.data import decode
from model.data.errors import VideoDecodeError

__all__ = ["DEFAULT_MAX_VIDEO_BYTES", "FrameCache", "use_frame_cache"]

log = logging.getLogger(__name__)

DEFAULT_MAX_VIDEO_BYTES = 64 * 2 ** 20
_FORMAT = 1


class _Entry:
    """One cached video: its header, frame times and frames (memory-mapped)."""

    def __init__(self, info: decode.VideoInfo, times: np.ndarray, frames: np.ndarray) -> None:
        self.info, self.times, self.frames = info, times, frames
        # Thresholds of frames 1..N-1: a time t shows frame #{k >= 1 : time_k - eps <= t}.
        self._later = times[1:] - decode.TIME_EPS_S

    def frames_at(self, times_s: np.ndarray) -> np.ndarray:
        index = np.searchsorted(self._later, times_s, side="right")
        return np.ascontiguousarray(self.frames[index])


class FrameCache:
    """Whole decoded videos under ``directory``, keyed by content hash (see module doc)."""

    def __init__(self, directory: str | Path, max_video_bytes: int = DEFAULT_MAX_VIDEO_BYTES) -> None:
        self.directory = Path(directory)
        self.max_video_bytes = int(max_video_bytes)
        # (path, size, mtime_ns) -> entry, or None when the video is not cached (too large,
        # frames out of order, not decodable whole); a changed file gets a new key. An entry
        # that could not be written is still served from memory in this process.
        self._entries: dict[tuple[str, int, int], _Entry | None] = {}
        # The headers of the videos not cached, so each is probed once per process.
        self._headers: dict[tuple[str, int, int], decode.VideoInfo] = {}

    def header(self, path: str | Path) -> decode.VideoInfo:
        """``probe_video(path)``, read once per process (from the entry when cached)."""
        key = _file_key(path)
        found = self.entry(path) if key is not None else None
        if found is not None:
            return dataclasses.replace(found.info, path=str(path))
        if key is None:
            return decode.probe_video(path, cache=False)  # raises, naming the file
        if key not in self._headers:
            self._headers[key] = decode.probe_video(path, cache=False)
        return self._headers[key]

    def entry(self, path: str | Path) -> _Entry | None:
        """The cached video at ``path`` (decoded and stored on first use), None if not cached."""
        key = _file_key(path)
        if key is None:
            return None  # the decoder names the missing file
        if key not in self._entries:
            self._entries[key] = self._load_or_store(Path(path), key)
        return self._entries[key]

    def _load_or_store(self, path: Path, key: tuple[str, int, int]) -> _Entry | None:
        # A video the decoder cannot read whole (unreadable, or damaged past some point) is
        # not cached: the per-clip decoder then returns what it can, or its own error.
        try:
            info = decode.probe_video(path, cache=False)
        except VideoDecodeError:
            return None
        self._headers[key] = info
        frame_bytes = info.width * info.height * 3
        estimated_frames = int(info.duration_s * info.fps) + 2
        if frame_bytes * estimated_frames > self.max_video_bytes:
            return None
        digest = sha256_file(path)
        stem = self.directory / digest
        try:
            return self._load(stem, path)
        except (OSError, ValueError, KeyError, TypeError):
            pass
        try:
            times, frames = decode.decode_whole_video(path)
        except VideoDecodeError:
            return None
        if times.size > 1 and np.any(np.diff(times) < 0):
            return None  # frames out of presentation order: keep the seeking decoder
        if frames.nbytes > self.max_video_bytes:
            return None
        try:
            self._store(stem, info, times, frames)
        except OSError as error:
            log.warning("frame cache %s not written (%s); decoding without it", self.directory, error)
        return _Entry(info, times, frames)

    @staticmethod
    def _load(stem: Path, path: Path) -> _Entry:
        meta = json.loads(stem.with_suffix(".json").read_text())
        if meta.get("format") != _FORMAT:
            raise ValueError(f"{stem}.json: format {meta.get('format')!r}")
        times = np.load(f"{stem}.times.npy")
        frames = np.load(f"{stem}.frames.npy", mmap_mode="r")
        if frames.ndim != 4 or frames.shape[0] != times.shape[0] or frames.shape[0] == 0:
            raise ValueError(f"{stem}: {frames.shape[0]} frames for {times.shape[0]} times")
        info = decode.VideoInfo(**{**meta["info"], "path": str(path)})  # this copy's path
        return _Entry(info, times, frames)

    def _store(self, stem: Path, info: decode.VideoInfo, times: np.ndarray,
               frames: np.ndarray) -> None:
        atomic_write(Path(f"{stem}.times.npy"), lambda handle: np.save(handle, times))
        atomic_write(Path(f"{stem}.frames.npy"), lambda handle: np.save(handle, frames))
        atomic_write_json(stem.with_suffix(".json"),
                          {"format": _FORMAT, "info": asdict(info), "frames": int(frames.shape[0])})


def use_frame_cache(cache: FrameCache | None) -> None:
    """Install ``cache`` for this process's ``decode_frames``/``probe_video`` (None: none)."""
    decode.set_frame_cache(cache)


def _file_key(path: str | Path) -> tuple[str, int, int] | None:
    """(path, size, mtime): a file rewritten in place gets a new key."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return str(path), stat.st_size, stat.st_mtime_ns
