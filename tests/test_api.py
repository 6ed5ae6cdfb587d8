"""The Python API: cnndsl.check and cnndsl.summary return typed results; loads builds from text."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT

import cnndsl
from cnndsl.errors import CnnError


def test_check_a_file_and_source_text() -> None:
    s = cnndsl.check(ROOT / "examples" / "resnet50.cnn")
    (net,) = s.networks
    assert (net.name, net.params, net.macs) == ("ResNet50", 25_557_032, 4_089_184_256)  # paper
    assert net.output == (1000,) and s.warnings == ()
    assert cnndsl.check(str(ROOT / "examples" / "resnet50.cnn"), num_classes=10)[
        "ResNet50"
    ].output == (10,)
    src = cnndsl.check("network N { input 3x32x32; conv 8 3 -> bn }")
    assert src["N"].params == 3 * 8 * 9 + 8 + 2 * 8
    assert "bias right before 'bn'" in src.warnings[0]


def test_summary_rows_follow_depth_and_match_the_json_contract(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from cnndsl.cli import main

    s = cnndsl.summary(ROOT / "examples" / "resnet18.cnn", depth=1)
    paths = [layer.path for layer in s["ResNet18"].layers]
    import torchvision

    with_weights = [n for n, m in torchvision.models.resnet18().named_children() if n != "relu"]
    assert [p for p in paths if p in with_weights] == with_weights  # torchvision's order
    assert all("." not in p for p in paths)
    out = tmp_path / "s.json"
    assert main(["summary", str(ROOT / "examples/resnet18.cnn"), "-f", "json", "-d", "1",
                 "-o", str(out)]) == 0  # fmt: skip
    assert s.to_json() == json.loads(out.read_text())


def test_results_show_as_html_tables() -> None:
    s = cnndsl.summary("network N { input 3x32x32; conv 8 3 -> relu }")
    html = s._repr_html_()
    assert "<table>" in html and "<code>conv1</code>" in html and "8×30×30" in html
    assert s["N"]._repr_html_().count("<tr>") == 3


def test_errors_keep_their_position() -> None:
    with pytest.raises(CnnError) as err:
        cnndsl.check("network N { input 3x8x8; conv 2 30 }")
    assert (err.value.span.line, err.value.span.column) == (1, 33)  # the kernel, 30


def test_stage_modules_do_not_hide_the_functions() -> None:
    import cnndsl.diagram  # noqa: F401
    import cnndsl.tables  # noqa: F401

    assert callable(cnndsl.summary) and callable(cnndsl.render) and callable(cnndsl.check)
    assert cnndsl.render.__doc__ and "graphviz" in cnndsl.render.__doc__


def test_py_typed_ships_with_the_package() -> None:
    assert (ROOT / "cnndsl" / "py.typed").exists()
