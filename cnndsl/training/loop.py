"""The loop's two halves: train_one_epoch and evaluate, and the metrics."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .batches import Context, eval_batches
from .optim import output_loss
from .run import CHECK_EVERY


# ---------------------------------------------------------------- the loop
def train_one_epoch(
    model: nn.Module,
    criterion: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    batches: Any,
    ctx: Context,
    on_check: Callable[[int, torch.Tensor, torch.Tensor, int], None] | None = None,
) -> dict[str, float]:
    """One pass over ``batches``; returns train loss, accuracy, images and images/s.

    ``on_check(step, loss_sum, correct, seen)`` runs every ``CHECK_EVERY`` steps and may raise
    (:class:`Diverged` on a NaN loss).
    """
    model.train()
    loss_sum = torch.zeros((), device=ctx.device)
    correct = torch.zeros((), device=ctx.device, dtype=torch.long)
    seen = 0
    start = time.perf_counter()
    for step, (x, y) in enumerate(batches, 1):
        x, y = ctx.prepare(x, y, train=True)
        with ctx.autocast():
            loss, logits = output_loss(model(x), y, criterion, ctx.side_weights)
        optimizer.zero_grad(set_to_none=True)
        if ctx.scaler is not None:
            ctx.scaler.scale(loss).backward()
            ctx.scaler.step(optimizer)
            ctx.scaler.update()
        else:
            loss.backward()
            optimizer.step()
        scheduler.step()
        loss_sum += loss.detach().float() * len(y)
        correct += (logits.detach().argmax(1) == y).sum()
        seen += len(y)
        if on_check is not None and step % CHECK_EVERY == 0:
            on_check(step, loss_sum, correct, seen)
    if on_check is not None:
        on_check(-1, loss_sum, correct, seen)
    totals = torch.stack(
        [
            loss_sum.double(),
            correct.double(),
            torch.tensor(float(seen), device=ctx.device, dtype=torch.float64),
        ]
    )
    ctx.all_sum(totals)
    seconds = time.perf_counter() - start
    loss_total, right, count = totals.tolist()
    return {
        "train_loss": loss_total / max(count, 1),
        "train_accuracy": right / max(count, 1),
        "images": int(count),
        "images_per_s": count / max(seconds, 1e-9),
        "train_seconds": seconds,
    }


def evaluate(
    model: nn.Module,
    split: Any,
    ctx: Context,
    classes: tuple[str, ...],
    num_outputs: int | None = None,
) -> dict[str, Any]:
    """Test loss, accuracy, macro precision/recall/F1, per-class figures, confusion matrix."""
    k = max(num_outputs or len(classes), len(classes))
    confusion = torch.zeros(k * k, device=ctx.device, dtype=torch.long)
    loss_sum = torch.zeros((), device=ctx.device, dtype=torch.float64)
    model.eval()
    with torch.inference_mode():
        for x, y in eval_batches(split, ctx.device, ctx.rank, ctx.world):
            x, y = ctx.prepare(x, y, train=False)
            with ctx.autocast():
                out = model(x)
            logits = (out if isinstance(out, torch.Tensor) else out[0]).float()
            loss_sum += F.cross_entropy(logits, y, reduction="sum").double()
            confusion += torch.bincount(y * k + logits.argmax(1), minlength=k * k)
    confusion, loss_sum = confusion.clone(), loss_sum.clone()
    ctx.all_sum(confusion, loss_sum)
    return classification_metrics(confusion.view(k, k).cpu(), float(loss_sum), classes)


def classification_metrics(
    confusion: torch.Tensor, loss_sum: float, classes: tuple[str, ...]
) -> dict[str, Any]:
    """Figures from a confusion matrix (rows: true class, columns: predicted).

    >>> m = classification_metrics(torch.tensor([[3, 1], [0, 4]]), 4.0, ("a", "b"))
    >>> m["test_accuracy"], round(m["precision"], 3), m["per_class"]["b"]["recall"]
    (0.875, 0.9, 1.0)
    """
    conf = confusion.double()
    n = len(classes)
    tp = conf.diagonal()[:n]
    predicted, actual = conf.sum(0)[:n], conf.sum(1)[:n]
    precision = torch.where(predicted > 0, tp / predicted.clamp(min=1), 0.0)
    recall = torch.where(actual > 0, tp / actual.clamp(min=1), 0.0)
    f1 = torch.where(
        precision + recall > 0, 2 * precision * recall / (precision + recall).clamp(min=1e-12), 0.0
    )
    total = max(conf.sum().item(), 1.0)
    per_class = {
        c: {
            "precision": precision[i].item(),
            "recall": recall[i].item(),
            "f1": f1[i].item(),
            "support": int(actual[i].item()),
        }
        for i, c in enumerate(classes)
    }
    return {
        "test_loss": loss_sum / total,
        "test_accuracy": tp.sum().item() / total,
        "precision": precision.mean().item(),
        "recall": recall.mean().item(),
        "f1": f1.mean().item(),
        "per_class": per_class,
        "confusion": confusion[:n, :n].tolist(),
    }
