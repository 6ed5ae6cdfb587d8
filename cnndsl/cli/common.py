"""What every command shares: reading input, reporting diagnostics, writing output."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import CnnError, Diagnostic, Warnings

_SOURCES: dict[str, str] = {}


def _source_of(file: str) -> str | None:
    if file in _SOURCES:
        return _SOURCES[file]
    try:
        return Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def remember_source(name: str, text: str) -> None:
    """Keep a source that is not a file (stdin), so diagnostics can show its lines."""
    _SOURCES[name] = text


def report(diag: Diagnostic) -> None:
    """Print a diagnostic to stderr with its source line and caret."""
    print(diag.format(_source_of(diag.span.file)), file=sys.stderr)


def _read_input(path: str) -> tuple[str | None, str]:
    """For ``-`` read stdin; returns (source or None for a file path, name)."""
    if path == "-":
        text = sys.stdin.read()
        _SOURCES["<stdin>"] = text
        return text, "<stdin>"
    return None, path


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CnnError(f"--param expects NAME=VALUE, got {item!r}")
        out[key] = _literal(value)
    return out


def _literal(text: str) -> Any:
    """``-p width=0.5``: a literal of the language; anything else stays a string."""
    from .. import syntax as s
    from ..expr import evaluate
    from ..parser import parse

    try:
        default = parse(f"network N(p = {text}) {{ input 1 }}").items[0].params[0].default  # type: ignore[union-attr]
        if isinstance(default, s.Name):
            return default.id
        return evaluate(default)  # type: ignore[arg-type]
    except CnnError:
        return text


def analyses(args: argparse.Namespace, path: str, warnings: Warnings) -> list[Any]:
    from ..api import analyze

    source, name = _read_input(path)
    return analyze(
        path if source is None else None,
        source,
        getattr(args, "network", None),
        parse_overrides(getattr(args, "param", None)),
        warnings,
        filename=name,
        input_shape=getattr(args, "input", None),
    )


def write_output(text: str, out: str | None, source: str) -> None:
    """Write a command's text to ``out`` (stdout for None or ``-``), never over its input."""
    if out in (None, "-"):
        sys.stdout.write(text)
        return
    from ..fileutil import check_outputs, write_atomic

    if source != "-":
        check_outputs([(source, out)])
    write_atomic(Path(out), text)


def size_arg(text: str) -> tuple[int, ...]:
    """``3x320x256`` -> (3, 320, 256): positive sizes, channels first."""
    import argparse

    parts = text.lower().split("x")
    if not all(p.isdigit() and int(p) > 0 for p in parts) or len(parts) > 4:
        raise argparse.ArgumentTypeError(f"expected a size such as 3x224x224, got {text!r}")
    return tuple(int(p) for p in parts)


def positive_float(text: str) -> float:
    """A finite number above 0 (a learning rate): ``nan``, ``inf`` and ``-1`` are usage errors."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def render_depth(text: str) -> int | str:
    if text.lower() in ("auto", "all"):
        return text.lower()
    return positive(text)
