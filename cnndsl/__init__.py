"""cnndsl: a small language for convolutional networks.

Write an architecture once in a ``.cnn`` file; cnndsl shape-checks it, draws it, compiles it
to readable PyTorch and trains it. The front end (``check``, ``summary``, ``render``,
``compile``) never imports torch; :func:`load` does.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["load", "compile_source", "render", "__version__"]


def load(path: Any, network: str | None = None, **params: Any) -> Any:
    """Compile a ``.cnn`` file and return its network as a ``torch.nn.Module``."""
    from .loader import load as _load

    return _load(path, network, **params)


def compile_source(path: Any, network: str | None = None) -> str:
    """Compile a ``.cnn`` file to Python source."""
    from .codegen import compile_source as _compile

    return _compile(path, network)


def render(path: Any, **options: Any) -> Any:
    """Draw a ``.cnn`` file's network; returns a ``graphviz.Digraph``."""
    from .render import render as _render

    return _render(path, **options)
