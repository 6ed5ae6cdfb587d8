"""Activations (elementwise) and softmax."""

from __future__ import annotations

from typing import Any

from . import Args, Op, P, Shape, ShapeError, register


class _Act(Op):
    category = "act"
    channels_last = True
    inplace = False  # whether the torch module takes inplace=

    def torch(self, e: Any) -> str:
        args = e.kwargs(self.torch_kwargs)
        if self.inplace and e.inplace:
            args = f"{args}, inplace=True" if args else "inplace=True"
        return f"{self.torch_class}({args})"


_SIMPLE = {
    "relu": ("nn.ReLU", True),
    "relu6": ("nn.ReLU6", True),
    "sigmoid": ("nn.Sigmoid", False),
    "tanh": ("nn.Tanh", False),
    "gelu": ("nn.GELU", False),
    "silu": ("nn.SiLU", True),
    "hardswish": ("nn.Hardswish", True),
    "hardsigmoid": ("nn.Hardsigmoid", True),
    "mish": ("nn.Mish", True),
}


def _simple(name: str, torch_class: str, inplace: bool) -> type[Op]:
    cls = type(
        name.title().replace("_", ""),
        (_Act,),
        {"name": name, "prefix": name, "torch_class": torch_class, "inplace": inplace},
    )
    return register(cls)


for _name, (_cls, _inplace) in _SIMPLE.items():
    _simple(_name, _cls, _inplace)


@register
class Identity(Op):
    name = "identity"
    channels_last = True
    prefix = "identity"
    category = "other"
    torch_class = "nn.Identity"


@register
class LeakyReLU(_Act):
    name = "leaky_relu"
    prefix = "leaky_relu"
    signature = (P("slope", "float", 0.01),)
    torch_class = "nn.LeakyReLU"
    torch_kwargs = (("negative_slope", "slope", 0.01),)
    inplace = True


@register
class ELU(_Act):
    name = "elu"
    prefix = "elu"
    signature = (P("alpha", "float", 1.0),)
    torch_class = "nn.ELU"
    torch_kwargs = (("alpha", "alpha", 1.0),)
    inplace = True


@register
class PReLU(_Act):
    name = "prelu"
    prefix = "prelu"
    signature = (P("per_channel", "bool", False),)

    def count_params(self, x: Shape, a: Args) -> tuple[int, int]:
        return (x[0] if a["per_channel"] else 1), 0

    def torch(self, e: Any) -> str:
        per_channel = e.py("per_channel")
        if per_channel == "False":
            return "nn.PReLU()"
        if per_channel == "True":
            return f"nn.PReLU(num_parameters={e.cin})"
        return f"nn.PReLU(num_parameters={e.cin} if {per_channel} else 1)"


class _Softmax(Op):
    category = "output"
    signature = (P("dim", "dim", "channels"),)

    def resolve(self, x: Shape, a: Args) -> Args:
        if not -len(x) - 1 <= a["dim"] <= len(x):
            raise ShapeError(
                f"dim {a['dim']} is out of range for {len(x) + 1}-D tensors", arg="dim"
            )
        return a

    def torch(self, e: Any) -> str:
        return f"{self.torch_class}(dim={e.py('dim')})"


@register
class Softmax(_Softmax):
    name = "softmax"
    probabilities = True
    prefix = "softmax"
    torch_class = "nn.Softmax"


@register
class LogSoftmax(_Softmax):
    name = "log_softmax"
    prefix = "log_softmax"
    torch_class = "nn.LogSoftmax"
