"""Stage 4a: network diagrams with graphviz.

:func:`to_dot` turns an analysed network into a :class:`Diagram` (a ``graphviz.Digraph``)
and writes nothing; :func:`render` loads a file first; :func:`cmd_render` is
``cnndsl render``, the only place that runs the ``dot`` program and writes files.

What the picture shows:

* one node per layer, labelled like the papers (``conv 3×3, 64, /2``, ``maxpool 3×3, /2``,
  ``fc 1000``); with ``fold=True`` the norms, activations and dropouts that directly follow
  a layer (or a merge) join its label: ``conv 3×3, 64 · bn · relu``;
* output shapes on the edges (``64×56×56``), once per tensor (``shapes=False``: none);
* colours by category from the Okabe–Ito palette: convolutions blue (#0072B2), pooling
  vermillion (#D55E00), ``concat``/``add``/``mul`` bluish green (#009E73), softmax and
  outputs yellow (#F0E442), quiet tones for norms, activations, dropout and linear
  layers; the border carries the colour and the fill is a light tint of it, so black
  text stays legible.  Themes: ``light``, ``dark`` and ``print`` (greys only: categories
  differ by fill lightness and border style, for greyscale printers);
* branches side by side into their merge node; residual shortcuts as edges into the
  ``add`` node, solid for the identity and dashed for a projection; side outputs as
  branches that end in their own output node; bound-tensor merges (U-Net skips) as edges
  from where the tensor was bound;
* blocks and groups as labelled clusters.  ``depth=N`` draws the modules whose path has
  at most N parts as clusters and those one level deeper as single nodes with their title
  (a group: its name), and a run of consecutive identical folded blocks as one node
  ``Bottleneck(512) ×3``.  ``depth=None`` expands everything; ``depth="auto"`` picks the
  most detailed depth whose picture still fits a 1920×1080 slide with text at least
  14 px high (everything for LeNet or a U-Net, 1 for GoogLeNet or ResNet-50).
* a network too long for one column wraps into several columns (rows with
  ``rankdir="LR"``), chosen to fit a 16:9 slide best; the cut is marked by a lettered
  connector at the bottom of one column and the top of the next.

Defaults: ``rankdir="TB"``, ``theme="light"``, ``shapes=True``, ``fold=True``;
``to_dot`` and ``render`` default to ``depth=None`` (everything) and the command line to
``depth="auto"``.  Every text is 14 pt (the title 18 pt) in "Helvetica,Arial,sans-serif";
PNGs are rendered at 200 dpi.  The DOT text is deterministic: node ids come from uids,
cluster names from uids, colours from the category; labels are HTML-escaped.

>>> from cnndsl.api import analyze
>>> a = analyze(source="network N { input 3x32x32; conv 8 3x3 -> bn -> relu; gap; flatten;"
...             " fc 10 }")[0]
>>> g = to_dot(a)
>>> print([line.strip() for line in g.body if "label=<conv" in line][0][:36])
n2 [label=<conv 3×3, 8 · bn · relu>
>>> 'n2 -> n5 [label="8×30×30"' in g.source
True
"""

from __future__ import annotations

import html
import shutil
import sys
import types
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import graphviz  # type: ignore[import-untyped]

from . import ir
from .errors import CnnError
from .ops import lookup
from .shapes import Analysis
from .text import size_text

FONT = "Helvetica,Arial,sans-serif"
FONT_SIZE = 14
TITLE_SIZE = 18
PNG_DPI = 200
SLIDE = (1920.0, 1080.0)
FORMATS = ("svg", "png", "pdf", "dot")

NO_DOT = CnnError(
    "the `dot` program of graphviz is not installed",
    hint="install it: sudo apt-get install graphviz (Debian/Ubuntu), brew install graphviz "
    "(macOS); --format dot still works",
)

_FOLDABLE = frozenset({"norm", "act", "dropout"})
# the category a folded block takes: the first of these found among its layers
_DOMINANT = (
    "conv",
    "linear",
    "pool",
    "merge",
    "norm",
    "act",
    "dropout",
    "reshape",
    "output",
    "other",
)


# ---------------------------------------------------------------- themes
@dataclass(frozen=True, slots=True)
class Style:
    """How one category of node is drawn."""

    fill: str
    pen: str
    border: str = "solid"  # solid, dashed, dotted
    penwidth: float = 1.4


@dataclass(frozen=True, slots=True)
class Theme:
    """A palette: background, edges, clusters and one :class:`Style` per category."""

    name: str
    background: str
    text: str
    edge: str
    edge_text: str
    cluster_fill: tuple[str, str]  # alternating by nesting level
    cluster_pen: str
    styles: dict[str, Style] = field(hash=False)

    def style(self, category: str) -> Style:
        return self.styles.get(category, self.styles["other"])


