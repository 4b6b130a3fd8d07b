"""Training step: clips/s of ours vs PySlowFast's own training step, same model, same run.

Runs in the peer virtualenv (PySlowFast is never a project dependency; see
tests/fixtures/nets/make_peer_fixtures.py for how /tmp/peer is made), project on the path:

    PYTHONPATH=.:$PYSLOWFAST:$PYTORCHVIDEO /tmp/peer/bin/python bench/train_step.py \
        [--threads 1] [--repeats 5] [--batch 8] [--size 112]

Ours: ``model.engine.Trainer._train_step`` -- the loop's real step (per-step seeding, BN
buffer snapshot for preemption, lr from the schedule, forward, loss, backward, NaN check,
SGD step with the signals blocked) on our build with GroupedBatchNorm.
Peer: the body of PySlowFast's ``train_epoch`` -- ``optim.set_lr``, forward, its
cross-entropy loss, ``misc.check_nan_losses``, ``zero_grad``, ``backward``,
``optimizer.step`` -- on its own model built from the equivalent config and its
``construct_optimizer`` (SGD, momentum 0.9, weight decay 1e-4).

Both get the same pre-made batches (no data loading: the step alone), fp32 on the CPU; the
two are timed alternately and the median of ``repeats`` steps (after one warm-up) is kept.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "fixtures" / "nets"))

import make_peer_fixtures as peer  # noqa: E402  (detectron2 stand-in, imports PySlowFast)
from slowfast.models import losses as sf_losses  # noqa: E402
from slowfast.models import optimizer as sf_optim  # noqa: E402
from slowfast.utils import misc as sf_misc  # noqa: E402

from model.engine.batchnorm import group_batchnorm  # noqa: E402
from model.engine.optim import build_sgd  # noqa: E402
from model.engine.precision import Precision  # noqa: E402
from model.engine.schedules import LRSchedule  # noqa: E402
from model.engine.trainer import LoopSettings, Trainer  # noqa: E402
from model.nets import build, variant_spec  # noqa: E402

NUM_CLASSES = 400
PEER_TINY_R50 = dict(pathways="slowfast", depth=peer.TINY_DEPTH, width=8, fast_frames=32,
                     temporal_blocks=(1, 1, 1, 1), nonlocal_res4=(), lateral_kernel=7)


def batch(name: str, size: int, clips: int, seed: int):
    spec = variant_spec(name)
    g = torch.Generator().manual_seed(seed)
    slow = torch.randn(clips, 3, spec.num_frames, size, size, generator=g)
    fast = torch.randn(clips, 3, spec.num_frames * spec.alpha, size, size, generator=g)
    labels = torch.randint(0, NUM_CLASSES, (clips,), generator=g)
    return {"inputs": [slow, fast], "label": labels}


def kinetics_step(model, b, precision):
    logits = model([precision.prepare_input(x) for x in b["inputs"]])
    return torch.nn.functional.cross_entropy(logits, b["label"]), len(b["label"])


class _NoData(torch.utils.data.Dataset):
    def __len__(self):
        return 1 << 20

    def __getitem__(self, i):
        raise AssertionError("the benchmark feeds batches directly")


def ours(name: str, clips: int, run_dir: Path) -> Trainer:
    torch.manual_seed(0)
    model = build(name, task="kinetics", num_classes=NUM_CLASSES)
    group_batchnorm(model, group_size=8, per_process_batch=clips)
    precision = Precision(torch.device("cpu"), "fp32", channels_last=False)
    model = precision.prepare_model(model)
    schedule = LRSchedule("cosine", base_lr=0.1, max_iters=1000, warmup_iters=10,
                          warmup_start_lr=0.01)
    settings = LoopSettings(max_iters=1000, per_process_batch=clips, global_batch=clips,
                            checkpoint_every=10 ** 6)
    return Trainer(model=model, optimizer=build_sgd(model, lr=0.1), schedule=schedule,
                   dataset=_NoData(), step_fn=kinetics_step, settings=settings,
                   run_dir=run_dir, precision=precision)


class PeerStep:
    def __init__(self, kw: dict, size: int) -> None:
        cfg = peer.pyslowfast_cfg(**kw, task="kinetics", num_classes=NUM_CLASSES, crop=size)
        cfg.SOLVER.BASE_LR, cfg.SOLVER.MOMENTUM, cfg.SOLVER.WEIGHT_DECAY = 0.1, 0.9, 1e-4
        cfg.SOLVER.OPTIMIZING_METHOD, cfg.SOLVER.LR_POLICY = "sgd", "cosine"
        cfg.SOLVER.MAX_EPOCH, cfg.SOLVER.WARMUP_EPOCHS, cfg.SOLVER.WARMUP_START_LR = 100, 1, 0.01
        torch.manual_seed(0)
        self.cfg = cfg
        self.model = peer.build_pyslowfast(**kw, task="kinetics", num_classes=NUM_CLASSES,
                                           crop=size)
        self.model.train()
        self.optimizer = sf_optim.construct_optimizer(self.model, cfg)
        self.loss_fun = sf_losses.get_loss_func("cross_entropy")(reduction="mean")
        self.epoch = 0.0

    def step(self, b) -> None:
        lr = sf_optim.get_epoch_lr(self.epoch, self.cfg)
        sf_optim.set_lr(self.optimizer, lr)
        preds = self.model(b["inputs"])
        loss = self.loss_fun(preds, b["label"])
        sf_misc.check_nan_losses(loss)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.epoch += 0.01


def measure(name: str, peer_kw: dict, size: int, clips: int, repeats: int) -> dict:
    b = batch(name, size, clips, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = ours(name, clips, Path(tmp))
        theirs = PeerStep(peer_kw, size)
        n_ours = sum(p.numel() for p in trainer.core.parameters())
        n_peer = sum(p.numel() for p in theirs.model.parameters())
        times = {"ours": [], "peer": []}
        for i in range(repeats + 1):
            for who in ("ours", "peer"):
                start = time.perf_counter()
                if who == "ours":
                    trainer._train_step(iter([b]))
                    trainer.step += 1
                else:
                    theirs.step(b)
                if i:  # the first round warms up allocators and kernels
                    times[who].append(time.perf_counter() - start)
        trainer.metrics.close()
    return {"name": name, "params_ours": n_ours, "params_peer": n_peer,
            **{f"{who}_clips_s": clips / statistics.median(t) for who, t in times.items()},
            **{f"{who}_s": statistics.median(t) for who, t in times.items()}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=112, help="crop side of the full model")
    parser.add_argument("--tiny-size", type=int, default=56)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = [measure("slowfast_8x8_r50_tiny", PEER_TINY_R50, args.tiny_size, args.batch,
                    args.repeats),
            measure("slowfast_8x8_r50", peer.FULL["slowfast_8x8_r50"], args.size, args.batch,
                    args.repeats)]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, {args.threads} thread(s); batch {args.batch} clips; "
          f"median of {args.repeats} steps")
    print("| model | crop | params ours / PySlowFast | ours clips/s (s/step) | "
          "PySlowFast clips/s (s/step) | ours / PySlowFast |")
    print("|---|---|---|---|---|---|")
    for r, size in zip(rows, (args.tiny_size, args.size)):
        print(f"| {r['name']} | {size} | {r['params_ours']:,} / {r['params_peer']:,} | "
              f"{r['ours_clips_s']:.2f} ({r['ours_s']:.2f}) | {r['peer_clips_s']:.2f} "
              f"({r['peer_s']:.2f}) | {r['ours_clips_s'] / r['peer_clips_s']:.2f} |")


if __name__ == "__main__":
    main()
