"""What a run needs: the network's facts, the options, the device."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..errors import CnnError

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
    # draw the plots in a forked process beside training (True), in the training process
    # between epochs (False), or None: beside training when a core is free for it
    # (:func:`cnndsl.training.report.plots_beside`)
    plot_process: bool | None = None


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
