"""From config.yaml's ``model:``/``data:`` sections to a network, and from upstream checkpoints
to its initial weights. A thin adapter over ``model.nets`` that turns its errors into
``BadConfigError`` naming the config field."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from jobs.config import JobConfig
from jobs.errors import BadConfigError
from model.engine.checkpoint import load_checkpoint_file

__all__ = ["architecture", "build_network", "init_backbone", "load_full_weights", "pathways_of"]


def pathways_of(cfg: JobConfig) -> str:
    from model.nets import variant_spec
    name = str(cfg.require("model.name"))
    try:
        return variant_spec(name).pathways
    except ValueError as exc:
        raise BadConfigError(f"{cfg.path}: field 'model.name': {exc}") from exc


def architecture(cfg: JobConfig) -> dict[str, Any]:
    """What a checkpoint must match to be loaded into this job's network."""
    return {"name": str(cfg.require("model.name")), "task": str(cfg.require("model.task")),
            "num_classes": int(cfg.require("model.num_classes")),
            "nl_context": bool(cfg.spec.model.nl_context)}


def build_network(cfg: JobConfig) -> nn.Module:
    from model.nets import build
    arch = architecture(cfg)
    try:
        return build(arch["name"], task=arch["task"], num_classes=arch["num_classes"],
                     nl_context=arch["nl_context"], dropout=float(cfg.spec.model.dropout),
                     num_frames=int(cfg.require("data.num_frames")),
                     alpha=int(cfg.require("data.alpha")))
    except ValueError as exc:
        raise BadConfigError(f"{cfg.path}: section 'model': {exc}") from exc


def _model_state(path: Path) -> dict[str, torch.Tensor]:
    state = load_checkpoint_file(path)
    weights = state.get("model", state)
    if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor)
                                                for v in weights.values()):
        raise BadConfigError(f"checkpoint {path} holds no model state dict")
    return weights


def init_backbone(model: nn.Module, path: str | Path) -> list[str]:
    """Initialise the backbone from a classification checkpoint; the head keeps its fresh
    initialisation (new class count for K700, the AVA head for detection)."""
    from model.nets import load_backbone_from_classification
    return load_backbone_from_classification(model, _model_state(Path(path)))


def load_full_weights(model: nn.Module, path: str | Path) -> None:
    """Load a checkpoint of exactly this architecture (evaluation)."""
    from model.nets import CheckpointMismatchError
    weights = _model_state(Path(path))
    problem = _first_mismatch(model.state_dict(), weights)
    if problem is not None:
        key, what = problem
        raise CheckpointMismatchError(
            f"checkpoint {path} does not match this network: key {key!r} {what}; another variant, "
            "task or class count?", key=key)
    model.load_state_dict(weights, strict=True)


def _first_mismatch(expected: dict[str, torch.Tensor], given: dict[str, torch.Tensor]) -> tuple[str, str] | None:
    """The first key (in the network's order) that is missing or of another shape, else the
    first unexpected one: torch's own message lists them all over many lines."""
    for key, tensor in expected.items():
        if key not in given:
            return key, "is missing from the checkpoint"
        if tuple(given[key].shape) != tuple(tensor.shape):
            return key, f"has shape {tuple(given[key].shape)} in the checkpoint, {tuple(tensor.shape)} in the network"
    unexpected = [key for key in given if key not in expected]
    return (unexpected[0], "is not in the network") if unexpected else None
