"""The command line, through main(argv) and through a real subprocess."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from cnndsl.cli import main

RESNET18 = str(ROOT / "examples" / "resnet18.cnn")
LENET = str(ROOT / "examples" / "lenet5.cnn")


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cnndsl", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def test_check_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", RESNET18, LENET]) == 0
    out = capsys.readouterr().out
    assert "ResNet18 ok: 3×224×224 -> 1000; 11,689,512 params" in out
    assert "LeNet5 ok" in out


def test_check_errors_exit_1_and_show_position(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.cnn"
    bad.write_text("network N {\n    input 3x8x8\n    cnov 8 3x3\n}\n")
    assert main(["check", str(bad), LENET]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"{bad}:3:5: error: unknown op 'cnov'"
    assert err[1:] == ["    cnov 8 3x3", "    ^^^^", "hint: did you mean 'conv'?"]


def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", LENET, "--format", "yaml"]) == 2
    assert main([]) == 2
    assert main(["check"]) == 2
    assert main(["summary", LENET, "--depth", "0"]) == 2


def test_missing_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "no/such/file.cnn"]) == 1
    assert "cannot read no/such/file.cnn" in capsys.readouterr().err


def test_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("network N { input 1x8x8; conv 2 3x3 }"))
    assert main(["check", "-"]) == 0
    assert "N ok: 1×8×8 -> 2×6×6" in capsys.readouterr().out


def test_summary_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", str(ROOT / "examples" / "googlenet.cnn"), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (net,) = doc["networks"]
    for key in (
        "name",
        "input",
        "output",
        "outputs",
        "params",
        "trainable_params",
        "macs",
        "activation_bytes",
        "layers",
    ):
        assert key in net
    assert net["input"] == [3, 224, 224] and net["output"] == [1000]
    assert net["outputs"] == {"aux1": [1000], "aux2": [1000]}
    assert net["params"] == 13_004_888
    layers = {layer["path"]: layer for layer in net["layers"]}
    conv1 = layers["conv1.conv"]
    assert set(conv1) >= {"path", "op", "line", "output", "params", "macs", "rf", "jump"}
    assert conv1["output"] == [64, 112, 112] and conv1["rf"] == [7, 7] and conv1["jump"] == [2, 2]
    assert layers["fc"]["rf"] is None
    block = layers["inception3a"]
    assert block["params"] == sum(
        v["params"]
        for k, v in layers.items()
        if k.startswith("inception3a.") and v["kind"] == "layer"
    )


def test_summary_depth_folds(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", RESNET18, "--format", "json", "--depth", "1"]) == 0
    layers = json.loads(capsys.readouterr().out)["networks"][0]["layers"]
    assert [x["path"] for x in layers] == [
        "conv1",
        "bn1",
        "relu1",
        "maxpool",
        "layer1",
        "layer2",
        "layer3",
        "layer4",
        "avgpool",
        "flatten1",
        "fc",
    ]
    assert sum(x["params"] for x in layers) == 11_689_512


@pytest.mark.parametrize("fmt", ["table", "markdown", "latex", "csv"])
def test_summary_formats(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", RESNET18, "--format", fmt, "--depth", "2"]) == 0
    out = capsys.readouterr().out
    if fmt == "table":
        # resnet18.cnn writes `BasicBlock(128, stride=2)`: in the diagrams' style, /2
        assert "Params: 11,689,512" in out and "BasicBlock(128, /2)" in out
        assert "stride=" not in out
    elif fmt == "markdown":
        assert "| Layer | Type | Kernel/stride | Output size | Params | MACs |" in out
        assert "| **Total** |" in out
    elif fmt == "latex":
        assert r"\toprule" in out and r"\bottomrule" in out and "11{,}689{,}512" in out
    else:
        rows = list(csv.DictReader(io.StringIO(out)))
        assert rows[0]["path"] == "conv1" and rows[0]["output"] == "64×112×112"


def test_summary_network_and_param_options(capsys: pytest.CaptureFixture[str]) -> None:
    mobilenet = str(ROOT / "examples" / "mobilenet.cnn")
    assert (
        main(
            [
                "summary",
                mobilenet,
                "--network",
                "MobileNetV2",
                "-p",
                "num_classes=10",
                "--format",
                "json",
            ]
        )
        == 0
    )
    (net,) = json.loads(capsys.readouterr().out)["networks"]
    assert net["name"] == "MobileNetV2" and net["output"] == [10]
    assert main(["summary", mobilenet, "--network", "MobileNet"]) == 1
    assert "did you mean" in capsys.readouterr().err


def test_summary_writes_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "table.md"
    assert main(["summary", LENET, "--format", "markdown", "-o", str(out)]) == 0
    assert "| Layer |" in out.read_text()


def test_ir_dump(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ir", RESNET18]) == 0
    out = capsys.readouterr().out
    assert "layer2.0.downsample.0: conv" in out


def test_subprocess_check_and_summary() -> None:
    proc = run("check", "examples/resnet50.cnn")
    assert proc.returncode == 0, proc.stderr
    assert "25,557,032 params" in proc.stdout
    proc = run("summary", "examples/lenet5.cnn")
    assert proc.returncode == 0 and "Params: 61,706" in proc.stdout
    proc = run("check", "tests/fixtures/errors/09_unknown_op.cnn")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "error: unknown op" in proc.stderr


def test_front_end_never_imports_torch(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from cnndsl.cli import main\n"
        f"assert main(['check', {RESNET18!r}]) == 0\n"
        f"assert main(['summary', {RESNET18!r}, '-f', 'json', '-o', {str(tmp_path / 'a')!r}])"
        " == 0\n"
        f"assert main(['compile', {LENET!r}, '-o', {str(tmp_path)!r}]) == 0\n"
        f"assert main(['render', {LENET!r}, '-f', 'dot', '-o', {str(tmp_path / 'l.dot')!r}]) == 0\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision'))\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    import cnndsl

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"cnndsl {cnndsl.__version__}"


def test_compile_stdin_to_stdout(monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("network N { input 1x8; conv 2 3 }"))
    assert main(["compile", "-"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Generated by cnndsl from <stdin>")
    compile(out, "<out>", "exec")
    monkeypatch.setattr("sys.stdin", io.StringIO("network N { input 1x8; conv 2 30 }"))
    assert main(["compile", "-"]) == 1
    assert "<stdin>:1:31: error: kernel 30" in capsys.readouterr().err


def test_two_inputs_for_one_output_write_nothing(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "net.cnn").write_text("network N { input 1x8; relu }")
    out = tmp_path / "gen"
    args = ["compile", str(tmp_path / "a" / "net.cnn"), str(tmp_path / "b" / "net.cnn")]
    assert main([*args, "-o", str(out)]) == 1
    assert "would both be written to" in capsys.readouterr().err
    assert not out.exists()


def test_every_option_and_positional_has_help() -> None:
    import argparse

    from cnndsl.cli import get_parser

    parser = get_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = [
        f"{name} {action.dest}"
        for name, p in sub.choices.items()
        for action in p._actions
        if not isinstance(action, argparse._HelpAction) and not action.help
    ]
    assert not missing, missing


def test_bash_completion_completes_commands_options_and_choices(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["completion", "bash"]) == 0
    script = tmp_path / "cnndsl.bash"
    script.write_text(capsys.readouterr().out)

    def complete(*words: str) -> list[str]:
        code = (
            f"source {script}; COMP_WORDS=(cnndsl {' '.join(repr(w) for w in words)}); "
            f"COMP_CWORD={len(words)}; _cnndsl; printf '%s\\n' \"${{COMPREPLY[@]}}\""
        )
        out = subprocess.run(["bash", "-c", code], capture_output=True, text=True, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        return out.stdout.split()

    assert complete("ch") == ["check"]
    assert complete("render", "x.cnn", "--theme", "") == ["light", "dark", "print"]
    assert "--rankdir" in complete("render", "--r")


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_scripts_name_every_command_and_option(shell: str, capsys) -> None:  # type: ignore[no-untyped-def]
    from cnndsl.cli import get_parser
    from cnndsl.cli.completion import commands, options

    assert main(["completion", shell]) == 0
    text = capsys.readouterr().out
    for name, p in commands(get_parser()).items():
        assert name in text
        for strings, _, _ in options(p):
            long = [o for o in strings if o.startswith("--")]
            assert (long[0] if shell == "zsh" else f"-l {long[0][2:]}") in text
