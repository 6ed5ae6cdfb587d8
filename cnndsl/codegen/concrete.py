"""The IR printer: classes written straight from the elaborated network.

Where the symbolic translator (:mod:`.blocks`) cannot write a block for all of its instances,
the file is printed from the IR instead: every name, channel count, argument and branch is
the elaborator's decision, so the module reproduces the checker's paths, shapes and
parameters by construction. Each distinct block instance becomes a class (identical ones
share it); a labelled merge becomes a class of its own; the network's constructor keeps its
parameters but accepts only the values it was compiled for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .. import ir
from .. import syntax as s
from ..expr import IN_ATTRS, lit, py_value, to_py
from ..names import python_name
from ..ops import Op, lookup
from .blocks import ClassCode
from .emit import Emit
from .lines import Attr

MAX_NESTING = 8


class ConcreteEmit(Emit):
    """An :class:`Emit` whose arguments are one layer's resolved values."""

    def __init__(self, helpers: set[str], op: Op, layer: ir.Layer):
        self.helpers = helpers
        self.op = op
        self.step = layer  # type: ignore[assignment]  # errors point at its span
        self.rank = len(layer.in_shape) - 1
        self.cin = str(ir.channels(layer.in_shape))
        self.cout = str(ir.channels(layer.out_shape))
        self.channels_last = isinstance(layer.in_shape, ir.ChannelsLast)
        self.inplace = False
        self.instances = [layer]
        names = {p.name for p in op.signature} | {"dims", "runtime_size"}
        self.args = {k: lit(v) for k, v in layer.args.items() if k in names and v is not None}
        self.given_names = set(self.args)

    def used(self, arg: str) -> None:
        """Every number here is the layer's own: nothing to check for other values."""

    def need(self, helper: str) -> str:
        self.helpers.add(helper)
        return helper


