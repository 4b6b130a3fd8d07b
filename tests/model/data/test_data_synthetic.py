"""The generated datasets: official layouts and formats, determinism, motion-defined labels."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
from pycocotools.coco import COCO

from model.data.ava_labelmap import AVA_EVALUATED_IDS, read_label_map
from model.data.decode import decode_frames, probe_video
from model.data.synthetic import generate_ava, generate_kinetics
from model.data.ava_annotations import HELD_OUT_TEST_GT
from model.data.kinetics_annotations import HELD_OUT_TEST_LABELS
from model.data.synthetic.kinetics_gen import KINETICS_MOTIONS


def test_kinetics_layout_and_csv_format(kinetics_root):
    classes = (kinetics_root / "annotations" / "classes.txt").read_text().split("\n")[:-1]
    assert classes == list(KINETICS_MOTIONS)[:3]
    for split, count in (("train", 9), ("validate", 6), ("test", 6)):
        with open(kinetics_root / "annotations" / f"{split}.csv", newline="") as handle:
            rows = list(csv.reader(handle))
        labelled = split != "test"  # the test list has no labels, as Kinetics-700's
        assert rows[0] == ["label"] * labelled + ["youtube_id", "time_start", "time_end", "split"]
        assert len(rows) == 1 + count
        for row in rows[1:]:
            label, (youtube_id, start, end, row_split) = (row[0] if labelled else None), row[-4:]
            assert row_split == split and len(youtube_id) == 11
            folder = kinetics_root / "videos" / split
            video = (folder / label if labelled else folder) / f"{youtube_id}_{int(start):06d}_{int(end):06d}.mp4"
            info = probe_video(video)
            assert (info.width, info.height) == (80, 60)
            assert info.duration_s == np.float64(int(end) - int(start))


def test_kinetics_test_labels_are_kept_aside_for_every_test_video(kinetics_root):
    """Only held_out/ knows a test video's class: not the test list, not the video's path, not
    the list's order (ids sorted, not grouped by class)."""
    with open(kinetics_root / "annotations" / "test.csv", newline="") as handle:
        listed = list(csv.DictReader(handle))
    with open(kinetics_root / HELD_OUT_TEST_LABELS, newline="") as handle:
        held_out = list(csv.DictReader(handle))
    assert "label" not in listed[0]
    assert [r["youtube_id"] for r in listed] == sorted(r["youtube_id"] for r in listed)
    assert sorted((r["youtube_id"], r["time_start"]) for r in listed) == \
        sorted((r["youtube_id"], r["time_start"]) for r in held_out)
    classes = (kinetics_root / "annotations" / "classes.txt").read_text().splitlines()
    assert {r["label"] for r in held_out} == set(classes)
    assert not [p for p in (kinetics_root / "videos" / "test").iterdir() if p.is_dir()]


def test_700_like_set_extends_the_600_like_set(tmp_path):
    small = generate_kinetics(tmp_path / "k600", seed=1, version="600", videos_per_class=1,
                              eval_videos_per_class=1, duration_s=1)
    large = generate_kinetics(tmp_path / "k700", seed=1, version="700", videos_per_class=1,
                              eval_videos_per_class=1, duration_s=1)
    k600 = (small / "annotations" / "classes.txt").read_text().split()
    k700 = (large / "annotations" / "classes.txt").read_text().split()
    assert len(k700) > len(k600) and k700[: len(k600)] == k600


def test_generation_is_deterministic_by_seed(tmp_path):
    def make(name, seed):
        return generate_ava(tmp_path / name, seed=seed, movies=(1, 1, 1), duration_s=5)

    first, again, other = make("a", 4), make("b", 4), make("c", 5)
    for name in ("ava_train_v2.2.csv", "ava_val_person_proposals.json"):
        text = (first / "annotations" / name).read_text()
        assert text == (again / "annotations" / name).read_text()
        assert text != (other / "annotations" / name).read_text()
    video = next((first / "videos").iterdir()).name
    assert np.array_equal(decode_frames(first / "videos" / video, [1.0, 2.0]),
                          decode_frames(again / "videos" / video, [1.0, 2.0]))


def _global_shift(first: np.ndarray, later: np.ndarray, reach: int = 24) -> tuple[int, int]:
    """The (dx, dy) that best maps ``first`` onto ``later`` (brute force, mean abs error)."""
    a, b = first.astype(float).mean(axis=-1), later.astype(float).mean(axis=-1)
    height, width = a.shape
    best, shift = np.inf, (0, 0)
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            src = a[max(-dy, 0): height - max(dy, 0), max(-dx, 0): width - max(dx, 0)]
            dst = b[max(dy, 0): height - max(-dy, 0), max(dx, 0): width - max(-dx, 0)]
            error = np.abs(src - dst).mean()
            if error < best:
                best, shift = error, (dx, dy)
    return shift


def test_kinetics_classes_are_told_apart_by_motion(kinetics_root):
    # The scene moves with the class: rising goes up, falling down, sliding sideways
    # left or right (either, so that a flipped clip keeps its label).
    for label, check in (("rising", lambda dx, dy: dy < -4 and dx == 0),
                         ("falling", lambda dx, dy: dy > 4 and dx == 0),
                         ("sliding sideways", lambda dx, dy: abs(dx) > 4 and dy == 0)):
        for video in (kinetics_root / "videos" / "train" / label).iterdir():
            first, later = decode_frames(video, [0.0, 2.0])
            dx, dy = _global_shift(first, later)
            assert check(dx, dy), (video, dx, dy)


