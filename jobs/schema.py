"""The schema of a job's ``config.yaml``: Hydra structured configs, one per job kind.

The planner (``orchestrator.planner``) checks every config it writes against these classes, so
a missing or mistyped field fails the plan with the job and the field named; a job reads its
config through them (``jobs.config.load_job_config``) and gets typed values, the defaults of
the optional fields included, so no default is written in the jobs' code.

``MISSING`` marks what the planner always writes; a field with a default is one the planner
writes only in some plans (``None``: absent) or one a user or a test may add to a run's
config (``job.precision``, ``job.log_every``, ...). Sections (docs/architecture.md,
"config.yaml"): ``job``, ``model``, ``data``, ``schedule``, ``inputs``, ``resources``, and the
kind's own (``single_scale_of``, ``ensemble``, ``export``).

This module imports only OmegaConf and Hydra's ``ConfigStore`` (no torch): the orchestrator
imports it when it plans.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Union

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

__all__ = ["CONFIG_GROUP", "DataConf", "EnsembleConf", "EnsembleJobConfig", "EvaluateJobConfig",
           "ExportConf", "ExportJobConfig", "JobSection", "JobSpec", "KIND_SCHEMAS", "ModelConf", "PlateauConf",
           "PredictionDataConf", "ResourcesConf", "ScheduleConf", "SingleScaleConf", "StepsFromConf",
           "TrainingJobConfig", "schema_of"]


@dataclass
class JobSection:
    kind: str = MISSING                     # job kind: pretrain, finetune_ava, evaluate, ensemble, export
    name: str = MISSING                     # job name in the plan, e.g. finetune_ava.train.sf8x8
    experiment: str = MISSING               # experiment the job belongs to (names the export file)
    seed: int = MISSING                     # per-job seed, derived from (global seed, job name)
    device: str = MISSING                   # auto | cpu | cuda: decided on the compute node when auto
    precision: str = "auto"                 # autocast policy: auto (bf16 on CUDA, fp32 on CPU), fp32, fp16, bf16
    compile: bool = False                   # torch.compile the network (training only)
    log_every: int = 10                     # training steps between loss lines in metrics.jsonl
    keep_checkpoints: int = 3               # newest checkpoints kept (the final one always is)
    rank_heartbeat_s: float = 1.0           # seconds between the heartbeats of each process of a DDP job
    rank_timeout_s: float = 60.0            # a process silent this long is lost: the job fails naming it
    allow_random_init: bool = False         # finetune_ava without inputs.init_checkpoint (tests only)


@dataclass
class ModelConf:
    name: str = MISSING                     # model.nets variant, e.g. slowfast_16x8_r101_nl(_tiny)
    task: str = MISSING                     # kinetics (classification) or ava (detection head)
    num_classes: int = MISSING              # classifier outputs: the dataset's (80 for AVA training)
    dropout: float = MISSING                # dropout before the classifier (Sec. 3: 0.5)
    nl_context: bool = MISSING              # AVA non-local context branch (Sec. 2.1)


@dataclass
class DataConf:
    """The data of a job that reads clips (training and evaluation)."""

    dataset: str = MISSING                  # kinetics or ava
    version: str = MISSING                  # 600 / 700 (Kinetics), v2.2 (AVA)
    root: str = MISSING                     # dataset folder: official annotations + videos
    split: str = MISSING                    # train, trainval, val or test
    num_frames: int = MISSING               # T: Slow pathway frames (the model's instantiation)
    sampling_rate: int = MISSING            # tau: Slow pathway temporal stride in raw frames
    alpha: int = MISSING                    # Fast / Slow frame-rate ratio
    train_jitter_scales: list[int] = MISSING  # training short side range, [256, 340] or [256, 360]
    train_crop_size: int = MISSING          # training crop (224)
    test_crop_size: int = MISSING           # test short side and crop (256)
    test_num_clips: int = MISSING           # test clips per video (Kinetics 10; AVA 1, at the keyframe)
    test_num_crops: int = MISSING           # test crops per clip (Kinetics 3; AVA 1)
    proposal_score_thresh: float = MISSING  # AVA person proposals kept above this score (0.8)
    train_iou_thresh: float = MISSING       # AVA training boxes: IoU with a ground-truth box above this
    tta_scales: list[int] = MISSING         # AVA test short sides ("++": several)
    tta_flip: bool = MISSING                # AVA test also on the flipped frames ("++")
    batch_size: int = MISSING               # clips per process and step
    num_workers: int = MISSING              # decoding worker processes per training process
    generate_seed: Optional[int] = None     # demo: seed of the generated dataset under root
    train_jitter_scales_long: Optional[list[int]] = None  # Kinetics: jitter for T x tau > 64 (unset: the planner chose)
    bad_video_cap: float = 0.05             # Kinetics: fraction of undecodable videos tolerated
    class_list: Optional[str] = None        # Kinetics: class list file (default: the split CSV's labels)
    proposals: str = "coco"                 # AVA proposals format: coco (detection JSON) or csv
    label_map: Optional[str] = None         # AVA 80-class training map (a bare name: in <root>/annotations)
    labelmap: Optional[str] = None          # AVA 60-class evaluation map (scoring)
    timeline_start_s: int = 900             # AVA: the second of a movie its videos start at


@dataclass
class PredictionDataConf:
    """The data of a job that reads predictions (ensemble, export): where the labels live."""

    dataset: str = MISSING                  # kinetics or ava
    version: str = MISSING                  # 600 / 700 (Kinetics), v2.2 (AVA)
    root: str = MISSING                     # dataset folder: its annotations score and validate
    split: str = MISSING                    # val (scored) or test (exported)
    num_eval_classes: Optional[int] = None  # AVA: classes evaluated (60)
    labelmap: Optional[str] = None          # AVA 60-class evaluation map, in <root>/annotations


@dataclass
class PlateauConf:
    metric: str = MISSING                   # val metric watched, higher is better (frame_map)
    patience: int = MISSING                 # evaluations without improvement before a cut
    min_delta: float = MISSING              # improvement that counts
    max_cuts: int = MISSING                 # at most this many 10x cuts


@dataclass
class StepsFromConf:
    input: str = MISSING                    # inputs.<input> is the train run's result.json (its lr_cuts)
    factor: float = MISSING                 # cut points scaled by this (the length ratio, 1.5)


@dataclass
class ScheduleConf:
    name: str = MISSING                     # cosine (Kinetics), steps (AVA) or plateau (AVA, cuts in training)
    base_lr: float = MISSING                # learning rate after warm-up, linearly scaled to global_batch
    max_iters: int = MISSING                # training iterations (steps of global_batch clips)
    warmup_iters: int = MISSING             # linear warm-up length
    warmup_start_lr: float = MISSING        # learning rate at step 0
    steps: list[int] = MISSING              # steps schedule: iterations of the 10x cuts
    lr_decay: float = MISSING               # factor of each cut (0.1)
    momentum: float = MISSING               # SGD momentum (0.9)
    weight_decay: float = MISSING           # SGD weight decay (1e-4 Kinetics, 1e-7 AVA)
    bn_group_size: int = MISSING            # clips per batch-norm statistics group (8)
    global_batch: int = MISSING             # clips per optimiser step, over all processes
    checkpoint_every: int = MISSING         # steps between checkpoints
    eval_every: int = MISSING               # steps between in-training val evaluations (0: none)
    plateau: Optional[PlateauConf] = None   # plateau only: the report's "when validation error saturates" rule
    steps_from: Optional[StepsFromConf] = None  # train+val under plateau: cut where the train run cut


@dataclass
class ResourcesConf:
    nodes: int = MISSING                    # SLURM nodes
    gpus_per_node: int = MISSING            # GPUs per node (0: CPU)
    cpus_per_task: int = MISSING            # CPU cores per process (also torch's CPU threads)
    mem_gb: float = MISSING                 # memory per node
    timeout_min: int = MISSING              # time limit of one attempt
    tasks_per_node: Optional[int] = None    # training processes per node (unset: one per GPU, one on a CPU node)


@dataclass
class SingleScaleConf:
    member: str = MISSING                   # the "++" member evaluated again at one scale
    evaluation: str = MISSING               # its multi-scale evaluation job
    in_ensemble: bool = MISSING             # always false: a comparison, not a member


@dataclass
class EnsembleConf:
    members: list[str] = MISSING            # member names, the keys of inputs.predictions
    weights: Optional[dict[str, float]] = None  # per-member weights (null: the report's plain mean)
    metric: Optional[str] = None            # leaderboard metric (challenge_error for Kinetics-700)


@dataclass
class ExportConf:
    format: str = MISSING                   # ava_csv or kinetics_json
    members: list[str] = MISSING            # members whose provenance the manifest lists


@dataclass
class TrainingJobConfig:
    """``pretrain`` and ``finetune_ava``."""

    job: JobSection = field(default_factory=JobSection)  # what the job is and how it runs
    model: ModelConf = field(default_factory=ModelConf)  # the network trained
    data: DataConf = field(default_factory=DataConf)  # the clips read, their sizes and views
    schedule: ScheduleConf = field(default_factory=ScheduleConf)  # learning rate, optimiser, batch, checkpoints
    resources: ResourcesConf = field(default_factory=ResourcesConf)  # the allocation the executor asks for
    inputs: dict[str, Any] = field(default_factory=dict)  # init_checkpoint, lr_cuts: absolute paths


@dataclass
class EvaluateJobConfig:
    """``evaluate``: the schedule is the trained job's (it is part of what was evaluated)."""

    job: JobSection = field(default_factory=JobSection)  # what the job is and how it runs
    model: ModelConf = field(default_factory=ModelConf)  # the network evaluated
    data: DataConf = field(default_factory=DataConf)  # the clips read, their sizes and views
    schedule: Optional[ScheduleConf] = None  # the schedule the checkpoint was trained with
    resources: ResourcesConf = field(default_factory=ResourcesConf)  # the allocation the executor asks for
    single_scale_of: Optional[SingleScaleConf] = None  # set on the single-scale evaluation of a "++" member
    inputs: dict[str, Any] = field(default_factory=dict)  # checkpoint: absolute path


