"""What pretrain and finetune_ava share: ``TrainingJob``, the job kind that trains, and the
way from config.yaml (typed by ``jobs.schema``) to a ``model.engine.Trainer``: network, data,
optimiser, schedule, BN grouping, precision, distributed set-up.

``TrainingJob`` keeps the trainer it runs (for submitit's ``checkpoint()`` on preemption), its
step count (for status.json) and, in a DDP job, its rank guard; its own ``train`` method sets
them, nothing outside the job does."""
from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any, Callable, ClassVar

import torch
from torch import nn

from jobs.base import RunDirJob
from jobs.config import JobConfig
from jobs.errors import BadConfigError
from jobs.network import architecture, build_network, init_backbone, pathways_of
from jobs.ranks import RankGuard
from model.engine.batchnorm import group_batchnorm
from model.engine.checkpoint import CheckpointError, sha256_file
from model.engine.distributed import DistContext, init_distributed
from model.engine.optim import build_sgd
from model.engine.precision import Precision, describe_device, resolve_device
from model.engine.rng import derive_seed, seed_everything
from model.engine.schedules import LRSchedule, stretched_steps
from model.engine.trainer import LoopSettings, Trainer

__all__ = ["TrainingJob", "ava_step", "build_trainer", "kinetics_step", "resolved_schedule",
           "use_frame_cache"]

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
    AVA frame-mAP on val at the first test scale. (Imported here: scoring needs pandas, which
    a training without in-training validation, every demo one, does not load.)"""
    from jobs.inference import predict_ava, predict_kinetics
    from jobs.predictions import score_ava, score_kinetics
    from model.data import build_dataset

    spec = cfg.spec
    if spec.schedule.eval_every <= 0:
        return None
    data = dataclasses.asdict(spec.data)
    data.update(split="val", test_num_clips=1, test_num_crops=1)
    batch_size = spec.data.batch_size
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


def resolved_schedule(cfg: JobConfig) -> Any:
    """``schedule:`` (a ``jobs.schema.ScheduleConf``) with its cut points resolved. A train+val
    run under the report's plateau rule (``schedule.steps_from: {input, factor}``) cuts where
    its train run cut: the ``lr_cuts`` of that run's result.json, scaled by ``factor`` (the
    length ratio, 1.5x)."""
    schedule = cfg.spec.schedule
    source = schedule.steps_from
    if source is None:
        return schedule
    role = source.input
    if cfg.spec.inputs.get(role) is None:
        raise BadConfigError(f"{cfg.path}: field 'inputs.{role}' is missing (schedule.steps_from names it)")
    path = Path(str(cfg.spec.inputs[role]))
    try:
        cuts = json.loads(path.read_text())["lr_cuts"]
    except (OSError, ValueError, KeyError) as exc:
        raise BadConfigError(f"{cfg.path}: inputs.{role} {path} gives no 'lr_cuts' (the cut points of the "
                             f"train run this schedule follows): {exc!r}") from None
    return dataclasses.replace(schedule, steps=stretched_steps(cuts, source.factor), steps_from=None)


def set_cpu_threads(cfg: JobConfig, device: torch.device) -> None:
    """On the CPU, use the cores SLURM gave the task (``resources.cpus_per_task``), no more:
    oversubscribed cores slow every job on the node, and with one thread results are
    bit-reproducible."""
    if device.type == "cpu":
        torch.set_num_threads(cfg.spec.resources.cpus_per_task)


def use_frame_cache(cfg: JobConfig) -> None:
    """Serve this process's clips from the decoded videos kept under
    ``<data.root>/.frame_cache`` (``model.data.clip_cache``): the jobs of a run that read the
    same small videos (the demo's ensemble members and their evaluations) decode each once.
    Videos too large to keep (every full-scale one) are decoded per clip, as without it."""
    from model.data.clip_cache import FrameCache, use_frame_cache as install

    install(FrameCache(Path(cfg.spec.data.root) / ".frame_cache"))


def build_trainer(cfg: JobConfig, run_dir: Path, *, init_checkpoint: str | None,
                  attempt: int | None = None) -> Trainer:
    from model.data import ResumableDistributedSampler, ava_collate, build_dataset, kinetics_collate

    spec = cfg.spec
    task = spec.model.task
    if task not in ("kinetics", "ava"):
        raise BadConfigError(f"{cfg.path}: field 'model.task' must be kinetics or ava, got {task!r}")
    schedule_cfg = resolved_schedule(cfg)
    for name in ("checkpoint_every", "global_batch"):
        if getattr(schedule_cfg, name) < 1:
            raise BadConfigError(f"{cfg.path}: field 'schedule.{name}' must be >= 1, got {getattr(schedule_cfg, name)}")
    device = resolve_device(spec.job.device)
    set_cpu_threads(cfg, device)
    dist_ctx: DistContext = init_distributed(device)
    if device.type == "cuda":
        device = torch.device("cuda", dist_ctx.local_rank)
    pathways = pathways_of(cfg)
    batch_size = spec.data.batch_size
    use_frame_cache(cfg)

    # The initial weights are a function of the job's seed: a run restarted before its first
    # checkpoint, or re-run, starts from the same point.
    seed_everything(derive_seed(spec.job.seed, 0x5EED))
    model = build_network(cfg)
    if init_checkpoint:
        skipped = init_backbone(model, init_checkpoint)
        log.info("backbone initialised from %s (head re-initialised: %d tensors skipped)",
                 init_checkpoint, len(skipped))
    group_batchnorm(model, group_size=schedule_cfg.bn_group_size, per_process_batch=batch_size)
    precision = Precision(device, spec.job.precision, channels_last=device.type == "cuda",
                          compile=spec.job.compile)
    model = precision.prepare_model(model)
    schedule = LRSchedule.from_config(dataclasses.asdict(schedule_cfg))
    optimizer = build_sgd(model, lr=schedule.lr_at(0), momentum=schedule_cfg.momentum,
                          weight_decay=schedule_cfg.weight_decay)
    dataset = build_dataset(dataclasses.asdict(spec.data), mode="train", pathways=pathways, seed=spec.job.seed)
    sampler = ResumableDistributedSampler(dataset, num_replicas=dist_ctx.world_size,
                                          rank=dist_ctx.rank, seed=spec.job.seed, shuffle=True)
    settings = LoopSettings(
        max_iters=schedule_cfg.max_iters, per_process_batch=batch_size,
        global_batch=schedule_cfg.global_batch, checkpoint_every=schedule_cfg.checkpoint_every,
        eval_every=schedule_cfg.eval_every, log_every=spec.job.log_every,
        keep_checkpoints=spec.job.keep_checkpoints, seed=spec.job.seed, num_workers=spec.data.num_workers)
    return Trainer(model=model, optimizer=optimizer, schedule=schedule, dataset=dataset,
                   step_fn=kinetics_step if task == "kinetics" else ava_step,
                   settings=settings, run_dir=run_dir, precision=precision, dist_ctx=dist_ctx,
                   collate_fn=kinetics_collate if task == "kinetics" else ava_collate,
                   sampler=sampler, evaluate=_evaluator(cfg, precision, pathways),
                   extra_state={"arch": architecture(cfg), "config": cfg.raw}, attempt=attempt)


class TrainingJob(RunDirJob):
    """A job kind that trains a network (``pretrain``, ``finetune_ava``): a submitit
    ``Checkpointable`` callable whose ``checkpoint()`` saves the running trainer's state.

    Subclasses set ``kind`` and ``task`` and say where the initial weights come from
    (``init_checkpoint``); ``train`` runs (or resumes) the training of the run directory.
    """

    #: ``model.task`` this kind trains: kinetics (classification) or ava (detection).
    task: ClassVar[str] = ""

    def run(self, cfg: JobConfig) -> dict[str, Any]:
        if cfg.spec.model.task != self.task:
            raise BadConfigError(f"{cfg.path}: field 'model.task' must be {self.task!r} for {self.kind}")
        return self.train(cfg, init_checkpoint=self.init_checkpoint(cfg))

    def init_checkpoint(self, cfg: JobConfig) -> str | None:
        """The checkpoint the network starts from (``inputs.init_checkpoint``), None: random."""
        init = cfg.spec.inputs.get("init_checkpoint")
        return str(init) if init else None

    def train(self, cfg: JobConfig, *, init_checkpoint: str | None) -> dict[str, Any]:
        """Run (or resume) the training of this run directory; returns result.json's content."""
        if init_checkpoint and not Path(init_checkpoint).is_file():
            raise CheckpointError(f"inputs.init_checkpoint {init_checkpoint} does not exist")
        # Provenance, hashed before the weights are read: the exact file the backbone came from
        # (a K700 run names its K600 checkpoint, an AVA fine-tune its Kinetics one), comparable
        # with that file's .sha256.
        init_sha256 = sha256_file(Path(init_checkpoint)) if init_checkpoint else None
        trainer = build_trainer(cfg, self.run_dir, init_checkpoint=init_checkpoint,
                                attempt=getattr(self, "_attempt", None))
        self._trainer, self._total_steps = trainer, trainer.s.max_iters
        if trainer.dist.distributed:
            final_eval = self._train_distributed(cfg, trainer)
        else:
            final_eval = trainer.run()
        return self._result(trainer, final_eval, init_checkpoint, init_sha256)

    def _train_distributed(self, cfg: JobConfig, trainer: Trainer) -> dict[str, float] | None:
        """Several processes: the rank guard makes them stop at one step and names a lost one."""
        guard = RankGuard(run_dir=self.run_dir, trainer=trainer, attempt=trainer.metrics.attempt,
                          interval_s=cfg.spec.job.rank_heartbeat_s, timeout_s=cfg.spec.job.rank_timeout_s)
        self._ranks = guard
        with guard:
            final_eval = trainer.run()
        if trainer.stopped_at is not None:
            guard.hand_over_preemption()  # exits (rank 0 through submitit's requeue)
        guard.finish()
        return final_eval

    def _result(self, trainer: Trainer, final_eval: dict[str, float] | None, init_checkpoint: str | None,
                init_sha256: str | None) -> dict[str, Any]:
        checkpoint = trainer.checkpoints.path_for(trainer.step)
        result: dict[str, Any] = {"kind": self.kind, "step": trainer.step,
                                  "checkpoint": str(checkpoint.relative_to(self.run_dir)),
                                  "metrics": final_eval,
                                  # The step this process resumed from (0: it started fresh): a
                                  # job requeued by the scheduler shows here that it did not
                                  # start over.
                                  "resumed_from_step": trainer.resumed_from_step,
                                  "device": describe_device(trainer.precision.device),
                                  "world_size": trainer.dist.world_size}
        if init_checkpoint:
            result["init_checkpoint"] = {"path": str(init_checkpoint), "sha256": init_sha256}
        if trainer.plateau is not None:  # where the report's rule cut: a train+val run follows them
            result["lr_cuts"] = list(trainer.plateau.cuts)
        return result
