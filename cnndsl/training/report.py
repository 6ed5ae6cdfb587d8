"""Progress lines and the plots of a run (curves, confusion matrices)."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time
from collections.abc import Callable, Iterator
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
    epoch's and the run's ETA) and a bar while evaluating; else one plain line per epoch.

    The bar's figures are refreshed by time, not by step count: :meth:`step` runs after every
    step and reads the running totals (a device sync) when ``REFRESH_S`` has passed on
    ``now()`` since the last read (so a slow epoch still updates four times a second, a fast
    one does not sync every step)."""

    def __init__(
        self,
        enabled: bool,
        fancy: bool | None,
        epochs: int,
        now: Callable[[], float] = time.perf_counter,
    ):
        self.enabled, self.epochs, self.now = enabled, epochs, now
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
        self.started = self.last_read = self.now()
        self.last_read -= REFRESH_S  # the first step shows figures at once
        self.steps, self.epoch = steps, epoch
        if not self.fancy:
            return
        self._start()
        self.task = self.progress.add_task(
            f"epoch {epoch}/{self.epochs}", total=steps, info=self._eta(0)
        )

    def _eta(self, step: int, now: float = 0.0) -> str:
        """The epoch's and the run's remaining time at ``now``, from the speed so far."""
        if step <= 0:
            return "ETA -"
        elapsed = now - self.started
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
        """Called after every step with the epoch's running sums so far (0-d tensors: the
        summed loss and the count of right answers); reads them every ``REFRESH_S``."""
        if not self.fancy:
            return
        now = self.now()
        if now - self.last_read < REFRESH_S and step < self.steps:
            return
        self.last_read = now
        ips = seen / max(now - self.started, 1e-9)
        self.progress.update(
            self.task,
            completed=step,
            info=f"loss {loss_sum.item() / seen:.4f}  acc {correct.item() / seen:.1%}  "
            f"{ips:,.0f} img/s  {self._eta(step, now)}",
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
        self.epoch_seconds.append(self.now() - self.started)
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
            f"{self.now() - self.started:.1f}s",
            flush=True,
        )

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


# ---------------------------------------------------------------- plots
PLOT_DPI = 100


class Canvas:
    """A figure redrawn many times in a run, cheaply. A figure with fixed margins (no layout
    engine) is rendered as it is; one made with ``layout="constrained"`` gets the layout
    solved on the first draw and again only when the text that sets the margins grows (longer
    tick labels, more title lines). In between the axes keep their places and a draw is one
    plain Agg render (a constrained-layout save draws twice and measures every text), with
    fast PNG compression. Saved as PNG bytes with text metadata (``Title`` and the caller's
    keys, as ``PIL.Image.open(path).text`` reads them)."""

    def __init__(self, fig: Any) -> None:
        self.fig = fig
        self.fixed = fig.get_layout_engine() is None
        self.key: tuple[int, ...] | None = None  # the margin texts the layout was solved for

    def _margins(self) -> tuple[int, ...]:
        key: list[int] = []
        for ax in self.fig.axes:
            for axis in (ax.xaxis, ax.yaxis):
                key.append(max((len(t.get_text()) for t in axis.get_ticklabels()), default=0))
                key.append(len(axis.get_offset_text().get_text()))
                key.append(axis.label.get_text().count("\n") + bool(axis.label.get_text()))
            key.append(ax.get_title().count("\n") + bool(ax.get_title()))
        suptitle = self.fig.get_suptitle()
        key.append(suptitle.count("\n") + bool(suptitle))
        return tuple(key)

    def _render(self, metadata: dict[str, str]) -> bytes:
        buffer = io.BytesIO()
        self.fig.savefig(
            buffer,
            format="png",
            dpi=PLOT_DPI,
            metadata=metadata,
            pil_kwargs={"compress_level": 1},  # 20% larger files, ~40% less encoding time
        )
        return buffer.getvalue()

    def png(self, metadata: dict[str, str]) -> bytes:
        import matplotlib as mpl

        if self.fixed:
            return self._render(metadata)
        first = self.key is None  # the figure was made with layout="constrained"
        data = self._render(metadata)
        key = self._margins()
        if not first and any(new > old for new, old in zip(key, self.key or (), strict=False)):
            self.fig.set_layout_engine("constrained")  # longer labels: solve again
            data = self._render(metadata)
            key = self._margins()
        if first or self.fig.get_layout_engine() is not None:
            self.key = key
            with mpl.rc_context(
                {"figure.autolayout": False, "figure.constrained_layout.use": False}
            ):
                self.fig.set_layout_engine(None)  # keep the positions
        return data


