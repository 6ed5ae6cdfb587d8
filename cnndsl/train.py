"""Train, evaluate and use networks: ``cnndsl train``, ``cnndsl eval``, ``cnndsl predict``.

The core takes a model, not a file: :func:`fit` trains ``build`` (an ``nn.Module`` or a
picklable function returning one) with a resolved train config, writing a run folder::

    config.json   the resolved configuration
    metrics.jsonl one line per epoch;  metrics.json  the final figures
    curves.png    loss and accuracy per epoch;  confusion.png  the final confusion matrix
    last.pt       written atomically after every epoch;  best.pt  the best test accuracy

:func:`train_one_epoch` and :func:`evaluate` are the loop's two halves (as in torchvision's
reference script); :func:`train` adds ``nproc > 1`` (DistributedDataParallel through
``torch.distributed`` elastic launch) and the ``cmd_*`` functions are the CLI's thin layer.

Design notes: a data set that fits (``Options.max_resident_bytes``) lives on the device as
tensors and is batched by indexing a per-epoch permutation; larger ones go through a
``DataLoader``. The permutation of epoch ``e`` comes from a generator seeded by ``(seed, e)``,
so every rank draws the same one and takes its shard, and resuming needs no sampler state.
Losses and accuracy accumulate on the device; the host reads them every ``CHECK_EVERY`` steps
(progress and the NaN check) and at the end of an epoch.

>>> LrFactor("cosine", total=10, warmup=2)(0), LrFactor("cosine", total=10, warmup=2)(2)
(0.5, 1.0)
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import json
import math
import os
import random
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data import Data, Split, load_data, read_image
from .errors import CnnError
from .fileutil import write_atomic
from .train_config import DEFAULTS, OPTIMIZERS, SCHEDULES

CHECK_EVERY = 25  # steps between host reads of the running loss (progress, NaN check)
EVAL_BATCH = 512
OPTIMIZER_DEFAULTS: dict[str, dict[str, Any]] = {
    "sgd": {"lr": 0.01, "momentum": 0.0, "weight_decay": 0.0, "nesterov": False},
    "adam": {"lr": 0.001, "weight_decay": 0.0},
    "adamw": {"lr": 0.001, "weight_decay": 0.01},
}
Build = Callable[[], nn.Module] | nn.Module


# ---------------------------------------------------------------- what a run needs
@dataclass(frozen=True)
class NetInfo:
    """What the trainer needs to know of a network besides its module."""

    name: str
    input_shape: tuple[int, ...]
    num_outputs: int
    side_weights: tuple[tuple[str, float], ...] = ()
    file: str | None = None
    params: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, net: Any, file: str | None = None, params: dict[str, Any] | None = None) -> NetInfo:
        """From a checked :class:`cnndsl.ir.Network`."""
        if len(net.output_shape) != 1:
            shape = "x".join(map(str, net.output_shape))
            raise CnnError(
                f"{net.name} outputs {shape} per image; cnndsl trains classifiers "
                f"(one logit per class)",
                net.span,
            )
        return cls(
            net.name,
            tuple(net.input_shape),
            int(net.output_shape[0]),
            tuple((n, float(w)) for n, _, w in net.outputs),
            file,
            tuple(sorted((params or {}).items())),
        )


@dataclass
class Options:
    """How to run (not what to learn): device, precision, processes, resuming."""

    device: str = "auto"
    amp: str | None = None
    channels_last: bool = False
    compile: bool = False
    nproc: int = 1
    workers: int | None = None
    deterministic: bool = False
    stop_after: int | None = None
    resume: bool = False
    max_resident_bytes: int = 1 << 30
    progress: bool | None = None  # a rich bar; None: when stdout is a terminal
    verbose: bool = True


class Diverged(CnnError):
    """The loss became NaN or infinite."""


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto``: CUDA when available, else the CPU."""
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise CnnError(
                "--device cuda: no CUDA device is available", hint="use --device cpu (or auto)"
            )
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


