"""One block or network body -> ``__init__`` and ``forward`` lines (the symbolic translator)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import syntax as s
from ..errors import Span
from ..expr import add, fold, free_names, ifexp, is_const, lit, mul, subst, to_py
from ..names import (
    GENERATED_NAMES,
    MERGE_KINDS,
    RESERVED_PARAMS,
    check_name,
    is_python_reserved,
    param_names,
    snake,
)
from ..ops import Op, ShapeError, lookup
from .emit import Emit
from .lines import UNROLL, Attr, Lines, SymNamer, _attr, _err

if TYPE_CHECKING:
    from .files import FileGen


# ---------------------------------------------------------------- symbolic state
@dataclass(slots=True)
class State:
    """The current tensor while translating ``__init__``: symbolic channels, spatial rank."""

    channels: s.Expr
    rank: int
    spatial: tuple[int, ...] | None = None
    fresh: bool = False  # produced by the previous op and referenced nowhere else


@dataclass(slots=True)
class Ctx:
    """Where translation is: the lines being written and the naming context."""

    init: Lines
    fwd: Lines
    env: dict[str, s.Expr]
    cur: str  # forward variable holding the current tensor
    namer: SymNamer | None = None  # module context
    seq: SeqBuilder | None = None  # sequential context
    tensors: dict[str, str] | None = None
    top: bool = False

    def child(self, **changes: Any) -> Ctx:
        base: dict[str, Any] = dict(
            init=self.init,
            fwd=self.fwd,
            env=dict(self.env),
            cur=self.cur,
            namer=self.namer,
            seq=self.seq,
            tensors=dict(self.tensors) if self.tensors is not None else None,
            top=False,
        )
        base.update(changes)
        return Ctx(**base)


@dataclass(slots=True)
class SeqBuilder:
    """Elements of an ``nn.Sequential``: constructor expressions while static, else code."""

    new_var: Any  # () -> str: picks the list's variable name when it is first needed
    keyed: bool
    var: str = ""
    items: list[tuple[str | None, str]] = field(default_factory=list)
    dynamic: bool = False
    count: s.Expr = field(default_factory=lambda: lit(0))
    loops: int = 0  # Python loops around the elements being added: their index is run time

    def key(self, label: Attr | None) -> str:
        if label is not None:
            return label.fstring() if label.static is None else repr(label.static)
        if is_const(self.count) and not self.loops:
            return repr(str(self.count.value))  # type: ignore[union-attr]
        return f"str(len({self.var}))"

    def element(self, ctx: Ctx, label: Attr | None, ctor: str) -> None:
        key = self.key(label) if self.keyed else None
        if not self.dynamic:
            self.items.append((key, ctor))
        else:
            ctx.init.add(f"{self.var}.append({f'({key}, {ctor})' if self.keyed else ctor})")
        self.count = add(self.count, lit(1))

    def go_dynamic(self, ctx: Ctx) -> None:
        if self.dynamic:
            return
        self.dynamic = True
        self.var = self.new_var()
        kind = "tuple[str, nn.Module]" if self.keyed else "nn.Module"
        items = ", ".join(self._item(k, c) for k, c in self.items)
        ctx.init.add(f"{self.var}: list[{kind}] = [{items}]")
        self.items.clear()

    def _item(self, key: str | None, ctor: str) -> str:
        return f"({key}, {ctor})" if self.keyed else ctor

    def args(self) -> str:
        """The arguments of ``nn.Sequential(…)`` (a sequential block's ``super().__init__``)."""
        if self.dynamic:
            return f"OrderedDict({self.var})" if self.keyed else f"*{self.var}"
        inner = ", ".join(self._item(k, c) for k, c in self.items)
        return f"OrderedDict([{inner}])" if self.keyed else inner

    def build(self) -> str:
        if self.dynamic:
            return (
                f"nn.Sequential(OrderedDict({self.var}))"
                if self.keyed
                else f"nn.Sequential(*{self.var})"
            )
        inner = ", ".join(self._item(k, c) for k, c in self.items)
        return f"nn.Sequential(OrderedDict([{inner}]))" if self.keyed else f"nn.Sequential({inner})"


# ---------------------------------------------------------------- classes
@dataclass(slots=True)
class ClassCode:
    """What the template lays out for one class."""

    name: str
    doc: str
    signature: str
    init: list[str]
    forward: list[str]
    returns: str
    outputs_tuple: tuple[str, list[str]] | None = None
    base: str = "nn.Module"


@dataclass(slots=True)
class BlockInfo:
    """A translated block: its output channels as a function of its parameters."""

    params: dict[str, str]  # each parameter's name in the generated signature
    out_channels: s.Expr  # in the signature's names (and in_channels, in_height…)
    reads: tuple[str, ...]  # in.height… attributes read by the body
    rank: int | None = None  # the spatial rank of the input it was written for


UNKNOWN = s.Name("<unknown channels>")


class ClassGen:
    """Translates one block or network body into ``__init__`` and ``forward`` lines."""

    def __init__(
        self,
        file: FileGen,
        name: str,
        params: tuple[s.Param, ...],
        body: s.Group,
        kind: str,
        in_channels: s.Expr,
        rank: int,
        in_values: dict[str, s.Expr],
        sequential: bool = False,
    ):
        self.file = file
        self.seq_block = sequential  # a sequential block: an nn.Sequential subclass
        self.name = name
        self.class_name = file.class_names[(kind, name)]
        self.outputs_class = file.class_names[(f"{kind} outputs", name)]
        self.params = params
        self.body = body
        self.kind = kind
        self.in_channels = in_channels
        self.rank = rank
        self.in_values = in_values
        self.pnames = param_names([p.name for p in params])
        self.locals: set[str] = {*RESERVED_PARAMS, "x", *self.pnames.values()}
        self.let_exprs: dict[str, s.Expr] = {}
        self.placeholders: set[str] = set()
        # locals that loops create to hold the running channels (set by each pass; after the
        # loop they hold its output's channels)
        self.running: set[str] = set()
        self.loop_vars: set[str] = set()  # the variables of the Python loops written
        self.flags: set[str] = set()
        self.outputs: list[str] = []
        self.returns = "Tensor"

    def local(self, base: str) -> str:
        """A fresh local or forward variable: never a parameter, builtin or module name."""
        name, n = base, 2
        while name in self.locals or name in GENERATED_NAMES or is_python_reserved(name):
            name, n = f"{base}{n}", n + 1
        self.locals.add(name)
        return name

    def placeholder(self, attr: Attr) -> str:
        """``self.name = None`` for a module that only some instances create."""
        self.placeholders.add(attr.key())
        if attr.plain:
            return attr.assign("None")
        return f"self.add_module({attr.key()}, None)"  # so add_module may fill it later

    def flag(self, base: str, namer: SymNamer | None) -> str:
        used = namer.used if namer else set()
        name, n = base, 2
        while name in self.flags or name in used:
            name, n = f"{base}{n}", n + 1
        self.flags.add(name)
        return name

    # ---------------------------------------------------------------- entry
    def generate(self) -> tuple[ClassCode, BlockInfo]:
        init, fwd = Lines(), Lines()
        env: dict[str, s.Expr] = {p.name: s.Name(self.pnames[p.name]) for p in self.params}
        env.update(self.in_values)
        state = State(self.in_channels, self.rank, None, fresh=False)
        if self.seq_block:  # its elements are nn.Sequential's: super().__init__(*layers)
            builder = SeqBuilder(lambda: self.local("layers"), keyed=_seq_keyed(self.body.body))
            ctx = Ctx(init, fwd, env, "x", seq=builder)
            state = self.statements(self.body.body, ctx, state)
            init.add(f"super().__init__({builder.args()})")
            code = ClassCode(self.class_name, "", "", init.render(0), [], "Tensor")
            code.base = "nn.Sequential"
            return code, BlockInfo(self.pnames, self.exported(state.channels), ())
        namer = SymNamer(*_labels(self.body.body))
        ctx = Ctx(init, fwd, env, "x", namer=namer, tensors={}, top=self.kind == "network")
        state = self.statements(self.body.body, ctx, state)
        self.finish_forward(ctx)
        _drop_unused_bindings(fwd, set(ctx.tensors.values()) if ctx.tensors else set())
        code = ClassCode(self.class_name, "", "", init.render(0), fwd.render(0), self.returns)
        return code, BlockInfo(self.pnames, self.exported(state.channels), ())

    def exported(self, channels: s.Expr) -> s.Expr:
        """The output channels in the signature's names only, for callers (UNKNOWN when a
        local of ``__init__`` remains: callers then read the instances' values)."""
        allowed = set(self.pnames.values()) | set(RESERVED_PARAMS)
        for _ in range(len(self.let_exprs) + 1):
            if free_names(channels) <= allowed:
                return channels
            channels = fold(subst(channels, self.let_exprs))
        return UNKNOWN

    def finish_forward(self, ctx: Ctx) -> None:
        """The return statement; with side outputs a NamedTuple in training mode."""
        if self.outputs:
            tuple_name = self.outputs_class
            ctx.fwd.blank()
            ctx.fwd.add("if self.training:")
            with ctx.fwd.indent():
                ctx.fwd.add(f"return {tuple_name}({ctx.cur}, {', '.join(self.outputs)})")
            self.returns = f"Tensor | {tuple_name}"
        else:
            self.returns = "Tensor"
        ctx.fwd.add(f"return {ctx.cur}")

    # ---------------------------------------------------------------- statements
    def statements(self, stmts: tuple[s.Stmt, ...], ctx: Ctx, state: State) -> State:
        for stmt in stmts:
            state = self.statement(stmt, ctx, state)
        return state

    def statement(self, stmt: s.Stmt, ctx: Ctx, state: State) -> State:
        if isinstance(stmt, s.Chain):
            return self.chain(stmt, ctx, state)
        if isinstance(stmt, s.Let):
            value = fold(subst(stmt.value, ctx.env))
            if is_const(value) and not isinstance(value.value, s.List):  # type: ignore[union-attr]
                ctx.env[stmt.name] = value
            else:
                name = self.local(stmt.name)
                ctx.init.add(f"{name} = {to_py(value)}")
                ctx.env[stmt.name] = s.Name(name)
                self.let_exprs[name] = value
            return state
        if isinstance(stmt, s.Bind):
            return self.bind(stmt, ctx, state)
        if isinstance(stmt, s.Init):  # written at the end of __init__ (codegen.init)
            return state
        assert isinstance(stmt, s.Output)
        return self.output(stmt, ctx, state)

    def inline(
        self, stmts: tuple[s.Stmt, ...], ctx: Ctx, state: State, cur: str | None = None
    ) -> State:
        """Statements in a nested scope whose result stays in ``cur`` (default: ctx.cur)."""
        inner = ctx.child()
        state = self.statements(stmts, inner, state)
        target = cur or ctx.cur
        if inner.cur != target:
            inner.fwd.add(f"{target} = {inner.cur}")
        ctx.cur = target
        return state

    def chain(self, chain: s.Chain, ctx: Ctx, state: State) -> State:
        for step in chain.steps:
            state = self.step(step, ctx, state, None)
        return state

    def step(self, step: s.Step, ctx: Ctx, state: State, label: Attr | None) -> State:
        method = getattr(self, f"step_{type(step).__name__}")
        return method(step, ctx, state, label)  # type: ignore[no-any-return]

    def label(self, label: s.Label, ctx: Ctx) -> Attr:
        """The label's name; one known now is checked by the name rules here too, also in an
        arm no instance takes (the checker never sees those): nothing but a valid name
        reaches the generated code."""
        parts: list[str | s.Expr] = []
        for part in label.parts:
            value = part if isinstance(part, str) else fold(subst(part, ctx.env))
            if not isinstance(value, str) and not _safe_hole(value):
                raise _err("a label template that computes a string", label.span)
            parts.append(value)
        attr = _attr(parts)
        if attr.static is not None:
            check_name(attr.static, label.span)
        return attr

    def step_Labelled(self, step: s.Labelled, ctx: Ctx, state: State, label: Any) -> State:
        attr = self.label(step.label, ctx)
        if ctx.namer is not None:
            ctx.namer.made(attr)
        return self.step(step.step, ctx, state, attr)

    def step_Input(self, step: s.Input, ctx: Ctx, state: State, label: Any) -> State:
        return state

    # ---------------------------------------------------------------- modules
    def register(
        self,
        ctx: Ctx,
        label: Attr | None,
        prefix: str,
        ctor: str,
        state: State,
        out: State,
        span: Span,
    ) -> State:
        """Add one module to the current container and call it in forward."""
        if ctx.seq is not None:
            ctx.seq.element(ctx, label, ctor)
            return out
        assert ctx.namer is not None
        attr = label or ctx.namer.auto(prefix, span)
        if label is None and ctor == "nn.Flatten()":  # as torchvision: no module for it
            ctx.fwd.add(f"{ctx.cur} = torch.flatten({ctx.cur}, 1)")
            return out
        ctx.init.add(attr.assign(ctor, replaces_attribute=bool(self.placeholders)))
        ctx.fwd.add(f"{ctx.cur} = {attr.ref()}({ctx.cur})")
        return out

    def step_Layer(self, step: s.Layer, ctx: Ctx, state: State, label: Attr | None) -> State:
        if ctx.tensors and step.op in ctx.tensors:
            ctx.fwd.add(f"{ctx.cur} = {ctx.tensors[step.op]}")
            channels, rank = self.file.tensor_channels[(self.name, step.op)]
            return State(channels, rank, None, fresh=False)
        op = lookup(step.op)
        assert op is not None
        state = self.known(state, ("layer", step.span))
        inplace = state.fresh
        emit = Emit(self, op, step, ctx, state, inplace)
        try:
            ctor = op.torch(emit)
        except ShapeError as exc:
            raise _err(exc.message, step.span, exc.hint) from None
        channels = self.out_channels(op, emit, state)
        rank = op.out_rank(state.rank)
        spatial = self.file.spatial(("layer", step.span))
        out = State(
            channels, rank, spatial, fresh=op.category not in ("other", "dropout", "reshape")
        )
        return self.register(ctx, label, op.prefix, ctor, state, out, step.span)

    def known(self, state: State, key: tuple[str, Span]) -> State:
        """Replace channels the translation could not express by the instances' value."""
        if "<unknown channels>" not in free_names(state.channels):
            return state
        values = {n.in_shape[0] for n in self.file.instances.get(key, [])}  # type: ignore[union-attr]
        self.file.used.add((key, "in channels"))
        if len(values) != 1:
            raise _err(
                "the input channels here cannot be expressed in the parameters and "
                "differ between instances",
                key[1],
            )
        return State(lit(values.pop()), state.rank, state.spatial, state.fresh)

    def out_channels(self, op: Op, e: Emit, state: State) -> s.Expr:
        spatial = self.file.spatial(("layer", e.step.span), before=True)
        channels = op.channels_expr(state.channels, e.args, spatial)
        if spatial is not None and channels != op.channels_expr(state.channels, e.args, None):
            self.file.used.add((("layer", e.step.span), "in size"))  # e.g. a flattened size
        if channels is None:
            raise _err(
                f"the output channels of '{op.name}' differ between instances",
                e.step.span,
                "put gap or adaptive_avgpool before flatten",
            )
        return channels

    def step_Call(self, step: s.Call, ctx: Ctx, state: State, label: Attr | None) -> State:
        if step.func in MERGE_KINDS:
            return self.merge_refs(step, ctx, state)
        info = self.file.block(step.func)
        block = self.file.program.blocks[step.func]
        if info.rank is not None and info.rank != state.rank:  # written without an instance
            raise _err(
                f"block {step.func} was written for {info.rank}-d inputs, called on {state.rank}-d",
                step.span,
            )
        state = self.known(state, ("module", step.span))
        args = [fold(subst(a, ctx.env)) for a in step.args]
        kwargs = [(kw.key, fold(subst(kw.value, ctx.env))) for kw in step.kwargs]
        call = [to_py(state.channels)] + [to_py(a) for a in args]
        call += [f"{info.params[k]}={to_py(v)}" for k, v in kwargs]
        bound: dict[str, s.Expr] = {"in_channels": state.channels}
        for attr in info.reads:
            spatial = state.spatial or self.file.spatial(("module", step.span), before=True)
            if spatial is None:
                raise _err(
                    f"{step.func} reads in.{attr}, but the input size here differs "
                    "between instances",
                    step.span,
                )
            size = self.file.in_attr(attr, state.rank, spatial)
            self.file.used.add((("module", step.span), "in size"))
            call.append(f"in_{attr}={size}")
            bound[f"in_{attr}"] = lit(int(size))
        ctor = f"{self.file.class_name(step.func)}({', '.join(call)})"
        given: dict[str, s.Expr] = dict(zip([p.name for p in block.params], args))
        given.update(kwargs)
        for p in block.params:
            if p.name not in given and p.default is not None:
                given[p.name] = fold(subst(p.default, given))
        bound.update({info.params[k]: v for k, v in given.items()})
        channels = fold(subst(info.out_channels, bound))
        if "<unknown channels>" in free_names(channels):
            known = {m.out_shape[0] for m in self.file.instances.get(("module", step.span), [])}
            self.file.used.add((("module", step.span), "out channels"))
            if len(known) != 1:
                raise _err(
                    f"the output channels of {step.func} cannot be expressed in its "
                    "parameters and differ between instances",
                    step.span,
                )
            channels = lit(known.pop())
        spatial = self.file.spatial(("module", step.span))
        out = State(channels, state.rank, spatial, fresh=True)
        return self.register(ctx, label, snake(step.func), ctor, state, out, step.span)

    # ---------------------------------------------------------------- groups
    def step_Group(self, step: s.Group, ctx: Ctx, state: State, label: Attr | None) -> State:
        if label is not None or (ctx.seq is not None and step.body):
            return self.sequential(step.body, ctx, state, label, step.span)
        if ctx.seq is not None:
            return state
        return self.inline(step.body, ctx, state)

    def sequential(
        self, body: Any, ctx: Ctx, state: State, label: Attr | None, span: Span
    ) -> State:
        """A labelled group: an ``nn.Sequential`` built from its elements."""
        builder = SeqBuilder(lambda: self.local("layers"), keyed=_seq_keyed(body))
        inner = ctx.child(seq=builder, namer=None, tensors=None)
        if isinstance(body, tuple):
            out = self.statements(body, inner, state)
        elif isinstance(body, s.Chain):
            out = self.chain(body, inner, state)
        else:
            out = self.step(body, inner, state, None)
        ctor = builder.build()
        spatial = self.file.spatial(("module", span))
        result = State(out.channels, out.rank, spatial if spatial else out.spatial, fresh=True)
        return self.register(ctx, label, "seq", ctor, state, result, span)

    def step_Repetition(
        self, step: s.Repetition, ctx: Ctx, state: State, label: Attr | None
    ) -> State:
        if label is not None:
            return self.sequential(step, ctx, state, label, step.span)
        body: tuple[s.Stmt, ...]
        if isinstance(step.target, s.Group):
            body = step.target.body
        else:
            body = (s.Chain((step.target,), step.target.span),)
        return self.loop(fold(subst(step.count, ctx.env)), None, body, ctx, state, step.span)

    def step_Repeat(self, step: s.Repeat, ctx: Ctx, state: State, label: Attr | None) -> State:
        if label is not None:
            return self.sequential(step, ctx, state, label, step.span)
        return self.loop(
            fold(subst(step.count, ctx.env)), step.var, step.body.body, ctx, state, step.span
        )

    def loop(
        self,
        count: s.Expr,
        var: str | None,
        body: tuple[s.Stmt, ...],
        ctx: Ctx,
        state: State,
        span: Span,
    ) -> State:
        if is_const(count) and count.value <= UNROLL:  # type: ignore[union-attr,operator]
            for i in range(count.value):  # type: ignore[union-attr]
                inner = ctx.child()
                if var is not None:
                    inner.env[var] = lit(i)
                state = self.statements(body, inner, state)
                ctx.cur = inner.cur
            return state
        if var is not None:
            loop_var = self.local(var)
        else:  # module names count with the loop (conv{i + 2}); a Sequential needs no index
            loop_var = self.local("i") if ctx.seq is None else "_"
        self.loop_vars.add(loop_var)
        if ctx.seq is None:
            return self.module_loop(count, var, loop_var, body, ctx, state, span)
        ctx.seq.go_dynamic(ctx)
        before = state.channels
        state = self.running_local(state, ctx)
        ctx.init.add(f"for {loop_var} in range({to_py(count)}):")
        start_line = len(ctx.init.items)
        with ctx.init.indent():
            inner = ctx.child()
            if var is not None:
                inner.env[var] = s.Name(loop_var)
            start = ctx.seq.count
            ctx.seq.count = add(start, lit(0))
            ctx.seq.loops += 1
            out = self.statements(body, inner, state)
            ctx.seq.loops -= 1
            per = fold(s.BinOp("-", ctx.seq.count, start))
            if out.channels != state.channels:
                ctx.init.add(f"{to_py(state.channels)} = {to_py(out.channels)}")
        ctx.seq.count = add(start, mul(count, per))
        channels = _after_loop(
            before,
            state.channels,
            out.channels,
            count,
            loop_var,
            self.running_var(state, ctx, start_line),
        )
        return State(channels, out.rank, None, fresh=True)

    def running_local(self, state: State, ctx: Ctx) -> State:
        """``state`` with its channels in a local a loop may set (a new one, unless they are
        in such a local already): a loop never assigns to a parameter."""
        if isinstance(state.channels, s.Name) and state.channels.id in self.running:
            return state
        name = self.local("channels")
        self.running.add(name)
        ctx.init.add(f"{name} = {to_py(state.channels)}")
        return State(s.Name(name), state.rank, state.spatial, state.fresh)

    def running_var(self, state: State, ctx: Ctx, start: int) -> s.Name | None:
        """The channels' variable when it is a local a loop made for the running channels
        (see :func:`_after_loop`) and the loop's body (from line ``start``) sets it."""
        var = state.channels
        if isinstance(var, s.Name) and var.id in self.running:
            if any(text.startswith(f"{var.id} = ") for _, text in ctx.init.items[start:]):
                return var
        return None

    def module_loop(
        self,
        count: s.Expr,
        var: str | None,
        loop_var: str,
        body: tuple[s.Stmt, ...],
        ctx: Ctx,
        state: State,
        span: Span,
    ) -> State:
        assert ctx.namer is not None
        # dry run: how far each naming counter moves per iteration (it names nothing)
        probe = SymNamer(set(), set())
        dry = ctx.child(init=Lines(), fwd=Lines(), namer=probe)
        if var is not None:
            dry.env[var] = s.Name(loop_var)
        saved = set(self.locals), set(self.flags), set(self.file.helpers)
        self.statements(body, dry, state)
        self.locals, self.flags, self.file.helpers = saved
        base = {p: ctx.namer.counters.get(p, lit(1)) for p in probe.counters}
        i = s.Name(loop_var)
        for p, moved in probe.counters.items():
            step = fold(s.BinOp("-", moved, lit(1)))
            ctx.namer.counters[p] = fold(s.BinOp("+", base[p], s.BinOp("*", i, step)))
        before = state.channels
        state = self.running_local(state, ctx)
        n_attr = self.flag("num_repeats", ctx.namer)
        ctx.init.add(f"self.{n_attr} = {to_py(count)}")
        ctx.init.add(f"for {loop_var} in range(self.{n_attr}):")
        start_line = len(ctx.init.items)
        ctx.fwd.add(f"for {loop_var} in range(self.{n_attr}):")
        with ctx.init.indent(), ctx.fwd.indent():
            inner = ctx.child()
            if var is not None:
                inner.env[var] = i
            out = self.statements(body, inner, State(state.channels, state.rank, None, False))
            if inner.cur != ctx.cur:
                inner.fwd.add(f"{ctx.cur} = {inner.cur}")
            if out.channels != state.channels:
                ctx.init.add(f"{to_py(state.channels)} = {to_py(out.channels)}")
        # later names count on from the loop; forward knows the count as the attribute only
        stored = count if is_const(count) else s.Name(f"self.{n_attr}")
        for p, moved in probe.counters.items():
            step = fold(s.BinOp("-", moved, lit(1)))
            ctx.namer.counters[p] = fold(s.BinOp("+", base[p], s.BinOp("*", stored, step)))
        channels = _after_loop(
            before,
            state.channels,
            out.channels,
            count,
            loop_var,
            self.running_var(state, ctx, start_line),
        )
        return State(channels, out.rank, None, fresh=False)

    def step_If(self, step: s.If, ctx: Ctx, state: State, label: Attr | None) -> State:
        if label is not None:
            return self.sequential(step, ctx, state, label, step.span)
        cond = fold(subst(step.cond, ctx.env))
        orelse: s.Group | None
        if isinstance(step.orelse, s.If):
            orelse = s.Group((s.Chain((step.orelse,), step.orelse.span),), step.orelse.span)
        else:
            orelse = step.orelse
        if is_const(cond):
            body = step.then if cond.value else orelse  # type: ignore[union-attr]
            if body is None:
                return state
            return self.inline(body.body, ctx, state)
        return self.branching(
            cond, step.then.body, orelse.body if orelse else (), ctx, state, step.span
        )

    def branching(
        self,
        cond: s.Expr,
        then: tuple[s.Stmt, ...],
        orelse: tuple[s.Stmt, ...],
        ctx: Ctx,
        state: State,
        span: Span,
    ) -> State:
        """A symbolic ``if``: both branches in ``__init__``; forward tests a module for None."""
        if ctx.seq is not None:
            ctx.seq.go_dynamic(ctx)
            start = ctx.seq.count
            ctx.init.add(f"if {to_py(cond)}:")
            with ctx.init.indent():
                a = self.statements(then, ctx.child(), state) if then else state
                count_a = ctx.seq.count
            ctx.seq.count = start
            b = state
            if orelse:
                ctx.init.add("else:")
                with ctx.init.indent():
                    b = self.statements(orelse, ctx.child(), state)
            ctx.seq.count = ifexp(cond, count_a, ctx.seq.count)
            return State(_either(cond, a.channels, b.channels), state.rank, None, fresh=False)
        assert ctx.namer is not None
        namer = ctx.namer
        before, used = dict(namer.counters), set(namer.used)
        outer = set(self.placeholders)
        outer_loops = set(self.loop_vars)
        init_then, fwd_then, a, made_then = self.arm(then, ctx, state)
        after_then, used_then = dict(namer.counters), set(namer.used)
        namer.counters, namer.used = dict(before), set(used)
        init_else, fwd_else, b, made_else = self.arm(orelse, ctx, state)
        namer.used |= used_then
        for p in set(after_then) | set(namer.counters):
            x, y = after_then.get(p, before.get(p, lit(1))), namer.counters.get(p, lit(1))
            namer.counters[p] = ifexp(cond, x, y)
        nested = self.placeholders - outer  # modules that a nested `if` creates or not
        both = {a.key() for a in made_then} & {a.key() for a in made_else}
        # names an arm's own loop makes (layer{i}) exist only inside it: no placeholder, no test
        loops = self.loop_vars - outer_loops
        made_then = [a for a in made_then if not _names_in(a, loops)]
        made_else = [a for a in made_else if not _names_in(a, loops)]
        for attr in dict.fromkeys(made_then + made_else):
            if attr.key() not in both or attr.key() in nested:  # each arm builds its own
                ctx.init.add(self.placeholder(attr))
        else_names = {a.static for a in made_else}
        only_then = [
            a
            for a in made_then
            if (a.static is None or a.static not in else_names) and a.key() not in nested
        ]
        test = f"{only_then[0].ref()} is not None" if only_then else None
        if test is None and (made_then or made_else):
            flag = self.flag("use_branch", namer)
            ctx.init.add(f"self.{flag} = {to_py(cond)}")
            test = f"self.{flag}"
        ctx.init.add(f"if {to_py(cond)}:")
        ctx.init.items += init_then.items  # an empty arm gets `pass` in Lines.render
        if init_else.items:
            ctx.init.add("else:")
            ctx.init.items += init_else.items
        if test is not None:
            ctx.fwd.add(f"if {test}:")
            ctx.fwd.items += fwd_then.items
            if fwd_else.items:
                ctx.fwd.add("else:")
                ctx.fwd.items += fwd_else.items
        return State(_either(cond, a.channels, b.channels), state.rank, None, fresh=False)

    def arm(
        self, stmts: tuple[s.Stmt, ...], ctx: Ctx, state: State
    ) -> tuple[Lines, Lines, State, list[Attr]]:
        """One arm of a symbolic ``if``: its own lines, ending in ``ctx.cur``, and the module
        names it made."""
        assert ctx.namer is not None
        start = len(ctx.namer.created)
        init, fwd = Lines(level=ctx.init.level + 1), Lines(level=ctx.fwd.level + 1)
        sub = ctx.child(init=init, fwd=fwd)
        out = self.statements(stmts, sub, state)
        if sub.cur != ctx.cur:
            fwd.add(f"{ctx.cur} = {sub.cur}")
        return init, fwd, out, ctx.namer.created[start:]

    # ---------------------------------------------------------------- merges
    def step_Merge(self, step: s.Merge, ctx: Ctx, state: State, label: Attr | None) -> State:
        branches = list(step.branches)
        return self.merge(step.kind, branches, ctx, state, label, step.span, False, None, None)

    def step_Residual(self, step: s.Residual, ctx: Ctx, state: State, label: Attr | None) -> State:
        cond: s.Expr = fold(subst(step.cond, ctx.env)) if step.cond is not None else lit(True)
        if is_const(cond) and not cond.value:  # type: ignore[union-attr]
            return self.step_Group(step.body, ctx, state, label)
        short_cond: s.Expr = lit(step.shortcut is not None)
        if step.shortcut is not None and step.shortcut_cond is not None:
            short_cond = fold(subst(step.shortcut_cond, ctx.env))
        branches: list[s.Stmt] = [s.Chain((step.body,), step.body.span)]
        shortcut = step.shortcut
        if is_const(short_cond) and not short_cond.value:  # type: ignore[union-attr]
            shortcut = None
        branches.append(s.Chain((shortcut,), shortcut.span) if shortcut else s.Chain((), step.span))
        return self.merge(
            "add",
            branches,
            ctx,
            state,
            label,
            step.span,
            True,
            None if is_const(cond) else cond,
            None if is_const(short_cond) else short_cond,
        )

    def merge(
        self,
        kind: str,
        branches: list[s.Stmt],
        ctx: Ctx,
        state: State,
        label: Attr | None,
        span: Span,
        residual: bool,
        cond: s.Expr | None,
        short_cond: s.Expr | None,
    ) -> State:
        if kind == "split" and (label is not None or ctx.seq is not None):
            raise _err("a split that is a module of its own", span, "put it in a block body")
        if label is not None or ctx.seq is not None:
            if cond is not None or short_cond is not None:
                raise _err(
                    "a conditional residual cannot be a module of its own here",
                    span,
                    "put it directly in a block body",
                )
            return self.merge_container(kind, branches, ctx, state, label, span)
        if residual:
            return self.residual(branches, ctx, state, span, cond, short_cond)
        outs: list[str] = []
        shapes: list[State] = []
        ctx = ctx.child()  # a `let` between branches holds for the later ones
        chunks: list[str] = []
        if kind == "split":  # branch i takes the i-th chunk of the channels (torch.chunk)
            n = sum(1 for b in branches if isinstance(b, s.Chain))
            chunks = [self.local(f"chunk{i + 1}") for i in range(n)]
            lhs = ", ".join(chunks) + ("," if n == 1 else "")
            ctx.fwd.add(f"{lhs} = torch.chunk({ctx.cur}, {n}, 1)")
            state = State(fold(s.BinOp("//", state.channels, lit(n))), state.rank, state.spatial)
            kind = "concat"
        for stmt in branches:
            if isinstance(stmt, s.Let):
                self.statement(stmt, ctx, state)
                continue
            assert isinstance(stmt, s.Chain)
            source = chunks[len(outs)] if chunks else ctx.cur
            if not stmt.steps:
                outs.append(source)
                shapes.append(state)
                continue
            var = self.local(_branch_var(stmt, len(outs) + 1))
            index = _start(ctx.fwd, var, source)
            sub = ctx.child(cur=var)
            out = self.chain(stmt, sub, State(state.channels, state.rank, state.spatial, False))
            _fold_first_assign(ctx.fwd, var, index)
            outs.append(sub.cur)
            shapes.append(out)
        channels = _merged_channels(kind, [sh.channels for sh in shapes])
        if kind == "concat":
            ctx.fwd.add(f"{ctx.cur} = torch.cat([{', '.join(outs)}], 1)")
        else:
            op = " + " if kind == "add" else " * "
            ctx.fwd.add(f"{ctx.cur} = {op.join(outs)}")
        spatial = self.file.spatial(("merge", span))
        return State(channels, state.rank, spatial, fresh=True)

    def residual(
        self,
        branches: list[s.Stmt],
        ctx: Ctx,
        state: State,
        span: Span,
        cond: s.Expr | None,
        short_cond: s.Expr | None,
    ) -> State:
        """``identity = x … out += identity``, as torchvision writes residual blocks."""
        assert ctx.namer is not None
        x = ctx.cur
        identity, out_var = self.local("identity"), self.local("out")
        body, shortcut = branches
        assert isinstance(body, s.Chain) and isinstance(shortcut, s.Chain)
        ctx.fwd.add(f"{identity} = {x}")
        if body.steps:
            index = _start(ctx.fwd, out_var, x)
            out = self.chain(
                body,
                ctx.child(cur=out_var),
                State(state.channels, state.rank, state.spatial, False),
            )
            _fold_first_assign(ctx.fwd, out_var, index)
        else:
            ctx.fwd.add(f"{out_var} = {x}")
            out = State(state.channels, state.rank, state.spatial, False)
        use = None
        if cond is not None:
            use = self.flag("use_residual", ctx.namer)
            ctx.init.add(f"self.{use} = {to_py(cond)}")
            # the projection exists only where the residual does
            short_cond = cond if short_cond is None else fold(s.BoolOp("and", cond, short_cond))
        fwd = Lines(level=ctx.fwd.level + (1 if use else 0))
        if shortcut.steps:
            n0 = len(ctx.namer.created)
            counters = dict(ctx.namer.counters)
            sc_fwd = Lines(level=fwd.level + (1 if short_cond is not None else 0))
            sc_init = Lines(level=ctx.init.level + (1 if short_cond is not None else 0))
            sub = ctx.child(cur=identity, init=sc_init, fwd=sc_fwd)
            index = _start(sc_fwd, identity, x)
            self.chain(shortcut, sub, State(state.channels, state.rank, state.spatial, False))
            _fold_first_assign(sc_fwd, identity, index)
            made = ctx.namer.created[n0:]
            if short_cond is not None:
                # names after a projection that only some instances have depend on it
                for p, after in list(ctx.namer.counters.items()):
                    before = counters.get(p, lit(1))
                    if after != before:
                        ctx.namer.counters[p] = ifexp(short_cond, after, before)
                for attr in made:
                    ctx.init.add(self.placeholder(attr))
                ctx.init.add(f"if {to_py(short_cond)}:")
                ctx.init.items += sc_init.items
                if made:
                    fwd.add(f"if {made[0].ref()} is not None:")
                    fwd.items += sc_fwd.items
            else:
                ctx.init.items += sc_init.items
                fwd.items += sc_fwd.items
        if out.fresh:
            fwd.add(f"{out_var} += {identity}")
        else:
            fwd.add(f"{out_var} = {out_var} + {identity}")
        if use:
            ctx.fwd.add(f"if self.{use}:")
        ctx.fwd.items += fwd.items
        ctx.cur = out_var
        spatial = self.file.spatial(("merge", span))
        return State(out.channels, state.rank, spatial or out.spatial, fresh=True)

    def merge_container(
        self,
        kind: str,
        branches: list[s.Stmt],
        ctx: Ctx,
        state: State,
        label: Attr | None,
        span: Span,
    ) -> State:
        """A labelled merge or a merge inside a Sequential: a ``Merge`` helper module."""
        namer = SymNamer(*_labels(tuple(branches)))
        parts: list[str] = []
        channels: list[s.Expr] = []
        for stmt in branches:
            if not isinstance(stmt, s.Chain):
                raise _err("a merge container with a `let` between its branches", stmt.span)
            sub_init, sub_fwd = Lines(), Lines()
            sub = Ctx(sub_init, sub_fwd, dict(ctx.env), "x", namer=namer, tensors=None)
            out = self.chain(stmt, sub, State(state.channels, state.rank, state.spatial, False))
            channels.append(out.channels)
            for lvl, text in sub_fwd.items:
                if lvl != 0 or not (text.startswith("x = self.") and text.endswith("(x)")):
                    raise _err(
                        "a merge that is a module of its own (labelled, or inside a "
                        "Sequential) needs branches that are plain chains of modules",
                        stmt.span,
                        "move the nested merge into a block and call it",
                    )
            entries = []
            for lvl, text in sub_init.items:
                if lvl != 0 or not text.startswith("self.") or " = " not in text:
                    raise _err(
                        "a merge container's branches must be plain chains of modules",
                        stmt.span,
                        "label the merge's parent block instead",
                    )
                name, ctor = text[5:].split(" = ", 1)
                entries.append(f"({name!r}, {ctor})")
            parts.append(f"[{', '.join(entries)}]")
        self.file.helpers.add("Merge")
        ctor = f"Merge({kind!r}, [{', '.join(parts)}])"
        total = _merged_channels(kind, channels)
        spatial = self.file.spatial(("merge", span))
        out = State(total, state.rank, spatial, fresh=True)
        return self.register(ctx, label, kind, ctor, state, out, span)

    def merge_refs(self, step: s.Call, ctx: Ctx, state: State) -> State:
        assert ctx.tensors is not None
        names = [ctx.tensors[a.id] for a in step.args if isinstance(a, s.Name)]
        refs = [a.id for a in step.args if isinstance(a, s.Name)]
        chans = [self.file.tensor_channels[(self.name, r)][0] for r in refs]
        channels = _merged_channels(step.func, chans)
        if step.func == "concat":
            ctx.fwd.add(f"{ctx.cur} = torch.cat([{', '.join(names)}], 1)")
        else:
            op = " + " if step.func == "add" else " * "
            ctx.fwd.add(f"{ctx.cur} = {op.join(names)}")
        spatial = self.file.spatial(("refs", step.span))
        return State(channels, state.rank, spatial, fresh=True)

    # ---------------------------------------------------------------- tensors and outputs
    def bind(self, stmt: s.Bind, ctx: Ctx, state: State) -> State:
        state = self.chain(stmt.chain, ctx, state)
        assert ctx.tensors is not None
        var = self.local(stmt.name)
        ctx.tensors[stmt.name] = var
        self.file.tensor_channels[(self.name, stmt.name)] = (state.channels, state.rank)
        ctx.fwd.add(f"{var} = {ctx.cur}")
        return State(state.channels, state.rank, state.spatial, fresh=False)

    def output(self, stmt: s.Output, ctx: Ctx, state: State) -> State:
        attr = Attr((stmt.name,))
        assert ctx.namer is not None
        ctx.namer.made(attr)
        ctx.namer.used.add(stmt.name)
        var = self.local(stmt.name)
        init, fwd = Lines(level=ctx.init.level), Lines(level=ctx.fwd.level + 1)
        sub = ctx.child(init=init, fwd=fwd, cur=var, tensors=None)
        index = _start(fwd, var, ctx.cur)
        steps = stmt.chain.steps
        single = len(steps) == 1 and isinstance(
            steps[0], (s.Layer, s.Call, s.Merge, s.Residual, s.Group)
        )
        if single:
            self.step(steps[0], sub, State(state.channels, state.rank, state.spatial, False), attr)
        else:
            self.sequential(stmt.chain, sub, state, attr, stmt.span)
        _fold_first_assign(fwd, var, index)
        ctx.init.items += init.items
        ctx.fwd.add(f"{var}: Tensor | None = None")  # declared first, as torchvision does
        ctx.fwd.add("if self.training:")
        ctx.fwd.items += fwd.items
        self.outputs.append(var)
        return state


# ---------------------------------------------------------------- helpers of the translation


def _after_loop(
    before: s.Expr,
    var: s.Expr,
    after: s.Expr,
    count: s.Expr,
    loop_var: str,
    running: s.Name | None = None,
) -> s.Expr:
    """Channels after a loop: ``before + count * delta`` when each pass adds a constant, or
    the last pass's when they do not depend on the pass. Else, or where that takes an
    ``if`` on the count, or a nested loop set the channels, ``running``: the local a loop
    made for the running channels when the body sets it (``channels = …``); it holds the
    last pass's channels, or ``before`` after none."""
    if after == var:
        return running or before
    if running is not None and before == var:
        return running  # an earlier loop's local, which this loop moves on: it holds the end
    result = _after_loop_expr(before, var, after, count, loop_var)
    if running is not None and (result == UNKNOWN or isinstance(result, s.IfExp)):
        return running
    return result


def _after_loop_expr(
    before: s.Expr, var: s.Expr, after: s.Expr, count: s.Expr, loop_var: str
) -> s.Expr:
    if isinstance(var, s.Name) and not free_names(after) & {var.id, loop_var}:
        if is_const(count):
            return after if count.value > 0 else before  # type: ignore[union-attr,operator]
        return ifexp(s.Compare((">",), (count, lit(0))), after, before)
    delta = _increment(after, var)
    if delta is not None and isinstance(var, s.Name) and not free_names(delta) & {var.id, loop_var}:
        return fold(s.BinOp("+", before, s.BinOp("*", count, delta)))
    return UNKNOWN


def _names_in(attr: Attr, names: set[str]) -> bool:
    """Whether a computed module name reads one of ``names``."""
    return any(free_names(p) & names for p in attr.parts if not isinstance(p, str))


def _either(cond: s.Expr, a: s.Expr, b: s.Expr) -> s.Expr:
    """Channels after a symbolic ``if``: ``a if cond else b``, or the one arm it always is
    (``expanded if expanded != in_channels else in_channels`` is ``expanded``)."""
    if isinstance(cond, s.Compare) and len(cond.ops) == 1 and cond.ops[0] in ("==", "!="):
        if {a, b} == set(cond.operands):
            return a if cond.ops[0] == "!=" else b
    return ifexp(cond, a, b)


def _increment(after: s.Expr, var: s.Expr) -> s.Expr | None:
    """``d`` when ``after`` is ``var + d`` (``((var + a) + b)`` gives ``a + b``), else None."""
    if after == var:
        return lit(0)
    if isinstance(after, s.BinOp) and after.op == "+":
        inner = _increment(after.left, var)
        if inner is not None:
            return fold(s.BinOp("+", inner, after.right))
        inner = _increment(after.right, var)
        if inner is not None:
            return fold(s.BinOp("+", after.left, inner))
    return None


def _drop_unused_bindings(lines: Lines, names: set[str]) -> None:
    """Bound tensors that nothing reads need no variable in forward."""
    import re

    for name in names:
        word = re.compile(rf"\b{re.escape(name)}\b")
        uses = [i for i, (_, text) in enumerate(lines.items) if word.search(text)]
        if len(uses) == 1 and lines.items[uses[0]][1].startswith(f"{name} = "):
            del lines.items[uses[0]]


def _start(lines: Lines, var: str, src: str) -> int:
    """Add ``var = src`` and return its index (see :func:`_fold_first_assign`)."""
    lines.add(f"{var} = {src}")
    return len(lines.items) - 1


def _fold_first_assign(lines: Lines, var: str, index: int) -> None:
    """``v = x`` followed by ``v = f(v)`` becomes ``v = f(x)``."""
    if index + 1 >= len(lines.items):
        return
    lvl, text = lines.items[index]
    src = text[len(var) + 3 :]
    nlvl, nxt = lines.items[index + 1]
    if (
        nlvl == lvl
        and nxt.startswith(f"{var} = ")
        and nxt.endswith(f"({var})")
        and nxt.count(f"({var})") == 1
    ):
        lines.items[index + 1] = (nlvl, nxt[: -len(var) - 1] + src + ")")
        del lines.items[index]


def _branch_var(stmt: s.Chain, n: int) -> str:
    if len(stmt.steps) == 1 and isinstance(stmt.steps[0], s.Labelled):
        plain = stmt.steps[0].label.plain
        if plain:
            return plain
    return f"branch{n}"


def _merged_channels(kind: str, channels: list[s.Expr]) -> s.Expr:
    """Channels after a merge: the sum for ``concat``; else the common count, which ``mul``
    broadcasts from 1 (UNKNOWN when that cannot be written: the instances then say)."""
    if kind == "concat":
        total = channels[0]
        for c in channels[1:]:
            total = add(total, c)
        return total
    if kind == "add":  # shapes match exactly: any branch says it
        return channels[0]
    distinct = list(dict.fromkeys(c for c in channels if c != lit(1))) or [lit(1)]
    if len(distinct) == 1:
        return distinct[0]
    if all(is_const(c) for c in distinct):
        return lit(max(c.value for c in distinct))  # type: ignore[union-attr]
    return UNKNOWN


def _safe_hole(e: s.Expr) -> bool:
    """A template hole the generated f-string may compute: no string in it (a string
    known now is folded into the name and checked; one inside arithmetic is refused)."""
    return not any(isinstance(n, s.Lit) and isinstance(n.value, str) for n in s.walk(e))


def _labels(stmts: tuple[s.Stmt, ...]) -> tuple[set[str], set[str]]:
    """Labels of a module context, through inlined groups, merges, ifs and repeats: (the
    plain ones, those that only some instances have: inside an ``if``, a ``repeat`` or a
    conditional residual). A template counts as conditional, by its text up to the first
    hole plus ``{}`` (``conv1{i}`` gives ``conv1{}``): the names it makes are known only
    per instance."""
    out: set[str] = set()
    conditional: set[str] = set()

    def step(st: Any, cond: bool) -> None:
        if isinstance(st, s.Labelled):
            if st.label.plain:
                out.add(st.label.plain)
                if cond:
                    conditional.add(st.label.plain)
            else:
                head = st.label.parts[0] if isinstance(st.label.parts[0], str) else ""
                conditional.add(head + "{}")
            return
        if isinstance(st, s.Group):
            stmts_(st.body, cond)
        elif isinstance(st, s.Merge):
            stmts_(st.branches, cond)
        elif isinstance(st, s.Residual):
            stmts_(st.body.body, cond or st.cond is not None)
            if st.shortcut:
                stmts_(
                    st.shortcut.body, cond or st.cond is not None or st.shortcut_cond is not None
                )
        elif isinstance(st, s.Repeat):
            stmts_(st.body.body, True)
        elif isinstance(st, s.Repetition) and isinstance(st.target, s.Group):
            stmts_(st.target.body, True)
        elif isinstance(st, s.If):
            stmts_(st.then.body, True)
            if st.orelse is not None:
                step(st.orelse, True)

    def stmts_(body: tuple[Any, ...], cond: bool) -> None:
        for stmt in body:
            if isinstance(stmt, s.Chain):
                for st in stmt.steps:
                    step(st, cond)
            elif isinstance(stmt, s.Bind):
                for st in stmt.chain.steps:
                    step(st, cond)
            elif isinstance(stmt, s.Output):
                out.add(stmt.name)

    stmts_(stmts, False)
    return out, conditional


def _seq_keyed(body: Any) -> bool:
    """Whether a Sequential has labelled elements (then it is built from an OrderedDict).

    Its elements are the steps of its chains, through the ``repeat``, ``X * n`` and ``if``
    that splice theirs in; a nested group is one (unkeyed) element."""

    def step(st: Any) -> bool:
        if isinstance(st, s.Labelled):
            return True
        if isinstance(st, s.Repeat):
            return stmts_(st.body.body)
        if isinstance(st, s.Repetition):
            return stmts_(st.target.body) if isinstance(st.target, s.Group) else step(st.target)
        if isinstance(st, s.If):
            orelse = st.orelse
            return stmts_(st.then.body) or (
                stmts_(orelse.body) if isinstance(orelse, s.Group) else step(orelse)
            )
        return False

    def stmts_(body: tuple[Any, ...]) -> bool:
        return any(step(st) for stmt in body if isinstance(stmt, s.Chain) for st in stmt.steps)

    if isinstance(body, tuple):
        return stmts_(body)
    if isinstance(body, s.Chain):
        return any(step(st) for st in body.steps)
    return step(body)
