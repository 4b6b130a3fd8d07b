"""What a planned experiment will cost: device-hours, wall time and disk, per job and in all.

The model is deliberately simple, so that a user can redo it by hand:

* **work** of a job = multiply-adds (MACs) it computes.
  - training (``pretrain``, ``finetune_ava``): ``max_iters x global_batch`` clips at the
    training crop, each counted 3 times (forward + backward, ``TRAIN_PASSES``); plus the
    in-training validation every ``eval_every`` iterations (one view per val video/keyframe);
  - ``evaluate``: every video (Kinetics: ``test_num_clips x test_num_crops`` square views at
    ``test_crop_size``) or keyframe (AVA: one full frame per test scale, short side the
    scale, long side ``frame_aspect`` times it, twice when flipped) of its split;
  - ``ensemble``, ``export``: averaging prediction files on a CPU, counted as nothing.
* **device-hours** = work / rate (``throughput.py``: measured where the GPU benchmark has the
  network, assumed otherwise), plus ``JOB_STARTUP_S`` of the whole allocation. GPU-hours for
  jobs given GPUs, CPU core-hours for the rest.
* **wall** of a job = ``JOB_STARTUP_S`` + work / rate / its devices (``nodes x gpus_per_node``
  GPUs, or ``cpus_per_task`` cores): perfect scaling, no data-loading stalls.
  **wall** of the programme = the DAG's critical path, or the job-wall sum spread over
  ``cluster.max_parallel`` slots when that is longer. Queueing is ignored: a job is assumed to
  start the moment its inputs exist.
* **disk** = checkpoints (parameters x 8 bytes: float32 weights + SGD momentum, times the
  checkpoints ``CheckpointStore`` keeps, 3 unless ``job.keep_checkpoints`` says otherwise)
  + predictions (rows x bytes per row of the files the jobs write).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from orchestrator.cost import network_costs
from orchestrator.cost.throughput import (DEFAULT_MEASUREMENTS, TRAIN_PASSES, CostInputError, DeviceRates,
                                          load_device_rates)
from orchestrator.planner.dag import Plan, PlannedJob

__all__ = ["JobEstimate", "PlanEstimate", "estimate_plan", "TRAINING_KINDS", "CHECKPOINTS_KEPT",
           "BYTES_PER_PARAMETER", "JOB_STARTUP_S"]

TRAINING_KINDS = ("pretrain", "finetune_ava")
# Seconds a job process spends before its first step and after its last: the interpreter,
# torch and the job's imports (2.9-3.8 s measured for `import jobs.evaluate, jobs.finetune_ava,
# model.data, pandas` on the 2-core demo machine), building the network, loading its input
# checkpoint, writing its results. An assumption; it matters only at demo scale.
JOB_STARTUP_S = 5.0
DEFAULT_GPU_TYPE = "H200"       # configs/cluster/*.yaml state theirs; this is for a cluster group without one
CHECKPOINTS_KEPT = 3            # model.engine.trainer.TrainerSettings.keep_checkpoints
BYTES_PER_PARAMETER = 4 + 4     # float32 weights + float32 SGD momentum buffer
AVA_CSV_ROW_BYTES = 53          # "<11-char id>,0902,0.123,0.456,0.789,0.987,12,0.123456\n"
AVA_CLASSES_WRITTEN = 80        # jobs.inference.predict_ava writes every class
KINETICS_NPZ_ROW_BYTES = 4 * 11 + 8  # video id (numpy U11) + label; probabilities are float64


@dataclass(frozen=True)
class JobEstimate:
    """One job's estimate. ``device_hours`` are GPU-hours when ``unit`` is "GPU-h", CPU
    core-hours when it is "core-h"."""

    job: str
    kind: str
    device: str          # the GPU type, or "cpu"
    devices: int         # GPUs (nodes x gpus_per_node) or CPU cores
    unit: str            # "GPU-h" | "core-h"
    macs: float          # multiply-adds the job computes (training passes included)
    device_hours: float
    wall_s: float
    disk_bytes: int
    rate_source: str     # "measured" | "assumed" | "" (no compute)
    work: str            # how the MACs were counted, for a reader to check
    timeout_min: int

    @property
    def requeues(self) -> int:
        """Time-limit requeues the job needs (each resumes from its latest checkpoint)."""
        return max(0, math.ceil(self.wall_s / 60 / self.timeout_min) - 1) if self.timeout_min else 0

    def to_record(self) -> dict[str, Any]:
        """What the database keeps beside the job (``jobs.estimate``), for ``status``."""
        return {"unit": self.unit, "device": self.device, "devices": self.devices,
                "device_hours": self.device_hours, "wall_s": self.wall_s, "disk_bytes": self.disk_bytes,
                "rate_source": self.rate_source}

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PlanEstimate:
    experiment: str
    gpu_type: str
    jobs: list[JobEstimate]
    critical_path: list[str]
    critical_path_s: float
    max_parallel: int

    @property
    def gpu_hours(self) -> float:
        return sum(job.device_hours for job in self.jobs if job.unit == "GPU-h")

    @property
    def core_hours(self) -> float:
        return sum(job.device_hours for job in self.jobs if job.unit == "core-h")

    @property
    def disk_bytes(self) -> int:
        return sum(job.disk_bytes for job in self.jobs)

    @property
    def slots_bound_s(self) -> float:
        """Every job's wall spread over ``cluster.max_parallel`` slots."""
        return sum(job.wall_s for job in self.jobs) / max(1, self.max_parallel)

    @property
    def wall_s(self) -> float:
        return max(self.critical_path_s, self.slots_bound_s)

    def by_name(self) -> dict[str, JobEstimate]:
        return {job.job: job for job in self.jobs}


