"""Differential check of one program: what ``check`` says against what the compiled model does.

``run_program(source)`` returns None when they agree, else a one-line description of the
first disagreement, prefixed with its stage (``check``, ``reject``, ``compile``, ``import``,
``instantiate``, ``forward``, ``compare``, ``warning``).
"""

from __future__ import annotations

import hashlib
import linecache
import os
import sys
import types
import warnings
from typing import Any

from . import pipeline

MAX_TEXT = 200


def one_line(text: str, limit: int = MAX_TEXT) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def describe(exc: BaseException) -> str:
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    text = " ".join(lines[:2]) if lines and lines[0].endswith(":") else "".join(lines[:1])
    return one_line(f"{type(exc).__name__}: {text}")


def _where(exc: Any) -> str:
    span = getattr(exc, "span", None)
    return f"{span.line}:{span.column}" if span is not None else "?"


def _key(exc: Any) -> tuple[Any, ...]:
    span = getattr(exc, "span", None)
    return (getattr(exc, "message", str(exc)), tuple(span) if span is not None else None)


def run_program(source: str) -> str | None:
    """None when check and compile agree on ``source``, else the first disagreement."""
    return evaluate(source)[1]


def check_only(source: str) -> tuple[bool, str | None]:
    """(whether check accepts ``source``, a crash of check or None): the front end alone,
    for programs whose constructs the code generator does not compile yet."""
    cnn_error = pipeline.error_type()
    try:
        pipeline.check(source)
    except cnn_error:
        return False, None
    except Exception as exc:  # noqa: BLE001 - any crash is a finding
        return False, f"check: crashed: {describe(exc)}"
    return True, None


