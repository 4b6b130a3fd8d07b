"""A job for the two-node cluster: where each of its tasks ran, and a gloo all_reduce across nodes.

``RendezvousProbe(run_dir)()`` runs once per task (submitit starts ``nodes x tasks_per_node``
copies). Each task sets up torch.distributed through ``model.engine.distributed.init_distributed``
(submitit's environment -> MASTER_ADDR/RANK/WORLD_SIZE -> a gloo process group), all-reduces
``rank + 1``, gathers every task's node name, and writes ``rank_<r>.json`` into the run
directory. Registered with cloudpickle *by value*, so the node does not need this test folder
on its ``sys.path``.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import cloudpickle

cloudpickle.register_pickle_by_value(sys.modules[__name__])

PROBE_KIND = "two_node_probe"


class RendezvousProbe:
    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)

    def __call__(self) -> dict:
        import torch
        import torch.distributed as dist
        from submitit import JobEnvironment

        from model.engine.distributed import init_distributed

        context = init_distributed(torch.device("cpu"), timeout_s=60)
        total = torch.tensor([float(context.rank + 1)])
        dist.all_reduce(total)
        nodes_seen: list = [None] * context.world_size
        dist.all_gather_object(nodes_seen, os.environ["SLURMD_NODENAME"])
        # As a training job ends (jobs.ranks.RankGuard.finish): every rank meets once more and
        # the process group goes with the process.
        dist.barrier()
        master_addr = os.environ["MASTER_ADDR"]
        report = {
            "rank": context.rank,
            "world_size": context.world_size,
            "local_rank": context.local_rank,
            "node": os.environ["SLURMD_NODENAME"],
            "node_id": int(os.environ["SLURM_NODEID"]),
            "nodelist": os.environ["SLURM_JOB_NODELIST"],
            "hostnames": JobEnvironment().hostnames,
            "master_addr": master_addr,
            "master_port": int(os.environ["MASTER_PORT"]),
            "master_address": socket.gethostbyname(master_addr),
            "all_reduce_sum": total.item(),
            "nodes_seen": nodes_seen,
        }
        path = self.run_dir / f"rank_{context.rank}.json"
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(report))
        os.replace(tmp, path)
        return report
