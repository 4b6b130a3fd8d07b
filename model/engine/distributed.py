"""torch.distributed set-up from the scheduler's environment.

Where the rank/world come from, in order:
1. torchrun-style variables (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``,
   ``MASTER_PORT``) when they are set -- local multi-process runs and tests;
2. submitit's job environment on SLURM (``SLURM_JOB_ID`` set and submitit importable): one
   task per GPU, possibly over several nodes; ``TorchDistributedEnvironment.export`` writes
   the variables of 1.;
3. otherwise a single process, no process group.

Backend: NCCL on CUDA, gloo on the CPU.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["DistContext", "init_distributed"]


@dataclass(frozen=True)
class DistContext:
    """This process's place in the job: ``rank`` 0 is the one that writes files."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _from_submitit() -> bool:
    """Export submitit's SLURM job environment as torchrun variables; False if not on SLURM."""
    if "SLURM_JOB_ID" not in os.environ or "RANK" in os.environ:
        return False
    try:
        from submitit.helpers import TorchDistributedEnvironment
        TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
    except (ImportError, RuntimeError):
        # Not launched by submitit (e.g. an interactive srun): fall back to one process.
        return False
    return True


def init_distributed(device: torch.device, timeout_s: int = 1800) -> DistContext:
    """Initialise the default process group if the environment describes several processes."""
    _from_submitit()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend, init_method="env://", rank=rank,
                                world_size=world,
                                timeout=datetime.timedelta(seconds=timeout_s))
    return DistContext(rank=rank, world_size=world, local_rank=local_rank)
