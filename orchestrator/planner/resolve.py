"""Resolve one job's config.yaml (JOBCONFIG contract) from the composed experiment.

The composed tree holds every number once (``models``, ``datasets``, ``schedules``, a
``scale`` and a ``cluster``); a job's config is that, selected for one member and one split,
then shrunk by the scale:

* ``model.name`` = variant + ``scale.model_suffix`` (``_tiny`` at demo scale);
* temporal sampling (``num_frames``, ``sampling_rate``, ``alpha``) comes from the model;
* pixel sizes are multiplied by ``scale.spatial_factor`` (rounded);
* iterations (max, warm-up) by ``scale.iters_factor[task]``, warm-up at least
  ``scale.min_warmup_iters``, after the 1.5x train+val stretch of the recipe's length
  (``model.engine.schedules.longer_schedule``); AVA step points are ``step_fractions`` of
  ``max_iters``;
* the training scale jitter is the dataset's short or long range by the clip's span
  (``model.engine.schedules.train_jitter_scales``, Sec. 3), unless the member states its own;
* the learning rate follows the linear scaling rule (Goyal et al., the report's [8]) when the
  scale's global batch is smaller than the recipe's: ``lr * global_batch / recipe_batch``
  (``model.engine.schedules.linear_lr_factor``), unless the scale states its own
  ``base_lr[task]`` (the demo does);
* resources are the scale's, overridden by any non-null ``cluster.<field>``; evaluation jobs
  take one node, ensembles and exports one CPU;
* ``tasks_per_node`` (processes per node of a training job, e.g. ``cluster.tasks_per_node=2``
  for a 2-process gloo run on a CPU node) is written only for the training kinds and only
  when set: unset, the executor starts one process per GPU (one on a CPU-only node).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Mapping

RESOURCE_FIELDS = ("nodes", "gpus_per_node", "cpus_per_task", "mem_gb", "timeout_min")
#: Kinds that run as several processes (DDP) when given several tasks per node.
MULTI_PROCESS_KINDS = ("pretrain", "finetune_ava")


def _scaled_px(value: int, factor: float) -> int:
    return max(8, int(round(value * factor)))


def job_seed(global_seed: int, job_name: str) -> int:
    """A per-job seed derived from (global seed, job name): stable across re-plans."""
    digest = hashlib.sha256(f"{global_seed}:{job_name}".encode()).hexdigest()
    return int(digest[:8], 16) % (2**31 - 1)


class Resolver:
    """Builds job config blocks from a composed config (a plain ``dict`` of it)."""

    def __init__(self, cfg: Mapping[str, Any], runs_root: Path) -> None:
        self.cfg = cfg
        self.scale = cfg["scale"]
        self.cluster = cfg.get("cluster", {})
        self.runs_root = runs_root
        self.experiment = cfg["experiment"]["name"]

    # ------------------------------------------------------------------ blocks
    def job_block(self, kind: str, name: str) -> dict[str, Any]:
        return {"kind": kind, "name": name, "experiment": self.experiment,
                "seed": job_seed(int(self.cfg.get("seed", 0)), name), "device": self.cfg.get("device", "auto")}

    def model_block(self, model_key: str, task: str, dataset_key: str, *, nl_context: bool | None = None) -> dict[str, Any]:
        model = self.cfg["models"][model_key]
        return {"name": f"{model['name']}{self.scale.get('model_suffix', '')}", "task": task,
                "num_classes": self.num_classes(dataset_key), "dropout": float(model["dropout"]),
                "nl_context": bool(model.get("nl_context", False) if nl_context is None else nl_context)}

    def num_classes(self, dataset_key: str) -> int:
        per_scale = self.scale.get("num_classes") or {}
        if dataset_key in per_scale:
            return int(per_scale[dataset_key])
        return int(self.cfg["datasets"][dataset_key]["num_classes"])

    def dataset_root(self, dataset_key: str) -> str:
        if self.scale.get("generate_data"):
            return str(self.runs_root / "data" / str(self.scale.get("name", "demo")) / dataset_key)
        return str(self.cfg["datasets"][dataset_key]["root"])

    def data_block(self, model_key: str, dataset_key: str, split: str, *, tta: str = "single",
                   train_iou_thresh: float | None = None, train_jitter_scales: list[int] | None = None) -> dict[str, Any]:
        from model.engine.schedules import train_jitter_scales as jitter_rule

        model, data = self.cfg["models"][model_key], self.cfg["datasets"][dataset_key]
        factor = float(self.scale.get("spatial_factor", 1.0))
        if train_jitter_scales is None:
            train_jitter_scales = jitter_rule(int(model["num_frames"]), int(model["sampling_rate"]),
                                              short=data["train_jitter_scales"], long=data["train_jitter_scales_long"])
        is_ava = data["dataset"] == "ava"
        plus = tta == "plus"
        tta_scales = (data.get("tta_scales_plus") if plus else data.get("tta_scales")) or [data["test_crop_size"]]
        block = {
            "dataset": data["dataset"], "version": str(data["version"]), "root": self.dataset_root(dataset_key),
            "split": split, "num_frames": int(model["num_frames"]), "sampling_rate": int(model["sampling_rate"]),
            "alpha": int(model["alpha"]),
            "train_jitter_scales": [_scaled_px(v, factor) for v in train_jitter_scales],
            "train_crop_size": _scaled_px(data["train_crop_size"], factor),
            "test_crop_size": _scaled_px(data["test_crop_size"], factor),
            "test_num_clips": int(data["test_num_clips"]), "test_num_crops": int(data["test_num_crops"]),
            "proposal_score_thresh": float(data.get("proposal_score_thresh", 0.8)),
            "train_iou_thresh": float(train_iou_thresh if train_iou_thresh is not None else data.get("train_iou_thresh", 0.9)),
            "tta_scales": [_scaled_px(v, factor) for v in tta_scales] if is_ava else [_scaled_px(data["test_crop_size"], factor)],
            "tta_flip": bool(data.get("tta_flip_plus") if plus else data.get("tta_flip", False)) if is_ava else False,
            "batch_size": int(self.scale.get("batch_size") or data["batch_size"]),
            "num_workers": int(self.scale["num_workers"] if self.scale.get("num_workers") is not None else data["num_workers"]),
        }
        if self.scale.get("generate_data"):
            block["generate_seed"] = int(self.scale.get("data_seed", 0))
        return block

    def schedule_block(self, schedule_key: str, task: str, *, max_iters: int | None = None,
                       length_factor: float = 1.0) -> dict[str, Any]:
        from model.engine.schedules import linear_lr_factor, longer_schedule

        recipe = self.cfg["schedules"][schedule_key]
        iters_factor = float((self.scale.get("iters_factor") or {}).get(task, 1.0))
        # The stretch (1.5x train+val) applies to the recipe's iterations, the report's; the
        # scale then shrinks the stretched schedule.
        length, recipe_steps = longer_schedule(max_iters or recipe["max_iters"], recipe.get("steps", []),
                                               length_factor)
        total = max(1, int(round(length * iters_factor)))
        warmup = int(round(recipe["warmup_iters"] * iters_factor))
        warmup = min(max(warmup, int(self.scale.get("min_warmup_iters", 0))), max(0, total - 1))
        recipe_batch = int(recipe["global_batch"])
        global_batch = int(self.scale.get("global_batch") or recipe_batch)
        lr_scale = linear_lr_factor(global_batch, recipe_batch)
        # A scale may state its own base LR per task (the demo's tiny twins do not move at the
        # linearly scaled 0.8 * 8 / 1024); the warm-up start keeps the recipe's ratio to it.
        lr_override = (self.scale.get("base_lr") or {}).get(task)
        if lr_override is not None:
            lr_scale = float(lr_override) / float(recipe["base_lr"])
        name = recipe["name"]
        if name == "steps":
            steps = [int(round(f * total)) for f in recipe.get("step_fractions", [])]
        else:
            steps = [int(round(s * iters_factor)) for s in recipe_steps]
        extra: dict[str, Any] = {}
        if name == "steps" and recipe.get("lr_cuts", "fixed") == "plateau":
            # Sec. 2 "when validation error saturates": cut points decided in training (see
            # configs/schedule/ava_steps.yaml); the planner gives train+val runs theirs.
            name, steps = "plateau", []
            extra["plateau"] = {key: recipe["plateau"][key] for key in ("metric", "patience", "min_delta", "max_cuts")}
        return {
            "name": name, "base_lr": float(recipe["base_lr"]) * lr_scale, "max_iters": total,
            "warmup_iters": warmup, "warmup_start_lr": float(recipe["warmup_start_lr"]) * lr_scale,
            "steps": steps, "lr_decay": float(recipe["lr_decay"]), "momentum": float(recipe["momentum"]),
            "weight_decay": float(recipe["weight_decay"]), "bn_group_size": int(recipe["bn_group_size"]),
            "global_batch": global_batch,
            "checkpoint_every": int(self.scale.get("checkpoint_every") or recipe["checkpoint_every"]),
            "eval_every": int(self.scale["eval_every"] if self.scale.get("eval_every") is not None else recipe["eval_every"]),
            **extra,
        }

    def resources(self, kind: str) -> dict[str, Any]:
        """The scale's allocation, cluster overrides on top; evaluation on one node, ensembles on a CPU."""
        values = {name: self.scale.get(name) for name in RESOURCE_FIELDS}
        for name in RESOURCE_FIELDS:
            if self.cluster.get(name) is not None:
                values[name] = self.cluster[name]
        defaults = {"nodes": 1, "gpus_per_node": 0, "cpus_per_task": 1, "mem_gb": 2, "timeout_min": 60}
        values = {name: (defaults[name] if value is None else value) for name, value in values.items()}
        if kind == "evaluate":
            values["nodes"] = 1
        elif kind in ("ensemble", "export"):
            values.update(nodes=1, gpus_per_node=0, cpus_per_task=min(int(values["cpus_per_task"]), 2),
                          mem_gb=min(values["mem_gb"], 16), timeout_min=min(int(values["timeout_min"]), 120))
        resources = {"nodes": int(values["nodes"]), "gpus_per_node": int(values["gpus_per_node"]),
                     "cpus_per_task": int(values["cpus_per_task"]), "mem_gb": values["mem_gb"],
                     "timeout_min": int(values["timeout_min"])}
        tasks = self.cluster.get("tasks_per_node")
        if tasks is None:
            tasks = self.scale.get("tasks_per_node")
        if tasks is not None and kind in MULTI_PROCESS_KINDS:
            resources["tasks_per_node"] = int(tasks)
        return resources

    @staticmethod
    def processes(resources: Mapping[str, Any]) -> int:
        """How many processes a job with these resources runs (the executors' rule)."""
        tasks = resources.get("tasks_per_node")
        per_node = int(tasks) if tasks is not None else max(1, int(resources.get("gpus_per_node") or 0))
        return int(resources["nodes"]) * per_node
