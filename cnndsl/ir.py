"""Stage 2's product: the elaborated network.

Blocks are instantiated, expressions evaluated, repeats unrolled and every module named.
Two views of one tree:

* the **module tree**: each container (:class:`Module`, or a :class:`Merge` that is a
  container) lists its ``members`` as ``(name, node)`` in registration order; module paths
  (``layer2.0.downsample.0``) and so ``state_dict`` keys follow from it;
* the **data flow**: each container's ``body`` lists the nodes that run, in order; an inline
  merge's ``branches`` each run on the merge's input.

Every node is frozen, carries a ``uid`` (unique in its network, in creation order), its input
and output shapes (channels first, no batch) and the span of the source that made it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import Span
from .text import size_text

Shape = tuple[int, ...]
"""A tensor shape without the batch dimension, channels first (or :class:`ChannelsLast`)."""


class ChannelsLast(tuple[int, ...]):
    """The shape of a channels-last tensor, in the tensor's own order (H×W×C): what a
    ``permute 0 2 3 1`` makes of C×H×W. A plain tuple shape is channels first."""

    __slots__ = ()


def channels(shape: Shape) -> int:
    """The channel count of a shape, whichever its layout."""
    return shape[-1] if isinstance(shape, ChannelsLast) else shape[0]


def spatial(shape: Shape) -> Shape:
    """The spatial sizes of a shape, in the tensor's order."""
    return tuple(shape[:-1]) if isinstance(shape, ChannelsLast) else tuple(shape[1:])


def channels_first(shape: Shape) -> Shape:
    """The shape as C×spatial (for ``in.*`` and for checks that read channels first)."""
    return (shape[-1], *shape[:-1]) if isinstance(shape, ChannelsLast) else shape


class Args(Mapping[str, Any]):
    """Resolved arguments of one layer: an immutable, hashable mapping."""

    __slots__ = ("_items", "_dict")

    def __init__(self, items: Mapping[str, Any]):
        self._items = tuple(items.items())
        self._dict = dict(self._items)

    def __getitem__(self, key: str) -> Any:
        return self._dict[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Args) and self._items == other._items

    def __repr__(self) -> str:
        return "Args(" + ", ".join(f"{k}={v!r}" for k, v in self._items) + ")"

    def replace(self, **changes: Any) -> Args:
        return Args({**self._dict, **changes})


@dataclass(frozen=True, slots=True)
class Layer:
    """One op applied to the current tensor."""

    uid: int
    op: str
    args: Args
    in_shape: Shape
    out_shape: Shape
    span: Span = field(compare=False)

    def __repr__(self) -> str:
        return (
            f"Layer#{self.uid}({self.op} {size_text(self.in_shape)}->{size_text(self.out_shape)})"
        )


@dataclass(frozen=True, slots=True)
class Module:
    """A container module: a block instance, an ``nn.Sequential`` or the network itself.

    ``kind`` is ``"block"``, ``"sequential"`` or ``"network"``; for a block, ``block`` names
    the block definition and ``values`` holds its parameters' values; ``title`` reads like
    the call (``Bottleneck(128, stride=2)``).
    """

    uid: int
    kind: str
    title: str
    block: str | None
    values: tuple[tuple[str, Any], ...]
    members: tuple[tuple[str, Node], ...]
    body: tuple[Node, ...]
    in_shape: Shape
    out_shape: Shape
    span: Span = field(compare=False)
    sequential: bool = False  # a sequential block (`block B(…) = { … }`): an nn.Sequential

    def __repr__(self) -> str:
        names = ", ".join(n for n, _ in self.members)
        return f"Module#{self.uid}({self.kind} {self.title!r} [{names}])"


