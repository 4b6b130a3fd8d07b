"""Networks: parameters, FLOPs per view and CPU forward time, ours vs PySlowFast, one run.

Runs in the peer virtualenv described in tests/fixtures/nets/make_peer_fixtures.py (PySlowFast
and fvcore are never project dependencies), with the project on the path:

    PYTHONPATH=.:$PYSLOWFAST:$PYTORCHVIDEO /tmp/peer/bin/python bench/nets.py [--threads 2] [--repeats 5]

Prints a Markdown table for bench/RESULTS.md:
* parameters of our build and of PySlowFast's, per variant (Kinetics-600 head);
* GFLOPs per view at 224 and 256: ours with torch's FlopCounterMode / 2 (multiply-adds), and
  PySlowFast's model counted by fvcore (its own tool, which also counts batch norm);
* seconds per training step of the demo twins (`--only-tiny`, no peer involved);
* batch-1 eval forward time of slowfast_8x8_r50 at 224 (8 + 32 frames) on the CPU, both models
  holding the same weights (ours converted from the peer's), median of `repeats`.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "fixtures" / "nets"))

import make_peer_fixtures as peer  # noqa: E402  (installs the detectron2 stand-in, imports PySlowFast)
from fvcore.nn import FlopCountAnalysis  # noqa: E402

from model.nets import build, variant_spec  # noqa: E402
from model.nets.convert import convert_state_dict  # noqa: E402
from model.nets.info import count_parameters, gmacs_per_view, view_inputs  # noqa: E402

VARIANTS = ["slowfast_8x8_r50", "slowfast_8x8_r101", "slowfast_8x8_r101_nl", "slowfast_16x8_r101_nl",
            "fast_b1_32x2_r101"]
PUBLISHED = {"slowfast_8x8_r101": "106 (SlowFast paper)", "slowfast_8x8_r101_nl": "115 (report)",
             "slowfast_16x8_r101_nl": "234 (SlowFast paper)", "fast_b1_32x2_r101": "552 (report)",
             "slowfast_8x8_r50": "65.7 (SlowFast paper, 8x8 R50)"}


def peer_model(name: str, task: str = "kinetics", size: int = 224):
    return peer.build_pyslowfast(**peer.FULL[name], task=task, num_classes=peer.NUM_CLASSES[task], crop=size)


def fvcore_gflops(name: str, size: int, task: str = "kinetics") -> float:
    model = peer_model(name, task, size).eval()
    inputs = view_inputs(variant_spec(name), size)
    args = (inputs,) if task == "kinetics" else (inputs, torch.tensor([[0.0, 0.0, 0.0, size, size]]))
    analysis = FlopCountAnalysis(model, args)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    with torch.no_grad():
        return analysis.total() / 1e9


def interleaved_forward_seconds(models: dict, repeats: int) -> dict[str, dict[str, list[float]]]:
    """Time each (model, inputs) once per round, rounds interleaved, so that load from other
    processes on the machine hits every model alike. Records wall seconds and the process's
    CPU seconds (all threads), which other processes' load inflates less."""
    times = {label: {"wall": [], "cpu": []} for label in models}
    with torch.no_grad():
        for model, inputs in models.values():
            model(inputs)  # warm-up
        for _ in range(repeats):
            for label, (model, inputs) in models.items():
                wall, cpu = time.perf_counter(), time.process_time()
                model(inputs)
                times[label]["wall"].append(time.perf_counter() - wall)
                times[label]["cpu"].append(time.process_time() - cpu)
    return times


