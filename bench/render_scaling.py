"""How `cnndsl render` scales with the number of layers (issue 11: it was quadratic).

Builds a plain chain of N layers (``conv -> bn -> relu`` steps), then times, in this
process: the analysis (parser and checker), the diagram (``to_dot`` at ``--depth all``: the
drawing model, the column layout and the DOT text) and the SVG (graphviz drawing it; above
``layout.GIANT`` nodes cnndsl places the nodes itself and ``neato -n2`` only draws them,
because dot's own layout of 6,700 nodes does not finish in 300 s). ``total`` is what
``cnndsl render FILE --depth all -o FILE.svg`` costs. The last column is the time per layer
of the diagram and SVG against the smallest size: a near-linear renderer keeps it near 1.

    .venv/bin/python bench/render_scaling.py [N ...]      # default 1000 4000 20000
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def source(layers: int) -> str:
    lines = ["network Long {", "    input 3x32x32"]
    n = 0
    while n < layers:
        lines.append("    conv 8 3x3 pad=1 bias=false -> bn -> relu")
        n += 3
    lines += ["    gap", "    flatten", "    fc 10", "}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    from cnndsl.api import analyze
    from cnndsl.diagram import to_dot

    sizes = [int(a) for a in argv] or [1000, 4000, 20000]
    base = None
    head = ("layers", "analyse s", "to_dot s", "svg s", "total s", "SVG MB", "per-layer")
    print("{:>8} {:>10} {:>10} {:>8} {:>8} {:>8} {:>10}".format(*head))
    for n in sizes:
        text = source(n)
        t0 = time.perf_counter()
        (a,) = analyze(source=text)
        t1 = time.perf_counter()
        diagram = to_dot(a, depth=None)
        t2 = time.perf_counter()
        svg = diagram.to_bytes("svg")
        t3 = time.perf_counter()
        per = (t3 - t1) / n
        base = base or per
        print(
            f"{n:>8} {t1 - t0:>10.2f} {t2 - t1:>10.2f} {t3 - t2:>8.2f} {t3 - t0:>8.2f}"
            f" {len(svg) / 1e6:>8.1f} {per / base:>10.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