class CurvesPlot:
    """curves.png: loss, accuracy (train, val, val top-5) and learning rate per epoch, a marker
    at the best epoch (the one best.pt holds). One figure serves a whole run: a draw replaces
    the lines' data, the marker, the legends and the title (matplotlib's object API, no
    pyplot)."""

    SERIES = (  # panel, history key, legend label, style, scale
        (0, "train_loss", "train", "o-", 1.0),
        (0, "val_loss", "val", "o-", 1.0),
        (1, "train_accuracy", "train", "o-", 100.0),
        (1, "val_accuracy", "val", "o-", 100.0),
        (1, "val_top5_accuracy", "val top-5", "s--", 100.0),
        (2, "lr", "", "o-", 1.0),
    )

    def __init__(self) -> None:
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator, PercentFormatter

        fig = Figure(figsize=(13, 4))
        # fixed margins (inches: 0.6 left, 0.55 below, 0.7 above for the two titles), room
        # for 6-character tick labels; no layout engine to solve at every epoch
        fig.subplots_adjust(left=0.6 / 13, right=0.992, bottom=0.55 / 4, top=1 - 0.7 / 4)
        fig.subplots_adjust(wspace=0.18)
        self.axes = fig.subplots(1, 3)
        names = ("loss", "accuracy", "learning rate (end of epoch)")
        for ax, name in zip(self.axes, names, strict=True):
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_title(name)
            ax.grid(alpha=0.3)
        self.axes[1].yaxis.set_major_formatter(PercentFormatter(decimals=0))
        self.axes[2].ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        self.lines = [
            (key, scale, self.axes[panel].plot([], [], style, label=label, markersize=4)[0])
            for panel, key, label, style, scale in self.SERIES
        ]
        self.best_lines = [
            ax.axvline(0, color="0.4", linestyle=":", linewidth=1.2, label="best epoch")
            for ax in self.axes
        ]
        self.star = self.axes[1].plot(
            [], [], marker="*", markersize=16, color="crimson", linestyle="none"
        )[0]
        self.canvas = Canvas(fig)

    def draw(
        self,
        history: list[dict[str, Any]],
        path: Path,
        title: str = "",
        best_epoch: int | None = None,
    ) -> None:
        epochs = [r["epoch"] for r in history]
        for key, scale, line in self.lines:
            points = [(r["epoch"], r[key] * scale) for r in history if r.get(key) is not None]
            line.set_data([p[0] for p in points], [p[1] for p in points])
            line.set_visible(bool(points))
        best = next((r for r in history if r["epoch"] == best_epoch), None)
        for line in self.best_lines:
            line.set_visible(best is not None)
            if best is not None:
                line.set_xdata([best["epoch"], best["epoch"]])
        starred = best is not None and best.get("val_accuracy") is not None
        self.star.set_visible(starred)
        if best is not None and starred:
            self.star.set_data([best["epoch"]], [best["val_accuracy"] * 100])
            self.star.set_label(f"best.pt: epoch {best['epoch']}, val {best['val_accuracy']:.2%}")
        lo, hi = (min(epochs), max(epochs)) if epochs else (0, 1)
        pad = 1.0 if hi == lo else 0.05 * (hi - lo)
        for i, ax in enumerate(self.axes):
            ax.set_xlim(lo - pad, hi + pad)
            ax.relim(visible_only=True)
            ax.autoscale_view(scalex=False)
            if i < 2:
                shown = [h for h in ax.get_lines() if h.get_visible() and h.get_label()]
                ax.legend(handles=shown, fontsize=8)
        if title:
            if starred and best is not None:
                title += f": best.pt is epoch {best['epoch']} of {epochs[-1]} (chosen on val)"
            elif best is not None:
                title += f": best.pt is the last epoch ({best['epoch']}), no validation split"
        self.canvas.fig.suptitle(title, fontsize=13)
        meta = {"Title": title, "cnndsl epochs": str(len(history))}
        if best is not None:
            meta["cnndsl best epoch"] = str(best["epoch"])
        write_atomic(path, self.canvas.png(meta))


