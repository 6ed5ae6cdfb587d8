"""Tensors on the device: augmentation, normalisation and batching."""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from .data import Split
from .run import EVAL_BATCH


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
