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


def _text_ops(text: str) -> dict[str, str]:
    """Layer name -> Op cell of a plain-text table (columns cut at the header's)."""
    lines = text.splitlines()
    head = next(line for line in lines if line.startswith("Layer"))
    start, end = head.index("Op"), head.index("Output")
    out = {}
    for line in lines[lines.index(head) + 2 :]:
        if line.startswith("---"):
            break
        out.setdefault(line[:start].strip(), line[start:end].strip())
    return out


def test_text_table_rows_read_like_the_diagram() -> None:
    """The plain-text table writes a block row as the call in the .cnn file, in the
    diagram's style: resnet18.cnn's `BasicBlock(128, stride=2)` reads BasicBlock(128, /2)
    under the group row that says so; googlenet.cnn's `conv1: BasicConv2d(64, 7,
    stride=2, padding=3)` reads BasicConv2d(64, 7×7, /2), as its diagram box does."""
    text = to_table(analyze(R18), depth=2)
    ops = _text_ops(text)
    assert ops["layer2"] == "BasicBlock(128, /2) → BasicBlock(128)"
    assert ops["0"] == "BasicBlock(64)"  # layer1.0, the first row named 0
    assert "BasicBlock(128, /2)" in text and "stride=" not in text
    g = analyze(ROOT / "examples" / "googlenet.cnn")
    gops = _text_ops(to_table(g, depth=1))
    assert gops["conv1"] == "BasicConv2d(64, 7×7, /2)"  # padding left out, stride as /2
    assert gops["conv2"] == "BasicConv2d(64, 1×1)"  # `BasicConv2d(64, 1)`
    assert gops["aux1"] == "InceptionAux(1000, dropout=0.7)"  # a keyword as written
    from cnndsl.diagram import to_dot

    assert "<B>BasicConv2d(64, 7×7, /2)</B>" in to_dot(g[0], depth=1).source
    # U-Net's up-sampling reads ×2 in the table as in the diagram
    u = _text_ops(to_table(analyze(ROOT / "examples" / "unet.cnn"), depth=1))
    assert u["up3"] == "deconv 2×2, 64, ×2"


@pytest.mark.parametrize("name", ["resnet18", "googlenet", "densenet121", "conv1d", "unet"])
def test_text_markdown_and_latex_agree(name: str) -> None:
    """Every row's Op/Type cell is the same text in the three tables."""
    from cnndsl.tables import _md, _tex, rows

    a = analyze(ROOT / "examples" / f"{name}.cnn")
    for depth in (1, 2):
        text = to_table(a, depth).splitlines()
        md = to_markdown(a, depth).splitlines()
        tex = to_latex(a, depth).splitlines()
        body = rows(a[0], depth)
        start = next(i for i, line in enumerate(text) if line.startswith("Layer")) + 2
        md_start = next(i for i, line in enumerate(md) if line.startswith("|---")) + 1
        tex_start = tex.index(r"\midrule") + 1
        for k, r in enumerate(body):
            assert f"  {r.label}  " in text[start + k] + "  ", (text[start + k], r.label)
            assert f"| {_md(r.label)} |" in md[md_start + k], (md[md_start + k], r.label)
            assert f"& {_tex(r.label)} &" in tex[tex_start + k], (tex[tex_start + k], r.label)
