"""The second edition of the language (LANGUAGE.md's opening paragraph), as the checker sees
it: values against Python's own semantics, shapes against torch's own functions, names as §5
writes them, and the diagnostics of the three changes that can alter a first-edition program.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from cnndsl.api import analyze, load_networks
from cnndsl.errors import CnnError, Warnings
from cnndsl.ir import ChannelsLast


def _value(expr: str, **scope: str) -> object:
    """The value of ``expr`` after ``let``s of ``scope``, as the elaborator computes it."""
    from cnndsl.expr import Evaluator, Scope
    from cnndsl.parser import parse

    lets = "".join(f"let {k} = {v}\n" for k, v in scope.items())
    tree = parse(f"network N {{\ninput 1x4x4\n{lets}let v = ({expr})\n}}")
    values = Scope()
    for stmt in tree.items[0].body.body[1:]:  # type: ignore[union-attr]
        values.vars[stmt.name] = Evaluator(values, (1, 4, 4), {}).run(stmt.value)  # type: ignore[union-attr]
    return values.vars["v"]


# (cnndsl expression, the same in Python): Python is the oracle (§4: "Python's semantics")
EXPRESSIONS = [
    ("-2 ** 2", "-2 ** 2"),
    ("2 ** 3 ** 2", "2 ** 3 ** 2"),
    ("2 ** -1", "2 ** -1"),
    ("(1 + 2) ** 2 * 3", "(1 + 2) ** 2 * 3"),
    ("([1, 3, 6, 6])[2]", "[1, 3, 6, 6][2]"),
    ("d[-1] + d[0]", "[1, 3, 6, 6][-1] + [1, 3, 6, 6][0]"),
    ("sum(d[:2])", "sum([1, 3, 6, 6][:2])"),
    ("sum(d[1:3])", "sum([1, 3, 6, 6][1:3])"),
    ("sum(d[2:])", "sum([1, 3, 6, 6][2:])"),
    ("len(d)", "len([1, 3, 6, 6])"),
    ("max(d) + min(d)", "max([1, 3, 6, 6]) + min([1, 3, 6, 6])"),
    ("max(2, 7, 3)", "max(2, 7, 3)"),
    ("sqrt(2)", "math.sqrt(2)"),
    ("log(10)", "math.log(10)"),
    ("exp(1.5)", "math.exp(1.5)"),
    ("pow(3, 4)", "pow(3, 4)"),
    ("abs(-3.5)", "abs(-3.5)"),
    ("float(7) / 2", "float(7) / 2"),
    ("round(2.5) + round(3.5)", "round(2.5) + round(3.5)"),
    ("int(-2.7)", "int(-2.7)"),
    ("1 < 2 <= 2 != 3", "1 < 2 <= 2 != 3"),
    ("round(48 * 2.49 ** 1)", "round(48 * 2.49 ** 1)"),
]


@pytest.mark.parametrize("cnn, py", EXPRESSIONS)
def test_values_follow_python(cnn: str, py: str) -> None:
    got = _value(cnn, d="[1, 3, 6, 6]")
    want = eval(py, {"math": math})  # noqa: S307 - a fixed table of test expressions
    assert got == want and type(got) is type(want)


def test_size_function_builds_a_size() -> None:
    (a,) = analyze(source="network N(k = 5) { input size(3, 16, 16)\nconv 8 size(1, k) }")
    assert a.network.input_shape == (3, 16, 16)
    assert a.network.output_shape == (8, 16, 12)


def test_list_parameter_drives_repeats() -> None:
    src = """
