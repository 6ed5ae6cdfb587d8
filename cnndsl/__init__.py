"""cnndsl: a small language for convolutional networks.

Write an architecture once in a ``.cnn`` file; cnndsl shape-checks it, draws it, compiles it
to readable PyTorch and trains it. The front end (``check``, ``summary``, ``render``,
``compile``) never imports torch; :func:`load` does.

This module is the public facade; the stages below it (``parser`` → ``program`` →
``elaborate`` → ``shapes`` → ``tables`` / ``diagram`` / ``codegen`` → ``loader`` →
``training``) never import it. docs/architecture.md draws the pipeline.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api import Summary
    from .diagram import Diagram

from .version import __version__

__all__ = ["check", "summary", "load", "loads", "compile_source", "render", "__version__"]


def check(file_or_source: str | Path, network: str | None = None, **params: Any) -> Summary:
    """Check a ``.cnn`` file or source text: its networks' shapes, parameters and MACs.

    Raises :class:`cnndsl.errors.CnnError` with a position when the program is wrong.
    """
    from .api import check as _check

    return _check(file_or_source, network, None, **params)


def summary(
    file_or_source: str | Path, network: str | None = None, depth: int | None = None
) -> Summary:
    """The layer table of a ``.cnn`` file or source text (to ``depth``; notebooks show it)."""
    from .api import summary as _summary

    return _summary(file_or_source, network, depth)


def load(path: str | Path, network: str | None = None, **params: Any) -> Any:
    """Compile a ``.cnn`` file and return its network as a ``torch.nn.Module``."""
    from .loader import load as _load

    return _load(path, network, **params)


def loads(source: str, network: str | None = None, **params: Any) -> Any:
    """Compile ``.cnn`` source text and return its network as a ``torch.nn.Module``."""
    from .loader import loads as _loads

    return _loads(source, network, **params)


def compile_source(path: str | Path, network: str | None = None) -> str:
    """Compile a ``.cnn`` file to Python source."""
    from .codegen import compile_source as _compile

    return _compile(path, network)


def render(
    path: str | Path,
    *,
    network: str | None = None,
    overrides: dict[str, Any] | None = None,
    depth: int | str | None = None,
    rankdir: str = "TB",
    theme: str = "light",
    shapes: bool = True,
    fold: bool = True,
    title: bool = True,
    wrap: bool = True,
) -> Diagram:
    """Draw a ``.cnn`` file's network (the first, or ``network``): a ``graphviz.Digraph``.

    ``depth``: ``None`` draws everything, ``"auto"`` the most detail that fits a slide, N
    the modules of at most N path parts. Notebooks show the result as SVG.
    """
    from .api import analyze
    from .diagram import to_dot
    from .errors import CnnError

    analyses = analyze(path, network=network, overrides=overrides)
    if not analyses:
        raise CnnError(f"{path} has no network to draw (a library of blocks)")
    return to_dot(
        analyses[0],
        depth=depth,
        rankdir=rankdir,
        theme=theme,
        shapes=shapes,
        fold=fold,
        title=title,
        wrap=wrap,
    )
