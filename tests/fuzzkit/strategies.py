"""A hypothesis strategy for `.cnn` programs: ``programs()``.

The generator builds a small syntax tree of statements and steps, and runs every step it
builds on a rough model of the language (shapes, scopes, block calls) so that its choices
fit the current tensor: most programs shape-check, a few do not (on purpose, or because a
block reused with other arguments no longer fits). The model is only a guide; the checker
decides.

Shrinking: every choice is drawn from hypothesis, and the value it shrinks towards (0,
False, the first element) is the simplest alternative, so failing programs shrink well.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

# the edition programs() generates by default (CNNDSL_FUZZ_EDITION=1 for the first edition's
# mix alone, as the fuzzer generated it before the second edition)
EDITION = int(os.environ.get("CNNDSL_FUZZ_EDITION", "2"))


class Invalid(Exception):
    """The model thinks a step does not fit (the checker would reject it)."""


Shape = tuple[int, ...]  # (C, *spatial), no batch; (C,) is flat


class CL(tuple):  # type: ignore[type-arg]
    """A channels-last tensor (second edition): stored as (C, *spatial) like every shape; the
    channels are last in memory. Slicing or rebuilding it gives a plain (channels-first)
    tuple, which is what every op that is not listed in ``CL_OPS`` needs anyway."""


def is_cl(x: Shape) -> bool:
    return isinstance(x, CL)


def same_layout(x: Shape, shape: tuple[int, ...]) -> Shape:
    return CL(shape) if is_cl(x) else tuple(shape)


# ops that accept a channels-last tensor (LANGUAGE.md §8)
CL_OPS = {
    "relu",
    "relu6",
    "sigmoid",
    "tanh",
    "gelu",
    "silu",
    "hardswish",
    "hardsigmoid",
    "mish",
    "identity",
    "leaky_relu",
    "elu",
    "prelu",
    "dropout",
    "stochastic_depth",
    "scale",
    "layernorm",
    "linear",
    "permute",
}
UPSAMPLE_MODE_RANK = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}


def permute_shape(dims: list[Any], x: Shape) -> Shape:
    """``permute`` with dimension 0 the batch: the channels must end up first or last."""
    n = len(x)
    if any(isinstance(d, bool) or not isinstance(d, int) for d in dims):
        raise Invalid("permute dims")
    if n == 1 or sorted(dims) != list(range(n + 1)) or dims[0] != 0:
        raise Invalid("permute dims")
    # physical order of the non-batch dimensions: "c" or the index of a spatial one
    phys: list[Any] = ["c", *range(n - 1)] if not is_cl(x) else [*range(n - 1), "c"]
    sizes = {"c": x[0], **{i: x[1 + i] for i in range(n - 1)}}
    new = [phys[d - 1] for d in dims[1:]]
    spatial = tuple(sizes[k] for k in new if k != "c")
    if new[0] == "c":
        return (x[0], *spatial)
    if new[-1] == "c":
        return CL((x[0], *spatial))
    raise Invalid("channels in the middle")


# ----------------------------------------------------------------------------- expressions


@dataclass(frozen=True)
class E:
    """An expression: its source text and how to evaluate it in a scope (name -> value)."""

    text: str
    fn: Callable[[Scope], Any]
    atomic: bool = True

    def ev(self, scope: Scope) -> Any:
        return self.fn(scope)

    @property
    def atom(self) -> str:
        """The text as a positional argument: parenthesised unless atomic."""
        return self.text if self.atomic else f"({self.text})"


def lit(v: Any) -> E:
    if isinstance(v, bool):
        return E("true" if v else "false", lambda s: v)
    if isinstance(v, tuple):
        return E("x".join(str(x) for x in v), lambda s: v)
    return E(str(v), lambda s: v)


def word(w: str) -> E:
    """A bare enum word (``same``) or raw text whose value is the word itself."""
    return E(w, lambda s: w)


def name(n: str) -> E:
    def fn(s: Scope) -> Any:
        if n not in s.values:
            raise Invalid(f"unknown name {n}")
        return s.values[n]

    return E(n, fn)


IN_ATTRS = {1: ("length",), 2: ("height", "width"), 3: ("depth", "height", "width")}


def in_attr(attr: str) -> E:
    def fn(s: Scope) -> Any:
        shape = s.in_shape
        if attr == "channels":
            return shape[0]
        attrs = IN_ATTRS.get(len(shape) - 1, ())
        if attr not in attrs:
            raise Invalid(f"no in.{attr}")
        return shape[1 + attrs.index(attr)]

    return E(f"in.{attr}", fn)


def _num(v: Any) -> Any:
    if isinstance(v, (tuple, str, list)):
        raise Invalid("arithmetic on a size or a list")
    return v


def binop(a: E, op: str, b: E) -> E:
    def fn(s: Scope) -> Any:
        x, y = _num(a.ev(s)), _num(b.ev(s))
        if op == "+":
            return x + y
        if op == "-":
            return x - y
        if op == "*":
            return x * y
        if op == "//":
            if y == 0:
                raise Invalid("division by zero")
            return x // y
        if op == "%":
            if y == 0:
                raise Invalid("division by zero")
            return x % y
        if op == "/":
            if y == 0:
                raise Invalid("division by zero")
            return x / y
        if op == "**":
            if abs(y) > 16 or abs(x) > 64 or (x == 0 and y < 0):
                raise Invalid("power out of range")
            return x**y
        raise AssertionError(op)

    return E(f"{a.atom} {op} {b.atom}", fn, atomic=False)


def compare(a: E, op: str, b: E) -> E:
    ops = {
        "==": lambda x, y: x == y,
        "!=": lambda x, y: x != y,
        "<": lambda x, y: x < y,
        "<=": lambda x, y: x <= y,
        ">": lambda x, y: x > y,
        ">=": lambda x, y: x >= y,
    }
    return E(f"{a.atom} {op} {b.atom}", lambda s: ops[op](a.ev(s), b.ev(s)), atomic=False)


def logic(a: E, op: str, b: E) -> E:
    if op == "and":
        return E(f"{a.atom} and {b.atom}", lambda s: a.ev(s) and b.ev(s), atomic=False)
    return E(f"{a.atom} or {b.atom}", lambda s: a.ev(s) or b.ev(s), atomic=False)


def negate(a: E) -> E:
    return E(f"not {a.atom}", lambda s: not a.ev(s), atomic=False)


def ifexp(a: E, cond: E, b: E) -> E:
    return E(
        f"{a.atom} if {cond.atom} else {b.atom}",
        lambda s: a.ev(s) if cond.ev(s) else b.ev(s),
        atomic=False,
    )


def _size(*vs: Any) -> tuple[int, ...]:
    if not vs or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in vs):
        raise Invalid("bad size()")
    return tuple(vs)


def _checked(f: Callable[..., Any]) -> Callable[..., Any]:
    def call(*vs: Any) -> Any:
        try:
            return f(*vs)
        except (ValueError, TypeError, OverflowError, ZeroDivisionError) as exc:
            raise Invalid(str(exc)) from None

    return call


FUNCS: dict[str, Callable[..., Any]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "int": int,
    "round": round,
    "float": float,
    "sqrt": math.sqrt,
    "log": math.log,
    "exp": math.exp,
    "pow": pow,
    "len": len,
    "sum": sum,
    "size": _size,
}


def func(f: str, *args: E) -> E:
    impl = _checked(FUNCS[f])
    return E(f"{f}({', '.join(a.text for a in args)})", lambda s: impl(*(a.ev(s) for a in args)))


def listexpr(items: list[E]) -> E:
    """A list literal ``[a, b]`` (not an atom: parenthesised as a positional argument)."""
    return E(
        "[" + ", ".join(i.text for i in items) + "]",
        lambda s: [i.ev(s) for i in items],
        atomic=False,
    )


def index(a: E, i: E) -> E:
    """``a[i]`` (negative indices count from the end)."""

    def fn(s: Scope) -> Any:
        xs, k = a.ev(s), i.ev(s)
        if not isinstance(xs, list) or isinstance(k, bool) or not isinstance(k, int):
            raise Invalid("bad index")
        if not -len(xs) <= k < len(xs):
            raise Invalid("index out of range")
        return xs[k]

    return E(f"{a.atom}[{i.text}]", fn)


def slice_(a: E, lo: int | None, hi: int | None) -> E:
    """``a[lo:hi]``."""

    def fn(s: Scope) -> Any:
        xs = a.ev(s)
        if not isinstance(xs, list):
            raise Invalid("slice of a non-list")
        return xs[lo:hi]

    text = f"{'' if lo is None else lo}:{'' if hi is None else hi}"
    return E(f"{a.atom}[{text}]", fn)


def tensor_ref(t: str) -> E:
    """A bound tensor's name as a value (``like=img``): its shape."""

    def fn(s: Scope) -> Any:
        if s.tensors is None or t not in s.tensors:
            raise Invalid(f"unknown tensor {t}")
        return s.tensors[t]

    return E(t, fn)


def string(text: str) -> E:
    """A string literal (``scope="stem"``)."""
    return E(f'"{text}"', lambda s: text)


# ----------------------------------------------------------------------------- scopes


@dataclass
class Block:
    name: str
    params: list[tuple[str, E | None]]  # (name, default)
    body: Body
    kinds: dict[str, str]  # param -> kind (chan, stride, kernel, flag, count, list)
    seq: bool = False  # a sequential block: `block B(…) = { … }`


@dataclass
class Scope:
    """What a body sees while it runs: values, its input shape, tensors, the blocks."""

    values: dict[str, Any]
    in_shape: Shape
    tensors: dict[str, Shape] | None
    blocks: dict[str, Block]
    depth: int = 0

    def child(self, tensors: bool = True) -> Scope:
        return Scope(
            dict(self.values),
            self.in_shape,
            dict(self.tensors) if tensors and self.tensors is not None else None,
            self.blocks,
            self.depth,
        )


# ----------------------------------------------------------------------------- shape model


def _per_dim(v: Any, rank: int, what: str) -> tuple[int, ...]:
    if isinstance(v, bool) or isinstance(v, str):
        raise Invalid(f"bad {what}")
    if isinstance(v, tuple):
        if len(v) != rank:
            raise Invalid(f"{what} rank")
        return v
    if not isinstance(v, int):
        raise Invalid(f"bad {what}")
    return (v,) * rank


