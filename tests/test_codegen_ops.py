"""Generated ops compute what they should: compared with direct numpy or torch.functional
computations (composite ops, padding modes, pools, broadcasting), in 1-D, 2-D and 3-D."""

from __future__ import annotations

import linecache
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import cnndsl

torch.manual_seed(0)
FUNC = {
    1: (F.conv1d, F.max_pool1d, F.avg_pool1d),
    2: (F.conv2d, F.max_pool2d, F.avg_pool2d),
    3: (F.conv3d, F.max_pool3d, F.avg_pool3d),
}
SHAPES = {1: (3, 11), 2: (3, 9, 10), 3: (2, 5, 6, 7)}


def build(tmp_path: Path, shape: tuple[int, ...], body: str) -> torch.nn.Module:
    src = tmp_path / "t.cnn"
    src.write_text(f"network T {{\n    input {'x'.join(map(str, shape))}\n    {body}\n}}\n")
    return cnndsl.load(src).eval()


def only(model: torch.nn.Module) -> torch.nn.Module:
    (module,) = [m for name, m in model.named_children()]
    return module


def np_pad(x: np.ndarray, pads: list[tuple[int, int]], mode: str, value: float = 0.0):
    width = [(0, 0), (0, 0), *pads]
    if mode == "constant":
        return np.pad(x, width, mode="constant", constant_values=value)
    return np.pad(x, width, mode=mode)


