"""Parameters and FLOPs per view of a variant.

    python -m model.nets.info slowfast_8x8_r101_nl [--task kinetics|ava] [--size 256] [--json]

Convention: the papers' "GFLOPs" are giga multiply-adds (one multiply-add = one FLOP,
fvcore's count). `torch.utils.flop_counter.FlopCounterMode` counts 2 per multiply-add for
convolutions, matmuls and linears, so `gmacs_per_view = counted_flops / 2 / 1e9`. Batch norm,
ReLU, pooling and RoIAlign are not counted (fvcore adds ~0.3-1.4 G for batch norm).

A view is one clip (T Slow frames + alpha*T Fast frames) at size x size; the model is built
on the meta device, so even the 552-GFLOP Fast beta=1 costs no memory or time. AVA views
carry one full-frame box per clip.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

import torch
from torch.utils.flop_counter import FlopCounterMode

from model.nets.build import TASKS, build
from model.nets.spec import VARIANTS, VariantSpec, variant_spec

__all__ = ["count_parameters", "gmacs_per_view", "network_cost", "view_inputs", "describe", "main"]

DEFAULT_SIZES = (224, 256)
NUM_CLASSES = {"kinetics": 600, "ava": 80}


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def view_inputs(spec: VariantSpec, size: int, *, batch: int = 1, device: str | torch.device = "cpu",
                dtype: torch.dtype = torch.float32, width: int | None = None) -> list[torch.Tensor]:
    """Zero clips of one view: [slow, fast] or [fast], ``size`` high and ``width`` (default
    ``size``) wide."""
    frames = [spec.num_frames, spec.fast_num_frames] if spec.pathways == "slowfast" else [spec.num_frames]
    return [torch.zeros(batch, 3, t, size, width or size, device=device, dtype=dtype) for t in frames]


def network_cost(name: str, *, task: str = "kinetics", views: Sequence[tuple[int, int]] = ((256, 256),),
                 nl_context: bool = False, num_classes: int | None = None) -> tuple[int, list[float]]:
    """(parameters, GMACs of one view per (height, width) in ``views``) from one meta-device build.

    The cost estimate of a submission (``orchestrator.cost``) asks for several view sizes of
    one network (training crop, test scales, a full AVA frame that is wider than high); one
    build serves them all. AVA views carry one full-frame box.
    """
    spec = variant_spec(name)
    with torch.device("meta"):
        model = build(name, task=task, num_classes=num_classes or NUM_CLASSES[task], nl_context=nl_context).eval()
    params = count_parameters(model)
    gmacs = []
    for height, width in views:
        inputs = view_inputs(spec, height, width=width, device="meta")
        args: tuple = (inputs,)
        if task == "ava":
            args = (inputs, torch.tensor([[0.0, 0.0, 0.0, width, height]], device="meta"))
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            model(*args)
        gmacs.append(counter.get_total_flops() / 2 / 1e9)
    return params, gmacs


def gmacs_per_view(name: str, *, task: str = "kinetics", size: int = 256, nl_context: bool = False) -> float:
    return network_cost(name, task=task, views=((size, size),), nl_context=nl_context)[1][0]


def describe(name: str, *, task: str = "kinetics", sizes: tuple[int, ...] = DEFAULT_SIZES,
             nl_context: bool = False) -> dict:
    spec = variant_spec(name)
    with torch.device("meta"):
        model = build(name, task=task, num_classes=NUM_CLASSES[task], nl_context=nl_context)
    per_size = {str(s): round(gmacs_per_view(name, task=task, size=s, nl_context=nl_context), 3) for s in sizes}
    return {
        "variant": name, "task": task, "num_classes": NUM_CLASSES[task], "nl_context": nl_context,
        "params": count_parameters(model),
        "frames": [spec.num_frames, spec.fast_num_frames] if spec.pathways == "slowfast" else [spec.num_frames],
        "gmacs_per_view": per_size[str(sizes[-1])],
        "gmacs_per_view_by_size": per_size,
        "convention": "GMACs: one multiply-add = one FLOP (the papers' GFLOPs); FlopCounterMode / 2",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model.nets.info", description=__doc__.split("\n\n")[0])
    parser.add_argument("variant", choices=VARIANTS, metavar="variant")
    parser.add_argument("--task", default="kinetics", choices=TASKS)
    parser.add_argument("--size", type=int, action="append",
                        help="view size in pixels (repeatable); default 224 and 256")
    parser.add_argument("--nl-context", action="store_true", help="AVA: with the NL context branch")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    sizes = tuple(args.size) if args.size else DEFAULT_SIZES
    info = describe(args.variant, task=args.task, sizes=sizes, nl_context=args.nl_context)
    if args.json:
        json.dump(info, sys.stdout, indent=2)
        print()
        return 0
    print(f"{info['variant']} ({info['task']}, {info['num_classes']} classes)")
    print(f"  parameters: {info['params']:,} ({info['params'] / 1e6:.2f} M)")
    print(f"  frames per view: {' + '.join(map(str, info['frames']))}")
    for size, gmacs in info["gmacs_per_view_by_size"].items():
        print(f"  {size}x{size}: {gmacs:.1f} GFLOPs per view")
    print(f"  ({info['convention']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
