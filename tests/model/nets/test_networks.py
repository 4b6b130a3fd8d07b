"""Building, shapes, parameter counts against PySlowFast, initialisation, bad inputs."""

import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from model.nets import BoxError, InputShapeError, VideoClassifier, VideoDetector, build
from model.nets.spec import STAGE_NAMES

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "nets"
PEER_COUNTS = json.loads((FIXTURES / "param_counts.json").read_text())
FULL = [k for k in PEER_COUNTS if not k.startswith("_")]


def clips(batch=2, t=2, alpha=4, size=32):
    return [torch.randn(batch, 3, t, size, size), torch.randn(batch, 3, t * alpha, size, size)]


@pytest.mark.parametrize("task,classes", [("kinetics", 600), ("ava", 80)])
@pytest.mark.parametrize("name", FULL)
def test_parameter_count_equals_pyslowfast(name, task, classes):
    with torch.device("meta"):
        model = build(name, task=task, num_classes=classes)
    assert sum(p.numel() for p in model.parameters()) == PEER_COUNTS[name][task]


def test_kinetics_returns_logits_for_any_clip_length():
    model = build("slowfast_8x8_r101_nl_tiny", num_classes=7).eval()
    assert isinstance(model, VideoClassifier)
    for t, size in [(2, 32), (3, 48), (8, 64)]:
        with torch.no_grad():
            out = model(clips(t=t, size=size))
        assert out.shape == (2, 7)
    # logits, not probabilities
    assert not torch.allclose(out.softmax(1).sum(1), out.sum(1))


def test_fast_only_takes_one_pathway():
    model = build("fast_b1_32x2_r101_tiny", num_classes=5).eval()
    with torch.no_grad():
        assert model([torch.randn(1, 3, 6, 32, 32)]).shape == (1, 5)
    with pytest.raises(InputShapeError, match="1 clip tensors"):
        model(clips())


def test_ava_detector_one_row_per_box_with_and_without_context():
    boxes = torch.tensor([[0, 0.0, 0.0, 32.0, 32.0], [1, 4.0, 5.0, 20.0, 30.0], [1, 1.0, 1.0, 2.0, 2.0]])
    for nl_context in (False, True):
        model = build("slowfast_16x8_r101_nl_tiny", task="ava", num_classes=80, nl_context=nl_context).eval()
        assert isinstance(model, VideoDetector)
        assert (model.head.context is not None) == nl_context
        with torch.no_grad():
            assert model(clips(), boxes).shape == (3, 80)
            assert model(clips(), boxes[:0]).shape == (0, 80)


def test_ava_backbone_res5_is_dilated_at_stride_16():
    model = build("slowfast_8x8_r50_tiny", task="ava", num_classes=3).eval()
    res5_b = model.backbone.res5[0].blocks[0].conv_b
    assert res5_b.stride == (1, 1, 1) and res5_b.dilation == (1, 2, 2)
    with torch.no_grad():
        features = model.backbone(clips(size=64))
    assert [tuple(f.shape[2:]) for f in features] == [(2, 4, 4), (8, 4, 4)]  # 64 / 16
    kinetics = build("slowfast_8x8_r50_tiny", num_classes=3).eval()
    with torch.no_grad():
        assert [tuple(f.shape[2:]) for f in kinetics.backbone(clips(size=64))] == [(2, 2, 2), (8, 2, 2)]


def test_boxes_over_different_regions_give_different_predictions():
    """Two boxes over different image halves see different features."""
    model = build("slowfast_8x8_r50_tiny", task="ava", num_classes=4, dropout=0.0).eval()
    x = clips(batch=1, size=64)
    x = [c.clone() for c in x]
    x[0][..., :32] = 0
    x[1][..., :32] = 0
    left = torch.tensor([[0, 0.0, 0.0, 24.0, 64.0]])
    right = torch.tensor([[0, 40.0, 0.0, 64.0, 64.0]])
    for m in model.modules():  # make the head depend on the features
        if isinstance(m, nn.BatchNorm3d):
            nn.init.ones_(m.weight)
    with torch.no_grad():
        assert not torch.allclose(model(x, left), model(x, right))


