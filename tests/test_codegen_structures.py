"""Tricky structures compile to modules whose paths, parameters and shapes are the checker's:
symbolic ifs and repeats in blocks, keyed and dynamic Sequentials, merge containers, side
outputs, bindings, blocks reading in.height."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import ROOT

import cnndsl
from cnndsl.api import analyze

CASES = {
    "symbolic if with different channels": """
block B(c, wide) {
    if wide { conv (c * 2) 3x3 pad=1 -> bn } else { conv c 1x1 }
    relu
}
network N { input 3x8x8; B(4, true) -> B(4, false) -> B(2, true) }""",
    "symbolic repeat in module context with templates": """
block Stack(n, c) { repeat n as i { layer{i + 1}: conv c 3x3 pad=1 -> relu } }
network N { input 3x8x8; Stack(9, 4) -> Stack(10, 8) }""",
    "keyed Sequential with splices and a symbolic if": """
block B(k, deep) {
    body: {
        first: conv 8 k pad=same
        repeat 2 { relu }
        if deep { extra: conv 8 1x1 -> bn }
        last: conv 4 1x1
    }
}
network N { input 3x8x8; B(3, true) -> B(5, false) }""",
    "large symbolic Sequential repeat": """
block Deep(n) { features: { repeat n as i { conv 4 3x3 pad=1 -> relu } } }
network N { input 4x8x8; Deep(10) -> Deep(12) }""",
    "labelled merge container and merges inside a Sequential": """
network N {
    input 4x8x8
    mix: concat { b1: conv 2 1x1; { conv 2 3x3 pad=1 -> relu } }
    f: { relu -> add { {}; conv 4 1x1 } -> mul { {}; { gap -> conv 4 1x1 -> sigmoid } } }
}""",
    "residual in a Sequential": """
network N { input 4x8x8; f: { residual { conv 4 3x3 pad=1 -> bn } -> relu } }""",
    "side output with a multi-step chain and bindings": """
network N {
    input 3x16x16
    e1 = conv 8 3x3 pad=1 -> relu
    e2 = maxpool 2 -> conv 16 3x3 pad=1
    output aux weight=0.5: gap -> flatten -> fc 10
    up = upsample 2 -> conv 8 1x1
    concat(e1, up) -> conv 4 1x1
}""",
    "block reading in.height": """
block Pool { adaptive_avgpool (in.height // 2) -> conv 4 1x1 }
network N { input 3x8x8; Pool() -> Pool() }""",
    "conditional residual and shortcut in one block": """
block R(c, stride = 1) {
    residual if c >= in.channels {
        conv c 3x3 stride=stride pad=1 bias=false -> bn
    } shortcut if stride != 1 or in.channels != c {
        proj: conv c 1x1 stride=stride bias=false
    }
}
network N { input 8x16x16; R(8) -> R(16, stride=2) -> R(4) }""",
    "network parameters in shapes": """
network N(width = 6, depth = 3) {
    input 3x12x12
    repeat depth as i { conv (width * (i + 1)) 3x3 pad=1 -> relu }
    gap -> flatten -> fc width
}""",
}


@pytest.mark.parametrize("name", list(CASES))
def test_structure_compiles_faithfully(tmp_path: Path, name: str) -> None:
    src = tmp_path / "s.cnn"
    src.write_text(CASES[name])
    (a,) = analyze(src)
    net = a.network
    model = cnndsl.load(src)
    modules = dict(model.named_modules())
    expected = {p: tuple(a.node(n).shape) for p, n in _module_nodes(net, modules)}
    assert set(expected) == set(modules) - {""}
    seen: dict[str, tuple[int, ...]] = {}
    for path in expected:
        modules[path].register_forward_hook(
            lambda _m, _i, out, path=path: seen.__setitem__(path, tuple(out.shape[1:]))
        )
    model.train()
    with torch.no_grad():
        out = model(torch.randn(2, *net.input_shape))
    main = out[0] if isinstance(out, tuple) else out
    assert tuple(main.shape[1:]) == net.output_shape
    assert seen == expected
    assert sum(p.numel() for p in model.parameters()) == a.params


def test_merge_container_with_nested_flow_compiles(tmp_path: Path) -> None:
    """What check accepts, compile compiles: a labelled merge whose branch holds another
    merge is printed from the IR (a class of its own) and agrees with the checker."""
    src = tmp_path / "m.cnn"
    src.write_text(
        "network N { input 4x8x8; m: add { {}; { concat { relu; relu } -> conv 4 1x1 } } }"
    )
    (a,) = analyze(src)
    model = cnndsl.load(src)
    assert {"m", "m.conv1"} <= {name for name, _ in model.named_modules()}
    out = model(torch.zeros(2, 4, 8, 8))
    assert tuple(out.shape[1:]) == a.network.output_shape
    assert sum(p.numel() for p in model.parameters()) == a.params == 4 * 8 + 4


@pytest.mark.parametrize(
    "example, network, params",
    [
        ("densenet121", None, {"growth": 16, "num_classes": 10}),
        ("mobilenet", "MobileNetV2", {"width_mult": 0.5}),
        ("mobilenet", "MobileNetV1", {"alpha": 0.75}),
        ("googlenet", None, {"num_classes": 7}),
    ],
)
def test_network_parameters_stay_parameters(
    example: str, network: str | None, params: dict
) -> None:
    """The generated class built with other parameters matches the checker run with them."""
    path = ROOT / "examples" / f"{example}.cnn"
    (a,) = analyze(path, network=network, overrides=params)
    with torch.device("meta"):
        model = cnndsl.load(path, network=network, **params)
    assert sum(p.numel() for p in model.parameters()) == a.params
    modules = dict(model.named_modules())
    expected = {p: tuple(a.node(n).shape) for p, n in _module_nodes(a.network, modules)}
    assert set(expected) == set(modules) - {""}


def _module_nodes(net: Any, modules: dict[str, Any]) -> list[tuple[str, Any]]:
    """The checker's module paths, less those of a flatten outside a Sequential: the
    generator writes it as torch.flatten(x, 1) in forward, as torchvision does (a stateless
    step may be a functional call, LANGUAGE.md §5)."""
    return [(p, n) for p, n in net.modules() if p in modules or getattr(n, "op", None) != "flatten"]
