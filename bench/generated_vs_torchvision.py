"""Generated ResNet-50 vs torchvision's resnet50: forward+backward time, same weights.

The two models run interleaved in one process (A, B, B, A, …) on the same batch, so machine
noise hits both alike; the script prints each median and the ratio torchvision / generated
(>= 0.97 means the generated code is within 3%). On CUDA it also runs with AMP (bf16).

Run: .venv/bin/python bench/generated_vs_torchvision.py [--batch 8] [--size 224] [--iters 10]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
import torchvision

import cnndsl

ROOT = Path(__file__).resolve().parent.parent


def step(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, amp: bool) -> None:
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=amp):
        loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    model.zero_grad(set_to_none=True)


def timed(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, amp: bool) -> float:
    if x.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    step(model, x, y, amp)
    if x.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def compare(device: str, batch: int, size: int, iters: int, amp: bool) -> None:
    torch.manual_seed(0)
    ref = torchvision.models.resnet50(weights=None).to(device)
    ours = cnndsl.load(ROOT / "examples" / "resnet50.cnn").to(device)
    ours.load_state_dict(ref.state_dict(), strict=True)
    ref.train()
    ours.train()
    x = torch.randn(batch, 3, size, size, device=device)
    y = torch.randint(0, 1000, (batch,), device=device)
    for _ in range(2):  # warm-up
        step(ref, x, y, amp)
        step(ours, x, y, amp)
    a, b = [], []
    for i in range(iters):  # alternate which model goes first
        if i % 2:
            b.append(timed(ref, x, y, amp))
            a.append(timed(ours, x, y, amp))
        else:
            a.append(timed(ours, x, y, amp))
            b.append(timed(ref, x, y, amp))
    ma, mb = statistics.median(a), statistics.median(b)
    label = f"{device}{' + AMP bf16' if amp else ''}, batch {batch}, {size}×{size}"
    print(
        f"{label}: generated {ma * 1000:.1f} ms, torchvision {mb * 1000:.1f} ms, "
        f"ratio (torchvision / generated) {mb / ma:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--iters", type=int, default=10)
    args = parser.parse_args()
    compare("cpu", args.batch, args.size, args.iters, amp=False)
    if torch.cuda.is_available():
        compare("cuda", args.batch * 8, args.size, args.iters * 3, amp=True)


if __name__ == "__main__":
    main()