def same_pads(sizes, k, s, d=1):
    out = []
    for i in sizes:
        o = -(-i // s)
        total = max((o - 1) * s + d * (k - 1) + 1 - i, 0)
        out.append((total // 2, total - total // 2))
    return out


def windows(x: np.ndarray, k: int, s: int) -> np.ndarray:
    """All k^r windows with stride s of (N, C, *spatial): shape (N, C, *out, k^r)."""
    r = x.ndim - 2
    view = np.lib.stride_tricks.sliding_window_view(x, (k,) * r, axis=tuple(range(2, 2 + r)))
    view = view[(slice(None), slice(None), *(slice(None, None, s),) * r)]
    return view.reshape(*view.shape[: 2 + r], -1)


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular", "symmetric"])
def test_conv_padding_modes_and_same(tmp_path: Path, rank: int, mode: str) -> None:
    shape = SHAPES[rank]
    model = build(tmp_path, shape, f"conv 4 3 stride=2 pad=same pad_mode={mode}")
    conv = only(model)
    x = torch.randn(2, *shape)
    pads = same_pads(shape[1:], 3, 2)
    np_mode = {
        "zeros": "constant",
        "reflect": "reflect",
        "replicate": "edge",
        "circular": "wrap",
        "symmetric": "symmetric",
    }[mode]
    padded = torch.from_numpy(np_pad(x.numpy(), pads, np_mode))
    ref = FUNC[rank][0](padded, conv.weight, conv.bias, stride=2)
    with torch.no_grad():
        assert torch.allclose(model(x), ref, atol=1e-5)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_pools_with_same_padding(tmp_path: Path, rank: int) -> None:
    shape = SHAPES[rank]
    x = torch.randn(2, *shape)
    pads = same_pads(shape[1:], 3, 2)
    xn = x.numpy()
    expect = {
        "maxpool": windows(np_pad(xn, pads, "constant", -np.inf), 3, 2).max(-1),
        "minpool": windows(np_pad(xn, pads, "constant", np.inf), 3, 2).min(-1),
        # TensorFlow-style: padded cells are left out of the average
        "avgpool": windows(np_pad(xn, pads, "constant"), 3, 2).sum(-1)
        / windows(np_pad(np.ones_like(xn), pads, "constant"), 3, 2).sum(-1),
    }
    for op, ref in expect.items():
        model = build(tmp_path, shape, f"{op} 3 stride=2 pad=same")
        with torch.no_grad():
            out = model(x).numpy()
        assert out.shape == ref.shape, op
        assert np.allclose(out, ref, atol=1e-5), op


@pytest.mark.parametrize("rank", [1, 2])
def test_minpool_and_lppool(tmp_path: Path, rank: int) -> None:
    shape = SHAPES[rank]
    x = torch.rand(2, *shape) + 0.1
    xn = x.numpy()
    model = build(tmp_path, shape, "minpool 2")
    with torch.no_grad():
        assert np.allclose(model(x).numpy(), windows(xn, 2, 2).min(-1))
    model = build(tmp_path, shape, "lppool 2 p=3")
    ref = (windows(xn, 2, 2) ** 3).sum(-1) ** (1 / 3)
    with torch.no_grad():
        assert np.allclose(model(x).numpy(), ref, atol=1e-5)


def test_shuffle_matches_numpy(tmp_path: Path) -> None:
    model = build(tmp_path, (6, 4, 4), "shuffle 3")
    x = torch.randn(2, 6, 4, 4)
    ref = x.numpy().reshape(2, 3, 2, 4, 4).transpose(0, 2, 1, 3, 4).reshape(2, 6, 4, 4)
    with torch.no_grad():
        assert np.array_equal(model(x).numpy(), ref)


def test_mul_broadcasts_a_gate(tmp_path: Path) -> None:
    model = build(
        tmp_path, (8, 5, 5), "mul { {} ; { gap -> conv 2 1x1 -> relu -> conv 8 1x1 -> sigmoid } }"
    )
    x = torch.randn(2, 8, 5, 5)
    c1, c2 = model.conv1, model.conv2
    gate = torch.sigmoid(
        F.conv2d(
            F.relu(F.conv2d(x.mean((2, 3), keepdim=True), c1.weight, c1.bias)), c2.weight, c2.bias
        )
    )
    with torch.no_grad():
        assert torch.allclose(model(x), x * gate, atol=1e-6)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_deconv_same_crops_to_input_times_stride(tmp_path: Path, rank: int) -> None:
    shape = SHAPES[rank]
    for k, s in ((4, 1), (3, 2), (2, 2), (1, 3)):
        model = build(tmp_path, shape, f"deconv 4 {k} stride={s} pad=same")
        deconv = only(model)
        x = torch.randn(1, *shape)
        conv_t = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[rank]
        full = conv_t(x, deconv.weight, None, stride=s)  # the bias is added after cropping
        t = k - s
        for dim, i in enumerate(shape[1:]):
            begin = t // 2 if t > 0 else 0
            full = (
                full.narrow(2 + dim, begin, i * s)
                if t >= 0
                else F.pad(full, [0, 0] * (rank - 1 - dim) + [0, -t])
            )
        full = full + deconv.bias.view(1, -1, *(1,) * rank)
        with torch.no_grad():
            out = model(x)
        assert out.shape[2:] == tuple(i * s for i in shape[1:])
        assert torch.allclose(out, full, atol=1e-5), (k, s)


def test_sepconv_is_depthwise_then_pointwise(tmp_path: Path) -> None:
    model = build(tmp_path, (4, 8, 8), "sepconv 6 3x3 pad=1")
    sep = only(model)
    x = torch.randn(2, 4, 8, 8)
    ref = F.conv2d(
        F.conv2d(x, sep.depthwise.weight, None, padding=1, groups=4),
        sep.pointwise.weight,
        sep.pointwise.bias,
    )
    with torch.no_grad():
        assert torch.allclose(model(x), ref, atol=1e-5)
    assert set(dict(model.named_parameters())) == {
        "sepconv1.depthwise.weight",
        "sepconv1.pointwise.weight",
        "sepconv1.pointwise.bias",
    }


def test_layernorm_over_chw_with_per_channel_affine(tmp_path: Path) -> None:
    model = build(tmp_path, (4, 3, 3), "layernorm")
    ln = only(model)
    with torch.no_grad():
        ln.weight.uniform_()
        ln.bias.uniform_()
        x = torch.randn(2, 4, 3, 3)
        mean = x.mean((1, 2, 3), keepdim=True)
        var = x.var((1, 2, 3), unbiased=False, keepdim=True)
        ref = (x - mean) / torch.sqrt(var + 1e-5) * ln.weight.view(1, 4, 1, 1) + ln.bias.view(
            1, 4, 1, 1
        )
        assert torch.allclose(model(x), ref, atol=1e-5)


@pytest.mark.parametrize(
    "rank, mode", [(1, "bilinear"), (2, "bilinear"), (3, "bilinear"), (2, "nearest")]
)
def test_upsample(tmp_path: Path, rank: int, mode: str) -> None:
    shape = SHAPES[rank]
    model = build(tmp_path, shape, f"upsample 2 mode={mode}")
    x = torch.randn(1, *shape)
    torch_mode = (
        {1: "linear", 2: "bilinear", 3: "trilinear"}[rank] if mode != "nearest" else "nearest"
    )
    kwargs = {"align_corners": False} if mode != "nearest" else {}
    with torch.no_grad():
        assert torch.allclose(
            model(x), F.interpolate(x, scale_factor=2.0, mode=torch_mode, **kwargs)
        )


def test_dilated_same_padding_in_a_block(tmp_path: Path) -> None:
    """`pad=same` with a dilation parameter stays symbolic in the block class."""
    src = tmp_path / "d.cnn"
    src.write_text(
        "block D(d) { conv in.channels 3 dilation=d pad=same }\n"
        "network N { input 2x20; D(1) -> D(2) -> D(4) }\n"
    )
    text = cnndsl.compile_source(src)
    assert "padding=d, dilation=d" in text
    model = cnndsl.load(src)
    assert model(torch.randn(1, 2, 20)).shape == (1, 2, 20)


def test_tracebacks_show_generated_lines(tmp_path: Path) -> None:
    model = build(tmp_path, (3, 8, 8), "conv 4 3x3 -> flatten -> fc 10")
    with pytest.raises(RuntimeError) as info:
        model(torch.randn(1, 5, 8, 8))  # wrong channel count
    frames = [f for f in info.traceback if str(f.path).startswith("<cnndsl:")]
    assert frames, "no frame from the generated source"
    filename = str(frames[0].path)
    line = linecache.getline(filename, frames[0].lineno + 1)
    assert "self.conv1(x)" in line


OP_CASES = [
    "conv 4 3",
    "conv 4 3 stride=2 pad=same",
    "conv 4 2 pad=same",
    "conv 4 3 pad=full",
    "conv 4 3 pad=valid dilation=2",
    "conv 4 3 pad=1 pad_mode=reflect groups=2",
    "conv 4 3 pad=2 pad_mode=symmetric",
    "conv 4 3 pad=1 pad_mode=replicate",
    "conv 4 3 pad=1 pad_mode=circular",
    "deconv 4 2 stride=2",
    "deconv 4 3 stride=2 pad=same",
    "deconv 4 3 stride=2 pad=1 output_pad=1",
    "dwconv 3 pad=1 mult=2",
    "sepconv 4 3 pad=same",
    "maxpool 2",
    "maxpool 3 stride=2 pad=1 ceil=true",
    "maxpool 3 stride=2 pad=same",
    "avgpool 3 stride=2 pad=same",
    "avgpool 3 stride=1 pad=1 count_pad=false",
    "minpool 2",
    "minpool 3 stride=2 pad=same",
    "lppool 2",
    "adaptive_avgpool 2",
    "adaptive_maxpool 3",
    "gap",
    "gmp",
    "bn",
    "lrn 3",
    "groupnorm 2",
    "layernorm",
    "instancenorm affine=true",
    "dropout 0.1",
    "dropout2d 0.1",
    "relu",
    "relu6",
    "sigmoid",
    "tanh",
    "gelu",
    "silu",
    "hardswish",
    "hardsigmoid",
    "mish",
    "identity",
    "leaky_relu slope=0.2",
    "elu",
    "prelu per_channel=true",
    "softmax",
    "log_softmax",
    "upsample 2",
    "upsample 2 mode=bilinear",
    "shuffle 2",
    "flatten -> linear 5",
    "gap -> flatten -> bn -> layernorm -> fc 3",
]


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("body", OP_CASES)
def test_every_op_compiles_with_the_checkers_shape(tmp_path: Path, rank: int, body: str) -> None:
    """Every op in every rank: the generated module's output shape is the checker's."""
    from cnndsl.api import analyze

    shape = {1: (4, 12), 2: (4, 9, 10), 3: (4, 6, 7, 8)}[rank]
    src = tmp_path / "op.cnn"
    src.write_text(f"network T {{\n    input {'x'.join(map(str, shape))}\n    {body}\n}}\n")
    (a,) = analyze(src)
    model = cnndsl.load(src).eval()
    with torch.no_grad():
        out = model(torch.randn(2, *shape))
    assert tuple(out.shape[1:]) == a.network.output_shape
    assert sum(p.numel() for p in model.parameters()) == a.params
