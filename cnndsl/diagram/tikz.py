"""A standalone LaTeX/TikZ figure in the look of PlotNeuralNet (Iqbal, 2018).

Each step of the main chain is a 3-D box: its thickness grows with the channels
(logarithmically), its height and depth with the spatial size (square root), so a
network's funnel shape shows at a glance. Merges are small circles (``+`` add, ``×`` mul,
``C`` concat), the skips that feed them arrows above the boxes. The file needs only
``pdflatex`` with TikZ (Debian: texlive-latex-base and texlive-pictures); the page is as
large as the picture.
"""

from __future__ import annotations

import math

from ..shapes import Analysis
from ..text import human, size_text
from .model import _Model, _Node

# PlotNeuralNet's colours: conv yellow, pool red, fc blue, softmax/output magenta
_COLOURS = {
    "conv": "ConvColor",
    "pool": "PoolColor",
    "linear": "FcColor",
    "output": "SoftColor",
    "merge": "SumColor",
}
_DEFINE = r"""\definecolor{ConvColor}{rgb}{1,1,0.55}
\definecolor{PoolColor}{rgb}{0.93,0.36,0.30}
\definecolor{FcColor}{rgb}{0.55,0.75,0.95}
\definecolor{SoftColor}{rgb}{0.85,0.35,0.85}
\definecolor{SumColor}{rgb}{0.55,0.85,0.55}
\definecolor{OtherColor}{rgb}{0.85,0.85,0.85}
\definecolor{SkipColor}{rgb}{0.0,0.35,0.70}
"""
_GAP = 0.9  # cm between boxes


def _tex(text: str) -> str:
    out = []
    for ch in text:
        if ch in "&%$#_{}":
            out.append("\\" + ch)
        elif ch == "\\":
            out.append(r"\textbackslash{}")
        elif ch == "~":
            out.append(r"\textasciitilde{}")
        elif ch == "^":
            out.append(r"\^{}")
        elif ch == "×":
            out.append(r"$\times$")
        elif ch == "→":
            out.append(r"$\to$")
        elif ch == "·":
            out.append(r"$\cdot$")
        elif ord(ch) < 128:
            out.append(ch)
        else:
            out.append("?")
    return "".join(out)


def _caption(n: _Node) -> str:
    lines = [t for t, _ in n.lines()]
    return lines[0] if lines else n.kind


