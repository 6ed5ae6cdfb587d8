"""The README's eval and predict examples run as written after the demo's training steps
(read from the Makefile's ``demo`` target, with fewer epochs), in a fresh folder."""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

import pytest
from conftest import ROOT

from cnndsl.cli import main
from cnndsl.training.sample import main as sample_main


def readme_commands() -> list[list[str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### `cnndsl eval FILE", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```\n(.*?)```", section, re.S)
    assert block, "the README's eval/predict section has a code block"
    return [shlex.split(line) for line in block.group(1).splitlines() if line.strip()]


def demo_steps() -> list[list[str]]:
    """The demo's lines after `render`/`compile`: train into the named run, write a sample."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = text.split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    lines = [line.strip() for line in recipe.splitlines()[1:]]
    train = next(shlex.split(x) for x in lines if " train " in x)
    sample = next(shlex.split(x) for x in lines if "cnndsl.training.sample" in x)
    return [train, sample]


def test_readme_eval_and_predict_run_after_the_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "examples").mkdir()
    shutil.copy(ROOT / "examples" / "lenet5.cnn", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    train, sample = demo_steps()
    assert train[-2:] == ["--out", "runs/lenet5-demo"]  # a named run folder
    assert main([*train[1:], "--epochs", "2"]) == 0
    assert sample_main(sample[3:]) == 0
    assert Path(sample[-1]).is_file()
    commands = readme_commands()
    assert {c[1] for c in commands} == {"eval", "predict"}
    for command in commands:
        capsys.readouterr()
        assert command[0] == "cnndsl"
        assert main(command[1:]) == 0, command
        out = capsys.readouterr().out
        if "--json" in command:
            assert json.loads(out)["split"] == "val"
        elif command[1] == "predict" and "csv" in command:
            assert out.splitlines()[0] == "image,rank,class,index,probability"
        elif command[1] == "predict":
            assert out.startswith("runs/digit.png: ")
        else:
            assert "top-5" in out and "macro avg" in out
