"""Compile-time expressions, in one place: their values and their symbolic forms.

:class:`Evaluator` gives an expression its value with Python's semantics (the elaborator's
view); :func:`fold`, :func:`subst` and :func:`to_py` keep it symbolic and print it as
Python (the code generator's view). Both read the same tables: the functions, the
operators and the ``in.*`` attributes of each rank.

>>> from cnndsl.parser import parse
>>> e = parse("network N(c = 1) { input 1; linear (c * 4 + 2 * 3) }").items[0].body.body[1]
>>> expr = e.steps[0].args[0]
>>> to_py(fold(expr))
'c * 4 + 6'
>>> to_py(fold(subst(expr, {"c": lit(16)})))
'70'
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import syntax as s
from .errors import CnnError, did_you_mean
from .ir import Shape
from .text import size_text

MAX_INT = 2**63 - 1  # the bounds of values (docs/language.md, "Bounds")
MAX_STRING = 4096
FUNCTIONS = (
    "min",
    "max",
    "round",
    "floor",
    "ceil",
    "int",
    "float",
    "abs",
    "sqrt",
    "log",
    "exp",
    "pow",
    "len",
    "sum",
    "make_divisible",
    "size",
)
MAX_LIST = 4096  # items in one list value


# ---------------------------------------------------------------- values
class Scope:
    """Compile-time values (parameters, lets, repeat variables), chained to the outer body."""

    __slots__ = ("vars", "parent")

    def __init__(self, parent: Scope | None = None, values: dict[str, Any] | None = None):
        self.vars: dict[str, Any] = values or {}
        self.parent = parent

    def get(self, name: str) -> tuple[bool, Any]:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.vars:
                return True, scope.vars[name]
            scope = scope.parent
        return False, None

    def names(self) -> set[str]:
        out: set[str] = set()
        scope: Scope | None = self
        while scope is not None:
            out |= scope.vars.keys()
            scope = scope.parent
        return out


def show_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, s.List):
        return "[" + ", ".join(show_value(x) for x in v) + "]"
    return str(v)


def _pow(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int) and b >= 0 and abs(a) > 1:
        if b * max(abs(a).bit_length() - 1, 1) > 64:
            raise OverflowError
    value = a**b
    if isinstance(value, complex):
        raise ValueError("a negative number to a fractional power has no real value")
    return value


def _size(*parts: Any) -> s.Size:
    if not parts:
        raise ValueError("size() needs at least one dimension")
    for v in parts:
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"size() takes integers, got {show_value(v)}")
        if v < 0:
            raise ValueError(f"a size holds no negative numbers, got {v}")
    return s.Size(parts)


def _aggregate(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``min``/``max``/``sum`` over numbers, or over one list."""

    def call(*args: Any) -> Any:
        if len(args) == 1 and isinstance(args[0], s.List):
            if not args[0] and fn is not sum:
                raise ValueError(f"{fn.__name__}() of an empty list")
            return fn(args[0])
        if fn is sum:
            raise TypeError("sum() takes one list")
        return fn(*args)

    return call


def _len(v: Any) -> int:
    if not isinstance(v, s.List):
        raise TypeError(f"len() takes a list, got {show_value(v)}")
    return len(v)


