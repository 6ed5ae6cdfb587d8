"""``cnndsl export``: a network as an ONNX file, a ``torch.export`` program or TorchScript.

The model is the one :func:`cnndsl.load` builds (the same generated class), in eval mode,
traced on a batch of the network's declared input shape. A model the exporter cannot
express is refused with the path of the layer that stops it (found by exporting the
model's children one at a time), not with the exporter's traceback.
"""

from __future__ import annotations

import io
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import CnnError
from .fileutil import check_outputs, write_atomic

FORMATS = ("onnx", "exported-program", "torchscript")
SUFFIX = {"onnx": ".onnx", "exported-program": ".pt2", "torchscript": ".pt"}
DEFAULT_OPSET = 18  # the lowest opset torch's ONNX exporter writes without a conversion
# the example batch: a fixed batch of 1, or 2 for a dynamic batch (torch.export
# specialises sizes 0 and 1)
EXAMPLE_BATCH = {False: 1, True: 2}


@dataclass(frozen=True, slots=True)
class Exported:
    """What :func:`export` wrote."""

    path: Path
    format: str
    network: str
    input_shape: tuple[int, ...]  # without the batch dimension
    dynamic_batch: bool


def default_output(path: str | Path, fmt: str, network: str | None = None) -> Path:
    """``model.onnx`` beside ``model.cnn`` (``model-Net.onnx`` when a network is named)."""
    p = Path(path)
    stem = p.stem if network is None else f"{p.stem}-{network}"
    return p.with_name(stem + SUFFIX[fmt])


def export(
    path: str | Path | None,
    fmt: str,
    out: str | Path | None = None,
    *,
    network: str | None = None,
    opset: int | None = None,
    dynamic_batch: bool = False,
    params: dict[str, Any] | None = None,
    source: str | None = None,
    input_shape: tuple[int, ...] | None = None,
) -> Exported:
    """Export one network of a ``.cnn`` file (``source`` text instead of a file when given)
    to ``out`` (default: beside the file, see :func:`default_output`) as ``fmt``: ``onnx``,
    ``exported-program`` (``torch.export.save``) or ``torchscript`` (``torch.jit.save``).

    ``opset`` applies to ONNX only; ``dynamic_batch`` makes the batch dimension symbolic
    (ONNX and exported programs; TorchScript is never specialised to a batch size).
    ``input_shape`` traces at another size than ``input`` declares (checked as
    ``check --input`` does).
    """
    _check_options(fmt, opset)
    model, name, shape = _build(path, network, params or {}, source, input_shape)
    if out is None:
        if path is None:
            raise CnnError("source text needs an output path", hint="give -o OUT")
        out = default_output(path, fmt, network)
    if path is not None and source is None:
        check_outputs([(path, out)])  # never over the .cnn file
    return export_model(model, shape, fmt, out, opset=opset, dynamic_batch=dynamic_batch, name=name)


def export_model(
    model: Any,
    input_shape: tuple[int, ...],
    fmt: str,
    out: str | Path,
    *,
    opset: int | None = None,
    dynamic_batch: bool = False,
    name: str | None = None,
) -> Exported:
    """Export a built model (a ``torch.nn.Module`` that takes one batch of ``input_shape``
    tensors) as :func:`export` does; it is put in eval mode."""
    _check_options(fmt, opset)
    torch = _torch()
    model.eval()
    x = torch.randn(EXAMPLE_BATCH[dynamic_batch], *input_shape)
    try:
        with torch.no_grad():
            model(x)
    except Exception as exc:  # noqa: BLE001 - a model that does not run is not exported
        size = "×".join(map(str, input_shape))
        raise CnnError(
            f"the module does not run on an input of {size}: {_reason(exc)}",
            hint="the generated module is built for the declared input; --input may change "
            "only sizes it does not depend on",
        ) from None
    if fmt == "torchscript":
        data = _torchscript(model)
    elif fmt == "exported-program":
        data = _exported_program(model, x, dynamic_batch)
    else:
        data = _onnx(model, x, opset or DEFAULT_OPSET, dynamic_batch)
    write_atomic(Path(out), data)
    name = name or type(model).__name__
    return Exported(Path(out), fmt, name, tuple(input_shape), dynamic_batch)


