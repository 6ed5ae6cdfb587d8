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
from .run import CHECK_EVERY, EVAL_BATCH


# ---------------------------------------------------------------- the loop
def train_one_epoch(
    model: nn.Module,
    criterion: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    batches: Any,
    ctx: Context,
    on_check: Callable[[int, torch.Tensor, torch.Tensor, int], None] | None = None,
    on_step: Callable[[int, torch.Tensor, torch.Tensor, int], None] | None = None,
) -> dict[str, float]:
    """One pass over ``batches``; returns train loss, accuracy, images and images/s.

    ``on_check(step, loss_sum, correct, seen)`` runs every ``CHECK_EVERY`` steps and may raise
    (:class:`Diverged` on a NaN loss); ``on_step`` (same arguments) after every step (progress:
    it decides itself when to read the device tensors).
    """
    model.train()
    loss_sum = torch.zeros((), device=ctx.device)
    correct = torch.zeros((), device=ctx.device, dtype=torch.long)
    seen = 0
    start = time.perf_counter()
    for step, (x, y) in enumerate(batches, 1):
        x, target, y = ctx.prepare_train(x, y)
        with ctx.autocast():
            loss, logits = output_loss(model(x), target, criterion, ctx.side_weights)
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
        if on_step is not None:
            on_step(step, loss_sum, correct, seen)
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
    on_batch: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Loss and :func:`classification_metrics` of ``model`` on ``split`` (every rank's share
    is gathered). ``on_batch(done, total)`` follows the progress."""
    loss_sum = torch.zeros((), device=ctx.device, dtype=torch.float64)
    labels, scores = [], []
    total = eval_batch_count(split, ctx.rank, ctx.world)
    model.eval()
    with torch.inference_mode():
        for i, (x, y) in enumerate(eval_batches(split, ctx.device, ctx.rank, ctx.world), 1):
            x, y = ctx.prepare(x, y, train=False)
            with ctx.autocast():
                out = model(x)
            logits = (out if isinstance(out, torch.Tensor) else out[0]).float()
            loss_sum += F.cross_entropy(logits, y, reduction="sum").double()
            labels.append(y)
            scores.append(logits)
            if on_batch is not None:
                on_batch(i, total)
    k = max(num_outputs or len(classes), len(classes))
    y_all = torch.cat(labels).cpu() if labels else torch.zeros(0, dtype=torch.long)
    s_all = torch.cat(scores).cpu() if scores else torch.zeros(0, k)
    if ctx.world > 1:
        import torch.distributed as dist

        parts: list[Any] = [None] * ctx.world
        dist.all_gather_object(parts, (y_all, s_all, float(loss_sum)))
        y_all = torch.cat([p[0] for p in parts])
        s_all = torch.cat([p[1] for p in parts])
        loss = sum(p[2] for p in parts)
    else:
        loss = float(loss_sum)
    return classification_metrics(y_all.numpy(), s_all.numpy(), loss, classes)


def eval_batch_count(split: Any, rank: int = 0, world: int = 1) -> int:
    """How many batches :func:`eval_batches` yields for this rank."""
    return -(-len(range(rank, len(split), world)) // EVAL_BATCH)


TOP_K = 5  # top-5, as AlexNet, VGG, GoogLeNet and ResNet report it (when there are > 5 classes)


def classification_metrics(
    y_true: Any, scores: Any, loss_sum: float, classes: tuple[str, ...]
) -> dict[str, Any]:
    """Figures of true labels and scores (N × outputs), all from ``sklearn.metrics``: top-1
    and top-5 accuracy (top-5 when there are more than 5 classes), macro, weighted and micro
    precision/recall/F1, per-class rows, the confusion matrix (rows: true class, columns:
    predicted) raw and normalised by row.

    >>> import numpy as np
    >>> m = classification_metrics(np.array([0, 0, 1]), np.array([[2, 1], [0, 1], [0, 3]]),
    ...                            3.0, ("a", "b"))
    >>> m["accuracy"], m["precision"], m["per_class"]["b"]["recall"], m["confusion"]
    (0.6666666666666666, 0.75, 1.0, [[1, 1], [0, 1]])
    """
    import numpy as np
    from sklearn import metrics as skm  # type: ignore[import-untyped]

    n, count = len(classes), len(y_true)
    labels = list(range(n))
    pred = scores.argmax(1) if count else np.zeros(0, dtype=np.int64)
    out: dict[str, Any] = {
        "images": count,
        "loss": loss_sum / max(count, 1),
        "accuracy": float(skm.accuracy_score(y_true, pred)) if count else 0.0,
    }
    if n > TOP_K and count:
        out[f"top{TOP_K}_accuracy"] = float(
            skm.top_k_accuracy_score(y_true, scores, k=TOP_K, labels=range(scores.shape[1]))
        )
    for average in ("macro", "weighted", "micro"):
        p, r, f, _ = skm.precision_recall_fscore_support(
            y_true, pred, labels=labels, average=average, zero_division=0
        )
        figures = {"precision": float(p), "recall": float(r), "f1": float(f)}
        if average == "macro":
            out.update(figures)
        else:
            out[average] = figures
    p, r, f, support = skm.precision_recall_fscore_support(
        y_true, pred, labels=labels, average=None, zero_division=0
    )
    out["per_class"] = {
        c: {
            "precision": float(p[i]),
            "recall": float(r[i]),
            "f1": float(f[i]),
            "support": int(support[i]),
        }
        for i, c in enumerate(classes)
    }
    if count:
        out["confusion"] = skm.confusion_matrix(y_true, pred, labels=labels).tolist()
        out["confusion_normalized"] = skm.confusion_matrix(
            y_true, pred, labels=labels, normalize="true"
        ).tolist()
    else:
        out["confusion"] = np.zeros((n, n), dtype=int).tolist()
        out["confusion_normalized"] = np.zeros((n, n)).tolist()
    return out
