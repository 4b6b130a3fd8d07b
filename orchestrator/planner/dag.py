"""Experiments -> DAGs of planned jobs (nothing is written here; see ``record.py``).

``ensemble_ava`` (Sec. 2 of the report)::

    pretrain.k600.<backbone>                      one per backbone, shared by its members
      -> finetune_ava.train.<member>              train split, the member's schedule
           -> evaluate.val.<member>               val, the member's test-time augmentation
           -> evaluate.val_single_scale.<member>  one "++" member again at one scale, no flip
                                                  (experiment.single_scale_of; not in the ensemble)
      -> finetune_ava.trainval.<member>           train+val, 1.5x the schedule
           -> evaluate.test.<member>              test inference, same augmentation
    evaluate.val.*  -> ensemble.val               mean of the members' scores: the leaderboard
    evaluate.test.* -> ensemble.test -> export.test   AVA test-server CSV + manifest

``kinetics_challenge`` (Sec. 3)::

    pretrain.k600.<backbone> -> pretrain.k700.<member> -> evaluate.{val,test}.<member> (30 views)
      -> ensemble.{val,test} -> export.test (Kinetics-700 JSON)

Inputs are declared as (upstream job, artefact path inside its run dir); they become absolute
paths only when the plan is recorded, because a reused upstream lives in another run dir.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from contract.files import canonical_json
from orchestrator.planner.config_types import check_config_types
from orchestrator.planner.resolve import Resolver

# input role -> (upstream job name, path relative to its run dir), or a dict of those.
InputRef = tuple[str, str]
InputSpec = dict[str, InputRef | dict[str, InputRef]]

#: Name prefix of the single-scale val evaluation of a "++" member (``experiment.single_scale_of``).
SINGLE_SCALE_PREFIX = "evaluate.val_single_scale."

# Keys that name places, not content: excluded from the content hash.
_UNHASHED_TOP_LEVEL = ("inputs", "resources")
_UNHASHED_JOB_KEYS = ("experiment", "name")


class PlanningError(ValueError):
    """The composed config does not describe a valid DAG (names the offending key)."""


@dataclass
class PlannedJob:
    name: str
    kind: str
    config: dict[str, Any]  # the config.yaml without ``inputs`` (filled when recorded)
    inputs: InputSpec = field(default_factory=dict)
    content_hash: str = ""

    @property
    def dependencies(self) -> list[str]:
        names: list[str] = []
        for ref in self.inputs.values():
            refs = ref.values() if isinstance(ref, dict) else [ref]
            names.extend(upstream for upstream, _ in refs if upstream not in names)
        return names

    @property
    def resources(self) -> dict[str, Any]:
        return self.config["resources"]


@dataclass
class Plan:
    experiment: str
    task: str
    scale: str
    runs_root: Path
    config: dict[str, Any]
    jobs: list[PlannedJob]

    def by_name(self) -> dict[str, PlannedJob]:
        return {job.name: job for job in self.jobs}


def content_hash(config: Mapping[str, Any], upstream_hashes: Mapping[str, str]) -> str:
    """sha256 of the config minus place-specific keys, plus the upstream jobs' hashes."""
    hashed = {key: value for key, value in config.items() if key not in _UNHASHED_TOP_LEVEL}
    hashed["job"] = {k: v for k, v in config["job"].items() if k not in _UNHASHED_JOB_KEYS}
    payload = {"config": hashed, "upstream": dict(sorted(upstream_hashes.items()))}
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def checkpoint_of(job: PlannedJob) -> str:
    """The final checkpoint a training job leaves: ``checkpoints/step_<max_iters>.pt``."""
    return f"checkpoints/step_{int(job.config['schedule']['max_iters']):06d}.pt"


def predictions_of(job: PlannedJob) -> str:
    split = job.config["data"]["split"]
    return f"predictions/{split}.csv" if job.config["data"]["dataset"] == "ava" else f"predictions/{split}.npz"