def _mix(colour: str, other: str, t: float) -> str:
    """``t`` of ``colour`` and ``1 - t`` of ``other``, as ``#RRGGBB``.

    >>> _mix("#0072B2", "#FFFFFF", 0.2)
    '#CCE3F0'
    """
    a = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    b = [int(other[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x * t + y * (1 - t)):02X}" for x, y in zip(a, b, strict=True))


def _luminance(colour: str) -> float:
    def chan(v: int) -> float:
        c = v / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (chan(int(colour[i : i + 2], 16)) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def text_colour(fill: str) -> str:
    """Black or white, whichever contrasts more with ``fill`` (WCAG contrast ratio).

    >>> text_colour("#F0E442"), text_colour("#10445F")
    ('#000000', '#FFFFFF')
    """
    lum = _luminance(fill)
    return "#000000" if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else "#FFFFFF"


# Okabe & Ito (2008), "Color universal design".
OKABE_ITO = {
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "black": "#000000",
}
_HUES = {
    "conv": OKABE_ITO["blue"],
    "pool": OKABE_ITO["vermillion"],
    "merge": OKABE_ITO["bluish_green"],
    "output": OKABE_ITO["yellow"],
    "norm": OKABE_ITO["sky_blue"],
    "act": OKABE_ITO["orange"],
    "linear": OKABE_ITO["reddish_purple"],
}
_TINT = {"conv": 0.22, "pool": 0.25, "merge": 0.28, "norm": 0.16, "act": 0.18, "linear": 0.25}


def _light() -> Theme:
    white = "#FFFFFF"
    styles = {
        cat: Style(_mix(h, white, _TINT[cat]), h) for cat, h in _HUES.items() if cat != "output"
    }
    styles["output"] = Style(OKABE_ITO["yellow"], "#A39A00", penwidth=2.0)
    styles["dropout"] = Style("#F2F2F2", "#8C8C8C", "dashed")
    styles["reshape"] = Style(white, "#8C8C8C")
    styles["other"] = Style(white, "#595959")
    styles["input"] = Style("#EBEBEB", "#595959")
    styles["connector"] = Style(white, "#8C8C8C")
    return Theme(
        "light",
        "#FFFFFF",
        "#000000",
        "#404040",
        "#404040",
        ("#F7F7F7", "#EDEDED"),
        "#A6A6A6",
        styles,
    )


def _dark() -> Theme:
    bg = "#1E1E1E"
    styles = {
        cat: Style(_mix(h, bg, 0.42), _mix(h, "#FFFFFF", 0.8))
        for cat, h in _HUES.items()
        if cat != "output"
    }
    styles["output"] = Style(OKABE_ITO["yellow"], "#FFF7A8", penwidth=2.0)
    styles["dropout"] = Style("#333333", "#9E9E9E", "dashed")
    styles["reshape"] = Style("#2B2B2B", "#9E9E9E")
    styles["other"] = Style("#2B2B2B", "#BDBDBD")
    styles["input"] = Style("#3A3A3A", "#BDBDBD")
    styles["connector"] = Style(bg, "#9E9E9E")
    return Theme(
        "dark", bg, "#F2F2F2", "#BDBDBD", "#D0D0D0", ("#262626", "#2E2E2E"), "#5C5C5C", styles
    )


def _print() -> Theme:
    # Greys only: fill lightness and border style tell the categories apart.
    styles = {
        "conv": Style("#D4D4D4", "#000000", "solid", 1.6),
        "pool": Style("#FFFFFF", "#000000", "dashed", 1.6),
        "merge": Style("#A8A8A8", "#000000", "solid", 1.6),
        "output": Style("#FFFFFF", "#000000", "solid", 3.0),
        "norm": Style("#F0F0F0", "#000000", "dotted", 1.4),
        "act": Style("#FFFFFF", "#000000", "dotted", 1.4),
        "dropout": Style("#FFFFFF", "#6E6E6E", "dashed", 1.0),
        "linear": Style("#E6E6E6", "#000000", "solid", 2.6),
        "reshape": Style("#FFFFFF", "#6E6E6E", "solid", 1.0),
        "other": Style("#FFFFFF", "#000000", "solid", 1.0),
        "input": Style("#FFFFFF", "#000000", "solid", 1.0),
        "connector": Style("#FFFFFF", "#6E6E6E", "solid", 1.0),
    }
    return Theme(
        "print",
        "#FFFFFF",
        "#000000",
        "#000000",
        "#333333",
        ("#FFFFFF", "#F5F5F5"),
        "#000000",
        styles,
    )


THEMES: dict[str, Theme] = {t.name: t for t in (_light(), _dark(), _print())}


# ---------------------------------------------------------------- the drawing model
Tail = tuple[str, ir.Shape, "str | None"]  # a node id, its tensor, the tensor's bound name


@dataclass(slots=True)
class _Node:
    id: str
    parts: list[str]  # label pieces, joined with " · "
    category: str
    cluster: str | None
    item: int
    title: str | None = None  # a bold first line (folded blocks, outputs)
    kind: str = "layer"  # layer, merge, folded, input, output, connector
    tooltip: str = ""
    column: int = 0

    def lines(self) -> list[tuple[str, bool]]:
        out = [(self.title, True)] if self.title else []
        if self.parts:
            out.append((" · ".join(self.parts), False))
        return out


@dataclass(slots=True)
class _Edge:
    tail: str
    head: str
    shape: ir.Shape | None
    priority: int  # 0 main path, 1 branch into a side path, 2 skip
    dashed: bool = False
    skip: bool = False
    constraint: bool = True
    label: bool = False
    name: str | None = None  # the bound tensor it reads (after a `use` or in concat(a, b))


@dataclass(slots=True)
class _Cluster:
    id: str
    label: str
    parent: str | None
    level: int
    tooltip: str = ""


@dataclass(slots=True)
class _Model:
    nodes: dict[str, _Node] = field(default_factory=dict)
    edges: list[_Edge] = field(default_factory=list)
    clusters: dict[str, _Cluster] = field(default_factory=dict)
    items: int = 0  # steps of the main chain; a column starts at one of them
    levels: dict[int, int] = field(default_factory=dict)  # item -> cluster nesting of its step


class _Builder:
    """Walks the data flow of a network and fills a :class:`_Model`."""

    def __init__(self, analysis: Analysis, depth: int | None, fold: bool):
        self.net = analysis.network
        self.depth = depth
        self.fold = fold
        self.paths = {node.uid: path for path, node in self.net.modules()}
        self.model = _Model()
        self.bound: dict[str, list[Tail]] = {}
        self.item = -1

    # ------------------------------------------------------------ helpers
    def folded(self, node: ir.Node) -> bool:
        path = self.paths.get(node.uid)
        return self.depth is not None and path is not None and path.count(".") + 1 >= self.depth

    def add(self, node: _Node) -> str:
        self.model.nodes[node.id] = node
        return node.id

    def connect(
        self,
        tails: Iterable[Tail],
        head: str,
        priority: int = 0,
        dashed: bool = False,
        skip: bool = False,
    ) -> None:
        for tail, shape, name in tails:
            self.model.edges.append(_Edge(tail, head, shape, priority, dashed, skip, name=name))

    # ------------------------------------------------------------ walking
    def build(self) -> _Model:
        tails = self.flow(self.net.root.body, [], None, 0, False, chain=True)
        out = self.add(
            _Node("output", [], "output", None, self.item, "output", "output", self.net.name)
        )
        self.connect(tails, out)
        self.model.items = self.item + 1
        return self.model

    def flow(
        self,
        body: tuple[ir.Node, ...],
        tails: list[Tail],
        cluster: str | None,
        entry: int,
        dashed: bool,
        chain: bool = False,
    ) -> list[Tail]:
        """Draw ``body`` fed by ``tails``; returns the tails it ends with.

        ``entry`` is the priority of the edges from ``tails`` (later edges are main ones);
        ``dashed`` draws every edge dashed (a projection shortcut); ``chain`` marks the
        main chain (the network's body and the modules in it, not branches), whose steps
        are the items that columns are cut between.
        """
        absorb: str | None = None  # a node whose label may take a following bn/relu
        i = 0
        prio = entry
        while i < len(body):
            node = body[i]
            if chain:
                self.item += 1
                self.model.levels[self.item] = (
                    0 if cluster is None else self.model.clusters[cluster].level + 1
                )
            if isinstance(node, ir.Layer):
                path = self.paths.get(node.uid, "")
                text = lookup(node.op).describe(node.args)  # type: ignore[union-attr]
                if self.fold and _category(node) in _FOLDABLE and absorb is not None:
                    target = self.model.nodes[absorb]
                    target.parts.append(text)
                    if path:
                        target.tooltip += f", {path}"
                    tails = [(absorb, node.out_shape, None)]
                else:
                    nid = self.add(
                        _Node(
                            f"n{node.uid}",
                            [text],
                            _category(node),
                            cluster,
                            self.item,
                            tooltip=path,
                        )
                    )
                    self.connect(tails, nid, prio, dashed)
                    tails = [(nid, node.out_shape, None)]
                    absorb = nid
            elif isinstance(node, ir.Module):
                if self.folded(node):
                    j = i + 1
                    while (
                        node.kind == "block"
                        and j < len(body)
                        and isinstance(body[j], ir.Module)
                        and body[j].kind == "block"  # type: ignore[union-attr]
                        and body[j].title == node.title  # type: ignore[union-attr]
                        and self.folded(body[j])
                    ):
                        j += 1
                    nid = self._folded(node, j - i, cluster)
                    self.connect(tails, nid, prio, dashed)
                    tails = [(nid, body[j - 1].out_shape, None)]
                    absorb = None
                    i = j
                    prio = 0
                    continue
                cid = self._cluster(node, node.title or self.paths.get(node.uid, ""), cluster)
                tails = self.flow(node.body, tails, cid, prio, dashed, chain)
                absorb = None
            elif isinstance(node, ir.Merge):
                tails, absorb = self._merge(node, tails, cluster, prio, dashed)
            elif isinstance(node, ir.Output):
                ends = self.flow(node.body, tails, cluster, 1, dashed)
                oid = self.add(
                    _Node(
                        f"out{node.uid}",
                        [f"weight {node.weight:g}"],
                        "output",
                        cluster,
                        self.item,
                        node.name,
                        "output",
                        node.name,
                    )
                )
                self.connect(ends, oid)
                absorb = None
                i += 1
                continue  # the main tensor goes on: its next edge keeps its priority
            elif isinstance(node, ir.Bind):
                self.bound[node.name] = [(t, sh, node.name) for t, sh, _ in tails]
                absorb = None
            elif isinstance(node, ir.Use):
                tails = self.bound[node.name]
                absorb = None
            elif isinstance(node, ir.MergeRefs):
                mid = self.add(
                    _Node(
                        f"m{node.uid}",
                        [node.kind],
                        "merge",
                        cluster,
                        self.item,
                        kind="merge",
                        tooltip=f"{node.kind}({', '.join(node.names)})",
                    )
                )
                for name in node.names:
                    src = self.bound[name]
                    main = [t[:2] for t in src] == [t[:2] for t in tails]
                    self.connect(src, mid, 0 if main else 2, skip=not main)
                tails = [(mid, node.out_shape, None)]
                absorb = mid
            elif isinstance(node, ir.Input):
                nid = self.add(
                    _Node(
                        "input",
                        ["input"],
                        "input",
                        cluster,
                        self.item,
                        kind="input",
                        tooltip="input",
                    )
                )
                tails = [(nid, node.out_shape, None)]
                absorb = None
            i += 1
            prio = 0
        return tails

    def _folded(self, node: ir.Module, count: int, cluster: str | None) -> str:
        path = self.paths.get(node.uid, "")
        title = node.title or path
        if count > 1:
            title += f" ×{count}"
        return self.add(
            _Node(f"n{node.uid}", [], _dominant(node), cluster, self.item, title, "folded", path)
        )

    def _cluster(self, node: ir.Node, label: str, parent: str | None) -> str:
        level = self.model.clusters[parent].level + 1 if parent else 0
        cid = f"cluster_{node.uid}"
        self.model.clusters[cid] = _Cluster(cid, label, parent, level, self.paths.get(node.uid, ""))
        return cid

    def _merge(
        self, node: ir.Merge, tails: list[Tail], cluster: str | None, prio: int, dashed: bool
    ) -> tuple[list[Tail], str | None]:
        path = self.paths.get(node.uid, "")
        if node.container:
            name = path.rsplit(".", 1)[-1]
            if self.folded(node):
                nid = self.add(
                    _Node(
                        f"n{node.uid}",
                        [],
                        _dominant(node),
                        cluster,
                        self.item,
                        name,
                        "folded",
                        path,
                    )
                )
                self.connect(tails, nid, prio, dashed)
                return [(nid, node.out_shape, None)], None
            cluster = self._cluster(node, name, cluster)
        into: list[tuple[Tail, bool, bool]] = []  # (tail, dashed, identity)
        for k, branch in enumerate(node.branches):
            shortcut = node.residual == "projection" and k > 0
            if not branch:
                into.extend((t, dashed, True) for t in tails)
                continue
            end = self.flow(branch, tails, cluster, prio if k == 0 else 1, dashed or shortcut)
            into.extend((t, dashed or shortcut, False) for t in end)
        mid = self.add(
            _Node(
                f"m{node.uid}",
                [node.kind],
                "merge",
                cluster,
                self.item,
                kind="merge",
                tooltip=path or (f"residual {node.kind}" if node.residual else node.kind),
            )
        )
        for (tail, shape, _), dash, identity in into:
            self.model.edges.append(
                _Edge(tail, mid, shape, 2 if identity else 0, dash, skip=identity)
            )
        return [(mid, node.out_shape, None)], mid


def _category(node: ir.Layer) -> str:
    op = lookup(node.op)
    return op.category if op is not None else "other"


def _dominant(node: ir.Node) -> str:
    found = set()
    body = node.body if isinstance(node, ir.Module) else tuple(n for b in node.branches for n in b)  # type: ignore[union-attr]
    for n in ir.iter_flow(body):
        if isinstance(n, ir.Layer):
            op = lookup(n.op)
            found.add(op.category if op else "other")
        elif isinstance(n, (ir.Merge, ir.MergeRefs)):
            found.add("merge")
    return next((c for c in _DOMINANT if c in found), "other")


# ---------------------------------------------------------------- size estimates
# Columns are chosen from estimated sizes (not by running dot), so that the DOT text is
# the same with or without graphviz installed.
_CHAR = 0.56  # average advance of a character, in ems (Liberation Sans / Helvetica)
_BOLD = 0.61
_LINE = 1.2
_MARGIN = (7.2, 2.9)  # node margin in points (x, y): margin="0.1,0.04"
_NODESEP = 0.15 * 72
_RANKSEP = 0.1 * 72
_BAND = FONT_SIZE * _LINE + 4  # the rank that edge labels take between node ranks
_CLUSTER_LABEL = FONT_SIZE * _LINE + 10
_MAX_COLUMNS = 6
_NO_WRAP = 1.3  # one column is enough when its text is this many times 14 px on a slide


def _text_width(text: str, bold: bool = False) -> float:
    return len(text) * FONT_SIZE * (_BOLD if bold else _CHAR)


def _node_size(node: _Node) -> tuple[float, float]:
    """Estimated (width, height) in points."""
    lines = node.lines() or [("", False)]
    w = max(_text_width(t, b) for t, b in lines) + 2 * _MARGIN[0] + 4
    h = len(lines) * FONT_SIZE * _LINE + 2 * _MARGIN[1] + 4
    if node.kind == "merge":
        w *= 1.25
    if node.kind == "connector":
        w = h = FONT_SIZE * _LINE + 2 * _MARGIN[1] + 4
    return max(w, 0.3 * 72), max(h, 0.3 * 72)


def _ranks(model: _Model) -> dict[str, int]:
    """Longest-path layering over the constraint edges (nodes are created in flow order)."""
    rank = {nid: 0 for nid in model.nodes}
    order = {nid: k for k, nid in enumerate(model.nodes)}
    for e in sorted((e for e in model.edges if e.constraint), key=lambda e: order[e.head]):
        rank[e.head] = max(rank[e.head], rank[e.tail] + 1)
    return rank


class _Sizer:
    """Estimated sizes of columns ``[a, b)`` of main-chain items, along and across ranks."""

    def __init__(self, model: _Model, lr: bool, shapes: bool):
        _assign_labels(model, shapes)
        rank = _ranks(model)
        size = {nid: _node_size(n) for nid, n in model.nodes.items()}
        label = {
            e.tail: _text_width(size_text(e.shape)) + 8
            for e in model.edges
            if e.label and e.shape is not None
        }
        n_items = model.items
        self.n = n_items
        top = max(rank.values(), default=0) + 1
        step = [0.0] * top
        cells: dict[tuple[int, int], list[str]] = {}
        for nid, n in model.nodes.items():
            r = rank[nid]
            w, h = size[nid]
            if lr:
                step[r] = max(step[r], w + 2 * _RANKSEP + label.get(nid, 0.0))
            else:
                step[r] = max(step[r], h + 2 * _RANKSEP + (_BAND if shapes else 0.0))
            cells.setdefault((n.item, r), []).append(nid)
        self.prefix = [0.0]
        for v in step:
            self.prefix.append(self.prefix[-1] + v)
        self.lo = [top] * n_items
        self.hi = [-1] * n_items
        self.across = [0.0] * n_items
        for (item, r), ids in cells.items():
            self.lo[item] = min(self.lo[item], r)
            self.hi[item] = max(self.hi[item], r)
            if lr:
                breadth = sum(size[i][1] + _NODESEP for i in ids)
            else:
                breadth = max(
                    sum(size[i][0] + _NODESEP for i in ids),
                    sum(label.get(i, 0.0) + _NODESEP for i in ids),
                )
            self.across[item] = max(self.across[item], breadth)
        span: dict[str, list[int]] = {}
        for n in model.nodes.values():
            c = n.cluster
            while c is not None:
                first_last = span.setdefault(c, [n.item, n.item])
                first_last[0] = min(first_last[0], n.item)
                first_last[1] = max(first_last[1], n.item)
                c = model.clusters[c].parent
        self.spans = list(span.values())
        self.nest = [0] * n_items
        for n in model.nodes.values():
            level, c = 0, n.cluster
            while c is not None:
                level, c = level + 1, model.clusters[c].parent
            self.nest[n.item] = max(self.nest[n.item], level)
        self.starts = [0] * n_items
        for first, _ in self.spans:
            self.starts[first] += 1
        # a column may start at an item with nodes, unless the item reads a bound tensor
        # (the start of a `u2 -> …` chain): that would leave a stub of a column
        reads = {
            model.nodes[e.head].item
            for e in model.edges
            if e.name is not None and model.nodes[e.tail].item < model.nodes[e.head].item
        }
        # and only between the steps of the network or of its own modules (not deeper)
        nodes_from = [False] * (n_items + 1)
        for i in range(n_items - 1, -1, -1):
            nodes_from[i] = nodes_from[i + 1] or self.hi[i] >= 0
        self.candidates = [
            i
            for i in range(2, n_items)
            if nodes_from[i]
            and i not in reads
            and model.levels.get(i, 0) <= 1
            and (self.hi[i] >= 0 or model.levels.get(i + 1, 0) > model.levels[i])
        ]
        self.lr = lr
        self.shapes = shapes

    def column(self, a: int, b: int) -> tuple[float, float]:
        """(along, across) of items ``[a, b)`` drawn as one column (row for LR)."""
        lo = min((self.lo[i] for i in range(a, b) if self.hi[i] >= 0), default=0)
        hi = max(self.hi[a:b], default=0)
        along = self.prefix[hi + 1] - self.prefix[lo]
        across = max(self.across[a:b], default=0.0) + 16 * max(self.nest[a:b], default=0)
        opened = sum(1 for first, last in self.spans if first < a <= last)
        labels = (sum(self.starts[a:b]) + opened) * _CLUSTER_LABEL
        connector = FONT_SIZE * _LINE + 2 * _MARGIN[1] + 4
        if self.lr:
            across += labels * 0.5
            along += (connector + 2 * _RANKSEP) * ((a > 0) + (b < self.n))
        else:
            along += labels + (connector + 2 * _RANKSEP + (_BAND if self.shapes else 0)) * (
                (a > 0) + (b < self.n)
            )
        return along, across

    def scale(self, starts: list[int], title: bool) -> float:
        """The scale at which these columns fit a 1920×1080 slide."""
        bounds = [*starts, self.n]
        sizes = [self.column(a, b) for a, b in zip(bounds, bounds[1:], strict=False)]
        along = max(s[0] for s in sizes) + 2 * 0.2 * 72
        across = sum(s[1] for s in sizes) + 2 * _NODESEP * (len(sizes) - 1) + 2 * 0.2 * 72
        width, height = (along, across) if self.lr else (across, along)
        if title:
            height += TITLE_SIZE * _LINE + 8
        return min(SLIDE[0] / max(width, 1.0), SLIDE[1] / max(height, 1.0))

    def pack(self, bound: float) -> list[int]:
        """Greedy columns of at most ``bound`` along; returns the items that start them."""
        starts = [0]
        ends = [*self.candidates, self.n]
        while True:
            a = starts[-1]
            later = [e for e in ends if e > a]
            chosen = later[0]
            for e in later[1:]:
                if self.column(a, e)[0] > bound:
                    break
                chosen = e
            if chosen >= self.n:
                return starts
            starts.append(chosen)


def _layout(model: _Model, lr: bool, shapes: bool, title: bool) -> tuple[list[int], float]:
    """Choose the column starts (main-chain items) and return them with the slide scale.

    Columns start between the network's own steps where that does about as well as
    starting them between the steps of its modules too.
    """
    sizer = _Sizer(model, lr, shapes)
    single = sizer.scale([0], title)
    if single >= _NO_WRAP:
        return [0], single
    every = sizer.candidates
    top = [i for i in every if model.levels.get(i, 0) == 0]
    sizer.candidates = top
    best, best_scale = _columns(sizer, title, single)
    sizer.candidates = every
    deep, deep_scale = _columns(sizer, title, single)
    if deep_scale > best_scale * 1.15:
        return deep, deep_scale
    return best, best_scale


def _columns(sizer: _Sizer, title: bool, single: float) -> tuple[list[int], float]:
    best, best_scale = [0], single
    total = sizer.column(0, sizer.n)[0]
    for k in range(2, _MAX_COLUMNS + 1):
        if len(sizer.candidates) < k - 1:
            break
        lo, hi = 0.0, total
        starts = sizer.pack(hi)
        for _ in range(24):  # the least bound that packs into k columns
            mid = (lo + hi) / 2
            attempt = sizer.pack(mid)
            if len(attempt) <= k:
                hi, starts = mid, attempt
            else:
                lo = mid
        if len(starts) < 2:
            continue
        scale = sizer.scale(starts, title)
        if scale > best_scale * 1.08:
            best, best_scale = starts, scale
    return best, best_scale


def _assign_labels(model: _Model, shapes: bool) -> None:
    """The shape of a tensor goes on one edge leaving its node: the most main one."""
    first: dict[str, _Edge] = {}
    for e in model.edges:
        e.label = False
        if e.tail not in first or e.priority < first[e.tail].priority:
            first[e.tail] = e
    if shapes:
        for e in first.values():
            e.label = e.shape is not None and model.nodes[e.head].kind != "connector-in"


def _wrap(model: _Model, starts: list[int]) -> list[str]:
    """Cut the model into columns; returns the column heads, left to right.

    The main edge from one column to the next goes through a pair of lettered connectors;
    an edge that reads a bound tensor in another column through a pair named after it.
    """
    column = {}
    bounds = [*starts, model.items]
    for k, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False)):
        for i in range(a, b):
            column[i] = k
    for n in model.nodes.values():
        n.column = column[n.item]
    heads: dict[int, str] = {0: "input"}
    edges: list[_Edge] = []
    outs: dict[tuple[str, str | None], str] = {}
    ins: dict[tuple[str, str | None, int], str] = {}
    letters = 0
    lettered: set[int] = set()
    for e in list(model.edges):
        ct, ch = model.nodes[e.tail].column, model.nodes[e.head].column
        main = ch == ct + 1 and e.name is None  # skips share the main edge's connector
        if ct == ch or not (main or e.name is not None):
            if ct != ch:
                e.constraint = False
            edges.append(e)
            continue
        key = (e.tail, e.name)
        if key not in outs:
            if e.name is None:
                text = _letter(letters)
                letters += 1
            else:
                text = e.name
            out_id = f"wrap{len(outs) + 1}_out"
            model.nodes[out_id] = _Node(
                out_id,
                [text],
                "connector",
                None,
                model.nodes[e.tail].item,
                kind="connector",
                tooltip=f"continues at {text}",
                column=ct,
            )
            outs[key] = out_id
            edges.append(_Edge(e.tail, out_id, e.shape, e.priority, e.dashed and not e.skip))
        out_id = outs[key]
        if (*key, ch) not in ins:
            in_id = f"{out_id[:-4]}_in{'' if ch == ct + 1 else ch}"
            text = model.nodes[out_id].parts[0]
            model.nodes[in_id] = _Node(
                in_id,
                [text],
                "connector",
                None,
                starts[ch],
                kind="connector",
                tooltip=f"continued from {text}",
                column=ch,
            )
            ins[(*key, ch)] = in_id
            if ch not in heads or (e.name is None and ch not in lettered):
                heads[ch] = in_id
                if e.name is None:
                    lettered.add(ch)
        edges.append(_Edge(ins[(*key, ch)], e.head, None, e.priority, e.dashed, e.skip))
    model.edges = edges
    return [heads[c] for c in sorted(heads)]