# ---------------------------------------------------------------------------- inputs
class _Inputs:
    """The numbers a plan's config holds for the estimate, with the demo scale's overrides."""

    def __init__(self, plan: Plan) -> None:
        self.cfg = plan.config
        self.scale = plan.config.get("scale") or {}
        self.datasets: Mapping[str, Any] = plan.config.get("datasets") or {}

    def dataset_key(self, data: Mapping[str, Any]) -> str:
        for key, spec in self.datasets.items():
            if spec.get("dataset") == data["dataset"] and str(spec.get("version")) == str(data["version"]):
                return key
        raise CostInputError(f"no composed dataset has dataset={data['dataset']!r}, version={data['version']!r}")

    def split_items(self, data: Mapping[str, Any], split: str) -> int:
        """Videos (Kinetics) or keyframes (AVA) of one split: ``scale.split_sizes`` (the
        generated demo datasets), else ``datasets.<key>.<split>_videos|_segments``."""
        key = self.dataset_key(data)
        override = ((self.scale.get("split_sizes") or {}).get(key) or {}).get(split)
        if override is not None:
            return int(override)
        field = f"{split}_segments" if data["dataset"] == "ava" else f"{split}_videos"
        value = self.datasets[key].get(field)
        if value is None:
            raise CostInputError(f"datasets.{key}.{field} is not set: the cost estimate needs the size of "
                                 f"split {split!r} (configs/data/{key}.yaml)")
        return int(value)

    def frame_width(self, data: Mapping[str, Any], height: int) -> int:
        """Width of a full AVA frame whose short side is ``height`` (``frame_aspect``)."""
        aspect = self.scale.get("frame_aspect") or self.datasets[self.dataset_key(data)].get("frame_aspect") or 1.0
        return int(round(height * float(aspect)))

    def boxes_per_keyframe(self, data: Mapping[str, Any]) -> float:
        return float(self.datasets[self.dataset_key(data)].get("proposals_per_keyframe") or 1.0)


# ---------------------------------------------------------------------------- work
@dataclass
class _Work:
    train_macs: float = 0.0
    inference_macs: float = 0.0
    work: str = ""


def _network(job: PlannedJob) -> tuple[str, str, bool]:
    model = job.config["model"]
    return str(model["name"]), str(model["task"]), bool(model.get("nl_context", False))


