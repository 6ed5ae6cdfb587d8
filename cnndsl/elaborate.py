"""Stage 2: syntax tree -> elaborated networks (:mod:`cnndsl.ir`).

Evaluates expressions, instantiates blocks, unrolls repeats, applies the naming rules of
the language reference (§5) and tracks the shape of the current tensor as it goes: ``in``
(the input shape of a block) is a compile-time value, so shapes are known during elaboration.

>>> from cnndsl.parser import parse
>>> from cnndsl.program import Program
>>> prog = Program.from_file(parse("network N { input 3x8x8; conv 4 3x3 -> relu }"))
>>> net = elaborate(prog)[0]
>>> [path for path, _ in net.modules()], net.output_shape
(['conv1', 'relu1'], (4, 6, 6))
"""

from __future__ import annotations

import dataclasses
import keyword
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from . import ir
from . import syntax as s
from .errors import CnnError, Span, Warnings, did_you_mean
from .expr import Evaluator, Scope, free_names, show_value, subst
from .names import (
    MERGE_KINDS,
    RESERVED_PARAMS,
    auto_name,
    check_label,
    check_name,
    snake,
)
from .ops import REGISTRY, Op, ShapeError, lookup
from .ops.misc import restore_hint
from .program import Program
from .text import size_text

MAX_REPEAT = 100_000
MAX_STEPS = 100_000
MAX_BLOCK_DEPTH = 64
MAX_DIM = 2**31 - 1
SECOND_EDITION_OPS = ("scale", "permute", "stochastic_depth")
INIT_SCHEMES = ("default", "kaiming", "trunc_normal", "xavier")
INIT_RULES_BARE = (
    "default",
    "kaiming_normal",
    "kaiming_uniform",
    "xavier_uniform",
    "xavier_normal",
)
INIT_RULES_ARG = ("normal", "trunc_normal", "uniform")


# ---------------------------------------------------------------- programs (files + imports)
# ---------------------------------------------------------------- scopes and naming
@dataclass(slots=True)
class _Entry:
    node: ir.Node
    label: str | None
    prefix: str
    span: Span


class Namer:
    """Names the members of one container, by the rules of the language reference §5.

    ``module`` context: labels are attribute names; unlabelled steps get ``prefix{n}``,
    counted per prefix from 1, skipping names any label uses. ``sequential`` context:
    elements are keyed by label or by their position.
    """

    def __init__(self, sequential: bool):
        self.sequential = sequential
        self.entries: list[_Entry] = []

    def add(self, node: ir.Node, label: str | None, prefix: str, span: Span) -> None:
        self.entries.append(_Entry(node, label, prefix, span))

    def finish(self) -> tuple[tuple[str, ir.Node], ...]:
        first: dict[str, Span] = {}
        for e in self.entries:
            if e.label is None:
                continue
            if e.label in first:
                prev = first[e.label]
                hint = (
                    f"first used at line {prev.line}"
                    if prev != e.span
                    else "the label repeats in every iteration; use a template such as "
                    f"{e.label}{{i}} with `repeat … as i`"
                )
                raise CnnError(f"duplicate module name {e.label!r}", e.span, hint)
            first[e.label] = e.span
        if self.sequential:
            for i, e in enumerate(self.entries):
                if e.label is not None and e.label.isdigit() and e.label != str(i):
                    raise CnnError(
                        f"module name {e.label!r} is element {i} of this nn.Sequential",
                        e.span,
                        f"a numeric name in a sequential group must equal its index: "
                        f'write "{i}", or choose a name that is not a number',
                    )
            return tuple((e.label or str(i), e.node) for i, e in enumerate(self.entries))
        used = set(first)
        counters: dict[str, int] = {}
        out = []
        for e in self.entries:
            name = e.label
            if name is None:
                name, n = auto_name(e.prefix, counters.get(e.prefix, 1), used)
                counters[e.prefix] = n + 1
                used.add(name)
            out.append((name, e.node))
        return tuple(out)


@dataclass(slots=True)
class Ctx:
    """Where elaboration is: the flow being built, its namer and the visible names."""

    flow: list[ir.Node]
    namer: Namer
    values: Scope
    tensors: dict[str, ir.Shape] | None  # None where bound tensors are not allowed
    in_shape: ir.Shape
    blocks: tuple[str, ...]
    top: bool = False
    where: str = "network"
    call: str | None = None  # the block call being elaborated: `Bottleneck(64) at t.cnn:12:5`
    runtime_in: bool = True  # `in` is this module's own input (a labelled group's is not)

    @property
    def sequential(self) -> bool:
        return self.namer.sequential

    def child(self, **changes: Any) -> Ctx:
        values = changes.pop("values", Scope(self.values))
        tensors = changes.pop("tensors", dict(self.tensors) if self.tensors is not None else None)
        base = dict(
            flow=self.flow,
            namer=self.namer,
            values=values,
            tensors=tensors,
            in_shape=self.in_shape,
            blocks=self.blocks,
            top=False,
            where=self.where,
            call=self.call,
            runtime_in=self.runtime_in,
        )
        base.update(changes)
        return Ctx(**base)