def tiny_training_steps(repeats: int) -> None:
    """Seconds per SGD step of each demo twin: AVA head with NL context, batch 4, 64x64, T=4."""
    print("\n| tiny twin (AVA, nl_context, batch 4, 64x64, T=4, alpha=4) | params | median s/step | max s/step |")
    print("|---|---|---|---|")
    for name in VARIANTS:
        torch.manual_seed(0)
        model = build(f"{name}_tiny", task="ava", num_classes=80, nl_context=True, num_frames=4)
        spec = model.spec
        frames = [4, 4 * spec.alpha] if spec.pathways == "slowfast" else [16]
        inputs = [torch.randn(4, 3, t, 64, 64) for t in frames]
        boxes = torch.tensor([[i, 8.0, 8.0, 56.0, 56.0] for i in range(4)])
        target = (torch.rand(4, 80) < 0.1).float()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        seconds = []
        for step in range(repeats + 1):
            start = time.perf_counter()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(inputs, boxes), target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step:  # the first step is a warm-up
                seconds.append(time.perf_counter() - start)
        print(f"| {name}_tiny | {count_parameters(model):,} | {statistics.median(seconds):.3f} | "
              f"{max(seconds):.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-flops", action="store_true")
    parser.add_argument("--only-tiny", action="store_true", help="only the demo twins' training steps")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}, python {platform.python_version()}")

    if args.only_tiny:
        tiny_training_steps(args.repeats)
        return
    if not args.skip_flops:
        print("\n| variant (Kinetics-600 head) | params ours | params PySlowFast | GFLOPs 224 ours | "
              "GFLOPs 256 ours | GFLOPs 256 PySlowFast (fvcore) | published |")
        print("|---|---|---|---|---|---|---|")
        for name in VARIANTS:
            with torch.device("meta"):
                ours = count_parameters(build(name, num_classes=600))
            theirs = count_parameters(peer_model(name))
            g224, g256 = gmacs_per_view(name, size=224), gmacs_per_view(name, size=256)
            fv256 = fvcore_gflops(name, 256)
            print(f"| {name} | {ours:,} | {theirs:,} | {g224:.1f} | {g256:.1f} | {fv256:.1f} | "
                  f"{PUBLISHED[name]} |", flush=True)
        name = "slowfast_8x8_r101"
        print(f"| {name}, AVA head (res5 stride 1, dilation 2) | "
              f"{count_parameters(build(name, task='ava', num_classes=80)):,} | "
              f"{count_parameters(peer_model(name, 'ava')):,} | {gmacs_per_view(name, task='ava', size=224):.1f} | "
              f"{gmacs_per_view(name, task='ava', size=256):.1f} | {fvcore_gflops(name, 256, 'ava'):.1f} | - |",
              flush=True)

    name = "slowfast_8x8_r50"
    torch.manual_seed(0)
    theirs = peer_model(name).eval()
    ours = build(name, num_classes=600).eval()
    ours.load_state_dict(convert_state_dict(theirs.state_dict(), ours, source="pyslowfast"))
    inputs = view_inputs(variant_spec(name), 224)
    inputs = [torch.randn_like(x) for x in inputs]
    with torch.no_grad():
        peer.without_activation(theirs)
        diff = (ours(inputs) - theirs(inputs)).abs().max().item()
    channels_last = copy.deepcopy(ours).to(memory_format=torch.channels_last_3d)
    load_before = os.getloadavg()[0]
    times = interleaved_forward_seconds({
        "ours": (ours, inputs),
        "PySlowFast": (theirs, inputs),
        "ours, channels_last_3d": (channels_last, [x.to(memory_format=torch.channels_last_3d) for x in inputs]),
    }, args.repeats)
    print(f"\nCPU forward, {name}, batch 1, 224x224, 8+32 frames, eval, no_grad "
          f"(same weights, max |logit difference| {diff:.2e}), {args.repeats} interleaved rounds after 1 warm-up:")
    print(f"1-minute load average on the machine: {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    print("\n| model | wall median s | wall min s | CPU median s (all threads) | CPU min s |")
    print("|---|---|---|---|---|")
    for label, seconds in times.items():
        wall, cpu = seconds["wall"], seconds["cpu"]
        print(f"| {label} | {statistics.median(wall):.2f} | {min(wall):.2f} | "
              f"{statistics.median(cpu):.2f} | {min(cpu):.2f} |")

if __name__ == "__main__":
    main()