@dataclass(frozen=True, slots=True)
class Merge:
    """``concat``/``add``/``mul`` of branches that all receive the same input, or ``split``,
    whose branch i receives the i-th equal chunk of the input's channels.

    ``container`` merges are modules of their own (labelled, or elements of a Sequential),
    with ``members``; inline merges register their layers in the enclosing module.
    ``residual`` is ``"identity"`` or ``"projection"`` for a ``residual`` statement.
    """

    uid: int
    kind: str
    branches: tuple[tuple[Node, ...], ...]
    container: bool
    members: tuple[tuple[str, Node], ...]
    residual: str | None
    in_shape: Shape
    out_shape: Shape
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class Input:
    """The network's input (``input 3x224x224``)."""

    uid: int
    out_shape: Shape
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class Bind:
    """Binds the current tensor to ``name`` (``name = chain``)."""

    uid: int
    name: str
    out_shape: Shape
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class Use:
    """Makes the bound tensor ``name`` current again."""

    uid: int
    name: str
    out_shape: Shape
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class MergeRefs:
    """``concat(a, b)``, ``add(a, b)``, ``mul(a, b)`` of bound tensors."""

    uid: int
    kind: str
    names: tuple[str, ...]
    in_shapes: tuple[Shape, ...]
    out_shape: Shape
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class Output:
    """A side output: ``body`` runs on the current tensor, which stays current."""

    uid: int
    name: str
    weight: float
    body: tuple[Node, ...]
    in_shape: Shape
    out_shape: Shape
    span: Span = field(compare=False)


Node = Layer | Module | Merge | Input | Bind | Use | MergeRefs | Output
Container = Module | Merge


@dataclass(frozen=True, slots=True)
class InitRule:
    """One ``init`` statement (§7), resolved: per kind of layer a rule, with its argument as
    source text over ``fan_in``/``fan_out`` (``None`` where the scheme keeps PyTorch's)."""

    scheme: str
    conv: tuple[str, Any]
    linear: tuple[str, Any]
    norm: str  # "default" or "ones"
    bias: str  # "default" or "zeros"
    scope: str  # "" (the whole network) or a module path
    zero_init_residual: bool
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class Network:
    """An elaborated network: its root module, outputs and training configuration."""

    name: str
    values: tuple[tuple[str, Any], ...]
    input_shape: Shape
    root: Module
    outputs: tuple[tuple[str, Shape, float], ...]
    train: Any
    span: Span = field(compare=False)
    init: tuple[InitRule, ...] = ()

    @property
    def output_shape(self) -> Shape:
        return self.root.out_shape

    def modules(self) -> Iterator[tuple[str, Node]]:
        """Every module path and its node, parents before children, in source order."""
        yield from walk_members(self.root, "")

    def layers(self) -> Iterator[Layer]:
        """Every layer in data-flow order."""
        for node in iter_flow(self.root.body):
            if isinstance(node, Layer):
                yield node

    def validate(self) -> None:
        """Check invariants: unique uids, unique paths, every layer has a path."""
        seen: set[int] = set()
        paths: set[str] = set()
        for path, node in self.modules():
            if path in paths:
                raise AssertionError(f"module path {path!r} is used twice")
            paths.add(path)
            seen.add(node.uid)
        for node in iter_flow(self.root.body):
            if isinstance(node, (Layer, Module)) and node.uid not in seen:
                raise AssertionError(f"{node!r} runs in forward but has no module path")


def walk_members(container: Container, prefix: str) -> Iterator[tuple[str, Node]]:
    for name, node in container.members:
        path = f"{prefix}{name}"
        yield path, node
        if isinstance(node, (Module, Merge)):
            yield from walk_members(node, path + ".")


def iter_flow(body: tuple[Node, ...]) -> Iterator[Node]:
    """Every node of a data flow, depth first, containers before their contents."""
    for node in body:
        yield node
        if isinstance(node, Module):
            yield from iter_flow(node.body)
        elif isinstance(node, Merge):
            for branch in node.branches:
                yield from iter_flow(branch)
        elif isinstance(node, Output):
            yield from iter_flow(node.body)
