"""Spatial transforms move boxes exactly as they move pixels (hand-computed values)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.data import transforms as T


def _frames(height: int, width: int) -> torch.Tensor:
    return torch.zeros(3, 2, height, width)


def test_short_side_scale_scales_each_axis_by_its_own_factor():
    frames, boxes = T.short_side_scale(_frames(60, 80), 90,
                                       torch.tensor([[8.0, 6.0, 40.0, 30.0]]))
    assert frames.shape[-2:] == (90, 120)
    assert boxes.tolist() == [[12.0, 9.0, 60.0, 45.0]]


def test_short_side_scale_floors_the_long_side_like_pyslowfast():
    frames, boxes = T.short_side_scale(_frames(340, 454), 256,
                                       torch.tensor([[0.0, 0.0, 454.0, 340.0]]))
    assert frames.shape[-2:] == (256, 341)  # floor(454 / 340 * 256) = floor(341.8)
    assert boxes[0].tolist() == pytest.approx([0, 0, 341, 256])


def test_crop_shifts_and_clips_boxes():
    # Each pixel holds its own position, so the crop offset can be read off the result.
    ys, xs = torch.meshgrid(torch.arange(120.0), torch.arange(160.0), indexing="ij")
    frames = (xs + 1000 * ys).expand(3, 2, 120, 160).clone()
    boxes = torch.tensor([[30.0, 10.0, 70.0, 50.0], [0.0, 0.0, 5.0, 5.0],
                          [150.0, 100.0, 160.0, 120.0]])
    cropped, moved = T.random_crop(frames, 100, np.random.default_rng(0), boxes)
    assert cropped.shape[-2:] == (100, 100)
    corner = int(cropped[0, 0, 0, 0].item())
    x0, y0 = corner % 1000, corner // 1000
    assert 0 <= x0 <= 60 and 0 <= y0 <= 20
    def clip(v: float) -> float:
        return min(max(v, 0.0), 100.0)

    expected = [[clip(30 - x0), clip(10 - y0), clip(70 - x0), clip(50 - y0)],
                [0.0, 0.0, clip(5 - x0), clip(5 - y0)],
                [clip(150 - x0), clip(100 - y0), 100.0, 100.0]]
    assert moved.tolist() == expected


def test_uniform_crops_are_start_centre_end_of_the_long_side():
    boxes = torch.tensor([[100.0, 20.0, 200.0, 200.0]])
    offsets = []
    for index in range(3):
        cropped, moved = T.uniform_crop(_frames(256, 341), 256, index, boxes)
        assert cropped.shape[-2:] == (256, 256)
        offsets.append(100.0 - moved[0, 0].item())
    assert offsets == [0.0, 43.0, 85.0]  # ceil((341 - 256) / 2) = 43


def test_flip_mirrors_boxes_about_the_width():
    frames = torch.arange(10.0).reshape(1, 1, 1, 10).expand(3, 2, 4, 10).clone()
    flipped, boxes = T.horizontal_flip(frames, torch.tensor([[1.0, 0.0, 3.0, 4.0]]))
    assert boxes.tolist() == [[7.0, 0.0, 9.0, 4.0]]
    # The pixels that were in [1, 3) are now in [7, 9).
    assert flipped[0, 0, 0, 7:9].tolist() == [2.0, 1.0]


def test_pixels_inside_a_box_stay_inside_it_through_scale_crop_flip():
    frames = torch.zeros(3, 1, 60, 80)
    frames[:, :, 12:30, 20:36] = 1.0          # a bright block, exactly the box below
    boxes = torch.tensor([[20.0, 12.0, 36.0, 30.0]])
    rng = np.random.default_rng(7)
    frames, boxes = T.short_side_scale(frames, 120, boxes)
    frames, boxes = T.random_crop(frames, 112, rng, boxes)
    frames, boxes = T.horizontal_flip(frames, boxes)
    x1, y1, x2, y2 = (int(round(v)) for v in boxes[0].tolist())
    inside = frames[0, 0, y1 + 1:y2 - 1, x1 + 1:x2 - 1]
    assert inside.min() > 0.99
    outside = frames[0, 0].clone()
    outside[max(y1 - 1, 0):y2 + 1, max(x1 - 1, 0):x2 + 1] = 0
    assert outside.max() < 0.01


def test_normalise_uses_pyslowfast_mean_and_std():
    frames = T.normalise(T.to_float_cthw(np.full((1, 2, 2, 3), 255, np.uint8)))
    assert frames.shape == (3, 1, 2, 2)
    assert frames.flatten()[0].item() == pytest.approx((1 - 0.45) / 0.225)
