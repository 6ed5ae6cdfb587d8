"""One label style in diagrams: paper-style layers, block calls as written, what a collapsed
node holds, up-sampling, 1-D kernels, DenseNet's connectivity, the SVG title."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from conftest import ROOT

from cnndsl.api import analyze
from cnndsl.diagram import to_dot

EXAMPLES = ROOT / "examples"


def _labels(src: str) -> set[str]:
    return set(re.findall(r"label=<(.*?)> ", src))


def _dot(name: str, depth: int | str | None = None, **kw: object) -> str:
    a = analyze(EXAMPLES / f"{name}.cnn")[0]
    return to_dot(a, depth=depth, **kw).source  # type: ignore[arg-type]


def test_block_calls_in_the_layers_style() -> None:
    src = _dot("googlenet", 2)
    assert "<B>BasicConv2d(64, 7×7, /2)</B>" in src  # padding left out, stride as /2
    assert "BasicConv2d(64, 7, stride=2, padding=3)" not in src
    assert "<B>Inception(64, 96, 128, 16, 32, 32)</B>" in src


def test_a_call_reads_as_written(tmp_path: Path) -> None:
    """`SE(4)` stays `SE(4)` although 4 is the default (the source text is read)."""
    f = tmp_path / "se.cnn"
    f.write_text(
        "block SE(r = 4) {\n  mul {\n    {}\n    { gap -> conv (in.channels // r) 1x1 -> relu"
        " -> conv in.channels 1x1 -> sigmoid }\n  }\n}\n"
        "network N { input 16x8x8; a: SE(4); b: SE(); c: SE(r=2) }\n",
        encoding="utf-8",
    )
    (a,) = analyze(f)
    labels = _labels(to_dot(a, depth=1).source)
    assert {"<B>SE(4)</B>", "<B>SE()</B>", "<B>SE(r=2)</B>"} <= labels, labels


def test_collapsed_nodes_say_what_is_inside() -> None:
    labels = _labels(_dot("googlenet", 2))
    assert "<B>branch2</B><BR/>1×1, 96 → 3×3, 128" in labels
    assert "<B>branch4</B><BR/>maxpool 3×3 → 1×1, 32" in labels
    assert not any(label == "<B>branch2</B>" for label in labels)
    r18 = _labels(_dot("resnet18", 1))
    assert "<B>layer1</B><BR/>BasicBlock(64) ×2" in r18


def test_up_sampling_reads_times() -> None:
    labels = _labels(_dot("unet"))
    assert "deconv 2×2, 64, ×2" in labels
    assert "upsample ×2" in labels
    assert not any("deconv" in label and "/2" in label for label in labels)


def test_one_and_three_d_kernels_are_unambiguous() -> None:
    labels = " ".join(_labels(_dot("conv1d", 1)))
    assert "conv k81, 16, /4" in labels and "maxpool k4, /4" in labels
    assert not re.search(r"conv \d+, \d+", labels)  # a bare number could be channels
    labels3 = " ".join(_labels(_dot("conv3d")))
    assert re.search(r"conv \d+×\d+×\d+, \d+", labels3), labels3


def test_dense_blocks() -> None:
    folded = _labels(_dot("densenet121", 3))
    assert "<B>DenseLayer(32) ×6</B><BR/>dense ×6, +32 ch each" in folded
    assert "<B>DenseBlock(6, 32)</B><BR/>dense ×6, +32 ch each" in _labels(_dot("densenet121", 2))
    # expanded: layer k's concat reads every earlier layer's new features (k-1 fan-in edges)
    src = _dot("densenet121", 4)
    fans = re.findall(r"(\w+) -> (\w+) \[[^\]]*samehead=fan_", src)
    per_head: dict[str, int] = {}
    for _, head in fans:
        per_head[head] = per_head.get(head, 0) + 1
    counts = sorted(per_head.values())
    assert counts.count(5) == 4  # the 6th layer of each of the four dense blocks
    assert max(counts) == 23  # the 24th layer of the third
    # the final bn and relu fold as everywhere else
    assert "bn · relu" in _labels(_dot("densenet121", 2))


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz's dot is missing")
def test_svg_title() -> None:
    (a,) = analyze(EXAMPLES / "resnet18.cnn")
    svg = to_dot(a, depth=1).to_bytes("svg").decode()
    after = svg[svg.index("<svg") :]
    first = after[after.index(">") + 1 :].lstrip()
    assert first.startswith("<title>ResNet18: network diagram</title>"), first[:80]


@pytest.mark.parametrize("depth", ["auto", 1])
def test_boxes_into_one_node_read_differently(depth: int | str) -> None:
    """In no example do two layer boxes that feed the same node read alike (U-Net's gate
    had two `conv 1×1, 16`): where they would, each takes its module name."""
    from cnndsl.diagram import auto_depth
    from cnndsl.diagram.model import _Builder

    for path in sorted(EXAMPLES.glob("*.cnn")):
        for a in analyze(path):
            d = auto_depth(a) if depth == "auto" else depth
            model = _Builder(a, d, True).build()  # type: ignore[arg-type]
            into: dict[str, list[str]] = {}
            for e in model.edges:
                tail = model.nodes[e.tail]
                if not e.fan and tail.kind == "layer" and e.tail not in into.get(e.head, []):
                    into.setdefault(e.head, []).append(e.tail)
            for head, tails in into.items():
                texts = [" / ".join(t for t, _ in model.nodes[t].lines()) for t in tails]
                assert len(set(texts)) == len(texts), (path.name, head, texts)
