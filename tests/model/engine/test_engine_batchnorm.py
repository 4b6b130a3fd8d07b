"""BN statistics over groups of clips: split mode against plain BN applied group by group."""
import pytest
import torch
from torch import nn

from model.engine.batchnorm import (BatchNormGroupError, GroupedBatchNorm, group_batchnorm,
                                    plan_bn_grouping)

torch.set_num_threads(1)


def _reference(x, groups):
    """Plain BatchNorm3d in training mode on each group of clips separately."""
    bn = nn.BatchNorm3d(x.shape[1])
    out = torch.empty_like(x)
    for members in groups:
        out[members] = bn(x[members])
    return out


def test_split_mode_normalises_each_group_of_8_on_its_own():
    torch.manual_seed(0)
    x = torch.randn(24, 4, 2, 3, 3) * 3 + 1
    bn = GroupedBatchNorm(4, group_size=8)
    y = bn(x)
    # Clip i belongs to group i % 3 (the groups are folded into the channel axis).
    groups = [list(range(r, 24, 3)) for r in range(3)]
    torch.testing.assert_close(y, _reference(x, groups), rtol=1e-5, atol=1e-5)
    for members in groups:  # each group is standardised: mean 0, var 1 per channel
        g = y[members].transpose(0, 1).reshape(4, -1)
        torch.testing.assert_close(g.mean(1), torch.zeros(4), atol=1e-5, rtol=0)


def test_split_running_stats_are_those_of_the_whole_batch():
    torch.manual_seed(1)
    x = torch.randn(16, 3, 2, 4, 4) * 2 + 5
    bn = GroupedBatchNorm(3, group_size=8, momentum=1.0)
    bn(x)
    flat = x.transpose(0, 1).reshape(3, -1)
    torch.testing.assert_close(bn.running_mean, flat.mean(1))
    torch.testing.assert_close(bn.running_var, flat.var(1, unbiased=True))


def test_batch_equal_to_group_is_plain_batchnorm_and_gradients_flow():
    torch.manual_seed(2)
    x = torch.randn(8, 4, 2, 3, 3, requires_grad=True)
    ours, plain = GroupedBatchNorm(4, group_size=8), nn.BatchNorm3d(4)
    (ours(x) ** 2).sum().backward()
    g_ours = x.grad.clone()
    x.grad = None
    (plain(x) ** 2).sum().backward()
    torch.testing.assert_close(g_ours, x.grad)
    torch.testing.assert_close(ours.running_var, plain.running_var)


def test_eval_mode_uses_running_stats():
    bn = GroupedBatchNorm(2, group_size=8)
    bn.running_mean.fill_(1.0)
    bn.running_var.fill_(4.0)
    bn.eval()
    y = bn(torch.full((3, 2, 1, 1, 1), 5.0))
    torch.testing.assert_close(y, torch.full_like(y, 4.0 / (4.0 + 1e-5) ** 0.5))


def test_indivisible_batch_is_a_clear_error():
    with pytest.raises(BatchNormGroupError, match="batch_size"):
        GroupedBatchNorm(2, group_size=8)(torch.randn(12, 2, 1, 2, 2))
    with pytest.raises(BatchNormGroupError, match="multiple"):
        plan_bn_grouping(8, 12, 1)


@pytest.mark.parametrize("per_process,world,mode,ranks", [
    (8, 128, "local", 1), (32, 4, "split", 1), (2, 8, "sync", 4), (4, 2, "sync", 2),
    (4, 1, "local", 1)])
def test_grouping_plan(per_process, world, mode, ranks):
    plan = plan_bn_grouping(8, per_process, world)
    assert (plan.mode, plan.ranks_per_group) == (mode, ranks)


def test_group_batchnorm_replaces_every_bn_keeping_its_state():
    net = nn.Sequential(nn.Conv3d(1, 2, 1), nn.BatchNorm3d(2), nn.Sequential(nn.BatchNorm1d(2)))
    net[1].running_mean.fill_(3.0)
    group_batchnorm(net, group_size=8, per_process_batch=16)
    assert isinstance(net[1], GroupedBatchNorm) and isinstance(net[2][0], GroupedBatchNorm)
    assert torch.equal(net[1].running_mean, torch.full((2,), 3.0))
