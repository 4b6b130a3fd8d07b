"""The multi-process drills again with ``nodes=2, tasks_per_node=1`` on the two-node cluster
(scripts/slurm/start-two-node-cluster.sh): one rank per SLURM node, so the nodelist parsing,
``MASTER_ADDR`` taken from the first node and the rendezvous across nodes are on the path.

- a 2-node ``pretrain`` and ``finetune_ava`` equal their 1-node, 1-task runs with the same
  global batch (8 clips) and BN group, within the tolerances of the one-node drills;
- a 2-node job preempted by a ``high`` job that takes one of its nodes: both ranks stop at one
  step, rank 0 writes that checkpoint, SLURM requeues the job, it resumes on both nodes and
  ends equal (bit for bit) to an uninterrupted 2-node run.

The orchestrator plans the jobs (``cluster=slurm cluster.nodes=2 cluster.tasks_per_node=1
scale.batch_size=4``) and its ``SlurmExecutor`` submits them; the helpers are the one-node
drills' (tests/jobs/test_jobs_ddp_slurm.py).
"""
from __future__ import annotations

import pytest

from tests.fixtures_slurm import wait_for_record
from tests.jobs.demo_setup import write_run_dir
from tests.jobs.test_jobs_ddp_slurm import (
    EQUAL_ITERS, ONE_TASK, Submitter, _assert_equal_to_reference, _demo_config, _rank_log,
    _wait_for_result, assert_preempted_once_and_resumed, run_one_and_two_and_compare,
    submit_and_preempt_at_step_5,
)

pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.integration]

TWO_NODES = ("cluster=slurm", "cluster.nodes=2", "cluster.tasks_per_node=1", "scale.batch_size=4")


@pytest.fixture
def submitter(two_node_slurm, monkeypatch):
    submitter = Submitter(monkeypatch)
    yield submitter
    submitter.cleanup()


def _whole_nodes(config: dict, cpus: int) -> dict:
    """A job that fills every CPU of its nodes, so a `high` job needing one node preempts it."""
    config["resources"]["cpus_per_task"] = cpus
    return config


def _assert_spans_both_nodes(job_id: str, cluster) -> None:
    first, second = cluster.nodes
    # sacct may list only the batch host for a moment after the end (docs/slurm.md).
    record = wait_for_record(job_id, lambda r: "[" in (r.node or "") or "," in (r.node or ""), 30)
    assert record.node in (f"{first.rsplit('-', 1)[0]}-n[1-2]", f"{first},{second}"), record


@pytest.mark.parametrize("kind", ["pretrain", "finetune_ava"])
def test_two_nodes_equal_one_task_with_the_same_global_batch_and_bn_groups(
        kind, submitter, two_node_slurm, tmp_path, kinetics_root, ava_root):
    data_root = kinetics_root if kind == "pretrain" else ava_root
    one = _demo_config(kind, ONE_TASK, data_root, tmp_path, iters=EQUAL_ITERS)
    two = _demo_config(kind, TWO_NODES, data_root, tmp_path, iters=EQUAL_ITERS)
    assert (two["resources"]["nodes"], two["resources"]["tasks_per_node"]) == (2, 1)
    assert (one["data"]["batch_size"], two["data"]["batch_size"]) == (8, 4)
    assert one["schedule"]["global_batch"] == two["schedule"]["global_batch"] == 8
    runs, ids = run_one_and_two_and_compare(kind, one, two, submitter, tmp_path, 300)
    _assert_spans_both_nodes(ids["two"], two_node_slurm)
    assert "global_rank=1(2)" in _rank_log(runs["two"], 1)


def test_a_preempted_two_node_job_stops_both_ranks_at_one_step_and_resumes_equal(
        submitter, two_node_slurm, tmp_path, kinetics_root):
    config = _whole_nodes(_demo_config("pretrain", TWO_NODES, kinetics_root, tmp_path), two_node_slurm.cpus)
    reference = {"config": config, "run_dir": write_run_dir(tmp_path / "reference", config)}
    _wait_for_result(reference["run_dir"], submitter.submit("pretrain", reference["run_dir"]), 300)

    run_dir = write_run_dir(tmp_path / "preempted", config)
    job_id, result = submit_and_preempt_at_step_5(submitter, two_node_slurm, run_dir, tmp_path, 300)
    assert_preempted_once_and_resumed(run_dir, job_id, result)
    _assert_spans_both_nodes(job_id, two_node_slurm)
    _assert_equal_to_reference(run_dir, reference)
