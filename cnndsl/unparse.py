"""Syntax tree -> canonical ``.cnn`` text (a formatter; parsing it gives the same tree).

>>> from cnndsl.parser import parse
>>> print(unparse(parse("network N{input 1x8x8;conv 4 3x3 pad=same->relu}")), end="")
network N {
    input 1x8x8
    conv 4 3x3 pad=same -> relu
}
"""

from __future__ import annotations

from . import syntax as s
from .expr import _PREC, _prec, show

INDENT = "    "


def unparse(tree: s.File) -> str:
    """Format a whole file."""
    parts = [_item(item) for item in tree.items]
    return "\n\n".join(parts) + "\n"


def _item(item: s.Item) -> str:
    if isinstance(item, s.Import):
        return f"import {_string(item.path)}"
    if isinstance(item, s.TrainDef):
        lines = ["train {"]
        for e in item.entries:
            values = ", ".join(expr(v) for v in e.values)
            kws = " ".join(f"{k.key}={expr(k.value)}" for k in e.kwargs)
            lines.append(INDENT + " ".join(x for x in (e.key, values, kws) if x))
        return "\n".join(lines + ["}"])
    keyword = "block" if isinstance(item, s.BlockDef) else "network"
    params = ""
    if item.params:
        params = (
            "("
            + ", ".join(
                p.name if p.default is None else f"{p.name} = {expr(p.default)}"
                for p in item.params
            )
            + ")"
        )
    eq = "= " if isinstance(item, s.BlockDef) and item.sequential else ""
    return f"{keyword} {item.name}{params} {eq}{_body(item.body.body, 0)}"


def _body(stmts: tuple[s.Stmt, ...], level: int) -> str:
    if not stmts:
        return "{}"
    inner = INDENT * (level + 1)
    lines = [inner + stmt(x, level + 1) for x in stmts]
    return "{\n" + "\n".join(lines) + "\n" + INDENT * level + "}"


def stmt(x: s.Stmt, level: int = 0) -> str:
    if isinstance(x, s.Chain):
        return " -> ".join(step(st, level) for st in x.steps)
    if isinstance(x, s.Let):
        return f"let {x.name} = {expr(x.value)}"
    if isinstance(x, s.Bind):
        return f"{x.name} = {stmt(x.chain, level)}"
    if isinstance(x, s.Init):
        return " ".join(["init", x.scheme, *(f"{k.key}={expr(k.value)}" for k in x.kwargs)])
    kws = "".join(f" {k.key}={expr(k.value)}" for k in x.kwargs)
    return f"output {x.name}{kws}: {stmt(x.chain, level)}"


def step(x: s.Step, level: int) -> str:
    if isinstance(x, s.Labelled):
        return f"{_label(x.label)}: {step(x.step, level)}"
    if isinstance(x, s.Layer):
        parts = [x.op, *(atom(a) for a in x.args), *(f"{k.key}={expr(k.value)}" for k in x.kwargs)]
        return " ".join(parts)
    if isinstance(x, s.Call):
        return expr(x)
    if isinstance(x, s.Group):
        return _body(x.body, level)
    if isinstance(x, s.Repetition):
        return f"{step(x.target, level)} * {atom(x.count)}"
    if isinstance(x, s.Merge):
        return f"{x.kind} {_body(x.branches, level)}"
    if isinstance(x, s.Residual):
        out = "residual" + (f" if {expr(x.cond)}" if x.cond is not None else "")
        out += f" {_body(x.body.body, level)}"
        if x.shortcut is not None:
            cond = f" if {expr(x.shortcut_cond)}" if x.shortcut_cond is not None else ""
            out += f" shortcut{cond} {_body(x.shortcut.body, level)}"
        return out
    if isinstance(x, s.Repeat):
        var = f" as {x.var}" if x.var else ""
        return f"repeat {expr(x.count)}{var} {_body(x.body.body, level)}"
    if isinstance(x, s.If):
        out = f"if {expr(x.cond)} {_body(x.then.body, level)}"
        if isinstance(x.orelse, s.If):
            out += f" else {step(x.orelse, level)}"
        elif x.orelse is not None:
            out += f" else {_body(x.orelse.body, level)}"
        return out
    assert isinstance(x, s.Input)
    return f"input {atom(x.shape)}"


def _label(label: s.Label) -> str:
    if label.quoted:
        text = "".join(
            p.replace("{", "{{").replace("}", "}}") if isinstance(p, str) else "{" + expr(p) + "}"
            for p in label.parts
        )
        return _string(text)
    return "".join(p if isinstance(p, str) else "{" + expr(p) + "}" for p in label.parts)


def _string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def atom(e: s.Expr) -> str:
    """A positional argument: parenthesised unless it is an atom."""
    text = expr(e)
    return text if _prec(e) >= _PREC["atom"] else f"({text})"


def expr(e: s.Expr) -> str:
    """Expression source in the language's own syntax (Python precedence)."""
    return show(e, _leaf)


def _leaf(e: s.Expr) -> str | None:
    if isinstance(e, s.Lit):
        v = e.value
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return _string(v)
        if isinstance(v, s.Size):
            return "x".join(str(d) for d in v)
        if isinstance(v, s.List):
            return "[" + ", ".join(_leaf(s.Lit(x)) or "" for x in v) + "]"
        return repr(v)
    if isinstance(e, s.Name):
        return e.id
    if isinstance(e, s.InAttr):
        return f"in.{e.attr}"
    return None
