"""Reshaping and the rest: flatten, linear, dropout, upsample, channel shuffle."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..expr import lit, mul
from ..ir import ChannelsLast
from ..syntax import Expr
from ..text import size_text
from . import Args, Op, P, Shape, ShapeError, prod, register

_RESTORE = {2: "permute 0 2 1", 3: "permute 0 3 1 2", 4: "permute 0 4 1 2 3"}


def restore_hint(x: Shape) -> str:
    """The `permute` that brings a channels-last tensor back to channels first."""
    return f"restore channels first with `{_RESTORE.get(len(x), 'permute')}`"


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
    """On a flat input (C), or on the channels of a channels-last tensor (as nn.Linear acts
    on the last dimension)."""

    name = "linear"
    aliases = ("fc",)
    prefix = "fc"
    category = "linear"
    channels_last = True
    init_kind = "linear"

    def init_classes(self, x: Shape, a: Args) -> tuple[str, ...]:
        return ("nn.Linear",)

    signature = (P("out", "count", positional=True), P("bias", "bool", True))

    def check_rank(self, x: Shape) -> None:
        if len(x) == 1 or isinstance(x, ChannelsLast):
            return
        rank = len(x) - 1
        perm = " ".join(str(d) for d in (0, *range(2, rank + 2), 1))
        raise ShapeError(
            f"'linear' takes a flat input (C) or a channels-last tensor, got {size_text(x)}",
            f"add `flatten` (or `gap` then `flatten`) before it, or `permute {perm}` to apply "
            "it to the channels at each position",
        )

    def shape(self, x: Shape, a: Args) -> Shape:
        if isinstance(x, ChannelsLast):
            return ChannelsLast((*x[:-1], a["out"]))
        return (a["out"],)

    def count_params(self, x: Shape, a: Args) -> tuple[int, int]:
        return x[-1] * a["out"] + (a["out"] if a["bias"] else 0), 0

    def count_macs(self, x: Shape, y: Shape, a: Args) -> int:
        return prod(x[:-1]) * x[-1] * a["out"]

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
    channels_last = True
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
    channels_last = False
    ranks = (1, 2, 3)


_MODE_RANK = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}


@register
class Upsample(Op):
    """By a scale (``upsample 2``), to a size (``size=32x32``) or to the spatial size of a
    bound tensor (``like=img``); modes as F.interpolate's."""

    name = "upsample"
    prefix = "upsample"
    category = "pool"
    runtime_size = "size"  # `size=size(in.height, in.width)` reads the input at run time
    ranks = (1, 2, 3)
    signature = (
        P("scale", "scale", None, positional=True),
        P("size", "size", None),
        P("like", "tensor", None),
        P("mode", "enum", "nearest", words=("nearest", *_MODE_RANK)),
        P("align_corners", "bool", None),
    )

    def resolve(self, x: Shape, a: Args) -> Args:
        given = [k for k in ("scale", "size", "like") if a[k] is not None]
        if len(given) != 1:
            raise ShapeError(
                "upsample takes exactly one of a scale, size= or like="
                + (f" (got {', '.join(given)})" if given else ""),
                "e.g. `upsample 2`, `upsample size=32x32` or `upsample like=img`",
            )
        mode = a["mode"]
        rank = len(x) - 1
        if mode in _MODE_RANK and _MODE_RANK[mode] != rank and mode != "bilinear":
            fits = [m for m, r in _MODE_RANK.items() if r == rank]
            raise ShapeError(
                f"mode={mode} is for {_MODE_RANK[mode]}-D inputs; this one is {rank}-D",
                f"use mode={' or mode='.join(['nearest', *fits])}",
                arg="mode",
            )
        if a["align_corners"] is not None and mode == "nearest":
            raise ShapeError(
                "align_corners applies to the interpolating modes only",
                "drop it, or choose an interpolating mode",
                arg="align_corners",
            )
        if a["like"] is not None:
            name, shape = a["like"]
            if isinstance(shape, ChannelsLast) or len(shape) != len(x):
                raise ShapeError(
                    f"like={name} is a {size_text(shape)} tensor; upsample needs one of the "
                    f"same rank as its {size_text(x)} input, channels first",
                    arg="like",
                )
        return a

    def target(self, x: Shape, a: Args) -> tuple[int, ...]:
        if a["size"] is not None:
            return tuple(a["size"])
        if a["like"] is not None:
            return tuple(a["like"][1][1:])
        return tuple(int(i * s) for i, s in zip(x[1:], a["scale"], strict=True))

    def shape(self, x: Shape, a: Args) -> Shape:
        out = (x[0], *self.target(x, a))
        if min(out[1:]) < 1:
            raise ShapeError(
                f"upsample ×{size_text(a['scale'])} of {size_text(x)} gives an empty "
                f"{size_text(out)} output",
                "each size times the scale must be at least 1",
                arg="scale",
            )
        return out

    def window(self, x: Shape, y: Shape, a: Args) -> tuple[tuple[float, float], ...]:
        if a["scale"] is not None:
            return tuple((1.0, 1.0 / s) for s in a["scale"])
        return tuple((1.0, i / o) for i, o in zip(x[1:], y[1:], strict=True))

    def describe(self, a: Args) -> str:
        scale = a["scale"]
        if scale is None:
            if a["like"] is not None:
                return f"upsample to {a['like'][0]}'s size"
            if a.get("runtime_size") is not None:
                return "upsample to the input's size"
            return f"upsample to {size_text(a['size'])}"
        return f"upsample ×{size_text(scale[:1] if len(set(scale)) == 1 else scale)}"

    def interpolate_mode(self, mode: str, rank: int) -> str:
        """F.interpolate's mode (`bilinear` in 1-D and 3-D keeps its first-edition meaning:
        the linear interpolation of that rank)."""
        if mode == "bilinear" and rank != 2:
            return {1: "linear", 3: "trilinear"}[rank]
        return mode

    def torch(self, e: Any) -> str:
        mode = self.interpolate_mode(e.const("mode"), e.rank)
        extra = ""
        if mode != "nearest":
            align = e.const("align_corners")
            extra = f", mode={mode!r}, align_corners={bool(align)}"
        if e.const("like") is not None or e.const("runtime_size") is not None:
            # the size is another tensor's, or the input's: given to forward at run time
            return f"{e.need('Interpolate')}({extra[2:]})"
        if e.const("size") is not None:
            return f"nn.Upsample(size={e.size('size')}{extra})"
        return f"nn.Upsample(scale_factor={e.size('scale', float)}{extra})"


