"""The diagram renderer: DOT text (golden), real `dot` output, slide legibility, the CLI."""

from __future__ import annotations

import importlib
import os
import re
import shutil
import struct
import zlib
from pathlib import Path

import pytest
from conftest import ROOT, in_fresh_processes

import cnndsl
from cnndsl.api import analyze
from cnndsl.cli import main
from cnndsl.errors import CnnError

r = importlib.import_module("cnndsl.diagram")

EXAMPLES = ROOT / "examples"
GOLDEN = Path(__file__).resolve().parent / "golden" / "render"
ACCEPT = "to accept the new output, rerun with CNNDSL_ACCEPT=1 pytest tests/test_render.py"
HAVE_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAVE_DOT, reason="the dot program of graphviz is missing")


def _analysis(name: str, network: str | None = None):  # type: ignore[no-untyped-def]
    return analyze(EXAMPLES / f"{name}.cnn", network=network)[0]


# ---------------------------------------------------------------- DOT text
GOLDEN_CASES = [
    ("resnet18", 1),
    ("resnet18", 2),
    ("googlenet", 1),
    ("unet", None),
    ("inception_module", None),
    ("lenet5", None),
]


@pytest.mark.parametrize(("name", "depth"), GOLDEN_CASES)
def test_golden_dot(name: str, depth: int | None) -> None:
    text = r.to_dot(_analysis(name), depth=depth).source
    path = GOLDEN / f"{name}{'' if depth is None else f'_depth{depth}'}.dot"
    if os.environ.get("CNNDSL_ACCEPT") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="")
    assert path.exists(), f"{path} is missing; {ACCEPT}"
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"{path.name} differs from the renderer's output; {ACCEPT}"


def test_dot_is_deterministic_across_processes() -> None:
    code = (
        "from cnndsl.api import analyze\nfrom cnndsl.diagram import to_dot\n"
        "for name in ('googlenet', 'unet'):\n"
        "    (a,) = analyze(f'examples/{name}.cnn')\n"
        "    print(to_dot(a, depth=1).source, to_dot(a, theme='dark').source)"
    )
    first, second = in_fresh_processes(code)
    assert first == second
    assert first.count("digraph") == 4


def test_labels_fold_and_shapes() -> None:
    src = r.to_dot(_analysis("resnet18")).source
    assert "conv 7×7, 64, /2 · bn · relu" in src
    assert "maxpool 3×3, /2" in src
    assert "fc 1000" in src
    assert 'label=" 64×56×56"' in src
    nofold = r.to_dot(_analysis("resnet18"), fold=False, shapes=False).source
    assert "· bn" not in nofold
    assert "label=<bn>" in nofold
    assert "64×56×56" not in nofold


def test_palette_and_themes() -> None:
    a = _analysis("googlenet")
    light = r.to_dot(a, depth=2).source
    for colour in ("#0072B2", "#D55E00", "#009E73", "#F0E442"):
        assert colour in light
    dark = r.to_dot(a, depth=2, theme="dark").source
    assert 'bgcolor="#1E1E1E"' in dark
    printed = r.to_dot(a, depth=2, theme="print").source
    fills = set(re.findall(r'fillcolor="(#[0-9A-F]{6})"', printed))
    assert all(f[1:3] == f[3:5] == f[5:7] for f in fills), fills  # greys only
    assert "dashed" in printed  # pooling: a dashed border
    with pytest.raises(CnnError):
        r.to_dot(a, theme="neon")


def test_text_is_legible_on_every_fill() -> None:
    for theme in r.THEMES.values():
        for style in theme.styles.values():
            fg = r.text_colour(style.fill)
            lum = sorted([r._luminance(fg), r._luminance(style.fill)])
            assert (lum[1] + 0.05) / (lum[0] + 0.05) >= 4.5, (theme.name, style)


def test_structure() -> None:
    # depth N (LANGUAGE.md §9): depth 1 shows the network's own steps, depth 2 the steps
    # inside them, …; deeper modules are single nodes.
    g = r.to_dot(_analysis("resnet18"), depth=3).source
    assert re.search(r"subgraph cluster_\d+ \{", g)
    assert "BasicBlock(128, /2)" in g  # the call in the layers' style
    assert "style=dashed" in g  # the projection shortcut
    d1 = r.to_dot(_analysis("resnet50"), depth=1).source
    assert "layer4" in d1 and "subgraph cluster" not in d1  # collapsed, saying what it holds
    d2 = r.to_dot(_analysis("resnet50"), depth=2).source
    assert "Bottleneck(512) ×2" in d2 and "Bottleneck(256) ×5" in d2
    # a collapsed group says what is inside it
    assert "<B>layer2</B><BR/>Bottleneck(128, /2) → Bottleneck(128) ×3" in d1
    goog = r.to_dot(_analysis("googlenet"), depth=2).source
    assert "<B>aux1</B>" in goog and "<B>aux2</B>" in goog
    assert goog.count("label=<concat>") == 9
    unet = r.to_dot(_analysis("unet")).source
    assert unet.count("label=<concat>") == 3 and "label=<mul>" in unet


def test_escaping() -> None:
    a = analyze(source='block B(m) { conv 4 3x3 pad=1 }\nnetwork N { input 3x8x8; b: B("a<b&c") }')[
        0
    ]
    src = r.to_dot(a).source
    assert "a&lt;b&amp;c" in src
    assert "a<b&c" not in src


def test_auto_depth() -> None:
    assert r.auto_depth(_analysis("lenet5")) is None
    assert r.auto_depth(_analysis("resnet50")) == 2
    assert r.auto_depth(_analysis("googlenet")) in (1, 2)