@dataclass
class Printer:
    """Prints a program's networks from their IR (see the module docstring)."""

    class_names: dict[tuple[str, str], str]
    helpers: set[str] = field(default_factory=set)
    classes: list[ClassCode] = field(default_factory=list)
    taken: set[str] = field(default_factory=set)
    by_text: dict[tuple[str, ...], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.taken |= {v for (kind, _), v in self.class_names.items() if "network" in kind}

    # ---------------------------------------------------------------- classes
    def network(self, net: ir.Network, params: list[tuple[str, str, Any]]) -> None:
        """The network's class; ``params``: (name in the signature, type, compiled value)."""
        name = self.class_names[("network", net.name)]
        tuple_name = self.class_names[("network outputs", net.name)]
        code = self.container_code(net.root, name, net.outputs, tuple_name)
        sig = ["self"] + [f"{p}: {typ} = {_default(v)}" for p, typ, v in params]
        guard = []
        for p, _, v in params:
            value = f"list({p})" if isinstance(v, s.List) else p
            differs = "is not" if isinstance(v, bool) else "!="  # ruff: E712
            guard += [
                f"if {value} {differs} {py_value(v)}:",
                f'    raise ValueError(f"compiled for {p}={py_value(v)}, " f"got {{{p}!r}}")',
            ]
        code.signature = ", ".join(sig)
        code.init = ["super().__init__()", *guard, *code.init[1:]]
        code.doc = f"{net.name}: input {'×'.join(map(str, net.input_shape))}."
        self.classes.append(code)

    def container_class(self, node: ir.Module | ir.Merge, base: str) -> str:
        """The class of a block instance or container merge (shared by identical ones)."""
        code = self.container_code(node, "", (), "")
        key = (*code.init, "--", *code.forward)
        if key not in self.by_text:
            code.name = python_name(base, self.taken)
            if isinstance(node, ir.Module):
                code.doc = _doc(f"{node.title}: the block {node.block} as compiled for this input.")
            else:
                code.doc = f"A {node.kind} of branches that is a module of its own."
            self.by_text[key] = code.name
            self.classes.append(code)
        return self.by_text[key]

    def container_code(
        self,
        node: ir.Module | ir.Merge,
        name: str,
        outputs: tuple[tuple[str, ir.Shape, float], ...],
        tuple_name: str,
    ) -> ClassCode:
        names = {child.uid: member for member, child in node.members}
        if isinstance(node, ir.Module) and node.sequential and _is_chain(node):
            return self.sequential_code(node, name)
        init = ["super().__init__()"]
        for member, child in node.members:
            pre: list[str] = []
            ctor = self.ctor(child, member, pre)
            attr = Attr((member,))
            if _is_parameter(child) and not attr.plain:
                init += [f"self.register_parameter({member!r}, {ctor})"]
            else:
                init += [*pre, attr.assign(ctor)]
        last = isinstance(node.in_shape, ir.ChannelsLast)
        forward = Forward(names, rank=len(node.in_shape) - 1, channels_last=last)
        if isinstance(node, ir.Merge):
            forward.merge(node, "x", "x")
        else:
            forward.flow(node.body, "x", "x")
        forward.lines = forward.prologue() + forward.lines
        returns = "Tensor"
        outputs_tuple = None
        if outputs:
            fields = [n for n, _, _ in outputs]
            values = ", ".join(forward.outputs[n] for n in fields)
            forward.lines += ["if self.training:", f"    return {tuple_name}(x, {values})"]
            returns = f"Tensor | {tuple_name}"
            outputs_tuple = (tuple_name, ["out", *fields])
        forward.lines.append("return x")
        return ClassCode(name, "", "self", init, forward.lines, returns, outputs_tuple)

    def sequential_code(self, node: ir.Module, name: str) -> ClassCode:
        """A sequential block's instance: an ``nn.Sequential`` subclass, as torchvision's
        ``Conv2dNormActivation``; with a ``forward`` of its own where a step reads the
        block's input size at run time (torchvision's ``ASPPPooling``)."""
        pre: list[str] = []
        parts = [self.ctor(child, key, pre, 1) for key, child in node.members]
        init = [*pre, f"super().__init__({_sequential_args(node, parts)})"]
        forward: list[str] = []
        if any(_runtime(child) for _, child in node.members):
            names = {child.uid: key for key, child in node.members}
            last = isinstance(node.in_shape, ir.ChannelsLast)
            fwd = Forward(names, len(node.in_shape) - 1, indexed=True, channels_last=last)
            fwd.flow(node.body, "x", "x")
            forward = [*fwd.prologue(), *fwd.lines, "return x"]
        code = ClassCode(name, "", "self", init, forward, "Tensor", None)
        code.base = "nn.Sequential"
        return code

    def ctor(self, node: ir.Node, member: str, pre: list[str], depth: int = 0) -> str:
        """The constructor expression of ``node``; Sequentials nested deeper than
        ``MAX_NESTING`` are built first into locals (``pre``): Python's parser limits how
        deeply parentheses nest."""
        if isinstance(node, ir.Layer):
            op = lookup(node.op)
            assert op is not None
            return op.torch(ConcreteEmit(self.helpers, op, node))
        if isinstance(node, ir.Module) and node.kind == "sequential" and _is_chain(node):
            parts = [self.ctor(child, key, pre, depth + 1) for key, child in node.members]
            expr = f"nn.Sequential({_sequential_args(node, parts)})"
            if depth < MAX_NESTING:
                return expr
            var = f"layers{len(pre) + 1}"
            pre.append(f"{var} = {expr}")
            return var
        if isinstance(node, ir.Module):
            base = node.block or "Sequential"
            return f"{self.container_class(node, _camel(base))}()"
        assert isinstance(node, ir.Merge)
        return f"{self.container_class(node, _camel(member) + node.kind.title())}()"


def _sequential_args(node: ir.Module, parts: list[str]) -> str:
    """nn.Sequential's arguments: the elements, or an OrderedDict where a label keys one."""
    if all(key == str(i) for i, (key, _) in enumerate(node.members)):
        return ", ".join(parts)
    items = ", ".join(f"({key!r}, {p})" for (key, _), p in zip(node.members, parts))
    return f"OrderedDict([{items}])"


def _doc(text: str) -> str:
    """A docstring body: one line when it fits, else wrapped (the lines stay under 100)."""
    if len(text) <= 88:
        return text
    import textwrap

    lines = textwrap.wrap(text.replace("\\", "\\\\"), 88, break_on_hyphens=False)
    return "\n    ".join(lines) + "\n    "


def _default(value: Any) -> str:
    """A parameter's default: a list parameter's as a tuple (no mutable default)."""
    if isinstance(value, s.List):
        return py_value(tuple(value))
    return py_value(value)


def _is_parameter(node: ir.Node) -> bool:
    if not isinstance(node, ir.Layer):
        return False
    op = lookup(node.op)
    return op is not None and op.parameter


def _runtime(node: ir.Node) -> bool:
    """A layer whose size generated code reads from a tensor at run time."""
    if not isinstance(node, ir.Layer):
        return False
    return node.args.get("runtime_size") is not None or node.args.get("like") is not None


def _is_chain(node: ir.Module) -> bool:
    """A Sequential whose data flow is its members in order (``nn.Sequential`` runs that)."""
    return tuple(n.uid for n in node.body) == tuple(child.uid for _, child in node.members)


def _camel(name: str) -> str:
    """A class name from a module name (a string label may hold any characters)."""
    name = re.sub(r"[^0-9A-Za-z_]", "_", name)
    out = "".join(part[:1].upper() + part[1:] for part in name.split("_"))
    return out if out[:1].isalpha() else f"M{out}"


@dataclass
class Forward:
    """The forward lines of one container, from its data flow."""

    names: dict[int, str]
    rank: int = 2
    indexed: bool = False  # an nn.Sequential subclass: its elements are self[0], self[1]…
    lines: list[str] = field(default_factory=list)
    tensors: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    taken: set[str] = field(default_factory=lambda: {"x", "self", "in_size"})
    in_size: bool = False  # the forward reads its input's spatial size
    channels_last: bool = False  # its input is channels-last (N×H×W×C)

    def var(self, base: str) -> str:
        """A fresh variable: ``base`` itself when free (a tensor's name), else ``base2``…"""
        return python_name(base, self.taken)

    def ref(self, uid: int) -> str:
        name = self.names[uid]
        if self.indexed and name.isdigit():
            return f"self[{name}]"
        return Attr((name,)).ref()

    def prologue(self) -> list[str]:
        """``in_size = x.shape[2:]`` when a step reads the input's size at run time
        (``x.shape[1:-1]`` of a channels-last input)."""
        spatial = "1:-1" if self.channels_last else "2:"
        return [f"in_size = list(x.shape[{spatial}])"] if self.in_size else []

    def layer(self, node: ir.Layer, x: str, target: str) -> None:
        op = lookup(node.op)
        assert op is not None
        ref = self.ref(node.uid)
        if op.parameter:
            self.lines.append(f"{target} = {x} * {ref}")
        elif node.args.get("like") is not None:
            like = self.tensors[node.args["like"][0]]
            self.lines.append(f"{target} = {ref}({x}, list({like}.shape[2:]))")
        elif node.args.get("runtime_size") is not None:
            self.in_size = True
            attrs = IN_ATTRS[self.rank]
            names = {f"in.{a}": f"in_size[{attrs.index(a) - 1}]" for a in attrs[1:]}
            size = to_py(node.args["runtime_size"], names)
            size = f"list({size})" if size.startswith("(") else f"[{size}]"
            self.lines.append(f"{target} = {ref}({x}, {size})")
        else:
            self.lines.append(f"{target} = {ref}({x})")

    def flow(self, body: tuple[ir.Node, ...], target: str, source: str) -> str:
        """Run ``body`` on the tensor in ``source``, leaving the result in ``target``."""
        cur = source
        for node in body:
            cur = self.node(node, cur, target)
        if cur != target:
            self.lines.append(f"{target} = {cur}")
        return target

    def node(self, node: ir.Node, x: str, target: str) -> str:
        """Emit one node reading ``x``; returns the variable that holds the current tensor."""
        if isinstance(node, ir.Layer):
            self.layer(node, x, target)
            return target
        if isinstance(node, ir.Module) or (isinstance(node, ir.Merge) and node.container):
            self.lines.append(f"{target} = {self.ref(node.uid)}({x})")
            return target
        if isinstance(node, ir.Merge):
            return self.merge(node, x, target)
        if isinstance(node, ir.Bind):
            var = self.tensors[node.name] = self.var(node.name)
            self.lines.append(f"{var} = {x}")
            return var
        if isinstance(node, ir.Use):
            return self.tensors[node.name]
        if isinstance(node, ir.MergeRefs):
            refs = [self.tensors[n] for n in node.names]
            dim = -1 if isinstance(node.out_shape, ir.ChannelsLast) else 1
            self.lines.append(f"{target} = {_combine(node.kind, refs, dim)}")
            return target
        if isinstance(node, ir.Output):
            self.outputs[node.name] = self.flow(node.body, self.var(node.name), x)
            return x
        assert isinstance(node, ir.Input), node
        return x

    def merge(self, node: ir.Merge, x: str, target: str) -> str:
        dim = -1 if isinstance(node.out_shape, ir.ChannelsLast) else 1
        inputs = [x] * len(node.branches)
        if node.kind == "split":  # branch i takes the i-th chunk of the channels
            n = len(node.branches)
            chunks = [self.var(f"chunk{i + 1}") for i in range(n)]
            lhs = ", ".join(chunks) + ("," if n == 1 else "")
            self.lines.append(f"{lhs} = torch.chunk({x}, {n}, {dim})")
            inputs = chunks
        outs = [
            self.flow(branch, self.var(f"branch{i + 1}"), source) if branch else source
            for i, (branch, source) in enumerate(zip(node.branches, inputs, strict=True))
        ]
        self.lines.append(f"{target} = {_combine(node.kind, outs, dim)}")
        return target


def _combine(kind: str, values: list[str], dim: int = 1) -> str:
    if kind in ("concat", "split"):
        return f"torch.cat([{', '.join(values)}], {dim})"
    return (" + " if kind == "add" else " * ").join(values)


__all__ = ["ConcreteEmit", "Printer"]
