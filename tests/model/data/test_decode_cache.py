"""The frame cache: clips served from a decoded video are the decoder's clips, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from model.data import decode
from model.data.clip_cache import FrameCache, use_frame_cache
from model.data.decode import decode_frames, probe_video
from model.data.errors import VideoDecodeError
from model.data.synthetic import write_mp4


def _noisy_frames(count: int, seed: int, height: int = 48, width: int = 64) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(count)]


@pytest.fixture(autouse=True)
def _no_cache_after():
    yield
    use_frame_cache(None)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    # 60 frames at 30 fps, a keyframe every 12 frames: the uncached decoder seeks mid-file.
    return write_mp4(tmp_path_factory.mktemp("v") / "noisy.mp4", _noisy_frames(60, 1), fps=30,
                     gop=12)


def _windows(duration_s: float) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    starts = [-0.5, -1 / 30, 0.0, duration_s - 0.2, duration_s + 0.3, *rng.uniform(0, duration_s, 8)]
    strides = [1 / 30, 2 / 30, 0.05]
    return [start + stride * np.arange(12) for start in starts for stride in strides]


def _uncached(path, windows):
    use_frame_cache(None)
    return [decode_frames(path, times) for times in windows]


def test_cached_clips_equal_decoded_clips(video, tmp_path):
    windows = _windows(2.0)
    expected = _uncached(video, windows)
    use_frame_cache(FrameCache(tmp_path / "cache"))
    got = [decode_frames(video, times) for times in windows]
    assert all(np.array_equal(a, b) for a, b in zip(expected, got))
    assert all(g.flags["C_CONTIGUOUS"] and g.dtype == np.uint8 for g in got)


def test_variable_frame_rate_follows_each_frame_timestamp(tmp_path):
    shown_at = [0.0, 0.1, 0.15, 0.4, 0.5, 0.55, 0.6, 1.0, 1.1, 1.2]
    path = write_mp4(tmp_path / "vfr.mp4", _noisy_frames(10, 2), frame_times_s=shown_at)
    windows = [np.array([0.05, 0.1, 0.3, 0.45, 0.58, 0.99, 1.05, 3.0]),
               np.array([0.1 - 5e-5, 0.1 + 5e-5, 0.4 - 2e-4])]
    expected = _uncached(path, windows)
    use_frame_cache(FrameCache(tmp_path / "cache"))
    assert all(np.array_equal(a, decode_frames(path, t)) for a, t in zip(expected, windows))


def test_probe_from_the_cache_equals_the_file_header(video, tmp_path):
    header = probe_video(video)
    use_frame_cache(FrameCache(tmp_path / "cache"))
    assert probe_video(video) == header
    use_frame_cache(FrameCache(tmp_path / "cache"))  # read back from the stored entry
    assert probe_video(video) == header


def test_a_second_process_reads_the_stored_video_without_decoding(video, tmp_path, monkeypatch):
    times = np.arange(16) / 30 + 0.7
    expected = _uncached(video, [times])[0]
    use_frame_cache(FrameCache(tmp_path / "cache"))
    decode_frames(video, times)
    assert len(list((tmp_path / "cache").glob("*.frames.npy"))) == 1

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded although the cache holds the video")

    monkeypatch.setattr(decode, "decode_whole_video", no_decoding)
    monkeypatch.setattr(decode, "_decode_at", no_decoding)
    use_frame_cache(FrameCache(tmp_path / "cache"))
    assert np.array_equal(decode_frames(video, times), expected)


def test_a_rewritten_file_is_decoded_again(tmp_path):
    path = write_mp4(tmp_path / "v.mp4", _noisy_frames(30, 3), fps=30)
    use_frame_cache(FrameCache(tmp_path / "cache"))
    before = decode_frames(path, [0.5])
    write_mp4(path, _noisy_frames(30, 4), fps=30)
    expected = _uncached(path, [[0.5]])[0]
    assert not np.array_equal(before, expected)
    use_frame_cache(FrameCache(tmp_path / "cache"))
    assert np.array_equal(decode_frames(path, [0.5]), expected)
    assert len(list((tmp_path / "cache").glob("*.frames.npy"))) == 2  # keyed by content


def test_a_video_over_the_size_limit_is_decoded_per_clip(video, tmp_path):
    times = np.arange(8) / 30 + 1.0
    expected = _uncached(video, [times])[0]
    use_frame_cache(FrameCache(tmp_path / "cache", max_video_bytes=60 * 48 * 64 * 3 - 1))
    assert np.array_equal(decode_frames(video, times), expected)
    assert probe_video(video) == probe_video(video, cache=False)
    assert not (tmp_path / "cache").exists()


def test_an_unwritable_cache_directory_only_costs_the_cache(video, tmp_path):
    blocker = tmp_path / "not_a_directory"
    blocker.write_text("")
    times = np.arange(8) / 30 + 0.3
    expected = _uncached(video, [times])[0]
    use_frame_cache(FrameCache(blocker / "cache"))
    assert np.array_equal(decode_frames(video, times), expected)


def test_a_damaged_entry_is_decoded_again(video, tmp_path):
    times = np.arange(8) / 30 + 0.3
    expected = _uncached(video, [times])[0]
    use_frame_cache(FrameCache(tmp_path / "cache"))
    decode_frames(video, times)
    (frames_file,) = (tmp_path / "cache").glob("*.frames.npy")
    frames_file.write_bytes(b"not an array")
    use_frame_cache(FrameCache(tmp_path / "cache"))
    assert np.array_equal(decode_frames(video, times), expected)


def test_times_at_the_tolerance_edge_pick_the_same_frame(video, tmp_path):
    # A frame counts as on screen from its time - TIME_EPS_S on: at exactly that instant the
    # frame is shown, one float below it the previous one is.
    frame_times, _ = decode.decode_whole_video(video)
    edges = frame_times[1:20] - decode.TIME_EPS_S
    windows = [edges, np.nextafter(edges, -np.inf)]
    expected = _uncached(video, windows)
    assert not np.array_equal(expected[0], expected[1])
    use_frame_cache(FrameCache(tmp_path / "cache"))
    assert all(np.array_equal(a, decode_frames(video, t)) for a, t in zip(expected, windows))


def test_an_unreadable_video_raises_the_decoders_error(video, tmp_path):
    broken = tmp_path / "truncated.mp4"
    broken.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    use_frame_cache(None)
    with pytest.raises(VideoDecodeError) as uncached:
        decode_frames(broken, [0.0])
    use_frame_cache(FrameCache(tmp_path / "cache"))
    with pytest.raises(VideoDecodeError) as cached:
        decode_frames(broken, [0.0])
    assert str(cached.value) == str(uncached.value)


def test_a_video_not_decodable_whole_is_decoded_per_clip(video, tmp_path, monkeypatch):
    # A file damaged past some point: its early clips still decode, so it must not fail them.
    times = np.arange(8) / 30 + 0.3
    expected = _uncached(video, [times])[0]

    def damaged_after_the_clip(path, **kwargs):
        raise VideoDecodeError(path, "decoding failed (invalid data at frame 50)")

    monkeypatch.setattr(decode, "decode_whole_video", damaged_after_the_clip)
    use_frame_cache(FrameCache(tmp_path / "cache"))
    assert np.array_equal(decode_frames(video, times), expected)
    assert not (tmp_path / "cache").exists()
