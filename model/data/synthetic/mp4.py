"""Write real H.264 MP4 files with PyAV, atomically.

The file appears under its final name only once it is complete (temporary file in the same
folder, fsync, rename: ``contract.files.atomic_output_path``), so an interrupted generator
never leaves a truncated video that a loader would later trip over.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Iterable, Sequence

import av
import numpy as np

from contract.files import atomic_output_path

__all__ = ["write_mp4"]


def write_mp4(
    path: str | Path,
    frames: Iterable[np.ndarray],
    *,
    fps: int = 30,
    gop: int = 60,
    crf: int = 23,
    frame_times_s: Sequence[float] | None = None,
) -> Path:
    """Encode RGB uint8 frames (H, W, 3) as H.264 (yuv420p) into ``path``.

    ``gop`` is the keyframe interval in frames (Kinetics downloads commonly have one every
    2 s or so), which decides how far a seek lands before a clip. ``frame_times_s`` gives
    explicit presentation times for a variable-frame-rate file; without it frames are spaced
    ``1 / fps`` apart. Width and height must be even (yuv420p).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    time_base = Fraction(1, 1000) if frame_times_s is not None else Fraction(1, fps)
    with atomic_output_path(path) as tmp:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            stream = None
            for index, image in enumerate(frames):
                if stream is None:
                    height, width = image.shape[:2]
                    stream = container.add_stream("libx264", rate=fps)
                    stream.width, stream.height = width, height
                    stream.pix_fmt = "yuv420p"
                    stream.time_base = time_base
                    stream.codec_context.time_base = time_base
                    # mbtree off: at a height that is not a multiple of 16 (the demo's 60 rows)
                    # x264's macroblock-tree pass read something that depends on what the
                    # process encoded before, so the same frames gave other bytes and other
                    # decoded pixels, and two demo runs trained on different videos.
                    stream.options = {"g": str(gop), "crf": str(crf), "preset": "veryfast",
                                      "bf": "0", "x264-params": "mbtree=0"}
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
                if frame_times_s is not None:
                    frame.pts = int(round(frame_times_s[index] * 1000))
                else:
                    frame.pts = index
                frame.time_base = time_base
                for packet in stream.encode(frame):
                    container.mux(packet)
            if stream is None:
                raise ValueError(f"{path}: no frames to write")
            for packet in stream.encode():
                container.mux(packet)
    return path