def _pads(pad: Any, k: tuple, s: tuple, d: tuple, sizes: tuple) -> list[tuple[int, int]]:
    if pad == "valid":
        return [(0, 0)] * len(k)
    if pad == "full":
        return [(dd * (kk - 1),) * 2 for kk, dd in zip(k, d)]
    if pad == "same":
        out = []
        for i, kk, ss, dd in zip(sizes, k, s, d):
            o = -(-i // ss)
            total = max((o - 1) * ss + dd * (kk - 1) + 1 - i, 0)
            out.append((total // 2, total - total // 2))
        return out
    p = _per_dim(pad, len(k), "pad")
    if any(x < 0 for x in p):
        raise Invalid("negative pad")
    return [(x, x) for x in p]


def _window(sizes, k, s, d, pads, ceil=False) -> tuple[int, ...]:
    out = []
    for i, kk, ss, dd, (pb, pa) in zip(sizes, k, s, d, pads):
        if kk < 1 or ss < 1 or dd < 1:
            raise Invalid("bad window")
        eff = dd * (kk - 1) + 1
        padded = i + pb + pa
        if eff > padded and not (ceil and ss > 1):
            raise Invalid("kernel larger than input")
        if ceil:
            o = -(-(padded - eff) // ss) + 1
            if (o - 1) * ss >= i + pb:
                o -= 1
        else:
            o = (padded - eff) // ss + 1
        if o <= 0:
            raise Invalid("empty output")
        out.append(o)
    return tuple(out)


def _count(v: Any, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise Invalid(f"bad {what}")
    return v


def layer_shape(op: str, pos: list[Any], kw: dict[str, Any], x: Shape) -> Shape:
    """Output shape of ``op`` on ``x`` (the model's version of cnndsl's op table)."""
    rank = len(x) - 1
    c, sizes = x[0], x[1:]
    if op == "permute":
        return permute_shape(pos, x)
    if is_cl(x):
        if op not in CL_OPS:
            raise Invalid(f"{op} needs channels first")
        if op == "linear":
            return CL((_count(pos[0], "out"), *sizes))
        if op == "layernorm" and kw.get("dim", "channels") != "channels":
            raise Invalid("layernorm dim=all on channels last")
        return x
    if op in ("scale", "stochastic_depth"):
        return x
    spatial_ops = {
        "conv",
        "deconv",
        "dwconv",
        "sepconv",
        "maxpool",
        "avgpool",
        "minpool",
        "lppool",
        "adaptive_avgpool",
        "adaptive_maxpool",
        "gap",
        "gmp",
        "lrn",
        "instancenorm",
        "dropout2d",
        "upsample",
        "shuffle",
    }
    if op in spatial_ops and rank == 0:
        raise Invalid("needs spatial dims")
    if op in ("conv", "deconv", "dwconv", "sepconv"):
        i = 0
        if op != "dwconv":
            cout = _count(pos[0], "out")
            i = 1
        else:
            cout = c * _count(kw.get("mult", 1), "mult")
        k = _per_dim(pos[i], rank, "kernel")
        s = _per_dim(kw.get("stride", 1), rank, "stride")
        d = _per_dim(kw.get("dilation", 1), rank, "dilation")
        g = kw.get("groups", 1)
        if not isinstance(g, int) or isinstance(g, bool) or g < 1 or c % g or cout % g:
            raise Invalid("groups")
        if op == "deconv":
            pad = kw.get("pad", 0)
            if pad == "same":
                return (cout, *(i_ * ss for i_, ss in zip(sizes, s)))
            p = _per_dim(pad, rank, "pad")
            op_ = _per_dim(kw.get("output_pad", 0), rank, "output_pad")
            out = []
            for i_, kk, ss, dd, pp, oo in zip(sizes, k, s, d, p, op_):
                if oo >= ss and oo >= dd:
                    raise Invalid("output_pad")
                o = (i_ - 1) * ss - 2 * pp + dd * (kk - 1) + oo + 1
                if o < 1:
                    raise Invalid("deconv output")
                out.append(o)
            return (cout, *out)
        pads = _pads(kw.get("pad", 0), k, s, d, sizes)
        mode = kw.get("pad_mode", "zeros")
        for (pb, pa), i_ in zip(pads, sizes):
            limit = i_ - 1 if mode == "reflect" else i_
            if mode not in ("zeros", "replicate") and max(pb, pa) > limit:
                raise Invalid("pad_mode")
        return (cout, *_window(sizes, k, s, d, pads))
    if op in ("maxpool", "avgpool", "minpool", "lppool"):
        k = _per_dim(pos[0], rank, "kernel")
        s = _per_dim(kw.get("stride", pos[0]), rank, "stride")
        ones = (1,) * rank
        pad = kw.get("pad", 0)
        pads = _pads(pad, k, s, ones, sizes)
        if pad not in ("same", "valid", "full"):
            if any(p > kk // 2 for (p, _), kk in zip(pads, k)):
                raise Invalid("pool pad")
        return (c, *_window(sizes, k, s, ones, pads, bool(kw.get("ceil", False))))
    if op in ("adaptive_avgpool", "adaptive_maxpool"):
        return (c, *_per_dim(pos[0], rank, "size"))
    if op in ("gap", "gmp"):
        return (c, *(1 for _ in sizes))
    if op == "flatten":
        return (math.prod(x),)
    if op == "linear":
        if rank != 0:
            raise Invalid("linear on spatial")
        return (_count(pos[0], "out"),)
    if op in ("groupnorm", "shuffle"):
        g = _count(pos[0], "groups")
        if c % g:
            raise Invalid("groups")
        return x
    if op == "upsample":
        mode = kw.get("mode", "nearest")
        if mode != "bilinear" and UPSAMPLE_MODE_RANK.get(mode, rank) != rank:
            raise Invalid("upsample mode for another rank")
        if "align_corners" in kw and mode == "nearest":
            raise Invalid("align_corners with nearest")
        given = [k for k in ("size", "like") if k in kw] + (["scale"] if pos else [])
        if len(given) != 1:
            raise Invalid("upsample needs exactly one of scale, size=, like=")
        if "size" in kw:
            return (c, *_per_dim(kw["size"], rank, "size"))
        if "like" in kw:
            other = kw["like"]
            if len(other) != len(x) or is_cl(other):
                raise Invalid("like= of another rank or layout")
            return (c, *other[1:])
        sc = _per_dim(pos[0], rank, "scale")
        return (c, *(i_ * f for i_, f in zip(sizes, sc)))
    if op == "lrn":
        _count(pos[0], "size")
        return x
    return x  # norms, activations, dropout, softmax, identity


def merge_shapes(kind: str, shapes: list[Shape]) -> Shape:
    if not shapes:
        raise Invalid("empty merge")
    first = shapes[0]
    if any(len(s) != len(first) or is_cl(s) != is_cl(first) for s in shapes):
        raise Invalid("merge ranks or layouts")
    if kind in ("concat", "split"):
        if any(s[1:] != first[1:] for s in shapes):
            raise Invalid("concat sizes")
        return same_layout(first, (sum(s[0] for s in shapes), *first[1:]))
    if kind == "add":
        if any(s != first for s in shapes):
            raise Invalid("add shapes")
        return first
    out = list(first)
    for s in shapes[1:]:
        for d, (a, b) in enumerate(zip(out, s)):
            if a != b and 1 not in (a, b):
                raise Invalid("mul shapes")
            out[d] = max(a, b)
    return same_layout(first, tuple(out))


# ----------------------------------------------------------------------------- syntax


IND = "    "


def fmt_body(stmts: list[Stmt], ind: int, inline: bool = False) -> str:
    if not stmts:
        return "{}"
    texts = [s.fmt(ind + 1) for s in stmts]
    if inline and all("\n" not in t for t in texts) and sum(map(len, texts)) < 70:
        return "{ " + " ; ".join(texts) + " }"
    inner = "".join(f"{IND * (ind + 1)}{t}\n" for t in texts)
    return "{\n" + inner + IND * ind + "}"


@dataclass
class Body:
    stmts: list[Stmt]
    inline: bool = False

    def fmt(self, ind: int) -> str:
        return fmt_body(self.stmts, ind, self.inline)

    def run(self, scope: Scope, x: Shape) -> Shape:
        for stmt in self.stmts:
            x = stmt.run(scope, x)
        return x


class Step:
    def fmt(self, ind: int) -> str:
        raise NotImplementedError

    def run(self, scope: Scope, x: Shape) -> Shape:
        raise NotImplementedError


@dataclass
class Layer(Step):
    op: str
    pos: list[E]
    kw: list[tuple[str, E]]

    def fmt(self, ind: int) -> str:
        parts = [self.op] + [p.atom for p in self.pos] + [f"{k}={v.text}" for k, v in self.kw]
        return " ".join(parts)

    def run(self, scope: Scope, x: Shape) -> Shape:
        pos = [p.ev(scope) for p in self.pos]
        kw = {k: v.ev(scope) for k, v in self.kw}
        return layer_shape(self.op, pos, kw, x)


@dataclass
class Labelled(Step):
    label: str
    step: Step

    def fmt(self, ind: int) -> str:
        return f"{self.label}: {self.step.fmt(ind)}"

    def run(self, scope: Scope, x: Shape) -> Shape:
        return self.step.run(scope, x)


@dataclass
class Call(Step):
    block: str
    args: list[E]
    kwargs: list[tuple[str, E]]

    def fmt(self, ind: int) -> str:
        parts = [a.text for a in self.args] + [f"{k}={v.text}" for k, v in self.kwargs]
        return f"{self.block}({', '.join(parts)})"

    def run(self, scope: Scope, x: Shape) -> Shape:
        block = scope.blocks.get(self.block)
        if block is None or scope.depth > 8:
            raise Invalid("unknown block")
        values: dict[str, Any] = {}
        given = [a.ev(scope) for a in self.args]
        kwargs = {k: v.ev(scope) for k, v in self.kwargs}
        if len(given) > len(block.params):
            raise Invalid("too many arguments")
        for (pname, _default), v in zip(block.params, given):
            values[pname] = v
        for pname, default in block.params:
            if pname in kwargs:
                if pname in values:
                    raise Invalid("given twice")
                values[pname] = kwargs.pop(pname)
            elif pname not in values:
                if default is None:
                    raise Invalid("missing argument")
                values[pname] = default.ev(scope)
        if kwargs:
            raise Invalid("unknown keyword")
        inner = Scope(values, x, None if block.seq else {}, scope.blocks, scope.depth + 1)
        return block.body.run(inner, x)


@dataclass
class Group(Step):
    body: Body

    def fmt(self, ind: int) -> str:
        return self.body.fmt(ind)

    def run(self, scope: Scope, x: Shape) -> Shape:
        return self.body.run(scope.child(), x)


@dataclass
class Repetition(Step):
    step: Step  # a Call or a Group
    count: E

    def fmt(self, ind: int) -> str:
        return f"{self.step.fmt(ind)} * {self.count.atom}"

    def run(self, scope: Scope, x: Shape) -> Shape:
        n = self.count.ev(scope)
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise Invalid("bad count")
        for _ in range(n):
            x = self.step.run(scope, x)
        return x


@dataclass
class Merge(Step):
    kind: str
    body: Body

    def fmt(self, ind: int) -> str:
        return f"{self.kind} {self.body.fmt(ind)}"

    def run(self, scope: Scope, x: Shape) -> Shape:
        branches = splice(self.body.stmts, scope.child())
        if self.kind == "split":
            if not branches or x[0] % len(branches):
                raise Invalid("split: branches do not divide the channels")
            x = same_layout(x, (x[0] // len(branches), *x[1:]))
        return merge_shapes(self.kind, [stmt.run(sc.child(), x) for stmt, sc in branches])


def splice(stmts: list[Stmt], scope: Scope) -> list[tuple[Stmt, Scope]]:
    """The branches of a merge body: a statement that is a bare ``repeat`` or ``if`` splices
    its step statements in, one branch each (second edition, LANGUAGE.md §6); ``let``s bind
    for the statements after them."""
    out: list[tuple[Stmt, Scope]] = []
    for stmt in stmts:
        if isinstance(stmt, Let):
            stmt.run(scope, ())
            continue
        step = stmt.steps[0] if isinstance(stmt, Chain) and len(stmt.steps) == 1 else None
        if isinstance(step, Repeat):
            n = step.count.ev(scope)
            if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                raise Invalid("bad count")
            for i in range(n):
                inner = scope.child()
                if step.var:
                    inner.values[step.var] = i
                out += splice(step.body.stmts, inner)
        elif isinstance(step, If):
            arm: Body | If | None = step
            while isinstance(arm, If):
                arm = arm.then if arm.cond.ev(scope) else arm.orelse
            if arm is not None:
                out += splice(arm.stmts, scope.child())
        else:
            out.append((stmt, scope))
    return out


def _clashes(key: str, template: bool, labels: set[str]) -> bool:
    """Whether a template ``key{i}`` could give a label in ``labels`` (``proj1``), or a plain
    label ``key`` one that a template gives."""
    if template:
        return any(re.fullmatch(re.escape(key) + r"[\d_]+", label) for label in labels)
    m = re.fullmatch(r"(.*?)[\d_]+", key)
    return m is not None and m.group(1) in labels


def _seq_unsafe(text: str) -> bool:
    """Whether a chain (as text) may hold what an nn.Sequential cannot: a layer scale, a
    tensor or the enclosing module's input size read at run time, numbered labels."""
    return any(w in text for w in ("scale", "like=", "size(in.", '"'))


def _is_module(step: Step) -> bool:
    """Whether a labelled ``step`` surely names a module (``init scope=`` may name it)."""
    if isinstance(step, Layer):
        return step.op != "scale"
    return isinstance(step, Call)


def elements(step: Step, scope: Scope) -> int:
    """How many elements ``step`` adds to an nn.Sequential (LANGUAGE.md §5); raises Invalid
    when the model cannot tell."""
    if isinstance(step, Group):
        return 0 if not [t for t in step.body.stmts if not isinstance(t, Let)] else 1
    if isinstance(step, Repetition):
        n = step.count.ev(scope)
        if not isinstance(n, int) or isinstance(n, bool):
            raise Invalid("bad count")
        inner = step.step.body if isinstance(step.step, Group) else None
        return n * (1 if inner is None else body_elements(inner, scope.child()))
    if isinstance(step, Repeat):
        n = step.count.ev(scope)
        if not isinstance(n, int) or isinstance(n, bool):
            raise Invalid("bad count")
        total = 0
        for i in range(n):
            inner = scope.child()
            if step.var:
                inner.values[step.var] = i
            total += body_elements(step.body, inner)
        return total
    if isinstance(step, If):
        arm: Body | If | None = step
        while isinstance(arm, If):
            arm = arm.then if arm.cond.ev(scope) else arm.orelse
        return 0 if arm is None else body_elements(arm, scope.child())
    if isinstance(step, (Use, MergeRefs, InputStep)):
        raise Invalid("not in a sequential")
    return 1  # a layer, a call, a merge, a residual, anything labelled


def body_elements(body: Body, scope: Scope) -> int:
    total = 0
    for stmt in body.stmts:
        if isinstance(stmt, Let):
            stmt.run(scope, ())
        elif isinstance(stmt, Chain):
            total += sum(elements(step, scope) for step in stmt.steps)
        else:
            raise Invalid("not in a sequential")
    return total


@dataclass
class Residual(Step):
    cond: E | None
    body: Body
    shortcut: Body | None
    shortcut_cond: E | None

    def fmt(self, ind: int) -> str:
        text = "residual "
        if self.cond is not None:
            text += f"if {self.cond.text} "
        text += self.body.fmt(ind)
        if self.shortcut is not None:
            text += " shortcut "
            if self.shortcut_cond is not None:
                text += f"if {self.shortcut_cond.text} "
            text += self.shortcut.fmt(ind)
        return text

    def run(self, scope: Scope, x: Shape) -> Shape:
        y = self.body.run(scope.child(), x)
        if self.cond is not None and not self.cond.ev(scope):
            return y
        z = x
        if self.shortcut is not None and (
            self.shortcut_cond is None or self.shortcut_cond.ev(scope)
        ):
            z = self.shortcut.run(scope.child(), x)
        return merge_shapes("add", [y, z])


@dataclass
class Repeat(Step):
    count: E
    var: str | None
    body: Body

    def fmt(self, ind: int) -> str:
        var = f" as {self.var}" if self.var else ""
        return f"repeat {self.count.atom}{var} {self.body.fmt(ind)}"

    def run(self, scope: Scope, x: Shape) -> Shape:
        n = self.count.ev(scope)
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise Invalid("bad count")
        for i in range(n):
            inner = scope.child()
            if self.var:
                inner.values[self.var] = i
            x = self.body.run(inner, x)
        return x


@dataclass
class If(Step):
    cond: E
    then: Body
    orelse: Body | If | None

    def fmt(self, ind: int) -> str:
        text = f"if {self.cond.text} {self.then.fmt(ind)}"
        if self.orelse is not None:
            text += f" else {self.orelse.fmt(ind)}"
        return text

    def run(self, scope: Scope, x: Shape) -> Shape:
        if self.cond.ev(scope):
            return self.then.run(scope.child(), x)
        if isinstance(self.orelse, If):
            return self.orelse.run(scope, x)
        if self.orelse is not None:
            return self.orelse.run(scope.child(), x)
        return x


@dataclass
class Use(Step):
    tensor: str

    def fmt(self, ind: int) -> str:
        return self.tensor

    def run(self, scope: Scope, x: Shape) -> Shape:
        if scope.tensors is None or self.tensor not in scope.tensors:
            raise Invalid("unknown tensor")
        return scope.tensors[self.tensor]


@dataclass
class MergeRefs(Step):
    kind: str
    tensors: list[str]

    def fmt(self, ind: int) -> str:
        return f"{self.kind}({', '.join(self.tensors)})"

    def run(self, scope: Scope, x: Shape) -> Shape:
        if scope.tensors is None or any(t not in scope.tensors for t in self.tensors):
            raise Invalid("unknown tensor")
        return merge_shapes(self.kind, [scope.tensors[t] for t in self.tensors])


@dataclass
class InputStep(Step):
    shape: Shape
    expr: E | None = None  # `input size(c, 32, 32)` (second edition)

    def fmt(self, ind: int) -> str:
        if self.expr is not None:
            return f"input {self.expr.atom}"
        return "input " + "x".join(map(str, self.shape))

    def run(self, scope: Scope, x: Shape) -> Shape:
        return self.shape


class Stmt:
    def fmt(self, ind: int) -> str:
        raise NotImplementedError

    def run(self, scope: Scope, x: Shape) -> Shape:
        raise NotImplementedError


@dataclass
class Chain(Stmt):
    steps: list[Step]

    def fmt(self, ind: int) -> str:
        return " -> ".join(s.fmt(ind) for s in self.steps)

    def run(self, scope: Scope, x: Shape) -> Shape:
        for step in self.steps:
            x = step.run(scope, x)
        return x


@dataclass
class Let(Stmt):
    name: str
    expr: E

    def fmt(self, ind: int) -> str:
        return f"let {self.name} = {self.expr.text}"

    def run(self, scope: Scope, x: Shape) -> Shape:
        scope.values[self.name] = self.expr.ev(scope)
        return x


@dataclass
class Bind(Stmt):
    name: str
    chain: Chain

    def fmt(self, ind: int) -> str:
        return f"{self.name} = {self.chain.fmt(ind)}"

    def run(self, scope: Scope, x: Shape) -> Shape:
        y = self.chain.run(scope, x)
        if scope.tensors is None:
            raise Invalid("binding in a sequential")
        scope.tensors[self.name] = y
        return y


@dataclass
class Output(Stmt):
    name: str
    weight: float | None
    chain: Chain

    def fmt(self, ind: int) -> str:
        w = f" weight={self.weight}" if self.weight is not None else ""
        return f"output {self.name}{w}: {self.chain.fmt(ind)}"

    def run(self, scope: Scope, x: Shape) -> Shape:
        self.chain.run(scope, x)
        return x


@dataclass
class Init(Stmt):
    """``init SCHEME key=value…`` (a statement of a network body, second edition)."""

    scheme: str
    kw: list[tuple[str, str]]

    def fmt(self, ind: int) -> str:
        return " ".join(["init", self.scheme, *(f"{k}={v}" for k, v in self.kw)])

    def run(self, scope: Scope, x: Shape) -> Shape:
        return x


@dataclass
class Comment(Stmt):
    text: str

    def fmt(self, ind: int) -> str:
        return f"# {self.text}"

    def run(self, scope: Scope, x: Shape) -> Shape:
        return x


# ----------------------------------------------------------------------------- generator

ACTIVATIONS = [
    "relu",
    "relu6",
    "sigmoid",
    "tanh",
    "gelu",
    "silu",
    "hardswish",
    "hardsigmoid",
    "mish",
    "identity",
    "leaky_relu",
    "elu",
    "prelu",
    "softmax",
    "log_softmax",
]
BLOCK_NAMES = ["Unit", "ConvBNAct", "SE", "Stem", "Down", "Mix", "Cell", "MBConv", "Conv2Plus1D"]
TRICKY_BLOCKS = ["torch", "list", "nn", "F", "Tensor", "math", "super", "OrderedDict", "Merge"]
LABELS = ["stem", "head", "body", "proj", "branch", "features", "down", "up", "conv1", "bn1"]
TRICKY_LABELS = ["__x", "F", "torch", "nn", "x", "len", "_pad", "math", "Tensor", "self"]
PARAM_NAMES = {
    "chan": ["c", "width", "out", "ch"],
    "stride": ["s", "stride"],
    "kernel": ["k", "kernel"],
    "flag": ["use_bn", "flag", "deep", "gate"],
    "count": ["n", "depth", "reps"],
    "list": ["depths", "widths", "rates", "ks"],
}
TRICKY_PARAMS = ["len", "x", "F", "nn", "torch", "list", "int", "input_", "Tensor", "y"]
TENSORS = ["a", "b", "skip", "e1", "t", "u"]
TRICKY_TENSORS = ["x", "out", "F", "torch", "y", "len", "nn"]
KEYWORD_LABELS = [
    "block",
    "input",
    "split",
    "network",
    "let",
    "repeat",
    "residual",
    "shortcut",
    "concat",
    "add",
    "mul",
    "output",
    "init",
]
STRING_LABELS = ["block1-0", "my conv", "ünï", "stage-2", "a b", "Ωmega", "0a", "x-y_z", "1-1"]
LETS = ["w", "h", "m", "q", "half"]
TRICKY_LETS = ["x", "len", "F", "min_"]


@dataclass
class SeqIndex:
    """A sequential context's next element index (None: the model cannot tell)."""

    index: int | None = 0


@dataclass
class Mod:
    """A module context: labels used, and the repeat variables labels must mention."""

    labels: set[str] = field(default_factory=set)
    vars: list[str] | None = field(default_factory=list)  # None: no label may be used
    seq: SeqIndex | None = None  # set in a sequential context (an nn.Sequential's body)
    paths: list[str] | None = None  # the network's own module paths (for init scope=)


class Gen:
    """One program: draws choices from hypothesis, builds statements, runs the model."""

    def __init__(self, draw: Callable[[Any], Any], edition: int = 1):
        self.draw = draw
        self.ed2 = edition >= 2
        self.blocks: dict[str, Block] = {}
        self.block_order: list[Block] = []
        self.used_names: set[str] = set()
        self.budget = 0
        self.counter = 0
        self.net_counts: set[str] = set()

    # ------------------------------------------------------------------ draws
    def int(self, lo: int, hi: int) -> int:
        return self.draw(st.integers(lo, hi))

    def chance(self, percent: int) -> bool:
        """True with about ``percent``% probability; shrinks towards False."""
        return self.draw(st.integers(0, 99)) >= 100 - percent

    def more(self, percent: int) -> bool:
        """Another element? (about ``percent``% yes; shrinks towards no, so that hypothesis
        deletes an element with its flag)."""
        return self.draw(st.integers(0, 99)) >= 100 - percent

    def pick(self, items: list[Any]) -> Any:
        return self.draw(st.sampled_from(items))

    def fresh(self, pool: list[str], tricky: list[str] | None = None) -> str:
        if tricky and self.chance(3):
            base = self.pick(tricky)
        else:
            base = self.pick(pool)
        n = base
        while n in self.used_names:
            self.counter += 1
            n = f"{base}{self.counter}"
        self.used_names.add(n)
        return n

    # ------------------------------------------------------------------ expressions
    def int_expr(self, scope: Scope, v: int, allow_in: bool = True) -> E:
        """An expression worth ``v`` in ``scope``, often built from the names in it."""
        cands: list[E] = [lit(v)]
        if self.chance(55):
            ints = sorted(
                (k, val)
                for k, val in scope.values.items()
                if isinstance(val, int) and not isinstance(val, bool)
            )
            for k, val in ints:
                if val == v:
                    cands.append(name(k))
                if val > 0 and v % val == 0 and 1 < v // val <= 4:
                    cands.append(binop(name(k), "*", lit(v // val)))
                if val >= 2 and val // 2 == v and val % 2 == 0:
                    cands.append(binop(name(k), "//", lit(2)))
                if 0 < v - val <= 3:
                    cands.append(binop(name(k), "+", lit(v - val)))
            flags = [k for k, val in scope.values.items() if isinstance(val, bool)]
            if flags:
                f = self.pick(sorted(flags))
                other = lit(max(1, v // 2) if v > 1 else v + 1)
                if scope.values[f]:
                    cands.append(ifexp(lit(v), name(f), other))
                else:
                    cands.append(ifexp(other, name(f), lit(v)))
            if allow_in and scope.in_shape[0] == v:
                cands.append(in_attr("channels"))
            if allow_in and scope.in_shape[0] == 2 * v:
                cands.append(binop(in_attr("channels"), "//", lit(2)))
            if v >= 2:
                cands.append(func("max", lit(v), lit(1)))
            if self.ed2:
                cands += self.int_expr2(scope, v)
        return self.pick(cands)

    def int_expr2(self, scope: Scope, v: int) -> list[E]:
        """Second-edition spellings of ``v``: lists, indexing, slices, ``**``, functions."""
        cands: list[E] = []
        for k, val in sorted(scope.values.items()):
            if not isinstance(val, list) or not val or not all(type(e) is int for e in val):
                continue
            for i, e in enumerate(val):
                if e == v:
                    cands.append(index(name(k), lit(i - len(val) if self.chance(40) else i)))
            if len(val) == v:
                cands.append(func("len", name(k)))
            if sum(val) == v:
                cands.append(func("sum", name(k)))
            if max(val) == v:
                cands.append(func("max", name(k)))
            for j in range(1, len(val)):
                if sum(val[:j]) == v:
                    cands.append(func("sum", slice_(name(k), None, j)))
                if sum(val[j:]) == v and self.chance(50):
                    cands.append(func("sum", slice_(name(k), j, None)))
        pick = self.int(0, 9)
        if pick == 0 and v >= 2 and v & (v - 1) == 0:
            cands.append(binop(lit(2), "**", lit(v.bit_length() - 1)))
        elif pick == 1:
            cands.append(func("int", func("sqrt", lit(v * v))))
        elif pick == 2:
            cands.append(func("pow", lit(v), lit(1)))
        elif pick == 3:
            cands.append(func("abs", lit(-v)))
        elif pick == 4:
            cands.append(func("int", func("float", lit(v))))
        elif pick == 5:
            cands.append(func("round", func("log", func("exp", lit(v)))))
        elif pick == 6:
            cands.append(func("len", listexpr([lit(1)] * v)))
        elif pick == 7 and v >= 2:
            cands.append(func("sum", listexpr([lit(1), lit(v - 1)])))
        elif pick == 8:
            cands.append(func("int", binop(lit(v * 2), "/", lit(2))))
        return cands

    def cond_expr(self, scope: Scope) -> E:
        """A condition on parameters, lets or the input's size."""
        opts: list[Callable[[], E]] = []
        flags = sorted(k for k, v in scope.values.items() if isinstance(v, bool))
        ints = sorted(
            k for k, v in scope.values.items() if isinstance(v, int) and not isinstance(v, bool)
        )
        if flags:
            opts.append(lambda: name(self.pick(flags)))
            opts.append(lambda: negate(name(self.pick(flags))))
        if ints:
            opts.append(
                lambda: compare(
                    name(self.pick(ints)), self.pick([">", "==", "!="]), lit(self.int(0, 4))
                )
            )
        opts.append(
            lambda: compare(
                in_attr("channels"), self.pick([">", "==", "!=", "<="]), lit(self.int(1, 8))
            )
        )
        rank = len(scope.in_shape) - 1
        if rank >= 1:
            attr = self.pick(list(IN_ATTRS[rank]))
            opts.append(
                lambda: compare(in_attr(attr), self.pick([">", ">=", "<"]), lit(self.int(2, 12)))
            )
        opts.append(lambda: lit(self.draw(st.booleans())))
        e = self.pick(opts)()
        if self.chance(10) and ints:
            e = logic(e, self.pick(["and", "or"]), compare(name(self.pick(ints)), ">", lit(1)))
        try:
            e.ev(scope)
        except Invalid:
            return lit(True)
        return e

    # ------------------------------------------------------------------ labels
    def label(self, mod: Mod, base: str | None = None, numeric: bool = False) -> str | None:
        """A fresh label for ``mod`` (``numeric``: the labelled step is one element, so in a
        sequential context a numeric string label must be its index)."""
        if mod.vars is None:
            return None
        if self.ed2 and (base is None or mod.vars) and self.chance(60 if mod.vars else 35):
            lab = self.label2(mod, numeric)
            if lab is not None:
                return lab
        if base is None:
            base = self.pick(TRICKY_LABELS) if self.chance(4) else self.pick(LABELS)
        if mod.vars:
            if len(mod.vars) == 1 and self.draw(st.booleans()):
                text = f"{base}{{{mod.vars[0]} + 1}}"
            else:
                text = base + "_".join(f"{{{v}}}" for v in mod.vars)
            key = base
        else:
            text = key = base
        if self.ed2 and _clashes(key, bool(mod.vars), mod.labels):
            return None
        if key in mod.labels:
            self.counter += 1
            return self.label(mod, f"{base}{self.counter}")
        mod.labels.add(key)
        return text

    def label2(self, mod: Mod, numeric: bool) -> str | None:
        """Second-edition labels: keywords, strings, string templates, unquoted templates
        that continue after a hole, numeric strings (in a sequential context: the index)."""
        assert mod.vars is not None
        if mod.seq is not None and numeric and mod.seq.index is not None and self.chance(50):
            n = mod.seq.index
            if self.chance(6):  # a wrong index: the checker must refuse it
                n = self.pick([n + 1, n - 1 if n else 2, f"0{n}"])
            text = key = f'"{n}"'
        elif mod.vars:
            vs = mod.vars
            form = self.int(0, 3)
            holes = [f"{{{v} + 1}}" if self.draw(st.booleans()) else f"{{{v}}}" for v in vs]
            if form == 0:
                text = '"' + self.pick(["b", "block", "stage", "s "]) + "-".join(holes) + '"'
            elif form == 1:
                pre = self.pick(["stage", "s", "layer"])
                text = pre + "".join(f"{h}_{self.pick(['unit', 'u', 'x'])}" for h in holes)
            elif form == 2 and mod.seq is None:
                text = '"' + "-".join(holes) + '"'
                key = '"#"'  # one numeric label per module: they could collide
            else:
                text = '"' + self.pick(["blk ", "ü", "a-"]) + "_".join(holes) + '"'
            if not text.startswith('"' + "{"):
                key = text
                for h in holes:
                    key = key.replace(h, "{}")
        else:
            kind = self.int(0, 3)
            if kind == 0:
                text = self.pick(KEYWORD_LABELS)
            elif kind == 1 and mod.seq is None:
                text = f'"{self.int(0, 3)}"'
            else:
                text = '"' + self.pick(STRING_LABELS) + '"'
            key = '"#"' if kind == 1 and mod.seq is None else text
        if key in mod.labels:
            return None
        mod.labels.add(key)
        return text

    # ------------------------------------------------------------------ layers
    def layer(
        self, scope: Scope, x: Shape, keep: bool, mod: Mod | None = None, ctx: Ctx | None = None
    ) -> Layer:
        """A layer for input ``x``; ``keep``: keep the spatial size."""
        rank = len(x) - 1
        c = x[0]
        if self.ed2 and (is_cl(x) or self.chance(22)):
            return self.layer2(scope, x, keep, mod or Mod(), ctx)
        if rank == 0:
            op = self.pick(
                ["relu", "linear", "bn", "dropout", "layernorm", "sigmoid", "gelu", "softmax"]
            )
            if op == "linear":
                return Layer("linear", [self.int_expr(scope, self.int(1, 10))], self._bias())
            if op == "dropout":
                return Layer(
                    "dropout",
                    [lit(self.pick([0.5, 0.1, 0.0]))] if self.draw(st.booleans()) else [],
                    [],
                )
            return Layer(op, [], [])
        small = min(x[1:])
        ops = [
            "relu",
            "conv",
            "bn",
            "conv",
            "maxpool",
            "avgpool",
            "dwconv",
            "sepconv",
            "groupnorm",
            "layernorm",
            "instancenorm",
            "dropout",
            "dropout2d",
            "act",
            "shuffle",
            "lrn",
            "deconv",
            "upsample",
            "minpool",
            "lppool",
            "adaptive",
            "gap",
            "identity",
        ]
        op = self.pick(ops)
        if op == "act":
            op = self.pick(ACTIVATIONS)
        if keep and op in ("upsample", "adaptive", "gap", "lppool"):
            op = "conv"
        if op in ("upsample",) and max(x[1:]) > 12:
            op = "conv"
        if op == "instancenorm" and math.prod(x[1:]) == 1:
            op = "bn"
        if op in ("conv", "sepconv", "deconv", "dwconv"):
            return self.conv(op, scope, x, keep)
        if op in ("maxpool", "avgpool", "minpool", "lppool"):
            k = min(self.pick([2, 3, 2, 1]), small)
            kw: list[tuple[str, E]] = []
            if keep:
                kw.append(("stride", lit(1)))
                if k > 1:
                    kw.append(("pad", word("same")))
            else:
                if self.draw(st.booleans()):
                    kw.append(("stride", lit(self.pick([1, 2]))))
                if op != "lppool" and self.draw(st.booleans()):
                    kw.append(("pad", self.pick([word("same"), lit(k // 2)])))
                if self.chance(20):
                    kw.append(("ceil", lit(True)))
            if op == "avgpool" and self.chance(15):
                kw.append(("count_pad", lit(False)))
            return Layer(op, [self.int_expr(scope, k)], kw)
        if op == "adaptive":
            size = tuple(max(1, i // 2) for i in x[1:])
            if self.draw(st.booleans()) and len(set(size)) == 1:
                arg = lit(size[0])
            else:
                arg = lit(size) if rank > 1 else lit(size[0])
            return Layer(self.pick(["adaptive_avgpool", "adaptive_maxpool"]), [arg], [])
        if op == "gap":
            return Layer(self.pick(["gap", "gmp"]), [], [])
        if op == "groupnorm":
            g = self.pick([d for d in range(1, c + 1) if c % d == 0])
            return Layer("groupnorm", [self.int_expr(scope, g)], [])
        if op == "shuffle":
            g = self.pick([d for d in range(1, c + 1) if c % d == 0])
            return Layer("shuffle", [lit(g)], [])
        if op == "lrn":
            return Layer("lrn", [lit(self.int(1, 5))], [])
        if op in ("dropout", "dropout2d"):
            return Layer(
                op, [lit(self.pick([0.5, 0.2, 0.0]))] if self.draw(st.booleans()) else [], []
            )
        if op == "upsample":
            kw = [("mode", word("bilinear"))] if self.chance(30) else []
            return Layer("upsample", [lit(2)], kw)
        if op == "bn":
            kw = []
            if self.chance(15):
                kw.append(("affine", lit(False)))
            if self.chance(10):
                kw.append(("eps", lit(0.001)))
            return Layer("bn", [], kw)
        if op == "instancenorm":
            return Layer("instancenorm", [], [("affine", lit(True))] if self.chance(40) else [])
        if op == "prelu":
            return Layer(
                "prelu", [], [("per_channel", lit(True))] if self.draw(st.booleans()) else []
            )
        if op == "leaky_relu":
            return Layer(op, [], [("slope", lit(0.2))] if self.draw(st.booleans()) else [])
        return Layer(op, [], [])

    def layer2(self, scope: Scope, x: Shape, keep: bool, mod: Mod, ctx: Ctx | None) -> Layer:
        """The second edition's ops, and the ops of a channels-last tensor."""
        rank = len(x) - 1
        seq = mod.seq is not None
        if is_cl(x):
            op = self.pick(
                ["linear", "layernorm", "act", "permute", "linear", "dropout", "scale", "permute"]
            )
            if op == "scale" and seq and not self.chance(10):
                op = "layernorm"
            if op == "permute":
                return Layer(
                    "permute", [lit(0), lit(rank + 1), *(lit(d) for d in range(1, rank + 1))], []
                )
            if op == "linear":
                out = x[0] if self.draw(st.booleans()) else self.pick([x[0] * 4, self.int(1, 8)])
                return Layer("linear", [self.int_expr(scope, out)], self._bias())
            if op == "layernorm":
                kw = [("dim", word("channels"))] if self.chance(30) else []
                if self.chance(3):
                    kw = [("dim", word("all"))]  # an error on a channels-last tensor
                if self.chance(15):
                    kw.append(("eps", lit(1e-6)))
                return Layer("layernorm", [], kw)
            if op == "dropout":
                return Layer("dropout", [lit(self.pick([0.1, 0.0]))], [])
            if op == "scale":
                return Layer(
                    "scale", [lit(self.pick([1e-6, 0.5, 1.0]))] if self.chance(70) else [], []
                )
            act = self.pick(["gelu", "relu", "silu", "hardswish", "identity", "prelu", "tanh"])
            if self.chance(3):
                act = self.pick(["softmax", "bn", "conv"])  # channels first only: refused
                if act == "conv":
                    return Layer("conv", [lit(x[0]), lit(1)], [])
            return Layer(act, [], [])
        if rank == 0:
            op = self.pick(["scale", "layernorm", "stochastic_depth"])
            if op == "scale" and seq and not self.chance(10):
                op = "layernorm"
            if op == "layernorm":
                return Layer(
                    "layernorm", [], [("dim", word("channels"))] if self.chance(50) else []
                )
            if op == "scale":
                return Layer("scale", [lit(0.5)] if self.draw(st.booleans()) else [], [])
            return Layer("stochastic_depth", [lit(0.1)], [])
        op = self.pick(
            ["permute", "permute", "scale", "layernorm", "upsample", "upsample", "sd", "conv"]
        )
        if op == "permute":
            dims = [0, *range(2, rank + 2), 1]
            if rank >= 2 and self.chance(15):  # reorder the spatial dimensions
                dims = [0, 1, *reversed(range(2, rank + 2))]
            elif rank >= 2 and self.chance(3):  # the channels in the middle: refused
                dims = [0, 2, 1, *range(3, rank + 2)]
            return Layer("permute", [lit(d) for d in dims], [])
        if op == "scale":
            if seq and not self.chance(10):
                return Layer("layernorm", [], [("dim", word("channels"))])
            return Layer("scale", [lit(self.pick([1e-6, 0.5, 2.0]))] if self.chance(70) else [], [])
        if op == "layernorm":
            return Layer("layernorm", [], [("dim", word("channels"))] if self.chance(70) else [])
        if op == "sd":
            kw = [("mode", word("batch"))] if self.chance(20) else []
            return Layer("stochastic_depth", [lit(self.pick([0.1, 0.2, 0.0]))], kw)
        if op == "conv":
            k = min(3, min(x[1:]))
            if rank == 2 and k > 1 and self.draw(st.booleans()):
                kexpr = func("size", lit(1), lit(k))
                return Layer(
                    "conv", [self.int_expr(scope, self.int(1, 8)), kexpr], [("pad", word("same"))]
                )
            return Layer("conv", [self.int_expr(scope, self.int(1, 8)), lit(1)], [])
        return self.upsample(scope, x, keep, ctx)

    def upsample(self, scope: Scope, x: Shape, keep: bool, ctx: Ctx | None) -> Layer:
        """``upsample`` by a scale, to a size (literal or the block's input size at run time)
        or like a bound tensor, in each mode of the rank."""
        rank = len(x) - 1
        modes = ["nearest", {1: "linear", 2: "bilinear", 3: "trilinear"}[rank]]
        if rank == 2:
            modes.append("bicubic")
        if self.chance(4):  # a mode of another rank: refused (bilinear is allowed anywhere)
            modes = [self.pick(["linear", "bicubic", "trilinear"])]
        mode = self.pick(modes)
        kw: list[tuple[str, E]] = []
        pos: list[E] = []
        likes = [
            t
            for t, shp in sorted((scope.tensors or {}).items())
            if len(shp) == len(x) and not is_cl(shp) and max(shp[1:]) <= 16
        ]
        runtime_ok = ctx is None or ctx.runtime_in
        form = self.int(0, 3)
        if keep:
            if likes and ctx is not None and ctx.tensor_ok and runtime_ok and self.chance(60):
                same = [t for t in likes if scope.tensors and scope.tensors[t][1:] == x[1:]]
                if same:
                    kw.append(("like", tensor_ref(self.pick(same))))
            if not kw:
                if runtime_ok and scope.in_shape[1:] == x[1:] and self.draw(st.booleans()):
                    kw.append(("size", self.in_size(rank)))
                else:
                    kw.append(("size", lit(tuple(x[1:])) if rank > 1 else lit(x[1])))
        elif (
            (form == 0 or self.chance(50))
            and likes
            and runtime_ok
            and (ctx is None or ctx.tensor_ok)
        ):
            kw.append(("like", tensor_ref(self.pick(likes))))
        elif form == 1 and runtime_ok and max(scope.in_shape[1:]) <= 16:
            kw.append(("size", self.in_size(rank)))
        elif form == 2 or max(x[1:]) > 8:
            size = tuple(self.int(1, 12) for _ in range(rank))
            kw.append(("size", lit(size) if rank > 1 else lit(size[0])))
        else:
            pos.append(lit(2) if self.chance(80) else binop(lit(2), "**", lit(1)))
        if mode != "nearest" or self.chance(20):
            kw.append(("mode", word(mode)))
        if mode != "nearest" and self.chance(40) or self.chance(2):
            kw.append(("align_corners", lit(self.draw(st.booleans()))))
        return Layer("upsample", pos, kw)

    def in_size(self, rank: int) -> E:
        """``size(in.height, in.width)`` (the block's input size, read at run time)."""
        return func("size", *(in_attr(a) for a in IN_ATTRS[rank]))

    def _bias(self) -> list[tuple[str, E]]:
        return [("bias", lit(False))] if self.chance(20) else []

    def conv(self, op: str, scope: Scope, x: Shape, keep: bool) -> Layer:
        rank = len(x) - 1
        c = x[0]
        small = min(x[1:])
        cout = self.int(1, 8)
        kinds = sorted(k for k, v in scope.values.items() if k in self.kernel_params and v <= small)
        if kinds and self.chance(40):
            kname = self.pick(kinds)
            k = scope.values[kname]
            kexpr = name(kname)
        else:
            k = min(self.pick([3, 1, 2, 5]), small)
            if rank > 1 and self.chance(10):
                ks = tuple(self.pick([1, k]) for _ in range(rank))
                kexpr = lit(ks)
                k = max(ks)
            else:
                kexpr = lit(k)
        cexpr = self.int_expr(scope, cout) if op != "dwconv" else lit(cout)
        lists = sorted(k for k, v in scope.values.items() if isinstance(v, list) and v)
        if self.ed2 and op != "dwconv" and lists and self.chance(40):
            lname = self.pick(lists)
            n = len(scope.values[lname])
            at = self.int(-n, n - 1)
            cexpr = index(name(lname), lit(at))
            if self.chance(20):
                cexpr = binop(cexpr, "*", lit(2))
            elif self.chance(15):
                cexpr = func("sum", slice_(name(lname), None, max(1, at + 1)))
            elif self.chance(15):
                cexpr = binop(cexpr, "**", lit(2))
            try:
                cout = cexpr.ev(scope)
            except Invalid:
                pass
        pos = [kexpr] if op == "dwconv" else [cexpr, kexpr]
        kw: list[tuple[str, E]] = []
        stride = 1
        if not keep and small >= 4 and self.chance(30):
            strides = sorted(k for k, v in scope.values.items() if k in self.stride_params)
            if strides and self.draw(st.booleans()):
                kw.append(("stride", name(self.pick(strides))))
                stride = scope.values[kw[-1][1].text]
            else:
                stride = 2
                kw.append(("stride", lit(2)))
        dil = 1
        if op != "deconv" and self.chance(10) and small >= 5:
            dil = 2
            kw.append(("dilation", lit(2)))
        if op == "deconv":
            if keep or self.draw(st.booleans()):
                if keep and stride != 1:
                    kw = [kv for kv in kw if kv[0] != "stride"]
                kw.append(("pad", word("same")))
            elif k > 1 and self.draw(st.booleans()):
                kw.append(("pad", lit((k - 1) // 2)))
            if stride > 1 and self.chance(30):
                kw.append(("output_pad", lit(1)))
        else:
            if keep:
                if isinstance(kexpr.ev(scope), tuple) or k % 2 == 0 or self.draw(st.booleans()):
                    kw.append(("pad", word("same")))
                elif k > 1:
                    pad = (k // 2) * dil
                    kw.append(
                        ("pad", lit(pad) if kexpr.text.isdigit() else binop(kexpr, "//", lit(2)))
                        if dil == 1
                        else ("pad", lit(pad))
                    )
            else:
                choice = self.int(0, 5)
                if choice == 1:
                    kw.append(("pad", word("same")))
                elif choice == 2 and not isinstance(kexpr.ev(scope), tuple):
                    kw.append(("pad", lit((k // 2) * dil)))
                elif choice == 3:
                    kw.append(("pad", word(self.pick(["valid", "full"]))))
            if op == "conv" and self.chance(8) and small >= 3:
                kw.append(
                    ("pad_mode", word(self.pick(["reflect", "replicate", "circular", "symmetric"])))
                )
        if op in ("conv", "deconv") and self.chance(20):
            g = math.gcd(c, cout)
            divs = [d for d in range(2, g + 1) if g % d == 0]
            if divs:
                kw.append(("groups", lit(self.pick(divs))))
        if op == "dwconv" and self.chance(20):
            kw.append(("mult", lit(2)))
        kw += self._bias()
        # keyword order does not matter to the language; shuffle a little
        if len(kw) > 1 and self.chance(20):
            kw = kw[1:] + kw[:1]
        return Layer(op, pos, kw)

    # ------------------------------------------------------------------ steps
    def try_step(
        self,
        scope: Scope,
        x: Shape,
        make: Callable[[], Step],
        accept: Callable[[Shape], bool] = lambda y: True,
    ) -> tuple[Step, Shape]:
        """Build a step that fits ``x`` (a few tries), else fall back to ``relu``."""
        for _ in range(3):
            step = make()
            try:
                y = step.run(scope.child(), x)
            except Invalid:
                if self.chance(3):  # keep a misfit now and then: the rejection path
                    return step, x
                continue
            if accept(y):
                return step, y
        return Layer("relu", [], []), x

    def step(self, scope: Scope, x: Shape, mod: Mod, ctx: Ctx) -> tuple[Step, Shape]:
        """One step of a chain (maybe labelled)."""
        keep = ctx.keep
        kind = self.int(0, 15 if self.ed2 else 13) if self.budget > 0 and ctx.nest < 4 else 0
        if len(x) == 1:
            kind = 0 if kind % 4 else 1  # flat: layers and the odd block call
        accept = (lambda y: y[1:] == x[1:] and is_cl(y) == is_cl(x)) if keep else (lambda y: True)
        self.budget -= 1
        if kind == 14 and not is_cl(x) and self.chance(45):
            step, y = self.convnext(scope, x, mod, ctx)
        elif kind == 15 and self.chance(35):
            step, y = self.numbered(scope, x, mod, ctx)
        elif kind in (0, 1, 2, 3, 4, 14) or kind == 5 and len(x) == 1:
            step, y = self.try_step(scope, x, lambda: self.layer(scope, x, keep, mod, ctx), accept)
        elif kind in (5, 6):
            step, y = self.try_step(scope, x, lambda: self.call(scope, x, ctx), accept)
            if isinstance(step, Call) and self.chance(15):
                n = self.int(0, 3)
                rep = Repetition(step, lit(n))
                try:
                    y2 = rep.run(scope.child(), x)
                    if accept(y2):
                        step, y = rep, y2
                except Invalid:
                    pass
        elif kind == 7:
            step, y = self.group(scope, x, mod, ctx)
        elif kind in (8, 9):
            step, y = self.merge(scope, x, mod, ctx)
        elif kind == 10:
            step, y = self.residual(scope, x, mod, ctx)
        elif kind == 11:
            step, y = self.repeat(scope, x, mod, ctx)
        else:
            step, y = self.if_(scope, x, mod, ctx)
        if isinstance(step, (Layer, Call)) and self.chance(35 if mod.vars else 12):
            lab = self.label(mod, numeric=True)
            if lab is not None:
                step = Labelled(lab, step)
                if mod.paths is not None and "{" not in lab and _is_module(step.step):
                    mod.paths.append(lab.strip('"'))
        if mod.seq is not None and mod.seq.index is not None:
            try:
                mod.seq.index += elements(step, scope.child())
            except Invalid:
                mod.seq.index = None
        return step, y

    def chain(
        self, scope: Scope, x: Shape, mod: Mod, ctx: Ctx, n: int | None = None
    ) -> tuple[Chain, Shape]:
        steps = []
        for i in range(n if n is not None else 3):
            if n is None and i >= 1 and not self.more(50):
                break
            step, x = self.step(scope, x, mod, ctx)
            steps.append(step)
        return Chain(steps), x

    def body(
        self,
        scope: Scope,
        x: Shape,
        mod: Mod,
        ctx: Ctx,
        lo: int = 0,
        hi: int = 3,
    ) -> tuple[Body, Shape]:
        """Statements on ``x`` in ``scope`` (which they change: lets, bindings)."""
        stmts: list[Stmt] = []
        x0 = x
        for i in range(hi):
            if i >= lo and (self.budget <= 0 or not self.more(70)):
                break
            what = self.int(0, 9)
            if what == 9 and not ctx.keep:
                s, x = self.let(scope, x)
            elif what == 8 and ctx.top_level and scope.tensors is not None:
                s, x = self.tensor_stmt(scope, x, mod, ctx)
            elif what == 7 and ctx.network and ctx.top_level:
                s, x = self.output(scope, x, mod, ctx)
            else:
                s, x = self.chain(scope, x, mod, ctx)
            stmts.extend(s.stmts if isinstance(s, Body) else [s])
        if self.ed2 and ctx.keep and is_cl(x) != is_cl(x0):
            back = self.relayout(x)
            stmts.append(Chain([back]))
            x = back.run(scope.child(), x)
        return Body(stmts, inline=self.chance(30)), x

    def relayout(self, x: Shape) -> Layer:
        """The ``permute`` that turns ``x`` channels last (or back to channels first)."""
        rank = len(x) - 1
        if is_cl(x):
            dims = [0, rank + 1, *range(1, rank + 1)]
        else:
            dims = [0, *range(2, rank + 2), 1]
        return Layer("permute", [lit(d) for d in dims], [])

    def let(self, scope: Scope, x: Shape) -> tuple[Stmt, Shape]:
        n = self.fresh(LETS, TRICKY_LETS)
        v = self.int(1, 8)
        e = self.int_expr(scope, v)
        if self.chance(30):
            c = self.cond_expr(scope)
            alt = self.int(1, 8)
            e = ifexp(e, c, self.int_expr(scope, alt))
        try:
            val = e.ev(scope)
        except Invalid:
            val = v
        scope.values[n] = val
        return Let(n, e), x

    def output(self, scope: Scope, x: Shape, mod: Mod, ctx: Ctx) -> tuple[Stmt, Shape]:
        label = self.label(mod, self.pick(["aux", "side", "logits_aux", "extra"]))
        if label is None:
            label = self.fresh(["aux"])
        sub = ctx.sub(top_level=False)
        if is_cl(x):
            chain = Chain([self.relayout(x), Layer("gap", [], []), Layer("flatten", [], [])])
            chain.steps.append(Layer("linear", [lit(self.int(1, 5))], []))
        elif len(x) > 1 and self.draw(st.booleans()):
            chain = Chain(
                [
                    Layer("gap", [], []),
                    Layer("flatten", [], []),
                    Layer("linear", [lit(self.int(1, 5))], []),
                ]
            )
        elif self.draw(st.booleans()):
            chain = (
                Chain([Layer("conv", [lit(self.int(1, 4)), lit(1)], [])])
                if len(x) > 1
                else Chain([Layer("linear", [lit(3)], [])])
            )
        else:
            chain, _ = self.chain(scope, x, Mod(), sub, 1 + self.int(0, 1))
        weight = self.pick([None, 0.3, 1.0])
        try:
            chain.run(scope.child(), x)
        except Invalid:
            pass
        return Output(label, weight, chain), x

    def tensor_stmt(self, scope: Scope, x: Shape, mod: Mod, ctx: Ctx) -> tuple[Stmt, Shape]:
        assert scope.tensors is not None
        tensors = scope.tensors
        names = sorted(tensors)
        choice = self.int(0, 3)
        if names and choice == 1:
            # re-read a bound tensor, maybe continue from it
            t = self.pick(names)
            y = tensors[t]
            steps: list[Step] = [Use(t)]
            if self.draw(st.booleans()):
                step, y = self.step(scope, y, mod, ctx)
                steps.append(step)
            return Chain(steps), y
        if len(names) >= 1 and choice == 2:
            same_sp = [n for n in names if tensors[n][1:] == x[1:] and len(tensors[n]) == len(x)]
            kind = self.pick(["concat", "add", "mul"])
            if kind == "concat":
                group = same_sp
            else:
                group = [n for n in names if tensors[n] == x]
            if len(group) >= 1:
                cur = self.fresh(TENSORS, TRICKY_TENSORS)
                # bind the current tensor too, so the merge has two inputs
                bind = Bind(cur, Chain([Layer("identity", [], [])]))
                tensors[cur] = x
                picked = [self.pick(group), cur]
                refs = MergeRefs(kind, picked)
                y = refs.run(scope, x)
                return Body([bind, Chain([refs])]), y  # spliced by the caller
        n = self.fresh(TENSORS, TRICKY_TENSORS)
        chain, y = self.chain(scope, x, mod, ctx, self.int(1, 2))
        tensors[n] = y
        return Bind(n, chain), y

    def group(self, scope: Scope, x: Shape, mod: Mod, ctx: Ctx) -> tuple[Step, Shape]:
        labelled = self.chance(40)
        lab = self.label(mod, numeric=True) if labelled else None
        inner_mod = Mod() if lab is not None else mod
        sub = ctx.sub(top_level=False, nest=ctx.nest + 1)
        times = None
        if self.ed2:
            # `{ … } * n` splices n copies of the body: no labels in it (they would repeat)
            times = self.int(0, 2) if self.chance(15) else None
            if times is not None and times > 1:
                inner_mod = Mod(vars=None, seq=SeqIndex(None))
            elif lab is not None:
                inner_mod = Mod(seq=SeqIndex(0))
            elif mod.seq is not None:  # a nested nn.Sequential, or spliced (* n)
                at = 0 if times is None else None
                inner_mod = Mod(labels=mod.labels, vars=mod.vars, seq=SeqIndex(at))
            elif times is not None:  # `{ … } * 0` builds nothing: no init scope= inside
                inner_mod = Mod(labels=mod.labels, vars=mod.vars)
        if lab is not None:
            sub = sub.sub(tensor_ok=False, runtime_in=False)
        inner = scope.child(tensors=lab is None)
        body, y = self.body(inner, x, inner_mod, sub, 0, 3)
        body.stmts = [s for s in body.stmts if not isinstance(s, Output)]
        if lab is not None and mod.paths is not None and "{" not in lab and body.stmts:
            mod.paths.append(lab.strip('"'))
        step: Step = Group(body)
        try:
            y = step.run(scope.child(), x)
        except Invalid:
            pass
        if times is not None or not self.ed2 and self.chance(15):
            n = self.int(0, 2) if times is None else times
            rep = Repetition(step, lit(n))
            try:
                y2 = rep.run(scope.child(), x)
                if not ctx.keep or y2[1:] == x[1:]:
                    step, y = rep, y2
            except Invalid:
                pass
        if lab is not None:
            step = Labelled(lab, step)
        return step, y

    def call(self, scope: Scope, x: Shape, ctx: Ctx) -> Step:
        usable = [b for b in self.block_order if b.name in scope.blocks]
        if usable and (len(self.blocks) >= 4 or ctx.nest >= 2 or self.draw(st.booleans())):
            block = self.pick(usable)
            args, kwargs = self.call_args(scope, block, None)
            return Call(block.name, args, kwargs)
        return self.new_block(scope, x, ctx)

    kernel_params: set[str] = set()
    stride_params: set[str] = set()

    def param_value(self, kind: str, x: Shape) -> Any:
        if kind == "chan":
            return self.int(1, 8)
        if kind == "stride":
            return self.pick([1, 2]) if len(x) > 1 and min(x[1:]) >= 4 else 1
        if kind == "kernel":
            return self.pick([1, 3])
        if kind == "flag":
            return self.draw(st.booleans())
        if kind == "list":
            return [self.int(1, 4) for _ in range(self.int(1, 3))]
        return self.int(0, 2)

    def call_args(
        self, scope: Scope, block: Block, values: dict[str, Any] | None
    ) -> tuple[list[E], list[tuple[str, E]]]:
        """Arguments for a call of ``block`` (``values``: the ones to pass, else drawn)."""
        args: list[E] = []
        kwargs: list[tuple[str, E]] = []
        positional = True
        for pname, default in block.params:
            kind = block.kinds[pname]
            v = values[pname] if values is not None else self.param_value(kind, scope.in_shape)
            if default is not None and self.draw(st.booleans()):
                if values is None or default.ev(scope) == v:
                    positional = False
                    continue
            if kind == "flag":
                e = lit(v)
            elif kind == "list":
                e = listexpr([lit(i) for i in v])
            else:
                e = self.int_expr(scope, v) if kind == "chan" else lit(v)
            if positional and not (default is not None and self.chance(40)):
                args.append(e)
            else:
                positional = False
                kwargs.append((pname, e))
        return args, kwargs

    def new_block(self, scope: Scope, x: Shape, ctx: Ctx) -> Step:
        if self.chance(4):
            bname = self.pick(TRICKY_BLOCKS)
        else:
            bname = self.pick(BLOCK_NAMES)
        while bname in self.used_names:
            self.counter += 1
            bname = f"{bname}{self.counter}"
        self.used_names.add(bname)
        nparams = self.int(0, 3)
        kinds_order = ["chan", "stride", "flag", "kernel", "count"]
        seq = False
        if self.ed2:
            kinds_order.append("list")
            seq = self.chance(35)
        params: list[tuple[str, E | None]] = []
        kinds: dict[str, str] = {}
        values: dict[str, Any] = {}
        seen_default = False
        for _ in range(nparams):
            kind = self.pick(kinds_order)
            pname = self.fresh(PARAM_NAMES[kind], TRICKY_PARAMS)
            v = self.param_value(kind, x)
            if kind == "stride":
                self.stride_params.add(pname)
            if kind == "kernel":
                self.kernel_params.add(pname)
            default: E | None = None
            if seen_default or self.draw(st.booleans()):
                seen_default = True
                dv = self.param_value(kind, x)
                default = listexpr([lit(i) for i in dv]) if kind == "list" else lit(dv)
            params.append((pname, default))
            kinds[pname] = kind
            values[pname] = v
        inner = Scope(dict(values), x, None if seq else {}, self.blocks, scope.depth + 1)
        sub = Ctx(keep=ctx.keep, nest=ctx.nest + 1, top_level=True, network=False, tensor_ok=True)
        bmod = Mod()
        if seq:  # its body is a sequential context: no bindings, no outputs, no scale
            sub = sub.sub(top_level=False, tensor_ok=False)
            bmod = Mod(seq=SeqIndex(0))
        body, y = self.body(inner, x, bmod, sub, 1, 4)
        if ctx.keep and y[1:] != x[1:] and len(y) == len(x):
            pass  # the caller's accept() rejects it
        block = Block(bname, params, body, kinds, seq)
        self.blocks[bname] = block
        self.block_order.append(block)
        args, kwargs = self.call_args(scope, block, values)
        return Call(bname, args, kwargs)

    def merge(self, scope: Scope, x: Shape, mod: Mod, ctx: Ctx) -> tuple[Step, Shape]:
        if len(x) == 1:
            return Layer("relu", [], []), x
        kind = self.pick(["concat", "add", "mul", "concat"] + (["split"] * 2 if self.ed2 else []))
        nb = self.int(1, 3)
        xb = x  # what each branch receives
        if kind == "split":
            divs = [d for d in (1, 2, 3, 4) if x[0] % d == 0]
            nb = self.pick(divs) if divs and not self.chance(8) else self.int(2, 4)
            if x[0] % nb == 0:
                xb = same_layout(x, (x[0] // nb, *x[1:]))
        lab = self.label(mod, numeric=True) if self.chance(25) else None
        # a labelled merge is a module; an inline one registers in the enclosing module
        bmod = Mod() if lab is not None else mod
        sub = ctx.sub(keep=True, top_level=False, nest=ctx.nest + 1)
        if self.ed2 and (lab is not None or mod.seq is not None):
            # a container module: its branches are in module context, but `in` and the
            # bound tensors of the enclosing module are out of its reach
            sub = sub.sub(runtime_in=False)
            if lab is None:
                bmod = Mod(labels=mod.labels, vars=mod.vars)
        stmts: list[Stmt] = []
        shapes: list[Shape] = []
        inner = scope.child()
        target: int | None = None
        se = kind == "mul" and not is_cl(x) and self.draw(st.booleans())
        bare: list[int] = []  # statements that are a bare repeat or if (spliced in)
        for b in range(nb):
            if self.chance(10):
                s, _ = self.let(inner, x)
                stmts.append(s)
            if se and b == 0:
                stmts.append(Chain([Group(Body([]))]))
                shapes.append(x)
                continue
            if se:
                r = max(1, x[0] // 2)
                chain = Chain(
                    [
                        Layer("gap", [], []),
                        Layer("conv", [lit(r), lit(1)], []),
                        Layer("relu", [], []),
                        Layer("conv", [self.int_expr(inner, x[0]), lit(1)], []),
                        Layer("sigmoid", [], []),
                    ]
                )
                stmts.append(chain)
                shapes.append((x[0], *(1 for _ in x[1:])))
                continue
            if self.chance(15) and kind != "concat" or self.chance(5):
                stmts.append(Chain([Group(Body([]))]))
                shapes.append(xb)
                if target is None:
                    target = xb[0]
                continue
            if self.ed2 and kind != "split" and self.chance(12):
                chain, y = self.spliced_repeat(inner, xb, bmod, sub, kind, target)
                bare.append(len(stmts))
                if kind != "concat":
                    target = y[0]
                stmts.append(chain)
                shapes.append(y)
                continue
            chain, y = self.chain(inner.child(), xb, bmod, sub, self.int(1, 2))
            if isinstance(chain.steps[0], (Repeat, If)):
                # a bare repeat or if in a merge splices branches in the second edition,
                # and is one branch in the first: braces make it one branch in both
                if self.ed2 and len(chain.steps) == 1 and self.draw(st.booleans()):
                    bare.append(len(stmts))
                else:
                    chain.steps[0] = Group(Body([Chain([chain.steps[0]])]))
            if kind not in ("concat", "split"):
                want = target if target is not None else y[0]
                if y[0] != want and len(y) == len(x):
                    fix = Layer("conv", [self.int_expr(inner, want), lit(1)], [])
                    if is_cl(y):
                        fix = Layer("linear", [self.int_expr(inner, want)], [])
                    chain.steps.append(fix)
                    y = same_layout(y, (want, *y[1:]))
                    if b in bare:
                        bare.remove(b)
                target = want
            if self.chance(20):
                blab = self.label(bmod, self.pick(["branch", "b", "path"]))
                if (
                    blab is not None
                    and len(chain.steps) == 1
                    and not isinstance(chain.steps[0], Labelled)
                ):
                    chain = Chain([Labelled(blab, chain.steps[0])])
                elif blab is not None and not (self.ed2 and _seq_unsafe(chain.fmt(0))):
                    chain = Chain([Labelled(blab, Group(Body([chain])))])
                if len(stmts) in bare:
                    bare.remove(len(stmts))
            stmts.append(chain)
            shapes.append(y)
        step: Step = Merge(kind, Body(stmts, inline=self.chance(30)))
        try:
            y = step.run(scope.child(), x)
        except Invalid:
            y = x
            if bare:  # braces make each spliced repeat or if one branch again
                for i in bare:
                    one = stmts[i]
                    assert isinstance(one, Chain)
                    stmts[i] = Chain([Group(Body([one]))])
                try:
                    y = step.run(scope.child(), x)
                except Invalid:
                    pass
        if lab is not None:
            step = Labelled(lab, step)
        return step, y

    def spliced_repeat(
        self, scope: Scope, x: Shape, mod: Mod, ctx: Ctx, kind: str, target: int | None
    ) -> tuple[Chain, Shape]:
        """``repeat n as i { step }`` or ``if c { a ; b }`` directly in a merge: each step
        statement of each iteration (of the arm) is a branch (DeepLabV3's ASPP)."""
        lists = sorted(k for k, v in scope.values.items() if isinstance(v, list) and v)
        var = self.fresh(["i", "j", "r"])
        rmod = Mod(labels=mod.labels, vars=None if mod.vars is None else [*mod.vars, var])
        inner = scope.child()
        inner.values[var] = 0
        if self.chance(25):  # an if: its arm's statements are branches
            cond = self.cond_expr(scope)
            arm = Mod(labels=set(mod.labels), vars=mod.vars)
            stmts: list[Stmt] = []
            y = x
            for _ in range(self.int(1, 2)):
                chain, y = self.chain(scope.child(), x, arm, ctx, 1)
                if kind not in ("concat", "split") and y[0] != (target or x[0]):
                    want = target or x[0]
                    chain.steps.append(Layer("conv", [lit(want), lit(1)], []))
                    y = same_layout(y, (want, *y[1:]))
                stmts.append(chain)
            mod.labels |= arm.labels
            orelse = Body([Chain([Group(Body([]))])]) if self.chance(30) else None
            return Chain([If(cond, Body(stmts), orelse)]), y
        if lists and self.draw(st.booleans()):
            lname = self.pick(lists)
            count = func("len", name(lname))
            width = index(name(lname), name(var))
        else:
            count = lit(self.int(1, 3))
            width = self.int_expr(scope, self.int(1, 8))
        if kind in ("add", "mul"):
            width = lit(target or x[0])
        ops: list[Step] = []
        if is_cl(x):
            ops.append(Layer("linear", [width], []))
        else:
            k = self.pick([1, 3]) if min(x[1:]) >= 3 else 1
            kw: list[tuple[str, E]] = [("pad", word("same"))] if k > 1 else []
            if k > 1 and self.chance(40) and min(x[1:]) >= 5:
                kw = [
                    ("pad", binop(lit(1), "+", name(var))),
                    ("dilation", binop(lit(1), "+", name(var))),
                ]
            ops.append(Layer("conv", [width, lit(k)], kw))
            if self.chance(40):
                ops.append(Layer("relu", [], []))
        step: Step = ops[0] if len(ops) == 1 else Group(Body([Chain(ops)]))
        lab = self.label(rmod) if self.chance(60) else None
        if lab is not None:
            step = Labelled(lab, step)
        rep = Repeat(count, var, Body([Chain([step])]))
        try:
            ys = [st_.run(sc.child(), x) for st_, sc in splice([Chain([rep])], scope.child())]
            y = ys[0] if ys else x
        except Invalid:
            y = x
        return Chain([rep]), y

    def residual(self, scope: Scope, x: Shape, mod: Mod, ctx: Ctx) -> tuple[Step, Shape]:
        if len(x) == 1:
            return Layer("relu", [], []), x
        sub = ctx.sub(keep=True, top_level=False, nest=ctx.nest + 1)
        inner = scope.child()
        if self.ed2 and mod.seq is not None:  # a container module in a sequential context
            mod = Mod(labels=mod.labels, vars=mod.vars)
            sub = sub.sub(runtime_in=False)
        body, y = self.body(inner, x, mod, sub, 0, 2)
        strides = sorted(k for k, v in scope.values.items() if k in self.stride_params)
        chans = sorted(
            k
            for k, v in scope.values.items()
            if isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 8
        )
        if ctx.keep or is_cl(x):
            sexpr = lit(1)
        elif strides and self.draw(st.booleans()):
            sexpr = name(self.pick(strides))
        else:
            sexpr = lit(self.pick([1, 1, 2]) if min(x[1:]) >= 4 else 1)
        cexpr = (
            name(self.pick(chans))
            if chans and self.draw(st.booleans())
            else lit(self.pick([x[0], self.int(1, 8)]))
        )
        s, co = sexpr.ev(scope), cexpr.ev(scope)
        last = Layer(
            "conv",
            [cexpr, lit(3)],
            [("pad", lit(1))] + ([("stride", sexpr)] if s != 1 or sexpr.text != "1" else []),
        )
        if is_cl(x):  # a channels-last body ends in linear layers, and projects with one
            last = Layer("linear", [cexpr], [])
        tail = [last] + ([Layer("bn", [], [])] if self.draw(st.booleans()) else [])
        if is_cl(x) and len(tail) > 1:
            tail[1] = Layer("layernorm", [], [])
        if self.ed2 and self.chance(40):
            if self.chance(40):
                ls = self.label(mod, "layer_scale")
                scale = Layer("scale", [lit(self.pick([1e-6, 0.1, 1.0]))], [])
                tail.append(Labelled(ls, scale) if ls else scale)
            p = self.pick([lit(0.1), lit(0.0), lit(0.2)])
            if self.chance(20):
                p = binop(lit(self.pick([1, 2])), "/", lit(10))
            tail.append(Layer("stochastic_depth", [p], []))
        body.stmts.append(Chain(tail))
        dlab = self.label(mod, "downsample")
        pconv = Layer("conv", [cexpr, lit(1)], [("stride", sexpr)])
        if is_cl(x):
            pconv = Layer("linear", [cexpr], [])
        proj_group = Group(Body([Chain([pconv, Layer("layernorm" if is_cl(x) else "bn", [], [])])]))
        proj = Body([Chain([Labelled(dlab, proj_group) if dlab else proj_group])])
        if self.chance(30):
            proj = Body([Chain([pconv])])
        cond = None
        if self.chance(20):
            cond = self.cond_expr(scope)
        if s == 1 and co == x[0] and self.chance(40):
            step = Residual(cond, body, None, None)
        else:
            sc_cond = compare(sexpr, "!=", lit(1))
            sc_cond = logic(sc_cond, "or", compare(in_attr("channels"), "!=", cexpr))
            step = Residual(cond, body, proj, sc_cond if self.chance(70) else None)
        try:
            y = step.run(scope.child(), x)
        except Invalid:
            y = x
        return step, y

    def repeat(self, scope: Scope, x: Shape, mod: Mod, ctx: Ctx) -> tuple[Step, Shape]:
        counts = sorted(
            k
            for k, v in scope.values.items()
            if (
                k in {p for b in self.block_order for p, kk in b.kinds.items() if kk == "count"}
                or k in self.net_counts
            )
            and isinstance(v, int)
        )
        lists = sorted(
            k for k, v in scope.values.items() if isinstance(v, list) and v and max(v) <= 4
        )
        if counts and self.chance(30):
            cexpr = name(self.pick(counts))
            n = scope.values[cexpr.text]
        elif self.ed2 and lists and self.chance(30):
            lname = self.pick(lists)
            cexpr = (
                func("len", name(lname))
                if self.draw(st.booleans())
                else index(name(lname), lit(self.pick([0, -1])))
            )
            n = cexpr.ev(scope)
        else:
            n = self.pick([2, 0, 1, 3])
            cexpr = lit(n)
        var = self.fresh(["i", "j", "k_"]) if self.chance(75) else None
        labelled = self.chance(15)
        lab = self.label(mod) if labelled else None
        multi = not (cexpr.text.isdigit() and n <= 1)
        if lab is not None:
            inner_mod = Mod(vars=[var] if var and multi else ([] if not multi else None))
        else:
            if mod.vars is None or (multi and var is None):
                inner_mod = Mod(labels=mod.labels, vars=None)
            else:
                inner_mod = Mod(labels=mod.labels, vars=mod.vars + ([var] if multi and var else []))
        if self.ed2 and (lab is not None or mod.seq is not None):
            inner_mod.seq = SeqIndex(None)  # spliced into an nn.Sequential
        sub = ctx.sub(top_level=False, nest=ctx.nest + 1, keep=ctx.keep or n > 1)
        if lab is not None:
            sub = sub.sub(tensor_ok=False, runtime_in=False)
        inner = scope.child(tensors=lab is None)
        if var:
            inner.values[var] = 0
        saved = self.budget
        self.budget = self.budget // max(n, 1)
        body, _ = self.body(inner, x, inner_mod, sub, 0, 2)
        if var and self.chance(30) and len(x) > 1 and not is_cl(x):
            # a width that grows with the loop variable
            body.stmts.append(
                Chain([Layer("conv", [binop(lit(self.int(1, 4)), "+", name(var)), lit(1)], [])])
            )
        if inner_mod.vars and self.chance(50):
            # a label template: layer{i + 1}: …
            tlab = self.label(inner_mod, self.pick(["layer", "block", "unit", "stage"]))
            if tlab is not None:
                tstep: Step = Layer("bn", [], []) if len(x) > 1 else Layer("relu", [], [])
                if is_cl(x):
                    tstep = Layer("layernorm", [], [])
                if self.block_order and self.draw(st.booleans()):
                    tstep = Call(
                        self.block_order[0].name, *self.call_args(scope, self.block_order[0], None)
                    )
                body.stmts.insert(self.int(0, len(body.stmts)), Chain([Labelled(tlab, tstep)]))
        self.budget = saved - (saved - self.budget) * max(n, 1)
        step: Step = Repeat(cexpr, var, body)
        try:
            y = step.run(scope.child(), x)
        except Invalid:
            y = x
        if lab is not None:
            step = Labelled(lab, step)
        return step, y

    def if_(self, scope: Scope, x: Shape, mod: Mod, ctx: Ctx) -> tuple[Step, Shape]:
        cond = self.cond_expr(scope)
        labelled = self.chance(10)
        lab = self.label(mod, numeric=True) if labelled else None
        arm_mod = Mod(vars=mod.vars, labels=set(mod.labels)) if lab is None else Mod()
        seq = self.ed2 and (lab is not None or mod.seq is not None)
        if seq:
            arm_mod.seq = SeqIndex(0 if lab is not None else None)
        sub = ctx.sub(top_level=False, nest=ctx.nest + 1)
        if lab is not None:
            sub = sub.sub(tensor_ok=False, runtime_in=False)
        then, y1 = self.body(scope.child(tensors=lab is None), x, arm_mod, sub, 0, 2)
        orelse: Body | If | None = None
        if self.draw(st.booleans()):
            arm2 = Mod(vars=mod.vars, labels=set(mod.labels)) if lab is None else Mod()
            if seq:
                arm2.seq = SeqIndex(0 if lab is not None else None)
            orelse, _ = self.body(scope.child(tensors=lab is None), x, arm2, sub, 0, 2)
            if lab is None:
                mod.labels |= arm2.labels
            if self.chance(15):
                orelse = If(self.cond_expr(scope), orelse, None)
        if lab is None:
            mod.labels |= arm_mod.labels
        step: Step = If(cond, then, orelse)
        try:
            y = step.run(scope.child(), x)
        except Invalid:
            y = x
        if lab is not None:
            step = Labelled(lab, step)
        return step, y

    def init(self, paths: list[str]) -> Init:
        """An ``init`` statement: a scheme, column overrides, a scope, zero_init_residual."""
        scheme = self.pick(["kaiming", "default", "trunc_normal", "xavier"])
        kw: list[tuple[str, str]] = []
        if scheme == "trunc_normal" and not self.chance(5):
            kw.append(("std", self.pick(["0.02", "0.01", "1e-3"])))
        rules = [
            "default",
            "kaiming_normal",
            "kaiming_uniform",
            "xavier_uniform",
            "xavier_normal",
            "normal(0.01)",
            "trunc_normal(0.02)",
            "uniform(1 / sqrt(fan_out))",
            "uniform(1 / sqrt(fan_in))",
            "normal(sqrt(2 / fan_out))",
            "trunc_normal(fan_in ** -0.5)",
        ]
        if self.chance(30):
            kw.append(("conv", self.pick(rules)))
        if self.chance(35):
            kw.append(("linear", self.pick(rules)))
        if self.chance(30):
            kw.append(("bias", self.pick(["zeros", "default"])))
        if paths and self.chance(35):
            kw.append(("scope", f'"{self.pick(paths)}"'))
        elif self.chance(2):
            kw.append(("scope", '"nowhere"'))  # not a module: refused
        if self.chance(20):
            kw.append(("zero_init_residual", "true"))
        return Init(scheme, kw)

    def convnext(self, scope: Scope, x: Shape, mod: Mod, ctx: Ctx) -> tuple[Step, Shape]:
        """ConvNeXt's block: a depthwise conv, then channels last: layernorm, linear (×4),
        gelu, linear, back to channels first; layer scale and stochastic depth, and the skip."""
        if len(x) == 1:
            return Layer("relu", [], []), x
        c = x[0]
        k = min(7, min(x[1:]))
        k -= 1 - k % 2
        bmod = Mod(labels=mod.labels, vars=mod.vars) if mod.seq is not None else mod
        cexpr = self.int_expr(scope, c)
        steps: list[Step] = [
            Layer("dwconv", [lit(k)], [("pad", lit(k // 2))])
            if self.draw(st.booleans())
            else Layer("conv", [cexpr, lit(k)], [("pad", word("same")), ("groups", cexpr)]),
            self.relayout(x),
            Layer("layernorm", [], [("eps", lit(1e-6))] if self.draw(st.booleans()) else []),
            Layer("linear", [binop(lit(self.pick([4, 2])), "*", cexpr)], []),
            Layer(self.pick(["gelu", "relu"]), [], []),
            Layer("linear", [cexpr], []),
            Layer("permute", [lit(0), lit(len(x)), *(lit(d) for d in range(1, len(x)))], []),
        ]
        body: list[Stmt] = []
        lab = self.label(bmod, "block") if self.chance(60) else None
        if lab is not None:
            body.append(Chain([Labelled(lab, Group(Body([Chain(steps)])))]))
        else:
            body.append(Chain(steps))
        tail: list[Step] = []
        if self.chance(70):
            ls = self.label(bmod, "layer_scale")
            sc = Layer("scale", [lit(1e-6)], [])
            tail.append(Labelled(ls, sc) if ls else sc)
        if self.chance(70):
            tail.append(Layer("stochastic_depth", [lit(self.pick([0.1, 0.0, 0.05]))], []))
        if tail:
            body.append(Chain(tail))
        step = Residual(None, Body(body), None, None)
        try:
            y = step.run(scope.child(), x)
        except Invalid:
            y = x
        return step, y

    def numbered(self, scope: Scope, x: Shape, mod: Mod, ctx: Ctx) -> tuple[Step, Shape]:
        """A labelled group whose elements are numbered by string templates that must equal
        their indices (``"{2 * i + 1}": bn``); now and then a wrong one, which is refused."""
        lab = self.label(mod, self.pick(["features", "stage", "layers"]), numeric=True)
        if len(x) == 1 or lab is None:
            return self.try_step(scope, x, lambda: self.layer(scope, x, ctx.keep, mod, ctx))
        var = self.fresh(["i", "j"])
        c = x[0]
        if is_cl(x):
            pool: list[Layer] = [
                Layer("linear", [lit(c)], []),
                Layer("layernorm", [], []),
                Layer("gelu", [], []),
            ]
        else:
            pool = [
                Layer("conv", [lit(c), lit(min(3, min(x[1:])))], [("pad", word("same"))]),
                Layer("bn", [], []),
                Layer("relu", [], []),
            ]
        stmts: list[Stmt] = []
        off = 0
        if self.draw(st.booleans()):
            stmts.append(Chain([Labelled('"0"', pool[0])]))
            off = 1
        per = self.pick([1, 2])
        wrong = 1 if self.chance(5) else 0
        steps: list[Step] = []
        for j in range(per):
            at = off + j + wrong
            hole = var if per == 1 else f"{per} * {var}"
            text = f'"{{{hole} + {at}}}"' if at else f'"{{{hole}}}"'
            steps.append(Labelled(text, pool[(j + 1) % len(pool)] if per == 2 else pool[0]))
        stmts.append(Chain([Repeat(lit(self.int(1, 3)), var, Body([Chain(steps)]))]))
        step: Step = Labelled(lab, Group(Body(stmts)))
        try:
            y = step.run(scope.child(), x)
        except Invalid:
            y = x
        return step, y

    # ------------------------------------------------------------------ program
    def network(self, nname: str) -> tuple[str, Shape]:
        rank = self.pick([2, 1, 3, 2])
        c = self.int(1, 8)
        if rank == 3:
            sp = tuple(self.int(4, 8) for _ in range(3))
        else:
            sp = tuple(self.int(4, 16) for _ in range(rank))
        shape = (c, *sp)
        nparams = self.int(0, 2)
        params: list[tuple[str, E]] = []
        values: dict[str, Any] = {}
        for _ in range(nparams):
            kind = self.pick(["chan", "flag", "count"] + (["list"] if self.ed2 else []))
            pname = self.fresh(PARAM_NAMES[kind], TRICKY_PARAMS)
            v = self.param_value(kind, shape)
            params.append((pname, listexpr([lit(i) for i in v]) if kind == "list" else lit(v)))
            values[pname] = v
            if self.ed2 and kind == "count":
                self.net_counts.add(pname)  # repeat counts from network parameters too
        scope = Scope(values, shape, {}, self.blocks, 0)
        self.budget = self.int(3, 14)
        ctx = Ctx(keep=False, nest=0, top_level=True, network=True, tensor_ok=True)
        mod = Mod(paths=[])
        first: Stmt
        inp = InputStep(shape)
        if self.ed2 and self.chance(15):
            # input size(c, h, w): from literals, or a network parameter (LANGUAGE.md §4)
            dims = [lit(d) for d in shape]
            chans = [p for p, v in values.items() if type(v) is int and v >= 1]
            if chans and self.chance(30):
                dims[0] = name(self.pick(chans))
                shape = (values[dims[0].text], *shape[1:])
                scope.in_shape = shape
                inp = InputStep(shape)
            elif self.draw(st.booleans()):
                dims[0] = binop(lit(shape[0] * 2), "//", lit(2))
            inp.expr = func("size", *dims)
        if self.chance(15):
            tname = self.fresh(["img", "inp"], ["x", "input_"])
            first = Bind(tname, Chain([inp]))
            assert scope.tensors is not None
            scope.tensors[tname] = shape
        else:
            first = Chain([inp])
        body, y = self.body(scope, shape, mod, ctx, 1, 6)
        stmts = [first]
        for s in body.stmts:
            stmts.extend(s.stmts if isinstance(s, Body) else [s])
        if len(y) > 1 and self.chance(40):
            head: list[Step] = []
            if is_cl(y):
                head.append(self.relayout(y))
            if self.draw(st.booleans()):
                head.append(
                    Labelled(self.label(mod, "avgpool") or "avgpool", Layer("gap", [], []))
                    if self.draw(st.booleans())
                    else Layer("gap", [], [])
                )
            head.append(Layer("flatten", [], []))
            fc = Layer("linear", [self.int_expr(scope, self.int(1, 10))], self._bias())
            lab = self.label(mod, "fc") if self.draw(st.booleans()) else None
            head.append(Labelled(lab, fc) if lab else fc)
            stmts.append(Chain(head))
            if lab:
                assert mod.paths is not None
                mod.paths.append(lab)
        if self.ed2 and self.chance(35):
            for _ in range(self.int(1, 2)):
                stmts.append(self.init(mod.paths or []))
        header = f"network {nname}"
        if params or self.chance(10):
            header += "(" + ", ".join(f"{p} = {d.text}" for p, d in params) + ")"
        return f"{header} {fmt_body(stmts, 0)}\n", shape

    def program(self) -> str:
        texts = [self.network(self.pick(["Net", "N", "Model", "T"]))[0]]
        if self.chance(8):
            nname = self.fresh(["Net2", "Other"])
            texts.append(self.network(nname)[0])
        blocks = []
        for block in self.block_order:
            header = f"block {block.name}"
            if block.params or self.chance(20):
                ps = ", ".join(p if d is None else f"{p} = {d.text}" for p, d in block.params)
                header += f"({ps})"
            if block.seq:
                header += " ="
            blocks.append(f"{header} {block.body.fmt(0)}\n")
        if self.chance(5):
            blocks.append("block Unused(c) { conv c 3 pad=1 }\n")
        if self.chance(3):  # a typo: the rejection path
            texts.append("network Bad { input 3x8x8 ; cnov 8 3 }\n")
        parts = blocks + texts
        if self.chance(10):
            parts = texts + blocks  # definitions may come in any order
        return "\n".join(parts)


@dataclass(frozen=True)
class Ctx:
    """Where a body is generated."""

    keep: bool  # keep the spatial size (inside merges and residuals)
    nest: int
    top_level: bool  # a body's own statements: bindings and outputs allowed
    network: bool
    tensor_ok: bool  # not inside a labelled group
    runtime_in: bool = True  # `in` is the running module's own input (not in a labelled group)

    def sub(self, **changes: Any) -> Ctx:
        d = {
            "keep": self.keep,
            "nest": self.nest,
            "top_level": self.top_level,
            "network": self.network,
            "tensor_ok": self.tensor_ok,
            "runtime_in": self.runtime_in,
        }
        d.update(changes)
        return Ctx(**d)


@st.composite
def programs(draw: Callable[[Any], Any], edition: int = EDITION) -> str:
    """Source text of a small `.cnn` program (mostly valid). ``edition=2`` adds the second
    edition's constructs (LANGUAGE.md: labels, sequential blocks, lists, split, splicing
    merges, channels-last tensors, the new ops and upsample forms, init)."""
    gen = Gen(draw, edition)
    gen.kernel_params = set()
    gen.stride_params = set()
    return gen.program()
