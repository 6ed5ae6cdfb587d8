"""Front-end speed: `cnndsl check` wall time, and time per layer from 1,000 to 20,000 layers.

Prints figures measured side by side in one run (no assertions: machines are noisy):
1. `cnndsl check examples/resnet152.cnn` in a fresh process (what a user waits for on save),
   next to `torchinfo.summary` of torchvision's resnet152 when torchinfo is installed;
2. in-process parse + elaborate + shape-check time of generated networks of N layers, and
   the time per layer (it should stay flat: linear growth).

Run: .venv/bin/python bench/frontend.py   (make bench)
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = (1_000, 2_000, 5_000, 10_000, 20_000)


# Users' Pythons cache bytecode; a PYTHONDONTWRITEBYTECODE left in the environment would make
# every start recompile the package and measure the compiler instead.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def wall(cmd: list[str], repeat: int = 5) -> float:
    subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT, env=ENV)  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT, env=ENV)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def torchinfo_time() -> float | None:
    code = (
        "import time, torch, torchvision, torchinfo\n"
        "t = time.perf_counter()\n"
        "m = torchvision.models.resnet152()\n"
        "torchinfo.summary(m, input_size=(1, 3, 224, 224), verbose=0)\n"
        "print(time.perf_counter() - t)\n"
    )
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, env=ENV
    )
    if proc.returncode != 0:
        return None
    return time.perf_counter() - start


def network(layers: int) -> str:
    """A plain stack of `layers` layers: conv, bn and relu in turn, 16 channels on 32×32."""
    lines = ["network Deep {", "    input 3x32x32"]
    ops = ["conv 16 3x3 pad=1 bias=false", "bn", "relu"]
    lines += [f"    {ops[i % 3]}" for i in range(layers)]
    lines.append("}")
    return "\n".join(lines) + "\n"


def in_process(layers: int) -> float:
    from cnndsl.api import analyze

    source = network(layers)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "deep.cnn"
        path.write_text(source)
        times = []
        for _ in range(3):
            start = time.perf_counter()
            (a,) = analyze(path)
            times.append(time.perf_counter() - start)
            assert len(a.network.root.members) == layers
    return min(times)


def main() -> None:
    check = wall([sys.executable, "-m", "cnndsl", "check", "examples/resnet152.cnn"])
    print(f"cnndsl check examples/resnet152.cnn: {check:.3f} s wall (median of 5, new process)")
    for name in ("convnext_tiny", "regnet_y_400mf", "efficientnet_b0", "deeplabv3_resnet50"):
        other = wall([sys.executable, "-m", "cnndsl", "check", f"examples/{name}.cnn"])
        print(f"cnndsl check examples/{name}.cnn: {other:.3f} s ({other / check:.2f}x resnet152)")
    ti = torchinfo_time()
    if ti is None:
        print("torchinfo.summary(resnet152): torchinfo not installed (pip install torchinfo)")
    else:
        print(
            f"torchinfo.summary(resnet152) incl. imports: {ti:.3f} s wall "
            f"-> cnndsl is {ti / check:.1f}x faster"
        )
    print()
    print(f"{'layers':>8} {'in-process s':>13} {'µs/layer':>9} {'cnndsl check s':>15}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in SIZES:
            t = in_process(n)
            path = Path(tmp) / f"deep{n}.cnn"
            path.write_text(network(n))
            cli = wall([sys.executable, "-m", "cnndsl", "check", str(path)], repeat=1)
            print(f"{n:>8,} {t:>13.3f} {t / n * 1e6:>9.1f} {cli:>15.3f}")


if __name__ == "__main__":
    main()
