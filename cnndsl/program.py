"""Stage 1b: a parsed file with its imports resolved (:class:`Program`)."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from . import syntax as s
from .errors import CnnError
from .names import MERGE_KINDS
from .ops import lookup
from .parser import parse, parse_file


@dataclass(slots=True)
class Program:
    """A file with its imports resolved: every block definition and the file's networks."""

    path: str
    blocks: dict[str, s.BlockDef]
    networks: list[s.NetworkDef]
    train: s.TrainDef | None

    @classmethod
    def from_file(cls, tree: s.File) -> Program:
        blocks: dict[str, s.BlockDef] = {}
        _collect(tree, blocks, [Path(tree.path).resolve()], set())
        networks = [i for i in tree.items if isinstance(i, s.NetworkDef)]
        trains = [i for i in tree.items if isinstance(i, s.TrainDef)]
        if len(trains) > 1:
            raise CnnError("a file holds at most one train section", trains[1].span)
        names: dict[str, s.NetworkDef] = {}
        for net in networks:
            if net.name in names:
                raise CnnError(
                    f"network {net.name!r} is defined twice",
                    net.span,
                    f"first defined at line {names[net.name].span.line}",
                )
            names[net.name] = net
        if trains and not networks:
            raise CnnError("a train section needs a network in the same file", trains[0].span)
        return cls(tree.path, blocks, networks, trains[0] if trains else None)


def _collect(
    tree: s.File, blocks: dict[str, s.BlockDef], stack: list[Path], done: set[Path]
) -> None:
    for item in tree.items:
        if isinstance(item, s.BlockDef):
            if item.name in blocks and blocks[item.name] is not item:
                prev = blocks[item.name]
                raise CnnError(
                    f"block {item.name!r} is defined twice",
                    item.span,
                    f"first defined at {prev.span}",
                )
            if lookup(item.name) is not None or item.name in MERGE_KINDS:
                raise CnnError(f"block name {item.name!r} is the name of an op", item.span)
            blocks[item.name] = item
        elif isinstance(item, s.Import):
            target = _import_target(item, stack[-1])
            if target in stack:
                cycle = " → ".join(p.name for p in stack[stack.index(target) :] + [target])
                raise CnnError(
                    f"import cycle: {cycle}",
                    item.span,
                    "move the shared blocks into a file both can import",
                )
            if target in done:
                continue
            if not target.is_file():
                raise CnnError(
                    f"cannot import {item.path!r}: no such file ({target})",
                    item.span,
                    "import paths are relative to the importing file",
                )
            done.add(target)
            try:
                tree = parse_file(target)
            except CnnError as exc:  # quote the import, never the other file's text
                where = f" (line {exc.span.line}, column {exc.span.column})" if exc.span else ""
                raise CnnError(
                    f"cannot import {item.path!r}: it is not a valid .cnn file{where}",
                    item.span,
                    f"check it with: cnndsl check {target}",
                ) from None
            _collect(tree, blocks, stack + [target], done)


def _import_target(item: s.Import, importer: Path) -> Path:
    """The file an ``import`` names: a ``.cnn`` path relative to the importing file."""
    if "\0" in item.path or len(item.path) > 4096:
        raise CnnError("cannot import: not a valid path", item.span)
    if not item.path.endswith(".cnn"):
        raise CnnError(
            f"cannot import {item.path!r}: imports name .cnn files",
            item.span,
            'e.g. import "blocks.cnn"',
        )
    try:
        return (importer.parent / item.path).resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop, a bad name
        raise CnnError(f"cannot import {item.path!r}: {exc}", item.span) from None


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
