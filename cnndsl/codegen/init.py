"""The ``init`` statements of a network (§7) as the end of its ``__init__``, written as
torchvision writes weight initialisation: a loop over the modules with ``isinstance`` tests,
one branch per kind of layer (convolutions, linear layers, norms)."""

from __future__ import annotations

from typing import Any

from .. import ir
from .. import syntax as s
from ..expr import fold, free_names, to_py
from ..ops import lookup
from .lines import Attr

_KINDS = ("conv", "linear", "norm")


def init_lines(net: ir.Network) -> list[str]:
    """Python lines (relative indentation) that apply ``net.init``; none for no rules."""
    out: list[str] = []
    for rule in net.init:
        scope = _scope_node(net, rule.scope)
        classes = _classes(scope)
        branches: list[tuple[tuple[str, ...], list[str]]] = []
        for kind in _KINDS:
            if not classes[kind]:
                continue
            body = _body(kind, rule)
            if body:
                branches.append((classes[kind], body))
        if rule.zero_init_residual:
            zero = _last_norms(scope, rule.scope)
        else:
            zero = []
        if not branches and not zero:
            continue
        where = _modules_of(rule.scope)
        if branches:
            out.append(f"for m in {where}:")
            for i, (cls, body) in enumerate(branches):
                test = cls[0] if len(cls) == 1 else f"({', '.join(cls)})"
                out.append(f"    {'if' if i == 0 else 'elif'} isinstance(m, {test}):")
                out += [f"        {line}" for line in body]
        if zero:
            # the last norm of every residual body starts at 0: each block begins as the
            # identity (torchvision's zero_init_residual)
            names = ", ".join(repr(p) for p in zero) + ("," if len(zero) == 1 else "")
            out.append(f"for name in ({names}):")
            out.append("    nn.init.zeros_(self.get_submodule(name).weight)")
    return out


def _modules_of(path: str) -> str:
    if not path:
        return "self.modules()"
    parts = path.split(".")
    if all(Attr((p,)).plain for p in parts):
        return f"self.{path}.modules()"
    return f"self.get_submodule({path!r}).modules()"


def _scope_node(net: ir.Network, path: str) -> ir.Node:
    if not path:
        return net.root
    return dict(net.modules())[path]


def _classes(node: ir.Node) -> dict[str, tuple[str, ...]]:
    """Per kind, the torch classes of the layers under ``node``, in first-seen order."""
    found: dict[str, dict[str, None]] = {k: {} for k in _KINDS}
    for layer in _layers(node):
        op = lookup(layer.op)
        assert op is not None
        if op.init_kind is None:
            continue
        for cls in op.init_classes(layer.in_shape, layer.args):
            found[op.init_kind][cls] = None
    return {k: tuple(v) for k, v in found.items()}


def _layers(node: ir.Node) -> list[ir.Layer]:
    if isinstance(node, ir.Layer):
        return [node]
    body: tuple[ir.Node, ...] = ()
    if isinstance(node, (ir.Module, ir.Output)):
        body = node.body
    elif isinstance(node, ir.Merge):
        body = tuple(n for branch in node.branches for n in branch)
    return [n for n in ir.iter_flow(body) if isinstance(n, ir.Layer)]


def _body(kind: str, rule: ir.InitRule) -> list[str]:
    if kind == "norm":
        if rule.norm == "default":
            return []
        return [
            "if m.weight is not None:",
            "    nn.init.ones_(m.weight)",
            "    nn.init.zeros_(m.bias)",
        ]
    name, arg = rule.conv if kind == "conv" else rule.linear
    lines = _weight(name, arg)
    if rule.bias == "zeros":
        lines += ["if m.bias is not None:", "    nn.init.zeros_(m.bias)"]
    return lines


def _weight(name: str, arg: Any) -> list[str]:
    if name == "default":
        return []
    if name in ("kaiming_normal", "kaiming_uniform"):
        return [f'nn.init.{name}_(m.weight, mode="fan_out", nonlinearity="relu")']
    if name in ("xavier_uniform", "xavier_normal"):
        return [f"nn.init.{name}_(m.weight)"]
    assert isinstance(arg, (s.Lit, s.Name, s.BinOp, s.Unary, s.Call, s.IfExp, s.Compare))
    expr = fold(arg)
    value = to_py(expr)
    pre = []
    reads = free_names(expr)
    if "fan_in" in reads or "fan_out" in reads:
        # PyTorch's fans: dimension 1 (0) of the weight times its receptive field
        pre.append("field = m.weight[0][0].numel()")
        if "fan_in" in reads:
            pre.append("fan_in = m.weight.size(1) * field")
        if "fan_out" in reads:
            pre.append("fan_out = m.weight.size(0) * field")
    if name == "normal":
        return [*pre, f"nn.init.normal_(m.weight, mean=0.0, std={value})"]
    if name == "trunc_normal":
        return [*pre, f"nn.init.trunc_normal_(m.weight, mean=0.0, std={value}, a=-2.0, b=2.0)"]
    assert name == "uniform", name
    return [*pre, f"bound = {value}", "nn.init.uniform_(m.weight, -bound, bound)"]


def _last_norms(node: ir.Node, prefix: str) -> list[str]:
    """Module paths of the last norm in the body of every residual under ``node``."""
    paths = {id(n): p for p, n in _walk(node, f"{prefix}." if prefix else "")}
    out: list[str] = []
    for n in ir.iter_flow(_flow_of(node)):
        if isinstance(n, ir.Merge) and n.residual is not None:
            last = _last_norm(n.branches[0])
            if last is not None and id(last) in paths:
                out.append(paths[id(last)])
    return list(dict.fromkeys(out))


def _flow_of(node: ir.Node) -> tuple[ir.Node, ...]:
    if isinstance(node, ir.Module):
        return node.body
    if isinstance(node, ir.Merge):
        return (node,)
    return ()


def _last_norm(body: tuple[ir.Node, ...]) -> ir.Layer | None:
    """The last norm module in a residual body, found through block calls and groups."""
    for n in reversed(body):
        if isinstance(n, ir.Layer):
            op = lookup(n.op)
            if op is not None and op.init_kind == "norm" and op.init_classes(n.in_shape, n.args):
                return n
        elif isinstance(n, ir.Module):
            found = _last_norm(n.body)
            if found is not None:
                return found
    return None


def _walk(node: ir.Node, prefix: str) -> list[tuple[str, ir.Node]]:
    if isinstance(node, (ir.Module, ir.Merge)):
        return list(ir.walk_members(node, prefix))
    return []
