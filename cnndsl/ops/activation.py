"""Activations (elementwise) and softmax."""

from __future__ import annotations

from . import Args, Op, P, Shape, ShapeError, register


class _Act(Op):
    category = "act"


def _simple(name: str) -> type[Op]:
    cls = type(name.title().replace("_", ""), (_Act,), {"name": name, "prefix": name})
    return register(cls)


for _name in ("relu", "relu6", "sigmoid", "tanh", "gelu", "silu", "hardswish", "hardsigmoid",
              "mish"):
    _simple(_name)


@register
class Identity(Op):
    name = "identity"
    prefix = "identity"
    category = "other"


@register
class LeakyReLU(_Act):
    name = "leaky_relu"
    prefix = "leaky_relu"
    signature = (P("slope", "float", 0.01),)


@register
class ELU(_Act):
    name = "elu"
    prefix = "elu"
    signature = (P("alpha", "float", 1.0),)


@register
class PReLU(_Act):
    name = "prelu"
    prefix = "prelu"
    stateless = False
    signature = (P("per_channel", "bool", False),)

    def count_params(self, x: Shape, a: Args) -> tuple[int, int]:
        return (x[0] if a["per_channel"] else 1), 0


class _Softmax(Op):
    category = "output"
    signature = (P("dim", "dim", "channels"),)

    def resolve(self, x: Shape, a: Args) -> Args:
        if not -len(x) - 1 <= a["dim"] <= len(x):
            raise ShapeError(f"dim {a['dim']} is out of range for {len(x) + 1}-D tensors",
                             arg="dim")
        return a


@register
class Softmax(_Softmax):
    name = "softmax"
    prefix = "softmax"


@register
class LogSoftmax(_Softmax):
    name = "log_softmax"
    prefix = "log_softmax"
