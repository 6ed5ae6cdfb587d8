"""Normalisation: batch, local response, group, layer and instance norm."""

from __future__ import annotations

from . import Args, Op, P, Shape, ShapeError, register


class _Norm(Op):
    category = "norm"
    stateless = False


@register
class BatchNorm(_Norm):
    name = "bn"
    aliases = ("batchnorm",)
    prefix = "bn"
    signature = (P("eps", "float", 1e-5), P("momentum", "float", 0.1), P("affine", "bool", True))

    def count_params(self, x: Shape, a: Args) -> tuple[int, int]:
        c = x[0]
        return (2 * c if a["affine"] else 0), 2 * c + 1


@register
class LocalResponseNorm(_Norm):
    name = "lrn"
    prefix = "lrn"
    ranks = (1, 2, 3)
    stateless = True
    signature = (
        P("size", "count", positional=True),
        P("alpha", "float", 1e-4),
        P("beta", "float", 0.75),
        P("k", "float", 1.0),
    )

    def describe(self, a: Args) -> str:
        return f"lrn {a['size']}"


@register
class GroupNorm(_Norm):
    name = "groupnorm"
    prefix = "gn"
    signature = (P("groups", "count", positional=True), P("eps", "float", 1e-5))

    def resolve(self, x: Shape, a: Args) -> Args:
        if x[0] % a["groups"]:
            raise ShapeError(f"groups={a['groups']} does not divide the {x[0]} channels",
                             arg="groups")
        return a

    def count_params(self, x: Shape, a: Args) -> tuple[int, int]:
        return 2 * x[0], 0

    def describe(self, a: Args) -> str:
        return f"groupnorm {a['groups']}"


@register
class LayerNorm(_Norm):
    name = "layernorm"
    prefix = "ln"
    signature = (P("eps", "float", 1e-5),)

    def count_params(self, x: Shape, a: Args) -> tuple[int, int]:
        return 2 * x[0], 0


@register
class InstanceNorm(_Norm):
    name = "instancenorm"
    prefix = "inorm"
    ranks = (1, 2, 3)
    signature = (P("eps", "float", 1e-5), P("affine", "bool", False))

    def count_params(self, x: Shape, a: Args) -> tuple[int, int]:
        return (2 * x[0] if a["affine"] else 0), 0
