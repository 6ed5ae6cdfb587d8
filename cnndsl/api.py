"""The front end's public functions: source text or file -> checked networks.

These import neither torch nor graphviz; :mod:`cnndsl.cli` is a thin layer over them, and no
stage imports this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import ir
from .elaborate import elaborate
from .errors import Warnings
from .program import load_program, no_gc
from .shapes import Analysis, infer_shapes


def load_networks(
    path: str | Path | None = None,
    source: str | None = None,
    network: str | None = None,
    overrides: dict[str, Any] | None = None,
    warnings: Warnings | None = None,
    filename: str = "<string>",
) -> list[ir.Network]:
    """Parse, elaborate and shape-check; raises :class:`cnndsl.errors.CnnError`."""
    program = load_program(path, source, filename)
    with no_gc():
        return elaborate(program, network, overrides, warnings)


def analyze(
    path: str | Path | None = None,
    source: str | None = None,
    network: str | None = None,
    overrides: dict[str, Any] | None = None,
    warnings: Warnings | None = None,
    filename: str = "<string>",
) -> list[Analysis]:
    """:func:`load_networks` plus the side table of every network."""
    nets = load_networks(path, source, network, overrides, warnings, filename)
    with no_gc():
        return [infer_shapes(n) for n in nets]


def summary_json(
    path: str | Path | None = None,
    source: str | None = None,
    network: str | None = None,
    filename: str = "<string>",
) -> dict[str, Any]:
    """The ``cnndsl summary --format json`` document as a dict."""
    from .summary import to_json

    return to_json(analyze(path, source, network, filename=filename))
