"""Trainer overhead: cnndsl's trainer against a minimal hand-written PyTorch loop.

Both train LeNet-5 (examples/lenet5.cnn, built by ``cnndsl.load``) on the scikit-learn digits
resized to 32x32, batch 64, Adam lr=0.002, for the same number of epochs, on the same device.
The two alternate round by round so that a change in machine load hits both. Printed: the
training images/s of each (the trainer's own per-epoch timing of its loop; wall-clock for
the hand loop), their ratio (target >= 0.9), and the trainer's whole-run wall time, which
adds the per-epoch validation pass, checkpoints and plots, the final test pass, and the
time the plots cost the training process (curves.png and the confusion plots are redrawn
after every epoch: between epochs where training fills the CPUs, else by a plot process, and
then this is the handing over, any wait for the epoch before's drawing, and the wait at the
end of the run for the last one).
The trainer keeps the section's cosine schedule (stepped per iteration), so its figure
includes that cost; the hand loop has none.

    .venv/bin/python bench/trainer_overhead.py [--epochs 5] [--rounds 5] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import cnndsl
from cnndsl import training as T
from cnndsl.api import load_networks
from cnndsl.training.data import load_data
from cnndsl.training.report import Plots
from cnndsl.training.trainer import Trainer

ROOT = Path(__file__).resolve().parent.parent
LENET = ROOT / "examples" / "lenet5.cnn"


def hand_loop(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int,
    batch: int,
    lr: float,
    seed: int,
) -> float:
    """The minimal loop: shuffle, index, forward, cross-entropy, backward, Adam step.

    Returns training images/s.
    """
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    sync(x.device)
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=gen).to(x.device)
        for i in range(0, len(y), batch):
            idx = order[i : i + batch]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    sync(x.device)
    return epochs * len(y) / (time.perf_counter() - start)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


PLOT_SECONDS: list[float] = []  # the training process's time in plot rounds and the wait


def timed(plot):  # the Trainer's plot round, timed (measurement only)
    def wrapper(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return plot(self, *args, **kwargs)
        finally:
            PLOT_SECONDS.append(time.perf_counter() - start)

    return wrapper


Trainer._plot = timed(Trainer._plot)  # type: ignore[method-assign]
Plots.sync = timed(Plots.sync)  # type: ignore[method-assign]


def trainer_run(cfg: dict, device: str) -> tuple[float, float]:
    """One whole ``fit``; returns (training images/s, wall seconds)."""
    net = load_networks(LENET)[-1]
    PLOT_SECONDS.clear()
    with tempfile.TemporaryDirectory() as run_dir:
        start = time.perf_counter()
        final = T.fit(
            lambda: cnndsl.load(LENET),
            T.NetInfo.of(net, str(LENET)),
            cfg,
            run_dir,
            T.Options(device=device, verbose=False),
        )
        wall = time.perf_counter() - start
    images = sum(r["images"] for r in final["history"])
    seconds = sum(r["images"] / r["images_per_s"] for r in final["history"])
    return images / seconds, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = T.pick_device(args.device)
    # same work on both sides: the section's augmentation and label smoothing are left out
    # (the hand loop has neither); the cosine schedule stays (a per-step cost of the trainer)
    cfg = {
        **load_networks(LENET)[-1].train,
        "epochs": args.epochs,
        "augment": [],
        "loss": {"name": "cross_entropy"},
    }
    data = load_data(cfg["data"], (1, 32, 32), cfg["seed"], val=cfg.get("val", 0.0))
    x, y = data.train.x.to(device), data.train.y.to(device)
    ours, hand, walls, plots = [], [], [], []
    for r in range(args.rounds + 1):  # round 0 warms up (allocator, oneDNN/cuDNN plans)
        ips, wall = trainer_run(cfg, args.device)
        torch.manual_seed(cfg["seed"])
        model = cnndsl.load(LENET).to(device)
        theirs = hand_loop(
            model, x, y, args.epochs, cfg["batch"], cfg["optimizer"]["lr"], cfg["seed"]
        )
        label = "warm-up" if r == 0 else f"round {r}"
        plotted = sum(PLOT_SECONDS)
        print(
            f"{label}: trainer {ips:,.0f} img/s (whole run {wall:.1f}s, of which plots "
            f"{plotted:.2f}s), hand loop {theirs:,.0f} img/s",
            flush=True,
        )
        if r:
            ours.append(ips)
            hand.append(theirs)
            walls.append(wall)
            plots.append(plotted)
    a, b = statistics.median(ours), statistics.median(hand)
    print(
        f"device {device}, {args.epochs} epochs x {len(y)} images, batch {cfg['batch']}, "
        f"{torch.get_num_threads()} threads"
    )
    print(f"trainer   {a:,.0f} img/s (median of {args.rounds})")
    print(f"hand loop {b:,.0f} img/s")
    print(f"ratio     {a / b:.3f}  (target >= 0.9)")
    print(
        f"trainer whole run (with val/test passes, checkpoints, plots): "
        f"{statistics.median(walls):.1f}s median"
    )
    print(
        f"plots (handing over after each epoch, waiting at the end): "
        f"{statistics.median(plots):.2f}s median, "
        f"{statistics.median(plots) / statistics.median(walls):.1%} of the whole run"
    )
    print(f"load average at the end: {' '.join(map(str, os.getloadavg()))}")


if __name__ == "__main__":
    main()
