"""Generated code for the second edition's constructs, against torch's and torchvision's own
implementations of the same computations."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchvision
from conftest import ROOT

import cnndsl
from cnndsl.api import load_networks


def _module(source: str, **params: object) -> torch.nn.Module:
    model = cnndsl.loads(source, **params)
    assert isinstance(model, torch.nn.Module)
    return model


@pytest.mark.parametrize("mode", ["row", "batch"])
def test_stochastic_depth_is_torchvisions(mode: str) -> None:
    model = _module(
        "network N { input 8x4x4\nresidual { conv 8 3x3 pad=1 -> "
        f"sd: stochastic_depth 0.3 mode={mode} }} }}"
    )
    sd = model.get_submodule("sd")
    x = torch.randn(16, 8, 4, 4)
    model.train()
    torch.manual_seed(7)
    ours = sd(x)
    torch.manual_seed(7)
    ref = torchvision.ops.stochastic_depth(x, 0.3, mode, training=True)
    assert torch.equal(ours, ref)
    model.eval()
    assert torch.equal(sd(x), x)


def test_layernorm_channels_is_torchvisions_layernorm2d() -> None:
    from torchvision.models.convnext import LayerNorm2d

    model = _module("network N { input 8x5x7\nln: layernorm dim=channels eps=1e-6 }")
    ref = LayerNorm2d(8, eps=1e-6)
    with torch.no_grad():
        ref.weight.normal_()
        ref.bias.normal_()
    model.load_state_dict({"ln.weight": ref.weight, "ln.bias": ref.bias})
    x = torch.randn(2, 8, 5, 7)
    assert torch.allclose(model(x), ref(x), atol=1e-6)


def test_channels_last_linear_and_permute() -> None:
    model = _module(
        "network N { input 8x5x7\npermute 0 2 3 1\nln: layernorm\nfc: linear 3\npermute 0 3 1 2 }"
    )
    x = torch.randn(2, 8, 5, 7)
    ln, fc = model.get_submodule("ln"), model.get_submodule("fc")
    ref = fc(ln(x.permute(0, 2, 3, 1))).permute(0, 3, 1, 2)
    assert torch.equal(model(x), ref)


def test_split_is_torch_chunk() -> None:
    model = _module("network N { input 12x4x4\nsplit { {} ; b: conv 4 1x1 ; c: relu } }")
    x = torch.randn(2, 12, 4, 4)
    a, b, c = torch.chunk(x, 3, 1)
    ref = torch.cat([a, model.get_submodule("b")(b), F.relu(c)], 1)
    assert torch.equal(model(x), ref)


def test_scale_is_a_bare_parameter() -> None:
    model = _module(
        "block B { residual { c: conv 8 3x3 pad=1 -> layer_scale: scale 0.5 } }\n"
        "network N { input 8x4x4; B() }"
    )
    state = model.state_dict()
    assert "b1.layer_scale" in state and state["b1.layer_scale"].shape == (8, 1, 1)
    assert torch.all(state["b1.layer_scale"] == 0.5)
    x = torch.randn(2, 8, 4, 4)
    block = model.get_submodule("b1")
    assert torch.allclose(model(x), x + block.get_submodule("c")(x) * 0.5)


def test_string_and_keyword_labels_reach_state_dict_keys() -> None:
    model = _module(
        'network N { input 3x8x8\nfeatures: { "0": conv 4 3x3 -> relu }\n'
        '"block1-0": conv 4 1x1\nblock: { bn } }'
    )
    keys = set(model.state_dict())
    assert {"features.0.weight", "block1-0.weight", "block.0.weight"} <= keys


def test_sequential_block_is_an_nn_sequential() -> None:
    model = _module(
        "block CBA(c) = { conv c 3x3 pad=1 bias=false -> bn -> relu }\n"
        "network N { input 3x8x8; CBA(8) }"
    )
    child = model.get_submodule("cba1")
    assert isinstance(child, torch.nn.Sequential) and len(child) == 3
    assert type(child).__name__.startswith("CBA")


@pytest.mark.parametrize("size", [(8, 8), (9, 13), (15, 4)])
def test_same_padding_at_stride_is_computed_per_input(size: tuple[int, int]) -> None:
    model = _module("network N { input 2x8x8\nc: conv 3 3x3 stride=2 pad=same }")
    x = torch.randn(1, 2, *size)
    conv = model.get_submodule("c")
    pads = []
    for i in (size[1], size[0]):  # TensorFlow's SAME: the odd cell at the end
        total = max((-(-i // 2) - 1) * 2 + 3 - i, 0)
        pads += [total // 2, total - total // 2]
    ref = F.conv2d(F.pad(x, pads), conv.weight, conv.bias, stride=2)
    assert torch.allclose(model(x), ref, atol=1e-6)
    (net,) = load_networks(
        source="network N { input 2x8x8\nc: conv 3 3x3 stride=2 pad=same }", input_shape=(2, *size)
    )
    assert tuple(model(x).shape[1:]) == net.output_shape


def test_upsample_like_and_input_size_at_run_time() -> None:
    src = (
        "block Pool(c) = { gap -> conv c 1x1 -> upsample size=size(in.height, in.width) "
        "mode=bilinear }\nnetwork N { img = input 3x16x16\nconv 4 3x3 stride=2 pad=1\n"
        "Pool(4)\nupsample like=img mode=bilinear }"
    )
    model = _module(src)
    for size in ((16, 16), (21, 11)):
        out = model(torch.randn(1, 3, *size))
        assert tuple(out.shape) == (1, 4, *size)


def test_fixed_size_network_says_so() -> None:
    model = cnndsl.load(ROOT / "examples" / "lenet5.cnn")
    with pytest.raises(ValueError, match=r"LeNet5 accepts only 1×32×32 inputs"):
        model(torch.randn(1, 1, 40, 40))


def test_builtin_named_parameter_compiles() -> None:
    model = _module("block B(len) { conv len 1x1 }\nnetwork N { input 3x4x4; B(5) }")
    assert model(torch.randn(1, 3, 4, 4)).shape == (1, 5, 4, 4)


# ---------------------------------------------------------------- init (§7)
def _stats(model: torch.nn.Module) -> dict[str, tuple[float, float]]:
    """Mean and standard deviation of all weights (and biases) per kind of layer."""
    groups: dict[str, list[torch.Tensor]] = {}
    for m in model.modules():
        kind = type(m).__mro__[0].__name__
        for base in ("Conv2d", "Linear", "BatchNorm2d"):
            if any(c.__name__ == base for c in type(m).__mro__):
                kind = base
        if kind not in ("Conv2d", "Linear", "BatchNorm2d"):
            continue
        for name, p in m.named_parameters(recurse=False):
            groups.setdefault(f"{kind}.{name}", []).append(p.detach().flatten())
    return {k: (torch.cat(v).mean().item(), torch.cat(v).std().item()) for k, v in groups.items()}


@pytest.mark.parametrize(
    "example, reference",
    [
        ("resnet50", lambda: torchvision.models.resnet50()),
        ("googlenet", lambda: torchvision.models.googlenet(aux_logits=True, init_weights=True)),
        ("efficientnet_b0", lambda: torchvision.models.efficientnet_b0()),
    ],
)
def test_init_statistics_match_torchvision(example: str, reference: object) -> None:
    torch.manual_seed(0)
    ours = _stats(cnndsl.load(ROOT / "examples" / f"{example}.cnn"))
    ref = _stats(reference())  # type: ignore[operator]
    assert ours.keys() == ref.keys()
    for key, (mean, std) in ref.items():
        got_mean, got_std = ours[key]
        assert abs(got_mean - mean) <= 0.05 * std + 1e-3, key
        assert abs(got_std - std) <= 0.05 * std + 1e-4, key


@pytest.mark.filterwarnings(r"ignore:`torch\.jit\.\w+` is deprecated")
@pytest.mark.parametrize("op", ["maxpool", "minpool", "avgpool"])
@pytest.mark.parametrize("size", [(6, 6), (7, 7), (9, 13)])
def test_same_padding_of_pools_at_stride_is_computed_per_input(
    op: str, size: tuple[int, int]
) -> None:
    src = f"network N {{ input 2x6x6\np: {op} 3 stride=2 pad=same }}"
    model = _module(src)
    x = torch.randn(1, 2, *size)
    pads = []
    for i in (size[1], size[0]):  # TensorFlow's SAME: the odd cell at the end
        total = max((-(-i // 2) - 1) * 2 + 3 - i, 0)
        pads += [total // 2, total - total // 2]
    if op == "maxpool":
        ref = F.max_pool2d(F.pad(x, pads, value=float("-inf")), 3, 2)
    elif op == "minpool":
        ref = -F.max_pool2d(F.pad(-x, pads, value=float("-inf")), 3, 2)
    else:  # padded cells left out of the average
        ones = F.pad(torch.ones(1, 1, *size), pads)
        ref = F.avg_pool2d(F.pad(x, pads), 3, 2) / F.avg_pool2d(ones, 3, 2)
    assert torch.allclose(model(x), ref)
    (net,) = load_networks(source=src, input_shape=(2, *size))
    assert tuple(ref.shape[1:]) == net.output_shape
    scripted = torch.jit.script(model)
    assert torch.allclose(scripted(x), ref)


# ---------------------------------------------------------------- the symbolic translator
def _compiled(name: str, strategy: str) -> tuple[str, type[torch.nn.Module]]:
    """The example's generated source by one strategy, and its network class."""
    from cnndsl.codegen import class_names, compile_program
    from cnndsl.loader import _import
    from cnndsl.program import load_program

    path = ROOT / "examples" / f"{name}.cnn"
    program = load_program(path)
    source = compile_program(program, path.name, strategy=strategy)
    assert source is not None
    cls = getattr(
        _import(source, path), class_names(program)[("network", program.networks[-1].name)]
    )
    return source, cls


