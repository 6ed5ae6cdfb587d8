"""Stage 4b: elaborated program -> readable PyTorch source (jinja2 templates for layout).

Two writers, one output format (docs/architecture.md):

* :mod:`.blocks`, the symbolic translator: one ``nn.Module`` class per block the file uses
  and one per network, in dependency order. A class's ``__init__`` is translated from the
  block's *source*: parameters stay parameters, ``let`` becomes an assignment, ``if`` and
  ``repeat`` become Python control flow (constant ones are resolved here), and the module
  names are those of the language reference §5 for every instance. Channel counts are
  tracked symbolically; spatial sizes and resolved padding come from the instances.
* :mod:`.concrete`, the IR printer: every block instance printed from the elaborated
  network, so it agrees with the checker by construction. :func:`generate` uses it for a
  file whose blocks the translator cannot write for all their instances.

:mod:`.emit` is what an op's ``torch()`` sees, :mod:`.lines` holds output lines and
attribute names, :mod:`.files` assembles a file, :mod:`.layout` formats it. Python decides
names, values and order; ``templates/model.py.j2`` only lays out text.
"""

from __future__ import annotations

from pathlib import Path

from ..elaborate import elaborate
from ..errors import CnnError
from ..program import Program
from .files import class_names, generate
from .lines import HEADER

__all__ = ["HEADER", "class_names", "compile_program", "compile_source", "display_path", "generate"]


def compile_program(
    program: Program,
    source: str,
    network: str | None = None,
    strategy: str = "auto",
    formatted: bool = True,
) -> str | None:
    """The Python source of a loaded program (None when it defines no network);
    ``strategy`` and ``formatted`` as :func:`generate`'s."""
    networks = elaborate(program, network)
    return generate(program, networks, source, strategy, formatted) if networks else None


def compile_source(path: str | Path, network: str | None = None) -> str:
    """Compile a ``.cnn`` file to Python source (for tools)."""
    from ..program import load_program

    text = compile_program(load_program(path), display_path(path), network)
    if text is None:
        raise CnnError(
            f"{path} defines no network to compile",
            None,
            "a file of blocks is imported by files that define networks",
        )
    return text


def display_path(path: str | Path) -> str:
    p = Path(path)
    try:
        return p.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return p.name
