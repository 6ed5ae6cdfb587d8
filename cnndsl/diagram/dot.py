"""The drawing model as DOT text: the Diagram (a graphviz.Digraph) and to_dot."""

from __future__ import annotations

import html
import shutil
from pathlib import Path

import graphviz  # type: ignore[import-untyped]

from ..errors import CnnError
from ..shapes import Analysis
from ..text import size_text
from .layout import _NODESEP, _RANKSEP, _assign_labels, _layout, _wrap
from .model import _Builder, _Model, _Node
from .style import FONT, FONT_SIZE, FORMATS, NO_DOT, PNG_DPI, THEMES, TITLE_SIZE, Theme, text_colour


# ---------------------------------------------------------------- DOT
def format_of(path: Path) -> str | None:
    """The output format an extension asks for (``.gv`` is DOT), or None."""
    ext = path.suffix.lower().lstrip(".")
    return {"gv": "dot"}.get(ext, ext) if ext in (*FORMATS, "gv") else None


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
        from ..fileutil import write_atomic

        path = Path(path)
        fmt = fmt or format_of(path) or "svg"
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

    ``depth``: ``None`` expands everything; ``N`` draws each module whose path has N parts
    as one node (depth 1: the network's own steps); ``"auto"`` picks the most detailed depth
    that fits a slide.
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
        from ..text import human

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