@dataclass
class EnsembleJobConfig:
    """``ensemble``: no model and no schedule of its own."""

    job: JobSection = field(default_factory=JobSection)  # what the job is and how it runs
    model: Optional[ModelConf] = None  # none: the job averages predictions
    data: PredictionDataConf = field(default_factory=PredictionDataConf)  # the split and its annotations
    schedule: Optional[ScheduleConf] = None  # none: nothing is trained
    ensemble: EnsembleConf = field(default_factory=EnsembleConf)  # the members averaged
    resources: ResourcesConf = field(default_factory=ResourcesConf)  # the allocation the executor asks for
    inputs: dict[str, Any] = field(default_factory=dict)  # predictions: {member: path}


@dataclass
class ExportJobConfig:
    """``export``: the ensemble's predictions and the members' (for the manifest)."""

    job: JobSection = field(default_factory=JobSection)  # what the job is and how it runs
    model: Optional[ModelConf] = None  # none: the job writes predictions out
    data: PredictionDataConf = field(default_factory=PredictionDataConf)  # the split and its annotations
    schedule: Optional[ScheduleConf] = None  # none: nothing is trained
    export: ExportConf = field(default_factory=ExportConf)  # the submission file written
    resources: ResourcesConf = field(default_factory=ResourcesConf)  # the allocation the executor asks for
    inputs: dict[str, Any] = field(default_factory=dict)  # predictions, member_predictions


#: The typed config of any kind (what ``jobs.config.JobConfig.spec`` holds).
JobSpec = Union[TrainingJobConfig, EvaluateJobConfig, EnsembleJobConfig, ExportJobConfig]

#: job kind -> the schema of its config.yaml
KIND_SCHEMAS: dict[str, type] = {"pretrain": TrainingJobConfig, "finetune_ava": TrainingJobConfig,
                                 "evaluate": EvaluateJobConfig, "ensemble": EnsembleJobConfig,
                                 "export": ExportJobConfig}
#: The ConfigStore group the schemas are registered in (``job_config/<kind>``).
CONFIG_GROUP = "job_config"


def schema_of(kind: Any) -> type | None:
    """The schema class of a job kind, or None for a kind that has none."""
    return KIND_SCHEMAS.get(kind) if isinstance(kind, str) else None


def _register() -> None:
    store = ConfigStore.instance()
    for kind, schema in KIND_SCHEMAS.items():
        store.store(group=CONFIG_GROUP, name=kind, node=schema)


_register()
