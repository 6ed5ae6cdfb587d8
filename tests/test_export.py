"""cnndsl export: every example as ONNX (run by onnxruntime and compared with the PyTorch
module), as a torch.export program (saved, loaded back and run) and as TorchScript; a
layer a format cannot express is named in a one-line error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import EXAMPLES, ROOT

import cnndsl
from cnndsl.api import analyze
from cnndsl.cli import main
from cnndsl.errors import CnnError
from cnndsl.export import (
    DEFAULT_OPSET,
    _onnx,
    export,
    export_model,
    exported_program,
    scripted_module,
)

# Every example goes through TorchScript, torch.export and ONNX in memory (one exported
# program serves both of the last two), compared with the PyTorch module. The files the
# three formats write are saved and loaded back for one example of each kind of construct
# (a fixed-size network, 1-D and same padding at a stride, side outputs, bound tensors,
# split and channel shuffle); the others' files are `slow` (`make test-slow`: writing
# VGG-16's 528 MB three times takes longer than the comparison).
QUICK = {"LeNet5", "KeywordNet1d", "GoogLeNet", "UNet", "ShuffleNetV2"}
ANALYSED = [
    (path, a.network.name, a.network.input_shape) for path in EXAMPLES for a in analyze(path)
]
EVERY = [pytest.param(*case, id=f"{case[0].stem}-{case[1]}") for case in ANALYSED]
NETWORKS = [
    pytest.param(
        *case, id=f"{case[0].stem}-{case[1]}", marks=() if case[1] in QUICK else pytest.mark.slow
    )
    for case in ANALYSED
]
# torch 2.10+ deprecates TorchScript, which this format still writes and reads
pytestmark = pytest.mark.filterwarnings(r"ignore:`torch\.jit\.\w+` is deprecated")
TOLERANCE = 1e-4  # the largest |ONNX - PyTorch| allowed, relative to the largest output


def _reference(path: Path, network: str) -> torch.nn.Module:
    """The model export() builds: the same class, and the same weights from the same seed."""
    torch.manual_seed(0)
    return cnndsl.load(path, network).eval()


def _exported(path: Path, network: str, fmt: str, out: Path, **kw: object) -> None:
    torch.manual_seed(0)
    export(path, fmt, out, network=network, **kw)  # type: ignore[arg-type]


def _onnx_difference(
    ort: Any, onnx: bytes | str, x: torch.Tensor, want: torch.Tensor
) -> tuple[float, float]:
    """The ONNX model (bytes or a path) run by onnxruntime on ``x``: the largest |difference|
    from ``want``, and ``want``'s largest magnitude. The tolerance is relative to it: at
    random initialisation EfficientNet's outputs are about 1e-14 and ResNet-50's (kaiming)
    about 100, so an absolute bound is vacuous for one and too tight for the other."""
    session = ort.InferenceSession(onnx, providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    assert got.shape == tuple(want.shape)
    return float(abs(got - want.numpy()).max()), float(want.abs().max())


@pytest.mark.parametrize(("path", "network", "shape"), EVERY)
def test_every_example_in_every_format(path: Path, network: str, shape: tuple[int, ...]) -> None:
    """torch.jit.script and torch.export succeed and equal the module; the ONNX model under
    onnxruntime is within TOLERANCE of it."""
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    model = cnndsl.load(path, network).eval()
    x = torch.randn(1, *shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = model(x)
        torch.testing.assert_close(scripted_module(model)(x), want, rtol=0, atol=0)
        program = exported_program(model, x)
        torch.testing.assert_close(program.module()(x), want, rtol=1e-5, atol=1e-5)
    onnx = _onnx(model, x, DEFAULT_OPSET, False, program=program)
    diff, scale = _onnx_difference(ort, onnx, x, want)
    print(f"ONNX {path.stem} {network}: max |difference| {diff:.2e} (outputs up to {scale:.3g})")
    assert scale > 0 and diff <= TOLERANCE * scale


@pytest.mark.parametrize(("path", "network", "shape"), NETWORKS)
def test_every_format_reproduces_the_module(
    path: Path, network: str, shape: tuple[int, ...], tmp_path: Path
) -> None:
    """The files: ONNX under onnxruntime within TOLERANCE of the PyTorch module; the exported
    program after torch.export.save/load and TorchScript after torch.jit.save/load equal
    to it."""
    model = cnndsl.load(path, network).eval()
    x = torch.randn(1, *shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = model(x)

    export_model(model, shape, "torchscript", tmp_path / "m.pt")
    with torch.no_grad():
        torch.testing.assert_close(torch.jit.load(tmp_path / "m.pt")(x), want, rtol=0, atol=0)

    export_model(model, shape, "exported-program", tmp_path / "m.pt2")
    program = torch.export.load(tmp_path / "m.pt2")
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x), want, rtol=1e-5, atol=1e-5)

    ort = pytest.importorskip("onnxruntime")
    export_model(model, shape, "onnx", tmp_path / "m.onnx")
    diff, scale = _onnx_difference(ort, str(tmp_path / "m.onnx"), x, want)
    assert scale > 0 and diff <= TOLERANCE * scale


def test_dynamic_batch(tmp_path: Path) -> None:
    """--dynamic-batch: the ONNX graph and the exported program take any batch size."""
    ort = pytest.importorskip("onnxruntime")
    path = ROOT / "examples" / "lenet5.cnn"
    model = _reference(path, "LeNet5")
    _exported(path, "LeNet5", "onnx", tmp_path / "m.onnx", dynamic_batch=True)
    _exported(path, "LeNet5", "exported-program", tmp_path / "m.pt2", dynamic_batch=True)
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    program = torch.export.load(tmp_path / "m.pt2").module()
    for batch in (1, 5):
        x = torch.randn(batch, 1, 32, 32)
        with torch.no_grad():
            want = model(x)
            (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
            assert got.shape == (batch, 10)
            assert float(abs(got - want.numpy()).max()) <= TOLERANCE
            torch.testing.assert_close(program(x), want)


def test_files_load_in_a_fresh_process_without_cnndsl(tmp_path: Path) -> None:
    """The .pt2 and .pt files hold the graph and the weights: a process that never imports
    cnndsl (nor the generated module) loads and runs them, with the same outputs."""
    path = ROOT / "examples" / "lenet5.cnn"
    model = cnndsl.load(path).eval()
    export_model(model, (1, 32, 32), "exported-program", tmp_path / "m.pt2")
    export_model(model, (1, 32, 32), "torchscript", tmp_path / "m.pt")
    x = torch.randn(3, 1, 32, 32)
    torch.save(x, tmp_path / "x.pt")
    code = (
        "import sys, warnings, torch\n"
        "warnings.simplefilter('ignore')\n"
        "x = torch.load(sys.argv[1] + '/x.pt')\n"
        "a = torch.export.load(sys.argv[1] + '/m.pt2').module()(x[:1])\n"
        "b = torch.jit.load(sys.argv[1] + '/m.pt')(x)\n"
        "assert 'cnndsl' not in sys.modules\n"
        "torch.save((a, b), sys.argv[1] + '/out.pt')\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, cwd=tmp_path)
    a, b = torch.load(tmp_path / "out.pt")
    with torch.no_grad():
        torch.testing.assert_close(a, model(x[:1]))
        torch.testing.assert_close(b, model(x), rtol=0, atol=0)


def test_fixed_batch_is_one(tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    path = ROOT / "examples" / "lenet5.cnn"
    _exported(path, "LeNet5", "onnx", tmp_path / "m.onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == [1, 1, 32, 32]


def test_cli_writes_beside_the_file_and_reads_stdin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "tiny.cnn"
    src.write_text("network Tiny(n = 4) { input 3x8x8; conv n 3 -> relu -> gap -> flatten }\n")
    assert main(["export", str(src), "--format", "torchscript", "-p", "n=6"]) == 0
    assert "wrote" in capsys.readouterr().out
    scripted = torch.jit.load(tmp_path / "tiny.pt")
    assert scripted(torch.zeros(2, 3, 8, 8)).shape == (2, 6)

    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO(src.read_text()))
    out = tmp_path / "from-stdin.pt2"
    assert main(["export", "-", "-f", "exported-program", "-o", str(out)]) == 0
    assert torch.export.load(out).module()(torch.zeros(1, 3, 8, 8)).shape == (1, 4)


def test_input_traces_at_another_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--input: a fully convolutional network exported at 3x12x20 instead of its declared
    3x8x8; a size the checker refuses, or one the built module cannot take, is an error."""
    src = tmp_path / "fcn.cnn"
    src.write_text("network F { input 3x8x8; conv 4 3 pad=1 -> relu -> conv 2 1 }\n")
    out = tmp_path / "f.pt2"
    assert (
        main(["export", str(src), "-f", "exported-program", "-o", str(out), "--input", "3x12x20"])
        == 0
    )
    assert "input 1×3×12×20" in capsys.readouterr().out
    assert torch.export.load(out).module()(torch.zeros(1, 3, 12, 20)).shape == (1, 2, 12, 20)
    assert main(["export", str(src), "-f", "onnx", "-o", str(out), "--input", "5x8x8"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("cnndsl: error: the module does not run on an input of 5×8×8: "), err
    assert "expected input[2, 5, 8, 8] to have 3 channels" in err or "3 channels" in err
    assert main(["export", str(src), "-f", "onnx", "-o", str(out), "--input", "3x8"]) == 1
    assert "--input 3×8 does not fit" in capsys.readouterr().err


def test_refusals_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "tiny.cnn"
    src.write_text("network Tiny { input 3x8x8; conv 4 3 }\n")
    cases = [
        (["--format", "torchscript", "--opset", "17"], "--opset applies to --format onnx only"),
        (["--format", "onnx", "--network", "Nope"], "Nope"),
        (["--format", "onnx", "-o", str(src)], "it is an input"),
    ]
    for extra, message in cases:
        assert main(["export", str(src), *extra]) == 1
        err = capsys.readouterr().err
        assert message in err
        assert "Traceback" not in err
    assert src.read_text() == "network Tiny { input 3x8x8; conv 4 3 }\n"
    monkeypatch.setattr(sys, "stdin", __import__("io").StringIO(src.read_text()))
    assert main(["export", "-", "-f", "onnx"]) == 1
    assert "give -o OUT" in capsys.readouterr().err


# A block that repeats layers after a layer of its own keeps a loop over computed attribute
# names (getattr with an f-string), which TorchScript cannot compile.
COMPUTED_NAMES = """
block Stack(n) {
    conv 8 1
    { conv 8 3 pad=1 -> relu } * n
}
network N { input 3x8x8; Stack(2) -> Stack(3) }
"""


def test_a_layer_a_format_cannot_express_is_named(tmp_path: Path) -> None:
    src = tmp_path / "stack.cnn"
    src.write_text(COMPUTED_NAMES)
    with pytest.raises(CnnError) as info:
        export(src, "torchscript", tmp_path / "m.pt")
    message = info.value.message
    assert message.startswith("TorchScript cannot express layer 'stack1' (Stack): ")
    assert "getattr" in message
    assert not (tmp_path / "m.pt").exists()
    # the other formats trace the same model
    export(src, "exported-program", tmp_path / "m.pt2")
    assert torch.export.load(tmp_path / "m.pt2").module()(torch.zeros(1, 3, 8, 8)).shape == (
        1,
        8,
        8,
        8,
    )


def test_an_op_onnx_lacks_is_named(tmp_path: Path) -> None:
    """Adaptive max pooling to a size that does not divide the input has no ONNX function."""
    src = tmp_path / "pool.cnn"
    src.write_text("network A { input 3x10x10; conv 4 1 -> adaptive_maxpool 3x3 -> flatten }\n")
    with pytest.raises(CnnError) as info:
        export(src, "onnx", tmp_path / "m.onnx")
    message = info.value.message
    assert message.startswith("ONNX cannot express layer 'maxpool1' (AdaptiveMaxPool2d): ")
    assert "aten.adaptive_max_pool2d" in message
    assert "\x1b[" not in message and "\n" not in message
    assert "--format exported-program or torchscript" in str(info.value.hint)
    assert not (tmp_path / "m.onnx").exists()


def test_the_cli_reports_it_without_a_traceback(tmp_path: Path) -> None:
    src = tmp_path / "stack.cnn"
    src.write_text(COMPUTED_NAMES)
    run = subprocess.run(
        [sys.executable, "-m", "cnndsl", "export", str(src), "-f", "torchscript"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert run.returncode == 1
    assert "TorchScript cannot express layer 'stack1' (Stack)" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "stack.pt").exists()
