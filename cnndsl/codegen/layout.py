"""Lays out generated source with ruff format."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path


def format_python(text: str) -> str:
    """Normalise layout with ``ruff format`` (line length 100) when ruff is installed."""
    ruff = shutil.which("ruff") or _venv_ruff()
    if ruff is None:
        return text
    proc = subprocess.run(
        [
            ruff,
            "format",
            "--isolated",
            "--line-length",
            "100",
            "--stdin-filename",
            "generated.py",
            "-",
        ],
        input=text,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"generated code does not parse:\n{proc.stderr}\n{text}")
    return proc.stdout


def _venv_ruff() -> str | None:

    candidate = Path(sys.executable).parent / "ruff"
    return str(candidate) if candidate.exists() else None