def plot_curves(
    history: list[dict[str, Any]],
    path: Path,
    title: str = "",
    best_epoch: int | None = None,
) -> None:
    """:class:`CurvesPlot` once."""
    CurvesPlot().draw(history, path, title, best_epoch)


class ConfusionPlot:
    """A confusion matrix (rows true, columns predicted) as a PNG heat map: counts (integer
    colour-bar ticks) or, ``normalized``, each row's share; numbers in the cells up to 20
    classes. One figure is redrawn for a run's successive matrices (same classes)."""

    def __init__(self, classes: tuple[str, ...] | list[str], normalized: bool = False) -> None:
        from matplotlib.figure import Figure
        from matplotlib.ticker import PercentFormatter

        self.classes, self.normalized = tuple(classes), normalized
        n = len(classes)
        side = min(max(5.0, 0.42 * n + 2.5), 24.0)
        fig = Figure(figsize=(side + 1.2, side), layout="constrained")
        self.ax = ax = fig.subplots()
        self.image = ax.imshow(
            [[0.0] * n for _ in range(n)], cmap="Blues", vmin=0, vmax=1, aspect="equal"
        )
        self.bar = fig.colorbar(self.image, ax=ax, shrink=0.8)
        if normalized:
            self.bar.formatter = PercentFormatter(xmax=1, decimals=0)
            self.bar.set_label("share of the true class")
        else:
            self.bar.set_label("images")
        if n <= 40:
            long = max((len(c) for c in classes), default=1) > 3
            ax.set_xticks(
                range(n),
                classes,
                rotation=45 if long or n > 12 else 0,
                ha="right" if long or n > 12 else "center",
            )
            ax.set_yticks(range(n), classes)
        size = 9 if n <= 12 else 8
        self.cells = (
            [
                [ax.text(j, i, "", ha="center", va="center", fontsize=size) for j in range(n)]
                for i in range(n)
            ]
            if n <= 20
            else []
        )
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        self.canvas = Canvas(fig)

    def draw(
        self, confusion: list[list[Any]], path: Path, title: str = "", epoch: int | None = None
    ) -> None:
        from matplotlib.ticker import MaxNLocator

        values = [[float(v) for v in row] for row in confusion]
        top = max((max(row) for row in values if row), default=0.0)
        self.image.set_data(values)
        self.image.set_clim(0, 1 if self.normalized else max(top, 1))
        if not self.normalized:
            self.bar.locator = MaxNLocator(integer=True)
        for i, row in enumerate(self.cells):
            for j, text in enumerate(row):
                text.set_text(self._cell(values[i][j]))
                dark = values[i][j] > (0.5 if self.normalized else top / 2)
                text.set_color("white" if dark else "black")
        self.ax.set_title(title, fontsize=11)
        meta = {"Title": title}
        if epoch is not None:
            meta["cnndsl checkpoint epoch"] = str(epoch)
        write_atomic(path, self.canvas.png(meta))

    def _cell(self, value: float) -> str:
        if not value:
            return ""
        if not self.normalized:
            return f"{int(value)}"
        if 0 < value < 0.005:
            return "<1%"
        if 0.995 <= value < 1:
            return ">99%"  # not 100%: some images of the class went elsewhere
        return f"{value:.0%}"


def plot_confusion(
    confusion: list[list[Any]],
    classes: tuple[str, ...] | list[str],
    path: Path,
    title: str = "",
    normalized: bool = False,
) -> None:
    """:class:`ConfusionPlot` once."""
    ConfusionPlot(classes, normalized).draw(confusion, path, title)


# ---------------------------------------------------------------- drawing beside training
Job = tuple[str, tuple[Any, ...]]  # ("curves", draw arguments) or ("confusion", …)


