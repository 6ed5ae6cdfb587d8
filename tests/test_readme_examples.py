"""The README's example table stays true: every example is listed, its figures are what
`check` reports, and the torchvision columns are torchvision's own (`weights.meta`), equal to
cnndsl's parameter count wherever no footnote says otherwise."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT

from cnndsl.api import analyze

TORCHVISION = {  # example network -> torchvision model name
    "AlexNet": "alexnet",
    "VGG16": "vgg16",
    "GoogLeNet": "googlenet",
    "ResNet18": "resnet18",
    "ResNet34": "resnet34",
    "ResNet50": "resnet50",
    "ResNet101": "resnet101",
    "ResNet152": "resnet152",
    "DenseNet121": "densenet121",
    "MobileNetV2": "mobilenet_v2",
    "R2Plus1D18": "r2plus1d_18",
    "EfficientNetB0": "efficientnet_b0",
    "MobileNetV3Large": "mobilenet_v3_large",
    "ConvNeXtTiny": "convnext_tiny",
    "ShuffleNetV2": "shufflenet_v2_x1_0",
    "RegNetY400MF": "regnet_y_400mf",
    "DeepLabV3ResNet50": "deeplabv3_resnet50",
}


def _rows() -> list[list[str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("## Examples", 1)[1].split("\n## ", 1)[0]
    rows = [
        [c.strip() for c in line.strip("|").split("|")]
        for line in table.splitlines()
        if line.startswith("| `")
    ]
    assert rows
    return rows


def _number(cell: str) -> int:
    return int(re.sub(r"[^0-9]", "", cell.split(" ")[0]))


def _short(n: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return str(n)


def test_every_example_network_is_listed() -> None:
    listed = {(r[0].strip("`"), r[1]) for r in _rows()}
    for path in sorted((ROOT / "examples").glob("*.cnn")):
        for a in analyze(path):
            if path.stem != "resnet_blocks":
                assert (path.name, a.network.name) in listed


@pytest.mark.parametrize("row", _rows(), ids=lambda r: r[1])
def test_row_matches_check_and_torchvision(row: list[str]) -> None:
    file, name, size, params, macs, tv_params, tv_ops = row
    (a,) = analyze(ROOT / "examples" / file.strip("`"), network=name)
    assert size == "×".join(map(str, a.network.input_shape))
    assert _number(params) == a.params
    assert macs == _short(a.macs)
    if name not in TORCHVISION:
        assert not tv_params and not tv_ops
        return
    from torchvision.models import get_model_weights

    meta = get_model_weights(TORCHVISION[name]).DEFAULT.meta
    assert _number(tv_params) == meta["num_params"]
    assert float(tv_ops.split(" ")[0]) == meta["_ops"]
    if "¹" not in params and "³" not in tv_params:
        assert a.params == meta["num_params"]