@pytest.mark.parametrize("bad,message", [
    (lambda: [torch.randn(2, 3, 2, 32, 32)], "2 clip tensors"),
    (lambda: [torch.randn(2, 1, 2, 32, 32), torch.randn(2, 1, 8, 32, 32)], "3 \\(RGB\\) channels"),
    (lambda: [torch.randn(2, 3, 2, 32, 32), torch.randn(2, 3, 6, 32, 32)], "alpha\\*T = 4\\*2 = 8 frames"),
    (lambda: [torch.randn(2, 3, 2, 32, 32), torch.randn(2, 3, 8, 32)], "\\(B, 3, T, H, W\\)"),
    (lambda: [torch.randn(2, 3, 2, 32, 32), torch.randn(1, 3, 8, 32, 32)], "batch size"),
])
def test_wrong_inputs_raise_value_error_saying_what_was_expected(bad, message):
    model = build("slowfast_8x8_r101_tiny", num_classes=3)
    with pytest.raises(ValueError, match=message):
        model(bad())


def test_non_divisible_alpha_names_alpha():
    model = build("slowfast_8x8_r50_tiny", num_classes=3, alpha=3)
    with pytest.raises(InputShapeError, match="divisible by alpha=3"):
        model([torch.randn(1, 3, 3, 32, 32), torch.randn(1, 3, 10, 32, 32)])
    with torch.no_grad():
        assert model.eval()([torch.randn(1, 3, 3, 32, 32), torch.randn(1, 3, 9, 32, 32)]).shape == (1, 3)


@pytest.mark.parametrize("boxes,message", [
    (torch.tensor([[0.0, 1, 1, 5]]), "\\(K, 5\\)"),
    (torch.tensor([[0, 1, 1, 5, 5]]), "floating-point"),
    (torch.tensor([[2.0, 1, 1, 5, 5]]), "batch index 2.0"),
    (torch.tensor([[0.5, 1, 1, 5, 5]]), "batch index 0.5"),
    (torch.tensor([[0.0, 1, 1, 5, 5], [1.0, -10, 1, 5, 5]]), "box 1 .* outside the 32x32 frame"),
    (torch.tensor([[0.0, 1, 1, 40, 5]]), "outside"),
    (torch.tensor([[0.0, 8, 1, 5, 5]]), "x2 < x1"),
    (torch.tensor([[0.0, float("nan"), 1, 5, 5]]), "non-finite"),
])
def test_bad_boxes_are_rejected_with_a_clear_message(boxes, message):
    model = build("slowfast_8x8_r50_tiny", task="ava", num_classes=3)
    with pytest.raises(BoxError, match=message):
        model(clips(), boxes)


def test_build_rejects_bad_arguments():
    with pytest.raises(ValueError, match="task"):
        build("slowfast_8x8_r50_tiny", task="charades", num_classes=3)
    with pytest.raises(ValueError, match="num_classes"):
        build("slowfast_8x8_r50_tiny", num_classes=0)
    with pytest.raises(ValueError, match="dropout"):
        build("slowfast_8x8_r50_tiny", num_classes=3, dropout=1.5)


def test_initialisation_he_fan_out_zero_last_bn_gamma_small_fc():
    torch.manual_seed(0)
    model = build("slowfast_8x8_r101_nl", num_classes=600)
    conv = model.backbone.res4[0].blocks[3].conv_b  # 256 -> 256, 1x3x3: fan_out = 256*9
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / (256 * 9)), rel=0.02)
    for stage in STAGE_NAMES:
        for pathway in getattr(model.backbone, stage):
            for block in pathway.blocks:
                assert torch.all(block.bn_c.weight == 0) and torch.all(block.bn_a.weight == 1)
            for nl in pathway.nonlocal_blocks.values():
                assert torch.all(nl.bn.weight == 0)
    assert model.head.projection.weight.std().item() == pytest.approx(0.01, rel=0.05)
    assert torch.all(model.head.projection.bias == 0)


