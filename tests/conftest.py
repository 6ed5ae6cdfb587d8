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


def build_concrete(path: Path, network: str | None = None) -> object:
    """The network of ``path`` compiled by the IR printer (``strategy="concrete"``), the code
    generator's fallback for blocks the symbolic translator cannot write."""
    from cnndsl.codegen import class_names, compile_program
    from cnndsl.loader import _import
    from cnndsl.program import load_program

    program = load_program(path)
    source = compile_program(program, path.name, network, strategy="concrete")
    assert source is not None
    name = network or program.networks[-1].name
    return getattr(_import(source, path), class_names(program)[("network", name)])()
