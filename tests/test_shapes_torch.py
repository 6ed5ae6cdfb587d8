"""Shapes, parameters and MACs of every layer, checked against PyTorch's own layers.

Each test builds one-layer ``.cnn`` programs over a grid of input sizes, asks the
checker (:func:`cnndsl.api.summary_json`) for the output shape, parameter and buffer
counts and MACs, and compares them with the real ``torch.nn`` layer run on
``torch.zeros(1, *input_shape)``:

* the output shape is the shape torch produces;
* parameters are ``sum(p.numel() for p in layer.parameters())`` and buffers likewise;
* MACs follow LANGUAGE.md §9, computed here from the torch layer's weight shape and the
  torch output shape (conv: output elements × in/groups × kernel volume; transposed conv:
  input elements × out/groups × kernel volume; linear: in × out; everything else 0);
* where torch rejects a configuration (raises), the checker must reject it too
  (:class:`CnnError`), and where torch accepts it the checker must accept it.

Padding forms that PyTorch's layers cannot express natively follow LANGUAGE.md §8:
``same`` is TensorFlow's (``o = ceil(i / stride)``, the odd cell at the end) and is
applied with ``F.pad`` before the layer; ``full`` pads ``dilation·(k − 1)`` on each side;
``symmetric`` is numpy's ``np.pad(mode="symmetric")``.  Pools with ``ceil=true`` follow
PyTorch's ``pooling_output_shape_pad_lr`` (ATen), ported below and itself checked
against the native torch pools.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

from cnndsl.api import summary_json
from cnndsl.errors import CnnError

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

C_IN = 4  # input channels of every generated program
C_OUT = 6  # output channels of convolutions

# Input sizes (spatial part) per rank: small, odd and even, a few too small on purpose.
SIZES: dict[int, list[tuple[int, ...]]] = {
    1: [(2,), (3,), (5,), (6,), (7,), (8,), (9,), (10,), (11,), (12,), (13,)],
    2: [(3, 4), (5, 5), (6, 7), (8, 13), (11, 10)],
    3: [(4, 5, 6), (7, 8, 5)],
}
SIZES_SMALL: dict[int, list[tuple[int, ...]]] = {  # for the bigger grids
    1: [(2,), (5,), (6,), (7,), (8,), (11,), (13,)],
    2: [(3, 4), (5, 5), (6, 7), (11, 10)],
    3: [(4, 5, 6), (7, 8, 5)],
}
SIZES_TINY: dict[int, list[tuple[int, ...]]] = {  # for the biggest grids
    1: [(2,), (5,), (6,), (9,)],
    2: [(3, 4), (6, 7)],
    3: [(4, 5, 6)],
}


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Any:
    """Tiny layers: torch's thread pool only adds overhead (and stalls on a busy machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
