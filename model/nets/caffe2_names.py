"""PySlowFast's Caffe2 model-zoo checkpoints (.pkl): safe reading and blob-name translation.

The released SlowFast R101 weights exist as Caffe2 blob dictionaries pickled by Python 2,
{"blobs": {"res4_3_branch2a_w": ndarray, ...}}. Blob names follow Detectron-style rules:
`[t_]res{stage}_{block}_branch{1|2a|2b|2c}[_bn]_{w|b|s|rm|riv}` ("t_" marks the Fast
pathway), `[t_]conv1_w` / `[t_]res_conv1_bn_*` for the stem, `t_pool1_subsample*` and
`t_res{stage}_{last}_branch2c_bn_subsample*` for the laterals after pool1 / that stage,
`nonlocal_conv{stage}_{block}_{theta|phi|g|out|bn}_*`, and `pred_{w|b}` for the classifier.
They translate here to PySlowFast's PyTorch names; `model.nets.convert` maps those to ours.

Unpickling runs no code but NumPy's array reconstruction: any other global in the file is
refused (the same guarantee as `torch.load(weights_only=True)`).
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from model.nets.errors import CheckpointMismatchError

__all__ = ["caffe2_to_pyslowfast", "read_caffe2_blobs", "OPTIMIZER_BLOB"]

OPTIMIZER_BLOB = re.compile(r"(_momentum$|^lr$|^model_iter$)")
_SUFFIX = {"w": "weight", "b": "bias", "s": "weight", "rm": "running_mean", "riv": "running_var"}
_BN = r"bn_(s|b|rm|riv)"

def _pathway(fast_prefix: str | None) -> str:
    return "1" if fast_prefix else "0"


_RULES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [(re.compile(p), t) for p, t in [
    (rf"^(t_)?res_conv1_{_BN}$", lambda m: f"s1.pathway{_pathway(m[1])}_stem.bn.{_SUFFIX[m[2]]}"),
    (r"^(t_)?conv1_w$", lambda m: f"s1.pathway{_pathway(m[1])}_stem.conv.weight"),
    (rf"^t_pool1_subsample_{_BN}$", lambda m: f"s1_fuse.bn.{_SUFFIX[m[1]]}"),
    (r"^t_pool1_subsample_w$", lambda m: "s1_fuse.conv_f2s.weight"),
    (rf"^t_res(\d)_\d+_branch2c_bn_subsample_{_BN}$", lambda m: f"s{m[1]}_fuse.bn.{_SUFFIX[m[2]]}"),
    (r"^t_res(\d)_\d+_branch2c_bn_subsample_w$", lambda m: f"s{m[1]}_fuse.conv_f2s.weight"),
    (rf"^(t_)?res(\d)_(\d+)_branch2([abc])_{_BN}$",
     lambda m: f"s{m[2]}.pathway{_pathway(m[1])}_res{m[3]}.branch2.{m[4]}_bn.{_SUFFIX[m[5]]}"),
    (r"^(t_)?res(\d)_(\d+)_branch2([abc])_w$",
     lambda m: f"s{m[2]}.pathway{_pathway(m[1])}_res{m[3]}.branch2.{m[4]}.weight"),
    (rf"^(t_)?res(\d)_(\d+)_branch1_{_BN}$",
     lambda m: f"s{m[2]}.pathway{_pathway(m[1])}_res{m[3]}.branch1_bn.{_SUFFIX[m[4]]}"),
    (r"^(t_)?res(\d)_(\d+)_branch1_w$", lambda m: f"s{m[2]}.pathway{_pathway(m[1])}_res{m[3]}.branch1.weight"),
    (rf"^nonlocal_conv(\d)_(\d+)_{_BN}$", lambda m: f"s{m[1]}.pathway0_nonlocal{m[2]}.bn.{_SUFFIX[m[3]]}"),
    (r"^nonlocal_conv(\d)_(\d+)_(theta|phi|g|out)_(w|b)$",
     lambda m: f"s{m[1]}.pathway0_nonlocal{m[2]}.conv_{m[3]}.{_SUFFIX[m[4]]}"),
    (r"^pred_(w|b)$", lambda m: f"head.projection.{_SUFFIX[m[1]]}"),
]]


def caffe2_to_pyslowfast(name: str) -> str | None:
    """PySlowFast's PyTorch name of a Caffe2 blob, or None when no rule applies."""
    for pattern, target in _RULES:
        match = pattern.match(name)
        if match:
            return target(match)
    return None


class _ArraysOnly(pickle.Unpickler):
    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"), ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a weights file")
        return super().find_class(module, name)


def read_caffe2_blobs(path: str | Path) -> dict[str, torch.Tensor]:
    """The model blobs of a Caffe2 .pkl, named as PySlowFast's state dict (float32 tensors)."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            payload = _ArraysOnly(handle, encoding="latin1").load()
    except Exception as exc:
        raise CheckpointMismatchError(f"{path}: not a Caffe2 weights pickle: {exc}") from exc
    blobs = payload.get("blobs", payload) if isinstance(payload, dict) else None
    if not isinstance(blobs, dict):
        raise CheckpointMismatchError(f"{path}: no blob dictionary found")
    state: dict[str, torch.Tensor] = {}
    for name, value in blobs.items():
        if OPTIMIZER_BLOB.search(name):
            continue
        target = caffe2_to_pyslowfast(name)
        if target is None:
            raise CheckpointMismatchError(f"{path}: Caffe2 blob {name!r} has no counterpart", key=name)
        if not isinstance(value, np.ndarray):
            raise CheckpointMismatchError(f"{path}: blob {name!r} is not an array", key=name)
        state[target] = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
    return state
