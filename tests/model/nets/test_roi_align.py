"""RoIAlign without the torchvision package gives torchvision's bits, and inference never imports it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from model.data.ava import pairwise_iou
from model.nets.roi_align import roi_align

REPO_ROOT = Path(__file__).resolve().parents[3]


def _inputs(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(3, 16, 14, 18, generator=generator)
    corners = torch.rand(9, 4, generator=generator) * torch.tensor([70.0, 55.0, 70.0, 55.0])
    boxes = torch.cat([corners[:, :2].minimum(corners[:, 2:]), corners[:, :2].maximum(corners[:, 2:])], dim=1)
    batch = torch.randint(0, 3, (9, 1), generator=generator).float()
    return features, torch.cat([batch, boxes], dim=1)


@pytest.mark.parametrize("sampling_ratio, aligned", [(0, True), (2, False)])
def test_the_kernel_path_equals_torchvision_bit_for_bit(sampling_ratio: int, aligned: bool) -> None:
    import torchvision.ops

    features, rois = _inputs(seed=sampling_ratio)
    with torch.no_grad():
        ours = roi_align(features, rois, output_size=7, spatial_scale=1 / 4, sampling_ratio=sampling_ratio,
                         aligned=aligned)
        theirs = torchvision.ops.roi_align(features, rois, output_size=7, spatial_scale=1 / 4,
                                           sampling_ratio=sampling_ratio, aligned=aligned)
    assert ours.shape == (9, 16, 7, 7)
    assert torch.equal(ours, theirs)


def test_with_a_gradient_it_is_torchvision_and_the_features_get_one() -> None:
    features, rois = _inputs(seed=3)
    features.requires_grad_(True)
    roi_align(features, rois, output_size=7, spatial_scale=1 / 4, sampling_ratio=0, aligned=True).sum().backward()
    assert features.grad is not None and features.grad.abs().sum() > 0


def test_rois_of_the_wrong_shape_are_refused() -> None:
    features, rois = _inputs(seed=4)
    with torch.no_grad(), pytest.raises(ValueError, match=r"rois must be \(K, 5\)"):
        roi_align(features, rois[:, 1:], output_size=7, spatial_scale=1.0, sampling_ratio=0, aligned=True)


def test_pairwise_iou_equals_torchvision_box_iou() -> None:
    import torchvision.ops

    _, rois = _inputs(seed=5)
    a, b = rois[:, 1:].double(), rois[:4, 1:].double()
    assert torch.equal(pairwise_iou(a, b), torchvision.ops.box_iou(a, b))
    assert pairwise_iou(a[:1], a[:1]).item() == pytest.approx(1.0)


def test_an_ava_head_in_inference_does_not_import_torchvision() -> None:
    script = textwrap.dedent("""
        import sys
        import torch
        from model.nets.heads import AvaHead
        head = AvaHead([8, 4], 5, dropout=0.0, spatial_scale=1 / 16, nl_context=True).eval()
        features = [torch.randn(2, 8, 2, 4, 4), torch.randn(2, 4, 8, 4, 4)]
        boxes = torch.tensor([[0, 4.0, 4.0, 40.0, 50.0], [1, 0.0, 0.0, 63.0, 63.0]])
        with torch.no_grad():
            assert head(features, boxes).shape == (2, 5)
        import model.data.ava, model.data.build
        print(sorted(name for name in sys.modules if name.startswith(("torchvision", "torch._dynamo"))))
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
