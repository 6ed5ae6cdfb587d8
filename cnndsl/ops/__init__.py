"""The op registry: every layer kind of the language is defined once, here.

An :class:`Op` knows its signature (positional and keyword arguments with defaults),
how to check and resolve its arguments for an input shape, its output shape, parameter
and multiply-add counts, its receptive-field window and its category for diagrams.
Families live in one module each (``conv``, ``pool``, ``norm``, ``activation``, ``misc``).

>>> op = lookup("conv")
>>> a = op.bind((64, 3), {"stride": 2, "pad": "same"}, (3, 224, 224))
>>> op.shape((3, 224, 224), a)
(64, 112, 112)
>>> a["padding"]
((0, 1), (0, 1))
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..ir import Args, Shape
from ..syntax import Expr, Size
from ..text import size_text

REQUIRED = object()


class ShapeError(Exception):
    """A bad argument or shape; the elaborator turns it into a positioned CnnError.

    ``arg`` names the argument at fault (the error then points at it), if any.
    """

    def __init__(self, message: str, hint: str | None = None, arg: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.arg = arg


@dataclass(frozen=True, slots=True)
class P:
    """One argument of an op: name, kind, default and (for enums) its words.

    Kinds: ``int``, ``count`` (int >= 1), ``float``, ``positive`` (float > 0), ``prob`` (0..1),
    ``bool``,
    ``size`` (int or size, one value per spatial dim), ``pad`` (int, size, same/valid/full),
    ``scale`` (number or size), ``enum`` (one of ``words``), ``dim`` (``channels`` or int).
    """

    name: str
    kind: str
    default: Any = REQUIRED
    positional: bool = False
    words: tuple[str, ...] = ()


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, Size):
        return "size"
    return {int: "int", float: "float", str: "string"}.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value) if not value.isidentifier() else value
    return str(value)


class Op:
    """Base class of all ops; subclasses override the rules that differ from these."""

    name: str = ""
    aliases: tuple[str, ...] = ()
    prefix: str = ""
    category: str = "other"
    signature: tuple[P, ...] = ()
    ranks: tuple[int, ...] = (0, 1, 2, 3)  # spatial ranks accepted (0: a flat C vector)
    transposed: bool = False  # a transposed convolution: its stride up-samples
    cancels_bias: bool = False  # normalises each channel, so a bias just before it is lost
    probabilities: bool = False  # outputs probabilities (softmax), not logits
    channels_last: bool = False  # accepts a channels-last tensor (element-wise ops, linear…)
    parameter: bool = False  # a bare nn.Parameter of the enclosing module (`scale`), no module
    runtime_size: str | None = None  # a keyword that generated code computes at run time

    # ---------------------------------------------------------------- arguments
    @functools.cached_property
    def positional(self) -> tuple[P, ...]:
        return tuple(p for p in self.signature if p.positional)

    @functools.cached_property
    def keywords(self) -> dict[str, P]:
        return {p.name: p for p in self.signature}

    @functools.cached_property
    def _defaults(self) -> dict[tuple[str, int], Any]:
        return {}

    def default(self, p: P, rank: int) -> Any:
        """The converted default of ``p`` for inputs of ``rank`` spatial dims (cached)."""
        key = (p.name, rank)
        cache = self._defaults
        if key not in cache:
            cache[key] = None if p.default is None else _convert(p, p.default, rank, self.name)
        return cache[key]

    def bind(self, args: tuple[Any, ...], kwargs: Mapping[str, Any], x: Shape) -> Args:
        """Check types and defaults of the given arguments for input ``x``; resolve them."""
        self.check_rank(x)
        pos = self.positional
        if len(args) > len(pos):
            raise ShapeError(
                f"'{self.name}' takes {len(pos)} positional argument"
                f"{'s' if len(pos) != 1 else ''} ({_names(pos)}), got {len(args)}",
                self.usage(),
            )
        values: dict[str, Any] = {}
        for p, v in zip(pos, args, strict=False):
            values[p.name] = v
        positional_names = {p.name for p in pos}
        known = self.keywords
        for key, v in kwargs.items():
            if key not in known:
                from ..errors import did_you_mean

                raise ShapeError(
                    f"'{self.name}' has no keyword '{key}'",
                    did_you_mean(key, known) or self.usage(),
                    arg=key,
                )
            if key in values:
                raise ShapeError(f"'{key}' given twice", arg=key)
            values[key] = v
        rank = len(x) - 1
        out: dict[str, Any] = {}
        for p in self.signature:
            if p.name not in values:
                if p.default is REQUIRED:
                    raise ShapeError(f"'{self.name}' is missing argument '{p.name}'", self.usage())
                out[p.name] = self.default(p, rank)
            else:
                try:
                    out[p.name] = _convert(p, values[p.name], rank, self.name)
                except ShapeError as exc:
                    if exc.hint is None and p.name in positional_names:
                        exc.hint = self.usage()
                    raise
        return self.resolve(x, Args(out))

    def usage(self) -> str:
        parts = [self.name] + [f"<{p.name}>" for p in self.positional]
        parts += [
            f"{p.name}={_show(p.default)}"
            for p in self.signature
            if not p.positional and p.default is not REQUIRED and p.default is not None
        ]
        return "usage: " + " ".join(parts)

    def check_rank(self, x: Shape) -> None:
        rank = len(x) - 1
        if rank in self.ranks:
            return
        if rank == 0:
            raise ShapeError(
                f"'{self.name}' needs a tensor with spatial dimensions, "
                f"got a flat vector of {x[0]}",
                "apply it before `flatten`, or use `linear`",
            )
        if rank > 3 or 0 not in self.ranks:
            raise ShapeError(f"'{self.name}' does not support {rank}-D input ({size_text(x)})")
        raise ShapeError(
            f"'{self.name}' takes a flat input (C), got {size_text(x)}",
            "add `flatten` (or `gap` then `flatten`) before it",
        )

    def resolve(self, x: Shape, a: Args) -> Args:
        """Derive values that depend on the input (padding, groups…) and validate them."""
        return a

    # ---------------------------------------------------------------- rules
    def shape(self, x: Shape, a: Args) -> Shape:
        return x

    def count_params(self, x: Shape, a: Args) -> tuple[int, int]:
        """(parameters, buffer elements) as PyTorch counts them."""
        return 0, 0

    def count_macs(self, x: Shape, y: Shape, a: Args) -> int:
        return 0

    def window(self, x: Shape, y: Shape, a: Args) -> tuple[tuple[float, float], ...]:
        """Per spatial dim, (effective kernel, stride) for the receptive field.

        A stride below 1 (transposed convolution, upsampling) divides the jump.
        """
        return tuple((1.0, 1.0) for _ in x[1:])

    def rf_order(self, x: Shape, a: Args) -> tuple[int, ...] | None:
        """Where an op reorders the spatial dimensions (``permute``): for each output spatial
        dimension, the input spatial dimension it comes from; None when it keeps them."""
        return None

    def describe(self, a: Args) -> str:
        """A short paper-style description: ``conv 3×3, 64, /2``."""
        return self.name

    # ---------------------------------------------------------------- code generation
    def out_rank(self, rank: int) -> int:
        """The spatial rank of the output for an input of ``rank`` spatial dims."""
        return rank

    def channels_expr(
        self, cin: Expr, args: Mapping[str, Expr], spatial: Shape | None
    ) -> Expr | None:
        """The output channels as a symbolic expression of the input channels ``cin`` and the
        layer's symbolic arguments (``spatial``: the input's spatial size, when fixed); None
        when they cannot be expressed."""
        return args["out"] if "out" in args else cin

    torch_class: str = ""  # e.g. "nn.ReLU" or "nn.Conv{r}d" ({r}: the spatial rank)

    init_kind: str | None = None  # "conv", "linear" or "norm": which `init` rule applies (§7)

    def init_classes(self, x: Shape, a: Args) -> tuple[str, ...]:
        """The PyTorch classes (``nn.Conv2d``) that `init` finds among this layer's modules
        (those with weights; none for a norm without an affine transform)."""
        return ()

    def torch(self, e: Any) -> str:
        """PyTorch constructor source for this layer (``e`` is a codegen.Emit)."""
        return f"{self.torch_class.format(r=max(e.rank, 1))}({e.kwargs(self.torch_kwargs)})"

    # (torch keyword, our argument, torch's default) for the simple ops
    torch_kwargs: tuple[tuple[str, str, Any], ...] = ()


def _names(ps: tuple[P, ...]) -> str:
    return ", ".join(p.name for p in ps) or "none"


class _Bad:
    """Builds the wrong-type error only when it is raised (conversion is a hot path)."""

    __slots__ = ("p", "v", "op")

    def __init__(self, p: P, v: Any, op: str):
        self.p, self.v, self.op = p, v, op

    def error(self) -> ShapeError:
        p, v = self.p, self.v
        return ShapeError(
            f"'{p.name}' of '{self.op}' expects {_KIND_TEXT[p.kind]}, "
            f"got {_show(v)} ({_type_name(v)})",
            arg=p.name,
        )


def _convert(p: P, v: Any, rank: int, op: str) -> Any:
    kind = p.kind
    bad = _Bad(p, v, op)
    if kind in ("int", "count"):
        if isinstance(v, bool) or not isinstance(v, int):
            raise bad.error()
        if kind == "count" and v < 1:
            raise ShapeError(f"'{p.name}' of '{op}' must be at least 1, got {v}", arg=p.name)
        return v
    if kind in ("float", "prob", "positive"):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise bad.error()
        if kind == "positive" and not v > 0:
            raise ShapeError(f"'{p.name}' of '{op}' must be positive, got {v}", arg=p.name)
        if kind == "prob" and not 0.0 <= v <= 1.0:
            raise ShapeError(f"'{p.name}' of '{op}' must be between 0 and 1, got {v}", arg=p.name)
        return float(v)
    if kind == "bool":
        if not isinstance(v, bool):
            raise bad.error()
        return v
    if kind in ("size", "size0"):
        return _as_size(p, v, rank, op, bad, minimum=1 if kind == "size" else 0)
    if kind == "pad":
        if isinstance(v, str):
            if v not in ("same", "valid", "full"):
                raise ShapeError(
                    f"'pad' must be an integer, a size or one of same, valid, full; got {_show(v)}",
                    arg=p.name,
                )
            return v
        size = _as_size(p, v, rank, op, bad, minimum=0)
        return size
    if kind == "scale":
        if isinstance(v, Size):
            return _as_size(p, v, rank, op, bad)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
            raise bad.error()
        return tuple(v for _ in range(rank))
    if kind == "enum":
        if not isinstance(v, str) or v not in p.words:
            raise ShapeError(
                f"'{p.name}' of '{op}' must be one of {', '.join(p.words)}; got {_show(v)}",
                arg=p.name,
            )
        return v
    if kind == "tensor":  # (name, shape) of a bound tensor, given by the elaborator
        return v
    if kind == "dim":
        if v == "channels":
            return 1
        if isinstance(v, bool) or not isinstance(v, int):
            raise ShapeError(f"'{p.name}' must be `channels` or an integer dimension", arg=p.name)
        return v
    raise AssertionError(kind)


def _as_size(p: P, v: Any, rank: int, op: str, bad: _Bad, minimum: int = 1) -> tuple[int, ...]:
    if isinstance(v, Size):
        if len(v) != rank:
            raise ShapeError(
                f"'{p.name}' of '{op}' has {len(v)} dimensions but the input has "
                f"{rank} spatial dimension{'s' if rank != 1 else ''}",
                f"write a single number or a {rank}-D size",
                arg=p.name,
            )
        vals = tuple(v)
    elif isinstance(v, int) and not isinstance(v, bool):
        vals = (v,) * rank
    else:
        raise bad.error()
    if any(x < minimum for x in vals):
        raise ShapeError(
            f"'{p.name}' of '{op}' must be at least {minimum}, got {_show(v)}", arg=p.name
        )
    return vals


_KIND_TEXT = {
    "int": "an integer",
    "count": "a positive integer",
    "float": "a number",
    "prob": "a probability",
    "positive": "a positive number",
    "bool": "true or false",
    "size": "an integer or a size",
    "size0": "an integer or a size",
    "pad": "an integer, a size, same, valid or full",
    "scale": "a number or a size",
    "enum": "a word",
    "dim": "`channels` or an integer",
}


def prod(values: tuple[int, ...] | list[int]) -> int:
    return math.prod(values)


# ---------------------------------------------------------------- registry
REGISTRY: dict[str, Op] = {}


def register(cls: type[Op]) -> type[Op]:
    """Class decorator: instantiate the op and register it under its name and aliases."""
    op = cls()
    for key in (op.name, *op.aliases):
        if key in REGISTRY:
            raise AssertionError(f"op {key} registered twice")
        REGISTRY[key] = op
    return cls


def lookup(name: str) -> Op | None:
    """The op called ``name`` (or an alias of it), or None."""
    return REGISTRY.get(name)


from . import activation, conv, misc, norm, pool  # noqa: E402,F401  (fill the registry)
