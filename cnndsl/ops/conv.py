"""Convolutions: ``conv``, ``deconv`` (transposed), ``dwconv`` (depthwise), ``sepconv``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..expr import mul
from ..syntax import Expr
from ..text import size_text
from . import Args, Op, P, Shape, ShapeError, prod, register
from .spatial import resolve_padding, stride_text, window_out

PAD_MODES = ("zeros", "reflect", "replicate", "circular", "symmetric")

_WINDOW = (
    P("stride", "size", 1),
    P("pad", "pad", 0),
    P("dilation", "size", 1),
)


def _same_at_stride(e: Any) -> bool:
    """``pad=same`` where some instance strides by more than 1: the padding then depends on
    the input's size, so generated code works it out at run time (§8)."""
    if e.const("pad") != "same":
        return False
    stride = e.const("stride")
    if stride is not None:
        return any(v > 1 for v in (stride if isinstance(stride, tuple) else (stride,)))
    return any(v > 1 for inst in e.instances for v in inst.args["stride"])


class _Conv(Op):
    init_kind = "conv"

    def init_classes(self, x: Shape, a: Args) -> tuple[str, ...]:
        r = max(len(x) - 1, 1)
        return (f"nn.ConvTranspose{r}d" if self.transposed else f"nn.Conv{r}d",)

    category = "conv"
    ranks = (1, 2, 3)

    def groups(self, x: Shape, a: Args) -> int:
        return int(a["groups"])

    def out_channels(self, x: Shape, a: Args) -> int:
        return int(a["out"])

    def resolve(self, x: Shape, a: Args) -> Args:
        sizes = x[1:]
        pads = resolve_padding(a["pad"], a["kernel"], a["stride"], a["dilation"], sizes)
        a = a.replace(padding=pads)
        g = self.groups(x, a)
        cin, cout = x[0], self.out_channels(x, a)
        if g < 1:
            raise ShapeError(f"groups must be at least 1, got {g}", arg="groups")
        if cin % g or cout % g:
            which = "input" if cin % g else "output"
            n = cin if cin % g else cout
            raise ShapeError(
                f"groups={g} does not divide the {n} {which} channels",
                f"choose groups that divide both {cin} and {cout}",
                arg="groups",
            )
        mode = a.get("pad_mode", "zeros")
        for (pb, pa), i in zip(pads, sizes, strict=True):
            limit = i - 1 if mode == "reflect" else i
            if mode not in ("zeros", "replicate") and max(pb, pa) > limit:
                raise ShapeError(
                    f"pad_mode={mode} needs padding of at most {limit} for an "
                    f"input of size {i}, got {max(pb, pa)}",
                    arg="pad",
                )
        return a

    def shape(self, x: Shape, a: Args) -> Shape:
        out = window_out(x[1:], a["kernel"], a["stride"], a["dilation"], a["padding"])
        return (self.out_channels(x, a), *out)

    def count_params(self, x: Shape, a: Args) -> tuple[int, int]:
        cout = self.out_channels(x, a)
        w = cout * (x[0] // self.groups(x, a)) * prod(a["kernel"])
        return w + (cout if a["bias"] else 0), 0

    def count_macs(self, x: Shape, y: Shape, a: Args) -> int:
        return prod(y) * (x[0] // self.groups(x, a)) * prod(a["kernel"])

    def window(self, x: Shape, y: Shape, a: Args) -> tuple[tuple[float, float], ...]:
        return tuple(
            (float(d * (k - 1) + 1), float(s))
            for k, s, d in zip(a["kernel"], a["stride"], a["dilation"], strict=True)
        )

    def torch(self, e: Any) -> str:
        r = e.rank
        cout = e.py("out") if self.name != "dwconv" else e.cout
        args = [e.cin, cout, f"kernel_size={e.size('kernel')}"]
        args += e.opt_size("stride", 1)
        if _same_at_stride(e):  # padding that depends on the input size: worked out in forward
            args += e.opt_size("dilation", 1)
            if self.name == "dwconv":
                args.append(f"groups={e.cin}")
            else:
                args += e.opt("groups", 1)
            args += e.opt("bias", True)
            mode = e.const("pad_mode") if "pad_mode" in self.keywords else "zeros"
            torch_mode = {"zeros": "constant"}.get(mode, mode)
            if torch_mode != "constant":
                args.append(f"pad_mode={torch_mode!r}")
            return f"{e.need(f'Conv{r}dSame')}({', '.join(args)})"
        pad, helper_pad = e.padding()
        mode = e.const("pad_mode") if "pad_mode" in self.keywords else "zeros"
        if helper_pad is None and mode in ("zeros", "reflect", "replicate", "circular"):
            args += [f"padding={pad}"] if pad != "0" else []
        args += e.opt_size("dilation", 1)
        if self.name == "dwconv":
            args.append(f"groups={e.cin}")
        else:
            args += e.opt("groups", 1)
        args += e.opt("bias", True)
        if helper_pad is None:
            if mode not in ("zeros", "symmetric"):
                args.append(f"padding_mode={mode!r}")
            if mode != "symmetric":
                return f"nn.Conv{r}d({', '.join(args)})"
            helper_pad = e.pad_pairs()
        cls = e.need(f"Conv{r}dPad")
        torch_mode = {"zeros": "constant"}.get(mode, mode)
        args.append(f"pad={helper_pad}")
        if torch_mode != "constant":
            args.append(f"pad_mode={torch_mode!r}")
        return f"{cls}({', '.join(args)})"

    def describe(self, a: Args) -> str:
        extra = ""
        if any(d > 1 for d in a["dilation"]):
            extra += f", dilation {size_text(a['dilation'])}"
        if a.get("groups", 1) > 1:
            extra += f", groups {a['groups']}"
        return f"{self.name} {size_text(a['kernel'])}, {a['out']}{stride_text(a['stride'])}{extra}"


@register
class Conv(_Conv):
    name = "conv"
    prefix = "conv"
    signature = (
        P("out", "count", positional=True),
        P("kernel", "size", positional=True),
        *_WINDOW,
        P("groups", "int", 1),
        P("bias", "bool", True),
        P("pad_mode", "enum", "zeros", words=PAD_MODES),
    )


@register
class Deconv(_Conv):
    name = "deconv"
    prefix = "deconv"
    transposed = True
    signature = (
        P("out", "count", positional=True),
        P("kernel", "size", positional=True),
        P("stride", "size", 1),
        P("pad", "pad", 0),
        P("output_pad", "size0", 0),
        P("dilation", "size", 1),
        P("groups", "int", 1),
        P("bias", "bool", True),
    )

    def resolve(self, x: Shape, a: Args) -> Args:
        pad = a["pad"]
        if pad in ("valid", "full"):
            raise ShapeError(
                f"deconv takes integer or size padding or `same`, got {pad}", arg="pad"
            )
        outpad = a["output_pad"] if a["output_pad"] else tuple(0 for _ in x[1:])
        pairs: tuple[tuple[int, int], ...]
        if pad == "same":
            pair_list, outs = [], []
            for k, s, d in zip(a["kernel"], a["stride"], a["dilation"], strict=True):
                t = d * (k - 1) + 1 - s  # what the full output has beyond input × stride
                if t >= 0:
                    pair_list.append((t // 2, t - t // 2))
                    outs.append(0)
                else:
                    if -t >= max(s, d):
                        raise ShapeError(
                            f"pad=same is impossible for deconv kernel {k} stride {s}",
                            "use explicit pad and output_pad",
                            arg="pad",
                        )
                    pair_list.append((0, 0))
                    outs.append(-t)
            pairs, outpad = tuple(pair_list), tuple(outs)
        else:
            pairs = tuple((p, p) for p in pad)
        for o, s, d in zip(outpad, a["stride"], a["dilation"], strict=True):
            if o >= max(s, d):
                raise ShapeError(
                    f"output_pad {o} must be smaller than the stride or dilation", arg="output_pad"
                )
        a = a.replace(padding=pairs, output_pad=outpad)
        g = a["groups"]
        if g < 1 or x[0] % g or a["out"] % g:
            raise ShapeError(
                f"groups={g} does not divide {x[0]} input and {a['out']} output channels",
                arg="groups",
            )
        return a

    def shape(self, x: Shape, a: Args) -> Shape:
        out = []
        for dim, (i, k, s, d, (pb, pa), o) in enumerate(
            zip(
                x[1:],
                a["kernel"],
                a["stride"],
                a["dilation"],
                a["padding"],
                a["output_pad"],
                strict=True,
            )
        ):
            v = (i - 1) * s - pb - pa + d * (k - 1) + o + 1
            if v <= 0:
                raise ShapeError(
                    f"non-positive output size {v} in dimension {dim + 1}",
                    "reduce the padding",
                    arg="pad",
                )
            out.append(v)
        return (a["out"], *out)

    def torch(self, e: Any) -> str:
        args = [e.cin, e.py("out"), f"kernel_size={e.size('kernel')}"]
        args += e.opt_size("stride", 1)
        pad, crop = e.padding()
        args += [f"padding={pad}"] if pad != "0" else []
        outpad = e.resolved("output_pad")
        if outpad is not None and any(outpad):
            args.append(f"output_padding={e.square(outpad)}")
        args += e.opt_size("dilation", 1) + e.opt("groups", 1) + e.opt("bias", True)
        if crop is None:
            return f"nn.ConvTranspose{e.rank}d({', '.join(args)})"
        # asymmetric `same`: one module that crops its full output
        return f"{e.need(f'ConvTranspose{e.rank}dCrop')}({', '.join(args)}, crop={crop})"

    def count_params(self, x: Shape, a: Args) -> tuple[int, int]:
        w = x[0] * (a["out"] // a["groups"]) * prod(a["kernel"])
        return w + (a["out"] if a["bias"] else 0), 0

    def count_macs(self, x: Shape, y: Shape, a: Args) -> int:
        return prod(x) * (a["out"] // a["groups"]) * prod(a["kernel"])

    def window(self, x: Shape, y: Shape, a: Args) -> tuple[tuple[float, float], ...]:
        return tuple(
            (float(d * (k - 1) + 1), 1.0 / s)
            for k, s, d in zip(a["kernel"], a["stride"], a["dilation"], strict=True)
        )


@register
class DepthwiseConv(_Conv):
    name = "dwconv"
    prefix = "dwconv"

    def channels_expr(
        self, cin: Expr, args: Mapping[str, Expr], spatial: Shape | None
    ) -> Expr | None:
        return mul(cin, args["mult"])

    signature = (
        P("kernel", "size", positional=True),
        *_WINDOW,
        P("mult", "count", 1),
        P("bias", "bool", True),
    )

    def groups(self, x: Shape, a: Args) -> int:
        return x[0]

    def out_channels(self, x: Shape, a: Args) -> int:
        return x[0] * int(a["mult"])

    def describe(self, a: Args) -> str:
        mult = f", ×{a['mult']}" if a["mult"] > 1 else ""
        return f"dwconv {size_text(a['kernel'])}{mult}{stride_text(a['stride'])}"


@register
class SeparableConv(_Conv):
    name = "sepconv"
    prefix = "sepconv"
    signature = (
        P("out", "count", positional=True),
        P("kernel", "size", positional=True),
        *_WINDOW,
        P("bias", "bool", True),
    )

    def groups(self, x: Shape, a: Args) -> int:
        return 1

    def count_params(self, x: Shape, a: Args) -> tuple[int, int]:
        depthwise = x[0] * prod(a["kernel"])
        pointwise = x[0] * a["out"] + (a["out"] if a["bias"] else 0)
        return depthwise + pointwise, 0

    def torch(self, e: Any) -> str:
        args = [e.cin, e.py("out"), f"kernel_size={e.size('kernel')}"]
        args += e.opt_size("stride", 1)
        pad, helper_pad = e.padding()
        args += [f"padding={pad}"] if pad != "0" else []
        args += e.opt_size("dilation", 1) + e.opt("bias", True)
        args += [f"pad={helper_pad}"] if helper_pad is not None else []  # asymmetric: F.pad first
        return f"{e.need(f'SeparableConv{e.rank}d')}({', '.join(args)})"

    def count_macs(self, x: Shape, y: Shape, a: Args) -> int:
        positions = prod(y[1:])
        return positions * x[0] * prod(a["kernel"]) + positions * x[0] * a["out"]
