"""Progress lines and the plots of a run (curves, confusion matrices)."""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..fileutil import write_atomic

REFRESH_S = 0.25  # the running figures are read (one device sync) at most this often


def clock(seconds: float) -> str:
    """``75.4`` -> ``'1:15'``; hours when needed.

    >>> clock(75.4), clock(3725), clock(-1)
    ('1:15', '1:02:05', '-')
    """
    if seconds < 0 or seconds != seconds:
        return "-"
    s = round(seconds)
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


# ---------------------------------------------------------------- reporting
class Reporter:
    """Progress: on a terminal a rich bar per epoch (running loss and accuracy, images/s, the
    epoch's and the run's ETA, refreshed by time) and a bar while evaluating; else one plain
    line per epoch."""

    def __init__(self, enabled: bool, fancy: bool | None, epochs: int):
        self.enabled, self.epochs = enabled, epochs
        self.fancy = enabled and (sys.stdout.isatty() if fancy is None else fancy)
        self.progress: Any = None
        self.task: Any = None
        self.eval_task: Any = None
        self.started = 0.0
        self.steps = 0
        self.epoch = 0
        self.last_read = 0.0
        self.epoch_seconds: list[float] = []

    def _start(self) -> None:
        if self.progress is not None:
            return
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
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            refresh_per_second=4,
        )
        self.progress.start()

    def epoch_start(self, epoch: int, steps: int) -> None:
        self.started = self.last_read = time.perf_counter()
        self.last_read -= REFRESH_S  # the first step shows figures at once
        self.steps, self.epoch = steps, epoch
        if not self.fancy:
            return
        self._start()
        self.task = self.progress.add_task(
            f"epoch {epoch}/{self.epochs}", total=steps, info=self._eta(0)
        )

    def _eta(self, step: int) -> str:
        """The epoch's and the run's remaining time, from the speed so far."""
        if step <= 0:
            return "ETA -"
        elapsed = time.perf_counter() - self.started
        per_epoch = elapsed / step * self.steps
        left = per_epoch - elapsed
        typical = (
            sorted(self.epoch_seconds)[len(self.epoch_seconds) // 2]
            if self.epoch_seconds
            else per_epoch
        )
        run_left = left + typical * (self.epochs - self.epoch)
        return f"ETA {clock(left)}, run {clock(run_left)}"

    def step(self, step: int, loss_sum: Any, correct: Any, seen: int) -> None:
        """Called every step; reads the running figures (a device sync) every REFRESH_S."""
        if not self.fancy:
            return
        now = time.perf_counter()
        if now - self.last_read < REFRESH_S and step < self.steps:
            return
        self.last_read = now
        ips = seen / max(now - self.started, 1e-9)
        self.progress.update(
            self.task,
            completed=step,
            info=f"loss {loss_sum.item() / seen:.4f}  acc {correct.item() / seen:.1%}  "
            f"{ips:,.0f} img/s  {self._eta(step)}",
        )

    def eval_start(self, label: str, total: int) -> None:
        if self.fancy:
            self._start()
            self.eval_task = self.progress.add_task(f"  {label}", total=total, info="")

    def eval_step(self, done: int, total: int) -> None:
        if self.fancy and self.eval_task is not None:
            self.progress.update(self.eval_task, completed=done)

    def eval_end(self) -> None:
        if self.fancy and self.eval_task is not None:
            self.progress.remove_task(self.eval_task)
            self.eval_task = None

    def epoch_end(self, r: dict[str, Any]) -> None:
        self.epoch_seconds.append(time.perf_counter() - self.started)
        if not self.enabled:
            return
        val = (
            f"  val loss {r['val_loss']:.4f}  val acc {r['val_accuracy']:.2%}"
            if "val_accuracy" in r
            else ""
        )
        if self.fancy:
            self.progress.update(
                self.task,
                completed=self.steps,
                info=f"loss {r['train_loss']:.4f}  acc {r['train_accuracy']:.1%}  "
                f"{r['images_per_s']:,.0f} img/s"
                + (f"  val {r['val_accuracy']:.2%}" if val else ""),
            )
            return
        print(
            f"epoch {r['epoch']:>3}/{self.epochs}  loss {r['train_loss']:.4f}  "
            f"acc {r['train_accuracy']:.2%}{val}  {r['images_per_s']:,.0f} img/s  "
            f"{time.perf_counter() - self.started:.1f}s",
            flush=True,
        )

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


# ---------------------------------------------------------------- plots
class Plotter:
    """Runs plot functions between epochs, at most as often as keeps plotting under a
    ``share`` of the run's wall time: after every epoch when epochs are long, every few
    epochs when they take less than the plots (``force`` always plots). Files are written
    atomically."""

    def __init__(self, share: float = 0.2) -> None:
        self.share = share
        self.cost = 0.0  # seconds the last round of plots took
        self.done = time.perf_counter()  # when it ended

    def due(self) -> bool:
        return time.perf_counter() - self.done >= self.cost * (1 - self.share) / self.share

    def run(self, jobs: list[tuple[Callable[..., None], tuple[Any, ...]]], force: bool) -> bool:
        if not jobs or not (force or self.due()):
            return False
        start = time.perf_counter()
        for fn, args in jobs:
            fn(*args)
        self.done = time.perf_counter()
        self.cost = self.done - start
        return True


def plot_curves(
    history: list[dict[str, Any]],
    path: Path,
    title: str = "",
    best_epoch: int | None = None,
) -> None:
    """Loss, accuracy (train, val, val top-5) and learning rate per epoch, a marker at the
    best epoch (the one best.pt holds), as a PNG (matplotlib's object API, no pyplot)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    epochs = [r["epoch"] for r in history]
    fig = Figure(figsize=(13, 4), layout="constrained")
    loss_ax, acc_ax, lr_ax = fig.subplots(1, 3)

    def series(ax: Any, key: str, label: str, style: str, scale: float = 1.0) -> None:
        points = [(r["epoch"], r[key] * scale) for r in history if r.get(key) is not None]
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, style, label=label, markersize=4)

    series(loss_ax, "train_loss", "train", "o-")
    series(loss_ax, "val_loss", "val", "o-")
    series(acc_ax, "train_accuracy", "train", "o-", 100)
    series(acc_ax, "val_accuracy", "val", "o-", 100)
    series(acc_ax, "val_top5_accuracy", "val top-5", "s--", 100)
    series(lr_ax, "lr", "", "o-")
    acc_ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    lr_ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    best = next((r for r in history if r["epoch"] == best_epoch), None)
    panels = ((loss_ax, "loss"), (acc_ax, "accuracy"), (lr_ax, "learning rate (end of epoch)"))
    for ax, name in panels:
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if len(epochs) == 1:
            ax.set_xlim(epochs[0] - 1, epochs[0] + 1)
        ax.set_title(name)
        ax.grid(alpha=0.3)
        if best is not None:
            ax.axvline(best["epoch"], color="0.4", linestyle=":", linewidth=1.2, label="best epoch")
    if best is not None and best.get("val_accuracy") is not None:
        acc_ax.plot(
            [best["epoch"]],
            [best["val_accuracy"] * 100],
            marker="*",
            markersize=16,
            color="crimson",
            linestyle="none",
            label=f"best.pt: epoch {best['epoch']}, val {best['val_accuracy']:.2%}",
        )
    for ax in (loss_ax, acc_ax):
        ax.legend(fontsize=8)
    if title:
        if best is not None and best.get("val_accuracy") is not None:
            title += f": best.pt is epoch {best['epoch']} of {epochs[-1]} (chosen on val)"
        elif best is not None:
            title += f": best.pt is the last epoch ({best['epoch']}), no validation split"
        fig.suptitle(title, fontsize=13)
    _save_figure(fig, path)


def plot_confusion(
    confusion: list[list[Any]],
    classes: tuple[str, ...] | list[str],
    path: Path,
    title: str = "",
    normalized: bool = False,
) -> None:
    """A confusion matrix (rows true, columns predicted) as a PNG heat map: counts (integer
    colour-bar ticks) or, ``normalized``, each row's share; numbers in the cells up to 20
    classes."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    n = len(classes)
    side = min(max(5.0, 0.42 * n + 2.5), 24.0)
    fig = Figure(figsize=(side + 1.2, side), layout="constrained")
    ax = fig.subplots()
    values = [[float(v) for v in row] for row in confusion]
    top = max((max(row) for row in values if row), default=0.0)
    image = ax.imshow(
        values, cmap="Blues", vmin=0, vmax=1 if normalized else max(top, 1), aspect="equal"
    )
    bar = fig.colorbar(image, ax=ax, shrink=0.8)
    if normalized:
        bar.ax.yaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))
        bar.set_label("share of the true class")
    else:
        bar.ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        bar.set_label("images")
    if n <= 40:
        long = max((len(c) for c in classes), default=1) > 3
        ax.set_xticks(
            range(n),
            classes,
            rotation=45 if long or n > 12 else 0,
            ha="right" if long or n > 12 else "center",
        )
        ax.set_yticks(range(n), classes)
    if n <= 20:
        size = 9 if n <= 12 else 8
        for i, row in enumerate(values):
            for j, value in enumerate(row):
                if not value:
                    continue
                text = f"{value:.0%}" if normalized else f"{int(value)}"
                if normalized and 0 < value < 0.005:
                    text = "<1%"
                elif normalized and 0.995 <= value < 1:
                    text = ">99%"  # not 100%: some images of the class went elsewhere
                dark = value > (0.5 if normalized else top / 2)
                ax.text(
                    j,
                    i,
                    text,
                    ha="center",
                    va="center",
                    fontsize=size,
                    color="white" if dark else "black",
                )
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if title:
        ax.set_title(title, fontsize=11)
    _save_figure(fig, path)


def _save_figure(fig: Any, path: Path) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    write_atomic(path, buffer.getvalue())
