"""Decoding: frame selection by time, seeking, VFR, padding, rotation, bad files."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from model.data.decode import decode_frames, probe_video
from model.data.errors import VideoDecodeError
from model.data.synthetic import write_mp4


def _numbered_frames(count: int, height: int = 48, width: int = 64) -> list[np.ndarray]:
    # Frame i is a flat grey of level 4 * i: its index survives lossy coding (+-2 levels).
    return [np.full((height, width, 3), 4 * i, np.uint8) for i in range(count)]


def _indices(frames: np.ndarray) -> list[int]:
    return [int(round(float(f.mean()) / 4)) for f in frames]


@pytest.fixture(scope="module")
def numbered_video(tmp_path_factory):
    # 60 frames at 30 fps, a keyframe every 12 frames: seeks land mid-file.
    return write_mp4(tmp_path_factory.mktemp("v") / "n.mp4", _numbered_frames(60), fps=30,
                     gop=12, crf=0)


def test_frames_on_screen_at_requested_times(numbered_video):
    times = [0.0, 1 / 30, 0.5, 0.5 + 0.01, 1.0, 59 / 30]
    assert _indices(decode_frames(numbered_video, times)) == [0, 1, 15, 15, 30, 59]


def test_seek_into_the_middle_matches_a_full_decode(numbered_video):
    # Frames 37, 39, ..., 51 straddle keyframes at 36 and 48.
    times = (37 + 2 * np.arange(8)) / 30
    assert _indices(decode_frames(numbered_video, times)) == list(range(37, 52, 2))


def test_resampling_to_a_lower_rate_keeps_every_other_frame(numbered_video):
    # A 15 fps sampling of a 30 fps file: stride 2 frames.
    assert _indices(decode_frames(numbered_video, np.arange(10) / 15)) == list(range(0, 20, 2))


def test_window_past_the_end_repeats_the_last_frame(numbered_video):
    times = 55 / 30 + np.arange(8) / 30
    assert _indices(decode_frames(numbered_video, times)) == [55, 56, 57, 58, 59, 59, 59, 59]


def test_window_before_the_start_repeats_the_first_frame(numbered_video):
    times = (np.arange(6) - 3) / 30
    assert _indices(decode_frames(numbered_video, times)) == [0, 0, 0, 0, 1, 2]


def test_variable_frame_rate_uses_each_frame_timestamp(tmp_path):
    shown_at = [0.0, 0.1, 0.15, 0.4, 0.5, 0.55, 0.6, 1.0, 1.1, 1.2]
    path = write_mp4(tmp_path / "vfr.mp4", _numbered_frames(10), frame_times_s=shown_at, crf=0)
    times = [0.05, 0.1, 0.3, 0.45, 0.58, 0.99, 1.05, 3.0]
    # The frame on screen at t is the last one shown at or before t.
    assert _indices(decode_frames(path, times)) == [0, 1, 2, 3, 5, 6, 7, 9]


def test_probe_reports_size_rate_and_duration(numbered_video):
    info = probe_video(numbered_video)
    assert (info.width, info.height, info.rotation) == (64, 48, 0)
    assert info.fps == pytest.approx(30)
    assert info.duration_s == pytest.approx(2.0, abs=0.04)


def test_rotated_video_is_turned_upright_as_ffmpeg_shows_it(tmp_path):
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg, "ffmpeg is needed to write a rotation tag"
    image = np.zeros((48, 64, 3), np.uint8)
    image[:16, :32] = 255  # a white block in the top-left corner
    plain = write_mp4(tmp_path / "plain.mp4", [image] * 4, crf=0)
    rotated = tmp_path / "rotated.mp4"
    subprocess.run([ffmpeg, "-loglevel", "error", "-i", str(plain), "-c", "copy",
                    "-metadata:s:v:0", "rotate=90", str(rotated)], check=True)
    shown = tmp_path / "shown.raw"  # ffmpeg applies the display matrix when it decodes
    subprocess.run([ffmpeg, "-loglevel", "error", "-i", str(rotated), "-frames:v", "1",
                    "-f", "rawvideo", "-pix_fmt", "rgb24", str(shown)], check=True)
    expected = np.fromfile(shown, np.uint8).reshape(64, 48, 3)
    info = probe_video(rotated)
    assert (info.width, info.height, info.rotation) == (48, 64, 90)
    frame = decode_frames(rotated, [0.0])[0]
    assert frame.shape == (64, 48, 3)
    assert np.abs(frame.astype(int) - expected).mean() < 2


def test_truncated_mp4_names_the_file(numbered_video, tmp_path):
    broken = tmp_path / "truncated.mp4"
    broken.write_bytes(numbered_video.read_bytes()[: numbered_video.stat().st_size // 2])
    with pytest.raises(VideoDecodeError, match="truncated.mp4"):
        decode_frames(broken, [0.0])


def test_file_that_is_not_a_video(tmp_path):
    fake = tmp_path / "notes.mp4"
    fake.write_text("label,youtube_id\n")
    with pytest.raises(VideoDecodeError, match="notes.mp4"):
        probe_video(fake)


def test_missing_file(tmp_path):
    with pytest.raises(VideoDecodeError, match="not found"):
        decode_frames(tmp_path / "absent.mp4", [0.0])


def test_times_must_be_ordered(numbered_video):
    with pytest.raises(ValueError):
        decode_frames(numbered_video, [0.5, 0.1])