def make_divisible(v: float, divisor: int, min_value: int | None = None) -> int:
    """torchvision's ``_make_divisible``."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


_BIN: dict[str, Callable[[Any, Any], Any]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "//": lambda a, b: a // b,
    "%": lambda a, b: a % b,
    "**": _pow,
}
_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
_FUNCS: dict[str, Callable[..., Any]] = {
    "min": _aggregate(min),
    "max": _aggregate(max),
    "round": round,
    "floor": math.floor,
    "ceil": math.ceil,
    "int": int,
    "float": float,
    "abs": abs,
    "sqrt": math.sqrt,
    "log": math.log,
    "exp": math.exp,
    "pow": _pow,
    "len": _len,
    "sum": _aggregate(sum),
    "make_divisible": make_divisible,
    "size": _size,
}
_LIST_FUNCS = frozenset({"min", "max", "sum", "len"})
IN_ATTRS = {
    1: ("channels", "length"),
    2: ("channels", "height", "width"),
    3: ("channels", "depth", "height", "width"),
    0: ("channels",),
}


def _looks_like_size(name: str) -> bool:
    """``x32x32`` or ``cx32x32``: a size literal written with a name in it."""
    import re

    return (
        re.fullmatch(r"[A-Za-z_]*x[0-9]+(x[0-9A-Za-z_]+)*|x[A-Za-z_][0-9A-Za-z_]*", name)
        is not None
    )


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


@dataclass(slots=True)
class Evaluator:
    """Evaluates one expression with Python's semantics; mistakes are CnnErrors."""

    scope: Scope
    in_shape: Shape
    blocks: dict[str, s.BlockDef]
    spatial_reads: list[s.InAttr] | None = None  # collects reads of in.height and friends

    def run(self, e: s.Expr) -> Any:
        method: Callable[[Any], Any] = getattr(self, type(e).__name__)
        return method(e)

    def Lit(self, e: s.Lit) -> Any:
        return e.value

    def Name(self, e: s.Name) -> Any:
        found, value = self.scope.get(e.id)
        if found:
            return value
        hint = did_you_mean(e.id, self.scope.names())
        if _looks_like_size(e.id):
            hint = "a size built from values is written size(…), e.g. size(c, 32, 32)"
        if e.id in self.blocks:
            hint = f"{e.id} is a block; call it as a step: {e.id}(…)"
        raise CnnError(
            f"undefined name {e.id!r}",
            e.span,
            hint or "define it with `let`, or as a block or network parameter",
        )

    def InAttr(self, e: s.InAttr) -> Any:
        rank = len(self.in_shape) - 1
        attrs = IN_ATTRS.get(rank, ("channels",))
        if e.attr not in attrs:
            raise CnnError(
                f"in.{e.attr} is not defined for a {rank}-D input ({size_text(self.in_shape)})",
                e.span,
                f"available: {', '.join('in.' + a for a in attrs)}",
            )
        if e.attr != "channels" and self.spatial_reads is not None:
            self.spatial_reads.append(e)
        return self.in_shape[attrs.index(e.attr)]

    def ListExpr(self, e: s.ListExpr) -> Any:
        if len(e.items) > MAX_LIST:
            raise CnnError(f"a list holds at most {MAX_LIST} items", e.span)
        items = [self.run(x) for x in e.items]
        for x, v in zip(e.items, items, strict=True):
            if isinstance(v, s.List):
                raise CnnError("lists are flat: a list of lists is not allowed", x.span)
            if not (_is_number(v) or isinstance(v, s.Size)):
                raise CnnError(f"a list holds numbers or sizes, got {show_value(v)}", x.span)
        return s.List(items)

    def Index(self, e: s.Index) -> Any:
        target, i = self.run(e.target), self.run(e.index)
        if not isinstance(target, s.List):
            raise CnnError(f"only a list can be indexed, got {show_value(target)}", e.span)
        if isinstance(i, bool) or not isinstance(i, int):
            raise CnnError(f"a list index is an integer, got {show_value(i)}", e.index.span)
        if not -len(target) <= i < len(target):
            raise CnnError(
                f"index {i} is out of range for a list of {len(target)}",
                e.index.span,
                f"indices run from 0 to {len(target) - 1} (or -{len(target)} to -1)"
                if target
                else "the list is empty",
            )
        return target[i]

    def Slice(self, e: s.Slice) -> Any:
        target = self.run(e.target)
        if not isinstance(target, s.List):
            raise CnnError(f"only a list can be sliced, got {show_value(target)}", e.span)
        bounds = []
        for b in (e.lo, e.hi):
            v = None if b is None else self.run(b)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
                raise CnnError(f"a slice bound is an integer, got {show_value(v)}", e.span)
            bounds.append(v)
        return s.List(target[bounds[0] : bounds[1]])

    def BinOp(self, e: s.BinOp) -> Any:
        a, b = self.run(e.left), self.run(e.right)
        if isinstance(a, s.Size) or isinstance(b, s.Size):
            raise CnnError(
                f"arithmetic on sizes is not allowed ({show_value(a)} {e.op} {show_value(b)})",
                e.span,
                "sizes like 3x3 are values, not numbers",
            )
        ok = (
            _is_number(a)
            and _is_number(b)
            or (e.op == "+" and isinstance(a, str) and isinstance(b, str))
        )
        if not ok:
            raise CnnError(
                f"cannot apply '{e.op}' to {show_value(a)} and {show_value(b)}",
                e.span,
                "arithmetic needs numbers",
            )
        try:
            value = _BIN[e.op](a, b)
            if isinstance(value, float) and not math.isfinite(value):
                raise OverflowError
            if isinstance(value, int) and abs(value) > MAX_INT:
                raise OverflowError
            if isinstance(value, str) and len(value) > MAX_STRING:
                raise CnnError(f"string longer than {MAX_STRING} characters", e.span)
            return value
        except ZeroDivisionError:
            raise CnnError("division by zero", e.span) from None
        except OverflowError:
            raise CnnError("number too large", e.span) from None
        except ValueError as exc:
            raise CnnError(str(exc), e.span) from None

    def Unary(self, e: s.Unary) -> Any:
        v = self.run(e.operand)
        if e.op == "not":
            return not v
        if not _is_number(v):
            raise CnnError(f"cannot apply '{e.op}' to {show_value(v)}", e.span)
        return -v if e.op == "-" else v

    def Compare(self, e: s.Compare) -> Any:
        values = [self.run(x) for x in e.operands]
        for op, a, b in zip(e.ops, values, values[1:], strict=False):
            if op not in ("==", "!=") and not (_is_number(a) and _is_number(b)):
                raise CnnError(f"cannot compare {show_value(a)} {op} {show_value(b)}", e.span)
            if not _CMP[op](a, b):
                return False
        return True

    def BoolOp(self, e: s.BoolOp) -> Any:
        left = self.run(e.left)
        if e.op == "and":
            return self.run(e.right) if left else left
        return left if left else self.run(e.right)

    def IfExp(self, e: s.IfExp) -> Any:
        return self.run(e.body) if self.run(e.test) else self.run(e.orelse)

    def Call(self, e: s.Call) -> Any:
        fn = _FUNCS.get(e.func)
        if fn is None:
            hint = did_you_mean(e.func, _FUNCS)
            if e.func in self.blocks:
                hint = "a block call is a step, not a value"
            raise CnnError(
                f"unknown function {e.func!r}", e.span, hint or f"functions: {', '.join(FUNCTIONS)}"
            )
        args = [self.run(a) for a in e.args]
        kwargs = {kw.key: self.run(kw.value) for kw in e.kwargs}
        values = [*args, *kwargs.values()]
        lists_ok = e.func in _LIST_FUNCS and len(values) == 1 and isinstance(values[0], s.List)
        if not lists_ok and not all(_is_number(a) for a in values):
            what = "one list or numbers" if e.func in ("min", "max") else "numbers"
            what = "one list" if e.func in ("len", "sum") else what
            raise CnnError(f"{e.func}() takes {what}", e.span)
        try:
            value = fn(*args, **kwargs)
        except ZeroDivisionError:
            raise CnnError("division by zero", e.span) from None
        except (TypeError, ValueError, OverflowError) as exc:
            raise CnnError(f"bad call {e.func}(…): {exc}", e.span) from None
        if isinstance(value, float) and not math.isfinite(value):
            raise CnnError("number too large", e.span)
        if isinstance(value, int) and abs(value) > MAX_INT:
            raise CnnError("number too large", e.span)
        return value


