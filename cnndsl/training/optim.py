"""Optimizers, learning-rate schedules and the loss of several outputs."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..errors import CnnError
from .run import OPTIMIZER_DEFAULTS


# ---------------------------------------------------------------- optimisation
def build_optimizer(params: Iterator[nn.Parameter], cfg: dict[str, Any]) -> torch.optim.Optimizer:
    """sgd (momentum, nesterov, weight decay), adam or adamw from the ``optimizer`` entry."""
    spec = {**OPTIMIZER_DEFAULTS[cfg["name"]], **{k: v for k, v in cfg.items() if k != "name"}}
    if cfg["name"] == "sgd":
        if spec["nesterov"] and spec["momentum"] <= 0:
            raise CnnError(
                "optimizer sgd: nesterov=true needs a momentum > 0", hint="add momentum=0.9"
            )
        return torch.optim.SGD(params, **spec)
    cls = torch.optim.Adam if cfg["name"] == "adam" else torch.optim.AdamW
    return cls(params, **spec)


@dataclass
class LrFactor:
    """The learning-rate factor of iteration ``step``: linear warm-up, then the schedule.

    A callable object rather than a lambda, so ``LambdaLR.state_dict`` records its fields.
    """

    kind: str
    total: int
    warmup: int = 0
    step_size: int = 0
    gamma: float = 0.1

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        t = step - self.warmup
        if self.kind == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * min(t / max(1, self.total - self.warmup), 1.0)))
        if self.kind == "step":
            return self.gamma ** (t // max(1, self.step_size))
        return 1.0


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: dict[str, Any], epochs: int, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """A per-iteration schedule whose total (``epochs * steps_per_epoch``) is known up front."""
    total = epochs * steps_per_epoch
    if cfg["name"] == "onecycle":
        lr = optimizer.param_groups[0]["lr"]
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=cfg.get("max_lr", lr),
            total_steps=total,
            pct_start=cfg.get("pct_start", 0.3),
        )
    factor = LrFactor(
        cfg["name"],
        total,
        cfg.get("warmup", 0) * steps_per_epoch,
        cfg.get("step_size", max(1, epochs // 3)) * steps_per_epoch,
        cfg.get("gamma", 0.1),
    )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def output_loss(
    out: Any, y: torch.Tensor, criterion: nn.Module, side_weights: tuple[float, ...]
) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, main logits): CE(main) + sum of weight * CE(side output)."""
    if isinstance(out, torch.Tensor):
        return criterion(out, y), out
    main, *sides = out
    loss = criterion(main, y)
    for i, side in enumerate(sides):
        weight = side_weights[i] if i < len(side_weights) else 1.0
        loss = loss + weight * criterion(side, y)
    return loss, main