def _classes(source: str) -> list[str]:
    import re

    return re.findall(r"^class (\w+)\((?:nn\.Module|nn\.Sequential)\)", source, re.M)


def _regnet(num_classes: int = 1000, stem_width: int = 32, **block: float) -> torch.nn.Module:
    """torchvision's RegNet from its block parameters (regnet_y_400mf's by default)."""
    from torchvision.models.regnet import BlockParams, RegNet

    params: dict[str, float] = {
        "depth": 16,
        "w_0": 48,
        "w_a": 27.89,
        "w_m": 2.09,
        "group_width": 8,
        "se_ratio": 0.25,
    }
    params.update(block)
    block_params = BlockParams.from_init_params(**params)  # type: ignore[arg-type]
    return RegNet(block_params, num_classes=num_classes, stem_width=stem_width)


def _shufflenet(
    stages_repeats: list[int] = [4, 8, 4],  # noqa: B006 - read only
    stages_out_channels: list[int] = [24, 116, 232, 464, 1024],  # noqa: B006
    num_classes: int = 1000,
) -> torch.nn.Module:
    """torchvision's ShuffleNetV2 (shufflenet_v2_x1_0's stages by default)."""
    from torchvision.models import ShuffleNetV2

    return ShuffleNetV2(stages_repeats, stages_out_channels, num_classes=num_classes)