# ---------------------------------------------------------------- symbolic forms
_PREC = {
    "ifexp": 1,
    "or": 2,
    "and": 3,
    "not": 4,
    "cmp": 5,
    "+": 6,
    "-": 6,
    "*": 7,
    "/": 7,
    "//": 7,
    "%": 7,
    "unary": 8,
    "**": 9,
    "atom": 10,
}
FUNC_PY = {
    "make_divisible": "_make_divisible",
    "floor": "math.floor",
    "ceil": "math.ceil",
    "sqrt": "math.sqrt",
    "log": "math.log",
    "exp": "math.exp",
    "size": "",  # a tuple: size(1, k) -> (1, k)
}


def lit(value: Any) -> s.Lit:
    return s.Lit(value)


def is_const(e: s.Expr) -> bool:
    return isinstance(e, s.Lit)


def free_names(e: s.Expr) -> set[str]:
    """Names (and ``in.*`` attributes, as ``in.attr``) that the expression reads."""
    if isinstance(e, s.Name):
        return {e.id}
    if isinstance(e, s.InAttr):
        return {f"in.{e.attr}"}
    out: set[str] = set()
    for child in _children(e):
        out |= free_names(child)
    return out


def _children(e: s.Expr) -> list[s.Expr]:
    if isinstance(e, s.BinOp | s.BoolOp):
        return [e.left, e.right]
    if isinstance(e, s.Unary):
        return [e.operand]
    if isinstance(e, s.Compare):
        return list(e.operands)
    if isinstance(e, s.IfExp):
        return [e.body, e.test, e.orelse]
    if isinstance(e, s.Call):
        return [*e.args, *(k.value for k in e.kwargs)]
    if isinstance(e, s.ListExpr):
        return list(e.items)
    if isinstance(e, s.Index):
        return [e.target, e.index]
    if isinstance(e, s.Slice):
        return [x for x in (e.target, e.lo, e.hi) if x is not None]
    return []