def _check_options(fmt: str, opset: int | None) -> None:
    if fmt not in FORMATS:
        raise CnnError(f"unknown export format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}")
    if opset is not None and fmt != "onnx":
        raise CnnError("--opset applies to --format onnx only")
    if opset is not None and not 7 <= opset <= 30:
        raise CnnError(f"opset {opset} is out of range", hint=f"e.g. --opset {DEFAULT_OPSET}")


# ---------------------------------------------------------------- the model
def _torch() -> Any:
    try:
        import torch
    except ModuleNotFoundError:
        raise CnnError(
            "cnndsl export needs PyTorch (torch is not installed)",
            hint="pip install 'cnndsl[torch]'",
        ) from None
    return torch


def _build(
    path: str | Path | None,
    network: str | None,
    params: dict[str, Any],
    source: str | None,
    input_shape: tuple[int, ...] | None = None,
) -> tuple[Any, str, tuple[int, ...]]:
    """The model in eval mode, its network's name and its input shape."""
    _torch()
    from .elaborate import elaborate
    from .loader import load, loads
    from .program import load_program

    program = load_program(source=source) if source is not None else load_program(path)
    if not program.networks:
        raise CnnError(f"{path or '<string>'} defines no network to export")
    name = network if network is not None else program.networks[-1].name
    (net,) = elaborate(program, name, params, None, input_shape)  # reports a missing network
    if source is not None:
        model = loads(source, name, **params)
    else:
        assert path is not None
        model = load(path, name, **params)
    return model.eval(), name, tuple(net.input_shape)


def _dynamic(dynamic_batch: bool) -> Any:
    if not dynamic_batch:
        return None
    torch = _torch()
    return ({0: torch.export.Dim("batch", min=1)},)


# ---------------------------------------------------------------- the formats
def _torchscript(model: Any) -> bytes:
    torch = _torch()
    scripted = scripted_module(model)
    buf = io.BytesIO()
    _silently(lambda m, _: torch.jit.save(m, buf), scripted, ())
    return buf.getvalue()


def scripted_module(model: Any) -> Any:
    """``torch.jit.script(model)``; a failure is a :class:`CnnError` naming the layer."""
    torch = _torch()

    def script(module: Any, inputs: tuple[Any, ...]) -> Any:
        return torch.jit.script(module)

    return _explained(model, None, script, "TorchScript")


def _exported_program(model: Any, x: Any, dynamic_batch: bool) -> bytes:
    torch = _torch()
    program = exported_program(model, x, dynamic_batch)
    buf = io.BytesIO()
    torch.export.save(program, buf)
    return buf.getvalue()


def exported_program(model: Any, x: Any, dynamic_batch: bool = False, what: str = "") -> Any:
    """``torch.export.export(model, (x,))`` (the batch symbolic when ``dynamic_batch``); a
    failure is a :class:`CnnError` naming the layer, as ``what`` (default torch.export)
    cannot express it."""
    torch = _torch()

    def run(module: Any, inputs: tuple[Any, ...]) -> Any:
        dynamic = _dynamic(dynamic_batch) if module is model else None
        with torch.no_grad():
            return torch.export.export(module, inputs, dynamic_shapes=dynamic)

    return _explained(model, x, run, what or "torch.export")


def _onnx(model: Any, x: Any, opset: int, dynamic_batch: bool, program: Any = None) -> bytes:
    """The ONNX file's bytes: torch's ONNX exporter run on the exported program of ``model``
    (``program`` when the caller has it already, as :func:`exported_program` makes it)."""
    torch = _torch()
    for needed in ("onnx", "onnxscript"):
        try:
            __import__(needed)
        except ModuleNotFoundError:
            raise CnnError(
                f"cnndsl export --format onnx needs {needed} (not installed)",
                hint="pip install 'cnndsl[onnx]'",
            ) from None
    if program is None:
        program = exported_program(model, x, dynamic_batch, "ONNX")

    def run(module: Any, inputs: tuple[Any, ...]) -> Any:
        # the whole model converts its exported program; a child (looking for the layer
        # that fails) is exported and converted in one call
        with _quiet():
            return torch.onnx.export(
                program if module is model else module,
                inputs,
                dynamo=True,
                opset_version=opset,
                input_names=["input"],
                output_names=["output"],
                verbose=False,
            )

    onnx_program = _explained(model, x, run, "ONNX")
    proto = onnx_program.model_proto
    return bytes(proto.SerializeToString())


