"""Render the example diagrams shown in the README: docs/diagrams/NAME.svg and NAME.png.

Run from anywhere: ``python docs/make_diagrams.py`` (``make docs`` does); needs graphviz's
``dot``.
"""

from __future__ import annotations

import sys
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
}


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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
