"""The generated PyTorch code: every example runs, with the checker's shapes, and trains."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import EXAMPLES, ROOT, build_concrete, in_fresh_processes

import cnndsl
from cnndsl.api import analyze
from cnndsl.codegen import compile_source
from cnndsl.errors import CnnError


def _import(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("strategy", ["symbolic", "concrete"])
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_hooks_record_the_checkers_shapes(example: Path, strategy: str) -> None:
    """Forward hooks on every module of the generated model see the checker's shapes: the
    golden file (symbolic translation) and the IR printer's output."""
    module = _import(ROOT / "generated" / f"{example.stem}.py", f"gen_{example.stem}")
    for analysis in analyze(example):
        net = analysis.network
        with torch.device("meta"):
            if strategy == "concrete":
                model = build_concrete(example, net.name)
            else:
                model = getattr(module, net.name)()
        modules = dict(model.named_modules())
        parameters = dict(model.named_parameters())
        # a `scale` step is a bare parameter of its module, named by its path (§8)
        scales = {p for p, n in net.modules() if getattr(n, "op", None) == "scale"}
        assert scales <= set(parameters), sorted(scales - set(parameters))
        expected = {
            path: tuple(analysis.node(node).shape)
            for path, node in net.modules()
            # a flatten outside a Sequential is torch.flatten(x, 1) in forward, as torchvision
            if (path in modules or strategy == "concrete" or getattr(node, "op", None) != "flatten")
            and path not in scales
        }
        assert set(expected) <= set(modules), sorted(set(expected) - set(modules))
        seen: dict[str, tuple[int, ...]] = {}

        def hook(name: str, seen: dict[str, tuple[int, ...]] = seen):
            def record(_m, _inp, output):
                tensor = output[0] if isinstance(output, tuple) else output
                seen[name] = tuple(tensor.shape[1:])

            return record

        for path in expected:
            modules[path].register_forward_hook(hook(path))
        model.train()
        with torch.device("meta"):
            out = model(torch.zeros(2, *net.input_shape))
        assert seen == expected
        assert sum(p.numel() for p in model.parameters()) == analysis.params
        main = out[0] if isinstance(out, tuple) else out
        assert tuple(main.shape[1:]) == net.output_shape
        if net.outputs:
            assert out._fields[1:] == tuple(name for name, _, _ in net.outputs)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_state_dict_keys_follow_the_naming_rules(example: Path) -> None:
    module = _import(ROOT / "generated" / f"{example.stem}.py", f"gen_keys_{example.stem}")
    for analysis in analyze(example):
        net = analysis.network
        with torch.device("meta"):
            model = getattr(module, net.name)()
        params = sum(p.numel() for p in model.parameters())
        assert params == analysis.params
        buffers = sum(b.numel() for b in model.buffers())
        assert buffers == analysis.buffers


def test_compile_is_deterministic_across_processes() -> None:
    names = [str(p) for p in EXAMPLES[:6]]
    code = (
        f"from cnndsl.codegen import compile_source\nfor n in {names!r}: print(compile_source(n))"
    )
    first, second = in_fresh_processes(code)
    assert first == second
    assert first.count("class ") >= 6


def test_generated_code_imports_only_torch_and_stdlib() -> None:
    allowed = {"torch", "math", "collections", "typing"}
    for path in (ROOT / "generated").glob("*.py"):
        for line in path.read_text().splitlines():
            if line.startswith(("import ", "from ")):
                assert line.split()[1].split(".")[0] in allowed, (path.name, line)


