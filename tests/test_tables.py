"""Layer tables: Markdown and LaTeX keep the receptive field, block rows show the call, the
LaTeX table has a caption with the network's name and totals, and --depth folds rows."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT

from cnndsl.api import analyze
from cnndsl.tables import to_latex, to_markdown, to_table

R18 = ROOT / "examples" / "resnet18.cnn"


def test_markdown_keeps_rf_and_shows_calls() -> None:
    md = to_markdown(analyze(R18), depth=1)
    assert "| Layer | Type | Kernel/stride | Output size | Params | MACs | RF |" in md
    assert "| layer1 | BasicBlock(64) ×2 |" in md
    assert "| conv1 | conv 7×7, 64, /2 | 7×7/2 | 64×112×112 | 9,408 | 118.01M | 7 |" in md
    assert "sequential" not in md


def test_latex_caption_rf_and_depth() -> None:
    tex1 = to_latex(analyze(R18), depth=1)
    assert r"\caption{ResNet18: input $3 \times 224 \times 224$, 11{,}689{,}512 parameters" in tex1
    assert r"& MACs & RF \\" in tex1 and "& $435$" in tex1  # layer4's receptive field
    assert r"BasicBlock(64) $\times$2" in tex1
    tex2 = to_latex(analyze(R18), depth=2)
    assert tex2.count(r"\\") == tex1.count(r"\\") + 8  # depth 2 lists the 8 blocks
    assert r"BasicBlock(128, /2)" in tex2
    text1 = to_table(analyze(R18), depth=1)
    # the same rows as the text table at the same depth
    assert len(text1.splitlines()) - 11 == tex1.count(r"\\") - 2


def test_one_d_kernels() -> None:
    md = to_markdown(analyze(ROOT / "examples" / "conv1d.cnn"), depth=1)
    assert "| conv k81, 16, /4 | k81/4 |" in md


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is missing")
def test_latex_table_compiles(tmp_path: Path) -> None:
    body = to_latex(analyze(R18), depth=2)
    doc = "\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
    doc += body + "\\end{document}\n"
    (tmp_path / "t.tex").write_text(doc, encoding="utf-8")
    done = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:]