# example, torchvision builder, one class per block and network (after the helpers the file
# needs), parameter sets (the defaults, and others the class takes as parameters:
# torchvision's builders take them too)
SYMBOLIC = [
    (
        "mobilenet_v3_large",
        torchvision.models.mobilenet_v3_large,
        ["ConvBNAct", "SqueezeExcitation", "InvertedResidual", "MobileNetV3Large"],
        [{}, {"width_mult": 0.75, "num_classes": 10}],
    ),
    (
        "efficientnet_b0",
        torchvision.models.efficientnet_b0,
        ["StochasticDepth", "ConvBNAct", "SqueezeExcitation", "ConvBN", "MBConv", "EfficientNetB0"],
        [{}, {"num_classes": 10, "dropout": 0.3, "stochastic_depth_prob": 0.1}],
    ),
    (
        "regnet_y_400mf",
        _regnet,
        ["ConvBNAct", "SqueezeExcitation", "ConvBN", "ResBottleneckBlock", "RegNetY400MF"],
        # regnet_x_200mf's widths with an SE: other stages, depths and widths
        [
            {},
            {
                "num_classes": 10,
                "stem_width": 24,
                "depth": 13,
                "w_0": 24,
                "w_a": 36.44,
                "w_m": 2.49,
            },
        ],
    ),
    (
        "shufflenet_v2",
        _shufflenet,
        ["Branch", "InvertedResidual", "ShuffleNetV2"],
        # shufflenet_v2_x0_5's widths, fewer blocks per stage
        [
            {},
            {
                "num_classes": 10,
                "stages_repeats": [2, 3, 2],
                "stages_out_channels": [24, 48, 96, 192, 1024],
            },
        ],
    ),
]


@pytest.mark.parametrize("name, make, classes, params", SYMBOLIC, ids=[c[0] for c in SYMBOLIC])
def test_symbolic_second_edition_examples_equal_torchvision(
    name: str, make: object, classes: list[str], params: list[dict[str, object]]
) -> None:
    """The symbolic translator writes each block once (as torchvision does), and that file
    equals torchvision's model name for name, weight for weight, output for output, at the
    compiled parameters and at others; the default strategy picks it; the IR printer's file
    has the same state_dict."""
    from cnndsl.codegen.edition2 import symbolic_unsupported
    from cnndsl.elaborate import elaborate
    from cnndsl.program import load_program

    program = load_program(ROOT / "examples" / f"{name}.cnn")
    assert symbolic_unsupported(program, elaborate(program, None)) is None
    source, cls = _compiled(name, "symbolic")
    assert _classes(source) == classes
    concrete_source, concrete = _compiled(name, "concrete")
    assert len(_classes(concrete_source)) > len(classes)
    torch.manual_seed(0)
    shapes = {k: tuple(v.shape) for k, v in concrete().state_dict().items()}
    assert {k: tuple(v.shape) for k, v in cls().state_dict().items()} == shapes
    gen = torch.Generator().manual_seed(3)
    for kwargs in params:
        torch.manual_seed(0)
        ref = make(**kwargs)  # type: ignore[operator]
        ours = cls(**kwargs)
        state = ref.state_dict()
        for key, value in state.items():  # norm statistics at random: no identity hides
            if key.endswith("running_mean"):
                value.copy_(torch.randn(value.shape, generator=gen) * 0.2)
            elif key.endswith("running_var"):
                value.copy_(torch.rand(value.shape, generator=gen) + 0.5)
        assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {
            k: tuple(v.shape) for k, v in state.items()
        }
        ours.load_state_dict(state, strict=True)
        ref.load_state_dict(state, strict=True)
        ours.eval()
        ref.eval()
        for size in ((224, 224), (192, 256)):
            x = torch.randn(2, 3, *size, generator=gen)
            with torch.no_grad():
                a, b = ours(x), ref(x)
            assert a.shape == b.shape
            assert ((a - b).abs().max() / b.abs().max()).item() <= 1e-5, (kwargs, size)


