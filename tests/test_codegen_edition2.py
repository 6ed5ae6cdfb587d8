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
