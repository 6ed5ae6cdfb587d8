"""Reshaping and the rest: flatten, linear, dropout, upsample, channel shuffle."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..expr import lit, mul
from ..syntax import Expr
from ..text import size_text
from . import Args, Op, P, Shape, ShapeError, prod, register


@register
class Flatten(Op):
    name = "flatten"
    prefix = "flatten"
    category = "reshape"

    def out_rank(self, rank: int) -> int:
        return 0

    def channels_expr(
        self, cin: Expr, args: Mapping[str, Expr], spatial: Shape | None
    ) -> Expr | None:
        return None if spatial is None else mul(cin, lit(prod(spatial)))

    def shape(self, x: Shape, a: Args) -> Shape:
        return (prod(x),)

    torch_class = "nn.Flatten"


@register
class Linear(Op):
    name = "linear"
    aliases = ("fc",)
    prefix = "fc"
    category = "linear"
    ranks = (0,)
    signature = (P("out", "count", positional=True), P("bias", "bool", True))

    def shape(self, x: Shape, a: Args) -> Shape:
        return (a["out"],)

    def count_params(self, x: Shape, a: Args) -> tuple[int, int]:
        return x[0] * a["out"] + (a["out"] if a["bias"] else 0), 0

    def count_macs(self, x: Shape, y: Shape, a: Args) -> int:
        return x[0] * a["out"]

    def describe(self, a: Args) -> str:
        return f"fc {a['out']}"

    def torch(self, e: Any) -> str:
        return f"nn.Linear({e.join(e.cin, e.py('out'), e.kwargs(_BIAS))})"


_BIAS = (("bias", "bias", True),)


@register
class Dropout(Op):
    name = "dropout"
    prefix = "dropout"
    category = "dropout"
    signature = (P("p", "prob", 0.5, positional=True),)

    def describe(self, a: Args) -> str:
        return f"{self.name} {a['p']:g}"

    def torch(self, e: Any) -> str:
        cls = "nn.Dropout" if self.name == "dropout" else f"nn.Dropout{e.rank}d"
        return f"{cls}(p={e.py('p')})"


@register
class Dropout2d(Dropout):
    name = "dropout2d"
    prefix = "dropout"
    ranks = (1, 2, 3)


@register
class Upsample(Op):
    name = "upsample"
    prefix = "upsample"
    category = "pool"
    ranks = (1, 2, 3)
    signature = (
        P("scale", "scale", positional=True),
        P("mode", "enum", "nearest", words=("nearest", "bilinear")),
    )

    def shape(self, x: Shape, a: Args) -> Shape:
        out = (x[0], *(int(i * s) for i, s in zip(x[1:], a["scale"], strict=True)))
        if min(out[1:]) < 1:
            raise ShapeError(
                f"upsample ×{size_text(a['scale'])} of {size_text(x)} gives an empty "
                f"{size_text(out)} output",
                "each size times the scale must be at least 1",
                arg="scale",
            )
        return out

    def window(self, x: Shape, y: Shape, a: Args) -> tuple[tuple[float, float], ...]:
        return tuple((1.0, 1.0 / s) for s in a["scale"])

    def describe(self, a: Args) -> str:
        scale = a["scale"]
        return f"upsample ×{size_text(scale[:1] if len(set(scale)) == 1 else scale)}"

    def torch(self, e: Any) -> str:
        mode = e.const("mode")
        if mode == "nearest":
            return f"nn.Upsample(scale_factor={e.size('scale', float)})"
        linear = {1: "linear", 2: "bilinear", 3: "trilinear"}[e.rank]
        return (
            f"nn.Upsample(scale_factor={e.size('scale', float)}, mode={linear!r}, "
            "align_corners=False)"
        )


@register
class ChannelShuffle(Op):
    name = "shuffle"
    prefix = "shuffle"
    category = "reshape"
    ranks = (1, 2, 3)
    signature = (P("groups", "count", positional=True),)

    def resolve(self, x: Shape, a: Args) -> Args:
        if x[0] % a["groups"]:
            raise ShapeError(
                f"groups={a['groups']} does not divide the {x[0]} channels", arg="groups"
            )
        return a

    def describe(self, a: Args) -> str:
        return f"shuffle {a['groups']}"

    def torch(self, e: Any) -> str:
        return f"nn.ChannelShuffle({e.py('groups')})"