def evaluate(source: str) -> tuple[bool, str | None]:
    """(whether check accepts ``source``, the first disagreement or None)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            accepted: list[bool] = []
            result = _run(source, accepted)
        if result is None:
            for w in caught:
                if _ours(w):
                    return bool(accepted), one_line(f"warning: {w.category.__name__}: {w.message}")
        return bool(accepted), result
    finally:
        torch.set_num_threads(threads)


def _ours(w: warnings.WarningMessage) -> bool:
    """A warning raised by cnndsl or by generated code (torch's own are not reported)."""
    if issubclass(w.category, SyntaxWarning):
        return True
    filename = str(w.filename)
    return filename.startswith("<cnndsl") or "/cnndsl/" in filename.replace("\\", "/")


def _run(source: str, accepted: list[bool]) -> str | None:
    cnn_error = pipeline.error_type()
    try:
        analyses = pipeline.check(source)
    except cnn_error as exc:
        return _rejected(source, exc, cnn_error)
    except Exception as exc:  # noqa: BLE001 - any crash is a finding
        return f"check: crashed: {describe(exc)}"
    accepted.append(True)
    try:
        text = pipeline.compile(source)
    except cnn_error as exc:
        return f"compile: rejects what check accepts: {one_line(exc.message)} at {_where(exc)}"
    except Exception as exc:  # noqa: BLE001
        return f"compile: crashed: {describe(exc)}"
    if text is None:
        return "compile: no Python source for a program with networks" if analyses else None
    name = "cnndsl_fuzz_" + hashlib.sha1(text.encode()).hexdigest()[:12]
    filename = f"<cnndsl-fuzz:{name}>"
    module = types.ModuleType(name)
    module.__file__ = filename
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    sys.modules[name] = module
    try:
        try:
            exec(compile(text, filename, "exec"), module.__dict__)  # noqa: S102 - generated
        except Exception as exc:  # noqa: BLE001
            return f"import: {describe(exc)}"
        for analysis in analyses:
            problem = _run_network(module, analysis, source)
            if problem is None:
                problem = _run_other_params(module, analysis, source)
            if problem is None and os.environ.get("CNNDSL_FUZZ_SIZES") == "1":
                problem = _run_other_sizes(module, analysis, source)
            if problem is not None:
                return problem
        return None
    finally:
        sys.modules.pop(name, None)
        linecache.cache.pop(filename, None)


def _rejected(source: str, exc: Any, cnn_error: type[Exception]) -> str | None:
    """check rejected ``source``: compile must reject it with the same message and place."""
    try:
        pipeline.compile(source)
    except cnn_error as exc2:
        if _key(exc) != _key(exc2):
            return one_line(
                f"reject: check and compile differ: check {exc.message!r} at {_where(exc)}, "
                f"compile {getattr(exc2, 'message', exc2)!r} at {_where(exc2)}"
            )
        return None
    except Exception as exc2:  # noqa: BLE001
        return f"reject: compile crashed where check rejects: {describe(exc2)}"
    return f"reject: compile accepts what check rejects: {one_line(exc.message)}"


def _shape(value: Any) -> tuple[int, ...] | None:
    import torch

    if isinstance(value, torch.Tensor):
        return tuple(value.shape[1:])
    if isinstance(value, (tuple, list)) and value:
        return _shape(value[0])
    return None


def _other(value: Any) -> Any:
    """Another value of a parameter's kind: a flag flipped, a count or a channel number one
    more, a list with each element one more; None for what the fuzzer does not vary."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, tuple) and value and all(type(v) is int for v in value):
        return tuple(v + 1 for v in value)
    return None


OTHER_PARAMS_BUILT = 0  # networks built with other parameter values and compared (a count)


def _run_other_params(module: types.ModuleType, analysis: Any, source: str) -> str | None:
    """The generated class built with other values of the network's parameters (the
    constructor's arguments, not the defaults it was compiled with) against ``check -p``
    with the same values. A class printed from the IR refuses other values (ValueError,
    "recompile"): nothing to compare then."""
    import inspect

    net = analysis.network
    cls = getattr(module, pipeline.class_name(source, net.name), None)
    names = pipeline.network_params(source, net.name)
    if cls is None or not names:
        return None
    defaults = [p.default for p in inspect.signature(cls).parameters.values()]
    if len(defaults) != len(names):
        return (
            f"instantiate: {net.name}: {len(defaults)} constructor parameters, {len(names)} in .cnn"
        )
    args = [_other(v) for v in defaults]
    if any(a is None for a in args):
        return None
    overrides = {n: list(a) if isinstance(a, tuple) else a for n, a in zip(names, args)}
    try:
        other = pipeline.check_with(source, net.name, overrides)
    except pipeline.error_type():
        return None  # check refuses these values
    except Exception as exc:  # noqa: BLE001
        return f"check -p: crashed: {describe(exc)}"
    try:
        model = cls(*args)
    except ValueError as exc:
        if "recompile" in str(exc) or "compiled for" in str(exc):
            return None
        return f"instantiate with {overrides}: {net.name}: {describe(exc)}"
    except Exception as exc:  # noqa: BLE001
        return f"instantiate with {overrides}: {net.name}: {describe(exc)}"
    global OTHER_PARAMS_BUILT
    OTHER_PARAMS_BUILT += 1
    problem = _run_network(module, other, source, model)
    return f"with {overrides}: {problem}" if problem else None


def _run_network(
    module: types.ModuleType, analysis: Any, source: str, model: Any = None
) -> str | None:
    import torch

    net = analysis.network
    if model is None:
        cls = getattr(module, pipeline.class_name(source, net.name), None)
        if cls is None:
            return f"import: no class {net.name!r} in the generated module"
        try:
            model = cls()
        except Exception as exc:  # noqa: BLE001
            return f"instantiate: {net.name}: {describe(exc)}"
    named = dict(model.named_modules())
    # a stateless flatten may be a functional call, torch.flatten (LANGUAGE.md §5)
    expected = [
        (p, n) for p, n in net.modules() if p in named or getattr(n, "op", None) != "flatten"
    ]
    # a `scale` step is a parameter of the enclosing module, not a module (LANGUAGE.md §8)
    scales = [(p, n) for p, n in expected if getattr(n, "op", None) == "scale"]
    expected = [(p, n) for p, n in expected if getattr(n, "op", None) != "scale"]
    owned = dict(model.named_parameters())
    for path, node in scales:
        if path not in owned:
            return f"compare: {net.name}: scale parameter {path!r} missing from the model"
        if owned[path].numel() != analysis.node(node).params:
            return (
                f"compare: {net.name}: parameters of {path!r} (scale): "
                f"check {analysis.node(node).params}, torch {owned[path].numel()}"
            )
    for path, _node in expected:
        if path not in named:
            return f"compare: {net.name}: module path {path!r} missing from the model"
    listed = {path for path, _ in expected}
    for key, _ in [*model.named_parameters(), *model.named_buffers()]:
        owner = key.rpartition(".")[0]
        parts = owner.split(".")
        if owner and not any(".".join(parts[:n]) in listed for n in range(1, len(parts) + 1)):
            return f"compare: {net.name}: model has {key!r}, under no module path check lists"
    seen: dict[str, list[tuple[int, ...] | None]] = {}
    handles = []

    def hook(path: str) -> Any:
        def record(mod: Any, args: Any, out: Any) -> None:
            seen.setdefault(path, []).append(_shape(out))

        return record

    try:
        for path, _node in expected:
            handles.append(named[path].register_forward_hook(hook(path)))
        model.train()
        x = torch.zeros(2, *net.input_shape)
        try:
            with torch.no_grad():
                out = model(x)
        except Exception as exc:  # noqa: BLE001
            return f"forward: {net.name}: {describe(exc)}"
    finally:
        for h in handles:
            h.remove()
    for path, node in expected:
        want = analysis.node(node).shape
        got = seen.get(path)
        if not got:
            return f"compare: {net.name}: module {path!r} never ran in forward"
        for shape in got:
            if shape != tuple(want):
                return (
                    f"compare: {net.name}: output shape of {path!r} ({_kind(node)}): "
                    f"check {tuple(want)}, torch {shape}"
                )
        p = sum(t.numel() for t in named[path].parameters())
        if p != analysis.node(node).params:
            return (
                f"compare: {net.name}: parameters of {path!r} ({_kind(node)}): "
                f"check {analysis.node(node).params}, torch {p}"
            )
    params = sum(t.numel() for t in model.parameters())
    if params != analysis.params:
        return f"compare: {net.name}: total parameters: check {analysis.params}, torch {params}"
    buffers = sum(t.numel() for t in model.buffers())
    if buffers != analysis.buffers:
        return f"compare: {net.name}: total buffers: check {analysis.buffers}, torch {buffers}"
    outs = list(out) if isinstance(out, tuple) else [out]
    main = _shape(outs[0])
    if main != tuple(net.output_shape):
        return f"compare: {net.name}: main output: check {tuple(net.output_shape)}, torch {main}"
    sides = [tuple(shape) for _, shape, _ in net.outputs]
    got_sides = [_shape(o) for o in outs[1:]]
    if got_sides != sides:
        return f"compare: {net.name}: side outputs: check {sides}, torch {got_sides}"
    return None


def _run_other_sizes(module: types.ModuleType, analysis: Any, source: str) -> str | None:
    """The default-built model at other input sizes against ``check --input`` (LANGUAGE.md §8:
    a compiled network accepts every input size its layers accept), where check neither warns
    that the network is fixed to its declared size nor builds other modules or weights there.
    Opt-in: ``CNNDSL_FUZZ_SIZES=1`` (``main.py --other-sizes``)."""
    import torch

    net = analysis.network
    _, notes = pipeline.check_at(source, net.name, None)
    if any("accepts only" in note for note in notes):
        return None
    cls = getattr(module, pipeline.class_name(source, net.name))
    paths = [p for p, _ in net.modules()]
    for grow in (1, 4):
        shape = (net.input_shape[0], *(d + grow for d in net.input_shape[1:]))
        try:
            other, _ = pipeline.check_at(source, net.name, shape)
        except pipeline.error_type():
            continue
        if other.params != analysis.params or [p for p, _ in other.network.modules()] != paths:
            continue
        model = cls()
        named = dict(model.named_modules())
        seen: dict[str, tuple[int, ...] | None] = {}

        def hook(path: str, seen: dict[str, Any] = seen) -> Any:
            def record(mod: Any, args: Any, result: Any) -> None:
                seen.setdefault(path, _shape(result))

            return record

        handles = [named[p].register_forward_hook(hook(p)) for p in paths if p in named]
        size = "×".join(map(str, shape))
        try:
            with torch.no_grad():
                out = model(torch.zeros(2, *shape))
        except ValueError as exc:
            if "accepts only" in str(exc):  # the generated code's own guard
                continue
            return f"size: {net.name} at {size}: forward: {describe(exc)}"
        except Exception as exc:  # noqa: BLE001
            return f"size: {net.name} at {size}: forward: {describe(exc)}"
        finally:
            for h in handles:
                h.remove()
        for path, node in other.network.modules():
            want = tuple(other.node(node).shape)
            if path in seen and seen[path] != want:
                return (
                    f"size: {net.name} at {size}: output shape of {path!r} ({_kind(node)}): "
                    f"check {want}, torch {seen[path]}"
                )
        main = _shape(out[0] if isinstance(out, tuple) else out)
        if main != tuple(other.network.output_shape):
            return (
                f"size: {net.name} at {size}: main output: "
                f"check {tuple(other.network.output_shape)}, torch {main}"
            )
    return None


def _kind(node: Any) -> str:
    op = getattr(node, "op", None)
    if op is not None:
        return op
    kind = getattr(node, "kind", None)
    return f"{type(node).__name__} {kind}" if kind else type(node).__name__


def classify(problem: str) -> str:
    """The class of a disagreement: its description without names, numbers and shapes.

    >>> classify("instantiate: Net: KeyError: \\"attribute 'relu2' already exists\\"")
    "instantiate: KeyError: attribute '_' already exists"
    """
    import re

    text = re.sub(r"^(instantiate|forward|compare): [A-Za-z_]\w*: ", r"\1: ", problem)
    text = re.sub(r"(?<![A-Za-z])'[^']*'", "'_'", text)
    text = re.sub(r'"', "", text)
    text = re.sub(r"`[^`]*`", "`_`", text)
    text = re.sub(r"\b[A-Za-z_]\w*\.__init__\(\)", "_.__init__()", text)
    text = re.sub(r"\(\d+(, \d+)*,?\)", "(shape)", text)
    text = re.sub(r"\d+", "N", text)
    text = re.sub(r" at N:N\b", "", text)
    return text[:140]
