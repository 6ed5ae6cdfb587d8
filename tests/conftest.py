"""Shared fixtures: the examples and the repository root."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.cnn") if p.stem != "resnet_blocks")


@pytest.fixture
def root() -> Path:
    return ROOT
