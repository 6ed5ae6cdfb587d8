"""What the second edition adds to a generated file: its helper classes, the constructs the
symbolic translator leaves to the IR printer, and the guard of a network whose weights fix
its input size."""

from __future__ import annotations

import re
from typing import Any

from .. import ir
from .. import syntax as s
from ..names import MERGE_KINDS
from ..ops import lookup
from ..program import Program

HELPERS = (
    "StochasticDepth",
    "Permute",
    "LayerNorm1d",
    "LayerNorm2d",
    "LayerNorm3d",
    "Interpolate",
    "Conv1dSame",
    "Conv2dSame",
    "Conv3dSame",
    "_same_pad",
    *(f"{kind}Pool{r}dSame" for kind in ("Max", "Min", "Avg") for r in (1, 2, 3)),
)
# what the symbolic translator leaves to the IR printer (it writes lists, their indexing and
# slices, sequential blocks, string labels, `split`, `**` and the other functions,
# `stochastic_depth`)
_NEW_FUNCS = frozenset({"size"})
_NEW_OPS = frozenset({"scale", "permute"})


def helper_source(env: Any, name: str) -> str:
    """The source of one of :data:`HELPERS` (from templates/edition2.py.j2)."""
    module = env.get_template("edition2.py.j2").module
    if name == "StochasticDepth":
        return str(module.stochastic_depth())
    if name == "Permute":
        return str(module.permute())
    if name == "Interpolate":
        return str(module.interpolate())
    m = re.fullmatch(r"LayerNorm(\d)d", name)
    if m:
        return str(module.layer_norm(int(m.group(1))))
    if name == "_same_pad":
        return str(module.same_pad_fn())
    m = re.fullmatch(r"(Max|Min|Avg)Pool(\d)dSame", name)
    if m:
        return str(module.pool_same(m.group(1), int(m.group(2))))
    m = re.fullmatch(r"Conv(\d)dSame", name)
    assert m, name
    return str(module.conv_same(int(m.group(1))))


def symbolic_unsupported(program: Program, networks: list[ir.Network]) -> str | None:
    """The first second-edition construct in the program's used blocks and networks that the
    symbolic translator does not write (the file is then printed from the IR), or None."""
    names = {n.name for n in networks}
    defs: list[Any] = [n for n in program.networks if n.name in names]
    # the blocks instantiated, and those the source calls where no instance is (an arm that
    # other parameter values take): the class is written for them too
    used = {b for n in networks for b in _blocks(n.root)}
    todo = [*defs, *(program.blocks[b] for b in used if b in program.blocks)]
    while todo:
        for node in s.walk(todo.pop().body):
            if isinstance(node, s.Call) and node.func in program.blocks and node.func not in used:
                used.add(node.func)
                todo.append(program.blocks[node.func])
    defs += [b for name, b in program.blocks.items() if name in used]
    for d in defs:
        for node in s.walk(d.body):
            reason = _syntax_reason(node)
            if reason:
                return reason
    for net in networks:
        for layer in ir.iter_flow(net.root.body):
            if not isinstance(layer, ir.Layer):
                continue
            if isinstance(layer.in_shape, ir.ChannelsLast):
                return "a channels-last tensor"
            if layer.args.get("like") is not None or layer.args.get("runtime_size") is not None:
                return "a size read at run time"
    return None


def _syntax_reason(node: object) -> str | None:
    if isinstance(node, s.Call) and node.func in _NEW_FUNCS:
        return f"{node.func}()"
    if isinstance(node, s.Merge) and node.kind not in (*MERGE_KINDS, "split"):
        return node.kind
    if isinstance(node, s.Merge) and any(
        isinstance(b, s.Chain) and len(b.steps) == 1 and isinstance(b.steps[0], s.Repeat | s.If)
        for b in node.branches
    ):
        return "a repeat or if spliced into a merge"
    if isinstance(node, s.Layer) and node.op in _NEW_OPS:
        return node.op
    if isinstance(node, s.Layer) and node.op == "upsample":
        if any(kw.key in ("size", "like", "align_corners") for kw in node.kwargs):
            return "upsample to a size"
    if isinstance(node, s.Layer) and node.op == "layernorm":
        if any(kw.key == "dim" for kw in node.kwargs):
            return "layernorm dim="
    if isinstance(node, s.Chain):
        return None
    return None


def _blocks(node: ir.Node) -> set[str]:
    out: set[str] = set()
    for n in ir.iter_flow(node.body if isinstance(node, ir.Module) else ()):
        if isinstance(n, ir.Module) and n.block:
            out.add(n.block)
    return out


def other_size(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Another input size to probe: +32 on each spatial size (+37 in 1-D, +4 frames in 3-D)."""
    if len(shape) == 2:
        return (shape[0], shape[1] + 37)
    if len(shape) == 4:
        return (shape[0], shape[1] + 4, shape[2] + 32, shape[3] + 32)
    return (shape[0], *(d + 32 for d in shape[1:]))


def size_guard(program: Program, net: ir.Network) -> list[str]:
    """Forward lines that refuse an input size the network's weights cannot take (a layer
    with weights whose input size follows the network's, as a `linear` after `flatten`),
    with a message naming the layer and what it takes; none for a network that accepts
    every size its layers accept. The checker decides: the network is elaborated again at
    another size, and a layer with weights whose input changes fixes the size."""
    if len(net.input_shape) < 2:
        return []
    from ..elaborate import elaborate
    from ..errors import CnnError, Warnings

    try:
        (other,) = elaborate(
            program, net.name, dict(net.values), Warnings(), other_size(net.input_shape)
        )
    except CnnError:
        return []  # the layers refuse other sizes themselves
    probe = {path: node for path, node in other.modules()}
    for path, node in net.modules():
        if not isinstance(node, ir.Layer):
            continue
        op = lookup(node.op)
        assert op is not None
        twin = probe.get(path)
        if not isinstance(twin, ir.Layer) or twin.op != node.op:  # another arm at that size
            return _guard(net, path, node, "is built for it")
        own = op.count_params(node.in_shape, node.args)
        if own[0] and op.count_params(twin.in_shape, twin.args) != own:
            return _guard(net, path, node, f"takes {'×'.join(map(str, node.in_shape))}")
    return []


def _guard(net: ir.Network, path: str, node: ir.Layer, why: str) -> list[str]:
    spatial = list(net.input_shape[1:])
    shape = "×".join(map(str, net.input_shape))
    return [
        f"if list(x.shape[2:]) != {spatial}:",
        "    raise ValueError(",
        f'        f"{net.name} accepts only {shape} inputs: {path} ({node.op}) {why}, "',
        '        f"got {list(x.shape[1:])}"',
        "    )",
    ]