class DagBuilder:
    """Accumulates planned jobs in topological order (an upstream is always added first)."""

    def __init__(self, resolver: Resolver) -> None:
        self.r = resolver
        self.jobs: dict[str, PlannedJob] = {}

    def add(self, kind: str, name: str, *, model: dict | None, data: dict, schedule: dict | None,
            inputs: InputSpec | None = None, extra: dict | None = None) -> PlannedJob:
        if name in self.jobs:
            raise PlanningError(f"job name {name!r} planned twice")
        config = {"job": self.r.job_block(kind, name), "model": model, "data": data, "schedule": schedule,
                  **(extra or {}), "resources": self.r.resources(kind)}
        if schedule is not None:
            self._check_batch_split(name, config)
        _check_schema(name, config)
        job = PlannedJob(name=name, kind=kind, config=config, inputs=dict(inputs or {}))
        upstream = {}
        for role, ref in job.inputs.items():
            for key, (upstream_name, _) in (ref.items() if isinstance(ref, dict) else [("", ref)]):
                if upstream_name not in self.jobs:
                    raise PlanningError(f"{name}: input {role} needs {upstream_name!r}, not planned before it")
                upstream[f"{role}/{key}" if key else role] = self.jobs[upstream_name].content_hash
        job.content_hash = content_hash(config, upstream)
        self.jobs[name] = job
        return job

    def _check_batch_split(self, name: str, config: dict[str, Any]) -> None:
        """The global batch must be whole micro-batches on every process (the trainer's rule),
        refused here rather than on the cluster after a queue wait."""
        processes = self.r.processes(config["resources"])
        batch, global_batch = int(config["data"]["batch_size"]), int(config["schedule"]["global_batch"])
        if global_batch % (batch * processes):
            hint = (f"; set scale.batch_size={global_batch // processes}"
                    if global_batch % processes == 0 else "")
            raise PlanningError(f"{name}: schedule.global_batch={global_batch} is not a multiple of "
                                f"data.batch_size={batch} x {processes} processes (nodes x tasks per "
                                f"node){hint}")

    def pretrain_k600(self) -> dict[str, PlannedJob]:
        jobs = {}
        for backbone, spec in self.r.cfg["experiment"]["pretrain"].items():
            _require(self.r.cfg, ("models", spec["model"]), ("datasets", spec["dataset"]), ("schedules", spec["schedule"]))
            jobs[backbone] = self.add(
                "pretrain", f"pretrain.k600.{backbone}",
                model=self.r.model_block(spec["model"], "kinetics", spec["dataset"]),
                data=self.r.data_block(spec["model"], spec["dataset"], "train"),
                schedule=self.r.schedule_block(spec["schedule"], "kinetics"))
        return jobs

    def add_single_scale_evaluation(self, member: str, evaluation: PlannedJob, data: dict) -> PlannedJob:
        """``evaluate.val_single_scale.<member>``: the checkpoint ``evaluation`` reads, evaluated
        with ``data`` (the same split, the single test scale, no flip): Table 2's "SlowFast,
        16x8" beside "SlowFast++, 16x8". It feeds no ensemble; its ``single_scale_of`` block
        says so, and the leaderboards label the row from it."""
        return self.add("evaluate", f"{SINGLE_SCALE_PREFIX}{member}", model=evaluation.config["model"],
                        data=data, schedule=evaluation.config["schedule"], inputs=dict(evaluation.inputs),
                        extra={"single_scale_of": {"member": member, "evaluation": evaluation.name,
                                                   "in_ensemble": False}})

    def ensemble_and_export(self, split: str, evaluations: dict[str, PlannedJob], dataset_key: str,
                            export_format: str | None) -> None:
        data = self.r.cfg["datasets"][dataset_key]
        data_block = {"dataset": data["dataset"], "version": str(data["version"]),
                      "root": self.r.dataset_root(dataset_key), "split": split}
        for optional in ("num_eval_classes", "labelmap"):
            if optional in data:
                data_block[optional] = data[optional]
        weights = self.r.cfg["experiment"].get("ensemble_weights")
        ensemble = self.add("ensemble", f"ensemble.{split}", model=None, data=data_block, schedule=None,
                            inputs={"predictions": {m: (job.name, predictions_of(job)) for m, job in evaluations.items()}},
                            extra={"ensemble": {"members": list(evaluations), "weights": weights,
                                                "metric": self.r.cfg["experiment"].get("metric")}})
        if export_format:
            self.add("export", f"export.{split}", model=None, data=data_block, schedule=None,
                     inputs={"predictions": {"ensemble": (ensemble.name, predictions_of(ensemble))},
                             "member_predictions": {m: (job.name, predictions_of(job)) for m, job in evaluations.items()}},
                     extra={"export": {"format": export_format, "members": list(evaluations)}})


