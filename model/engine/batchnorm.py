"""BatchNorm whose statistics cover a fixed group of clips, whatever the per-process batch.

The report computes BN statistics "within each 8 clips" (section 3): 8 clips per GPU on 128
GPUs. On other hardware the per-process batch differs, and plain BN would silently change the
statistics (and the accuracy). ``GroupedBatchNorm`` keeps the group at ``group_size`` clips:

- **split** mode, a process holds more clips than the group (e.g. 32 on one big GPU or a CPU):
  the batch is split into ``n / group_size`` groups and each is normalised with its own
  statistics (the "sub-batch" trick: the groups are folded into the channel axis so one
  ``batch_norm`` kernel does all of them).
- **sync** mode, a process holds fewer clips than the group (e.g. 2 per GPU): the per-channel
  sums are all-reduced over a process group of ``group_size / per_process_batch`` processes,
  differentiably, so forward and backward see the statistics of the whole group.

Running statistics (used at evaluation) are the pooled mean and unbiased variance of the
whole local batch (split) or of the group (sync), so evaluation is unchanged by the grouping.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

__all__ = ["BatchNormGroupError", "BNGrouping", "GroupedBatchNorm", "plan_bn_grouping",
           "group_batchnorm"]

log = logging.getLogger(__name__)


class BatchNormGroupError(ValueError):
    """The batch cannot be cut into BN groups of the configured size."""


class GroupedBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm over groups of ``group_size`` clips (split locally or synced across processes).

    ``process_group`` set -> sync mode over that group; otherwise split mode. Accepts any
    ``(N, C, ...)`` input like ``nn.BatchNorm{1,2,3}d``.
    """

    def __init__(self, num_features: int, *, group_size: int = 8,
                 process_group: dist.ProcessGroup | None = None, eps: float = 1e-5,
                 momentum: float | None = 0.1, affine: bool = True) -> None:
        super().__init__(num_features, eps=eps, momentum=momentum, affine=affine,
                         track_running_stats=True)
        if group_size <= 0:
            raise BatchNormGroupError(f"schedule.bn_group_size must be positive, got {group_size}")
        self.group_size = group_size
        self.process_group = process_group

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input (N, C, ...), got {x.dim()}D")

    def extra_repr(self) -> str:
        mode = "sync" if self.process_group is not None else "split"
        return f"{super().extra_repr()}, group_size={self.group_size}, mode={mode}"

    def _momentum_factor(self) -> float:
        self.num_batches_tracked.add_(1)
        if self.momentum is None:  # cumulative moving average, as nn.BatchNorm
            return 1.0 / float(self.num_batches_tracked)
        return self.momentum

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(x)
        if not self.training:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                                False, 0.0, self.eps)
        if self.process_group is not None and dist.get_world_size(self.process_group) > 1:
            return self._forward_synced(x)
        return self._forward_split(x)

    def _forward_split(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[0], x.shape[1]
        if n <= self.group_size:
            if n < self.group_size:
                _warn_small_group(n, self.group_size)
            factor = self._momentum_factor()
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                                True, factor, self.eps)
        if n % self.group_size:
            raise BatchNormGroupError(
                f"a batch of {n} clips cannot be split into BN groups of {self.group_size}; "
                "make data.batch_size a multiple of schedule.bn_group_size")
        splits = n // self.group_size
        # (n, C, ...) -> (group_size, splits*C, ...): clip i lands in channel block i % splits,
        # so each block of C channels holds one group of group_size clips.
        folded = x.reshape(self.group_size, splits * c, *x.shape[2:])
        split_mean = torch.zeros(splits * c, device=x.device, dtype=torch.float32)
        split_var = torch.ones(splits * c, device=x.device, dtype=torch.float32)
        weight = self.weight.repeat(splits) if self.weight is not None else None
        bias = self.bias.repeat(splits) if self.bias is not None else None
        y = F.batch_norm(folded, split_mean, split_var, weight, bias, True, 1.0, self.eps)
        with torch.no_grad():
            per_split = folded[0, 0].numel() * self.group_size  # elements per channel per group
            means = split_mean.view(splits, c)
            mean = means.mean(0)
            sum_sq = (split_var.view(splits, c) * (per_split - 1)).sum(0) \
                + (per_split * (means - mean) ** 2).sum(0)
            var = sum_sq / (per_split * splits - 1)
            factor = self._momentum_factor()
            self.running_mean.lerp_(mean.to(self.running_mean.dtype), factor)
            self.running_var.lerp_(var.to(self.running_var.dtype), factor)
        return y.reshape(x.shape)

    def _forward_synced(self, x: torch.Tensor) -> torch.Tensor:
        from torch.distributed.nn.functional import all_reduce

        c = x.shape[1]
        x32 = x.float()
        dims = [0] + list(range(2, x.dim()))
        count = torch.tensor([x.numel() // c], device=x.device, dtype=torch.float32)
        local = torch.cat([x32.sum(dims), (x32 * x32).sum(dims), count])
        total = all_reduce(local, group=self.process_group)
        n = total[-1]
        mean = total[:c] / n
        var = (total[c:2 * c] / n - mean * mean).clamp_min(0.0)
        shape = [1, c] + [1] * (x.dim() - 2)
        y = (x32 - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.weight is not None:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        with torch.no_grad():
            factor = self._momentum_factor()
            self.running_mean.lerp_(mean.detach(), factor)
            self.running_var.lerp_((var * n / (n - 1)).detach(), factor)
        return y.to(x.dtype)


_warned_small: set[tuple[int, int]] = set()


def _warn_small_group(n: int, group_size: int) -> None:
    if (n, group_size) not in _warned_small:
        _warned_small.add((n, group_size))
        warnings.warn(f"BN statistics over {n} clips, fewer than the group of {group_size}: "
                      "not enough processes to complete the group", stacklevel=3)


@dataclass(frozen=True)
class BNGrouping:
    """How the BN groups map onto processes: ``mode`` is 'split', 'local' or 'sync'."""

    mode: str
    group_size: int
    ranks_per_group: int  # processes whose clips form one group (1 unless sync)


def plan_bn_grouping(group_size: int, per_process_batch: int, world_size: int) -> BNGrouping:
    """Decide split / sync for a per-process batch; raises when the clips cannot be grouped."""
    if per_process_batch >= group_size:
        if per_process_batch % group_size:
            raise BatchNormGroupError(
                f"data.batch_size={per_process_batch} is not a multiple of "
                f"schedule.bn_group_size={group_size}")
        return BNGrouping("split" if per_process_batch > group_size else "local", group_size, 1)
    if group_size % per_process_batch:
        raise BatchNormGroupError(
            f"schedule.bn_group_size={group_size} is not a multiple of "
            f"data.batch_size={per_process_batch}")
    ranks = min(group_size // per_process_batch, world_size)
    if world_size % ranks:
        raise BatchNormGroupError(
            f"{world_size} processes cannot be cut into BN groups of {ranks} processes")
    return BNGrouping("sync" if ranks > 1 else "local", group_size, ranks)


def _bn_process_group(plan: BNGrouping) -> dist.ProcessGroup | None:
    """Create every sync group (collective: all ranks call it) and return this rank's."""
    if plan.mode != "sync":
        return None
    world, rank = dist.get_world_size(), dist.get_rank()
    mine = None
    for start in range(0, world, plan.ranks_per_group):
        ranks = list(range(start, start + plan.ranks_per_group))
        group = dist.new_group(ranks)
        if rank in ranks:
            mine = group
    return mine


def group_batchnorm(model: nn.Module, *, group_size: int, per_process_batch: int) -> BNGrouping:
    """Replace every BatchNorm of ``model`` in place by a ``GroupedBatchNorm`` (same state).

    Call after ``torch.distributed`` is initialised (if it is used) and before wrapping the
    model in DDP or building the optimizer.
    """
    world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
    plan = plan_bn_grouping(group_size, per_process_batch, world)
    if plan.mode == "local" and per_process_batch < group_size:
        log.warning("BN statistics over %d clips per process, fewer than %d: only %d process(es)",
                    per_process_batch, group_size, world)
    group = _bn_process_group(plan)
    _replace(model, group_size, group)
    return plan


def _replace(module: nn.Module, group_size: int, group: dist.ProcessGroup | None) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and \
                not isinstance(child, GroupedBatchNorm):
            new = GroupedBatchNorm(child.num_features, group_size=group_size, process_group=group,
                                   eps=child.eps, momentum=child.momentum, affine=child.affine)
            new.load_state_dict(child.state_dict())
            new.to(device=child.running_mean.device)
            new.train(child.training)
            setattr(module, name, new)
        else:
            _replace(child, group_size, group)