def test_tiny_twin_trains_a_step_on_the_cpu():
    torch.manual_seed(0)
    model = build("slowfast_8x8_r101_nl_tiny", task="ava", num_classes=80, nl_context=True, num_frames=4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x = clips(batch=4, t=4, size=64)
    boxes = torch.tensor([[i, 4.0, 4.0, 60.0, 60.0] for i in range(4)])
    target = torch.zeros(4, 80)
    target[:, 3] = 1
    losses = []
    for _ in range(3):
        loss = nn.functional.binary_cross_entropy_with_logits(model(x, boxes), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    assert all(p.grad is not None for p in model.parameters())


def test_nl_context_flag_does_not_change_a_kinetics_classifier():
    torch.manual_seed(0)
    plain = build("slowfast_8x8_r50_tiny", num_classes=3)
    torch.manual_seed(0)
    flagged = build("slowfast_8x8_r50_tiny", num_classes=3, nl_context=True)
    assert plain.state_dict().keys() == flagged.state_dict().keys()


def test_box_coordinates_keep_float32_precision_under_bfloat16_autocast():
    model = build("slowfast_8x8_r50_tiny", task="ava", num_classes=3).eval()
    for m in model.modules():  # let the region features reach the logits
        if isinstance(m, nn.BatchNorm3d):
            nn.init.ones_(m.weight)
    x = clips(batch=1, size=128)
    near = torch.tensor([[0, 0.0, 0.0, 126.1, 126.1], [0, 0.0, 0.0, 126.2, 126.2]])  # both 126 in bf16
    regions = []
    model.head.projection.register_forward_hook(lambda module, inputs, output: regions.append(inputs[0]))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        model(x, near)
    assert not torch.equal(regions[0][0], regions[0][1])


def test_bfloat16_autocast_and_channels_last():
    model = build("slowfast_8x8_r50_tiny", task="ava", num_classes=3).eval()
    model = model.to(memory_format=torch.channels_last_3d)
    x = [c.to(memory_format=torch.channels_last_3d) for c in clips()]
    boxes = torch.tensor([[0, 0.0, 0.0, 16.0, 16.0]])
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x, boxes)
    assert out.shape == (1, 3) and torch.isfinite(out.float()).all()


@pytest.mark.parametrize("name", FULL)
def test_full_size_variants_run_on_small_clips(name):
    """The released-size networks, AVA head with context, on 1-frame Slow clips at 32x32."""
    model = build(name, task="ava", num_classes=80, nl_context=True).eval()
    spec = model.spec
    x = [torch.randn(1, 3, 1, 32, 32), torch.randn(1, 3, spec.alpha, 32, 32)]
    if spec.pathways == "fast":
        x = [torch.randn(1, 3, 1, 32, 32)]
    with torch.no_grad():
        assert model(x, torch.tensor([[0, 2.0, 2.0, 30.0, 30.0]])).shape == (1, 80)


def _feature_shapes(model: nn.Module, inputs: list[torch.Tensor]) -> dict[str, tuple[int, ...]]:
    """(C, T, H, W) after conv1, pool1 and each res stage of every pathway, via forward hooks."""
    shapes: dict[str, tuple[int, ...]] = {}

    def record(name):
        return lambda module, args, output: shapes.__setitem__(name, tuple(output.shape[1:]))

    backbone = model.backbone
    for p, stem in enumerate(backbone.stem):
        stem.conv.register_forward_hook(record(f"conv1.{p}"))
        stem.pool.register_forward_hook(record(f"pool1.{p}"))
    for stage in STAGE_NAMES:
        for p, pathway in enumerate(getattr(backbone, stage)):
            pathway.register_forward_hook(record(f"{stage}.{p}"))
    model(inputs)
    return shapes


def test_table_1_output_sizes_of_the_full_slowfast_8x8():
    """Table 1's "output sizes T x S^2" column and its channels, on the real R101 at 224^2.

    Meta tensors carry shapes without arithmetic, so the full network runs in a second.
    """
    with torch.device("meta"):
        model = build("slowfast_8x8_r101_nl", num_classes=600)
        shapes = _feature_shapes(model, [torch.empty(1, 3, 8, 224, 224), torch.empty(1, 3, 32, 224, 224)])
    # Slow 8 x S^2, Fast 32 x S^2 at every stage: no temporal downsampling in either pathway.
    assert [shapes[f"{s}.0"] for s in ("conv1", "pool1", *STAGE_NAMES)] == [
        (64, 8, 112, 112), (64, 8, 56, 56), (256, 8, 56, 56), (512, 8, 28, 28), (1024, 8, 14, 14), (2048, 8, 7, 7)]
    assert [shapes[f"{s}.1"] for s in ("conv1", "pool1", *STAGE_NAMES)] == [
        (8, 32, 112, 112), (8, 32, 56, 56), (32, 32, 56, 56), (64, 32, 28, 28), (128, 32, 14, 14), (256, 32, 7, 7)]
    slow_stem, fast_stem = model.backbone.stem
    assert (slow_stem.conv.kernel_size, slow_stem.conv.stride) == ((1, 7, 7), (1, 2, 2))  # conv1 1x7^2, stride 1,2^2
    assert (fast_stem.conv.kernel_size, fast_stem.conv.stride) == ((5, 7, 7), (1, 2, 2))  # conv1 5x7^2
    for stem in (slow_stem, fast_stem):
        assert (stem.pool.kernel_size, stem.pool.stride) == ((1, 3, 3), (1, 2, 2))  # pool1 1x3^2 max
    # Lateral connections: 5x1^2 conv, 2*beta*C outputs (C: the Slow channels), stride alpha = 4.
    slow_channels = {"pool1": 64, "res2": 256, "res3": 512, "res4": 1024}
    for point, fusion in model.backbone.lateral.items():
        assert (fusion.conv.kernel_size, fusion.conv.stride) == ((5, 1, 1), (4, 1, 1))
        assert fusion.conv.out_channels == 2 * slow_channels[point] // 8
    # "global average pool, concate, fc # classes": the classifier reads 2048 + 256 features.
    assert (model.head.projection.in_features, model.head.projection.out_features) == (2048 + 256, 600)


def test_temporal_kernels_are_where_table_1_underlines_them():
    """Sec. 1.1: Slow has non-degenerate temporal kernels only in res4 and res5; Fast in every stage."""
    with torch.device("meta"):
        model = build("slowfast_8x8_r101_nl", num_classes=600)
    backbone = model.backbone

    def temporal_kernels(stage: str, pathway: int) -> list[int]:
        return [block.conv_a.kernel_size[0] for block in getattr(backbone, stage)[pathway].blocks]

    assert backbone.stem[0].conv.kernel_size[0] == 1 and backbone.stem[1].conv.kernel_size[0] == 5
    assert set(temporal_kernels("res2", 0)) == set(temporal_kernels("res3", 0)) == {1}
    assert set(temporal_kernels("res5", 0)) == {3}
    for stage in ("res2", "res3", "res5"):
        assert set(temporal_kernels(stage, 1)) == {3}
    # res4: a choice (model/nets/spec.py): the released R101 layout, 3 in the leading blocks of
    # both pathways and 1 after them, where Table 1 underlines all 23.
    assert temporal_kernels("res4", 0)[0] == 3 and temporal_kernels("res4", 1) == temporal_kernels("res4", 0)


def test_fast_only_32x2_keeps_32_frames_at_full_width():
    """Sec. 1.1 "Second": the Fast pathway alone, beta = 1 (Slow's widths), 32 frames throughout."""
    with torch.device("meta"):
        model = build("fast_b1_32x2_r101", num_classes=600)
        shapes = _feature_shapes(model, [torch.empty(1, 3, 32, 224, 224)])
    assert [shapes[f"{s}.0"] for s in ("conv1", "pool1", *STAGE_NAMES)] == [
        (64, 32, 112, 112), (64, 32, 56, 56), (256, 32, 56, 56), (512, 32, 28, 28), (1024, 32, 14, 14),
        (2048, 32, 7, 7)]
    assert all(block.conv_a.kernel_size[0] == 3 for s in STAGE_NAMES for block in getattr(model.backbone, s)[0].blocks)