class Drawer:
    """Draws jobs keyed by file: one :class:`CurvesPlot` or :class:`ConfusionPlot` per file,
    kept between draws. ``drawn`` lists ``(file name, tag)`` in the order written."""

    def __init__(self) -> None:
        self.plots: dict[str, Any] = {}
        self.drawn: list[tuple[str, str]] = []

    def draw(self, jobs: dict[str, Job]) -> None:
        for path, (kind, args) in jobs.items():
            if kind == "curves":
                history, title, best = args
                plot = self.plots.get(path) or CurvesPlot()
                plot.draw(history, Path(path), title, best)
                tag = str(len(history))
            else:
                classes, normalized, values, title, epoch = args
                plot = self.plots.get(path) or ConfusionPlot(classes, normalized)
                plot.draw(values, Path(path), title, epoch)
                tag = str(epoch)
            self.plots[path] = plot
            self.drawn.append((Path(path).name, tag))


def _serve(conn: Any, parent_end: Any = None) -> None:
    """The plot process: draws the newest job of each file, coalescing whatever arrived while
    it drew, and after each drawing tells the trainer how many job messages are written
    (``("done", n)``); answers a sync (``("sync",)``, or None: the last) once everything sent
    before it is written, with the files drawn so far and the first error. It ends with the
    trainer: when the trainer's end of the pipe closes (even by SIGKILL), and by a
    parent-death signal on Linux, so it never outlives the run holding the run's stdout
    open."""
    import signal

    if parent_end is not None:
        parent_end.close()  # the fork's copy of the trainer's end: else no EOF ever comes
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the trainer's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the trainer's handler: end quietly
    with contextlib.suppress(Exception):  # Linux: SIGTERM when the trainer dies
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if not hasattr(os, "SCHED_IDLE"):  # Linux: the trainer sets the class (Plots.start)
        with contextlib.suppress(OSError):
            os.nice(19)
    import matplotlib.backends.backend_agg  # noqa: F401 - imported while the first epoch runs
    import matplotlib.figure  # noqa: F401

    drawer = Drawer()
    pending: dict[str, Job] = {}
    received = 0  # job messages taken in
    error: str | None = None

    def draw() -> None:
        nonlocal error
        try:
            drawer.draw(pending)
        except Exception as exc:  # noqa: BLE001 - reported to the trainer at the next sync
            error = error or getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        pending.clear()

    while True:
        try:
            messages = [conn.recv()]
            while conn.poll():  # arrived while drawing: only each file's newest state counts
                messages.append(conn.recv())
        except (EOFError, OSError):
            return  # the trainer is gone
        for message in messages:
            if message is None or message[0] == "sync":
                draw()
                conn.send(("synced", drawer.drawn, error))
                if message is None:
                    return
            else:
                pending.update(message[1])
                received += 1
        if pending:
            draw()
            conn.send(("done", received))


def _background(pid: int) -> None:
    """Linux's idle scheduling class for process ``pid``: it runs only on a core that nothing
    else wants, so drawing does not compete with a training step (elsewhere nothing)."""
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))


def _foreground(pid: int) -> None:
    """Process ``pid`` back in the normal scheduling class (Linux; elsewhere nothing)."""
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setscheduler(pid, os.SCHED_OTHER, os.sched_param(0))


def plots_beside(device: str, busy_threads: int, cpus: int | None = None) -> bool:
    """Whether to draw a run's plots in a process beside training: when training runs on an
    accelerator (the CPU mostly waits for it), or the machine has more CPUs than the training
    threads of all its ranks (``busy_threads``). Where training fills every CPU, a plot
    process slows each training step by about a tenth, even in the idle scheduling class (on
    2 CPUs, ``bench/trainer_overhead.py``'s ratio to a hand-written loop was 0.87-0.89 with
    one, 0.99 without: the drawing runs between the steps' parallel regions and shares the
    cores' caches), so the trainer draws between epochs instead, at about the same cost in
    wall time and none inside its training loop."""
    if device != "cpu":
        return True
    if cpus is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        cpus = cpus or os.cpu_count() or 1
    return cpus > busy_threads


