"""Entry points: fit, train (one process or DDP through elastic launch), load_model."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import CnnError, Terminated, exit_on_sigterm
from .run import Build, NetInfo, Options, pick_device
from .trainer import Trainer


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
    import logging
    import signal

    from torch.distributed.elastic.multiprocessing.api import SignalException

    # the agent's "shutting down workers" warnings: the ranks report for themselves
    logging.getLogger("torch.distributed.elastic").setLevel(logging.ERROR)
    try:
        results = elastic_launch(config, _worker)(build, info, cfg, str(run_dir), opts)
    except SignalException as exc:
        # SIGTERM or SIGINT reached this process: the agent has passed it on to the ranks,
        # which saved interrupted.pt and stopped; stop as one process does
        if exc.sigval == signal.SIGTERM:
            raise Terminated() from None
        raise KeyboardInterrupt from None
    first = results[0]
    if isinstance(first, dict) and "error" in first:
        raise CnnError(first["error"], hint=first.get("hint"))
    return first


def _worker(
    build: Build, info: NetInfo, cfg: dict[str, Any], run_dir: str, opts: Options
) -> dict[str, Any]:
    """One DDP rank (started by :func:`launch`): gloo on the CPU, nccl on CUDA. SIGTERM saves
    like Ctrl-C."""
    import torch.distributed as dist

    exit_on_sigterm()

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
    from ..loader import load

    return load(file, network=network, **params)
