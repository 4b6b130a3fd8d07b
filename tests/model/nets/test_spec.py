"""The variant table against Table 1 and Sec. 1.1 / 3 of the report."""

from fractions import Fraction

import pytest

from model.nets import VARIANTS, variant_spec

FULL = ["slowfast_8x8_r101_nl", "slowfast_8x8_r101", "slowfast_8x8_r50",
        "slowfast_16x8_r101_nl", "fast_b1_32x2_r101"]


def test_every_stable_name_and_its_tiny_twin_is_registered():
    assert set(VARIANTS) == set(FULL) | {f"{n}_tiny" for n in FULL}


def test_unknown_variant_lists_the_known_ones():
    with pytest.raises(ValueError, match="slowfast_8x8_r101_nl"):
        variant_spec("slowfast_9x9")


def test_slowfast_8x8_r101_nl_reads_like_table_1():
    spec = variant_spec("slowfast_8x8_r101_nl")
    assert (spec.pathways, spec.num_frames, spec.sampling_rate, spec.depth) == ("slowfast", 8, 8, 101)
    assert spec.fast_num_frames == 32 and spec.beta == Fraction(1, 8)  # Fast: 32x224^2, beta 1/8
    slow, fast = spec.table
    assert (slow.conv1_temporal_kernel, slow.conv1_channels) == (1, 64)  # 1x7^2, 64
    assert (fast.conv1_temporal_kernel, fast.conv1_channels) == (5, 8)  # 5x7^2, 8
    # res2..res5: (temporal kernel, inner, out, blocks) of Table 1
    assert [(s.temporal_kernel, s.inner_channels, s.out_channels, s.blocks) for s in slow.stages] == [
        (1, 64, 256, 3), (1, 128, 512, 4), (3, 256, 1024, 23), (3, 512, 2048, 3)]
    assert [(s.temporal_kernel, s.inner_channels, s.out_channels, s.blocks) for s in fast.stages] == [
        (3, 8, 32, 3), (3, 16, 64, 4), (3, 32, 128, 23), (3, 64, 256, 3)]
    assert [s.spatial_stride for s in slow.stages] == [1, 2, 2, 2]
    # lateral: 5x1^2 conv, 2*beta*C outputs, temporal stride alpha
    assert (spec.lateral_kernel, spec.lateral_channel_ratio, spec.alpha) == (5, 2, 4)
    # NL only on the fused Slow res4
    nl = {(p.name, s.name): s.nonlocal_after for p in spec.table for s in p.stages if s.nonlocal_after}
    assert nl == {("slow", "res4"): (6, 13, 20)}


def test_variants_differ_only_where_their_names_say():
    base = variant_spec("slowfast_8x8_r101_nl")
    assert variant_spec("slowfast_16x8_r101_nl").table == base.table
    assert variant_spec("slowfast_16x8_r101_nl").num_frames == 16
    no_nl = variant_spec("slowfast_8x8_r101")
    assert all(not s.nonlocal_after for p in no_nl.table for s in p.stages)
    assert [s.blocks for s in variant_spec("slowfast_8x8_r50").table[0].stages] == [3, 4, 6, 3]


def test_fast_only_is_the_fast_pathway_at_full_width():
    spec = variant_spec("fast_b1_32x2_r101")
    assert (spec.pathways, spec.num_frames, spec.sampling_rate, spec.beta) == ("fast", 32, 2, 1)
    (fast,) = spec.table
    assert fast.conv1_temporal_kernel == 5 and fast.conv1_channels == 64
    assert all(s.temporal_blocks == s.blocks and s.temporal_kernel == 3 for s in fast.stages)
    assert [s.out_channels for s in fast.stages] == [256, 512, 1024, 2048]


@pytest.mark.parametrize("name", FULL)
def test_tiny_twin_keeps_the_topology(name):
    full, tiny = variant_spec(name), variant_spec(f"{name}_tiny")
    assert (tiny.pathways, tiny.alpha, tiny.beta, tiny.lateral_kernel) == (
        full.pathways, full.alpha, full.beta, full.lateral_kernel)
    for p_full, p_tiny in zip(full.table, tiny.table):
        assert p_tiny.conv1_temporal_kernel == p_full.conv1_temporal_kernel
        assert [s.temporal_kernel for s in p_tiny.stages] == [s.temporal_kernel for s in p_full.stages]
        assert [bool(s.nonlocal_after) for s in p_tiny.stages] == [bool(s.nonlocal_after) for s in p_full.stages]
        assert sum(s.blocks for s in p_tiny.stages) < sum(s.blocks for s in p_full.stages)


def test_frame_overrides_are_validated():
    spec = variant_spec("slowfast_8x8_r50_tiny").with_frames(num_frames=4, alpha=2)
    assert (spec.num_frames, spec.fast_num_frames) == (4, 8)
    with pytest.raises(ValueError, match="alpha"):
        spec.with_frames(alpha=0)
