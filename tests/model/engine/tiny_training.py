"""A tiny but complete training set-up for the engine tests: 3-D conv + BN + dropout +
classifier on random clips whose label is which third of the clip is brightest.

Runnable as a script (``python tests/model/engine/tiny_training.py RUN_DIR [--max-iters N]``)
so tests can kill real processes with SIGKILL and resume them.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import Dataset

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from model.engine.batchnorm import group_batchnorm  # noqa: E402
from model.engine.distributed import init_distributed  # noqa: E402
from model.engine.optim import build_sgd  # noqa: E402
from model.engine.precision import Precision  # noqa: E402
from model.engine.schedules import LRSchedule  # noqa: E402
from model.engine.trainer import LoopSettings, Trainer  # noqa: E402


class TinyClips(Dataset):
    """Random 3x4x8x8 clips; label = argmax of the mean brightness of 3 temporal thirds.

    ``__getitem__`` draws from the global torch generator, like real augmentation does, so
    the per-sample seeding of the engine is exercised.
    """

    def __init__(self, n: int = 96) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        clip = torch.rand(3, 6, 8, 8)
        label = int(clip.mean(dim=(0, 2, 3)).view(3, 2).mean(1).argmax())
        return clip, label


class TinyNet(nn.Module):
    def __init__(self, dropout: float = 0.5, num_classes: int = 3, bn: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv3d(3, 8, kernel_size=(3, 3, 3), padding=1, bias=not bn)
        self.bn = nn.BatchNorm3d(8) if bn else nn.Identity()
        self.pool = nn.AdaptiveAvgPool3d((3, 1, 1))
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(24, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.bn(self.conv(x)))).flatten(1)
        return self.fc(self.dropout(x))


def classification_step(model, batch, precision):
    clips, labels = batch
    logits = model(precision.prepare_input(clips))
    return nn.functional.cross_entropy(logits, labels.to(precision.device)), len(labels)


def build_trainer(run_dir: Path, *, max_iters: int = 24, per_process_batch: int = 8,
                  global_batch: int = 16, bn_group: int = 8, dropout: float = 0.5,
                  checkpoint_every: int = 3, eval_every: int = 6, num_workers: int = 0,
                  dist_ctx=None, seed: int = 7, n: int = 96, compile: bool = False,
                  bn: bool = True, schedule: LRSchedule | None = None) -> Trainer:
    from model.engine.distributed import DistContext
    dist_ctx = dist_ctx or DistContext()
    torch.manual_seed(seed)
    model = TinyNet(dropout, bn=bn)
    group_batchnorm(model, group_size=bn_group, per_process_batch=per_process_batch)
    precision = Precision(torch.device("cpu"), "fp32", channels_last=False, compile=compile)
    model = precision.prepare_model(model)
    optimizer = build_sgd(model, lr=0.1, momentum=0.9, weight_decay=1e-4)
    schedule = schedule or LRSchedule("cosine", base_lr=0.2, max_iters=max_iters, warmup_iters=3,
                                      warmup_start_lr=0.01)
    val = TinyClips(32)

    def evaluate(m, step):
        correct = 0
        for i in range(len(val)):
            torch.manual_seed(1000 + i)
            clip, label = val[i]
            correct += int(m(clip[None]).argmax(1).item() == label)
        return {"top1": 100.0 * correct / len(val)}

    settings = LoopSettings(max_iters=max_iters, per_process_batch=per_process_batch,
                            global_batch=global_batch, checkpoint_every=checkpoint_every,
                            eval_every=eval_every, log_every=1, keep_checkpoints=2, seed=seed,
                            num_workers=num_workers)
    return Trainer(model=model, optimizer=optimizer, schedule=schedule, dataset=TinyClips(n),
                   step_fn=classification_step, settings=settings, run_dir=run_dir,
                   precision=precision, dist_ctx=dist_ctx, evaluate=evaluate)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--max-iters", type=int, default=24)
    parser.add_argument("--per-process-batch", type=int, default=8)
    parser.add_argument("--global-batch", type=int, default=16)
    parser.add_argument("--bn-group", type=int, default=8)
    parser.add_argument("--dropout", type=float, default=0.5)
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--checkpoint-every", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    ctx = init_distributed(torch.device("cpu"))
    trainer = build_trainer(args.run_dir, max_iters=args.max_iters,
                            per_process_batch=args.per_process_batch,
                            global_batch=args.global_batch, bn_group=args.bn_group,
                            dropout=args.dropout, num_workers=args.num_workers,
                            checkpoint_every=args.checkpoint_every, dist_ctx=ctx)
    trainer.run()
    if ctx.distributed:
        torch.save(trainer.core.state_dict(), args.run_dir / f"final_rank{ctx.rank}.pt")


if __name__ == "__main__":
    main()
