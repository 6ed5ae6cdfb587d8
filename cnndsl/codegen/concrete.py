"""The IR printer: classes written straight from the elaborated network.

Where the symbolic translator (:mod:`.blocks`) cannot write a block for all of its instances,
the file is printed from the IR instead: every name, channel count, argument and branch is
the elaborator's decision, so the module reproduces the checker's paths, shapes and
parameters by construction. Each distinct block instance becomes a class (identical ones
share it); a labelled merge becomes a class of its own; the network's constructor keeps its
parameters but accepts only the values it was compiled for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import ir
from ..expr import lit, py_value
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
        self.cin = str(layer.in_shape[0])
        self.cout = str(layer.out_shape[0])
        self.inplace = False
        self.instances = [layer]
        names = {p.name for p in op.signature}
        self.args = {k: lit(v) for k, v in layer.args.items() if k in names and v is not None}
        self.given_names = set(self.args)

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
        sig = ["self"] + [f"{p}: {typ} = {py_value(v)}" for p, typ, v in params]
        guard = []
        for p, _, v in params:
            guard += [
                f"if {p} != {py_value(v)}:",
                f'    raise ValueError(f"compiled for {p}={py_value(v)}, got {{{p}!r}}")',
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
                code.doc = f"{node.title}: the block {node.block} as compiled for this input."
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
        init = ["super().__init__()"]
        for member, child in node.members:
            pre: list[str] = []
            ctor = self.ctor(child, member, pre)
            init += [*pre, Attr((member,)).assign(ctor)]
        forward = Forward(names)
        if isinstance(node, ir.Merge):
            forward.merge(node, "x", "x")
        else:
            forward.flow(node.body, "x", "x")
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
            if all(key == str(i) for i, (key, _) in enumerate(node.members)):
                expr = f"nn.Sequential({', '.join(parts)})"
            else:
                items = ", ".join(f"({key!r}, {p})" for (key, _), p in zip(node.members, parts))
                expr = f"nn.Sequential(OrderedDict([{items}]))"
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


def _is_chain(node: ir.Module) -> bool:
    """A Sequential whose data flow is its members in order (``nn.Sequential`` runs that)."""
    return tuple(n.uid for n in node.body) == tuple(child.uid for _, child in node.members)


def _camel(name: str) -> str:
    out = "".join(part[:1].upper() + part[1:] for part in name.replace("-", "_").split("_"))
    return out if out[:1].isalpha() else f"M{out}"


@dataclass
class Forward:
    """The forward lines of one container, from its data flow."""

    names: dict[int, str]
    lines: list[str] = field(default_factory=list)
    tensors: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    taken: set[str] = field(default_factory=lambda: {"x", "self"})

    def var(self, base: str) -> str:
        """A fresh variable: ``base`` itself when free (a tensor's name), else ``base2``…"""
        return python_name(base, self.taken)

    def ref(self, uid: int) -> str:
        return Attr((self.names[uid],)).ref()

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
        if isinstance(node, (ir.Layer, ir.Module)) or (
            isinstance(node, ir.Merge) and node.container
        ):
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
            self.lines.append(f"{target} = {_combine(node.kind, refs)}")
            return target
        if isinstance(node, ir.Output):
            self.outputs[node.name] = self.flow(node.body, self.var(node.name), x)
            return x
        assert isinstance(node, ir.Input), node
        return x

    def merge(self, node: ir.Merge, x: str, target: str) -> str:
        outs = [
            self.flow(branch, self.var(f"branch{i + 1}"), x) if branch else x
            for i, branch in enumerate(node.branches)
        ]
        self.lines.append(f"{target} = {_combine(node.kind, outs)}")
        return target


def _combine(kind: str, values: list[str]) -> str:
    if kind == "concat":
        return f"torch.cat([{', '.join(values)}], 1)"
    return (" + " if kind == "add" else " * ").join(values)


__all__ = ["ConcreteEmit", "Printer"]