def _letter(k: int) -> str:
    return "ABCDEFGHJKLMNPQRSTUVWXYZ"[k % 24] + ("" if k < 24 else str(k // 24))


# ---------------------------------------------------------------- DOT
class Diagram(graphviz.Digraph):
    """A ``graphviz.Digraph`` that notebooks show as SVG and that knows how to save itself."""

    def _repr_svg_(self) -> str:
        return self.to_bytes("svg").decode("utf-8")

    def to_bytes(self, fmt: str = "svg") -> bytes:
        """The diagram as ``svg``, ``png`` (200 dpi), ``pdf`` or ``dot`` bytes."""
        if fmt not in FORMATS:
            raise CnnError(
                f"unknown diagram format {fmt!r}", hint="use one of " + ", ".join(FORMATS)
            )
        if fmt == "dot":
            return self.source.encode("utf-8")
        if shutil.which("dot") is None:
            raise NO_DOT
        graph = self.copy()
        if fmt == "png":
            graph.graph_attr["dpi"] = str(PNG_DPI)
        try:
            return graph.pipe(format=fmt)
        except graphviz.ExecutableNotFound:
            raise NO_DOT from None

    def save(self, path: str | Path, fmt: str | None = None) -> Path:
        """Write the diagram; the format follows the extension unless given."""
        from .fileutil import write_atomic

        path = Path(path)
        fmt = fmt or _format_of(path) or "svg"
        write_atomic(path, self.to_bytes(fmt))
        return path


def to_dot(
    analysis: Analysis,
    *,
    depth: int | str | None = None,
    rankdir: str = "TB",
    theme: str = "light",
    shapes: bool = True,
    fold: bool = True,
    title: bool = True,
    wrap: bool = True,
) -> Diagram:
    """The diagram of an analysed network (pure: nothing is run or written).

    ``depth``: ``None`` expands everything, ``N`` folds the modules whose path has more
    than N parts, ``"auto"`` picks the most detailed depth that fits a slide.
    ``wrap``: cut a long network into columns (rows for ``LR``) to suit a 16:9 slide.
    """
    if rankdir not in ("TB", "LR"):
        raise CnnError(f"rankdir must be TB or LR, got {rankdir!r}")
    if theme not in THEMES:
        raise CnnError(f"unknown theme {theme!r}", hint="use one of " + ", ".join(THEMES))
    lr = rankdir == "LR"
    if depth == "auto":
        depth = auto_depth(analysis, rankdir=rankdir, shapes=shapes, fold=fold)
    elif depth is not None and (not isinstance(depth, int) or depth < 1):
        raise CnnError(f"depth must be a positive integer, None or 'auto', got {depth!r}")
    model = _Builder(analysis, depth, fold).build()
    starts, _ = _layout(model, lr, shapes, title) if wrap else ([0], 0.0)
    heads = _wrap(model, starts) if len(starts) > 1 else ["input"]
    _assign_labels(model, shapes)
    return _emit(model, analysis, THEMES[theme], rankdir, heads, title)


def slide_scale(
    analysis: Analysis,
    *,
    depth: int | None = None,
    rankdir: str = "TB",
    shapes: bool = True,
    fold: bool = True,
) -> float:
    """The estimated scale at which the diagram fits a 1920×1080 slide (no ``dot`` run)."""
    model = _Builder(analysis, depth, fold).build()
    return _layout(model, rankdir == "LR", shapes, True)[1]


def auto_depth(
    analysis: Analysis, *, rankdir: str = "TB", shapes: bool = True, fold: bool = True
) -> int | None:
    """The most detailed depth whose diagram fits a 1920×1080 slide with 14 px text."""
    deepest = max((p.count(".") + 1 for p, _ in analysis.network.modules()), default=1)
    for depth in [None, *range(deepest - 1, 0, -1)]:
        if slide_scale(analysis, depth=depth, rankdir=rankdir, shapes=shapes, fold=fold) >= 1.15:
            return depth
    return 1


def _emit(
    model: _Model, analysis: Analysis, theme: Theme, rankdir: str, heads: list[str], title: bool
) -> Diagram:
    net = analysis.network
    g = Diagram(name=net.name, comment=f"cnndsl diagram of {net.name}")
    graph_attr = {
        "rankdir": rankdir,
        "newrank": "true",
        "bgcolor": theme.background,
        "fontname": FONT,
        "fontsize": str(FONT_SIZE),
        "fontcolor": theme.text,
        "nodesep": f"{_NODESEP / 72:.2f}",
        "ranksep": f"{_RANKSEP / 72:.2f}",
        "pad": "0.2",
        "outputorder": "edgesfirst",
        "labelloc": "t",
        "labeljust": "c",
    }
    if title:
        from .text import human

        graph_attr["label"] = (
            f"<<B>{_esc(net.name)}</B>   {human(analysis.params)} params,"
            f" {human(analysis.macs)} MACs>"
        )
        graph_attr["fontsize"] = str(TITLE_SIZE)
    g.graph_attr.update(graph_attr)
    g.node_attr.update(
        {
            "shape": "box",
            "style": "rounded,filled",
            "fontname": FONT,
            "fontsize": str(FONT_SIZE),
            "margin": "0.1,0.04",
            "height": "0.3",
            "width": "0.3",
            "penwidth": "1.4",
        }
    )
    g.edge_attr.update(
        {
            "fontname": FONT,
            "fontsize": str(FONT_SIZE),
            "color": theme.edge,
            "fontcolor": theme.edge_text,
            "arrowsize": "0.7",
            "penwidth": "1.2",
        }
    )

    children: dict[str | None, list[str]] = {}
    for cid, c in model.clusters.items():
        children.setdefault(c.parent, []).append(cid)
    members: dict[tuple[str | None, int], list[_Node]] = {}
    present: dict[str, list[int]] = {}  # the columns a cluster has nodes in
    for n in model.nodes.values():
        members.setdefault((n.cluster, n.column), []).append(n)
        up = n.cluster
        while up is not None:
            if n.column not in present.setdefault(up, []):
                present[up].append(n.column)
            up = model.clusters[up].parent

    def fill(graph: graphviz.Digraph, cluster: str | None, col: int) -> None:
        for n in members.get((cluster, col), []):
            graph.node(n.id, **_node_attrs(n, theme))
        for cid in children.get(cluster, []):
            if col not in present.get(cid, []):
                continue
            c = model.clusters[cid]
            first = col == min(present[cid])
            label = c.label if first else f"{c.label} (continued)"
            with graph.subgraph(name=cid if first else f"{cid}_{col}") as sub:
                sub.attr(
                    label=f"<<B>{_esc(label)}</B>>",
                    labeljust="l",
                    style="rounded,filled",
                    fillcolor=theme.cluster_fill[c.level % 2],
                    color=theme.cluster_pen,
                    fontcolor=theme.text,
                    fontsize=str(FONT_SIZE),
                    penwidth="1",
                    tooltip=c.tooltip or c.label,
                )
                fill(sub, cid, col)

    for col in sorted({n.column for n in model.nodes.values()}):
        fill(g, None, col)
    for e in model.edges:
        attrs: dict[str, str] = {}
        if e.label and e.shape is not None:
            attrs["label"] = size_text(e.shape)
        if e.dashed:
            attrs["style"] = "dashed"
        if e.skip:
            attrs["weight"] = "1"
        elif e.constraint:
            attrs["weight"] = "4"
        if not e.constraint:
            attrs["constraint"] = "false"
        g.edge(e.tail, e.head, **attrs)
    if len(heads) > 1:
        with g.subgraph(name="columns") as sub:
            sub.attr(rank="same")
            for h in heads:
                sub.node(h)
        for a, b in zip(heads, heads[1:], strict=False):
            g.edge(a, b, style="invis")
    return g


def _node_attrs(n: _Node, theme: Theme) -> dict[str, str]:
    st = theme.style(n.category)
    lines = []
    for text, bold in n.lines():
        lines.append(f"<B>{_esc(text)}</B>" if bold else _esc(text))
    label = "<BR/>".join(lines)
    style = ["rounded", "filled"]
    if st.border != "solid":
        style.append(st.border)
    attrs = {
        "label": f"<{label}>",
        "fillcolor": st.fill,
        "color": st.pen,
        "fontcolor": text_colour(st.fill),
    }
    pen = st.penwidth
    if n.kind == "folded":
        pen += 1.0
    if n.kind == "merge":
        attrs["shape"] = "ellipse"
        attrs["margin"] = "0.06,0.02"
        style.remove("rounded")
    if n.kind == "connector":
        attrs["shape"] = "circle"
        attrs["margin"] = "0.02"
        style.remove("rounded")
    attrs["style"] = ",".join(style)
    if pen != 1.4:
        attrs["penwidth"] = f"{pen:g}"
    if n.tooltip:
        attrs["tooltip"] = n.tooltip
    return attrs


def _esc(text: str) -> str:
    """Escape text for an HTML-like label.

    >>> _esc('a<b> & "c"')
    'a&lt;b&gt; &amp; &quot;c&quot;'
    """
    return html.escape(text, quote=True).replace("&#x27;", "'")


# ---------------------------------------------------------------- files and the CLI
def render(
    path: str | Path,
    *,
    network: str | None = None,
    overrides: dict[str, Any] | None = None,
    **opts: Any,
) -> Diagram:
    """Load ``path`` and return the diagram of its network (``network`` picks one by name)."""
    from .api import analyze

    analyses = analyze(path, network=network, overrides=overrides)
    if not analyses:
        raise CnnError(f"{path} has no network to draw (a library of blocks)")
    return to_dot(analyses[0], **opts)


def _format_of(path: Path) -> str | None:
    ext = path.suffix.lower().lstrip(".")
    return {"gv": "dot"}.get(ext, ext) if ext in (*FORMATS, "gv") else None


_MAGIC = (b"<?xml", b"<svg", b"\x89PNG", b"%PDF", b"digraph", b"//", b"/*")


def _may_overwrite(out: Path, source: Path | None) -> None:
    if source is not None and out.exists() and out.resolve() == source.resolve():
        raise CnnError(
            f"refusing to overwrite the input file {out}", hint="give another output file with -o"
        )
    if out.exists():
        try:
            with out.open("rb") as f:
                head = f.read(64).lstrip()
        except OSError:
            head = b""
        if out.is_dir() or not head.startswith(_MAGIC) and head:
            raise CnnError(
                f"refusing to overwrite {out}: it is not a diagram",
                hint="give another output file with -o, or remove it first",
            )


def cmd_render(args: Any) -> int:
    """``cnndsl render FILE [-o OUT] [--format …] [--depth N] …``; returns the exit status."""
    import sys

    from .cli import _analyses, report
    from .errors import Warnings

    warnings = Warnings()
    analyses = _analyses(args, args.file, warnings)
    for w in warnings.items:
        report(w)
    if not analyses:
        raise CnnError(f"{args.file} has no network to draw (a library of blocks)")
    fmt = args.format
    out_arg = getattr(args, "out", None)
    if fmt is None and out_arg not in (None, "-"):
        fmt = _format_of(Path(out_arg))
        if fmt is None:
            raise CnnError(
                f"cannot tell the format of {out_arg} from its extension",
                hint="use .svg, .png, .pdf or .dot, or give --format",
            )
    fmt = fmt or "svg"
    depth = getattr(args, "depth", None)
    if depth is None or (isinstance(depth, str) and depth.lower() == "auto"):
        depth = "auto"
    elif isinstance(depth, str) and depth.lower() in ("all", "none", "full"):
        depth = None
    elif isinstance(depth, str):
        depth = int(depth)
    source = None if args.file == "-" else Path(args.file)
    stem = "network" if source is None else source.stem
    for a in analyses:
        diagram = to_dot(
            a,
            depth=depth,
            rankdir=args.rankdir or "TB",
            theme=args.theme or "light",
            shapes=not args.no_shapes,
            fold=not args.no_fold,
        )
        data = diagram.to_bytes(fmt)
        if out_arg == "-":
            sys.stdout.buffer.write(data) if hasattr(sys.stdout, "buffer") else sys.stdout.write(
                data.decode("utf-8", "replace")
            )
            continue
        out = Path(out_arg) if out_arg else Path(f"{stem}.{fmt}")
        if len(analyses) > 1:
            out = out.with_name(f"{out.stem}.{a.network.name}{out.suffix}")
        _may_overwrite(out, source)
        from .fileutil import write_atomic

        write_atomic(out, data)
        print(f"wrote {out}", file=sys.stderr)
    return 0


class _CallableModule(types.ModuleType):
    """``import cnndsl.render`` replaces the package's ``cnndsl.render`` function by this
    module; calling the module keeps ``cnndsl.render(path, …)`` working either way."""

    def __call__(self, path: str | Path, **options: Any) -> Diagram:
        return render(path, **options)


sys.modules[__name__].__class__ = _CallableModule