def test_symbolic_leaves_the_rest_to_the_ir_printer() -> None:
    from cnndsl.codegen.edition2 import symbolic_unsupported
    from cnndsl.elaborate import elaborate
    from cnndsl.program import load_program

    for name, reason in [
        ("convnext_tiny", "layernorm dim="),
        ("deeplabv3_resnet50", "upsample to a size"),
    ]:
        program = load_program(ROOT / "examples" / f"{name}.cnn")
        assert symbolic_unsupported(program, elaborate(program, None)) == reason


def test_list_parameters_and_keyed_sequential_blocks_are_symbolic() -> None:
    """A list parameter is a ``Sequence[int]`` with a tuple default, indexed and sliced in
    the class; a sequential block with labels is an OrderedDict-built nn.Sequential; the
    class built with other values equals the checker's network for those values."""
    from pathlib import Path

    from cnndsl.codegen import compile_program, generate
    from cnndsl.elaborate import elaborate
    from cnndsl.errors import Warnings
    from cnndsl.loader import _import
    from cnndsl.program import load_program
    from cnndsl.syntax import List

    src = (
        "block CB(c, k) = { conv c k pad=((k - 1) // 2) bias=false\n"
        "  if c > 8 { norm: bn }\n  act: relu }\n"
        "network N(widths = [4, 8, 16], ks = [3, 5, 3]) {\n  input 3x16x16\n"
        "  repeat len(widths) as i { CB(widths[i], ks[-1 - i]) }\n"
        "  head: conv (sum(widths[1:]) + len(ks)) 1x1\n}"
    )
    program = load_program(source=src, filename="n.cnn")
    source = compile_program(program, "n.cnn", strategy="symbolic")
    assert source is not None
    assert "widths: Sequence[int] = (4, 8, 16)" in source
    assert "class CB(nn.Sequential)" in source and "OrderedDict" in source
    assert "widths[i]" in source and "ks[-1 - i]" in source and "widths[1:]" in source
    cls = _import(source, Path("n.cnn")).N
    for widths, ks in (([4, 8, 16], [3, 5, 3]), ([12, 6], [1, 3])):
        ours = cls(widths=widths, ks=ks)
        # the checker's network for these values, printed from its IR
        values = {"widths": List(widths), "ks": List(ks)}
        networks = elaborate(program, "N", values, Warnings())
        printed = generate(program, networks, "n.cnn", "concrete")
        ref = _import(printed, Path("n.cnn")).N()
        assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {
            k: tuple(v.shape) for k, v in ref.state_dict().items()
        }
        ours.load_state_dict(ref.state_dict())
        ours.eval()
        ref.eval()
        x = torch.randn(1, 3, 16, 16)
        assert torch.allclose(ours(x), ref(x), atol=1e-6)


def test_numbers_from_the_elaboration_are_checked_against_other_list_values() -> None:
    """A number the translator takes from the elaboration (the flattened size a `linear`
    reads) that another value of a list parameter changes: the symbolic file is refused
    (a list parameter is varied as the checker's list), and the default strategy prints the
    file from the IR."""
    from cnndsl.codegen import compile_program
    from cnndsl.program import load_program

    src = (
        "network N(ws = [4, 2], n = 10) {\n  input 3x8x8\n"
        "  conv ws[0] 3x3 stride=ws[1] pad=1\n  flatten\n  fc: linear n\n}"
    )
    program = load_program(source=src, filename="n.cnn")
    with pytest.raises(ValueError, match="depends on ws"):
        compile_program(program, "n.cnn", strategy="symbolic")
    source = compile_program(program, "n.cnn")
    assert source is not None and "nn.Linear(64, 10)" in source  # the IR's values