def to_tikz(model: _Model, analysis: Analysis) -> str:
    """The LaTeX source of the figure for a drawing model (unwrapped)."""
    net = analysis.network
    chain = [
        n
        for n in sorted(model.nodes.values(), key=lambda n: n.item)
        if n.main and n.kind not in ("connector",) and n.shape is not None
    ]
    sizes = [n.shape[1] for n in chain if n.shape is not None and len(n.shape) >= 2]
    biggest = max(sizes, default=1)
    widest = max((n.shape[0] for n in chain if n.shape), default=1)
    body: list[str] = []
    where: dict[str, tuple[float, float, float]] = {}  # node -> (left x, right x, top y)
    x = 0.0
    for n in chain:
        shape = n.shape or (1,)
        colour = _COLOURS.get(n.category, "OtherColor")
        caption = _tex(_caption(n))
        if n.kind in ("merge",):
            r = 0.35
            sign = {"add": "+", "mul": r"$\times$", "concat": "C"}.get(
                n.parts[0] if n.parts else "", ""
            )
            body.append(
                f"\\draw[fill={colour}] ({x + r:.2f},0) circle ({r:.2f}) node {{\\small {sign}}};"
            )
            where[n.id] = (x, x + 2 * r, r)
            x += 2 * r + _GAP
            continue
        if len(shape) >= 2:
            side = 0.6 + 4.4 * math.sqrt(shape[1] / biggest)
            thick = 0.2 + 1.2 * math.log2(1 + shape[0]) / math.log2(1 + widest)
            h, d = side, side
        else:  # a vector: a flat, tall bar
            thick = 0.25
            h = 0.6 + 3.0 * math.log10(1 + shape[0]) / math.log10(1 + max(widest, 10))
            d = 0.25
        if n.kind == "input":
            colour = "OtherColor"
        dx, dy = 0.4 * d, 0.28 * d
        y0, y1 = -h / 2, h / 2
        x1 = x + thick
        body += [
            f"% {caption}: {size_text(shape)}",
            f"\\draw[fill={colour}!60!white] ({x:.2f},{y1:.2f}) -- ({x1:.2f},{y1:.2f}) -- "
            f"({x1 + dx:.2f},{y1 + dy:.2f}) -- ({x + dx:.2f},{y1 + dy:.2f}) -- cycle;",
            f"\\draw[fill={colour}!80!black] ({x1:.2f},{y0:.2f}) -- "
            f"({x1 + dx:.2f},{y0 + dy:.2f}) -- "
            f"({x1 + dx:.2f},{y1 + dy:.2f}) -- ({x1:.2f},{y1:.2f}) -- cycle;",
            f"\\draw[fill={colour}] ({x:.2f},{y0:.2f}) rectangle ({x1:.2f},{y1:.2f});",
            f"\\node[rotate=90, anchor=east, font=\\scriptsize] at ({x + thick / 2:.2f},"
            f"{y0 - 0.15:.2f}) {{{caption}}};",
            f"\\node[anchor=south, font=\\tiny, text=black!70] at ({x + thick / 2 + dx / 2:.2f},"
            f"{y1 + dy + 0.02:.2f}) {{{_tex(size_text(shape))}}};",
        ]
        where[n.id] = (x, x1 + dx, y1 + dy + 0.35)
        x = x1 + dx + _GAP
    # the main chain's arrows, then the skips above the boxes
    main_edges = set()
    following = {n.id: m.id for n, m in zip(chain, chain[1:], strict=False)}
    for e in model.edges:
        if following.get(e.tail) == e.head and not e.skip:  # next to each other
            a, b = where[e.tail], where[e.head]
            if b[0] > a[1]:
                body.append(f"\\draw[->, thick] ({a[1] + 0.05:.2f},0) -- ({b[0] - 0.05:.2f},0);")
                main_edges.add((e.tail, e.head))
    top = max((w[2] for w in where.values()), default=1.0)
    level = 0
    for e in model.edges:
        if e.tail not in where or e.head not in where or (e.tail, e.head) in main_edges:
            continue
        if e.fan:
            continue
        a, b = where[e.tail], where[e.head]
        lift = top + 0.5 + 0.45 * (level % 4)
        level += 1
        style = "dashed" if e.dashed else "solid"
        ax, bx = (a[0] + a[1]) / 2, (b[0] + b[1]) / 2
        body.append(
            f"\\draw[->, thick, SkipColor, {style}] ({ax:.2f},{a[2] - 0.3:.2f}) -- ({ax:.2f},"
            f"{lift:.2f}) -- ({bx:.2f},{lift:.2f}) -- ({bx:.2f},{b[2] - 0.3:.2f});"
        )
    title = (
        f"\\node[anchor=south west, font=\\large] at (0,{top + 2.4:.2f}) "
        f"{{\\textbf{{{_tex(net.name)}}}\\quad {human(analysis.params)} params, "
        f"{human(analysis.macs)} MACs}};"
    )
    picture = "\n".join(
        [
            r"\begin{tikzpicture}[line join=round, line width=0.4pt]",
            title,
            *body,
            r"\path[use as bounding box] ([shift={(-0.3,-0.3)}]current bounding box.south west)"
            r" rectangle ([shift={(0.3,0.3)}]current bounding box.north east);",
            r"\end{tikzpicture}",
        ]
    )
    return "\n".join(
        [
            "% Generated by cnndsl: " + _tex(net.name) + " in the look of PlotNeuralNet",
            "% pdflatex this file; the page is as large as the picture",
            r"\documentclass{article}",
            r"\usepackage{tikz}",
            _DEFINE,
            r"\newsavebox{\cnnfigure}",
            r"\begin{document}",
            r"\sbox{\cnnfigure}{" + picture + "}",
            r"\pdfpagewidth=\wd\cnnfigure",
            r"\pdfpageheight=\dimexpr\ht\cnnfigure+\dp\cnnfigure\relax",
            r"\hoffset=-1in \voffset=-1in",
            r"\shipout\hbox{\usebox{\cnnfigure}}",
            r"\end{document}",
            "",
        ]
    )