# ---------------------------------------------------------------- real dot
def _svg_size(svg: str) -> tuple[float, float]:
    m = re.search(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"', svg)
    assert m, svg[:300]
    return float(m[1]), float(m[2])


@needs_dot
@pytest.mark.parametrize("name", ["googlenet", "resnet50"])
def test_slide_text_at_least_14px(name: str) -> None:
    svg = r.to_dot(_analysis(name), depth=1).to_bytes("svg").decode()
    width, height = _svg_size(svg)
    scale = min(1920 / width, 1080 / height)
    smallest = min(float(v) for v in re.findall(r'font-size="([\d.]+)"', svg))
    assert smallest * scale >= 14, (width, height, smallest, scale)


def _png_dpi(data: bytes) -> float | None:
    pos = 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"pHYs":
            x, _, unit = struct.unpack(">IIB", body)
            return x * 0.0254 if unit == 1 else None
        assert (
            zlib.crc32(kind + body)
            == struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])[0]
        )
        pos += 12 + length
    return None


@needs_dot
def test_svg_png_pdf(tmp_path: Path) -> None:
    d = r.to_dot(_analysis("lenet5"))
    svg = d.to_bytes("svg")
    assert b"<svg" in svg[:400]
    assert d._repr_svg_().lstrip().startswith("<?xml")
    png = d.to_bytes("png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    dpi = _png_dpi(png)
    width = struct.unpack(">I", png[16:20])[0]
    assert dpi is not None and round(dpi) == 200, (dpi, width)  # pHYs: slides size it right
    assert b"tEXtSoftware\0Generated by cnndsl" in png[:200]
    assert b"<!-- Generated by cnndsl -->" in svg[:200]
    assert d.to_bytes("pdf")[:5] == b"%PDF-"
    out = d.save(tmp_path / "lenet.png")
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_missing_dot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    d = r.to_dot(_analysis("lenet5"))
    with pytest.raises(CnnError) as info:
        d.to_bytes("svg")
    assert "dot" in info.value.message and "not installed" in info.value.message
    assert info.value.hint and "apt-get install graphviz" in info.value.hint
    assert "--format dot" in info.value.hint
    monkeypatch.chdir(tmp_path)
    assert main(["render", str(EXAMPLES / "lenet5.cnn")]) == 1
    assert "apt-get install graphviz" in capsys.readouterr().err
    assert main(["render", str(EXAMPLES / "lenet5.cnn"), "--format", "dot"]) == 0
    assert (tmp_path / "lenet5.dot").read_text(encoding="utf-8").startswith("// cnndsl")


# ---------------------------------------------------------------- the CLI
def test_cli_formats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = str(EXAMPLES / "resnet18.cnn")
    out = tmp_path / "r18.dot"
    assert main(["render", src, "-o", str(out), "--depth", "1", "--no-shapes"]) == 0
    text = out.read_text(encoding="utf-8")
    assert "digraph ResNet18" in text and "64×56×56" not in text
    assert main(["render", src, "-o", str(out), "--rankdir", "LR", "--theme", "print"]) == 0
    assert "rankdir=LR" in out.read_text(encoding="utf-8")  # a render output may be replaced
    if HAVE_DOT:
        monkeypatch.chdir(tmp_path)
        assert main(["render", src]) == 0
        assert (tmp_path / "resnet18.svg").read_bytes().lstrip().startswith(b"<?xml")
        assert main(["render", src, "-o", "x.png"]) == 0
        assert (tmp_path / "x.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_refuses_to_overwrite(tmp_path: Path) -> None:
    notes = tmp_path / "notes.dot"
    notes.write_text("my notes\n", encoding="utf-8")
    assert main(["render", str(EXAMPLES / "lenet5.cnn"), "-o", str(notes)]) == 1
    assert notes.read_text(encoding="utf-8") == "my notes\n"
    copy = tmp_path / "net.cnn"
    copy.write_text((EXAMPLES / "lenet5.cnn").read_text(encoding="utf-8"), encoding="utf-8")
    assert main(["render", str(copy), "-o", str(copy), "--format", "dot"]) == 1
    assert main(["render", str(copy), "-o", str(tmp_path / "x.jpg")]) == 1


def test_render_api() -> None:
    d = cnndsl.render(EXAMPLES / "mobilenet.cnn", network="MobileNetV2", depth=1)
    assert isinstance(d, r.Diagram)
    assert "digraph MobileNetV2" in d.source


def test_notebooks_show_diagrams_as_svg() -> None:
    svg = cnndsl.render(EXAMPLES / "lenet5.cnn")._repr_svg_()
    assert svg.lstrip().startswith("<?xml") or "<svg" in svg[:500]
    assert "conv 5×5, 6" in svg


@needs_dot
def test_render_replaces_only_its_own_files(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    src = str(EXAMPLES / "lenet5.cnn")
    photo = tmp_path / "photo.png"
    Image.new("RGB", (4, 4)).save(photo)
    before = photo.read_bytes()
    assert main(["render", src, "-o", str(photo)]) == 1
    assert "cnndsl did not write it" in capsys.readouterr().err
    assert photo.read_bytes() == before
    assert main(["render", src, "-o", str(photo), "--force"]) == 0
    assert main(["render", src, "-o", str(photo)]) == 0  # now it is ours: replaced freely
    for ext in ("svg", "pdf", "dot"):
        assert main(["render", src, "-o", str(tmp_path / f"d.{ext}")]) == 0
        assert main(["render", src, "-o", str(tmp_path / f"d.{ext}")]) == 0


@needs_dot
def test_a_layout_dot_refuses_is_an_error_not_a_crash() -> None:
    from cnndsl.errors import CnnError

    d = r.Diagram()
    d.node("a", label="x" * 20000)
    d.node("b")
    d.edge("a", "b")
    with pytest.raises(CnnError, match="graphviz's dot could not draw this diagram"):
        d.to_bytes("svg")
