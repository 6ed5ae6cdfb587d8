"""The wheel ships the grammar and the templates; the front end runs with lark, jinja2 and
graphviz only (no torch), from outside the checkout."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    src = tmp_path_factory.mktemp("src") / "cnndsl"
    # build from a copy, so the checkout gets no build/ or *.egg-info
    shutil.copytree(
        ROOT,
        src,
        ignore=shutil.ignore_patterns(
            ".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", "runs", "generated"
        ),
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(src),
        ],
        check=True,
        timeout=300,
    )
    (path,) = out.glob("cnndsl-*.whl")
    return path


def test_wheel_contains_grammar_and_templates(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "cnndsl/grammars/cnn.lark" in names
    assert "cnndsl/templates/model.py.j2" in names
    assert "cnndsl/templates/helpers.py.j2" in names


def test_front_end_from_a_fresh_venv_without_torch(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "lark", "jinja2", "graphviz"],
        check=True,
        timeout=600,
    )
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True, timeout=300
    )
    work = tmp_path / "elsewhere"
    work.mkdir()
    for name in ("resnet50.cnn", "resnet_blocks.cnn"):
        shutil.copy(ROOT / "examples" / name, work / name)
    cnndsl = env_dir / "bin" / "cnndsl"
    check = subprocess.run(
        [str(cnndsl), "check", "resnet50.cnn"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stderr
    assert "25,557,032 params" in check.stdout
    summary = subprocess.run(
        [str(cnndsl), "summary", "resnet50.cnn", "--depth", "1"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert summary.returncode == 0, summary.stderr
    assert "Params: 25,557,032" in summary.stdout
    no_torch = subprocess.run([str(py), "-c", "import torch"], capture_output=True, timeout=60)
    assert no_torch.returncode != 0  # the venv really has no torch
