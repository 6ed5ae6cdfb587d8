"""Tensors on the device: augmentation, normalisation and batching."""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from .data import Split
from .run import EVAL_BATCH

# ---------------------------------------------------------------- augmentation
BATCH_AUGMENTS = ("mixup", "cutmix")


def transform(spec: dict[str, Any], size: tuple[int, ...]) -> Any:
    """The ``transforms.v2`` transform of one ``augment`` entry (LANGUAGE.md §10); ``size``:
    the network input's height and width."""
    from torchvision.transforms import v2  # type: ignore[import-untyped]

    name = spec["name"]
    if name == "random_crop":
        return v2.RandomCrop(list(size), padding=int(spec.get("pad", 4)))
    if name == "hflip":
        return v2.RandomHorizontalFlip(spec.get("p", 0.5))
    if name == "vflip":
        return v2.RandomVerticalFlip(spec.get("p", 0.5))
    if name == "random_resized_crop":
        return v2.RandomResizedCrop(list(size), scale=(spec.get("min_scale", 0.08), 1.0))
    if name == "color_jitter":
        return v2.ColorJitter(
            brightness=spec.get("brightness", 0.4),
            contrast=spec.get("contrast", 0.4),
            saturation=spec.get("saturation", 0.4),
            hue=spec.get("hue", 0.0),
        )
    if name == "randaugment":
        return v2.RandAugment(num_ops=spec.get("ops", 2), magnitude=spec.get("magnitude", 9))
    if name == "trivialaugment":
        return v2.TrivialAugmentWide()
    if name == "random_erasing":
        return v2.RandomErasing(p=spec.get("p", 0.25))
    raise ValueError(f"not a per-image augmentation: {name}")


class Augment:
    """The ``augment`` entries as ``transforms.v2`` transforms: per-image ones applied to each
    image of a batch (each draws its own parameters), then MixUp/CutMix on the batch.

    transforms.v2 draws from torch's global CPU generator; the augmentations get their own
    stream by swapping ``gen``'s state in around each batch (saved in checkpoints, so a
    resumed run augments exactly as an uninterrupted one)."""

    def __init__(
        self,
        specs: list[dict[str, Any]],
        device: torch.device,
        seed: int,
        size: tuple[int, ...] = (),
        num_classes: int = 0,
    ):
        from torchvision.transforms import v2

        per_image = [s for s in specs if s["name"] not in ("normalize", *BATCH_AUGMENTS)]
        # a leading random_crop pads the whole batch once, then crops each image: the same
        # draws and pixels as RandomCrop(size, padding=pad) per image, at half the cost
        self.pad = 0
        if per_image and per_image[0]["name"] == "random_crop":
            self.pad = int(per_image[0].get("pad", 4))
            per_image = [{"name": "random_crop", "pad": 0}, *per_image[1:]]
        self.per_image = v2.Compose([transform(s, size) for s in per_image]) if per_image else None
        batch = [
            (v2.MixUp if s["name"] == "mixup" else v2.CutMix)(
                alpha=float(s.get("alpha", 0.2 if s["name"] == "mixup" else 1.0)),
                num_classes=num_classes,
            )
            for s in specs
            if s["name"] in BATCH_AUGMENTS
        ]
        self.per_batch = (
            (batch[0] if len(batch) == 1 else v2.RandomChoice(batch)) if batch else None
        )
        self.gen = torch.Generator().manual_seed(seed)
        self.device = device

    def __bool__(self) -> bool:
        return self.per_image is not None or self.per_batch is not None

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(augmented images, targets): class indices, or class probabilities after
        MixUp/CutMix."""
        from torchvision.transforms import v2

        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(self.gen.get_state())
            if self.per_image is not None:
                if self.pad:
                    x = v2.functional.pad(x, [self.pad] * 4)
                x = torch.stack([self.per_image(image) for image in x])
            if self.per_batch is not None:
                x, y = self.per_batch(x, y)
            self.gen.set_state(torch.get_rng_state())
        return x, y


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
        """Move to the device, scale uint8 to [0, 1], normalize (no augmentation)."""
        x, _, y = self._prepare(x, y, False)
        return x, y

    def prepare_train(
        self, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(inputs, targets, labels): :meth:`prepare` with augmentation; the targets are
        class probabilities after MixUp/CutMix, else the labels."""
        return self._prepare(x, y, True)

    def _prepare(
        self, x: torch.Tensor, y: torch.Tensor, train: bool
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = x.to(self.device, non_blocking=True)
        y = y.to(self.device, non_blocking=True)
        if x.dtype == torch.uint8:
            x = x.float().div_(255.0)
        target = y
        if train and self.augment:
            x, target = self.augment(x, y)
        if self.normalize is not None:
            x = (x - self.normalize[0]) / self.normalize[1]
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, target, y

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