def _check_schema(name: str, config: Mapping[str, Any]) -> None:
    """The job's config.yaml against its kind's schema (``jobs.schema``), before it is hashed
    or written: a missing or mistyped field fails the plan naming the job and the field,
    not the job on the cluster. The config written is the planner's own mapping, unchanged."""
    from jobs.config import ConfigSchemaError, parse_job_config

    try:
        parse_job_config(config)
    except ConfigSchemaError as exc:
        raise PlanningError(f"{name}: config.yaml {exc}") from None


def _require(cfg: Mapping[str, Any], *paths: tuple[str, str]) -> None:
    for group, key in paths:
        if key not in cfg.get(group, {}):
            raise PlanningError(f"{group}.{key} is referenced by the experiment but not composed "
                                f"(add it to the experiment's defaults list)")


#: What a member's ``max_iters`` measures (``experiment.member_iters_split``): its run on train,
#: or its run on train+val (the report's "18k vs. 16k iterations", docs/fidelity.md).
MEMBER_ITERS_SPLITS = ("train", "trainval")


def member_length_factors(experiment: Mapping[str, Any], spec: Mapping[str, Any],
                          trainval_factor: float) -> dict[str, float]:
    """{split: factor applied to the member's stated length} for its train and train+val runs.

    A member without ``max_iters`` takes the recipe's length, which is the train run's (Sec. 2
    "We train for 12k iterations (58 epochs for ~211k data)"); a stated ``max_iters`` is the
    length of the split ``experiment.member_iters_split`` names, the other split's is derived
    with ``trainval_factor`` ("1.5x longer than when training on train only")."""
    iters_split = experiment.get("member_iters_split", "train")
    if iters_split not in MEMBER_ITERS_SPLITS:
        raise PlanningError(f"experiment.member_iters_split={iters_split!r}: expected one of "
                            f"{', '.join(MEMBER_ITERS_SPLITS)}")
    if spec.get("max_iters") is None or iters_split == "train":
        return {"train": 1.0, "trainval": trainval_factor}
    return {"train": 1.0 / trainval_factor, "trainval": 1.0}


def plateau_cuts_of(train_run: PlannedJob, schedule: dict[str, Any]) -> dict[str, Any]:
    """A train+val schedule under the plateau rule: train+val has no val split to watch, so it
    cuts where its train run cut (``result.json``'s ``lr_cuts``, read by the job), scaled by
    the ratio of the two lengths (1.5x)."""
    ratio = schedule["max_iters"] / train_run.config["schedule"]["max_iters"]
    fixed = {key: value for key, value in schedule.items() if key != "plateau"}
    return {**fixed, "name": "steps", "steps": [], "steps_from": {"input": "lr_cuts", "factor": ratio}}


def plan_ensemble_ava(b: DagBuilder) -> None:
    cfg = b.r.cfg
    experiment, schedule_key = cfg["experiment"], "ava"
    pretrained = b.pretrain_k600()
    trainval_factor = float(cfg["schedules"][schedule_key].get("trainval_factor", 1.5))
    val_split, test_split = experiment.get("val_split", "val"), experiment.get("test_split", "test")
    evaluations: dict[str, dict[str, PlannedJob]] = {val_split: {}, test_split: {}}
    for member, spec in experiment["members"].items():
        if spec["backbone"] not in pretrained:
            raise PlanningError(f"experiment.members.{member}.backbone={spec['backbone']!r} is not in experiment.pretrain")
        model_key = experiment["pretrain"][spec["backbone"]]["model"]
        model = b.r.model_block(model_key, "ava", "ava", nl_context=spec.get("nl_context"))
        factors = member_length_factors(experiment, spec, trainval_factor)
        train_run: PlannedJob | None = None
        for train_split, eval_split in (("train", val_split), ("trainval", test_split)):
            schedule = b.r.schedule_block(schedule_key, "ava", max_iters=spec.get("max_iters"),
                                          length_factor=factors[train_split])
            inputs: InputSpec = {"init_checkpoint": (pretrained[spec["backbone"]].name,
                                                     checkpoint_of(pretrained[spec["backbone"]]))}
            if schedule["name"] == "plateau":
                if train_split == "train" and schedule["eval_every"] <= 0:
                    raise PlanningError(f"schedules.{schedule_key}.lr_cuts=plateau cuts the learning rate when the "
                                        "val mAP stops improving: it needs in-training evaluation (set "
                                        "scale.eval_every or schedules.ava.eval_every > 0)")
                if train_split == "trainval" and train_run is not None:
                    schedule = plateau_cuts_of(train_run, schedule)
                    inputs["lr_cuts"] = (train_run.name, "result.json")
            # Test-time augmentation is given to the evaluation only, so that changing it
            # re-runs the evaluations, not the fine-tunes.
            common = dict(train_iou_thresh=spec.get("train_iou_thresh"), train_jitter_scales=spec.get("train_jitter_scales"))
            finetune = b.add("finetune_ava", f"finetune_ava.{train_split}.{member}", model=model,
                             data=b.r.data_block(model_key, "ava", train_split, **common), schedule=schedule,
                             inputs=inputs)
            if train_split == "train":
                train_run = finetune
            evaluations[eval_split][member] = b.add(
                "evaluate", f"evaluate.{eval_split}.{member}", model=model,
                data=b.r.data_block(model_key, "ava", eval_split, tta=spec.get("tta", "single"), **common),
                schedule=schedule,
                inputs={"checkpoint": (finetune.name, checkpoint_of(finetune))})
            if train_split == "train" and member == experiment.get("single_scale_of"):
                b.add_single_scale_evaluation(member, evaluations[eval_split][member],
                                              b.r.data_block(model_key, "ava", eval_split, tta="single", **common))
    single_scale_of = experiment.get("single_scale_of")
    if single_scale_of is not None and single_scale_of not in experiment["members"]:
        raise PlanningError(f"experiment.single_scale_of={single_scale_of!r} is not in experiment.members")
    b.ensemble_and_export(val_split, evaluations[val_split], "ava", None)
    b.ensemble_and_export(test_split, evaluations[test_split], "ava", "ava_csv")


