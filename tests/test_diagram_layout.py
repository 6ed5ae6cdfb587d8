"""Layout quality read back from real ``dot`` output: no edge label overlaps a node, another
label or a cluster border (every example, at auto depth and at depth 1); text on a
1920×1080 slide; encoder-decoders drawn as a U; LR prefers one row."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import ROOT

from cnndsl.api import analyze
from cnndsl.diagram import to_dot

EXAMPLES = sorted((ROOT / "examples").glob("*.cnn"))
pytestmark = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz's dot is missing")
NS = "{http://www.w3.org/2000/svg}"
Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in SVG points

# Helvetica's advance widths in ems for the characters of shape labels (digits are all
# 0.556; × is 0.584); anything else is taken as 0.6 (wide)
_ADVANCE = {**dict.fromkeys("0123456789", 0.556), "×": 0.584, " ": 0.278, ",": 0.278}


def _numbers(text: str) -> list[float]:
    return [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", text)]


def _shape_box(el: ET.Element) -> Box | None:
    """The bounding box of a node's or a cluster's outline (polygon, path or ellipse)."""
    for child in el.iter():  # the outline may sit inside an <a> (tooltips)
        tag = child.tag.removeprefix(NS)
        if tag == "polygon":
            xy = _numbers(child.get("points", ""))
        elif tag == "path":
            xy = _numbers(child.get("d", ""))
        elif tag == "ellipse":
            cx, cy = float(child.get("cx", 0)), float(child.get("cy", 0))
            rx, ry = float(child.get("rx", 0)), float(child.get("ry", 0))
            return cx - rx, cy - ry, cx + rx, cy + ry
        else:
            continue
        xs, ys = xy[0::2], xy[1::2]
        if xs and ys:
            return min(xs), min(ys), max(xs), max(ys)
    return None


def _text_box(t: ET.Element) -> Box:
    size = float(t.get("font-size", "14"))
    x, y = float(t.get("x", 0)), float(t.get("y", 0))
    width = sum(_ADVANCE.get(c, 0.6) for c in (t.text or "")) * size
    anchor = t.get("text-anchor", "start")
    x0 = x - width / 2 if anchor == "middle" else x - width if anchor == "end" else x
    return x0, y - 0.72 * size, x0 + width, y + 0.21 * size  # cap height and descender


def _overlap(a: Box, b: Box, slack: float = 0.5) -> bool:
    return (
        a[0] < b[2] - slack and b[0] < a[2] - slack and a[1] < b[3] - slack and b[1] < a[3] - slack
    )


def _inside(a: Box, b: Box) -> bool:
    return b[0] <= a[0] and a[2] <= b[2] and b[1] <= a[1] and a[3] <= b[3]


def layout_faults(svg: bytes) -> list[str]:
    """Every edge label that overlaps a node, another edge label or a cluster's border."""
    root = ET.fromstring(svg)
    nodes: list[tuple[str, Box]] = []
    clusters: list[tuple[str, Box]] = []
    labels: list[tuple[str, Box]] = []
    for g in root.iter(f"{NS}g"):
        cls = g.get("class")
        title = g.findtext(f"{NS}title") or ""
        if cls == "node":
            box = _shape_box(g)
            if box:
                nodes.append((title, box))
        elif cls == "cluster":
            box = _shape_box(g)
            if box:
                clusters.append((title, box))
        elif cls == "edge":
            for t in g.iter(f"{NS}text"):
                labels.append((f"{title} {t.text!r}", _text_box(t)))
    faults = []
    for k, (name, box) in enumerate(labels):
        faults += [f"{name} overlaps node {n}" for n, b in nodes if _overlap(box, b)]
        faults += [f"{name} overlaps {m}" for m, b in labels[k + 1 :] if _overlap(box, b)]
        faults += [
            f"{name} crosses the border of {c}"
            for c, b in clusters
            if _overlap(box, b, 0.0) and not _inside(box, b)
        ]
    return faults