class _quiet:
    """The ONNX exporter prints its progress to stdout; a command's stdout stays clean."""

    def __enter__(self) -> None:
        self.saved = sys.stdout
        sys.stdout = io.StringIO()

    def __exit__(self, *exc: object) -> None:
        sys.stdout = self.saved


# ---------------------------------------------------------------- errors that name a layer
def _explained(model: Any, x: Any, run: Any, what: str) -> Any:
    """``run(model, (x,))``; when it fails, the error names the layer (module path and class)
    that fails on its own, found by running the children with the inputs they saw."""
    try:
        return _silently(run, model, (x,) if x is not None else ())
    except Exception as exc:  # noqa: BLE001 - every exporter failure becomes a CnnError
        first = _reason(exc)
        path, module = _culprit(model, x, run)
        where = f"layer {path!r} ({type(module).__name__})" if path else "the network"
        raise CnnError(
            f"{what} cannot express {where}: {first}",
            hint=f"--format {' or '.join(k for k, v in _NAMES.items() if v != what)} may "
            f"express it; or write this layer with ops {what} supports",
        ) from None


_NAMES = {"onnx": "ONNX", "exported-program": "torch.export", "torchscript": "TorchScript"}


def _silently(run: Any, module: Any, inputs: tuple[Any, ...]) -> Any:
    """The exporters' deprecation and tracer warnings, and the errors torch.export logs
    before raising them, are not the user's to act on (the raised error is reported)."""
    import logging
    import warnings

    was = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return run(module, inputs)
    finally:
        logging.disable(was)


def _reason(exc: BaseException) -> str:
    """The innermost cause (the exporters wrap the real reason in advice), on one line,
    without terminal colours, at most 300 characters."""
    seen = {id(exc)}
    while True:
        inner = exc.__cause__ or exc.__context__
        if inner is None or id(inner) in seen:
            break
        seen.add(id(inner))
        exc = inner
    text = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).split()) or type(exc).__name__
    text = text.replace("<OpOverload(op='", "").replace("', overload='", ".").replace("')>", "")
    return text if len(text) <= 300 else text[:297] + "..."


def _culprit(model: Any, x: Any, run: Any) -> tuple[str, Any]:
    """The deepest module on a path of failing modules from the root: each step moves into
    the first child that fails alone; where none does, the module's own code fails."""
    inputs = _inputs_seen(model, x) if x is not None else {}
    path, module = "", model
    while True:
        for name, child in module.named_children():
            full = f"{path}.{name}" if path else name
            if x is not None and full not in inputs:
                continue  # a child forward never calls (the other arm of an if)
            try:
                _silently(run, child, inputs.get(full, ()))
            except Exception:  # noqa: BLE001
                path, module = full, child
                break
        else:
            return path, module


def _inputs_seen(model: Any, x: Any) -> dict[str, tuple[Any, ...]]:
    """Each module's positional inputs in one eager forward pass (the first call)."""
    torch = _torch()
    seen: dict[str, tuple[Any, ...]] = {}
    handles = []
    for name, module in model.named_modules():
        if not name:
            continue

        def hook(_m: Any, args: tuple[Any, ...], name: str = name) -> None:
            seen.setdefault(name, tuple(a.clone() if torch.is_tensor(a) else a for a in args))

        handles.append(module.register_forward_pre_hook(hook))
    try:
        with torch.no_grad():
            model(x)
    except Exception:  # noqa: BLE001 - the names stay unknown; the root is reported
        pass
    finally:
        for h in handles:
            h.remove()
    return seen