@register
class StochasticDepth(Op):
    """torchvision.ops.StochasticDepth: in training, zero each sample's (``row``) or the
    batch's (``batch``) input with probability p and scale the rest by 1/(1-p)."""

    name = "stochastic_depth"
    prefix = "stochastic_depth"
    category = "dropout"
    channels_last = True
    signature = (
        P("p", "prob", positional=True),
        P("mode", "enum", "row", words=("row", "batch")),
    )

    def describe(self, a: Args) -> str:
        return f"stochastic depth {a['p']:g}"

    def torch(self, e: Any) -> str:
        return f"{e.need('StochasticDepth')}({e.py('p')}, {e.py('mode')})"


@register
class Scale(Op):
    """A learnable per-channel factor (layer scale): a bare nn.Parameter of the enclosing
    module, named by the step, initialised to ``value``."""

    name = "scale"
    prefix = "scale"
    category = "other"
    channels_last = True
    parameter = True
    signature = (P("value", "float", 1.0, positional=True),)

    def param_shape(self, x: Shape) -> tuple[int, ...]:
        if len(x) == 1 or isinstance(x, ChannelsLast):
            return (x[-1],)
        return (x[0], *(1 for _ in x[1:]))

    def count_params(self, x: Shape, a: Args) -> tuple[int, int]:
        return x[-1] if isinstance(x, ChannelsLast) else x[0], 0

    def count_macs(self, x: Shape, y: Shape, a: Args) -> int:
        return prod(y)

    def describe(self, a: Args) -> str:
        return f"scale ×{a['value']:g}"

    def torch(self, e: Any) -> str:
        ones = "" if e.rank == 0 or getattr(e, "channels_last", False) else ", 1" * e.rank
        shape = f"({e.cin}{ones},)" if not ones else f"({e.cin}{ones})"
        return f"nn.Parameter(torch.full({shape}, {float(e.const('value'))!r}))"


@register
class Permute(Op):
    """torch.permute with 0 the batch dimension: ``permute 0 2 3 1`` makes C×H×W channels
    last (H×W×C), ``permute 0 3 1 2`` makes it channels first again."""

    name = "permute"
    prefix = "permute"
    category = "reshape"
    channels_last = True

    def bind(self, args: tuple[Any, ...], kwargs: Mapping[str, Any], x: Shape) -> Args:
        n = len(x) + 1
        example = " ".join(str(d) for d in (0, *range(2, n), 1)) if n > 2 else "0 1"
        if kwargs:
            key = next(iter(kwargs))
            raise ShapeError(f"'permute' has no keyword '{key}'", f"e.g. permute {example}", key)
        for v in args:
            if isinstance(v, bool) or not isinstance(v, int):
                raise ShapeError(
                    f"'permute' takes dimensions (integers), got {v}", f"e.g. permute {example}"
                )
        if sorted(args) != list(range(n)):
            raise ShapeError(
                f"'permute' needs each of the {n} dimensions 0…{n - 1} once (0 is the batch), "
                f"got {' '.join(map(str, args)) or 'none'}",
                f"e.g. permute {example}",
            )
        if args[0] != 0:
            raise ShapeError(
                "'permute' must keep the batch dimension 0 first", f"e.g. permute {example}"
            )
        return Args({"dims": tuple(args)})

    def _channel_at(self, x: Shape) -> int:
        return len(x) - 1 if isinstance(x, ChannelsLast) else 0

    def shape(self, x: Shape, a: Args) -> Shape:
        if len(x) == 1:
            return x
        dims = a["dims"][1:]
        new = tuple(x[d - 1] for d in dims)
        at = dims.index(self._channel_at(x) + 1)
        if at == 0:
            return new
        if at == len(x) - 1:
            return ChannelsLast(new)
        raise ShapeError(
            f"permute {' '.join(map(str, a['dims']))} puts the channels in the middle of "
            f"{size_text(new)}",
            "channels must end up first or last",
        )

    def rf_order(self, x: Shape, a: Args) -> tuple[int, ...] | None:
        c = self._channel_at(x)
        old_spatial = [i for i in range(len(x)) if i != c]
        return tuple(old_spatial.index(d - 1) for d in a["dims"][1:] if d - 1 != c)

    def describe(self, a: Args) -> str:
        return "permute " + " ".join(map(str, a["dims"]))

    def torch(self, e: Any) -> str:
        return f"{e.need('Permute')}({list(e.const('dims'))})"


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