def _eval_views(inputs: _Inputs, job: PlannedJob) -> list[tuple[int, int, int]]:
    """(height, width, count) of the views one evaluated video/keyframe costs."""
    data = job.config["data"]
    if data["dataset"] == "kinetics":
        size = int(data["test_crop_size"])
        return [(size, size, int(data["test_num_clips"]) * int(data["test_num_crops"]))]
    flips = 2 if data.get("tta_flip") else 1
    return [(int(s), inputs.frame_width(data, int(s)), flips) for s in data["tta_scales"]]


def _view_requests(inputs: _Inputs, job: PlannedJob) -> list[tuple[tuple[str, str, bool], int, int]]:
    network = _network(job)
    data = job.config["data"]
    views = [(height, width) for height, width, _ in _eval_views(inputs, job)]
    if job.kind in TRAINING_KINDS:
        crop = int(data["train_crop_size"])
        views = [(crop, crop), views[0]]
    return [(network, height, width) for height, width in views]


def _gmacs(macs: float) -> str:
    return f"{macs / 1e9:.1f}" if macs >= 1e10 else f"{macs / 1e9:.3g}"


def _job_work(inputs: _Inputs, job: PlannedJob) -> _Work:
    if job.kind not in (*TRAINING_KINDS, "evaluate"):
        return _Work(work="prediction files only, no network: start-up")
    variant, task, nl_context = _network(job)
    data = job.config["data"]
    views = _eval_views(inputs, job)
    if job.kind == "evaluate":
        items = inputs.split_items(data, str(data["split"]))
        per_item = sum(count * network_costs.macs_of_view(variant, task, h, w, nl_context) for h, w, count in views)
        shape = " + ".join(f"{count}x{h}x{w}" for h, w, count in views)
        return _Work(inference_macs=items * per_item,
                     work=f"{items} {'keyframes' if task == 'ava' else 'videos'} x ({shape}) views, "
                          f"{_gmacs(per_item)} GMACs each")
    schedule = job.config["schedule"]
    iters, batch = int(schedule["max_iters"]), int(schedule["global_batch"])
    crop = int(data["train_crop_size"])
    per_clip = network_costs.macs_of_view(variant, task, crop, crop, nl_context)
    work = _Work(train_macs=iters * batch * per_clip * TRAIN_PASSES,
                 work=f"{iters} its x {batch} clips x {_gmacs(per_clip)} GMACs x {TRAIN_PASSES}")
    eval_every = int(schedule.get("eval_every") or 0)
    if eval_every > 0 and iters >= eval_every:
        evaluations, items = iters // eval_every, inputs.split_items(data, "val")
        height, width, _ = views[0]
        work.inference_macs = evaluations * items * network_costs.macs_of_view(variant, task, height, width, nl_context)
        work.work += f"; {evaluations} val passes x {items}"
    return work


# ---------------------------------------------------------------------------- disk
def _checkpoint_bytes(job: PlannedJob) -> int:
    variant, task, nl_context = _network(job)
    schedule = job.config["schedule"]
    iters, every = int(schedule["max_iters"]), int(schedule.get("checkpoint_every") or 0)
    written = len(set(range(every, iters + 1, every)) | {iters}) if every > 0 else 1
    keep = int((job.config.get("job") or {}).get("keep_checkpoints") or CHECKPOINTS_KEPT)
    params = network_costs.parameters_of(variant, task, nl_context, int(job.config["model"]["num_classes"]))
    return params * BYTES_PER_PARAMETER * min(keep, written)


def _prediction_bytes(inputs: _Inputs, job: PlannedJob, num_classes: int) -> int:
    data = job.config["data"]
    items = inputs.split_items(data, str(data["split"]))
    if data["dataset"] == "ava":
        return int(items * inputs.boxes_per_keyframe(data) * AVA_CLASSES_WRITTEN * AVA_CSV_ROW_BYTES)
    return items * (num_classes * 8 + KINETICS_NPZ_ROW_BYTES)