network N(depths = [1, 2], widths = [8, 16]) {
    input 3x16x16
    repeat len(depths) as s {
        stage{s + 1}: { repeat depths[s] { conv widths[s] 3x3 pad=1 -> relu } }
    }
}
"""
    net = load_networks(source=src)[0]
    paths = [p for p, _ in net.modules()]
    assert paths == ["stage1", "stage1.0", "stage1.1", "stage2", *(f"stage2.{i}" for i in range(4))]
    net2 = load_networks(source=src, overrides={"depths": _list([2, 1])})[0]
    assert [p for p, _ in net2.modules()][:5] == ["stage1", *(f"stage1.{i}" for i in range(4))]


def _list(items: list[int]) -> object:
    from cnndsl.syntax import List

    return List(items)


# ---------------------------------------------------------------- names (§5)
def test_keyword_string_and_template_labels() -> None:
    src = """
block MB(c) { block: { conv c 1x1 -> relu } }
network N {
    input 3x8x8
    features: {
        "0": conv 8 3x3 pad=1
        MB(8)
    }
    repeat 2 as i { "block{i + 1}-{i}": conv 8 1x1 }
    repeat 2 as i { stage{i}_unit: relu }
}
"""
    paths = [p for p, _ in load_networks(source=src)[0].modules()]
    assert paths == [
        "features",
        "features.0",
        "features.1",
        "features.1.block",
        "features.1.block.0",
        "features.1.block.1",
        "block1-0",
        "block2-1",
        "stage0_unit",
        "stage1_unit",
    ]


def test_builtin_names_are_valid_names() -> None:
    net = load_networks(source="block B(len) { relu }\nnetwork N { input 3x4x4; B(1) }")[0]
    assert [p for p, _ in net.modules()] == ["b1", "b1.relu1"]


# ---------------------------------------------------------------- sequential blocks, split
def test_sequential_block_indexes_its_elements() -> None:
    src = """
