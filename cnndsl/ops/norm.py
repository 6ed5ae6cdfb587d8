"""Normalisation: batch, local response, group, layer and instance norm."""

from __future__ import annotations

from typing import Any

from ..ir import ChannelsLast
from ..text import size_text
from . import Args, Op, P, Shape, ShapeError, register


class _Norm(Op):
    category = "norm"
    init_kind: str | None = "norm"


@register
class BatchNorm(_Norm):
    name = "bn"
    cancels_bias = True
    aliases = ("batchnorm",)
    prefix = "bn"
    signature = (P("eps", "positive", 1e-5), P("momentum", "float", 0.1), P("affine", "bool", True))

    def count_params(self, x: Shape, a: Args) -> tuple[int, int]:
        c = x[0]
        return (2 * c if a["affine"] else 0), 2 * c + 1

    def init_classes(self, x: Shape, a: Args) -> tuple[str, ...]:
        return (f"nn.BatchNorm{max(len(x) - 1, 1)}d",) if a["affine"] else ()

    def torch(self, e: Any) -> str:
        extra = e.kwargs(
            (("eps", "eps", 1e-5), ("momentum", "momentum", 0.1), ("affine", "affine", True))
        )
        return f"nn.BatchNorm{max(e.rank, 1)}d({e.join(e.cin, extra)})"


@register
class LocalResponseNorm(_Norm):
    name = "lrn"
    init_kind = None
    prefix = "lrn"
    ranks = (1, 2, 3)
    signature = (
        P("size", "count", positional=True),
        P("alpha", "float", 1e-4),
        P("beta", "float", 0.75),
        P("k", "float", 1.0),
    )

    def describe(self, a: Args) -> str:
        return f"lrn {a['size']}"

    torch_class = "nn.LocalResponseNorm"
    torch_kwargs = (
        ("size", "size", None),
        ("alpha", "alpha", 1e-4),
        ("beta", "beta", 0.75),
        ("k", "k", 1.0),
    )


@register
class GroupNorm(_Norm):
    name = "groupnorm"
    prefix = "gn"
    signature = (P("groups", "count", positional=True), P("eps", "positive", 1e-5))

    def resolve(self, x: Shape, a: Args) -> Args:
        if x[0] % a["groups"]:
            raise ShapeError(
                f"groups={a['groups']} does not divide the {x[0]} channels", arg="groups"
            )
        return a

    def count_params(self, x: Shape, a: Args) -> tuple[int, int]:
        return 2 * x[0], 0

    def init_classes(self, x: Shape, a: Args) -> tuple[str, ...]:
        return ("nn.GroupNorm",)

    def describe(self, a: Args) -> str:
        return f"groupnorm {a['groups']}"

    def torch(self, e: Any) -> str:
        return f"nn.GroupNorm({e.join(e.py('groups'), e.cin, e.kwargs(_EPS))})"


@register
class LayerNorm(_Norm):
    """``dim=all`` normalises over C×H×W (GroupNorm with one group; LayerNorm on a flat
    input); ``dim=channels`` over the channels at each position (torchvision's LayerNorm2d
    on a channels-first tensor, nn.LayerNorm on a channels-last one)."""

    name = "layernorm"
    prefix = "ln"
    channels_last = True
    signature = (
        P("eps", "positive", 1e-5),
        P("dim", "enum", None, words=("all", "channels")),
    )

    def resolve(self, x: Shape, a: Args) -> Args:
        last = isinstance(x, ChannelsLast)
        if a["dim"] is None:
            return a.replace(dim="channels" if last else "all")
        if last and a["dim"] == "all":
            raise ShapeError(
                f"layernorm dim=all on a channels-last tensor ({size_text(x)})",
                "on a channels-last tensor layernorm normalises the channels: drop dim=all",
                arg="dim",
            )
        return a

    def count_params(self, x: Shape, a: Args) -> tuple[int, int]:
        c = x[-1] if isinstance(x, ChannelsLast) else x[0]
        return 2 * c, 0

    def init_classes(self, x: Shape, a: Args) -> tuple[str, ...]:
        if len(x) == 1 or isinstance(x, ChannelsLast) or a["dim"] == "channels":
            return ("nn.LayerNorm",)  # LayerNorm2d and friends subclass it
        return ("nn.GroupNorm",)

    def describe(self, a: Args) -> str:
        return "layernorm (channels)" if a["dim"] == "channels" else "layernorm"

    def torch(self, e: Any) -> str:
        if e.rank == 0 or getattr(e, "channels_last", False):
            return f"nn.LayerNorm({e.join(e.cin, e.kwargs(_EPS))})"
        if e.const("dim") == "channels":
            return f"{e.need(f'LayerNorm{e.rank}d')}({e.join(e.cin, e.kwargs(_EPS))})"
        # over C×H×W with a per-channel affine: GroupNorm with one group
        return f"nn.GroupNorm({e.join('1', e.cin, e.kwargs(_EPS))})"


@register
class InstanceNorm(_Norm):
    name = "instancenorm"
    prefix = "inorm"
    ranks = (1, 2, 3)
    signature = (P("eps", "positive", 1e-5), P("affine", "bool", False))

    def resolve(self, x: Shape, a: Args) -> Args:
        if all(d == 1 for d in x[1:]):
            raise ShapeError(
                f"instancenorm needs more than one position to normalise over, got {size_text(x)}",
                "PyTorch refuses it in training; apply it before the pooling, or use bn",
            )
        return a

    def count_params(self, x: Shape, a: Args) -> tuple[int, int]:
        return (2 * x[0] if a["affine"] else 0), 0

    def init_classes(self, x: Shape, a: Args) -> tuple[str, ...]:
        return (f"nn.InstanceNorm{len(x) - 1}d",) if a["affine"] else ()

    def torch(self, e: Any) -> str:
        extra = e.kwargs((("eps", "eps", 1e-5), ("affine", "affine", False)))
        return f"nn.InstanceNorm{e.rank}d({e.join(e.cin, extra)})"


_EPS = (("eps", "eps", 1e-5),)
