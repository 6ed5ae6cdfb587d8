"""Elaboration and the naming rules of LANGUAGE.md §5, as golden tables of module paths.

The tables of the small programs are worked out by hand from §5; the big ones are the
module paths of torchvision's models (their state_dict keys).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from conftest import ROOT

from cnndsl import ir
from cnndsl.api import load_networks
from cnndsl.errors import CnnError
from cnndsl.names import NN_MODULE_ATTRS, snake


def paths(source: str) -> list[str]:
    (net,) = load_networks(source=source)
    net.validate()
    return [p for p, _ in net.modules()]


def test_nn_module_attribute_list_matches_torch() -> None:
    names = {n for n in dir(torch.nn.Module) if not n.startswith("__")}
    assert names <= NN_MODULE_ATTRS
    assert "training" in NN_MODULE_ATTRS


def test_snake_case_of_block_names() -> None:
    assert [snake(n) for n in ("SE", "BasicBlock", "InceptionAux", "SEBlock", "Conv2dBN")] == [
        "se",
        "basic_block",
        "inception_aux",
        "se_block",
        "conv2d_bn",
    ]


NAMING = {
    "unlabelled steps count per prefix, skipping labels": (
        "network N { input 3x8x8; conv 4 1x1 -> conv1: conv 4 1x1 -> relu -> conv 4 1x1 -> relu }",
        ["conv2", "conv1", "relu1", "conv3", "relu2"],
    ),
    "unlabelled groups, merges, repeats and ifs are inlined": (
        "network N { input 3x8x8; { conv 4 1x1 } -> concat { relu; bn } -> repeat 2 { relu } "
        "-> if true { tanh } }",
        ["conv1", "relu1", "bn1", "relu2", "relu3", "tanh1"],
    ),
    "block calls get snake_case names": (
        "block SE(c) { relu }\nnetwork N { input 3x8x8; SE(1) -> SE(2) -> x: SE(3) }",
        ["se1", "se1.relu1", "se2", "se2.relu1", "x", "x.relu1"],
    ),
    "a labelled group is a Sequential indexed from 0, stateless steps included": (
        "network N { input 3x8x8; features: { conv 4 3x3 -> relu -> pool: maxpool 2 -> bn } }",
        ["features", "features.0", "features.1", "features.pool", "features.3"],
    ),
    "nested groups, {} children and spliced repeats": (
        "network N { input 3x8x8; f: { relu -> {} -> { relu -> relu } -> { relu } * 0 -> "
        "repeat 2 { relu } -> if false { relu } -> tanh } }",
        ["f", "f.0", "f.1", "f.1.0", "f.1.1", "f.2", "f.3", "f.4"],
    ),
    "X * n of a block in a Sequential": (
        "block B { relu }\nnetwork N { input 3x8x8; layer1: { B() * 3 } }",
        [
            "layer1",
            "layer1.0",
            "layer1.0.relu1",
            "layer1.1",
            "layer1.1.relu1",
            "layer1.2",
            "layer1.2.relu1",
        ],
    ),
    "labelled X * n, repeat and if mean name: { … }": (
        "block B { relu }\nnetwork N { input 3x8x8; a: B() * 2 -> b: repeat 1 { relu } -> "
        "c: if true { relu } }",
        ["a", "a.0", "a.0.relu1", "a.1", "a.1.relu1", "b", "b.0", "c", "c.0"],
    ),
    "templates in a repeat": (
        "network N { input 3x8x8; repeat 3 as i { layer{i + 1}: conv 4 1x1 } }",
        ["layer1", "layer2", "layer3"],
    ),
    "a labelled merge is a container in module context": (
        "network N { input 3x8x8; mix: concat { b1: conv 2 1x1; { conv 2 1x1 -> relu } } }",
        ["mix", "mix.b1", "mix.conv1", "mix.relu1"],
    ),
    "a merge inside a Sequential is one element": (
        "network N { input 3x8x8; f: { relu -> add { {}; conv 3 1x1 } -> relu } }",
        ["f", "f.0", "f.1", "f.1.conv1", "f.2"],
    ),
    "residual with projection: torchvision's downsample.0": (
        "network N { input 3x8x8; residual { conv 4 3x3 pad=1 } shortcut { downsample: { "
        "conv 4 1x1 -> bn } } }",
        ["conv1", "downsample", "downsample.0", "downsample.1"],
    ),
    "side outputs are named by the output": (
        "block Aux { gap -> flatten -> fc 10 }\nnetwork N { input 3x8x8; output aux1: Aux(); "
        "output aux2: gap -> flatten -> fc 10; fc: gap }",
        [
            "aux1",
            "aux1.gap1",
            "aux1.flatten1",
            "aux1.fc1",
            "aux2",
            "aux2.0",
            "aux2.1",
            "aux2.2",
            "fc",
        ],
    ),
}


@pytest.mark.parametrize("name", list(NAMING))
def test_naming_rules(name: str) -> None:
    source, expected = NAMING[name]
    assert paths(source) == expected


def test_plain_label_in_a_repeat_is_a_duplicate() -> None:
    with pytest.raises(CnnError, match="duplicate module name 'x'"):
        paths("network N { input 3x8x8; repeat 2 { x: relu } }")


def _module_keys(model: torch.nn.Module) -> set[str]:
    return {k.rsplit(".", 1)[0] for k in model.state_dict()}


def _our_keys(path: Path, network: str | None = None) -> set[str]:
    (net,) = load_networks(path, network=network)
    out = set()
    for p, node in net.modules():
        if isinstance(node, ir.Layer) and node.op in (
            "conv",
            "bn",
            "linear",
            "deconv",
            "dwconv",
            "groupnorm",
        ):
            out.add(p)
    return out


@pytest.mark.parametrize(
    "example, network, reference",
    [
        ("resnet50", None, lambda: torchvision.models.resnet50()),
        ("mobilenet", "MobileNetV2", lambda: torchvision.models.mobilenet_v2()),
        ("densenet121", None, lambda: torchvision.models.densenet121()),
        (
            "googlenet",
            None,
            lambda: torchvision.models.googlenet(init_weights=True, aux_logits=True),
        ),
    ],
)
def test_module_paths_are_torchvisions(example: str, network: str | None, reference) -> None:
    """ResNet-, MobileNetV2-, DenseNet- and Inception-style structures name like torchvision."""
    assert _our_keys(ROOT / "examples" / f"{example}.cnn", network) == _module_keys(reference())


def test_validate_catches_broken_invariants() -> None:
    (net,) = load_networks(source="network N { input 3x8x8; relu }")
    layer = net.root.members[0][1]
    broken = ir.Module(
        net.root.uid,
        "network",
        "N",
        None,
        (),
        (("a", layer), ("a", layer)),
        net.root.body,
        (3, 8, 8),
        (3, 8, 8),
        net.root.span,
    )
    bad = ir.Network(net.name, net.values, net.input_shape, broken, (), None, net.span)
    with pytest.raises(AssertionError, match="used twice"):
        bad.validate()