DECONV = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
MAXPOOL = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}
AVGPOOL = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}
LPPOOL = {1: nn.LPPool1d, 2: nn.LPPool2d, 3: nn.LPPool3d}
ADAPTIVE_AVG = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}
ADAPTIVE_MAX = {1: nn.AdaptiveMaxPool1d, 2: nn.AdaptiveMaxPool2d, 3: nn.AdaptiveMaxPool3d}
BATCHNORM = {0: nn.BatchNorm1d, 1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
INSTANCENORM = {1: nn.InstanceNorm1d, 2: nn.InstanceNorm2d, 3: nn.InstanceNorm3d}
DROPOUT_CH = {1: nn.Dropout1d, 2: nn.Dropout2d, 3: nn.Dropout3d}


# --------------------------------------------------------------------------- helpers
Spec = int | str  # a .cnn size as written: 3 or "3x2"


def per_dim(spec: Spec, rank: int) -> tuple[int, ...]:
    """``3`` -> (3, 3) in 2-D; ``"3x2"`` -> (3, 2)."""
    if isinstance(spec, str) and spec.isdigit():
        spec = int(spec)
    if isinstance(spec, int):
        return (spec,) * rank
    vals = tuple(int(v) for v in spec.split("x"))
    assert len(vals) == rank, (spec, rank)
    return vals


def program(in_shape: Sequence[int], *steps: str) -> str:
    body = "".join(f"    {s}\n" for s in steps)
    return f"network T {{\n    input {'x'.join(map(str, in_shape))}\n{body}}}\n"


def checker(src: str) -> dict[str, Any] | str:
    """The checker's view of a program (last layer's shape, network totals), or its error."""
    try:
        doc = summary_json(source=src)
    except CnnError as exc:
        return str(exc).splitlines()[0][:120]
    net = doc["networks"][0]
    last = net["layers"][-1]
    return {
        "shape": tuple(last["output"]),
        "params": net["params"],
        "buffers": net["buffers"],
        "macs": net["macs"],
    }


def count(m: Any) -> tuple[int, int]:
    return (sum(p.numel() for p in m.parameters()), sum(b.numel() for b in m.buffers()))


def ref_result(y: Any, modules: Sequence[Any], macs: int = 0) -> dict[str, Any]:
    params = sum(count(m)[0] for m in modules)
    buffers = sum(count(m)[1] for m in modules)
    return {"shape": tuple(y.shape[1:]), "params": params, "buffers": buffers, "macs": macs}


def conv_macs(conv: Any, y: Any) -> int:
    """§9: output elements × in_channels/groups × kernel volume (weight is [out, in/g, *k])."""
    w = conv.weight.shape
    return y.numel() * w[1] * math.prod(w[2:])


def deconv_macs(conv: Any, x: Any) -> int:
    """§9: input elements × out_channels/groups × kernel volume (weight is [in, out/g, *k])."""
    w = conv.weight.shape
    return x.numel() * w[1] * math.prod(w[2:])


def contract_pads(
    pad: Spec, k: tuple[int, ...], s: tuple[int, ...], d: tuple[int, ...], sizes: tuple[int, ...]
) -> list[tuple[int, int]]:
    """(before, after) per dim, as LANGUAGE.md §8 defines the padding words."""
    rank = len(sizes)
    if pad == "valid":
        return [(0, 0)] * rank
    if pad == "full":
        return [(dd * (kk - 1), dd * (kk - 1)) for kk, dd in zip(k, d)]
    if pad == "same":
        out = []
        for i, kk, ss, dd in zip(sizes, k, s, d):
            o = math.ceil(i / ss)
            total = max((o - 1) * ss + dd * (kk - 1) + 1 - i, 0)
            out.append((total // 2, total - total // 2))  # odd cell at the end, like TF
        return out
    return [(p, p) for p in per_dim(pad, rank)]


def fpad(pads: Sequence[tuple[int, int]]) -> tuple[int, ...]:
    """F.pad's argument order: last dimension first."""
    return tuple(v for pb_pa in reversed(pads) for v in pb_pa)


def pad_input(x: Any, pads: Sequence[tuple[int, int]], mode: str, value: float = 0.0) -> Any:
    if mode == "symmetric":
        # cnndsl's documented limit (docs/language.md): symmetric padding mirrors at most
        # the whole input once, so pads larger than the input are rejected.
        if any(max(pair) > n for pair, n in zip(pads, x.shape[2:])):
            raise ValueError("symmetric padding larger than the input")
        arr = np.pad(x.numpy(), [(0, 0), (0, 0), *pads], mode="symmetric")
        return torch.from_numpy(arr)
    if mode == "zeros":
        return F.pad(x, fpad(pads), mode="constant", value=value)
    return F.pad(x, fpad(pads), mode=mode)


def compare(cases: Sequence[tuple[str, str, Callable[[], dict[str, Any]]]]) -> None:
    """Run every (label, program, torch reference) case; fail with the full list of mismatches.

    A reference that raises means torch rejects the configuration: the checker must too.
    """
    problems = []
    for label, src, ref_fn in cases:
        try:
            with torch.no_grad():
                ref = ref_fn()
        except (RuntimeError, ValueError, NotImplementedError) as exc:
            ref = None
            why = str(exc).splitlines()[0][:90]
        got = checker(src)
        if ref is None and isinstance(got, str):
            continue
        steps = "; ".join(line.strip() for line in src.splitlines()[1:-1])
        label = f"{label} [{steps}]"
        if ref is None:
            problems.append(f"{label}: checker accepts {got}, torch rejects ({why})")
        elif isinstance(got, str):
            problems.append(f"{label}: checker rejects ({got}), torch gives {ref}")
        elif got != ref:
            problems.append(f"{label}: checker {got} != torch {ref}")
    assert not problems, f"{len(problems)} of {len(cases)} disagree:\n" + "\n".join(problems)


def kv(**kw: Any) -> str:
    """Keyword arguments as .cnn text, dropping None."""
    parts = []
    for key, v in kw.items():
        if v is None:
            continue
        if isinstance(v, bool):
            v = "true" if v else "false"
        parts.append(f"{key}={v}")
    return " ".join(parts)


def sid(v: Any) -> str:
    return str(v).replace(" ", "")


# --------------------------------------------------------------------------- conv
def ref_conv(
    x_shape: tuple[int, ...],
    out: int,
    k: Spec,
    s: Spec,
    d: Spec,
    pad: Spec,
    groups: int = 1,
    bias: bool = True,
    pad_mode: str = "zeros",
) -> dict[str, Any]:
    rank = len(x_shape) - 1
    kk, ss, dd = per_dim(k, rank), per_dim(s, rank), per_dim(d, rank)
    x = torch.zeros(1, *x_shape)
    if pad not in ("same", "valid", "full") and pad_mode != "symmetric":
        # explicit padding: torch's own layer, its own padding and padding_mode
        conv = CONV[rank](
            x_shape[0],
            out,
            kk,
            stride=ss,
            dilation=dd,
            groups=groups,
            bias=bias,
            padding=per_dim(pad, rank),
            padding_mode=pad_mode,
        )
        y = conv(x)
    elif (
        pad == "same"
        and all(v == 1 for v in ss)
        and pad_mode == "zeros"
        and all((a * (b - 1)) % 2 == 0 for a, b in zip(dd, kk))
    ):
        # stride 1, symmetric total: torch's own padding="same"
        conv = CONV[rank](
            x_shape[0], out, kk, stride=1, dilation=dd, groups=groups, bias=bias, padding="same"
        )
        y = conv(x)
    else:
        pads = contract_pads(pad, kk, ss, dd, x_shape[1:])
        conv = CONV[rank](x_shape[0], out, kk, stride=ss, dilation=dd, groups=groups, bias=bias)
        y = conv(pad_input(x, pads, pad_mode))
    if pad == "same":  # sanity check of the reference itself (§8: o = ceil(i / stride))
        assert tuple(y.shape[2:]) == tuple(math.ceil(i / v) for i, v in zip(x_shape[1:], ss))
    return ref_result(y, [conv], conv_macs(conv, y))


KERNELS = {1: [1, 2, 3, 4], 2: [2, 3, "3x2", "1x4"], 3: [2, 3, "1x3x2"]}
STRIDES = {1: [1, 2, 3], 2: [1, 2, 3, "1x2"], 3: [1, 2, 3]}
PADS = {
    1: [0, 1, 2, "same", "valid", "full"],
    2: [0, 1, 2, "1x2", "same", "valid", "full"],
    3: [0, 1, "0x1x2", "same", "valid", "full"],
}

CONV_GRID = [
    pytest.param(rank, pad, s, d, id=f"conv-{rank}d-pad_{sid(pad)}-s{s}-d{d}")
    for rank in (1, 2, 3)
    for pad in PADS[rank]
    for s in STRIDES[rank]
    for d in (1, 2)
]


@pytest.mark.parametrize(("rank", "pad", "s", "d"), CONV_GRID)
def test_conv(rank: int, pad: Spec, s: Spec, d: int) -> None:
    cases = []
    for k in KERNELS[rank]:
        for size in SIZES_SMALL[rank]:
            xs = (C_IN, *size)
            src = program(xs, f"conv {C_OUT} {k} {kv(stride=s, pad=pad, dilation=d)}")
            cases.append((f"{xs} k={k}", src, lambda xs=xs, k=k: ref_conv(xs, C_OUT, k, s, d, pad)))
    compare(cases)


@pytest.mark.parametrize("groups", [1, 2, 3, 4, 6])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_conv_groups_bias(rank: int, bias: bool, groups: int) -> None:
    # C_IN = 4, C_OUT = 6: groups 1 and 2 divide both; 3, 4 and 6 do not (torch rejects)
    cases = []
    for size in SIZES[rank][2:4]:
        xs = (C_IN, *size)
        src = program(xs, f"conv {C_OUT} 3 {kv(pad=1, groups=groups, bias=bias)}")
        cases.append(
            (str(xs), src, lambda xs=xs: ref_conv(xs, C_OUT, 3, 1, 1, 1, groups=groups, bias=bias))
        )
    compare(cases)


PAD_MODES = ["reflect", "replicate", "circular", "symmetric"]  # zeros: test_conv
PAD_MODE_GRID = [
    pytest.param(mode, rank, pad, id=f"{mode}-{rank}d-pad_{sid(pad)}")
    for mode in PAD_MODES
    for rank in (1, 2, 3)
    for pad in [1, {1: 3, 2: "1x3", 3: "1x0x2"}[rank], "same", "valid", "full"]
]


@pytest.mark.parametrize(("mode", "rank", "pad"), PAD_MODE_GRID)
def test_conv_pad_mode(mode: str, rank: int, pad: Spec) -> None:
    cases = []
    for k in (2, 3):
        for s in (1, 2):
            for d in (1, 2):
                for size in SIZES_TINY[rank]:
                    xs = (C_IN, *size)
                    src = program(
                        xs, f"conv {C_OUT} {k} {kv(stride=s, pad=pad, dilation=d, pad_mode=mode)}"
                    )
                    cases.append(
                        (
                            f"{xs} k={k} s={s} d={d}",
                            src,
                            lambda xs=xs, k=k, s=s, d=d: ref_conv(
                                xs, C_OUT, k, s, d, pad, pad_mode=mode
                            ),
                        )
                    )
    compare(cases)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular", "symmetric"])
@pytest.mark.parametrize("rank", [1, 2])
def test_conv_pad_mode_limits(mode: str, rank: int) -> None:
    """Padding as large as (or larger than) the input: accepted exactly when torch/numpy do.

    torch: reflect needs pad < size, circular pad <= size, replicate any pad;
    symmetric: numpy accepts any pad, cnndsl documents a limit of the input size.
    """
    cases = []
    for i in (2, 3, 4):
        for p in range(1, 7):
            xs = (C_IN, *([i] * rank))
            src = program(xs, f"conv {C_OUT} 1 {kv(pad=p, pad_mode=mode)}")
            cases.append(
                (
                    f"{xs} pad={p}",
                    src,
                    lambda xs=xs, p=p: ref_conv(xs, C_OUT, 1, 1, 1, p, pad_mode=mode),
                )
            )
    compare(cases)


# --------------------------------------------------------------------------- deconv
def ref_deconv(
    x_shape: tuple[int, ...],
    out: int,
    k: Spec,
    s: Spec,
    d: Spec,
    pad: Spec,
    output_pad: Spec = 0,
    groups: int = 1,
    bias: bool = True,
) -> dict[str, Any]:
    rank = len(x_shape) - 1
    kk, ss, dd = per_dim(k, rank), per_dim(s, rank), per_dim(d, rank)
    x = torch.zeros(1, *x_shape)
    if pad == "same":
        # §8: output = input × stride.  Run the unpadded transposed conv, then crop
        # (or extend, when the kernel is smaller than the stride) to that size.
        conv = DECONV[rank](x_shape[0], out, kk, stride=ss, dilation=dd, groups=groups, bias=bias)
        y = conv(x)
        extra = [(n - i * v) for n, i, v in zip(y.shape[2:], x_shape[1:], ss)]
        y = F.pad(y, fpad([(-(e // 2), -(e - e // 2)) for e in extra]))
        assert tuple(y.shape[2:]) == tuple(i * v for i, v in zip(x_shape[1:], ss))
    else:
        conv = DECONV[rank](
            x_shape[0],
            out,
            kk,
            stride=ss,
            dilation=dd,
            groups=groups,
            bias=bias,
            padding=per_dim(pad, rank),
            output_padding=per_dim(output_pad, rank),
        )
        y = conv(x)
    return ref_result(y, [conv], deconv_macs(conv, x))


DECONV_GRID = [
    pytest.param(rank, pad, s, d, op, id=f"deconv-{rank}d-pad_{sid(pad)}-s{s}-d{d}-op{op}")
    for rank in (1, 2, 3)
    for pad in {1: [0, 1, 2], 2: [0, 1, 2, "1x2"], 3: [0, 1, "0x1x2"]}[rank]
    for s in (1, 2, 3)
    for d in (1, 2)
    for op in (0, 1)
] + [
    pytest.param(rank, "same", s, d, 0, id=f"deconv-{rank}d-pad_same-s{s}-d{d}")
    for rank in (1, 2, 3)
    for s in (1, 2, 3)
    for d in (1, 2)
]


@pytest.mark.parametrize(("rank", "pad", "s", "d", "op"), DECONV_GRID)
def test_deconv(rank: int, pad: Spec, s: int, d: int, op: int) -> None:
    cases = []
    for k in KERNELS[rank]:
        for size in SIZES_TINY[rank]:
            xs = (C_IN, *size)
            out_pad = op if op else None
            src = program(
                xs, f"deconv {C_OUT} {k} {kv(stride=s, pad=pad, output_pad=out_pad, dilation=d)}"
            )
            cases.append(
                (f"{xs} k={k}", src, lambda xs=xs, k=k: ref_deconv(xs, C_OUT, k, s, d, pad, op))
            )
    compare(cases)


@pytest.mark.parametrize("groups", [1, 2, 3])
@pytest.mark.parametrize("bias", [True, False])
def test_deconv_groups_bias(bias: bool, groups: int) -> None:
    cases = []
    for size in SIZES[2][1:3]:
        xs = (C_IN, *size)
        src = program(xs, f"deconv {C_OUT} 3 {kv(stride=2, pad=1, groups=groups, bias=bias)}")
        cases.append(
            (
                str(xs),
                src,
                lambda xs=xs: ref_deconv(xs, C_OUT, 3, 2, 1, 1, groups=groups, bias=bias),
            )
        )
    compare(cases)


# --------------------------------------------------------------------------- dwconv, sepconv
def ref_dwconv(
    x_shape: tuple[int, ...], k: int, s: int, d: int, pad: Spec, mult: int, bias: bool = True
) -> dict[str, Any]:
    c = x_shape[0]
    rank = len(x_shape) - 1
    kk, ss, dd = per_dim(k, rank), per_dim(s, rank), per_dim(d, rank)
    x = torch.zeros(1, *x_shape)
    conv = CONV[rank](c, c * mult, kk, stride=ss, dilation=dd, groups=c, bias=bias)
    y = conv(pad_input(x, contract_pads(pad, kk, ss, dd, x_shape[1:]), "zeros"))
    return ref_result(y, [conv], conv_macs(conv, y))


def ref_sepconv(
    x_shape: tuple[int, ...], out: int, k: int, s: int, d: int, pad: Spec, bias: bool = True
) -> dict[str, Any]:
    c = x_shape[0]
    rank = len(x_shape) - 1
    kk, ss, dd = per_dim(k, rank), per_dim(s, rank), per_dim(d, rank)
    x = torch.zeros(1, *x_shape)
    depthwise = CONV[rank](c, c, kk, stride=ss, dilation=dd, groups=c, bias=False)
    pointwise = CONV[rank](c, out, 1, bias=bias)
    h = depthwise(pad_input(x, contract_pads(pad, kk, ss, dd, x_shape[1:]), "zeros"))
    y = pointwise(h)
    return ref_result(y, [depthwise, pointwise], conv_macs(depthwise, h) + conv_macs(pointwise, y))


DW_GRID = [
    pytest.param(op, rank, pad, s, d, id=f"{op}-{rank}d-pad_{sid(pad)}-s{s}-d{d}")
    for op in ("dwconv", "sepconv")
    for rank in (1, 2, 3)
    for pad in [0, 1, "same", "valid", "full"]
    for s in (1, 2)
    for d in (1, 2)
]


@pytest.mark.parametrize(("op", "rank", "pad", "s", "d"), DW_GRID)
def test_dwconv_sepconv(op: str, rank: int, pad: Spec, s: int, d: int) -> None:
    cases = []
    for k in (2, 3):
        for size in SIZES_TINY[rank]:
            xs = (C_IN, *size)
            if op == "dwconv":
                for mult in (1, 2):
                    src = program(xs, f"dwconv {k} {kv(stride=s, pad=pad, dilation=d, mult=mult)}")
                    cases.append(
                        (
                            f"{xs} k={k} mult={mult}",
                            src,
                            lambda xs=xs, k=k, mult=mult: ref_dwconv(xs, k, s, d, pad, mult),
                        )
                    )
            else:
                src = program(xs, f"sepconv {C_OUT} {k} {kv(stride=s, pad=pad, dilation=d)}")
                cases.append(
                    (f"{xs} k={k}", src, lambda xs=xs, k=k: ref_sepconv(xs, C_OUT, k, s, d, pad))
                )
    compare(cases)


@pytest.mark.parametrize("op", ["dwconv", "sepconv"])
def test_dwconv_sepconv_no_bias(op: str) -> None:
    xs = (C_IN, 7, 8)
    if op == "dwconv":
        src = program(xs, "dwconv 3 pad=1 mult=3 bias=false")
        compare([("no bias", src, lambda: ref_dwconv(xs, 3, 1, 1, 1, 3, bias=False))])
    else:
        src = program(xs, f"sepconv {C_OUT} 3 pad=1 bias=false")
        compare([("no bias", src, lambda: ref_sepconv(xs, C_OUT, 3, 1, 1, 1, bias=False))])


# --------------------------------------------------------------------------- pools
def aten_pool_out(i: int, k: int, pl: int, pr: int, s: int, ceil: bool) -> int:
    """Port of ATen's ``pooling_output_shape_pad_lr`` (dilation 1)."""
    o = (i + pl + pr - (k - 1) - 1 + (s - 1 if ceil else 0)) // s + 1
    if ceil and (o - 1) * s >= i + pl:
        o -= 1
    return o


def ref_pool(
    op: str,
    x_shape: tuple[int, ...],
    k: Spec,
    s: Spec | None,
    pad: Spec,
    ceil: bool,
    count_pad: bool = True,
) -> dict[str, Any]:
    rank = len(x_shape) - 1
    kk = per_dim(k, rank)
    ss = per_dim(s, rank) if s is not None else kk
    x = torch.zeros(1, *x_shape)
    avg = op == "avgpool"

    def layer(padding: Any) -> Any:
        if avg:
            return AVGPOOL[rank](
                kk, ss, padding=padding, ceil_mode=ceil, count_include_pad=count_pad
            )
        return MAXPOOL[rank](kk, ss, padding=padding, ceil_mode=ceil)  # minpool = -max(-x)

    if pad not in ("same", "valid", "full"):
        pool = layer(per_dim(pad, rank))  # torch's own padding (at most k // 2)
        return ref_result(pool(x), [pool])
    pads = contract_pads(pad, kk, ss, (1,) * rank, x_shape[1:])
    pool = layer(0)
    y = pool(pad_input(x, pads, "zeros", value=0.0 if avg else -math.inf))
    if ceil and pad == "full":
        # F.pad makes the end padding part of torch's input, where its ceil rule lets a
        # window start; §8 (and ATen's pad_lr rule) does not: use the ported formula.
        out = [
            aten_pool_out(i, a, pb, pa, b, True)
            for i, a, b, (pb, pa) in zip(x_shape[1:], kk, ss, pads)
        ]
        if min(out) < 1:
            raise RuntimeError("Output size is too small")
        return {"shape": (x_shape[0], *out), "params": 0, "buffers": 0, "macs": 0}
    return ref_result(y, [pool])


POOL_KERNELS = {1: [1, 2, 3, 4, 5], 2: [2, 3, 4, "3x2"], 3: [2, 3, "1x2x3"]}
POOL_STRIDES = {1: [None, 1, 2, 3], 2: [None, 1, 2, 3, "2x1"], 3: [None, 1, 2]}
POOL_PADS = {
    1: [0, 1, 2, "same", "valid", "full"],
    2: [0, 1, "1x0", "same", "valid", "full"],
    3: [0, 1, "same", "full"],
}
POOL_GRID = [
    pytest.param(
        op,
        rank,
        pad,
        s,
        ceil,
        id=f"{op}-{rank}d-pad_{sid(pad)}-s{s if s is not None else 'k'}-"
        f"{'ceil' if ceil else 'floor'}",
    )
    for op in ("maxpool", "avgpool", "minpool")
    for rank in (1, 2, 3)
    for pad in POOL_PADS[rank]
    for s in POOL_STRIDES[rank]
    for ceil in (False, True)
    if op != "minpool" or rank == 2  # minpool has maxpool's shapes; one rank suffices
]
# maxpool gets the full grid; avgpool and minpool (same arithmetic in torch) a lighter one
POOL_LIGHT_KERNELS = {1: [2, 3], 2: [3, "3x2"], 3: [2, 3]}


@pytest.mark.parametrize(("op", "rank", "pad", "s", "ceil"), POOL_GRID)
def test_pool(op: str, rank: int, pad: Spec, s: Spec | None, ceil: bool) -> None:
    cases = []
    full = op == "maxpool"
    for k in (POOL_KERNELS if full else POOL_LIGHT_KERNELS)[rank]:
        for size in (SIZES_SMALL if full else SIZES_TINY)[rank]:
            xs = (C_IN, *size)
            src = program(xs, f"{op} {k} {kv(stride=s, pad=pad, ceil=ceil)}")
            cases.append((f"{xs} k={k}", src, lambda xs=xs, k=k: ref_pool(op, xs, k, s, pad, ceil)))
    compare(cases)


@pytest.mark.parametrize("pad", [0, 1, "same", "full"])
def test_avgpool_count_pad_false(pad: Spec) -> None:
    cases = []
    for k in (2, 3):
        for size in SIZES[2]:
            xs = (C_IN, *size)
            src = program(xs, f"avgpool {k} {kv(stride=2, pad=pad, ceil=True, count_pad=False)}")
            cases.append(
                (
                    f"{xs} k={k}",
                    src,
                    lambda xs=xs, k=k: ref_pool("avgpool", xs, k, 2, pad, True, count_pad=False),
                )
            )
    compare(cases)


def test_pool_formula_port_matches_torch() -> None:
    """The ATen port used for ``full`` + ceil agrees with torch wherever torch can pool."""
    bad = []
    for i in range(1, 14):
        for k in range(1, 6):
            for s in range(1, 4):
                for p in range(0, k // 2 + 1):
                    for ceil in (False, True):
                        try:
                            n = MAXPOOL[1](k, s, p, ceil_mode=ceil)(torch.zeros(1, 1, i))
                            got: int | None = n.shape[-1]
                        except RuntimeError:
                            got = None
                        port = aten_pool_out(i, k, p, p, s, ceil)
                        if (port if port >= 1 else None) != got:
                            bad.append((i, k, s, p, ceil, port, got))
    assert not bad


LP_GRID = [
    pytest.param(
        rank, s, ceil, p, id=f"lppool-{rank}d-s{s if s else 'k'}-{'ceil' if ceil else 'floor'}-p{p}"
    )
    for rank in (1, 2, 3)
    for s in (None, 1, 2, 3)
    for ceil in (False, True)
    for p in ((1, 3) if rank == 2 else (2,))
]


@pytest.mark.parametrize(("rank", "s", "ceil", "p"), LP_GRID)
def test_lppool(rank: int, s: int | None, ceil: bool, p: int) -> None:
    cases = []
    for k in POOL_KERNELS[rank]:
        for size in SIZES_SMALL[rank]:
            xs = (C_IN, *size)
            src = program(xs, f"lppool {k} {kv(p=p, stride=s, ceil=ceil)}")

            def ref(xs: tuple[int, ...] = xs, k: Spec = k) -> dict[str, Any]:
                # LPPool1d wants plain ints
                kk: Any = per_dim(k, rank) if rank > 1 else k
                ss: Any = (per_dim(s, rank) if rank > 1 else s) if s else None
                pool = LPPOOL[rank](p, kk, ss, ceil_mode=ceil)
                return ref_result(pool(torch.zeros(1, *xs)), [pool])

            cases.append((f"{xs} k={k}", src, ref))
    compare(cases)


@pytest.mark.parametrize("kind", ["adaptive_avgpool", "adaptive_maxpool", "gap", "gmp"])
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_adaptive_and_global_pools(kind: str, rank: int) -> None:
    cases = []
    outs: list[Spec] = [1, 2, 3, 5, 7]
    if rank > 1:
        outs.append("x".join(str(v) for v in (1, 3, 2)[:rank]))
    for size in SIZES[rank]:
        xs = (C_IN, *size)
        for o in outs if kind.startswith("adaptive") else [None]:
            src = program(xs, kind if o is None else f"{kind} {o}")

            def ref(xs: tuple[int, ...] = xs, o: Spec | None = o) -> dict[str, Any]:
                table = ADAPTIVE_MAX if kind in ("adaptive_maxpool", "gmp") else ADAPTIVE_AVG
                pool = table[rank](1 if o is None else per_dim(o, rank))
                return ref_result(pool(torch.zeros(1, *xs)), [pool])

            cases.append((f"{xs} size={o}", src, ref))
    compare(cases)


# --------------------------------------------------------------------------- norms and the rest
def _run(xs: tuple[int, ...], *modules: Any, macs: int = 0) -> dict[str, Any]:
    y = torch.zeros(1, *xs)
    for m in modules:
        m.eval()
        y = m(y)
    return ref_result(y, modules, macs)


RANK_SHAPES = {0: (12,), 1: (12, 7), 2: (12, 5, 6), 3: (12, 3, 4, 5)}

ELEMENTWISE: list[tuple[str, str, Callable[[int, int], Any], tuple[int, ...]]] = [
    # (id, .cnn step, torch module factory (channels, rank), ranks)
    ("bn", "bn", lambda c, r: BATCHNORM[r](c), (0, 1, 2, 3)),
    ("bn-noaffine", "bn affine=false", lambda c, r: BATCHNORM[r](c, affine=False), (0, 1, 2, 3)),
    ("groupnorm1", "groupnorm 1", lambda c, r: nn.GroupNorm(1, c), (0, 1, 2, 3)),
    ("groupnorm3", "groupnorm 3", lambda c, r: nn.GroupNorm(3, c), (0, 1, 2, 3)),
    ("groupnorm12", "groupnorm 12", lambda c, r: nn.GroupNorm(12, c), (1, 2, 3)),
    ("groupnorm5", "groupnorm 5", lambda c, r: nn.GroupNorm(5, c), (1, 2)),  # rejected
    (
        "layernorm",
        "layernorm",
        lambda c, r: nn.LayerNorm(c) if r == 0 else nn.GroupNorm(1, c),
        (0, 1, 2, 3),
    ),
    ("instancenorm", "instancenorm", lambda c, r: INSTANCENORM[r](c), (1, 2, 3)),
    (
        "instancenorm-affine",
        "instancenorm affine=true",
        lambda c, r: INSTANCENORM[r](c, affine=True),
        (1, 2, 3),
    ),
    ("lrn1", "lrn 1", lambda c, r: nn.LocalResponseNorm(1), (1, 2, 3)),
    (
        "lrn5",
        "lrn 5 alpha=0.001 beta=0.5 k=2",
        lambda c, r: nn.LocalResponseNorm(5, 1e-3, 0.5, 2),
        (0, 1, 2, 3),
    ),  # torch rejects a flat input (needs 3-D or more)
    ("prelu", "prelu", lambda c, r: nn.PReLU(), (0, 1, 2, 3)),
    ("prelu-per-channel", "prelu per_channel=true", lambda c, r: nn.PReLU(c), (0, 1, 2, 3)),
    ("dropout", "dropout 0.3", lambda c, r: nn.Dropout(0.3), (0, 1, 2, 3)),
    ("dropout2d", "dropout2d 0.3", lambda c, r: DROPOUT_CH[r](0.3), (1, 2, 3)),
    ("shuffle3", "shuffle 3", lambda c, r: nn.ChannelShuffle(3), (1, 2, 3)),
    ("shuffle5", "shuffle 5", lambda c, r: nn.ChannelShuffle(5), (1, 2, 3)),  # rejected
    ("relu", "relu", lambda c, r: nn.ReLU(), (0, 1, 2, 3)),
    ("relu6", "relu6", lambda c, r: nn.ReLU6(), (0, 2)),
    ("sigmoid", "sigmoid", lambda c, r: nn.Sigmoid(), (0, 2)),
    ("tanh", "tanh", lambda c, r: nn.Tanh(), (0, 2)),
    ("gelu", "gelu", lambda c, r: nn.GELU(), (0, 2)),
    ("silu", "silu", lambda c, r: nn.SiLU(), (0, 2)),
    ("hardswish", "hardswish", lambda c, r: nn.Hardswish(), (0, 2)),
    ("hardsigmoid", "hardsigmoid", lambda c, r: nn.Hardsigmoid(), (0, 2)),
    ("mish", "mish", lambda c, r: nn.Mish(), (0, 2)),
    ("identity", "identity", lambda c, r: nn.Identity(), (0, 2)),
    ("leaky_relu", "leaky_relu slope=0.2", lambda c, r: nn.LeakyReLU(0.2), (0, 2)),
    ("elu", "elu alpha=0.5", lambda c, r: nn.ELU(0.5), (0, 2)),
    ("softmax", "softmax", lambda c, r: nn.Softmax(dim=1), (0, 1, 2, 3)),
    ("log_softmax", "log_softmax", lambda c, r: nn.LogSoftmax(dim=1), (0, 2)),
]
ELEMENTWISE_GRID = [
    pytest.param(step, make, rank, id=f"{name}-{rank}d")
    for name, step, make, ranks in ELEMENTWISE
    for rank in ranks
]


@pytest.mark.parametrize(("step", "make", "rank"), ELEMENTWISE_GRID)
def test_norm_activation_misc(step: str, make: Callable[[int, int], Any], rank: int) -> None:
    xs = RANK_SHAPES[rank]
    compare([(str(xs), program(xs, step), lambda: _run(xs, make(xs[0], rank)))])


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("rank", [0, 1, 2, 3])
def test_flatten_linear(rank: int, bias: bool) -> None:
    cases = []
    for xs in [RANK_SHAPES[0]] if rank == 0 else [(C_IN, *s) for s in SIZES[rank][1:3]]:
        n = math.prod(xs)
        steps = ([] if rank == 0 else ["flatten"]) + [f"linear 10 {kv(bias=bias)}"]

        def ref(xs: tuple[int, ...] = xs, n: int = n) -> dict[str, Any]:
            fc = nn.Linear(n, 10, bias=bias)
            mods = ([] if rank == 0 else [nn.Flatten()]) + [fc]
            return _run(xs, *mods, macs=fc.weight.numel())  # §9: in × out

        cases.append((str(xs), program(xs, *steps), ref))
        if rank:
            cases.append(
                (f"{xs} flatten", program(xs, "flatten"), lambda xs=xs: _run(xs, nn.Flatten()))
            )
    compare(cases)


UPSAMPLE_GRID = [
    pytest.param(rank, scale, mode, id=f"upsample-{rank}d-x{scale}-{mode}")
    for rank in (1, 2, 3)
    for scale in (1, 2, 3, 1.5, {1: 4, 2: "2x3", 3: "1x2x3"}[rank])
    for mode in ("nearest", "bilinear")
    if mode == "nearest" or rank == 2
]


@pytest.mark.parametrize(("rank", "scale", "mode"), UPSAMPLE_GRID)
def test_upsample(rank: int, scale: Spec | float, mode: str) -> None:
    cases = []
    for size in SIZES[rank]:
        xs = (C_IN, *size)
        factor = (
            float(scale)
            if not isinstance(scale, str)
            else tuple(float(v) for v in per_dim(scale, rank))
        )
        src = program(xs, f"upsample {scale} mode={mode}")
        cases.append(
            (
                str(xs),
                src,
                lambda xs=xs, factor=factor: _run(xs, nn.Upsample(scale_factor=factor, mode=mode)),
            )
        )
    compare(cases)


# --------------------------------------------------------------------------- rejections
REJECT = [
    # (id, input shape, step, torch code that must raise)
    (
        "conv-kernel-larger-than-input",
        (3, 5, 5),
        "conv 4 7x7",
        lambda: nn.Conv2d(3, 4, 7)(torch.zeros(1, 3, 5, 5)),
    ),
    (
        "conv-kernel-larger-than-padded",
        (3, 3, 3),
        "conv 4 6x6 pad=1",
        lambda: nn.Conv2d(3, 4, 6, padding=1)(torch.zeros(1, 3, 3, 3)),
    ),
    (
        "conv-dilated-kernel-larger",
        (3, 5, 5),
        "conv 4 3x3 dilation=3",
        lambda: nn.Conv2d(3, 4, 3, dilation=3)(torch.zeros(1, 3, 5, 5)),
    ),
    ("conv-1d-kernel-larger", (3, 4), "conv 4 5", lambda: nn.Conv1d(3, 4, 5)(torch.zeros(1, 3, 4))),
    (
        "conv-3d-kernel-larger",
        (3, 2, 8, 8),
        "conv 4 3",
        lambda: nn.Conv3d(3, 4, 3)(torch.zeros(1, 3, 2, 8, 8)),
    ),
    (
        "conv-groups-not-dividing-in",
        (4, 8, 8),
        "conv 6 3x3 groups=3",
        lambda: nn.Conv2d(4, 6, 3, groups=3),
    ),
    (
        "conv-groups-not-dividing-out",
        (4, 8, 8),
        "conv 6 3x3 groups=4",
        lambda: nn.Conv2d(4, 6, 3, groups=4),
    ),
    (
        "deconv-groups-not-dividing",
        (4, 8, 8),
        "deconv 6 3x3 groups=4",
        lambda: nn.ConvTranspose2d(4, 6, 3, groups=4),
    ),
    (
        "deconv-non-positive-output",
        (3, 5),
        "deconv 4 1 pad=3",
        lambda: nn.ConvTranspose1d(3, 4, 1, padding=3)(torch.zeros(1, 3, 5)),
    ),
    (
        "deconv-zero-output",
        (3, 4, 4),
        "deconv 4 1x1 pad=2",
        lambda: nn.ConvTranspose2d(3, 4, 1, padding=2)(torch.zeros(1, 3, 4, 4)),
    ),
    (
        "deconv-output-pad-too-large",
        (3, 5, 5),
        "deconv 4 3x3 stride=2 output_pad=2",
        lambda: nn.ConvTranspose2d(3, 4, 3, stride=2, output_padding=2)(torch.zeros(1, 3, 5, 5)),
    ),
    (
        "reflect-pad-equal-to-input",
        (3, 4, 4),
        "conv 4 3x3 pad=4 pad_mode=reflect",
        lambda: nn.Conv2d(3, 4, 3, padding=4, padding_mode="reflect")(torch.zeros(1, 3, 4, 4)),
    ),
    (
        "reflect-pad-larger-than-input",
        (3, 3),
        "conv 4 3 pad=5 pad_mode=reflect",
        lambda: nn.Conv1d(3, 4, 3, padding=5, padding_mode="reflect")(torch.zeros(1, 3, 3)),
    ),
    (
        "reflect-full-pad-too-large",
        (3, 4, 4),
        "conv 4 5x5 pad=full pad_mode=reflect",
        lambda: F.pad(torch.zeros(1, 3, 4, 4), (4, 4, 4, 4), mode="reflect"),
    ),
    (
        "circular-pad-wraps-twice",
        (3, 4, 4),
        "conv 4 3x3 pad=5 pad_mode=circular",
        lambda: nn.Conv2d(3, 4, 3, padding=5, padding_mode="circular")(torch.zeros(1, 3, 4, 4)),
    ),
    (
        "maxpool-pad-over-half-kernel",
        (3, 8, 8),
        "maxpool 3x3 stride=1 pad=2",
        lambda: nn.MaxPool2d(3, 1, 2)(torch.zeros(1, 3, 8, 8)),
    ),
    (
        "avgpool-pad-over-half-kernel",
        (3, 8, 8),
        "avgpool 2x2 pad=2",
        lambda: nn.AvgPool2d(2, padding=2)(torch.zeros(1, 3, 8, 8)),
    ),
    (
        "maxpool-kernel-larger-than-input",
        (3, 5, 5),
        "maxpool 7x7",
        lambda: nn.MaxPool2d(7)(torch.zeros(1, 3, 5, 5)),
    ),
    (
        "avgpool-1d-kernel-larger",
        (3, 2),
        "avgpool 3",
        lambda: nn.AvgPool1d(3)(torch.zeros(1, 3, 2)),
    ),
    (
        "lppool-kernel-larger",
        (3, 4, 4),
        "lppool 5x5",
        lambda: nn.LPPool2d(2, 5)(torch.zeros(1, 3, 4, 4)),
    ),
    ("groupnorm-not-dividing", (12, 4, 4), "groupnorm 5", lambda: nn.GroupNorm(5, 12)),
    (
        "shuffle-not-dividing",
        (12, 4, 4),
        "shuffle 5",
        lambda: nn.ChannelShuffle(5)(torch.zeros(1, 12, 4, 4)),
    ),
    ("lrn-on-flat-input", (12,), "lrn 3", lambda: nn.LocalResponseNorm(3)(torch.zeros(1, 12))),
    (
        "dwconv-kernel-larger",
        (4, 3, 3),
        "dwconv 5x5",
        lambda: nn.Conv2d(4, 4, 5, groups=4)(torch.zeros(1, 4, 3, 3)),
    ),
    (
        "sepconv-kernel-larger",
        (4, 3, 3),
        "sepconv 8 5x5",
        lambda: nn.Conv2d(4, 4, 5, groups=4)(torch.zeros(1, 4, 3, 3)),
    ),
]


@pytest.mark.parametrize(
    ("in_shape", "step", "torch_code"), [pytest.param(*r[1:], id=r[0]) for r in REJECT]
)
def test_rejected_like_torch(
    in_shape: tuple[int, ...], step: str, torch_code: Callable[[], Any]
) -> None:
    with pytest.raises((RuntimeError, ValueError)), torch.no_grad():
        torch_code()  # the reference: torch refuses it
    with pytest.raises(CnnError):
        summary_json(source=program(in_shape, step))


def test_linear_on_spatial_input_is_rejected() -> None:
    # §8: linear takes a flat input; on C×H×W it is an error whose hint suggests flatten/gap
    with pytest.raises(CnnError) as info:
        summary_json(source=program((3, 4, 4), "linear 10"))
    assert "flatten" in str(info.value) or "gap" in str(info.value)


# --------------------------------------------------------------------------- receptive field
def layers(in_shape: Sequence[int], *steps: str) -> list[dict[str, Any]]:
    return summary_json(source=program(in_shape, *steps))["networks"][0]["layers"]


RF_CASES = [
    # (id, input, steps, expected (rf, jump) of every layer, in order)
    # Three 3×3 convs: rf 1 + 2 = 3, 3 + 2 = 5, 5 + 2 = 7; jump stays 1.
    (
        "three-3x3",
        (3, 32, 32),
        ["conv 8 3x3 pad=1", "conv 8 3x3 pad=1", "conv 8 3x3 pad=1"],
        [([3, 3], [1, 1]), ([5, 5], [1, 1]), ([7, 7], [1, 1])],
    ),
    # conv 7×7 /2: rf 7, jump 2; maxpool 3×3 /2: rf 7 + (3 − 1)·2 = 11, jump 2·2 = 4.
    (
        "resnet-stem",
        (3, 64, 64),
        ["conv 8 7x7 stride=2 pad=3", "maxpool 3x3 stride=2 pad=1"],
        [([7, 7], [2, 2]), ([11, 11], [4, 4])],
    ),
    # dilated 3×3, dilation 2: effective kernel 2·(3 − 1) + 1 = 5.
    ("dilated", (3, 32, 32), ["conv 8 3x3 dilation=2 pad=2"], [([5, 5], [1, 1])]),
    # deconv 2×2 /2: jump 1 / 2 = 0.5.  rf: a transposed conv is a zero-insertion
    # upsampling (jump j/s) followed by a stride-1 conv, so rf = 1 + (2 − 1)·0.5 = 1.5.
    ("deconv-2x2-s2", (3, 8, 8), ["deconv 8 2x2 stride=2"], [([1.5, 1.5], [0.5, 0.5])]),
    # conv 3×3 /2 (rf 3, jump 2), then deconv 2×2 /2: jump 2/2 = 1, rf 3 + 1·1 = 4.
    (
        "conv-then-deconv",
        (3, 16, 16),
        ["conv 8 3x3 stride=2 pad=1", "deconv 8 2x2 stride=2"],
        [([3, 3], [2, 2]), ([4, 4], [1, 1])],
    ),
    # VGG: 3, 5; maxpool 2/2: 5 + 1·1 = 6, jump 2; conv 3×3: 6 + 2·2 = 10.
    (
        "vgg",
        (3, 32, 32),
        ["conv 8 3x3 pad=1", "conv 8 3x3 pad=1", "maxpool 2x2", "conv 8 3x3 pad=1"],
        [([3, 3], [1, 1]), ([5, 5], [1, 1]), ([6, 6], [2, 2]), ([10, 10], [2, 2])],
    ),
    # anisotropic: 1×7 then 7×1 -> [1, 7] then [7, 7].
    (
        "factorised-7",
        (3, 17, 17),
        ["conv 8 1x7 pad=0x3", "conv 8 7x1 pad=3x0"],
        [([1, 7], [1, 1]), ([7, 7], [1, 1])],
    ),
    # 1-D: conv 5 /2: rf 5, jump 2; conv 3 /2: 5 + 2·2 = 9, jump 4.
    ("1d", (1, 100), ["conv 4 5 stride=2", "conv 4 3 stride=2"], [([5], [2]), ([9], [4])]),
    # 3-D: conv 3 /2 (rf 3, jump 2) then avgpool 2: 3 + 1·2 = 5, jump 4.
    (
        "3d",
        (3, 16, 16, 16),
        ["conv 4 3 stride=2 pad=1", "avgpool 2"],
        [([3, 3, 3], [2, 2, 2]), ([5, 5, 5], [4, 4, 4])],
    ),
    # upsample ×2: jump 0.5 (rf 1); conv 3×3: 1 + 2·0.5 = 2.
    (
        "upsample-then-conv",
        (3, 8, 8),
        ["upsample 2", "conv 8 3x3 pad=1"],
        [([1, 1], [0.5, 0.5]), ([2, 2], [0.5, 0.5])],
    ),
    # 5×5 same /2 then 3×3: rf 5, jump 2; 5 + 2·2 = 9. Then flatten: no spatial dims.
    (
        "flatten-ends-rf",
        (3, 16, 16),
        ["conv 8 5x5 stride=2 pad=same", "conv 8 3x3", "flatten"],
        [([5, 5], [2, 2]), ([9, 9], [2, 2]), (None, None)],
    ),
]


@pytest.mark.parametrize(
    ("in_shape", "steps", "expected"), [pytest.param(*c[1:], id=c[0]) for c in RF_CASES]
)
def test_receptive_field(
    in_shape: tuple[int, ...], steps: list[str], expected: list[tuple[Any, Any]]
) -> None:
    rows = layers(in_shape, *steps)
    assert [(r["rf"], r["jump"]) for r in rows] == expected


def test_receptive_field_through_branches_is_the_largest() -> None:
    # concat of a 3×3 and a 5×5 branch: the largest, 5; then a 3×3: 5 + 2 = 7.
    rows = layers((3, 16, 16), "concat { conv 4 3x3 pad=1 ; conv 4 5x5 pad=2 }", "conv 4 3x3 pad=1")
    assert rows[-1]["rf"] == [7, 7]


@pytest.mark.parametrize(
    "steps",
    [
        pytest.param(["conv 1 3x3", "conv 1 3x3", "conv 1 3x3"], id="three-3x3"),
        pytest.param(["conv 1 7x7 stride=2", "avgpool 3x3 stride=2"], id="stem"),
        pytest.param(["conv 1 3x3 dilation=2", "conv 1 3x3 stride=2", "conv 1 3x3"], id="mixed"),
        pytest.param(["conv 1 1x7", "conv 1 5x1 stride=2", "avgpool 2x3"], id="anisotropic"),
    ],
)
def test_receptive_field_matches_torch_gradient(steps: list[str]) -> None:
    """The rf of the last layer is the extent of input pixels one output pixel depends on.

    Built with all-ones weights in torch, the gradient of the centre output with respect
    to the input is non-zero exactly on the receptive field.
    """
    xs = (1, 41, 41)
    rows = layers(xs, *steps)
    mods = []
    for step in steps:
        words = step.split()
        kw = dict(w.split("=") for w in words if "=" in w)
        k = per_dim(words[2] if words[0] == "conv" else words[1], 2)
        stride = per_dim(kw["stride"], 2) if "stride" in kw else (1, 1)
        if words[0] == "conv":
            m = nn.Conv2d(1, 1, k, stride=stride, dilation=int(kw.get("dilation", 1)), bias=False)
            nn.init.ones_(m.weight)
        else:
            m = nn.AvgPool2d(k, stride if "stride" in kw else k)
        mods.append(m)
    x = torch.ones(1, 1, *xs[1:], requires_grad=True)
    y = x
    for m in mods:
        y = m(y)
    h, w = y.shape[2] // 2, y.shape[3] // 2
    y[0, 0, h, w].backward()
    nz = x.grad[0, 0].nonzero()
    extent = [int(nz[:, 0].max() - nz[:, 0].min() + 1), int(nz[:, 1].max() - nz[:, 1].min() + 1)]
    assert rows[-1]["rf"] == extent
