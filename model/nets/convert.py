"""Weight converters: PySlowFast and PyTorchVideo checkpoints -> our state dicts.

    python -m model.nets.convert --source pyslowfast|pytorchvideo --variant NAME IN OUT \
        [--task kinetics|ava] [--num-classes N]

Conversion is strict: every source key is mapped to exactly one of ours or reported as
unmapped, every one of our keys must be filled, and shapes must agree; the first problem
raises `CheckpointMismatchError` naming the key. Non-model entries of a checkpoint file
(optimizer state, epoch, cfg) are ignored; the model state is taken from "model_state"
(PySlowFast .pyth), "state_dict" or "model" when present, after stripping a DDP "module."
prefix. Files are read with `torch.load(weights_only=True)`. PySlowFast's Caffe2 model-zoo
files (`.pkl`, {"blobs": {name: ndarray}}) are read with an unpickler that admits only NumPy
arrays, their blob names translated to PySlowFast's (`model.nets.caffe2_names`), optimizer
blobs (`*_momentum`, `lr`, `model_iter`) skipped. BN `num_batches_tracked` counters absent
from a source (Caffe2 has none) are set to 0.

`load_backbone_from_classification(model, state_dict)` is the AVA initialisation of the
report: a detector takes every backbone tensor of a Kinetics classifier (ours, already
converted) and keeps its freshly initialised head.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import nn

from contract.files import atomic_write
from model.nets.errors import CheckpointMismatchError

__all__ = ["SOURCES", "convert_state_dict", "convert_checkpoint", "load_backbone_from_classification",
           "read_checkpoint", "main"]

_LATERAL = {"1": "pool1", "2": "res2", "3": "res3", "4": "res4"}
_Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], str]]


def _rules(pairs: list[tuple[str, Callable[[re.Match[str]], str]]]) -> list[_Rule]:
    return [(re.compile(pattern), target) for pattern, target in pairs]


_BRANCH2 = {"a": "conv_a", "a_bn": "bn_a", "b": "conv_b", "b_bn": "bn_b", "c": "conv_c", "c_bn": "bn_c"}

# PySlowFast (video_model_builder.SlowFast / ResNet, also what its Caffe2 converter produces).
PYSLOWFAST_RULES = _rules([
    (r"^s1\.pathway(\d)_stem\.(conv|bn)\.(\w+)$", lambda m: f"backbone.stem.{m[1]}.{m[2]}.{m[3]}"),
    (r"^s([1-4])_fuse\.conv_f2s\.(\w+)$", lambda m: f"backbone.lateral.{_LATERAL[m[1]]}.conv.{m[2]}"),
    (r"^s([1-4])_fuse\.bn\.(\w+)$", lambda m: f"backbone.lateral.{_LATERAL[m[1]]}.bn.{m[2]}"),
    (r"^s([2-5])\.pathway(\d)_res(\d+)\.branch1\.(\w+)$",
     lambda m: f"backbone.res{m[1]}.{m[2]}.blocks.{m[3]}.shortcut_conv.{m[4]}"),
    (r"^s([2-5])\.pathway(\d)_res(\d+)\.branch1_bn\.(\w+)$",
     lambda m: f"backbone.res{m[1]}.{m[2]}.blocks.{m[3]}.shortcut_bn.{m[4]}"),
    (r"^s([2-5])\.pathway(\d)_res(\d+)\.branch2\.([abc](?:_bn)?)\.(\w+)$",
     lambda m: f"backbone.res{m[1]}.{m[2]}.blocks.{m[3]}.{_BRANCH2[m[4]]}.{m[5]}"),
    (r"^s([2-5])\.pathway(\d)_nonlocal(\d+)\.(?:conv_)?(theta|phi|g|out|bn)\.(\w+)$",
     lambda m: f"backbone.res{m[1]}.{m[2]}.nonlocal_blocks.{m[3]}.{m[4]}.{m[5]}"),
    (r"^head\.projection\.(\w+)$", lambda m: f"head.projection.{m[1]}"),
])

_PTV_BRANCH2 = {"conv_a": "conv_a", "norm_a": "bn_a", "conv_b": "conv_b", "norm_b": "bn_b",
                "conv_c": "conv_c", "norm_c": "bn_c"}

# PyTorchVideo create_slowfast: blocks.0 stems + fusion, blocks.1-4 res2-res5, last block head.
PYTORCHVIDEO_RULES = _rules([
    (r"^blocks\.0\.multipathway_blocks\.(\d)\.(conv|norm)\.(\w+)$",
     lambda m: f"backbone.stem.{m[1]}.{'conv' if m[2] == 'conv' else 'bn'}.{m[3]}"),
    (r"^blocks\.([0-3])\.multipathway_fusion\.(conv_fast_to_slow|norm)\.(\w+)$",
     lambda m: f"backbone.lateral.{_LATERAL[str(int(m[1]) + 1)]}."
               f"{'conv' if m[2] == 'conv_fast_to_slow' else 'bn'}.{m[3]}"),
    (r"^blocks\.([1-4])\.multipathway_blocks\.(\d)\.res_blocks\.(\d+)\.branch1_(conv|norm)\.(\w+)$",
     lambda m: f"backbone.res{int(m[1]) + 1}.{m[2]}.blocks.{m[3]}."
               f"{'shortcut_conv' if m[4] == 'conv' else 'shortcut_bn'}.{m[5]}"),
    (r"^blocks\.([1-4])\.multipathway_blocks\.(\d)\.res_blocks\.(\d+)\.branch2\.(conv_[abc]|norm_[abc])\.(\w+)$",
     lambda m: f"backbone.res{int(m[1]) + 1}.{m[2]}.blocks.{m[3]}.{_PTV_BRANCH2[m[4]]}.{m[5]}"),
    (r"^blocks\.\d+\.proj\.(\w+)$", lambda m: f"head.projection.{m[1]}"),
])

SOURCES: dict[str, list[_Rule]] = {"pyslowfast": PYSLOWFAST_RULES, "pytorchvideo": PYTORCHVIDEO_RULES}


def _target_name(key: str, rules: list[_Rule]) -> str | None:
    for pattern, target in rules:
        match = pattern.match(key)
        if match:
            return target(match)
    return None


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The model state dict inside a checkpoint file (see the module docstring)."""
    path = Path(path)
    if path.suffix == ".pkl":
        from model.nets.caffe2_names import read_caffe2_blobs

        return read_caffe2_blobs(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors come in many types
        from model.engine.checkpoint import describe_load_error

        raise CheckpointMismatchError(f"{path}: cannot be read as a PyTorch checkpoint: "
                                      f"{describe_load_error(exc)}") from exc
    if isinstance(payload, Mapping):
        for field in ("model_state", "state_dict", "model"):
            if field in payload and isinstance(payload[field], Mapping):
                payload = payload[field]
                break
    if not isinstance(payload, Mapping) or not all(isinstance(v, torch.Tensor) for v in payload.values()):
        raise CheckpointMismatchError(f"{path}: no state dict of tensors found")
    return {k.removeprefix("module."): v for k, v in payload.items()}


def convert_state_dict(source_state: Mapping[str, torch.Tensor], model: nn.Module, *,
                       source: str) -> dict[str, torch.Tensor]:
    """Map `source_state` (PySlowFast or PyTorchVideo naming) onto `model`'s keys, strictly.

    Returns a state dict that `model.load_state_dict(..., strict=True)` accepts. Raises
    `CheckpointMismatchError` for the first source key without a rule, the first mapped key
    the model lacks, the first shape mismatch, or the first model key left unfilled.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {sorted(SOURCES)}, got {source!r}")
    rules = SOURCES[source]
    ours = model.state_dict()
    converted: dict[str, torch.Tensor] = {}
    for key, tensor in source_state.items():
        target = _target_name(key, rules)
        if target is None:
            raise CheckpointMismatchError(f"{source} key {key!r} has no counterpart in our networks", key=key)
        if target not in ours:
            raise CheckpointMismatchError(
                f"{source} key {key!r} maps to {target!r}, which this model does not have "
                f"(another variant or task?)", key=key)
        if tuple(tensor.shape) != tuple(ours[target].shape):
            raise CheckpointMismatchError(
                f"{source} key {key!r} -> {target!r}: shape {tuple(tensor.shape)}, "
                f"expected {tuple(ours[target].shape)}", key=key)
        if target in converted:
            raise CheckpointMismatchError(f"{source} key {key!r} maps to {target!r} twice", key=key)
        converted[target] = tensor.to(ours[target].dtype)
    for key in ours:
        if key.endswith(".num_batches_tracked") and key not in converted:
            converted[key] = torch.zeros_like(ours[key], device="cpu")
    missing = [k for k in ours if k not in converted]
    if missing:
        raise CheckpointMismatchError(
            f"{len(missing)} keys of the model are not in the {source} checkpoint, first {missing[0]!r}",
            key=missing[0])
    return converted


def load_backbone_from_classification(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> list[str]:
    """Initialise `model` (e.g. an AVA detector) from a classifier's state dict (our naming).

    Every `backbone.*` tensor must be present with the same shape (the detector's dilated
    res5 has the classifier's shapes); head tensors are skipped and keep their
    initialisation. Returns the skipped source keys (the classifier's head).
    """
    ours = model.state_dict()
    backbone_keys = [k for k in ours if k.startswith("backbone.")]
    for key in backbone_keys:
        if key not in state_dict:
            raise CheckpointMismatchError(f"classification checkpoint lacks backbone key {key!r}", key=key)
        if tuple(state_dict[key].shape) != tuple(ours[key].shape):
            raise CheckpointMismatchError(
                f"backbone key {key!r}: shape {tuple(state_dict[key].shape)} in the checkpoint, "
                f"expected {tuple(ours[key].shape)}", key=key)
    unknown = [k for k in state_dict if not k.startswith(("backbone.", "head."))]
    if unknown:
        raise CheckpointMismatchError(f"checkpoint key {unknown[0]!r} is neither backbone nor head",
                                      key=unknown[0])
    with torch.no_grad():
        for key in backbone_keys:
            ours[key].copy_(state_dict[key])
    return sorted(k for k in state_dict if k.startswith("head."))


def convert_checkpoint(source: str, variant: str, in_path: str | os.PathLike[str],
                       out_path: str | os.PathLike[str], *, task: str = "kinetics",
                       num_classes: int | None = None) -> dict[str, torch.Tensor]:
    """Read `in_path`, convert for `build(variant, task=...)`, write `out_path` atomically."""
    from model.nets.build import build

    state = read_checkpoint(in_path)
    if num_classes is None:
        head = [k for k in state if _target_name(k, SOURCES.get(source, [])) == "head.projection.bias"]
        if not head:
            raise CheckpointMismatchError(f"{in_path}: no classifier bias found; pass num_classes")
        num_classes = int(state[head[0]].shape[0])
    with torch.device("meta"):
        model = build(variant, task=task, num_classes=num_classes)
    converted = convert_state_dict(state, model, source=source)
    atomic_write(out_path, lambda handle: torch.save(converted, handle))
    return converted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model.nets.convert", description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", required=True, choices=sorted(SOURCES))
    parser.add_argument("--variant", required=True)
    parser.add_argument("--task", default="kinetics", choices=("kinetics", "ava"))
    parser.add_argument("--num-classes", type=int, default=None)
    parser.add_argument("input")
    parser.add_argument("output")
    args = parser.parse_args(argv)
    try:
        converted = convert_checkpoint(args.source, args.variant, args.input, args.output,
                                       task=args.task, num_classes=args.num_classes)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.output}: {len(converted)} tensors for {args.variant} ({args.task})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
