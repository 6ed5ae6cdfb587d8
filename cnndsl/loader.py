"""``cnndsl.load``: compile a ``.cnn`` file and import the result in memory."""

from __future__ import annotations

import hashlib
import linecache
import sys
import types
from pathlib import Path
from typing import Any

from .errors import CnnError


def load_module(path: str | Path, network: str | None = None) -> types.ModuleType:
    """Compile and import; the source is registered with linecache for tracebacks."""
    from .codegen import compile_source

    return _import(compile_source(path, network), Path(path))


def _import(source: str, path: Path) -> types.ModuleType:
    digest = hashlib.sha1(source.encode()).hexdigest()[:12]
    name = f"cnndsl_generated.{path.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    filename = f"<cnndsl:{path.name}:{digest}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = types.ModuleType(name)
    module.__file__ = filename
    sys.modules[name] = module
    exec(compile(source, filename, "exec"), module.__dict__)  # noqa: S102 - our own output
    return module


def load(path: str | Path, network: str | None = None, **params: Any) -> Any:
    """Compile ``path`` and build its network (the last one, or ``network``) with ``params``.

    Returns a ``torch.nn.Module``. The file is parsed once.
    """
    from .api import load_program
    from .codegen import _display, compile_program

    program = load_program(path)
    source = compile_program(program, _display(path))
    if source is None:
        raise CnnError(f"{path} defines no network")
    names = [n.name for n in program.networks]
    if network is not None and network not in names:
        from .errors import did_you_mean

        raise CnnError(
            f"no network {network!r} in {path}",
            None,
            did_you_mean(network, names) or f"networks: {', '.join(names)}",
        )
    return getattr(_import(source, Path(path)), network or names[-1])(**params)