class Plots:
    """The run's plots, drawn beside training. ``submit`` hands the newest state of some files
    to a plot process (forked, in the idle scheduling class, so it takes only a core that
    training leaves free) and returns; the process draws each file's newest state.

    The plots are never more than one submission behind: ``submit`` first waits until the
    previous submission is written, and while it waits the plot process runs at normal
    priority (on a machine whose cores training fills, an idle-class process would otherwise
    wait for the end of the run). So each epoch's state is drawn, at the latest while the
    next epoch ends; with a free core it is drawn while the next epoch trains, and the trainer
    does not wait. ``sync`` waits until everything submitted is written (the end of a run;
    tests). Where ``fork`` is missing (Windows), or ``background`` is false, jobs are drawn in
    this process at once."""

    def __init__(self, background: bool = True) -> None:
        self.local: Drawer | None = None
        self.conn: Any = None
        self.proc: Any = None
        self.drawn: list[tuple[str, str]] = []
        self.newest: dict[str, Job] = {}  # each file's newest job (redrawn if the process dies)
        self.background = background
        self.sent = 0  # job messages sent to the plot process
        self.done = 0  # of which written
        self.waited = 0.0  # seconds submit spent waiting for the previous submission

    def start(self) -> None:
        """Start the plot process now (it imports matplotlib while the first epoch trains);
        else the first :meth:`submit` does."""
        if self.proc is not None or self.local is not None:
            return
        import multiprocessing as mp

        if self.background and "fork" in mp.get_all_start_methods():
            ctx = mp.get_context("fork")
            self.conn, child = ctx.Pipe()
            self.proc = ctx.Process(target=_serve, args=(child, self.conn), name="cnndsl-plots")
            self.proc.daemon = True
            self.proc.start()
            child.close()
            _background(self.proc.pid)  # here, not in the child: a wait's lift comes after
        else:
            self.local = Drawer()

    def submit(self, jobs: dict[str, Job]) -> None:
        self.start()
        self.newest.update(jobs)
        if self.local is not None:
            self.local.draw(jobs)
            self.drawn = self.local.drawn
            return
        try:
            self._catch_up()
            self.conn.send(("jobs", jobs))
            self.sent += 1
        except (OSError, EOFError):  # the plot process is gone: draw here from now on
            self._fallback()

    def _catch_up(self) -> None:
        """Take the plot process's reports; wait, at normal priority, while the last
        submission is unwritten."""
        while self.conn.poll():
            self._receive()
        with self._lifted():
            while self.done < self.sent:
                self._receive()

    @contextlib.contextmanager
    def _lifted(self) -> Iterator[None]:
        """A wait for the plot process: it runs at normal priority meanwhile, and the time
        waited is counted in ``waited``."""
        start = time.perf_counter()
        _foreground(self.proc.pid)
        try:
            yield
        finally:
            if self.proc is not None:  # (gone when the wait found it dead)
                _background(self.proc.pid)
            self.waited += time.perf_counter() - start

    def _receive(self) -> tuple[Any, ...]:
        message = self.conn.recv()
        if message[0] == "done":
            self.done = message[1]
        return tuple(message)

    def sync(self, stop: bool = False, errors: bool = True) -> None:
        """Wait until everything submitted is written; raise the plot process's error."""
        if self.proc is None:
            return
        try:
            with self._lifted():
                self.conn.send(None if stop else ("sync",))
                while (message := self._receive())[0] != "synced":
                    pass
        except (OSError, EOFError):
            self._fallback()
            return
        _, self.drawn, error = message
        self.done = self.sent
        if stop:
            self.proc.join(timeout=10)
            self.conn.close()
            self.proc = None
        if error and errors:
            from ..errors import CnnError

            raise CnnError(f"plots: {error}")

    def close(self, errors: bool = True) -> None:
        """Draw what is pending and end the plot process (``errors``: raise its error)."""
        self.sync(stop=True, errors=errors)

    def _fallback(self) -> None:
        """The plot process died: end it, and draw each file's newest state here."""
        if self.proc is not None:
            self.proc.join(timeout=1)
            if self.proc.is_alive():
                self.proc.terminate()
            self.proc = None
        self.local = Drawer()
        self.local.drawn = list(self.drawn)
        self.local.draw(self.newest)
        self.drawn = self.local.drawn