# ---------------------------------------------------------------- the elaborator
@dataclass(slots=True)
class Elaborator:
    program: Program
    warnings: Warnings = field(default_factory=Warnings)
    uid: int = 0
    steps: int = 0
    outputs: list[tuple[str, ir.Shape, float]] = field(default_factory=list)
    inits: list[s.Init] = field(default_factory=list)
    spatial_reads: list[s.InAttr] = field(default_factory=list)  # in.height… at compile time
    pending_runtime: s.Expr | None = None  # the layer's size that run time computes

    def next_uid(self) -> int:
        self.uid += 1
        return self.uid

    # ---------------------------------------------------------------- networks
    def network(
        self,
        net: s.NetworkDef,
        overrides: dict[str, Any] | None = None,
        input_shape: ir.Shape | None = None,
    ) -> ir.Network:
        self.uid = 0
        self.steps = 0
        values = self.bind_params(
            net.name, net.params, (), (), net.span, Scope(), "network", overrides or {}
        )
        stmts = list(net.body.body)
        first = stmts[0] if stmts else None
        shape, input_stmt = self.input_of(net, first, Scope(None, dict(values)))
        if input_shape is not None:
            if len(input_shape) != len(shape) or min(input_shape) < 1 or max(input_shape) > MAX_DIM:
                raise CnnError(
                    f"--input {size_text(input_shape)} does not fit {net.name}'s "
                    f"{size_text(shape)} input",
                    input_stmt.span,
                    f"give {len(shape)} positive sizes, channels first",
                )
            shape = tuple(input_shape)
        ctx = Ctx(
            flow=[],
            namer=Namer(sequential=False),
            values=Scope(None, dict(values)),
            tensors={},
            in_shape=shape,
            blocks=(),
            top=True,
            where="network",
        )
        node = ir.Input(self.next_uid(), shape, input_stmt.span)
        ctx.flow.append(node)
        if isinstance(input_stmt, s.Bind):
            self.check_binding_name(input_stmt.name, input_stmt.span, ctx)
            assert ctx.tensors is not None
            ctx.tensors[input_stmt.name] = shape
            ctx.flow.append(ir.Bind(self.next_uid(), input_stmt.name, shape, input_stmt.span))
        self.outputs = []
        self.inits = []
        self.spatial_reads = []
        cur = self.statements(stmts[1:], ctx, shape)
        if self.spatial_reads:
            read = self.spatial_reads[0]
            self.warnings.warn(
                f"in.{read.attr} is read at compile time, so the compiled {net.name} accepts "
                f"only its declared {size_text(shape)} input",
                read.span,
                "sizes computed at run time: gap, adaptive pools, `upsample like=` or "
                "`upsample size=size(in.height, in.width)`",
            )
        root = ir.Module(
            self.next_uid(),
            "network",
            net.name,
            None,
            tuple(values.items()),
            ctx.namer.finish(),
            tuple(ctx.flow),
            shape,
            cur,
            net.span,
        )
        network = ir.Network(
            net.name, tuple(values.items()), shape, root, tuple(self.outputs), None, net.span
        )
        inits = tuple(self.init_rule(stmt, network, ctx.values) for stmt in self.inits)
        return dataclasses.replace(network, init=inits)

    def input_of(
        self, net: s.NetworkDef, first: s.Stmt | None, values: Scope
    ) -> tuple[ir.Shape, Any]:
        step = None
        if isinstance(first, s.Chain) and len(first.steps) == 1:
            step = first.steps[0]
        elif isinstance(first, s.Bind) and len(first.chain.steps) == 1:
            step = first.chain.steps[0]
        if not isinstance(step, s.Input):
            where = first.span if first is not None else net.span
            raise CnnError(
                f"network {net.name!r} must start with `input`",
                where,
                "write e.g. `input 3x224x224` (channels first) as its first line",
            )
        value = self.eval(step.shape, values, (1,))  # `input size(c, 32, 32)`: parameters
        if isinstance(value, int) and not isinstance(value, bool):
            value = s.Size((value,))
        if not isinstance(value, s.Size) or not 1 <= len(value) <= 4 or min(value) < 1:
            raise CnnError(
                f"input shape must be a size like 3x224x224, got {value}",
                step.shape.span,
                "channels first: CxL, CxHxW or CxDxHxW",
            )
        dims = tuple(value)
        if max(dims) > MAX_DIM:
            raise CnnError(
                f"input size {value} is beyond the limit of {MAX_DIM:,} per dimension",
                step.shape.span,
            )
        if len(dims) >= 3 and dims[-1] in (1, 3, 4) and dims[0] > 4 and dims[0] == dims[-2]:
            fixed = "x".join(str(d) for d in (dims[-1], *dims[:-1]))
            raise CnnError(
                f"input {value} looks like H×W×C; cnndsl shapes are channels first",
                step.shape.span,
                f"write `input {fixed}`",
            )
        return dims, first

    # ---------------------------------------------------------------- parameters
    def bind_params(
        self,
        what: str,
        params: tuple[s.Param, ...],
        args: tuple[Any, ...],
        kwargs: tuple[tuple[str, Any, Span], ...],
        span: Span,
        scope: Scope,
        kind: str,
        overrides: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        names = [p.name for p in params]
        for p in params:
            if p.name in RESERVED_PARAMS or keyword.iskeyword(p.name):
                raise CnnError(f"a {kind} parameter may not be called {p.name!r}", p.span)
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise CnnError(f"parameter {dup!r} is declared twice", span)
        if len(args) > len(params):
            raise CnnError(
                f"{what}() takes {len(params)} argument"
                f"{'s' if len(params) != 1 else ''}, got {len(args)}",
                span,
                f"parameters: {', '.join(names) or 'none'}",
            )
        values: dict[str, Any] = dict(zip(names, args, strict=False))
        for key, value, kspan in kwargs:
            if key not in names:
                raise CnnError(
                    f"{kind} {what!r} has no parameter {key!r}",
                    kspan,
                    did_you_mean(key, names) or f"parameters: {', '.join(names)}",
                )
            if key in values:
                raise CnnError(f"parameter {key!r} given twice", kspan)
            values[key] = value
        for key, value in (overrides or {}).items():
            if key not in names:
                raise CnnError(
                    f"network {what!r} has no parameter {key!r}", span, did_you_mean(key, names)
                )
            values[key] = value
        out: dict[str, Any] = {}
        defaults = Scope()
        for p in params:
            if p.name in values:
                out[p.name] = values[p.name]
            elif p.default is not None:
                out[p.name] = self.eval(p.default, Scope(defaults), (0,))
            else:
                raise CnnError(
                    f"{what}() is missing argument {p.name!r}",
                    span,
                    f"call it as {what}({', '.join(names)})",
                )
            defaults.vars[p.name] = out[p.name]
        return out

    # ---------------------------------------------------------------- statements
    def statements(self, stmts: Any, ctx: Ctx, cur: ir.Shape) -> ir.Shape:
        for stmt in stmts:
            cur = self.statement(stmt, ctx, cur)
        return cur

    def statement(self, stmt: s.Stmt, ctx: Ctx, cur: ir.Shape) -> ir.Shape:
        if isinstance(stmt, s.Chain):
            return self.chain(stmt, ctx, cur)
        if isinstance(stmt, s.Let):
            self.check_value_name(stmt.name, stmt.span, ctx)
            ctx.values.vars[stmt.name] = self.eval(stmt.value, ctx.values, ctx.in_shape)
            return cur
        if isinstance(stmt, s.Bind):
            return self.bind(stmt, ctx, cur)
        if isinstance(stmt, s.Init):
            if not ctx.top:
                raise CnnError(
                    "`init` is a statement of a network body",
                    stmt.span,
                    'move it to the network, after `input` (scope="PATH" limits it to a module)',
                )
            self.inits.append(stmt)
            return cur
        assert isinstance(stmt, s.Output)
        return self.output(stmt, ctx, cur)

    def check_value_name(self, name: str, span: Span, ctx: Ctx) -> None:
        if ctx.tensors and name in ctx.tensors:
            raise CnnError(f"{name!r} is already a bound tensor", span)
        if keyword.iskeyword(name):
            raise CnnError(f"{name!r} is a Python keyword and cannot be a name", span)

    def check_binding_name(self, name: str, span: Span, ctx: Ctx) -> None:
        if lookup(name) is not None or name in self.program.blocks:
            kind = "an op" if lookup(name) is not None else "a block"
            hint = "choose another name for the tensor"
            if name in SECOND_EDITION_OPS:
                hint = (
                    f"`{name}` is an op since the second edition of the language; rename the tensor"
                )
            raise CnnError(f"cannot bind {name!r}: it is the name of {kind}", span, hint)
        found, _ = ctx.values.get(name)
        if found:
            raise CnnError(f"cannot bind {name!r}: it is a parameter or `let`", span)
        check_name(name, span, "tensor name")

    def bind(self, stmt: s.Bind, ctx: Ctx, cur: ir.Shape) -> ir.Shape:
        if ctx.tensors is None:
            raise CnnError(
                "a tensor binding is not allowed inside a labelled group",
                stmt.span,
                "a labelled group is an nn.Sequential: move the binding outside",
            )
        if stmt.chain.steps and isinstance(stmt.chain.steps[0], s.Input):
            raise CnnError("`input` comes first in the network", stmt.span)
        self.check_binding_name(stmt.name, stmt.span, ctx)
        cur = self.chain(stmt.chain, ctx, cur)
        ctx.tensors[stmt.name] = cur
        ctx.flow.append(ir.Bind(self.next_uid(), stmt.name, cur, stmt.span))
        return cur

    def output(self, stmt: s.Output, ctx: Ctx, cur: ir.Shape) -> ir.Shape:
        if not ctx.top:
            raise CnnError("`output` is allowed only at the top level of a network body", stmt.span)
        weight = 1.0
        for kw in stmt.kwargs:
            if kw.key != "weight":
                raise CnnError(
                    f"output has no keyword {kw.key!r}",
                    kw.span,
                    "only weight=W (the loss weight) is allowed",
                )
            weight = self.eval(kw.value, ctx.values, ctx.in_shape)
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
                raise CnnError(
                    f"output weight must be a non-negative number, got {weight}", kw.value.span
                )
            weight = float(weight)
        check_name(stmt.name, stmt.span, "output name")
        if any(name == stmt.name for name, _, _ in self.outputs):
            raise CnnError(f"duplicate output name {stmt.name!r}", stmt.span)
        flow: list[ir.Node] = []
        sub = ctx.child(flow=flow, tensors=None)
        steps = stmt.chain.steps
        label = s.Label((stmt.name,), stmt.span)
        single = len(steps) == 1 and isinstance(
            steps[0], (s.Layer, s.Call, s.Merge, s.Residual, s.Group)
        )
        if single:
            out = self.step(steps[0], sub, cur, label)
        else:
            out = self.labelled_group(stmt.chain, sub, cur, label, stmt.span)
        self.outputs.append((stmt.name, out, weight))
        ctx.flow.append(
            ir.Output(self.next_uid(), stmt.name, weight, tuple(flow), cur, out, stmt.span)
        )
        return cur

    def chain(self, chain: s.Chain, ctx: Ctx, cur: ir.Shape) -> ir.Shape:
        for i, step in enumerate(chain.steps):
            if i and self.starts_from_tensor(step, ctx):
                raise CnnError(
                    "a bound tensor (or a merge of bound tensors) can only start a chain",
                    step.span,
                    "start a new line with it",
                )
            cur = self.step(step, ctx, cur, None)
        return cur

    def starts_from_tensor(self, step: s.Step, ctx: Ctx) -> bool:
        if isinstance(step, s.Layer):
            return bool(ctx.tensors) and step.op in ctx.tensors  # type: ignore[operator]
        return isinstance(step, s.Call) and step.func in MERGE_KINDS

    # ---------------------------------------------------------------- steps
    def tick(self, span: Span) -> None:
        """Count one unit of elaboration work (a step or a loop iteration) against the bound."""
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise CnnError(
                f"the network has more than {MAX_STEPS:,} steps",
                span,
                "this is the limit of one network (steps and loop iterations)",
            )

    def step(self, step: s.Step, ctx: Ctx, cur: ir.Shape, label: s.Label | None) -> ir.Shape:
        self.tick(step.span)
        method: Callable[..., ir.Shape] = getattr(self, f"step_{type(step).__name__}")
        return method(step, ctx, cur, label)

    def step_Labelled(
        self, step: s.Labelled, ctx: Ctx, cur: ir.Shape, label: s.Label | None
    ) -> ir.Shape:
        if label is not None:
            raise CnnError("a step has two labels", step.label.span)
        return self.step(step.step, ctx, cur, step.label)

    def label_name(self, label: s.Label | None, ctx: Ctx) -> str | None:
        if label is None:
            return None
        parts = []
        for part in label.parts:
            if isinstance(part, str):
                parts.append(part)
                continue
            value = self.eval(part, ctx.values, ctx.in_shape)
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                raise CnnError(
                    f"a label template part must be an integer or a string, got "
                    f"{show_value(value)}",
                    part.span,
                )
            parts.append(str(value))
        name = "".join(parts)
        check_label(name, label.quoted, label.span)
        return name

    def step_Input(self, step: s.Input, ctx: Ctx, cur: ir.Shape, label: Any) -> ir.Shape:
        if ctx.where.startswith("block"):
            raise CnnError(
                "`input` is not allowed in a block",
                step.span,
                "a block's input is whatever its caller passes; read it as in.channels",
            )
        raise CnnError("`input` may appear only once, as the first line of a network", step.span)

    def step_Layer(self, step: s.Layer, ctx: Ctx, cur: ir.Shape, label: s.Label | None) -> ir.Shape:
        if ctx.tensors and step.op in ctx.tensors:
            if step.args or step.kwargs or label is not None:
                raise CnnError(
                    f"{step.op!r} is a bound tensor, not an op",
                    step.span,
                    "a bound tensor stands alone at the start of a chain",
                )
            shape = ctx.tensors[step.op]
            ctx.flow.append(ir.Use(self.next_uid(), step.op, shape, step.span))
            return shape
        op = lookup(step.op)
        if op is None:
            raise self.unknown_op(step, ctx)
        if isinstance(cur, ir.ChannelsLast) and not op.channels_last:
            raise CnnError(
                f"'{op.name}' needs channels first, but the tensor is channels last "
                f"({size_text(cur)})",
                _head(step.span, len(step.op)),
                restore_hint(cur),
            )
        if op.parameter and ctx.sequential:
            raise CnnError(
                f"'{op.name}' creates a parameter, not a module, so it cannot be an element of "
                "an nn.Sequential",
                step.span,
                "move it out of the labelled group, or into a block called from it",
            )
        name = self.label_name(label, ctx)
        args = tuple(self.eval(a, ctx.values, ctx.in_shape) for a in step.args)
        self.pending_runtime = None
        kwargs = {kw.key: self.kwarg_value(op, kw, ctx) for kw in step.kwargs}
        runtime, self.pending_runtime = self.pending_runtime, None
        try:
            a = op.bind(args, kwargs, cur)
            out = op.shape(cur, a)
        except ShapeError as exc:
            raise self.located(exc, step, op) from None
        if runtime is not None:  # generated code computes this size from the input's shape
            a = a.replace(runtime_size=runtime)
        if max(out) > MAX_DIM:
            raise CnnError(
                f"output size {'×'.join(map(str, out))} is beyond the limit of "
                f"{MAX_DIM:,} per dimension",
                step.span,
            )
        node = ir.Layer(self.next_uid(), op.name, a, cur, out, step.span)
        ctx.flow.append(node)
        ctx.namer.add(node, name, op.prefix, label.span if label else step.span)
        self.layer_warnings(op, node, ctx.call)
        return out

    def located(self, exc: ShapeError, step: s.Layer, op: Op) -> CnnError:
        span = step.span
        if exc.arg is not None:
            for kw in step.kwargs:
                if kw.key == exc.arg:
                    span = kw.span
            for p, arg in zip(op.positional, step.args, strict=False):
                if p.name == exc.arg:
                    span = arg.span
        return CnnError(exc.message, span, exc.hint)

    def unknown_op(self, step: s.Layer, ctx: Ctx) -> CnnError:
        if step.op in self.program.blocks:
            return CnnError(
                f"{step.op!r} is a block: call it with parentheses",
                step.span,
                f"write {step.op}(…) with no space before '('",
            )
        found, _ = ctx.values.get(step.op)
        if found:
            return CnnError(f"{step.op!r} is a value, not an op", step.span)
        choices = list(REGISTRY) + list(self.program.blocks) + list(ctx.tensors or ())
        hint = did_you_mean(step.op, choices)
        if hint is None and step.op in MERGE_KINDS:
            hint = f"write `{step.op} {{ … }}` or {step.op}(a, b) for bound tensors"
        return CnnError(
            f"unknown op {step.op!r}",
            _head(step.span, len(step.op)),
            hint or "see docs/language.md for the list of ops",
        )

    def kwarg_value(self, op: Op, kw: s.Kwarg, ctx: Ctx) -> Any:
        spec = op.keywords.get(kw.key)
        if spec is not None and spec.kind == "tensor":
            if ctx.tensors is None:
                raise CnnError(
                    f"{kw.key}= reads another tensor, which an nn.Sequential cannot",
                    kw.span,
                    "move the step out of the labelled group, or make the group a sequential block",
                )
            if not isinstance(kw.value, s.Name) or kw.value.id not in ctx.tensors:
                text = kw.value.id if isinstance(kw.value, s.Name) else "this"
                raise CnnError(
                    f"{kw.key}= takes a bound tensor; {text!r} is not one",
                    kw.value.span,
                    did_you_mean(text, ctx.tensors) or "bind one with `name = …` first",
                )
            return (kw.value.id, ctx.tensors[kw.value.id])
        if spec is not None and op.runtime_size == kw.key:  # read from the tensor at run time
            saved, self.spatial_reads = self.spatial_reads, []
            try:
                value = self.eval(kw.value, ctx.values, ctx.in_shape)
                if self.spatial_reads:
                    if not ctx.runtime_in:
                        raise CnnError(
                            f"{kw.key}= reads the size of the enclosing block's input, which an "
                            "nn.Sequential cannot see",
                            kw.span,
                            "move the step out of the labelled group, or make the group a "
                            "sequential block (whose `in` is its own input)",
                        )
                    self.pending_runtime = kw.value
                return value
            finally:
                self.spatial_reads = saved
        if spec is not None and isinstance(kw.value, s.Name):
            words = spec.words or {"pad": ("same", "valid", "full"), "dim": ("channels",)}.get(
                spec.kind, ()
            )
            found, _ = ctx.values.get(kw.value.id)
            if kw.value.id in words:
                if found:
                    self.warnings.warn(
                        f"'{kw.value.id}' is both a word of '{kw.key}' and a value in scope; "
                        "the word is used",
                        kw.value.span,
                        "rename the parameter or `let`",
                    )
                return kw.value.id
            if words and not found:
                raise CnnError(
                    f"'{kw.key}' of '{op.name}' must be one of "
                    f"{', '.join(words)}; got {kw.value.id}",
                    kw.value.span,
                    did_you_mean(kw.value.id, words) or f"choose one of {', '.join(words)}",
                )
        return self.eval(kw.value, ctx.values, ctx.in_shape)

    def layer_warnings(self, op: Op, node: ir.Layer, call: str | None = None) -> None:
        a = node.args
        if (
            op.category in ("conv", "pool")
            and "padding" in a
            and not op.transposed
            and a.get("pad") != "same"
            and not a.get("ceil")
        ):
            from .ops.spatial import dropped_rows

            dil = a.get("dilation") or tuple(1 for _ in a["kernel"])
            spatial = node.in_shape[1:]
            if dropped_rows(spatial, a["kernel"], a["stride"], dil, a["padding"]):
                where = f" in {call}" if call else ""
                self.warnings.warn(
                    f"stride {'x'.join(map(str, a['stride']))} of '{op.name}'{where} drops "
                    f"{_dropped_text(spatial, a['kernel'], a['stride'], dil, a['padding'])}",
                    node.span,
                    "pad=same keeps every "
                    + ("sample" if len(spatial) == 1 else "row")
                    + "; or adjust the padding",
                )

    # ---------------------------------------------------------------- calls and blocks
    def step_Call(self, step: s.Call, ctx: Ctx, cur: ir.Shape, label: s.Label | None) -> ir.Shape:
        if step.func in MERGE_KINDS:
            return self.merge_refs(step, ctx, label)
        block = self.program.blocks.get(step.func)
        if block is None:
            if lookup(step.func) is not None:
                raise CnnError(
                    f"{step.func!r} is an op: write its arguments after it, separated by spaces",
                    step.span,
                    f"e.g. `{step.func} …` (a call is for blocks)",
                )
            raise CnnError(
                f"unknown block {step.func!r}",
                step.span,
                did_you_mean(step.func, self.program.blocks)
                or "define it with `block Name(…) { … }` or import it",
            )
        if step.func in ctx.blocks:
            chain = " → ".join((*ctx.blocks[ctx.blocks.index(step.func) :], step.func))
            raise CnnError(
                f"recursion between blocks: {chain}",
                step.span,
                "blocks cannot call themselves; use `repeat` instead",
            )
        if len(ctx.blocks) >= MAX_BLOCK_DEPTH:
            raise CnnError(f"blocks nest deeper than {MAX_BLOCK_DEPTH}", step.span)
        name = self.label_name(label, ctx)
        args = tuple(self.eval(a, ctx.values, ctx.in_shape) for a in step.args)
        kwargs = tuple(
            (kw.key, self.eval(kw.value, ctx.values, ctx.in_shape), kw.span) for kw in step.kwargs
        )
        values = self.bind_params(
            block.name, block.params, args, kwargs, step.span, Scope(), "block"
        )
        title = _call_title(block, values)
        inner = Ctx(
            flow=[],
            namer=Namer(sequential=block.sequential),
            values=Scope(None, dict(values)),
            tensors=None if block.sequential else {},
            in_shape=cur,
            blocks=(*ctx.blocks, block.name),
            where=f"block {block.name}",
            call=f"{title} (line {step.span.line})",
        )
        try:
            out = self.statements(block.body.body, inner, cur)
        except CnnError as exc:
            if len(exc.notes) < 8:
                shape = size_text(cur)
                exc.notes.append(f"in {title} on a {shape} input, called at {step.span}")
            raise
        node = ir.Module(
            self.next_uid(),
            "block",
            title,
            block.name,
            tuple(values.items()),
            inner.namer.finish(),
            tuple(inner.flow),
            cur,
            out,
            step.span,
            block.sequential,
        )
        ctx.flow.append(node)
        ctx.namer.add(node, name, snake(block.name), label.span if label else step.span)
        return out

    def merge_refs(self, step: s.Call, ctx: Ctx, label: s.Label | None) -> ir.Shape:
        if label is not None:
            raise CnnError(
                "a merge of bound tensors is not a module and takes no label", label.span
            )
        if ctx.tensors is None:
            raise CnnError("bound tensors are not visible inside a labelled group", step.span)
        if step.kwargs or len(step.args) < 2:
            raise CnnError(
                f"{step.func}(…) takes two or more bound tensors",
                step.span,
                f"e.g. {step.func}(a, b)",
            )
        names, shapes = [], []
        for arg in step.args:
            if not isinstance(arg, s.Name) or arg.id not in ctx.tensors:
                text = arg.id if isinstance(arg, s.Name) else "this"
                hint = did_you_mean(text, ctx.tensors) if isinstance(arg, s.Name) else None
                raise CnnError(
                    f"{text!r} is not a bound tensor",
                    arg.span,
                    hint or "bind one with `name = …` first",
                )
            names.append(arg.id)
            shapes.append(ctx.tensors[arg.id])
        out = self.merge_shape(
            step.func,
            [(n, sh) for n, sh in zip(names, shapes, strict=True)],
            step.span,
            residual=False,
        )
        ctx.flow.append(
            ir.MergeRefs(self.next_uid(), step.func, tuple(names), tuple(shapes), out, step.span)
        )
        return out

    # ---------------------------------------------------------------- groups and control
    def step_Group(self, step: s.Group, ctx: Ctx, cur: ir.Shape, label: s.Label | None) -> ir.Shape:
        if label is not None:
            return self.labelled_group(step, ctx, cur, label, step.span)
        if not ctx.sequential:
            return self.statements(step.body, ctx.child(), cur)
        if not step.body:
            return cur
        return self.labelled_group(step, ctx, cur, None, step.span)

    def labelled_group(
        self,
        body: s.Group | s.Chain | s.Step,
        ctx: Ctx,
        cur: ir.Shape,
        label: s.Label | None,
        span: Span,
    ) -> ir.Shape:
        """A group that becomes an nn.Sequential (its steps are elements 0, 1, …)."""
        name = self.label_name(label, ctx)
        inner = ctx.child(flow=[], namer=Namer(sequential=True), tensors=None, runtime_in=False)
        if isinstance(body, s.Group):
            out = self.statements(body.body, inner, cur)
        elif isinstance(body, s.Chain):
            out = self.chain(body, inner, cur)
        else:
            out = self.step(body, inner, cur, None)
        node = ir.Module(
            self.next_uid(),
            "sequential",
            name or "",
            None,
            (),
            inner.namer.finish(),
            tuple(inner.flow),
            cur,
            out,
            span,
        )
        ctx.flow.append(node)
        ctx.namer.add(node, name, "seq", label.span if label else span)
        return out

    def count(self, expr: s.Expr, ctx: Ctx, what: str) -> int:
        n = self.eval(expr, ctx.values, ctx.in_shape)
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise CnnError(f"{what} count must be a non-negative integer, got {n!r}", expr.span)
        if n > MAX_REPEAT:
            raise CnnError(f"{what} count {n:,} exceeds the limit of {MAX_REPEAT:,}", expr.span)
        return n

    def step_Repetition(
        self, step: s.Repetition, ctx: Ctx, cur: ir.Shape, label: s.Label | None
    ) -> ir.Shape:
        if label is not None:
            return self.labelled_group(step, ctx, cur, label, step.span)
        n = self.count(step.count, ctx, "repetition")
        for _ in range(n):
            self.tick(step.span)
            if isinstance(step.target, s.Group):
                cur = self.statements(step.target.body, ctx.child(), cur)
            else:
                cur = self.step(step.target, ctx, cur, None)
        return cur

    def step_Repeat(
        self, step: s.Repeat, ctx: Ctx, cur: ir.Shape, label: s.Label | None
    ) -> ir.Shape:
        if label is not None:
            return self.labelled_group(step, ctx, cur, label, step.span)
        n = self.count(step.count, ctx, "repeat")
        if step.var is not None:
            self.check_value_name(step.var, step.span, ctx)
        for i in range(n):
            self.tick(step.span)
            inner = ctx.child()
            if step.var is not None:
                inner.values.vars[step.var] = i
            cur = self.statements(step.body.body, inner, cur)
        return cur

    def step_If(self, step: s.If, ctx: Ctx, cur: ir.Shape, label: s.Label | None) -> ir.Shape:
        if label is not None:
            return self.labelled_group(step, ctx, cur, label, step.span)
        if self.eval(step.cond, ctx.values, ctx.in_shape):
            return self.statements(step.then.body, ctx.child(), cur)
        if isinstance(step.orelse, s.If):
            return self.step_If(step.orelse, ctx, cur, None)
        if step.orelse is not None:
            return self.statements(step.orelse.body, ctx.child(), cur)
        return cur

    # ---------------------------------------------------------------- merges
    def step_Merge(self, step: s.Merge, ctx: Ctx, cur: ir.Shape, label: s.Label | None) -> ir.Shape:
        branches = self.splice(step.branches, ctx, Scope(ctx.values), step.kind)
        return self.merge(step.kind, branches, ctx, cur, label, step.span, None)

    def splice(
        self, stmts: tuple[s.Stmt, ...], ctx: Ctx, scope: Scope, kind: str
    ) -> list[tuple[str | None, s.Stmt, Scope | None]]:
        """A merge's branches (§6): each statement, with a bare `repeat` or `if` spliced in
        (each step statement of each iteration, or of the taken arm, is one branch); `let`s
        are evaluated in order, for the branches after them."""
        out: list[tuple[str | None, s.Stmt, Scope | None]] = []
        for stmt in stmts:
            if isinstance(stmt, s.Let):
                self.check_value_name(stmt.name, stmt.span, ctx)
                scope.vars[stmt.name] = self.eval(stmt.value, scope, ctx.in_shape)
                continue
            step = stmt.steps[0] if isinstance(stmt, s.Chain) and len(stmt.steps) == 1 else None
            if isinstance(step, s.Repeat):
                self.splice_warning(step, step.body.body, kind)
                n = self.count(step.count, ctx.child(values=scope), "repeat")
                if step.var is not None:
                    self.check_value_name(step.var, step.span, ctx)
                for i in range(n):
                    self.tick(step.span)
                    inner = Scope(scope, {step.var: i} if step.var is not None else None)
                    out += self.splice(step.body.body, ctx, inner, kind)
                continue
            if isinstance(step, s.If):
                arm: s.If | s.Group | None = step
                while isinstance(arm, s.If):
                    self.splice_warning(arm, arm.then.body, kind)
                    if self.eval(arm.cond, scope, ctx.in_shape):
                        arm = arm.then
                    else:
                        arm = arm.orelse
                if arm is not None:
                    out += self.splice(arm.body, ctx, Scope(scope), kind)
                continue
            out.append((None, stmt, scope))
        return out

    def splice_warning(self, step: s.Repeat | s.If, body: tuple[s.Stmt, ...], kind: str) -> None:
        """A bare `repeat`/`if` in a merge splices since the second edition; where its steps
        are not labelled as branches usually are, say so (the first edition made it one
        branch)."""
        steps = [st for st in body if not isinstance(st, s.Let)]
        if steps and all(
            isinstance(st, s.Chain)
            and len(st.steps) == 1
            and isinstance(st.steps[0], s.Labelled)
            and (st.steps[0].label.quoted or st.steps[0].label.plain is None)
            for st in steps
        ):
            return
        word = "repeat" if isinstance(step, s.Repeat) else "if"
        self.warnings.warn(
            f"a bare `{word}` directly inside `{kind}` makes each of its steps a branch (since "
            "the second edition of the language)",
            _head(step.span, len(word)),
            f"to keep it one branch, as the first edition did, wrap it in braces: "
            f'`{{ {word} … }}`; label its steps (`"{{i}}": …`) to silence this',
        )

    def step_Residual(
        self, step: s.Residual, ctx: Ctx, cur: ir.Shape, label: s.Label | None
    ) -> ir.Shape:
        if step.cond is not None and not self.eval(step.cond, ctx.values, ctx.in_shape):
            return self.step_Group(step.body, ctx, cur, label)
        shortcut = step.shortcut
        if (
            shortcut is not None
            and step.shortcut_cond is not None
            and not self.eval(step.shortcut_cond, ctx.values, ctx.in_shape)
        ):
            shortcut = None
        branches: list[tuple[str | None, s.Stmt, Scope | None]] = [
            ("the residual body", s.Chain((step.body,), step.body.span), None)
        ]
        branches.append(
            (
                "the shortcut",
                s.Chain((shortcut,), shortcut.span)
                if shortcut is not None
                else s.Chain((), step.span),
                None,
            )
        )
        kind = "projection" if shortcut is not None else "identity"
        return self.merge("add", branches, ctx, cur, label, step.span, kind)

    def merge(
        self,
        kind: str,
        branches: list[tuple[str | None, s.Stmt, Scope | None]],
        ctx: Ctx,
        cur: ir.Shape,
        label: s.Label | None,
        span: Span,
        residual: str | None,
    ) -> ir.Shape:
        container = label is not None or ctx.sequential
        name = self.label_name(label, ctx)
        namer = Namer(sequential=False) if container else ctx.namer
        tensors = None if container else ctx.tensors
        flows: list[tuple[ir.Node, ...]] = []
        shapes: list[tuple[str, ir.Shape]] = []
        values = Scope(ctx.values)
        branch_in = cur
        if kind == "split":
            n = sum(1 for _, st, _ in branches if not isinstance(st, s.Let))
            c = ir.channels(cur)
            if n == 0:
                raise CnnError("`split` needs at least one branch", span)
            if c % n:
                raise CnnError(
                    f"split: {n} branches do not divide the {c} channels of {size_text(cur)}",
                    span,
                    "split cuts the channels into equal chunks, one per branch",
                )
            branch_in = _with_channels(cur, c // n)
        for what, stmt, scope in branches:
            if isinstance(stmt, s.Let):
                self.statement(stmt, ctx.child(values=values), cur)
                continue
            if isinstance(stmt, (s.Bind, s.Output, s.Init)):
                raise CnnError(
                    "a branch of a merge is a chain; bindings and outputs are not allowed here",
                    stmt.span,
                )
            flow: list[ir.Node] = []
            sub = ctx.child(
                flow=flow,
                namer=namer,
                values=Scope(scope if scope is not None else values),
                tensors=dict(tensors) if tensors is not None else None,
                runtime_in=ctx.runtime_in and not container,
            )
            out = self.chain(stmt, sub, branch_in) if isinstance(stmt, s.Chain) else branch_in
            flows.append(tuple(flow))
            shapes.append((what or f"branch {len(shapes) + 1} (line {stmt.span.line})", out))
        out = self.merge_shape(kind, shapes, span, residual is not None)
        node = ir.Merge(
            self.next_uid(),
            kind,
            tuple(flows),
            container,
            namer.finish() if container else (),
            residual,
            cur,
            out,
            span,
        )
        ctx.flow.append(node)
        if container:
            ctx.namer.add(node, name, kind, label.span if label else span)
        return out

    def merge_shape(
        self, kind: str, shapes: list[tuple[str, ir.Shape]], span: Span, residual: bool
    ) -> ir.Shape:
        if not shapes:
            raise CnnError(f"`{kind}` needs at least one branch", span)
        listing = "; ".join(f"{what} gives {size_text(shape)}" for what, shape in shapes)
        first = shapes[0][1]
        last = {isinstance(sh, ir.ChannelsLast) for _, sh in shapes}
        if len(last) > 1:
            cl = next(sh for _, sh in shapes if isinstance(sh, ir.ChannelsLast))
            raise CnnError(
                f"{kind}: channels-first and channels-last tensors meet: {listing}",
                span,
                restore_hint(cl) + " in the channels-last branches",
            )
        if kind in ("concat", "split"):
            if any(
                len(sh) != len(first) or ir.spatial(sh) != ir.spatial(first) for _, sh in shapes
            ):
                raise CnnError(
                    f"{kind}: branch shapes differ outside channels: {listing}",
                    span,
                    f"{kind} joins along channels; the spatial sizes must "
                    "match (check strides and padding, e.g. pad=same)",
                )
            return _with_channels(first, sum(ir.channels(sh) for _, sh in shapes))
        if kind == "add":
            if any(sh != first for _, sh in shapes):
                hint = "every branch of `add` must give the same shape"
                if residual:
                    body, short = shapes[0][1], shapes[-1][1]
                    stride = max(1, short[1] // body[1]) if len(body) > 1 and body[1] else 1
                    hint = (
                        f"add a projection shortcut: `shortcut {{ conv {body[0]} 1x1"
                        f"{f' stride={stride}' if stride > 1 else ''} bias=false -> bn }}`"
                    )
                raise CnnError(f"add: branch shapes differ: {listing}", span, hint)
            return first
        out = list(first)
        for _, sh in shapes[1:]:
            if len(sh) != len(out):
                raise CnnError(f"mul: branch ranks differ: {listing}", span)
            for d, (a, b) in enumerate(zip(out, sh, strict=True)):
                if a != b and 1 not in (a, b):
                    raise CnnError(
                        f"mul: shapes do not broadcast in dimension {d + 1}: {listing}",
                        span,
                        "mul broadcasts sizes of 1, e.g. a C×1×1 gate times C×H×W",
                    )
                out[d] = max(a, b)
        return ir.ChannelsLast(out) if isinstance(first, ir.ChannelsLast) else tuple(out)

    # ---------------------------------------------------------------- init
    def init_rule(self, stmt: s.Init, net: ir.Network, values: Scope) -> ir.InitRule:
        """An `init` statement (§7) resolved against the network's modules."""
        if stmt.scheme not in INIT_SCHEMES:
            raise CnnError(
                f"unknown init scheme {stmt.scheme!r}",
                stmt.scheme_span,
                did_you_mean(stmt.scheme, INIT_SCHEMES) or f"schemes: {', '.join(INIT_SCHEMES)}",
            )
        keys = {kw.key: kw for kw in stmt.kwargs}
        allowed = ["conv", "linear", "bias", "scope", "zero_init_residual"]
        if stmt.scheme == "trunc_normal":
            allowed.append("std")
        for key, kw in keys.items():
            if key not in allowed:
                raise CnnError(
                    f"init {stmt.scheme} has no keyword {key!r}",
                    kw.span,
                    did_you_mean(key, allowed) or f"keywords: {', '.join(allowed)}",
                )
        std: Any = 0.02
        if "std" in keys:
            std = self.eval(keys["std"].value, values, net.input_shape)
            if isinstance(std, bool) or not isinstance(std, (int, float)) or std <= 0:
                raise CnnError(f"std must be a positive number, got {std}", keys["std"].span)
        conv, linear, norm, bias = {
            "default": (("default", None), ("default", None), "default", "default"),
            "kaiming": (("kaiming_normal", None), ("normal", s.Lit(0.01)), "ones", "zeros"),
            "trunc_normal": (
                ("trunc_normal", s.Lit(float(std))),
                ("trunc_normal", s.Lit(float(std))),
                "ones",
                "zeros",
            ),
            "xavier": (("xavier_uniform", None), ("xavier_uniform", None), "ones", "zeros"),
        }[stmt.scheme]
        if "conv" in keys:
            conv = self.init_kind_rule(keys["conv"], values, net)
        if "linear" in keys:
            linear = self.init_kind_rule(keys["linear"], values, net)
        if "bias" in keys:
            value = keys["bias"].value
            if not isinstance(value, s.Name) or value.id not in ("zeros", "default"):
                raise CnnError("bias= takes zeros or default", value.span)
            bias = value.id
        scope = ""
        if "scope" in keys:
            scope = self.eval(keys["scope"].value, values, net.input_shape)
            paths = [p for p, _ in net.modules()]
            if not isinstance(scope, str) or scope not in paths:
                raise CnnError(
                    f"init scope={show_value(scope)} is not a module of {net.name}",
                    keys["scope"].value.span,
                    did_you_mean(str(scope), paths) or "give a module path as `check` lists it",
                )
        zero = False
        if "zero_init_residual" in keys:
            zero = self.eval(keys["zero_init_residual"].value, values, net.input_shape)
            if not isinstance(zero, bool):
                raise CnnError(
                    "zero_init_residual takes true or false", keys["zero_init_residual"].span
                )
        return ir.InitRule(stmt.scheme, conv, linear, norm, bias, scope, zero, stmt.span)

    def init_kind_rule(self, kw: s.Kwarg, values: Scope, net: ir.Network) -> tuple[str, Any]:
        """``conv=kaiming_normal``, ``linear=uniform(1 / sqrt(fan_out))``: the rule and its
        argument (an expression over fan_in and fan_out, checked with sample values)."""
        value = kw.value
        if isinstance(value, s.Name) and value.id in INIT_RULES_BARE:
            return value.id, None
        if isinstance(value, s.Call) and value.func in INIT_RULES_ARG:
            if len(value.args) != 1 or value.kwargs:
                raise CnnError(f"{value.func}(…) takes one argument", value.span)
            arg = value.args[0]
            for fan in (1, 9, 1000):
                probe = Scope(values, {"fan_in": fan, "fan_out": fan})
                v = self.eval(arg, probe, net.input_shape)
                if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
                    raise CnnError(
                        f"{value.func}(…) takes a positive number, got {show_value(v)}",
                        arg.span,
                    )
            env: dict[str, s.Expr] = {}
            for name in free_names(arg) - {"fan_in", "fan_out"}:
                if name.startswith("in."):
                    v = self.eval(s.InAttr(name[3:], arg.span), values, net.input_shape)
                else:
                    v = self.eval(s.Name(name, arg.span), values, net.input_shape)
                env[name] = s.Lit(v)
            return value.func, subst(arg, env)  # only fan_in and fan_out stay names
        words = [*INIT_RULES_BARE, *(f"{r}(…)" for r in INIT_RULES_ARG)]
        shown = value.id if isinstance(value, s.Name) else "this"
        raise CnnError(
            f"{kw.key}= takes an init rule; {shown!r} is not one",
            value.span,
            f"rules: {', '.join(words)}",
        )

    # ---------------------------------------------------------------- expressions
    def eval(self, e: s.Expr, scope: Scope, in_shape: ir.Shape) -> Any:
        try:
            return Evaluator(
                scope, ir.channels_first(in_shape), self.program.blocks, self.spatial_reads
            ).run(e)
        except RecursionError:
            raise CnnError("expression nests too deeply", e.span) from None


def _with_channels(shape: ir.Shape, c: int) -> ir.Shape:
    if isinstance(shape, ir.ChannelsLast):
        return ir.ChannelsLast((*shape[:-1], c))
    return (c, *shape[1:])


_UNITS = {1: ("samples",), 2: ("rows", "columns"), 3: ("frames", "rows", "columns")}


def _dropped_text(
    sizes: tuple[int, ...],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
    pads: Any,
) -> str:
    """``the last 3 of 31 samples``: what a stride leaves out, per dimension."""
    units = _UNITS.get(len(sizes), tuple("dimension" for _ in sizes))
    parts = []
    for i, k, st, d, (pb, pa), unit in zip(sizes, kernel, stride, dilation, pads, units):
        eff = d * (k - 1) + 1
        left = (i + pb + pa - eff) % st
        if 1 < st <= eff and left > pa:
            n = left - pa
            parts.append(f"the last {n} of {i} {unit}" if n > 1 else f"the last {unit[:-1]} of {i}")
    return " and ".join(parts) or "input cells"


def _head(span: Span, width: int) -> Span:
    """The first ``width`` characters of a span (e.g. the op name of a layer)."""
    return Span(span.file, span.line, span.column, span.line, span.column + width)


def _call_title(block: s.BlockDef, values: dict[str, Any]) -> str:
    """``Bottleneck(128, stride=2)``: required parameters by position, changed defaults by key."""
    shown = []
    for p in block.params:
        v = values[p.name]
        if p.default is None:
            shown.append(show_value(v))
            continue
        default = p.default.value if isinstance(p.default, s.Lit) else None
        if v == default and type(v) is type(default):
            continue
        shown.append(f"{p.name}={show_value(v)}")
    return f"{block.name}({', '.join(shown)})"


def elaborate(
    program: Program,
    network: str | None = None,
    overrides: dict[str, Any] | None = None,
    warnings: Warnings | None = None,
    input_shape: ir.Shape | None = None,
) -> list[ir.Network]:
    """Elaborate the program's networks (all of them, or the one called ``network``);
    ``input_shape`` replaces the size that ``input`` declares (``check --input``)."""
    nets = program.networks
    if network is not None:
        nets = [n for n in nets if n.name == network]
        if not nets:
            names = [n.name for n in program.networks]
            raise CnnError(
                f"no network {network!r} in {program.path}",
                None,
                did_you_mean(network, names) or f"networks: {', '.join(names)}",
            )
    if not nets:
        return []
    el = Elaborator(program, warnings or Warnings())
    out = []
    from .train_config import train_config

    for net in nets:
        result = el.network(net, overrides, input_shape)
        if program.train is not None and net is program.networks[-1]:
            cfg = train_config(program.train)
            result = ir.Network(
                result.name,
                result.values,
                result.input_shape,
                result.root,
                result.outputs,
                cfg,
                result.span,
            )
        network_warnings(result, el.warnings)
        out.append(result)
    return out


def _op(layer: ir.Layer) -> Op:
    op = lookup(layer.op)
    assert op is not None, layer.op
    return op


def network_warnings(net: ir.Network, warnings: Warnings) -> None:
    """Warnings that need the whole network: conv bias before bn, softmax before the loss."""
    for flow in _flows(net.root.body):
        for prev, node in zip(flow, flow[1:], strict=False):
            if (
                isinstance(prev, ir.Layer)
                and isinstance(node, ir.Layer)
                and _op(node).cancels_bias
                and prev.args.get("bias") is True
                and "groups" in prev.args
            ):
                warnings.warn(
                    f"'{prev.op}' has a bias right before 'bn', which cancels it",
                    prev.span,
                    "add bias=false to the convolution",
                )
    allowed: set[int] = set()
    for node in ir.iter_flow(net.root.body):
        if isinstance(node, ir.Merge) and node.residual is not None and node.branches[0]:
            end = node.branches[0][-1]
            if isinstance(end, ir.Layer) and end.op == "stochastic_depth":
                allowed.add(end.uid)
    for node in ir.iter_flow(net.root.body):
        if isinstance(node, ir.Layer) and node.op == "stochastic_depth" and node.uid not in allowed:
            warnings.warn(
                "stochastic_depth drops a whole sample's output here; it belongs at the end of "
                "a residual body, where the skip keeps the sample",
                node.span,
                "move it to the end of a `residual` body, or guard it with the residual's "
                "condition (`if stride == 1 { stochastic_depth p }`)",
            )
    last = _last_layer(net.root.body)
    loss = net.train["loss"]["name"] if isinstance(net.train, dict) else "cross_entropy"
    if last is not None and _op(last).probabilities and loss == "cross_entropy":
        warnings.warn(
            "the network ends in softmax, but cross-entropy applies log-softmax itself",
            last.span,
            "drop the softmax: the model should output logits",
        )


def _flows(body: tuple[ir.Node, ...]) -> Iterator[tuple[ir.Node, ...]]:
    yield body
    for node in body:
        if isinstance(node, ir.Module):
            yield from _flows(node.body)
        elif isinstance(node, ir.Merge):
            for branch in node.branches:
                yield from _flows(branch)
        elif isinstance(node, ir.Output):
            yield from _flows(node.body)


def _last_layer(body: tuple[ir.Node, ...]) -> ir.Layer | None:
    for node in reversed(body):
        if isinstance(node, ir.Layer):
            return node
        if isinstance(node, ir.Module):
            return _last_layer(node.body)
        if isinstance(node, (ir.Merge, ir.MergeRefs)):
            return None
    return None
