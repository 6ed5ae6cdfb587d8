"""The syntax tree of a ``.cnn`` file, as the parser produces it.

Every node is a frozen dataclass with a ``span``; spans are left out of equality, so two
trees parsed from differently formatted sources compare equal when they mean the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .errors import NOWHERE, Span


def _span() -> Span:
    return field(default=NOWHERE, compare=False, repr=False)  # type: ignore[no-any-return]


class Size(tuple[int, ...]):
    """A size literal such as ``3x3`` or ``3x224x224``: a value, but not a number."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "x".join(str(v) for v in self)

    __str__ = __repr__


class List(tuple[Any, ...]):
    """A list value such as ``[1, 3, 6, 6]``: flat, of numbers (or sizes)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "[" + ", ".join(_show(v) for v in self) + "]"

    __str__ = __repr__


def _show(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


# ---------------------------------------------------------------- expressions
@dataclass(frozen=True, slots=True)
class Lit:
    """A literal: int, float, bool, string or :class:`Size`."""

    value: Any
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Name:
    """A reference to a parameter, ``let``, repeat variable or enumerated word."""

    id: str
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class InAttr:
    """``in.channels`` and friends: the input shape of the enclosing block or network."""

    attr: str
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class BinOp:
    """``left op right`` for ``+ - * / // % **``."""

    op: str
    left: Expr
    right: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Unary:
    """``-x``, ``+x`` or ``not x``."""

    op: str
    operand: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Compare:
    """A (possibly chained) comparison ``a < b <= c``."""

    ops: tuple[str, ...]
    operands: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class BoolOp:
    """``a and b`` / ``a or b`` (short-circuit, Python semantics)."""

    op: str
    left: Expr
    right: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class IfExp:
    """``body if test else orelse``."""

    body: Expr
    test: Expr
    orelse: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Kwarg:
    """``key=value`` in a layer, call or train entry."""

    key: str
    value: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Call:
    """``Name(args)``: a function call in an expression, a block call or a merge of tensors."""

    func: str
    args: tuple[Expr, ...]
    kwargs: tuple[Kwarg, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class ListExpr:
    """``[a, b, …]``: a list literal."""

    items: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Index:
    """``xs[i]`` (a negative index counts from the end)."""

    target: Expr
    index: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Slice:
    """``xs[lo:hi]`` (either bound may be left out)."""

    target: Expr
    lo: Expr | None
    hi: Expr | None
    span: Span = _span()


Expr = (
    Lit | Name | InAttr | BinOp | Unary | Compare | BoolOp | IfExp | Call | ListExpr | Index | Slice
)


# ---------------------------------------------------------------- steps
@dataclass(frozen=True, slots=True)
class Layer:
    """``op positional… key=value…`` (also a bare name that may be a bound tensor)."""

    op: str
    args: tuple[Expr, ...]
    kwargs: tuple[Kwarg, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Group:
    """``{ statements }``."""

    body: tuple[Stmt, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Repetition:
    """``X * n`` of one block call or one group."""

    target: Call | Group
    count: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Merge:
    """``concat { … }``, ``add { … }``, ``mul { … }``: each statement is a branch."""

    kind: str
    branches: tuple[Stmt, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Residual:
    """``residual [if c] { body } [shortcut [if c] { projection }]``."""

    cond: Expr | None
    body: Group
    shortcut_cond: Expr | None
    shortcut: Group | None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Repeat:
    """``repeat N [as i] { body }``."""

    count: Expr
    var: str | None
    body: Group
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class If:
    """``if cond { … } [else { … }]`` (``else if`` nests another :class:`If`)."""

    cond: Expr
    then: Group
    orelse: Group | If | None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Input:
    """``input CxHxW``."""

    shape: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Label:
    """A label: plain ``name`` (one part) or a template ``layer{i + 1}_a`` (str and Expr parts)."""

    parts: tuple[str | Expr, ...]
    span: Span = _span()
    quoted: bool = False  # a string label ("0", "block1-0"): any name add_module accepts

    @property
    def plain(self) -> str | None:
        return self.parts[0] if len(self.parts) == 1 and isinstance(self.parts[0], str) else None


@dataclass(frozen=True, slots=True)
class Labelled:
    """``label: step``."""

    label: Label
    step: Step
    span: Span = _span()


Step = Layer | Call | Group | Repetition | Merge | Residual | Repeat | If | Input | Labelled


@dataclass(frozen=True, slots=True)
class Chain:
    """``a -> b -> c``."""

    steps: tuple[Step, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Let:
    """``let name = expr``."""

    name: str
    value: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Bind:
    """``name = chain``: binds the chain's result tensor to ``name``."""

    name: str
    chain: Chain
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Output:
    """``output NAME [weight=W]: chain``: a side output."""

    name: str
    kwargs: tuple[Kwarg, ...]
    chain: Chain
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Init:
    """``init SCHEME key=value…``: initial weights (§7)."""

    scheme: str
    kwargs: tuple[Kwarg, ...]
    span: Span = _span()
    scheme_span: Span = _span()


Stmt = Chain | Let | Bind | Output | Init


# ---------------------------------------------------------------- files
@dataclass(frozen=True, slots=True)
class Param:
    """A block or network parameter with its optional default."""

    name: str
    default: Expr | None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class BlockDef:
    """``block Name(params) { body }``, or ``block Name(params) = { chain }`` (sequential)."""

    name: str
    params: tuple[Param, ...]
    body: Group
    span: Span = _span()
    sequential: bool = False


@dataclass(frozen=True, slots=True)
class NetworkDef:
    """``network Name(params) { input …  body }``."""

    name: str
    params: tuple[Param, ...]
    body: Group
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class TrainEntry:
    """One line of a ``train`` section: ``key value, value key=value``."""

    key: str
    values: tuple[Expr, ...]
    kwargs: tuple[Kwarg, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class TrainDef:
    """``train { … }``."""

    entries: tuple[TrainEntry, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Import:
    """``import "other.cnn"``."""

    path: str
    span: Span = _span()


Item = Import | BlockDef | NetworkDef | TrainDef


@dataclass(frozen=True, slots=True)
class File:
    """A parsed ``.cnn`` file."""

    items: tuple[Item, ...]
    path: str = field(default="<string>", compare=False)


def walk(node: object) -> Iterator[object]:
    """Every syntax node below ``node`` (itself included), depth first, in source order."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, tuple):
            stack.extend(reversed(item))
            continue
        fields = getattr(item, "__dataclass_fields__", None)
        if fields is None:
            continue
        yield item
        stack.extend(reversed([getattr(item, name) for name in fields if name != "span"]))
