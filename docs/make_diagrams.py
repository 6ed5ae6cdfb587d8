"""Render the example diagrams shown in the README: docs/diagrams/NAME.svg and NAME.png, and
the TikZ figures NAME_3d.pdf.

Run from anywhere: ``python docs/make_diagrams.py`` (``make docs`` does); needs graphviz's
``dot``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# name -> depth: "auto" is what `cnndsl render` picks; the inception modules are the point of
# that example, so it is drawn one level deeper.
NAMES = {
    "lenet5": "auto",
    "resnet18": "auto",
    "googlenet": 1,
    "unet": "auto",
    "inception_module": 2,
    "densenet121": "auto",
    # the second edition's examples
    "efficientnet_b0": "auto",
    "mobilenet_v3_large": 2,  # one row per bneck of the paper's table 1
    "convnext_tiny": "auto",
    "shufflenet_v2": "auto",
    "regnet_y_400mf": "auto",
    "deeplabv3_resnet50": "auto",
}
# TikZ figures in the look of PlotNeuralNet, compiled to PDF with pdflatex (Debian:
# texlive-latex-base and texlive-pictures): name -> depth
TIKZ = {"lenet5": "auto", "vgg16": "auto", "resnet18": 1, "unet": "auto"}


# pdfTeX takes the PDF's dates and ID from these, so the same figure gives the same bytes
REPRODUCIBLE = {**os.environ, "SOURCE_DATE_EPOCH": "1577836800", "FORCE_SOURCE_DATE": "1"}


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from cnndsl.api import analyze
    from cnndsl.diagram import to_dot

    out = ROOT / "docs" / "diagrams"
    out.mkdir(parents=True, exist_ok=True)
    for name, depth in NAMES.items():
        analysis = analyze(ROOT / "examples" / f"{name}.cnn")[0]
        diagram = to_dot(analysis, depth=depth)
        for fmt in ("svg", "png"):
            path = diagram.save(out / f"{name}.{fmt}", fmt)
            print(f"wrote {path.relative_to(ROOT)}")
    if shutil.which("pdflatex") is None:
        print("pdflatex is missing: the TikZ PDFs were not made", file=sys.stderr)
        return 0
    for name, depth in TIKZ.items():
        analysis = analyze(ROOT / "examples" / f"{name}.cnn")[0]
        tex = to_dot(analysis, depth=depth).to_bytes("tikz")
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "figure.tex").write_bytes(tex)
            subprocess.run(
                ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "figure.tex"],
                cwd=tmp,
                check=True,
                capture_output=True,
                env=REPRODUCIBLE,
            )
            path = out / f"{name}_3d.pdf"
            pdf = (Path(tmp) / "figure.pdf").read_bytes()
            if not path.exists() or path.read_bytes() != pdf:
                path.write_bytes(pdf)
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