# ---------------------------------------------------------------- configuration
def resolve_config(base: dict[str, Any] | None, args: Any) -> dict[str, Any]:
    """The train section's config with the command line's overrides applied.

    >>> from argparse import Namespace
    >>> cfg = resolve_config(None, Namespace(epochs=3, optimizer="sgd", lr=0.1))
    >>> cfg["epochs"], cfg["optimizer"]
    (3, {'name': 'sgd', 'lr': 0.1})
    """
    cfg = copy.deepcopy(base if base is not None else DEFAULTS)

    def opt(key: str) -> Any:
        return getattr(args, key, None)

    if opt("data"):
        cfg["data"] = parse_data_spec(opt("data"))
    for key in ("epochs", "batch", "seed"):
        if opt(key) is not None:
            cfg[key] = opt(key)
    if opt("optimizer") and opt("optimizer") != cfg["optimizer"]["name"]:
        cfg["optimizer"] = _switch(cfg["optimizer"], opt("optimizer"), OPTIMIZERS)
    if opt("lr") is not None:
        cfg["optimizer"]["lr"] = opt("lr")
    if opt("schedule") and opt("schedule") != cfg["schedule"]["name"]:
        cfg["schedule"] = _switch(cfg["schedule"], opt("schedule"), SCHEDULES)
    return cfg


def _switch(old: dict[str, Any], name: str, table: dict[str, dict[str, str]]) -> dict[str, Any]:
    """A new choice keeping the old settings it understands (lr, weight_decay, warmup)."""
    return {"name": name, **{k: v for k, v in old.items() if k != "name" and k in table[name]}}


def parse_data_spec(text: str) -> dict[str, Any]:
    """``--data 'digits(size=32)'`` -> ``{"name": "digits", "size": 32}``, as a train section."""
    from .parser import parse
    from .train_config import train_config

    try:
        tree = parse(f"train {{ data {text} }}", "--data")
        return train_config(tree.items[0])["data"]  # type: ignore[arg-type]
    except CnnError as exc:
        raise CnnError(
            f"--data {text!r}: {exc.message}",
            hint=exc.hint or 'e.g. --data "digits(size=32)" or --data "mnist(\\"data/mnist\\")"',
        ) from None


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


# ---------------------------------------------------------------- tensors on the device
class Augment:
    """Random augmentations of a float batch, on its device, from one seeded generator."""

    def __init__(self, specs: list[dict[str, Any]], device: torch.device, seed: int):
        self.ops = [(s["name"], s) for s in specs if s["name"] != "normalize"]
        self.gen = torch.Generator(device=device).manual_seed(seed)

    def __bool__(self) -> bool:
        return bool(self.ops)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for name, spec in self.ops:
            x = AUGMENTS[name](x, self.gen, spec)
        return x


def random_crop(x: torch.Tensor, gen: torch.Generator, spec: dict[str, Any]) -> torch.Tensor:
    """Zero-pad by ``pad`` and crop back at a random offset, per image (N×C×H×W)."""
    pad = int(spec.get("pad", 4))
    n, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n, 1), generator=gen, device=x.device)
    dx = torch.randint(0, 2 * pad + 1, (n, 1), generator=gen, device=x.device)
    rows = (dy + torch.arange(h, device=x.device)).view(n, 1, h, 1)
    cols = (dx + torch.arange(w, device=x.device)).view(n, 1, 1, w)
    batch = torch.arange(n, device=x.device).view(n, 1, 1, 1)
    chans = torch.arange(c, device=x.device).view(1, c, 1, 1)
    return padded[batch, chans, rows, cols]


def hflip(x: torch.Tensor, gen: torch.Generator, spec: dict[str, Any]) -> torch.Tensor:
    """Mirror each image left-right with probability ``p`` (0.5)."""
    flip = torch.rand(x.shape[0], generator=gen, device=x.device) < spec.get("p", 0.5)
    return torch.where(flip.view(-1, *([1] * (x.dim() - 1))), x.flip(-1), x)


AUGMENTS: dict[str, Callable[[torch.Tensor, torch.Generator, dict[str, Any]], torch.Tensor]] = {
    "random_crop": random_crop,
    "hflip": hflip,
}