def test_ava_annotations_are_official_formats(ava_root):
    annotations = ava_root / "annotations"
    evaluated = read_label_map(annotations / "ava_action_list_v2.2_for_activitynet_2019.pbtxt")
    assert tuple(evaluated) == AVA_EVALUATED_IDS and len(evaluated) == 60
    assert list(read_label_map(annotations / "ava_action_list_v2.2.pbtxt")) == list(range(1, 81))
    rows = list(csv.reader(open(annotations / "ava_train_v2.2.csv", newline="")))
    assert rows and all(len(r) == 8 for r in rows)
    for video_id, stamp, *box, action, person in rows:
        assert len(stamp) == 4 and 902 <= int(stamp) <= 906  # 8 s movies
        x1, y1, x2, y2 = map(float, box)
        assert 0 <= x1 <= x2 <= 1 and 0 <= y1 <= y2 <= 1
        assert int(action) in evaluated and person.isdigit()
        assert (ava_root / "videos" / f"{video_id}.mp4").is_file()
    per_box = {}
    for r in rows:
        per_box.setdefault(tuple(r[:6]), []).append(r[6])
    assert {len(v) for v in per_box.values()} <= {1, 2, 3}
    excluded = list(csv.reader(open(annotations / "ava_train_excluded_timestamps_v2.2.csv")))
    assert excluded and all(len(r) == 2 for r in excluded)
    assert all(tuple(r) not in {(k[0], k[1]) for k in per_box} for r in excluded)


def test_ava_test_ground_truth_is_kept_aside_for_every_test_keyframe(ava_root):
    """The test labels exist (so a submission can be scored as the server scores it) but not
    under annotations/, where every job reads: a job cannot see them."""
    annotations = ava_root / "annotations"
    assert not [p.name for p in annotations.iterdir() if p.name.startswith("ava_test_v2.2.csv")]
    rows = list(csv.reader(open(ava_root / HELD_OUT_TEST_GT, newline="")))
    keyframes = list(csv.reader(open(annotations / "ava_test_keyframes_v2.2.csv", newline="")))
    test_videos = set((annotations / "ava_test_v2.2.txt").read_text().split())
    assert rows and all(len(r) == 8 for r in rows)
    assert {(r[0], r[1]) for r in rows} == {(v, t) for v, t in keyframes}
    assert {r[0] for r in rows} == test_videos
    evaluated = read_label_map(annotations / "ava_action_list_v2.2_for_activitynet_2019.pbtxt")
    assert all(int(r[6]) in evaluated for r in rows)


def test_ava_proposals_load_with_pycocotools_and_look_like_a_detector(ava_root):
    annotations = ava_root / "annotations"
    index = COCO(str(annotations / "ava_val_person_proposals_images.json"))
    results = index.loadRes(str(annotations / "ava_val_person_proposals.json"))
    scores = np.array([a["score"] for a in results.dataset["annotations"]])
    assert len(scores) > 10
    assert scores.max() > 0.9 and scores.min() < 0.8  # some proposals fall under 0.8
    for image in index.dataset["images"]:
        video_id, stamp = image["file_name"].split(",")
        assert (ava_root / "videos" / f"{video_id}.mp4").is_file() and len(stamp) == 4
    predicted = list(csv.reader(open(annotations / "ava_detection_val_boxes_and_labels.csv")))
    assert len(predicted) == len(scores) and all(r[6] == "" for r in predicted)
    assert json.loads((annotations / "ava_test_person_proposals.json").read_text())


def test_command_line_writes_a_dataset(tmp_path):
    out = tmp_path / "cli"
    subprocess.run([sys.executable, "-m", "model.data.synthetic", "--out", str(out),
                    "--kind", "ava", "--movies", "1", "1", "1", "--duration", "5"],
                   check=True, capture_output=True)
    assert (out / "annotations" / "ava_val_v2.2.csv").stat().st_size > 0
    assert len(list((out / "videos").glob("*.mp4"))) == 3


def test_a_clip_encodes_to_the_same_bytes_whatever_was_encoded_before(tmp_path):
    """write_mp4 is a function of its frames: the demo's 80x60 clips, re-encoded in other
    orders (after other videos), give the same files. With x264's macroblock tree on, 1-3 of
    these 30 clips came out different, with different decoded pixels."""
    import av

    from model.data.synthetic.mp4 import write_mp4

    root = generate_kinetics(tmp_path / "k", seed=0, num_classes=6, videos_per_class=3,
                             eval_videos_per_class=1)
    clips = []
    for path in sorted((root / "videos").rglob("*.mp4")):
        with av.open(str(path)) as container:
            clips.append([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])
    assert len(clips) == 30 and clips[0][0].shape == (60, 80, 3)

    def encode(folder: str, index: int) -> bytes:
        return write_mp4(tmp_path / folder / f"{index}.mp4", clips[index]).read_bytes()

    reference = [encode("first", i) for i in range(len(clips))]
    for seed in range(4):
        order = np.random.default_rng(seed).permutation(len(clips))
        again = {int(i): encode(f"order{seed}", int(i)) for i in order}
        assert [i for i in range(len(clips)) if again[i] != reference[i]] == [], f"order {seed}"
