"""Pooling: max/avg/min/L2 (Lp) pools, adaptive pools, global pools."""

from __future__ import annotations

from typing import Any

from ..text import size_text
from . import Args, Op, P, Shape, ShapeError, register
from .conv import _same_at_stride
from .spatial import resolve_padding, stride_text, window_out


class _Pool(Op):
    category = "pool"
    ranks = (1, 2, 3)
    signature: tuple[P, ...] = (
        P("kernel", "size", positional=True),
        P("stride", "size", None),
        P("pad", "pad", 0),
        P("ceil", "bool", False),
    )

    def resolve(self, x: Shape, a: Args) -> Args:
        stride = a["stride"] or a["kernel"]
        ones = tuple(1 for _ in a["kernel"])
        pads = resolve_padding(a["pad"], a["kernel"], stride, ones, x[1:])
        if a["pad"] not in ("same", "valid", "full"):
            for (p, _), k in zip(pads, a["kernel"], strict=True):
                if p > k // 2:
                    raise ShapeError(
                        f"pool padding {p} is more than half the kernel {k}",
                        "PyTorch pools allow at most kernel // 2; use pad=same or a larger kernel",
                        arg="pad",
                    )
        return a.replace(stride=stride, padding=pads)

    def shape(self, x: Shape, a: Args) -> Shape:
        ones = tuple(1 for _ in a["kernel"])
        return (
            x[0],
            *window_out(x[1:], a["kernel"], a["stride"], ones, a["padding"], a.get("ceil", False)),
        )

    def window(self, x: Shape, y: Shape, a: Args) -> tuple[tuple[float, float], ...]:
        return tuple((float(k), float(s)) for k, s in zip(a["kernel"], a["stride"], strict=True))

    def describe(self, a: Args) -> str:
        return f"{self.name} {size_text(a['kernel'])}{stride_text(a['stride'])}"

    def pool_args(self, e: Any) -> list[str]:
        args = [f"kernel_size={e.size('kernel')}"]
        if e.given("stride"):
            args.append(f"stride={e.size('stride')}")
        return args

    def torch(self, e: Any) -> str:
        r = e.rank
        if self.name != "lppool" and not e.const("ceil") and _same_at_stride(e):
            # the padding depends on the input's size: worked out in forward (§8)
            kind = {"maxpool": "Max", "minpool": "Min", "avgpool": "Avg"}[self.name]
            e.need("_same_pad")
            kernel = list(e.resolved("kernel"))
            stride = list(e.resolved("stride"))
            return f"{e.need(f'{kind}Pool{r}dSame')}({kernel}, {stride})"
        args = self.pool_args(e)
        pad, helper_pad = e.padding()
        same = e.const("pad") == "same"
        if helper_pad is None and self.name == "maxpool":
            args += [f"padding={pad}"] if pad != "0" else []
            return f"nn.MaxPool{r}d({', '.join(args + e.opt('ceil', False, 'ceil_mode'))})"
        if helper_pad is None and self.name == "avgpool":
            args += [f"padding={pad}"] if pad != "0" else []
            args += e.opt("ceil", False, "ceil_mode")
            if same and pad != "0":
                args.append("count_include_pad=False")
            else:
                args += e.opt("count_pad", True, "count_include_pad")
            return f"nn.AvgPool{r}d({', '.join(args)})"
        pairs = helper_pad or e.pad_pairs()
        args += [f"pad={pairs}"] + e.opt("ceil", False, "ceil_mode")
        if self.name == "avgpool":
            count = "False" if same else e.py("count_pad")
            if count != "True":
                args.append(f"count_include_pad={count}")
            return f"{e.need(f'AvgPool{r}dPad')}({', '.join(args)})"
        cls = "MinPool" if self.name == "minpool" else "MaxPool"
        return f"{e.need(f'{cls}{r}dPad')}({', '.join(args)})"


@register
class MaxPool(_Pool):
    name = "maxpool"
    prefix = "maxpool"


@register
class MinPool(_Pool):
    name = "minpool"
    prefix = "minpool"