def test_ruff_is_clean_on_generated() -> None:
    ruff = Path(sys.executable).parent / "ruff"
    for args in (["check"], ["format", "--check"]):
        proc = subprocess.run(
            [str(ruff), *args, str(ROOT / "generated")], capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_load_trains_on_cpu() -> None:
    torch.manual_seed(0)
    model = cnndsl.load(ROOT / "examples" / "lenet5.cnn")
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(8, 1, 32, 32), torch.randint(0, 10, (8,))
    before = [p.detach().clone() for p in model.parameters()]
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_channels_last_and_bf16_autocast() -> None:
    torch.manual_seed(0)
    model = cnndsl.load(ROOT / "examples" / "resnet18.cnn", num_classes=10)
    model = model.to(memory_format=torch.channels_last).eval()
    x = torch.randn(2, 3, 64, 64).to(memory_format=torch.channels_last)
    with torch.no_grad():
        ref = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(x)
    assert low.dtype == torch.bfloat16
    assert torch.allclose(ref, low.float(), atol=0.1, rtol=0.1)


def test_torch_compile_fullgraph_has_no_graph_breaks() -> None:
    torch.manual_seed(0)
    model = cnndsl.load(ROOT / "examples" / "resnet18.cnn", num_classes=10).eval()
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(compiled(x), model(x))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_runs_on_cuda() -> None:
    model = cnndsl.load(ROOT / "examples" / "resnet18.cnn").cuda()
    assert model(torch.randn(2, 3, 224, 224, device="cuda")).shape == (2, 1000)


def test_side_outputs_in_training_mode_only() -> None:
    model = cnndsl.load(ROOT / "examples" / "googlenet.cnn", num_classes=10)
    x = torch.randn(2, 3, 224, 224)
    model.train()
    out = model(x)
    assert out._fields == ("out", "aux1", "aux2")
    assert all(t.shape == (2, 10) for t in out)
    model.eval()
    with torch.no_grad():
        assert model(x).shape == (2, 10)


@pytest.mark.parametrize(
    "source, message",
    [
        ("block B(class) { relu }\nnetwork N { input 1x8x8; B(1) }", "may not be called 'class'"),
        ("network N { input 1x8x8; __init__: relu }", "dunder"),
        ("network N { input 1x8x8; forward: relu }", "nn.Module.forward"),
        ('network N { input 1x8x8; repeat 1 as i { i{"f"}: relu } }', "Python keyword"),
        ('network N { input 1x8x8; repeat 1 as i { a{" b"}: relu } }', "invalid module name"),
    ],
)
def test_hostile_names_are_errors_and_nothing_is_written(
    tmp_path: Path, source: str, message: str
) -> None:
    from cnndsl.cli import main

    src = tmp_path / "bad.cnn"
    src.write_text(source)
    out = tmp_path / "out"
    assert main(["compile", str(src), "-o", str(out)]) == 1
    assert not out.exists() or not any(out.iterdir())
    with pytest.raises(CnnError, match=message):
        compile_source(src)


@pytest.mark.parametrize(
    "source",
    [
        "block B(len) { conv len 1 }\nnetwork N { input 1x8x8; B(2) ; B(len=3) }",
        "network N { input 1x8x8; sum = relu; conv 2 1 ; concat(sum, sum) }",
        "block torch { concat { relu ; relu } }\nnetwork N { input 1x8x8; torch() }",
        "block list(c) { conv c 1 }\nnetwork list { input 1x8x8; list(4) -> super: list(2) }",
        "block nn { relu }\nnetwork F(torch = 3) { input 1x8x8; conv torch 1 -> nn() }",
        "network N { input 1x8x8; __x: conv 2 1 ; __y: { relu } }",
        "block B(c) { if in.height > 4 { conv c 1 } }\nnetwork N { input 1x8x8; B(8) }",
    ],
)
def test_python_names_do_not_shadow_what_generated_code_uses(source: str) -> None:
    """Builtins, `torch`, `nn`… are valid names (§5): the generated code renames its own use."""
    (analysis,) = analyze(source=source)
    net = analysis.network
    model = cnndsl.loads(source)
    modules = {name for name, _ in model.named_modules()}
    expected = {p for p, n in net.modules() if p in modules or getattr(n, "op", None) != "flatten"}
    assert expected <= modules
    out = model(torch.zeros(2, *net.input_shape))
    assert tuple(out.shape[1:]) == net.output_shape
    assert sum(p.numel() for p in model.parameters()) == analysis.params


def test_compile_never_overwrites_a_hand_written_file(tmp_path: Path) -> None:
    from cnndsl.cli import main

    (tmp_path / "lenet5.py").write_text("# my own code\n")
    assert main(["compile", str(ROOT / "examples" / "lenet5.cnn"), "-o", str(tmp_path)]) == 1
    assert (tmp_path / "lenet5.py").read_text() == "# my own code\n"
    assert (
        main(["compile", str(ROOT / "examples" / "lenet5.cnn"), "-o", str(tmp_path), "--force"])
        == 0
    )
    assert (tmp_path / "lenet5.py").read_text().startswith("# Generated by cnndsl")


def test_check_flag_reports_stale_output(tmp_path: Path) -> None:
    from cnndsl.cli import main

    example = str(ROOT / "examples" / "lenet5.cnn")
    assert main(["compile", example, "-o", str(tmp_path), "--check"]) == 1
    assert not (tmp_path / "lenet5.py").exists()
    assert main(["compile", example, "-o", str(tmp_path)]) == 0
    assert main(["compile", example, "-o", str(tmp_path), "--check"]) == 0


def test_loaded_models_pickle_in_this_process_and_a_fresh_one(tmp_path: Path) -> None:
    import pickle

    model = cnndsl.load(ROOT / "examples" / "resnet18.cnn", num_classes=7)
    model.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        want = model(x)
    again = pickle.loads(pickle.dumps(model))
    with torch.no_grad():
        assert torch.equal(again(x), want)
    path = tmp_path / "model.pt"
    torch.save(model, path)
    torch.save(x, tmp_path / "x.pt")
    torch.save(want, tmp_path / "want.pt")
    code = (
        "import torch\n"
        f"m = torch.load({str(path)!r}, weights_only=False)\n"
        f"x = torch.load({str(tmp_path / 'x.pt')!r})\n"
        f"want = torch.load({str(tmp_path / 'want.pt')!r})\n"
        "assert not m.training\n"
        "with torch.no_grad():\n"
        "    assert torch.equal(m(x), want)\n"
        "print(type(m).__name__)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ResNet18"
