"""Progress lines and the plots of a run (curves, confusion matrix)."""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path
from typing import Any

from ..fileutil import write_atomic


# ---------------------------------------------------------------- reporting
class Reporter:
    """Progress: a rich bar per epoch on a terminal, else one plain line per epoch."""

    def __init__(self, enabled: bool, fancy: bool | None, epochs: int):
        self.enabled, self.epochs = enabled, epochs
        self.fancy = enabled and (sys.stdout.isatty() if fancy is None else fancy)
        self.progress: Any = None
        self.task: Any = None
        self.started = 0.0

    def epoch_start(self, epoch: int, steps: int) -> None:
        self.started = time.perf_counter()
        if not self.fancy:
            return
        if self.progress is None:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn(
                    "loss {task.fields[loss]}  acc {task.fields[acc]}  {task.fields[ips]} img/s"
                ),
                TimeElapsedColumn(),
            )
            self.progress.start()
        self.task = self.progress.add_task(
            f"epoch {epoch}/{self.epochs}", total=steps, loss="-", acc="-", ips="-"
        )

    def step(self, step: int, loss: float, acc: float, seen: int) -> None:
        if self.fancy:
            ips = seen / max(time.perf_counter() - self.started, 1e-9)
            self.progress.update(
                self.task, completed=step, loss=f"{loss:.4f}", acc=f"{acc:.1%}", ips=f"{ips:,.0f}"
            )

    def epoch_end(self, r: dict[str, Any]) -> None:
        if not self.enabled:
            return
        if self.fancy:
            self.progress.update(
                self.task,
                completed=self.progress.tasks[-1].total,
                loss=f"{r['train_loss']:.4f}",
                acc=f"{r['train_accuracy']:.1%}",
                ips=f"{r['images_per_s']:,.0f}",
                description=f"epoch {r['epoch']}/{self.epochs} test {r['test_accuracy']:.2%}",
            )
            return
        print(
            f"epoch {r['epoch']:>3}/{self.epochs}  loss {r['train_loss']:.4f}  "
            f"acc {r['train_accuracy']:.2%}  test loss {r['test_loss']:.4f}  "
            f"test acc {r['test_accuracy']:.2%}  {r['images_per_s']:,.0f} img/s  "
            f"{time.perf_counter() - self.started:.1f}s",
            flush=True,
        )

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def plot_curves(history: list[dict[str, Any]], path: Path) -> None:
    """Loss and accuracy per epoch (train and test), as a PNG (matplotlib, no pyplot)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    epochs = [r["epoch"] for r in history]
    fig = Figure(figsize=(10, 4), layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    loss_ax.plot(epochs, [r["train_loss"] for r in history], "o-", label="train")
    loss_ax.plot(epochs, [r["test_loss"] for r in history], "o-", label="test")
    acc_ax.plot(epochs, [r["train_accuracy"] for r in history], "o-", label="train")
    acc_ax.plot(epochs, [r["test_accuracy"] for r in history], "o-", label="test")
    for ax, name in ((loss_ax, "loss"), (acc_ax, "accuracy")):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend()
    _save_figure(fig, path)


def plot_confusion(confusion: list[list[int]], classes: tuple[str, ...], path: Path) -> None:
    """The confusion matrix (rows true, columns predicted) as a PNG heat map."""
    from matplotlib.figure import Figure

    n = len(classes)
    fig = Figure(figsize=(max(4, 0.5 * n + 2), max(4, 0.5 * n + 1.5)), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(confusion, cmap="Blues")
    fig.colorbar(image, ax=ax)
    if n <= 30:
        ax.set_xticks(range(n), classes, rotation=90 if n > 10 else 0)
        ax.set_yticks(range(n), classes)
        top = max(max(row) for row in confusion) or 1
        for i, row in enumerate(confusion):
            for j, value in enumerate(row):
                if n <= 15 and value:
                    ax.text(
                        j,
                        i,
                        str(value),
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="white" if value > top / 2 else "black",
                    )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    _save_figure(fig, path)


def _save_figure(fig: Any, path: Path) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    write_atomic(path, buffer.getvalue())