block ConvBNAct(c, k, stride = 1) = {
    conv c k stride=stride pad=((k - 1) // 2) bias=false -> bn -> relu
}
network N { input 3x16x16; ConvBNAct(8, 3, stride=2); head: ConvBNAct(4, 1) }
"""
    net = load_networks(source=src)[0]
    members = dict(net.root.members)
    assert members["conv_bn_act1"].sequential  # type: ignore[union-attr]
    paths = [p for p, _ in net.modules()]
    assert "conv_bn_act1.0" in paths and "head.2" in paths
    assert net.output_shape == (4, 8, 8)


def test_split_gives_each_branch_one_chunk() -> None:
    src = "network N { input 12x5x5\nsplit { {} ; conv 2 1x1 ; conv 6 1x1 } }"
    net = load_networks(source=src)[0]
    x = torch.randn(1, 12, 5, 5)
    chunks = torch.chunk(x, 3, dim=1)  # the oracle: torch.chunk, as §6 defines split
    assert net.output_shape == (chunks[0].shape[1] + 2 + 6, 5, 5)
    layers = list(net.layers())
    assert [lay.in_shape for lay in layers] == [tuple(chunks[1].shape[1:])] * 2


# ---------------------------------------------------------------- channels last
def test_channels_last_shapes_follow_torch() -> None:
    src = """
network N {
    input 3x6x10
    conv 8 3x3 pad=1
    permute 0 2 3 1
    layernorm eps=1e-6
    linear 32
    gelu
    linear 8
    permute 0 3 1 2
}
"""
    net = load_networks(source=src)[0]
    layers = list(net.layers())
    x = torch.randn(1, 8, 6, 10)
    y = x.permute(0, 2, 3, 1)
    assert layers[1].out_shape == tuple(y.shape[1:])
    assert isinstance(layers[1].out_shape, ChannelsLast)
    y = torch.nn.Linear(8, 32)(torch.nn.LayerNorm(8)(y))
    assert layers[3].out_shape == tuple(y.shape[1:])
    assert net.output_shape == (8, 6, 10) and not isinstance(net.output_shape, ChannelsLast)
    (a,) = analyze(source=src)
    # params and MACs: torch's modules count the parameters; MACs = positions × in × out
    assert a.node(layers[3]).params == sum(p.numel() for p in torch.nn.Linear(8, 32).parameters())
    assert a.node(layers[3]).macs == 6 * 10 * 8 * 32
    # the receptive field passes through channels-last layers and the permutes
    assert a.node(layers[-1]).rf == (3.0, 3.0)


def test_permute_reorders_spatial_receptive_field() -> None:
    (a,) = analyze(source="network N { input 1x9x9\nconv 1 3x1\npermute 0 1 3 2 }")
    layers = list(a.network.layers())
    assert a.node(layers[0]).rf == (3.0, 1.0)
    assert a.node(layers[1]).rf == (1.0, 3.0)


def test_scale_is_a_parameter_named_by_its_step() -> None:
    src = "block B { residual { conv 8 3x3 pad=1 -> layer_scale: scale 1e-6 } }\n"
    src += "network N { input 8x4x4; B() }"
    (a,) = analyze(source=src)
    paths = dict(a.network.modules())
    assert "b1.layer_scale" in paths
    assert a.node(paths["b1.layer_scale"]).params == 8
    assert a.node(paths["b1.layer_scale"]).macs == 8 * 4 * 4


# ---------------------------------------------------------------- upsample
@pytest.mark.parametrize(
    "step, torch_kwargs",
    [
        ("upsample size=7x9 mode=bicubic", {"size": (7, 9), "mode": "bicubic"}),
        (
            "upsample 2.5 mode=bilinear align_corners=true",
            {"scale_factor": 2.5, "mode": "bilinear"},
        ),
        ("upsample like=img mode=bilinear", {"size": (13, 11), "mode": "bilinear"}),
    ],
)
def test_upsample_shapes_follow_interpolate(step: str, torch_kwargs: dict[str, object]) -> None:
    src = f"network N {{ img = input 3x13x11\nconv 4 3x3 stride=2\n{step} }}"
    net = load_networks(source=src)[0]
    y = F.interpolate(torch.randn(1, 4, 6, 5), **torch_kwargs)  # type: ignore[arg-type]
    assert net.output_shape == tuple(y.shape[1:])


def test_upsample_mode_follows_rank() -> None:
    with pytest.raises(CnnError, match="mode=trilinear is for 3-D inputs"):
        load_networks(source="network N { input 3x8x8; upsample 2 mode=trilinear }")
    net = load_networks(source="network N { input 3x8; upsample 2 mode=linear }")[0]
    assert net.output_shape == (3, 16)


# ---------------------------------------------------------------- merges splice
def test_repeat_in_merge_splices_branches() -> None:
    src = """
network N(rates = [6, 12, 18]) {
    input 8x16x16
    concat {
        "0": conv 4 1x1
        repeat len(rates) as i { "{i + 1}": conv 4 3x3 pad=rates[i] dilation=rates[i] }
        if false { "9": conv 4 1x1 }
    }
}
"""
    w = Warnings()
    net = load_networks(source=src, warnings=w)[0]
    assert net.output_shape == (16, 16, 16)
    assert [p for p, _ in net.modules()] == ["0", "1", "2", "3"]
    assert not w.items


def test_unlabelled_splice_warns_with_the_change() -> None:
    w = Warnings()
    src = "network N { input 3x8x8; concat { repeat 2 { conv 4 1x1 -> relu } } }"
    net = load_networks(source=src, warnings=w)[0]
    assert net.output_shape == (8, 8, 8)
    assert any("second edition" in d.message for d in w.items)
    braced = "network N { input 3x8x8; concat { { repeat 2 { conv 4 1x1 -> relu } } } }"
    assert load_networks(source=braced)[0].output_shape == (4, 8, 8)


# ---------------------------------------------------------------- warnings
def test_stride_warning_names_dimension_and_call() -> None:
    w = Warnings()
    src = "block B { conv 4 4 stride=4 }\nnetwork N { input 1x31; B() }"
    load_networks(source=src, warnings=w)
    (msg,) = [d.message for d in w.items]
    assert "drops the last 3 of 31 samples" in msg and "in B()" in msg
    w3 = Warnings()
    load_networks(source="network N { input 1x9x9x9; conv 2 2 stride=2 }", warnings=w3)
    assert "the last frame of 9" in w3.items[0].message


def test_stochastic_depth_outside_a_residual_warns() -> None:
    w = Warnings()
    load_networks(source="network N { input 8x4x4; stochastic_depth 0.1 }", warnings=w)
    assert any("stochastic_depth" in d.message for d in w.items)
    ok = Warnings()
    src = "network N { input 8x4x4; residual { conv 8 3x3 pad=1 -> stochastic_depth 0.1 } }"
    load_networks(source=src, warnings=ok)
    assert not ok.items


# ---------------------------------------------------------------- init
def test_init_rules_resolve() -> None:
    src = """
network N {
    input 3x8x8
    backbone: { conv 8 3x3 -> bn -> relu }
    gap -> flatten -> fc: linear 10
    init kaiming linear=uniform(1 / sqrt(fan_out))
    init trunc_normal std=0.01 bias=default scope="backbone"
}
"""
    net = load_networks(source=src)[0]
    first, second = net.init
    assert first.conv == ("kaiming_normal", None) and first.linear[0] == "uniform"
    assert first.bias == "zeros" and first.norm == "ones"
    assert second.conv[0] == "trunc_normal" and second.bias == "default"
    assert second.scope == "backbone"


def test_init_only_in_a_network() -> None:
    with pytest.raises(CnnError, match="`init` is a statement of a network body"):
        load_networks(source="block B { init kaiming }\nnetwork N { input 3x4x4; B() }")


def test_broadcast_gate_does_not_set_the_jump() -> None:
    # squeeze-and-excitation: the gate sees the whole 32×32 input (rf 32) but `mul` broadcasts
    # it back onto the input's grid, so the next 3×3 conv adds 2 input pixels (jump 1)
    src = """
network N {
    input 8x32x32
    mul { {} ; { gap -> conv 8 1x1 -> sigmoid } }
    conv 8 3x3 pad=1
}
"""
    (a,) = analyze(source=src)
    last = list(a.network.layers())[-1]
    assert a.node(last).rf == (34.0, 34.0)
    assert a.node(last).jump == (1.0, 1.0)


def test_compile_time_spatial_sizes_warn() -> None:
    w = Warnings()
    load_networks(source="network N { input 3x32x32; avgpool in.height }", warnings=w)
    assert any("accepts only its declared 3×32×32 input" in d.message for d in w.items)
    ok = Warnings()
    src = (
        "network N { input 3x32x32; conv 4 3x3 stride=2 pad=1\n"
        "upsample size=size(in.height, in.width) }"
    )
    load_networks(source=src, warnings=ok)
    assert not ok.items


def test_input_size_from_a_network_parameter() -> None:
    src = "network N(c = 3) { input size(c, 16, 16) ; conv 8 3 }"
    assert load_networks(source=src)[0].input_shape == (3, 16, 16)
    assert load_networks(source=src, overrides={"c": 1})[0].input_shape == (1, 16, 16)


@pytest.mark.parametrize(
    "stmt",
    ["u = block: relu", "u = split: relu", "u = init: relu", "output aux: block: relu"],
)
def test_keyword_label_first_in_a_binding_or_output(stmt: str) -> None:
    net = load_networks(source=f"network N {{ input 4x8x8 ; {stmt} }}")[0]
    assert [p for p, _ in net.modules()][0] in ("block", "split", "init", "aux")


def test_api_check_takes_a_parameter_called_depth() -> None:
    from pathlib import Path

    from conftest import ROOT

    import cnndsl

    path = Path(ROOT / "examples" / "regnet_y_400mf.cnn")
    # RegNetY-800MF through RegNet's own parameters (torchvision: 6,432,512 parameters)
    params = {"depth": 14, "w_0": 56, "w_a": 38.84, "w_m": 2.4, "group_width": 16}
    assert cnndsl.check(path, params=params).networks[0].params == 6_432_512