def smallest_text_px(svg: bytes) -> float:
    """The smallest text height in pixels when the picture fills a 1920×1080 slide."""
    head = svg[:2000].decode("utf-8", "replace")
    m = re.search(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"', head)
    assert m, head
    scale = min(1920 / float(m[1]), 1080 / float(m[2]))
    sizes = [float(v) for v in re.findall(rb'font-size="([\d.]+)"', svg)]
    return min(sizes) * scale


def _svg(path: Path, depth: int | str | None, **kw: object) -> bytes:
    out = []
    for a in analyze(path):
        out.append(to_dot(a, depth=depth, **kw).to_bytes("svg"))  # type: ignore[arg-type]
    return b"".join(out)


@pytest.mark.parametrize("depth", ["auto", 1])
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_no_edge_label_overlaps(path: Path, depth: int | str) -> None:
    faults = []
    for a in analyze(path):
        svg = to_dot(a, depth=depth).to_bytes("svg")
        faults += [f"{a.network.name}: {f}" for f in layout_faults(svg)]
    assert not faults, "\n".join(faults)


def test_the_overlap_check_can_fail() -> None:
    """Hand-made SVG: an edge label on a node, on another label and across a border."""
    svg = """<svg xmlns="http://www.w3.org/2000/svg" width="200pt" height="200pt">
    <g class="cluster"><title>cluster_1</title><polygon points="0,0 100,0 100,100 0,100"/></g>
    <g class="node"><title>n1</title><polygon points="10,10 60,10 60,40 10,40"/></g>
    <g class="edge"><title>n1&#45;&gt;n2</title>
      <text text-anchor="middle" x="35" y="30" font-size="14">64×56×56</text>
      <text text-anchor="middle" x="40" y="33" font-size="14">64×56×56</text>
      <text text-anchor="start" x="90" y="70" font-size="14">3×3</text></g>
    <g class="edge"><title>far</title>
      <text text-anchor="start" x="120" y="150" font-size="14">1×2</text></g>
    </svg>""".encode()
    faults = layout_faults(svg)
    assert sum("overlaps node n1" in f for f in faults) == 2, faults
    assert sum("overlaps n1->n2" in f for f in faults) == 1, faults
    assert sum("crosses the border of cluster_1" in f for f in faults) == 1, faults
    assert not any("far" in f for f in faults), faults


@pytest.mark.parametrize("name", ["googlenet", "resnet50", "unet", "densenet121"])
def test_slide_text_at_auto_depth(name: str) -> None:
    (a,) = analyze(ROOT / "examples" / f"{name}.cnn")
    px = smallest_text_px(to_dot(a, depth="auto").to_bytes("svg"))
    print(f"{name}: smallest text {px:.1f} px")
    assert px >= 14, px


def test_unet_is_a_u() -> None:
    """The encoder goes down on the left, the decoder up on the right, and each skip is
    horizontal; no connector circles."""
    (a,) = analyze(ROOT / "examples" / "unet.cnn")
    diagram = to_dot(a, depth="auto")
    svg = diagram.to_bytes("svg")
    root = ET.fromstring(svg)
    centre: dict[str, tuple[float, float]] = {}
    for g in root.iter(f"{NS}g"):
        if g.get("class") == "node":
            box = _shape_box(g)
            assert box
            centre[g.findtext(f"{NS}title") or ""] = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
    assert "circle" not in diagram.source
    x_in, y_in = centre["input"]
    x_out, y_out = centre["output"]
    assert x_out > x_in + 200  # the output is on the other side
    lowest = max(centre.values(), key=lambda c: c[1])
    assert lowest[1] > y_in + 500 and lowest[1] > y_out + 500  # the bottom of the U
    # skips: the pinned pairs sit on one level, the decoder's node to the right
    model_pins = re.findall(r"subgraph level\d+ \{\s*rank=same\s*(\w+)\s*(\w+)", diagram.source)
    assert len(model_pins) == 3, model_pins
    for tail, head in model_pins:
        assert abs(centre[tail][1] - centre[head][1]) < 1 and centre[head][0] > centre[tail][0]


def test_lr_prefers_one_row() -> None:
    (a,) = analyze(ROOT / "examples" / "lenet5.cnn")
    src = to_dot(a, rankdir="LR", depth="auto").source
    assert "wrap" not in src and "columns" not in src


M5 = """network M5(n_output = 35, c = 32) {
    input 1x8000
    conv c 80 stride=16 -> bn -> relu -> maxpool 4
    conv c 3 -> bn -> relu -> maxpool 4
    conv (2 * c) 3 -> bn -> relu -> maxpool 4
    conv (2 * c) 3 -> bn -> relu -> maxpool 4
    gap
    flatten
    fc n_output
}
"""


def test_rows_only_as_many_as_needed() -> None:
    """M5 (Dai et al., 2017) with --rankdir LR: one row would have 10 px text, so two rows
    with one pair of connectors (it used to be five rows, A to D), and 14 px text or more."""
    (a,) = analyze(source=M5)
    d = to_dot(a, rankdir="LR", depth="auto")
    # the connector at the end of row 1 and its twin at the start of row 2 are named after
    # the tensor that crosses: the output of the second `maxpool 4` (module maxpool2)
    assert d.source.count("shape=cds") == 2, d.source
    assert d.source.count("label=<maxpool2>") == 2, d.source
    assert smallest_text_px(d.to_bytes("svg")) >= 14


def _heads(source: str) -> list[str]:
    """The first node of each column (the subgraph that puts them on one rank)."""
    block = source.split("subgraph columns {", 1)[1].split("}", 1)[0]
    return [w for w in block.split() if w != "rank=same"]


def test_connectors_are_named_after_the_tensor() -> None:
    """GoogLeNet at depth 1 wraps twice; each cut is named after the module whose output
    crosses it (googlenet.cnn's `inception3b:` and `inception4d:`), never a letter."""
    (a,) = analyze(ROOT / "examples" / "googlenet.cnn")
    src = to_dot(a, depth=1).source
    labels = re.findall(r"wrap\d+_(?:out|in) \[label=<([^>]*)>", src)
    assert labels == ["inception3b", "inception3b", "inception4d", "inception4d"], labels
    assert "shape=circle" not in src
    # ResNet-50 at auto depth: layer2 ends the first column (the names of resnet50.cnn)
    (a,) = analyze(ROOT / "examples" / "resnet50.cnn")
    src = to_dot(a, depth="auto").source
    assert re.findall(r"wrap\d+_out \[label=<([^>]*)>", src) == ["layer2"]


def _column_lengths(source: str, svg: bytes) -> list[float]:
    """The drawn height of each column: the extent of its spine (the nodes of dot group
    ``spineK``, from the column's head to its last connector or the output)."""
    column = {
        m[1]: int(m[2]) for m in re.finditer(r"^\t+(\w+) \[[^\n]*group=spine(\d+)", source, re.M)
    }
    extent: dict[int, tuple[float, float]] = {}
    for g in ET.fromstring(svg).iter(f"{NS}g"):
        name = g.findtext(f"{NS}title") or ""
        box = _shape_box(g) if g.get("class") == "node" and name in column else None
        if box:
            lo, hi = extent.get(column[name], (box[1], box[3]))
            extent[column[name]] = (min(lo, box[1]), max(hi, box[3]))
    return [hi - lo for _, (lo, hi) in sorted(extent.items())]


def test_no_column_is_wasted() -> None:
    """RegNetY-400MF at auto depth used three columns with the stem alone in the first
    (231 pt against 646 pt); two hold it (the cut falls inside trunk_output) with text
    still 14 px. In no example is a column at auto depth less than half the longest."""
    (a,) = analyze(ROOT / "examples" / "regnet_y_400mf.cnn")
    d = to_dot(a, depth="auto")
    assert len(_heads(d.source)) == 2, _heads(d.source)
    assert smallest_text_px(d.to_bytes("svg")) >= 14
    short = []
    for path in EXAMPLES:
        for a in analyze(path):
            d = to_dot(a, depth="auto")
            lengths = _column_lengths(d.source, d.to_bytes("svg"))
            if len(lengths) > 1 and min(lengths) < 0.5 * max(lengths):
                short.append(f"{a.network.name}: {[round(v) for v in lengths]}")
    assert not short, short


@pytest.mark.parametrize("depth", ["auto", 1])
def test_unet_gate_projections_are_told_apart(depth: int | str) -> None:
    """The attention gate's two 1×1 projections (unet.cnn: `theta: conv base 1x1` on e2,
    `phi: conv base 1x1` on u2) read alike; each box carries its module name."""
    (a,) = analyze(ROOT / "examples" / "unet.cnn")
    src = to_dot(a, depth=depth).source
    assert "label=<theta: conv 1×1, 16>" in src and "label=<phi: conv 1×1, 16>" in src
    assert "label=<conv 1×1, 16>" not in src


def test_very_large_diagrams_are_placed_by_cnndsl() -> None:
    """Past layout.GIANT nodes the positions are cnndsl's and neato -n2 only draws them
    (how fast is bench/render_scaling.py's business; this checks what comes out)."""
    from cnndsl.diagram.layout import GIANT

    lines = "\n".join("    conv 4 3x3 pad=1 bias=false -> relu" for _ in range(GIANT + 100))
    (a,) = analyze(source=f"network Big {{\n    input 1x8x8\n{lines}\n}}\n")
    d = to_dot(a, depth=None)
    assert d.engine == "neato" and 'pos="' in d.source and "cluster" not in d.source
    svg = d.to_bytes("svg")
    root = ET.fromstring(svg)
    nodes = [g for g in root.iter(f"{NS}g") if g.get("class") == "node"]
    assert len(nodes) > GIANT
    assert smallest_text_px(svg) > 0 and b"Big: network diagram" in svg
