"""``cnndsl.load``: compile a ``.cnn`` file and import the result in memory."""

from __future__ import annotations

import hashlib
import linecache
import sys
import types
from pathlib import Path
from typing import Any


def load_module(path: str | Path, network: str | None = None) -> types.ModuleType:
    """Compile and import; the source is registered with linecache for tracebacks."""
    from .codegen import compile_source

    source = compile_source(path, network)
    digest = hashlib.sha1(source.encode()).hexdigest()[:12]
    name = f"cnndsl_generated.{Path(path).stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    filename = f"<cnndsl:{Path(path).name}:{digest}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = types.ModuleType(name)
    module.__file__ = filename
    sys.modules[name] = module
    exec(compile(source, filename, "exec"), module.__dict__)  # noqa: S102 - our own output
    return module


def load(path: str | Path, network: str | None = None, **params: Any) -> Any:
    """Compile ``path`` and build its network (the last one, or ``network``) with ``params``.

    Returns a ``torch.nn.Module``.
    """
    from .api import load_program

    program = load_program(path)
    names = [n.name for n in program.networks]
    if network is None:
        if not names:
            from .errors import CnnError

            raise CnnError(f"{path} defines no network")
        network = names[-1]
    module = load_module(path)
    return getattr(module, network)(**params)
