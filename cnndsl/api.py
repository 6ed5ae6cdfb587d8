"""The front end's public functions: source text or file -> checked networks.

These import neither torch nor graphviz; :mod:`cnndsl.cli` is a thin layer over them.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import ir
from .elaborate import elaborate
from .errors import Warnings
from .parser import parse, parse_file
from .program import Program
from .shapes import Analysis, infer_shapes


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: the front end builds large acyclic trees, and
    repeated full collections made checking 20,000 layers twice as slow."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def load_program(
    path: str | Path | None = None, source: str | None = None, filename: str = "<string>"
) -> Program:
    """Parse a file (or source text) and resolve its imports."""
    with no_gc():
        tree = parse(source, filename) if source is not None else parse_file(str(path))
        return Program.from_file(tree)


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