def subst(e: s.Expr, env: dict[str, s.Expr]) -> s.Expr:
    """Replace names (and ``in.attr`` keys) by expressions."""
    if isinstance(e, s.Name):
        return env.get(e.id, e)
    if isinstance(e, s.InAttr):
        return env.get(f"in.{e.attr}", e)
    if isinstance(e, s.BinOp):
        return s.BinOp(e.op, subst(e.left, env), subst(e.right, env), e.span)
    if isinstance(e, s.BoolOp):
        return s.BoolOp(e.op, subst(e.left, env), subst(e.right, env), e.span)
    if isinstance(e, s.Unary):
        return s.Unary(e.op, subst(e.operand, env), e.span)
    if isinstance(e, s.Compare):
        return s.Compare(e.ops, tuple(subst(o, env) for o in e.operands), e.span)
    if isinstance(e, s.IfExp):
        return s.IfExp(subst(e.body, env), subst(e.test, env), subst(e.orelse, env), e.span)
    if isinstance(e, s.Call):
        return s.Call(
            e.func,
            tuple(subst(a, env) for a in e.args),
            tuple(s.Kwarg(k.key, subst(k.value, env), k.span) for k in e.kwargs),
            e.span,
        )
    if isinstance(e, s.ListExpr | s.Index | s.Slice):
        return _rebuild(e, [subst(c, env) for c in _children(e)])
    return e


def evaluate(e: s.Expr) -> Any:
    """The value of a closed expression (raises CnnError like the elaborator)."""
    return Evaluator(Scope(), (0,), {}).run(e)


def fold(e: s.Expr) -> s.Expr:
    """Evaluate closed sub-expressions; short-circuit constant conditions."""
    if isinstance(e, s.Lit | s.Name | s.InAttr):
        return e
    if isinstance(e, s.IfExp):
        test = fold(e.test)
        if is_const(test):
            return fold(e.body) if test.value else fold(e.orelse)  # type: ignore[union-attr]
        body, orelse = fold(e.body), fold(e.orelse)
        if body == orelse:
            return body
        return s.IfExp(body, test, orelse, e.span)
    if isinstance(e, s.BoolOp):
        left = fold(e.left)
        if is_const(left):
            value = left.value  # type: ignore[union-attr]
            if e.op == "and":
                return fold(e.right) if value else left
            return left if value else fold(e.right)
        return s.BoolOp(e.op, left, fold(e.right), e.span)
    rebuilt = _rebuild(e, [fold(c) for c in _children(e)])
    if all(is_const(c) for c in _children(rebuilt)):
        return lit(evaluate(rebuilt))
    return _simplify(rebuilt)


def _rebuild(e: s.Expr, kids: list[s.Expr]) -> s.Expr:
    if isinstance(e, s.BinOp):
        return s.BinOp(e.op, kids[0], kids[1], e.span)
    if isinstance(e, s.Unary):
        return s.Unary(e.op, kids[0], e.span)
    if isinstance(e, s.Compare):
        return s.Compare(e.ops, tuple(kids), e.span)
    if isinstance(e, s.Call):
        n = len(e.args)
        return s.Call(
            e.func,
            tuple(kids[:n]),
            tuple(s.Kwarg(k.key, v, k.span) for k, v in zip(e.kwargs, kids[n:])),
            e.span,
        )
    if isinstance(e, s.ListExpr):
        return s.ListExpr(tuple(kids), e.span)
    if isinstance(e, s.Index):
        return s.Index(kids[0], kids[1], e.span)
    if isinstance(e, s.Slice):
        it = iter(kids[1:])
        lo = next(it) if e.lo is not None else None
        hi = next(it) if e.hi is not None else None
        return s.Slice(kids[0], lo, hi, e.span)
    return e


def _simplify(e: s.Expr) -> s.Expr:
    """x * 1, x + 0 and friends."""
    if isinstance(e, s.BinOp):
        left, right = e.left, e.right
        if e.op == "*" and right == lit(1) or e.op in "+-" and right == lit(0):
            return left
        if e.op == "*" and left == lit(1) or e.op == "+" and left == lit(0):
            return right
        if e.op == "//" and right == lit(1):
            return left
    return e