@register
class AvgPool(_Pool):
    name = "avgpool"
    prefix = "avgpool"
    signature = (*_Pool.signature, P("count_pad", "bool", True))

    def resolve(self, x: Shape, a: Args) -> Args:
        a = super().resolve(x, a)
        _check_avg_pool3d(x, a)
        return a


@register
class LpPool(_Pool):
    name = "lppool"
    prefix = "lppool"
    signature = (
        P("kernel", "size", positional=True),
        P("p", "float", 2.0),
        P("stride", "size", None),
        P("ceil", "bool", False),
    )

    def resolve(self, x: Shape, a: Args) -> Args:
        if a["p"] <= 0:
            raise ShapeError(f"lppool needs p > 0, got {a['p']:g}", arg="p")
        a = a.replace(stride=a["stride"] or a["kernel"], padding=tuple((0, 0) for _ in a["kernel"]))
        _check_avg_pool3d(x, a)
        return a

    def describe(self, a: Args) -> str:
        return f"L{a['p']:g} pool {size_text(a['kernel'])}{stride_text(a['stride'])}"

    def torch(self, e: Any) -> str:
        args = [e.py("p"), *self.pool_args(e), *e.opt("ceil", False, "ceil_mode")]
        return f"nn.LPPool{e.rank}d({', '.join(args)})"


def _check_avg_pool3d(x: Shape, a: Args) -> None:
    """PyTorch's 3-D average pooling (which LPPool3d uses) needs every input size at least
    the kernel, padding included only where it is explicit (an asymmetric or ``same`` pad)."""
    if len(x) != 4:
        return
    pads = a["padding"]
    explicit = any(b != e for b, e in pads)
    for i, k, (b, e) in zip(x[1:], a["kernel"], pads, strict=True):
        if i + (b + e if explicit else 0) < k:
            raise ShapeError(
                f"3-D average pooling needs each input size at least the kernel "
                f"({size_text(a['kernel'])}), got {size_text(x[1:])}",
                "PyTorch's avg_pool3d refuses smaller inputs; use a smaller kernel",
                arg="kernel",
            )


def _adaptive_window(i: int, o: int) -> tuple[float, float]:
    """Largest window and mean stride of PyTorch's adaptive pooling from i to o cells."""
    k = max(-(-((j + 1) * i) // o) - (j * i) // o for j in range(o))
    return float(k), i / o


class _Adaptive(Op):
    category = "pool"
    ranks = (1, 2, 3)
    signature = (P("size", "size", positional=True),)

    def shape(self, x: Shape, a: Args) -> Shape:
        return (x[0], *a["size"])

    def window(self, x: Shape, y: Shape, a: Args) -> tuple[tuple[float, float], ...]:
        return tuple(_adaptive_window(i, o) for i, o in zip(x[1:], y[1:], strict=True))

    def describe(self, a: Args) -> str:
        return f"{self.name} → {size_text(a['size'])}"

    def torch(self, e: Any) -> str:
        kind = "Avg" if self.name == "adaptive_avgpool" else "Max"
        return f"nn.Adaptive{kind}Pool{e.rank}d({e.size('size', tuple)})"


@register
class AdaptiveAvgPool(_Adaptive):
    name = "adaptive_avgpool"
    prefix = "avgpool"


@register
class AdaptiveMaxPool(_Adaptive):
    name = "adaptive_maxpool"
    prefix = "maxpool"


class _Global(Op):
    category = "pool"
    ranks = (1, 2, 3)

    def shape(self, x: Shape, a: Args) -> Shape:
        return (x[0], *(1 for _ in x[1:]))

    def window(self, x: Shape, y: Shape, a: Args) -> tuple[tuple[float, float], ...]:
        return tuple((float(i), float(i)) for i in x[1:])


@register
class GlobalAvgPool(_Global):
    name = "gap"
    prefix = "gap"

    def describe(self, a: Args) -> str:
        return "global avgpool"

    def torch(self, e: Any) -> str:
        return f"nn.AdaptiveAvgPool{e.rank}d({e.ones()})"


@register
class GlobalMaxPool(_Global):
    name = "gmp"
    prefix = "gmp"

    def describe(self, a: Args) -> str:
        return "global maxpool"

    def torch(self, e: Any) -> str:
        return f"nn.AdaptiveMaxPool{e.rank}d({e.ones()})"