def _disk_bytes(inputs: _Inputs, job: PlannedJob, plan_jobs: Mapping[str, PlannedJob]) -> int:
    if job.kind in TRAINING_KINDS:
        return _checkpoint_bytes(job)
    if job.kind == "evaluate":
        return _prediction_bytes(inputs, job, int(job.config["model"]["num_classes"]))
    # ensemble / export: one more predictions file of a member's shape (export: at most that)
    member = plan_jobs[job.dependencies[0]]
    while member.kind != "evaluate" and member.dependencies:
        member = plan_jobs[member.dependencies[0]]
    return _prediction_bytes(inputs, member, int(member.config["model"]["num_classes"]))


# ---------------------------------------------------------------------------- plan
def _critical_path(plan: Plan, walls: Mapping[str, float]) -> tuple[list[str], float]:
    """Longest chain of job walls through the DAG (plan order is topological)."""
    finish: dict[str, float] = {}
    previous: dict[str, str | None] = {}
    for job in plan.jobs:
        before = max(job.dependencies, key=lambda name: finish[name], default=None)
        finish[job.name] = (finish[before] if before else 0.0) + walls[job.name]
        previous[job.name] = before
    if not finish:
        return [], 0.0
    last: str | None = max(finish, key=lambda name: finish[name])
    end = finish[last]
    path = []
    while last is not None:
        path.append(last)
        last = previous[last]
    return path[::-1], end


def estimate_plan(plan: Plan, *, measurements: Path | None = DEFAULT_MEASUREMENTS,
                  rates: Mapping[str, DeviceRates] | None = None) -> PlanEstimate:
    """The estimate of every job of ``plan`` and of the programme.

    ``measurements``: the GPU benchmark file (``None``: assumed rates only). ``rates``: device
    name -> rates to use instead of loading them (tests; a CPU figure measured on the spot).
    """
    inputs = _Inputs(plan)
    cluster = plan.config.get("cluster") or {}
    gpu_type = str(cluster.get("gpu_type") or DEFAULT_GPU_TYPE)
    network_costs.prefetch(request for job in plan.jobs if job.kind in (*TRAINING_KINDS, "evaluate")
                           for request in _view_requests(inputs, job))
    loaded: dict[str, DeviceRates] = dict(rates or {})

    def device_rates(device: str) -> DeviceRates:
        if device not in loaded:
            loaded[device] = load_device_rates(device, network_costs.macs_of_view, measurements)
        return loaded[device]

    plan_jobs = plan.by_name()
    estimates = []
    for job in plan.jobs:
        resources = job.resources
        gpus = int(resources["nodes"]) * int(resources["gpus_per_node"])
        device, devices, unit = (gpu_type, gpus, "GPU-h") if gpus else ("cpu", int(resources["cpus_per_task"]), "core-h")
        work = _job_work(inputs, job)
        seconds, sources = 0.0, set()
        if work.train_macs or work.inference_macs:
            variant, task, _ = _network(job)
            for macs, training in ((work.train_macs, True), (work.inference_macs, False)):
                if macs:
                    rate = device_rates(device).rate(variant, task, training=training)
                    seconds += macs / rate.macs_per_s
                    sources.add(rate.source)
        devices = max(1, devices)
        device_hours = (seconds + JOB_STARTUP_S * devices) / 3600
        estimates.append(JobEstimate(
            job=job.name, kind=job.kind, device=device, devices=devices, unit=unit,
            macs=work.train_macs + work.inference_macs, device_hours=device_hours,
            wall_s=JOB_STARTUP_S + seconds / devices, disk_bytes=_disk_bytes(inputs, job, plan_jobs),
            rate_source="+".join(sorted(sources)), work=work.work, timeout_min=int(resources["timeout_min"])))
    path, path_s = _critical_path(plan, {estimate.job: estimate.wall_s for estimate in estimates})
    return PlanEstimate(experiment=plan.experiment, gpu_type=gpu_type, jobs=estimates, critical_path=path,
                        critical_path_s=path_s, max_parallel=int(cluster.get("max_parallel") or 1))