def _prec(e: s.Expr) -> int:
    if isinstance(e, s.BinOp):
        return _PREC[e.op]
    if isinstance(e, s.BoolOp):
        return _PREC[e.op]
    if isinstance(e, s.Unary):
        return _PREC["not"] if e.op == "not" else _PREC["unary"]
    if isinstance(e, s.Compare):
        return _PREC["cmp"]
    if isinstance(e, s.IfExp):
        return _PREC["ifexp"]
    if isinstance(e, s.ListExpr) or isinstance(e, s.Lit) and isinstance(e.value, s.List):
        return _PREC["**"]  # a list literal is not an atom: `conv ([1, 2])`
    if (
        isinstance(e, s.Lit)
        and isinstance(e.value, int | float)
        and not isinstance(e.value, bool)
        and e.value < 0
    ):
        return _PREC["unary"]
    return _PREC["atom"]


def py_value(value: Any) -> str:
    """Python source of a compile-time value."""
    if isinstance(value, s.List):
        return "[" + ", ".join(py_value(v) for v in value) + "]"
    if isinstance(value, s.Size):
        return "(" + ", ".join(str(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, tuple):
        return "(" + ", ".join(py_value(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, float):
        return repr(value)
    return repr(value)


def show(
    e: s.Expr, leaf: Callable[[s.Expr], str | None], call_name: Callable[[str], str] = str
) -> str:
    """Source text of an expression with the fewest parentheses (Python precedence).

    ``leaf`` prints literals, names and ``in.*`` (and may return None for anything else);
    ``call_name`` maps function names. Python source and ``.cnn`` source share this.
    """

    def wrap(child: s.Expr, min_prec: int) -> str:
        text = show(child, leaf, call_name)
        return f"({text})" if _prec(child) < min_prec else text

    text = leaf(e)
    if text is not None:
        return text
    if isinstance(e, s.BinOp) and e.op == "**":
        p = _PREC["**"]
        return f"{wrap(e.left, p + 1)} ** {wrap(e.right, p)}"
    if isinstance(e, s.BinOp | s.BoolOp):
        p = _PREC[e.op]
        return f"{wrap(e.left, p)} {e.op} {wrap(e.right, p + 1)}"
    if isinstance(e, s.ListExpr):
        return "[" + ", ".join(show(x, leaf, call_name) for x in e.items) + "]"
    if isinstance(e, s.Index):
        return f"{wrap(e.target, _PREC['atom'])}[{show(e.index, leaf, call_name)}]"
    if isinstance(e, s.Slice):
        lo = show(e.lo, leaf, call_name) if e.lo is not None else ""
        hi = show(e.hi, leaf, call_name) if e.hi is not None else ""
        return f"{wrap(e.target, _PREC['atom'])}[{lo}:{hi}]"
    if isinstance(e, s.Unary):
        if e.op == "not":
            return f"not {wrap(e.operand, _PREC['not'])}"
        return f"{e.op}{wrap(e.operand, _PREC['unary'])}"
    if isinstance(e, s.Compare):
        parts = [wrap(e.operands[0], _PREC["cmp"] + 1)]
        for op, operand in zip(e.ops, e.operands[1:]):
            parts.append(f"{op} {wrap(operand, _PREC['cmp'] + 1)}")
        return " ".join(parts)
    if isinstance(e, s.IfExp):
        return (
            f"{wrap(e.body, _PREC['ifexp'] + 1)} if {wrap(e.test, _PREC['ifexp'] + 1)} "
            f"else {wrap(e.orelse, _PREC['ifexp'])}"
        )
    if isinstance(e, s.Call):
        args = [show(a, leaf, call_name) for a in e.args]
        args += [f"{k.key}={show(k.value, leaf, call_name)}" for k in e.kwargs]
        name = call_name(e.func)
        if not name and len(args) == 1:
            return f"({args[0]},)"
        return f"{name}({', '.join(args)})"
    raise AssertionError(e)


def to_py(e: s.Expr, names: dict[str, str] | None = None) -> str:
    """Python source for an expression; ``names`` renames variables."""
    names = names or {}

    def leaf(x: s.Expr) -> str | None:
        if isinstance(x, s.Lit):
            return py_value(x.value)
        if isinstance(x, s.Name):
            return names.get(x.id, x.id)
        if isinstance(x, s.InAttr):
            return names.get(f"in.{x.attr}", f"in_{x.attr}")
        return None

    return show(e, leaf, lambda f: FUNC_PY.get(f, f))


def add(a: s.Expr, b: s.Expr) -> s.Expr:
    return fold(s.BinOp("+", a, b))


def mul(a: s.Expr, b: s.Expr) -> s.Expr:
    return fold(s.BinOp("*", a, b))


def ifexp(cond: s.Expr, a: s.Expr, b: s.Expr) -> s.Expr:
    return fold(s.IfExp(a, cond, b))
