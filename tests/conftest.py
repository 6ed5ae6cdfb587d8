"""Shared fixtures: the examples and the repository root."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.cnn") if p.stem != "resnet_blocks")


@pytest.fixture
def root() -> Path:
    return ROOT


def in_fresh_processes(code: str, seeds: tuple[str, ...] = ("0", "4242")) -> list[str]:
    """Run ``code`` in one fresh interpreter per ``PYTHONHASHSEED``; their standard outputs.

    Determinism tests compare these: two calls in one process share string hashes, set
    order and caches, so they cannot catch output that depends on them.
    """
    import os

    outputs = []
    for seed in seeds:
        env = {**os.environ, "PYTHONHASHSEED": seed}
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT
        )
        assert proc.returncode == 0, proc.stderr
        outputs.append(proc.stdout)
    return outputs
