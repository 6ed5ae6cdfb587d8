"""Per-network figures: the issue's reference table (torchvision / the papers), warnings."""

from __future__ import annotations

import pytest
from conftest import ROOT

from cnndsl.api import analyze
from cnndsl.errors import Warnings

# Parameters as torchvision counts them; MACs as LANGUAGE.md §9 defines them (eval mode).
TABLE = [
    ("lenet5", 61_706, None),
    ("fashion_mnist", 29_034, None),
    ("alexnet", 61_100_840, 714_188_480),
    ("vgg16", 138_357_544, 15_470_264_320),
    ("resnet18", 11_689_512, 1_814_073_344),
    ("resnet34", 21_797_672, 3_663_761_408),
    ("resnet50", 25_557_032, 4_089_184_256),
    ("resnet101", 44_549_160, 7_801_405_440),
    ("resnet152", 60_192_808, 11_513_626_624),
    ("densenet121", 7_978_856, None),
]


@pytest.mark.parametrize("name, params, macs", TABLE)
def test_reference_table(name: str, params: int, macs: int | None) -> None:
    (a,) = analyze(ROOT / "examples" / f"{name}.cnn")
    assert a.params == params
    if macs is not None:
        assert a.macs == macs


def test_googlenet_with_and_without_aux_outputs() -> None:
    (a,) = analyze(ROOT / "examples" / "googlenet.cnn")
    assert a.params == 13_004_888
    assert a.main_params == 6_624_904
    assert a.macs == 1_498_376_192
    assert a.outputs == {"aux1": (1000,), "aux2": (1000,)}


def test_buffers_are_not_parameters() -> None:
    (a,) = analyze(source="network N { input 3x8x8; conv 4 3x3 bias=false -> bn }")
    assert a.params == 4 * 3 * 9 + 2 * 4
    assert a.buffers == 2 * 4 + 1  # running mean, running var, num_batches_tracked


def test_activation_bytes_count_every_steps_output() -> None:
    (a,) = analyze(source="network N { input 1x4x4; conv 2 3x3 -> relu -> flatten }")
    assert a.activation_bytes == 4 * (2 * 2 * 2) * 3


def test_receptive_field_and_jump() -> None:
    (a,) = analyze(
        source="network N { input 3x32x32; conv 8 7x7 stride=2 pad=3 -> "
        "maxpool 3x3 stride=2 pad=1 -> flatten }"
    )
    layers = [a.node(n) for _, n in a.network.modules()]
    assert (layers[0].rf, layers[0].jump) == ((7, 7), (2, 2))
    assert (layers[1].rf, layers[1].jump) == ((11, 11), (4, 4))
    assert (layers[2].rf, layers[2].jump) == (None, None)


def test_receptive_field_through_branches_is_the_largest() -> None:
    (a,) = analyze(
        source="network N { input 3x32x32; concat { conv 4 1x1; "
        "conv 4 5x5 pad=2; conv 4 3x3 pad=1 } }"
    )
    assert a.node(a.network.root).rf == (5, 5)


def test_one_two_and_three_d() -> None:
    (a,) = analyze(source="network N { input 1x100; conv 4 5 stride=2 -> maxpool 2 }")
    assert a.network.output_shape == (4, 24)
    (b,) = analyze(source="network N { input 3x8x16x16; conv 4 3 pad=1 -> maxpool 2 }")
    assert b.network.output_shape == (4, 4, 8, 8)
    assert b.params == 4 * 3 * 27 + 4


def _warnings(source: str) -> list[str]:
    w = Warnings()
    analyze(source=source, warnings=w)
    return [d.message for d in w.items]


def test_warnings() -> None:
    assert any(
        "drops the last row of 10 and the last column of 10" in m
        for m in _warnings("network N { input 3x10x10; conv 4 3x3 stride=2 }")
    )
    assert any(
        "bias right before 'bn'" in m
        for m in _warnings("network N { input 3x10x10; conv 4 3x3 -> bn }")
    )
    assert any("softmax" in m for m in _warnings("network N { input 10; fc 10 -> softmax }"))
    assert (
        _warnings("network N { input 3x10x10; conv 4 3x3 pad=same stride=2 bias=false -> bn }")
        == []
    )
