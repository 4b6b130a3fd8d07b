"""What pretrain and finetune_ava share: config.yaml -> network, data, optimiser, schedule,
BN grouping, precision, distributed set-up -> ``model.engine.Trainer`` -> result."""
from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from jobs.config import JobConfig
from jobs.errors import BadConfigError
from jobs.inference import predict_ava, predict_kinetics
from jobs.network import architecture, build_network, init_backbone, pathways_of
from jobs.predictions import score_ava, score_kinetics
from jobs.ranks import RankGuard
from model.engine.batchnorm import group_batchnorm
from model.engine.checkpoint import CheckpointError, sha256_file
from model.engine.distributed import DistContext, init_distributed
from model.engine.optim import build_sgd
from model.engine.precision import Precision, describe_device, resolve_device
from model.engine.rng import derive_seed, seed_everything
from model.engine.schedules import LRSchedule
from model.engine.trainer import LoopSettings, Trainer

__all__ = ["ava_step", "build_trainer", "kinetics_step", "train"]

log = logging.getLogger("jobs")


def kinetics_step(model: nn.Module, batch: dict, precision: Precision) -> tuple[torch.Tensor, int]:
    """Softmax cross-entropy on the clip labels (the classifier has dropout 0.5 before it)."""
    logits = model([precision.prepare_input(x) for x in batch["inputs"]])
    labels = batch["label"].to(precision.device)
    return nn.functional.cross_entropy(logits.float(), labels), int(labels.numel())


def ava_step(model: nn.Module, batch: dict, precision: Precision) -> tuple[torch.Tensor, int]:
    """Per-class sigmoid cross-entropy over the boxes (multi-label, 80 classes); the mean is over
    the boxes, so the items counted are boxes (clips hold 1-3 people each)."""
    logits = model([precision.prepare_input(x) for x in batch["inputs"]],
                   batch["boxes"].to(precision.device))
    labels = batch["labels"].to(precision.device)
    loss = nn.functional.binary_cross_entropy_with_logits(logits.float(), labels)
    return loss, int(labels.shape[0])


def _evaluator(cfg: JobConfig, precision: Precision, pathways: str
               ) -> Callable[[nn.Module, int], dict[str, float]] | None:
    """In-training validation (``schedule.eval_every``): Kinetics single-view top-1/5 on val,
    AVA frame-mAP on val at the first test scale."""
    from model.data import build_dataset

    if int(cfg.get("schedule.eval_every", 0) or 0) <= 0:
        return None
    data = copy.deepcopy(cfg.section("data"))
    data.update(split="val", test_num_clips=1, test_num_crops=1)
    batch_size = int(data.get("batch_size", 8))
    cache: dict[str, Any] = {}

    def evaluate(model: nn.Module, step: int) -> dict[str, float]:
        if "dataset" not in cache:
            cache["dataset"] = build_dataset(data, mode="test", pathways=pathways)
        dataset = cache["dataset"]
        if data["dataset"] == "kinetics":
            _, probs, labels = predict_kinetics(model, dataset, precision, batch_size=batch_size)
            return score_kinetics(probs, labels) or {}
        detections = predict_ava(model, [dataset], precision, batch_size=batch_size)
        return score_ava(detections, data, "val")

    return evaluate


def schedule_section(cfg: JobConfig) -> dict[str, Any]:
    """``schedule:`` with its cut points resolved. A train+val run under the report's plateau
    rule (``schedule.steps_from: {input, factor}``) cuts where its train run cut: the
    ``lr_cuts`` of that run's result.json, scaled by ``factor`` (the length ratio, 1.5x)."""
    import json

    schedule = dict(cfg.section("schedule"))
    source = schedule.pop("steps_from", None)
    if not source:
        return schedule
    role = str(source["input"])
    path = Path(str(cfg.require(f"inputs.{role}")))
    try:
        cuts = json.loads(path.read_text())["lr_cuts"]
    except (OSError, ValueError, KeyError) as exc:
        raise BadConfigError(f"{cfg.path}: inputs.{role} {path} gives no 'lr_cuts' (the cut points of the "
                             f"train run this schedule follows): {exc!r}") from None
    schedule["steps"] = [int(round(int(cut) * float(source["factor"]))) for cut in cuts]
    return schedule


def set_cpu_threads(cfg: JobConfig, device: torch.device) -> None:
    """On the CPU, use the cores SLURM gave the task (``resources.cpus_per_task``), no more:
    oversubscribed cores slow every job on the node, and with one thread results are
    bit-reproducible."""
    cpus = cfg.get("resources.cpus_per_task")
    if device.type == "cpu" and cpus:
        torch.set_num_threads(int(cpus))


