"""The front end at its bounds (docs/language.md, "Bounds"): `cnndsl check` time and peak
memory, each in a fresh process, for files at the limits.

    python bench/limits.py

Targets (issue 11): a file at the limit finishes within 30 s and 1 GiB, memory linear in
the input. Printed, never asserted (machines are noisy).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = {
    "100,000 relu statements (the step limit)": "relu\n" * 99_990,
    "4 MB of blank lines": "\n" * 4_000_000,
    "4 MB string literal (refused)": 'let s = "' + "a" * 4_000_000 + '"\n',
    "4 MB of relu lines (refused at the token limit)": "relu\n" * 830_000,
    "4 MB of comments": ("# " + "x" * 78 + "\n") * 50_000,
}
CHILD = (
    "import resource, sys\n"
    "from cnndsl.api import analyze\n"
    "from cnndsl.errors import CnnError\n"
    "try:\n    analyze(sys.argv[1])\nexcept CnnError:\n    pass\n"
    "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for name, body in CASES.items():
            path = Path(tmp) / "case.cnn"
            path.write_text("network N {\n input 3x8x8\n" + body + "relu\n}\n")
            start = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True
            )
            took = time.perf_counter() - start
            peak = int(out.stdout.split()[-1]) / 1024
            size = path.stat().st_size / 1e6
            print(f"{name:50s} {size:5.2f} MB  {took:6.2f} s  {peak:7.1f} MiB peak")


if __name__ == "__main__":
    main()