@dataclass
class Context:
    """A rank's device and precision, and how raw batches become model inputs."""

    device: torch.device
    amp: torch.dtype | None = None
    scaler: Any = None
    augment: Augment | None = None
    normalize: tuple[float, float] | None = None
    channels_last: bool = False
    side_weights: tuple[float, ...] = ()
    rank: int = 0
    world: int = 1

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.amp is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp)

    def prepare(
        self, x: torch.Tensor, y: torch.Tensor, train: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Move to the device, scale uint8 to [0, 1], augment (training), normalize."""
        x = x.to(self.device, non_blocking=True)
        y = y.to(self.device, non_blocking=True)
        if x.dtype == torch.uint8:
            x = x.float().div_(255.0)
        if train and self.augment:
            x = self.augment(x)
        if self.normalize is not None:
            x = (x - self.normalize[0]) / self.normalize[1]
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, y

    def all_sum(self, *tensors: torch.Tensor) -> None:
        """Sum tensors over the ranks, in place."""
        if self.world > 1:
            import torch.distributed as dist

            for t in tensors:
                dist.all_reduce(t)


def epoch_order(n: int, seed: int, epoch: int, rank: int = 0, world: int = 1) -> torch.Tensor:
    """This rank's share of epoch ``epoch``'s permutation (padded so all shares are equal).

    >>> epoch_order(5, 0, 1, 0, 2).numel() == epoch_order(5, 0, 1, 1, 2).numel() == 3
    True
    """
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(n, generator=gen)
    if world > 1:
        order = torch.cat([order, order[: (-n) % world]])[rank::world]
    return order


class ResidentBatches:
    """Batches of a data set held on the device, by indexing the epoch's permutation."""

    def __init__(
        self,
        split: Split,
        device: torch.device,
        batch: int,
        seed: int,
        rank: int = 0,
        world: int = 1,
        channels_last: bool = False,
    ):
        x = split.x.to(device)
        if channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        self.x, self.y = x, split.y.to(device)
        self.batch, self.seed, self.rank, self.world = batch, seed, rank, world
        self.epoch = 1

    def __len__(self) -> int:
        return math.ceil(math.ceil(len(self.y) / self.world) / self.batch)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = epoch_order(len(self.y), self.seed, self.epoch, self.rank, self.world)
        order = order.to(self.x.device)
        for start in range(0, len(order), self.batch):
            idx = order[start : start + self.batch]
            yield self.x[idx], self.y[idx]


class EpochSampler(torch.utils.data.Sampler[int]):
    """The DataLoader twin of :func:`epoch_order` (``set_epoch`` before each epoch)."""

    def __init__(self, n: int, seed: int, rank: int = 0, world: int = 1):
        self.n, self.seed, self.rank, self.world, self.epoch = n, seed, rank, world, 1

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return math.ceil(self.n / self.world)

    def __iter__(self) -> Iterator[int]:
        return iter(epoch_order(self.n, self.seed, self.epoch, self.rank, self.world).tolist())


class LoaderBatches:
    """Batches through a DataLoader (workers, pinned memory) for data too large to hold."""

    def __init__(
        self,
        dataset: Any,
        device: torch.device,
        batch: int,
        seed: int,
        rank: int = 0,
        world: int = 1,
        workers: int | None = None,
    ):
        if isinstance(dataset, Split):
            dataset = torch.utils.data.TensorDataset(dataset.x, dataset.y)
        workers = min(4, os.cpu_count() or 1) if workers is None else workers
        self.sampler = EpochSampler(len(dataset), seed, rank, world)
        self.loader = torch.utils.data.DataLoader(
            dataset,
            batch_size=batch,
            sampler=self.sampler,
            num_workers=workers,
            pin_memory=device.type == "cuda",
            persistent_workers=workers > 0,
        )
        self.epoch = 1

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        self.sampler.set_epoch(self.epoch)
        return iter(self.loader)


def eval_batches(
    split: Any, device: torch.device, rank: int = 0, world: int = 1
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """This rank's contiguous-stride share of a test split, in order."""
    if isinstance(split, Split):
        idx = torch.arange(rank, len(split), world)
        for start in range(0, len(idx), EVAL_BATCH):
            part = idx[start : start + EVAL_BATCH]
            yield split.x[part], split.y[part]
        return
    shard = torch.utils.data.Subset(split, range(rank, len(split), world))
    yield from torch.utils.data.DataLoader(
        shard, batch_size=EVAL_BATCH, pin_memory=device.type == "cuda"
    )


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


# ---------------------------------------------------------------- state
def rng_state(augment: Augment | None) -> dict[str, Any]:
    """torch (CPU, CUDA), python, numpy and augmentation generator states, load-safe types."""
    version, words, gauss = random.getstate()
    name, words_np, pos, has_gauss, cached = np.random.get_state()  # type: ignore[misc]
    keys = np.asarray(words_np, dtype=np.int64)
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
        "python": [version, list(words), gauss],
        "numpy": [name, torch.from_numpy(keys), pos, has_gauss, cached],
        "augment": augment.gen.get_state() if augment else None,
    }


def set_rng_state(state: dict[str, Any], augment: Augment | None) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    version, words, gauss = state["python"]
    random.setstate((version, tuple(words), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if augment and state["augment"] is not None:
        augment.gen.set_state(state["augment"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """``torch.save`` through a temporary file and ``os.replace``: never half written."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_atomic(path, buffer.getvalue())


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """A checkpoint written by :func:`save_checkpoint` (loaded with ``weights_only``)."""
    path = Path(path)
    if not path.is_file():
        raise CnnError(
            f"checkpoint {path} not found", hint="a run folder holds last.pt and best.pt"
        )
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad file
        raise CnnError(f"{path} is not a cnndsl checkpoint: {exc}") from None


# ---------------------------------------------------------------- a run
class Trainer:
    """One rank's training run: set up in ``__init__``, then :meth:`run`."""

    def __init__(
        self,
        build: Build,
        info: NetInfo,
        cfg: dict[str, Any],
        run_dir: Path,
        opts: Options,
        rank: int = 0,
        world: int = 1,
        device: torch.device | None = None,
    ):
        self.info, self.cfg, self.run_dir, self.opts = info, cfg, Path(run_dir), opts
        self.rank, self.world = rank, world
        self.device = device or pick_device(opts.device)
        self.history: list[dict[str, Any]] = []
        self.best = {"epoch": 0, "test_accuracy": -1.0}
        self.epoch = 0
        seed_everything(cfg["seed"])
        self.data = load_data(cfg["data"], info.input_shape, cfg["seed"], opts.max_resident_bytes)
        self._check_classes(self.data)
        self.raw = self._model(build)
        self.ctx = self._context()
        self.batches = self._batches(self.data.train)
        self.test = self._test_split(self.data.test)
        self.criterion = nn.CrossEntropyLoss(
            label_smoothing=cfg["loss"].get("label_smoothing", 0.0)
        )
        self.optimizer = build_optimizer(self.raw.parameters(), cfg["optimizer"])
        self.scheduler = build_scheduler(
            self.optimizer, cfg["schedule"], cfg["epochs"], len(self.batches)
        )
        if opts.resume:
            self._restore(load_checkpoint(self.run_dir / "last.pt"))
        self.model = self._wrap(self.raw)
        self.reporter = Reporter(rank == 0 and opts.verbose, opts.progress, cfg["epochs"])

    # -- set-up helpers
    def _check_classes(self, data: Data) -> None:
        if len(data.classes) > self.info.num_outputs:
            raise CnnError(
                f"{data.name} has {len(data.classes)} classes but {self.info.name} "
                f"has {self.info.num_outputs} outputs",
                hint=f"give the last layer {len(data.classes)} outputs "
                f"(e.g. -p num_classes={len(data.classes)})",
            )

    def _model(self, build: Build) -> nn.Module:
        model = build if isinstance(build, nn.Module) else build()
        model = model.to(self.device)
        if self.opts.channels_last:
            model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        return model

    def _context(self) -> Context:
        amp = {None: None, "bf16": torch.bfloat16, "fp16": torch.float16}[self.opts.amp]
        scaler = torch.amp.GradScaler(self.device.type) if amp == torch.float16 else None
        augment = self.cfg["augment"]
        for spec in augment:
            if spec["name"] == "random_crop" and len(self.info.input_shape) != 3:
                raise CnnError("random_crop needs image input (channels x height x width)")
        norm = [
            (s.get("mean", 0.5), s.get("std", 0.5)) for s in augment if s["name"] == "normalize"
        ]
        return Context(
            self.device,
            amp,
            scaler,
            Augment(augment, self.device, self.cfg["seed"] + 7919 * self.rank),
            norm[-1] if norm else None,
            self.opts.channels_last,
            tuple(w for _, w in self.info.side_weights),
            self.rank,
            self.world,
        )

    def _resident(self, split: Any) -> bool:
        if not isinstance(split, Split):
            return False
        test = self.data.test
        size = split.nbytes + (test.nbytes if isinstance(test, Split) else 0)
        return size <= self.opts.max_resident_bytes

    def _batches(self, split: Any) -> ResidentBatches | LoaderBatches:
        batch = math.ceil(self.cfg["batch"] / self.world)  # the config's batch is global
        seed = self.cfg["seed"]
        if self._resident(split):
            return ResidentBatches(
                split, self.device, batch, seed, self.rank, self.world, self.opts.channels_last
            )
        return LoaderBatches(
            split, self.device, batch, seed, self.rank, self.world, self.opts.workers
        )

    def _test_split(self, split: Any) -> Any:
        if self._resident(split):
            return Split(split.x.to(self.device), split.y.to(self.device))
        return split

    def _wrap(self, model: nn.Module) -> nn.Module:
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            model = DistributedDataParallel(model, device_ids=ids)
        if self.opts.compile:
            model = torch.compile(model)  # type: ignore[assignment]
        return model

    def _restore(self, ckpt: dict[str, Any]) -> None:
        self.raw.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        if self.ctx.scaler is not None and ckpt.get("scaler"):
            self.ctx.scaler.load_state_dict(ckpt["scaler"])
        self.epoch, self.history, self.best = ckpt["epoch"], ckpt["history"], ckpt["best"]
        states = ckpt["rng"]
        set_rng_state(
            states[self.rank] if len(states) == self.world else states[0], self.ctx.augment
        )

    # -- running
    def run(self) -> dict[str, Any]:
        """Train the remaining epochs (up to ``stop_after``); returns the final metrics."""
        last = self.cfg["epochs"]
        if self.opts.stop_after is not None:
            last = min(last, self.epoch + self.opts.stop_after)
        self._start_files()
        try:
            with self._quiet_scheduler_warning():
                while self.epoch < last:
                    self._one_epoch(self.epoch + 1)
        except KeyboardInterrupt:
            self._save("interrupted.pt", gather=False)
            self._finish()
            if self.rank == 0 and self.opts.verbose:
                print(
                    f"interrupted in epoch {self.epoch + 1}: weights saved in "
                    f"{self.run_dir / 'interrupted.pt'}; --resume {self.run_dir} continues "
                    f"exactly from the end of epoch {self.epoch}",
                    file=sys.stderr,
                )
            raise
        except Diverged:
            self._finish()
            raise
        finally:
            self.reporter.close()
        return self._finish()

    def _one_epoch(self, epoch: int) -> None:
        self.batches.epoch = epoch
        self.reporter.epoch_start(epoch, len(self.batches))
        stats = train_one_epoch(
            self.model,
            self.criterion,
            self.optimizer,
            self.scheduler,
            self.batches,
            self.ctx,
            partial(self._check, epoch),
        )
        eval_model = self.raw if self.world > 1 else self.model
        metrics = evaluate(
            eval_model, self.test, self.ctx, self.data.classes, self.info.num_outputs
        )
        record = {"epoch": epoch, "lr": self.optimizer.param_groups[0]["lr"], **stats, **metrics}
        self.epoch = epoch
        self.history.append(record)
        improved = record["test_accuracy"] > self.best["test_accuracy"]
        if improved:
            self.best = {"epoch": epoch, "test_accuracy": record["test_accuracy"]}
        self._save("last.pt", "best.pt" if improved else None)
        self.reporter.epoch_end(record)
        if self.rank == 0:
            with open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(_compact(record, per_class=True)) + "\n")

    def _check(
        self, epoch: int, step: int, loss_sum: torch.Tensor, correct: torch.Tensor, seen: int
    ) -> None:
        """Every CHECK_EVERY steps: stop on a NaN/inf loss (agreed by all ranks), progress."""
        bad = (~torch.isfinite(loss_sum)).to(torch.float32).reshape(1)
        self.ctx.all_sum(bad)
        if bad.item() > 0:
            where = "at the end of" if step < 0 else f"by step {step} of"
            kept = (
                f"keeping the last good checkpoint ({self.run_dir / 'last.pt'}, epoch {self.epoch})"
                if self.epoch
                else "before any checkpoint was written"
            )
            raise Diverged(
                f"the training loss became {loss_sum.item()} {where} epoch {epoch}; stopped, "
                f"{kept}",
                hint="lower the learning rate (--lr), add warm-up "
                "(schedule … warmup=1), or check the data",
            )
        if step > 0 and self.reporter.fancy:
            self.reporter.step(step, loss_sum.item() / seen, correct.item() / seen, seen)

    @contextlib.contextmanager
    def _quiet_scheduler_warning(self) -> Iterator[None]:
        """GradScaler skips optimizer steps with inf gradients; the schedule steps anyway."""
        with warnings.catch_warnings():
            if self.ctx.scaler is not None:
                warnings.filterwarnings(
                    "ignore", message=r"Detected call of `lr_scheduler", category=UserWarning
                )
            yield

    # -- files (rank 0 writes; every rank joins the RNG-state gather)
    def _start_files(self) -> None:
        if self.rank != 0:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        config = {
            **self.cfg,
            "network": {
                "name": self.info.name,
                "file": self.info.file,
                "params": dict(self.info.params),
            },
            "run": {
                k: v
                for k, v in dataclasses.asdict(self.opts).items()
                if k not in ("resume", "progress", "verbose", "stop_after")
            },
        }
        if not (self.opts.resume and (self.run_dir / "config.json").exists()):
            write_atomic(self.run_dir / "config.json", json.dumps(config, indent=2) + "\n")
        lines = "".join(json.dumps(_compact(r, per_class=True)) + "\n" for r in self.history)
        write_atomic(self.run_dir / "metrics.jsonl", lines)

    def _save(self, name: str, copy_to: str | None = None, gather: bool = True) -> None:
        states = [rng_state(self.ctx.augment)]
        if self.world > 1 and gather:
            import torch.distributed as dist

            gathered: list[Any] = [None] * self.world
            dist.all_gather_object(gathered, states[0])
            states = gathered
        if self.rank != 0:
            return
        state = {
            "model": self.raw.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.ctx.scaler.state_dict() if self.ctx.scaler else None,
            "epoch": self.epoch,
            "config": self.cfg,
            "rng": states,
            "history": self.history,
            "best": self.best,
            "classes": list(self.data.classes),
            "network": {
                "name": self.info.name,
                "file": self.info.file,
                "params": dict(self.info.params),
                "input_shape": list(self.info.input_shape),
            },
        }
        save_checkpoint(state, self.run_dir / name)
        if copy_to:
            save_checkpoint(state, self.run_dir / copy_to)

    def _finish(self) -> dict[str, Any]:
        if self.rank != 0 or not self.history:
            return self.history[-1] if self.history else {}
        final = {
            "network": self.info.name,
            "epochs": self.epoch,
            **self.history[-1],
            "best_epoch": self.best["epoch"],
            "best_test_accuracy": self.best["test_accuracy"],
            "history": [_compact(r) for r in self.history],
        }
        write_atomic(self.run_dir / "metrics.json", json.dumps(final, indent=2) + "\n")
        plot_curves(self.history, self.run_dir / "curves.png")
        plot_confusion(
            self.history[-1]["confusion"], self.data.classes, self.run_dir / "confusion.png"
        )
        return final


def _compact(record: dict[str, Any], per_class: bool = False) -> dict[str, Any]:
    drop = {"confusion"} if per_class else {"confusion", "per_class"}
    return {k: v for k, v in record.items() if k not in drop}


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


# ---------------------------------------------------------------- entry points
def fit(
    build: Build,
    info: NetInfo,
    cfg: dict[str, Any],
    run_dir: str | Path,
    opts: Options | None = None,
    rank: int = 0,
    world: int = 1,
    device: torch.device | None = None,
) -> dict[str, Any]:
    """Train in this process (one rank of ``world``); returns the final metrics."""
    opts = opts or Options()
    with _determinism(opts.deterministic, device or pick_device(opts.device)):
        return Trainer(build, info, cfg, Path(run_dir), opts, rank, world, device).run()


def train(
    build: Build,
    info: NetInfo,
    cfg: dict[str, Any],
    run_dir: str | Path,
    opts: Options | None = None,
) -> dict[str, Any]:
    """:func:`fit`, in ``opts.nproc`` processes (DDP) when more than one."""
    opts = opts or Options()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ:
        # started by torchrun (several nodes): this process is one rank already
        result = _worker(build, info, cfg, str(run_dir), opts)
        if "error" in result:
            raise CnnError(result["error"], hint=result.get("hint"))
        return result
    if opts.nproc > 1:
        return launch(build, info, cfg, Path(run_dir), opts)
    return fit(build, info, cfg, run_dir, opts)


@contextlib.contextmanager
def _determinism(on: bool, device: torch.device) -> Iterator[None]:
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = not on
    if not on:
        yield
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


def launch(
    build: Build, info: NetInfo, cfg: dict[str, Any], run_dir: Path, opts: Options
) -> dict[str, Any]:
    """Run :func:`fit` in ``opts.nproc`` local processes, as ``torchrun --standalone`` does."""
    import uuid

    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=opts.nproc,
        run_id=f"cnndsl-{uuid.uuid4()}",
        rdzv_backend="c10d",
        rdzv_endpoint="localhost:0",
        max_restarts=0,
        monitor_interval=0.1,
        start_method="spawn",
    )
    results = elastic_launch(config, _worker)(build, info, cfg, str(run_dir), opts)
    first = results[0]
    if isinstance(first, dict) and "error" in first:
        raise CnnError(first["error"], hint=first.get("hint"))
    return first


def _worker(
    build: Build, info: NetInfo, cfg: dict[str, Any], run_dir: str, opts: Options
) -> dict[str, Any]:
    """One DDP rank (started by :func:`launch`): gloo on the CPU, nccl on CUDA."""
    import torch.distributed as dist

    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    device = pick_device(opts.device, int(os.environ.get("LOCAL_RANK", 0)))
    if device.type == "cuda":
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", device_id=device)
    else:
        torch.set_num_threads(
            max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", world)))
        )
        dist.init_process_group("gloo")
    try:
        return fit(build, info, cfg, run_dir, opts, rank, world, device)
    except CnnError as exc:
        return {"error": exc.message, "hint": exc.hint}
    finally:
        dist.destroy_process_group()


# ---------------------------------------------------------------- the CLI's commands
def load_model(file: str, network: str, params: dict[str, Any]) -> nn.Module:
    """The network compiled to PyTorch (``cnndsl.load``); picklable for worker processes."""
    from .loader import load

    return load(file, network=network, **params)


def _network(file: str, network: str | None, param: list[str] | None) -> tuple[Any, dict[str, Any]]:
    from .api import load_networks
    from .cli import _parse_overrides

    params = _parse_overrides(param)
    nets = load_networks(file, network=network, overrides=params)
    if not nets:
        raise CnnError(f"{file} defines no network to train (only blocks)")
    return nets[-1], params


def _options(args: Any, resume: bool = False) -> Options:
    return Options(
        device=args.device,
        amp=args.amp,
        channels_last=args.channels_last,
        compile=args.compile,
        nproc=args.nproc,
        workers=args.workers,
        deterministic=args.deterministic,
        stop_after=args.stop_after,
        resume=resume,
    )


def cmd_train(args: Any) -> int:
    """``cnndsl train FILE``: train, writing a run folder; ``--resume RUN_DIR`` continues."""
    if args.resume:
        return _resume(args)
    net, params = _network(args.file, args.network, args.param)
    cfg = resolve_config(net.train, args)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = Path(args.out or f"runs/{net.name}-{stamp}")
    if (run_dir / "last.pt").exists():
        raise CnnError(
            f"{run_dir} already holds a run",
            hint=f"continue it with --resume {run_dir}, or choose another --out",
        )
    info = NetInfo.of(net, args.file, params)
    final = train(
        partial(load_model, args.file, net.name, params), info, cfg, run_dir, _options(args)
    )
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun only rank 0 reports
        _print_final(final, run_dir)
    return 0


_CONFIG_FLAGS = ("epochs", "batch", "lr", "optimizer", "schedule", "data", "seed", "out")


def _resume(args: Any) -> int:
    run_dir = Path(args.resume)
    ckpt = load_checkpoint(run_dir / "last.pt")
    given = [f"--{k}" for k in _CONFIG_FLAGS if getattr(args, k, None) is not None]
    if given:
        raise CnnError(
            f"--resume continues {run_dir} as configured; {', '.join(given)} would change it",
            hint="drop those options, or start a new run",
        )
    saved = ckpt["network"]
    params = saved["params"] or {}
    from .api import load_networks

    net = load_networks(args.file, network=saved["name"], overrides=params)[-1]
    if ckpt["epoch"] >= ckpt["config"]["epochs"]:
        print(f"{run_dir} already finished its {ckpt['epoch']} epochs")
        return 0
    info = NetInfo.of(net, args.file, params)
    final = train(
        partial(load_model, args.file, net.name, params),
        info,
        ckpt["config"],
        run_dir,
        _options(args, resume=True),
    )
    _print_final(final, run_dir)
    return 0


def _print_final(final: dict[str, Any], run_dir: Path) -> None:
    if final:
        print(
            f"test accuracy {final['test_accuracy']:.2%} after epoch {final['epoch']} "
            f"(best {final['best_test_accuracy']:.2%} at epoch {final['best_epoch']}); "
            f"run saved in {run_dir}"
        )


def _from_checkpoint(args: Any) -> tuple[nn.Module, dict[str, Any], NetInfo, torch.device]:
    device = pick_device(args.device)
    ckpt = load_checkpoint(args.checkpoint)
    saved = ckpt.get("network") or {}
    params = saved.get("params") or {}
    from .api import load_networks

    net = load_networks(args.file, network=args.network or saved.get("name"), overrides=params)[-1]
    info = NetInfo.of(net, args.file, params)
    model = load_model(args.file, net.name, params).to(device)
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as exc:
        raise CnnError(
            f"{args.checkpoint} does not fit {net.name} in {args.file}: {str(exc).splitlines()[0]}"
        ) from None
    return model.eval(), ckpt, info, device


def cmd_eval(args: Any) -> int:
    """``cnndsl eval FILE --checkpoint CKPT``: print the test split's metrics."""
    model, ckpt, info, device = _from_checkpoint(args)
    cfg = ckpt["config"]
    data = load_data(cfg["data"], info.input_shape, cfg["seed"])
    norm = [
        (s.get("mean", 0.5), s.get("std", 0.5)) for s in cfg["augment"] if s["name"] == "normalize"
    ]
    ctx = Context(device, normalize=norm[-1] if norm else None)
    m = evaluate(model, _on_device(data.test, device), ctx, data.classes, info.num_outputs)
    print(
        f"{info.name} on {data.name} test ({sum(v['support'] for v in m['per_class'].values())}"
        f" images): loss {m['test_loss']:.4f}  accuracy {m['test_accuracy']:.2%}  "
        f"precision {m['precision']:.2%}  recall {m['recall']:.2%}  F1 {m['f1']:.2%}"
    )
    print(f"{'class':>12} {'precision':>10} {'recall':>8} {'F1':>8} {'support':>8}")
    for name, c in m["per_class"].items():
        print(
            f"{name:>12} {c['precision']:>10.2%} {c['recall']:>8.2%} {c['f1']:>8.2%} "
            f"{c['support']:>8}"
        )
    return 0


def _on_device(split: Any, device: torch.device) -> Any:
    return Split(split.x.to(device), split.y.to(device)) if isinstance(split, Split) else split


def cmd_predict(args: Any) -> int:
    """``cnndsl predict FILE --checkpoint CKPT IMAGE…``: class and probability per image."""
    model, ckpt, info, device = _from_checkpoint(args)
    classes = ckpt.get("classes") or [str(i) for i in range(info.num_outputs)]
    norm = [
        (s.get("mean", 0.5), s.get("std", 0.5))
        for s in ckpt["config"]["augment"]
        if s["name"] == "normalize"
    ]
    ctx = Context(device, normalize=norm[-1] if norm else None)
    if len(info.input_shape) != 3:
        raise CnnError(f"predict reads images; {info.name} does not take images")
    channels, size = info.input_shape[0], tuple(info.input_shape[1:])
    x = torch.stack([read_image(p, channels, size) for p in args.images])
    x, _ = ctx.prepare(x, torch.zeros(len(x), dtype=torch.long), train=False)
    with torch.inference_mode():
        out = model(x)
        probs = (out if isinstance(out, torch.Tensor) else out[0]).float().softmax(1)
    for path, p in zip(args.images, probs):
        best = int(p.argmax())
        name = classes[best] if best < len(classes) else str(best)
        print(f"{path}: {name} ({p[best].item():.1%})")
    return 0
