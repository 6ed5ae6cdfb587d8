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
    # dont_inherit: not under this file's `from __future__ import annotations` (TorchScript
    # cannot resolve the string annotations of a NamedTuple of side outputs)
    code = compile(source, filename, "exec", dont_inherit=True)
    exec(code, module.__dict__)  # noqa: S102 - our own output
    return module


def load(path: str | Path, network: str | None = None, **params: Any) -> Any:
    """Compile ``path`` and build its network (the last one, or ``network``) with ``params``.

    Returns a ``torch.nn.Module``. The file is parsed once.
    """
    from .codegen import display_path
    from .program import load_program

    return _build(load_program(path), display_path(path), Path(path), network, params)


def loads(source: str, network: str | None = None, **params: Any) -> Any:
    """:func:`load` for ``.cnn`` source text (imports are relative to the working folder)."""
    from .program import load_program

    return _build(load_program(source=source), "<string>", Path("string.cnn"), network, params)


def _build(
    program: Any, display: str, path: Path, network: str | None, params: dict[str, Any]
) -> Any:
    from .codegen import class_names, compile_program
    from .names import param_names

    try:
        import torch  # noqa: F401  (the generated module needs it)
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            "cnndsl.load needs PyTorch: pip install 'cnndsl[torch]'", name="torch"
        ) from None

    source = compile_program(program, display, formatted=False)  # no subprocess
    if source is None:
        raise CnnError(f"{display} defines no network")
    nets = {n.name: n for n in program.networks}
    if network is not None and network not in nets:
        from .errors import did_you_mean

        raise CnnError(
            f"no network {network!r} in {display}",
            None,
            did_you_mean(network, nets) or f"networks: {', '.join(nets)}",
        )
    net = nets[network] if network is not None else program.networks[-1]
    class_name = class_names(program)[("network", net.name)]
    py = param_names([p.name for p in net.params])
    kwargs = {py.get(k, k): v for k, v in params.items()}
    model = getattr(_import(source, path), class_name)(**kwargs)
    return _picklable(model, (source, path.name, class_name, kwargs))


def _picklable(model: Any, recipe: tuple[str, str, str, dict[str, Any]]) -> Any:
    """Let ``pickle`` and ``torch.save(model)`` keep the model: it pickles as the generated
    Python source, the class, the constructor arguments and the ``state_dict``, so it loads in
    any process that has cnndsl, without the module it came from (which only exists in the
    process that compiled it)."""
    model.__dict__["_cnndsl_recipe"] = recipe
    type(model).__reduce__ = _reduce  # type: ignore[assignment]
    return model


def _reduce(model: Any) -> tuple[Any, tuple[Any, ...]]:
    recipe = model.__dict__["_cnndsl_recipe"]
    return _rebuild, (*recipe, model.state_dict(), model.training)


def _rebuild(
    source: str,
    name: str,
    class_name: str,
    kwargs: dict[str, Any],
    state: dict[str, Any],
    training: bool,
) -> Any:
    """Unpickling: import the generated source again, build, load the weights."""
    model = getattr(_import(source, Path(name)), class_name)(**kwargs)
    model.load_state_dict(state)
    model.train(training)
    return _picklable(model, (source, name, class_name, kwargs))