def plan_kinetics_challenge(b: DagBuilder) -> None:
    experiment = b.r.cfg["experiment"]
    pretrained = b.pretrain_k600()
    val_split, test_split = experiment.get("val_split", "val"), experiment.get("test_split", "test")
    evaluations: dict[str, dict[str, PlannedJob]] = {val_split: {}, test_split: {}}
    dataset_key = None
    for member, spec in experiment["members"].items():
        if spec["backbone"] not in pretrained:
            raise PlanningError(f"experiment.members.{member}.backbone={spec['backbone']!r} is not in experiment.pretrain")
        model_key, dataset_key = experiment["pretrain"][spec["backbone"]]["model"], spec["dataset"]
        _require(b.r.cfg, ("datasets", dataset_key), ("schedules", spec["schedule"]))
        model = b.r.model_block(model_key, "kinetics", dataset_key)
        schedule = b.r.schedule_block(spec["schedule"], "kinetics")
        upstream = pretrained[spec["backbone"]]
        trained = b.add("pretrain", f"pretrain.k700.{member}", model=model,
                        data=b.r.data_block(model_key, dataset_key, "train"), schedule=schedule,
                        inputs={"init_checkpoint": (upstream.name, checkpoint_of(upstream))})
        for split in (val_split, test_split):
            evaluations[split][member] = b.add(
                "evaluate", f"evaluate.{split}.{member}", model=model,
                data=b.r.data_block(model_key, dataset_key, split), schedule=schedule,
                inputs={"checkpoint": (trained.name, checkpoint_of(trained))})
    if dataset_key is None:
        raise PlanningError("experiment.members is empty")
    b.ensemble_and_export(val_split, evaluations[val_split], dataset_key, None)
    b.ensemble_and_export(test_split, evaluations[test_split], dataset_key, "kinetics_json")


PLANNERS: dict[str, Callable[[DagBuilder], None]] = {"ava": plan_ensemble_ava, "kinetics": plan_kinetics_challenge}


def plan_experiment(cfg: Mapping[str, Any], runs_root: Path | None = None) -> Plan:
    """The DAG of a composed experiment (a resolved plain dict, see ``to_plain``).

    The fields a user overrides are type-checked first (``config_types``), so that a bad value
    is reported by name instead of failing somewhere in the resolver."""
    check_config_types(cfg)
    experiment = cfg["experiment"]
    task = experiment.get("task")
    if task not in PLANNERS:
        raise PlanningError(f"experiment.task={task!r}: expected one of {sorted(PLANNERS)}")
    root = Path(runs_root or cfg.get("runs_root") or "runs").absolute()
    builder = DagBuilder(Resolver(cfg, root))
    PLANNERS[task](builder)
    return Plan(experiment=experiment["name"], task=task, scale=str(cfg["scale"].get("name", "")),
                runs_root=root, config=dict(cfg), jobs=list(builder.jobs.values()))