def build_trainer(cfg: JobConfig, run_dir: Path, *, init_checkpoint: str | None,
                  attempt: int | None = None) -> Trainer:
    from model.data import ResumableDistributedSampler, ava_collate, build_dataset, kinetics_collate

    task = str(cfg.require("model.task"))
    if task not in ("kinetics", "ava"):
        raise BadConfigError(f"{cfg.path}: field 'model.task' must be kinetics or ava, got {task!r}")
    device = resolve_device(str(cfg.get("job.device", "auto")))
    set_cpu_threads(cfg, device)
    dist_ctx: DistContext = init_distributed(device)
    if device.type == "cuda":
        device = torch.device("cuda", dist_ctx.local_rank)
    pathways = pathways_of(cfg)
    schedule_cfg = schedule_section(cfg)
    data_cfg = cfg.section("data")
    batch_size = int(cfg.require("data.batch_size"))

    # The initial weights are a function of the job's seed: a run restarted before its first
    # checkpoint, or re-run, starts from the same point.
    seed_everything(derive_seed(cfg.seed, 0x5EED))
    model = build_network(cfg)
    if init_checkpoint:
        skipped = init_backbone(model, init_checkpoint)
        log.info("backbone initialised from %s (head re-initialised: %d tensors skipped)",
                 init_checkpoint, len(skipped))
    group_batchnorm(model, group_size=int(schedule_cfg.get("bn_group_size", 8)),
                    per_process_batch=batch_size)
    precision = Precision(device, str(cfg.get("job.precision", "auto")),
                          channels_last=device.type == "cuda",
                          compile=bool(cfg.get("job.compile", False)))
    model = precision.prepare_model(model)
    schedule = LRSchedule.from_config(schedule_cfg)
    optimizer = build_sgd(model, lr=schedule.lr_at(0),
                          momentum=float(schedule_cfg.get("momentum", 0.9)),
                          weight_decay=float(cfg.require("schedule.weight_decay")))
    dataset = build_dataset(data_cfg, mode="train", pathways=pathways, seed=cfg.seed)
    sampler = ResumableDistributedSampler(dataset, num_replicas=dist_ctx.world_size,
                                          rank=dist_ctx.rank, seed=cfg.seed, shuffle=True)
    settings = LoopSettings(
        max_iters=int(cfg.require("schedule.max_iters")), per_process_batch=batch_size,
        global_batch=int(schedule_cfg.get("global_batch") or batch_size * dist_ctx.world_size),
        checkpoint_every=int(schedule_cfg.get("checkpoint_every") or 1000),
        eval_every=int(schedule_cfg.get("eval_every") or 0),
        log_every=int(cfg.get("job.log_every", 10)), keep_checkpoints=int(cfg.get("job.keep_checkpoints", 3)),
        seed=cfg.seed, num_workers=int(data_cfg.get("num_workers", 0)))
    return Trainer(model=model, optimizer=optimizer, schedule=schedule, dataset=dataset,
                   step_fn=kinetics_step if task == "kinetics" else ava_step,
                   settings=settings, run_dir=run_dir, precision=precision, dist_ctx=dist_ctx,
                   collate_fn=kinetics_collate if task == "kinetics" else ava_collate,
                   sampler=sampler, evaluate=_evaluator(cfg, precision, pathways),
                   extra_state={"arch": architecture(cfg), "config": cfg.raw}, attempt=attempt)


def train(job: Any, cfg: JobConfig, *, init_checkpoint: str | None) -> dict[str, Any]:
    """Run (or resume) the training of ``job``'s run directory; returns result.json's content."""
    if init_checkpoint and not Path(init_checkpoint).is_file():
        raise CheckpointError(f"inputs.init_checkpoint {init_checkpoint} does not exist")
    # Provenance, hashed before the weights are read: the exact file the backbone came from (a
    # K700 run names its K600 checkpoint, an AVA fine-tune its Kinetics one), comparable with
    # that file's .sha256.
    init_sha256 = sha256_file(Path(init_checkpoint)) if init_checkpoint else None
    trainer = build_trainer(cfg, job.run_dir, init_checkpoint=init_checkpoint,
                            attempt=getattr(job, "_attempt", None))
    job._trainer = trainer
    job._total_steps = trainer.s.max_iters
    if trainer.dist.distributed:
        guard = RankGuard(run_dir=job.run_dir, trainer=trainer, attempt=trainer.metrics.attempt,
                          interval_s=float(cfg.get("job.rank_heartbeat_s", 1.0)),
                          timeout_s=float(cfg.get("job.rank_timeout_s", 60.0)))
        job._ranks = guard
        with guard:
            final_eval = trainer.run()
        if trainer.stopped_at is not None:
            guard.hand_over_preemption()  # exits (rank 0 through submitit's requeue)
        guard.finish()
    else:
        final_eval = trainer.run()
    checkpoint = trainer.checkpoints.path_for(trainer.step)
    result: dict[str, Any] = {"kind": job.kind, "step": trainer.step,
                              "checkpoint": str(checkpoint.relative_to(job.run_dir)),
                              "metrics": final_eval,
                              # The step this process resumed from (0: it started fresh): a job
                              # requeued by the scheduler shows here that it did not start over.
                              "resumed_from_step": trainer.resumed_from_step,
                              "device": describe_device(trainer.precision.device),
                              "world_size": trainer.dist.world_size}
    if init_checkpoint:
        result["init_checkpoint"] = {"path": str(init_checkpoint), "sha256": init_sha256}
    if trainer.plateau is not None:  # where the report's rule cut: a train+val run follows them
        result["lr_cuts"] = list(trainer.plateau.cuts)
    return result
