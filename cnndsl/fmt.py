"""``cnndsl fmt``: the canonical layout of a ``.cnn`` file.

The formatter works on the token stream of the parser's own lexer (comments and whitespace
kept), not on the syntax tree, so it keeps every comment and tolerates any token the
grammar has. It changes whitespace only, and never moves a token to another line (so line
numbers in messages, summaries and diagrams stay the same):

* indentation: four spaces more inside a ``{``, ``(`` or ``[`` that ends its line; inside
  one followed by more code on its line (hanging), lines align with that code (as Python's
  visual indentation); four more after a line that ends with ``->``; a line that starts
  with a closer aligns with the line that opened it;
* spaces: one after ``,`` and ``;``, around ``->``, binary operators and a
  ``let``/binding/parameter-default ``=``; none around a keyword argument's ``=``, inside
  parentheses, before ``:``; other spacing is kept as written (present or absent), so
  whitespace-sensitive pairs (``f (x)`` and ``f(x)``) never change;
* tables: consecutive lines that call the same block with the same number of arguments
  get aligned argument columns (numbers right-aligned);
* trailing comments of consecutive lines (a paragraph: up to a blank line) start in one
  column, two spaces after the longest code among them;
* trailing whitespace goes, the file ends with one newline.

Every result is checked: the formatted text must parse to the same syntax tree as the
original (spans aside); otherwise only the indentation is changed.

>>> print(format_source("network N{input 1x8x8;conv 4 3x3 pad = same->relu # x\\n}"), end="")
network N { input 1x8x8; conv 4 3x3 pad=same -> relu  # x
}
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from lark import Token
from lark.exceptions import UnexpectedInput

from .errors import CnnError, Span
from .parser import _lark, parse

_OPERAND_END = {"NAME", "INT", "FLOAT", "SIZE", "STRING", "RPAR", "RSQB", "TRUE", "FALSE"}
_BINARY = {
    "==", "!=", "<=", ">=", "<", ">", "/", "//", "%", "*", "**", "and", "or", "if", "else",
}  # fmt: skip
_OPENERS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = {")", "]", "}"}
_NUMBER = re.compile(r"[-+]?[0-9][0-9x._eE+-]*\Z")


@dataclass(slots=True)
class _Tok:
    type: str
    value: str
    ws: bool  # whitespace before it on its line (in the original)
    role: str = ""  # "template" braces, "param"/"spaced"/"kwarg" equals, "unary", "binary"


@dataclass(slots=True)
class _Line:
    indent: int = 0
    toks: list[_Tok] = field(default_factory=list)
    comment: str | None = None
    code: str = ""


def lex(text: str) -> Iterator[Token]:
    """Every token of ``text`` with the parser's lexer, comments and whitespace included.

    Raises :class:`CnnError` at an unexpected character."""
    from lark.lexer import LexerThread

    lexer = _lark()._build_lexer(dont_ignore=True)
    try:
        yield from LexerThread.from_text(lexer, text).lex(None)
    except UnexpectedInput as exc:
        line, col = getattr(exc, "line", 1) or 1, getattr(exc, "column", 1) or 1
        pos = getattr(exc, "pos_in_stream", 0) or 0
        ch = text[pos] if pos < len(text) else "?"
        raise CnnError(
            f"syntax error: unexpected character {ch!r}", Span("<string>", line, col, line, col)
        ) from None


def _lines(text: str) -> list[_Line]:
    """The file as lines of tokens, each with its trailing comment."""
    lines = [_Line()]
    ws = False
    for tok in lex(text):
        kind = tok.type
        if kind == "_NL":
            lines.extend(_Line() for _ in range(tok.value.count("\n")))
            ws = False
        elif kind == "WS_INLINE":
            ws = True
        elif kind == "COMMENT":
            lines[-1].comment = tok.value.rstrip()
            ws = True
        else:
            lines[-1].toks.append(_Tok(kind, tok.value, ws))
            ws = False
    return lines


def _roles(lines: list[_Line]) -> None:
    """Decide what each ``{``, ``=``, ``+`` and ``-`` is (template brace, kind of ``=``,
    unary or binary sign), and each line's indentation level."""
    stack: list[str] = []  # "(" params, call, paren; "[" ; "{" body / template
    stmt: list[_Tok] = []  # tokens of the current statement so far (bracket depth 0)
    for line in lines:
        toks = line.toks
        prev: _Tok | None = None
        for i, t in enumerate(toks):
            v = t.value
            if v == "{":
                template = (
                    prev is not None
                    and not t.ws
                    and (prev.type == "NAME" or prev.role == "template")
                    and _closes_on_line(toks, i)
                )
                t.role = "template" if template else "body"
                stack.append("template" if template else "{")
                if not template:
                    stmt = []
            elif v == "}":
                kind = stack.pop() if stack and stack[-1] in ("{", "template") else "{"
                t.role = kind if kind == "template" else "body"
                if kind != "template":
                    stmt = []
            elif t.type == "CALLNAME" or v == "(":
                head = [x.value for x in stmt]
                is_def = t.type == "CALLNAME" and bool(head) and head[-1] in ("block", "network")
                stack.append("params" if is_def else "call" if t.type == "CALLNAME" else "(")
            elif v == "[":
                stack.append("[")
            elif v in (")", "]"):
                if stack and stack[-1] not in ("{", "template"):
                    stack.pop()
            elif v == ";":
                stmt = []
                prev = t
                continue
            elif v == "=":
                top = stack[-1] if stack else "{"
                if top == "params":
                    t.role = "spaced"
                elif top in ("{",):
                    head = [x.value for x in stmt]
                    spaced = (head and head[0] in ("let", "block", "network")) or (
                        len(stmt) == 1 and stmt[0].type == "NAME"
                    )
                    t.role = "spaced" if spaced else "kwarg"
                else:
                    t.role = "kwarg"
            elif v in ("+", "-"):
                binary = prev is not None and (
                    prev.type in _OPERAND_END or prev.value in (")", "]", "true", "false")
                )
                t.role = "binary" if binary else "unary"
            if not stack or stack[-1] == "{":
                if v not in ("{", "}"):
                    stmt.append(t)
            prev = t
        if toks and toks[-1].value != "->" and (not stack or stack[-1] == "{"):
            stmt = []


def _indents(lines: list[_Line]) -> None:
    """Each line's indentation (in columns), from the brackets open at its start.

    A bracket followed by more code on its line is *hanging*: the lines inside it line up
    with that code (as Python's visual indentation); otherwise they are indented one step
    past the line that opened it. A line after one ending with ``->`` is one step further,
    unless it lines up in a hanging bracket."""
    frames: list[tuple[int, bool, int]] = []  # (indent inside, hanging, opener line's indent)
    cont = False
    for line in lines:
        toks = line.toks
        if not toks:
            line.indent = frames[-1][0] if frames else 0
            continue
        lead = 0
        for t in toks:
            if t.value in _CLOSERS and t.role != "template" and lead < len(frames):
                lead += 1
            else:
                break
        if lead:
            indent = frames[-1][2]
        elif frames:
            indent = frames[-1][0] + (4 if cont and not frames[-1][1] else 0)
        else:
            indent = 4 if cont else 0
        line.indent = indent
        offsets = _offsets(toks)
        base = len(frames)  # frames below this index were opened on earlier lines
        for i, t in enumerate(toks):
            if t.role == "template":
                continue
            if t.value in _OPENERS or t.type == "CALLNAME":
                # a bracket inside a hanging one of this line starts from its column
                outer = frames[-1][0] if len(frames) > base and frames[-1][1] else indent
                if i + 1 < len(toks):
                    frames.append((indent + offsets[i + 1], True, outer))
                else:
                    frames.append((outer + 4, False, outer))
            elif t.value in _CLOSERS and frames:
                frames.pop()
                base = min(base, len(frames))
        cont = toks[-1].value == "->"


def _closes_on_line(toks: list[_Tok], i: int) -> bool:
    """A template part ``{…}`` closes on its line and is followed by ``:``, a name or
    another part."""
    n = 0
    for j in range(i, len(toks)):
        v = toks[j].value
        if v in _OPENERS or toks[j].type == "CALLNAME":
            n += 1
        elif v in _CLOSERS:
            n -= 1
            if n == 0:
                nxt = toks[j + 1] if j + 1 < len(toks) else None
                return nxt is not None and (
                    nxt.value == ":" or (not nxt.ws and (nxt.type == "NAME" or nxt.value == "{"))
                )
    return False


def _space(a: _Tok, b: _Tok, in_brackets: bool) -> str:
    """The whitespace between two tokens on one line."""
    keep = " " if b.ws else ""
    av, bv = a.value, b.value
    if a.role == "template" or b.role == "template":
        return keep
    if a.type == "CALLNAME" or av in ("(", "["):
        return ""
    if bv in (")", "]", ",", ";"):
        return ""
    if av in (",", ";"):
        return " "
    if av == "{" and bv == "}":
        return ""
    if av == "." or bv == ".":
        return ""
    if av == "->" or bv == "->":
        return " "
    if bv == ":":
        return keep if in_brackets else ""
    if av == ":":
        return keep if in_brackets else " "
    if av == "=" or bv == "=":
        eq = a if av == "=" else b
        return " " if eq.role == "spaced" else ""
    if a.role == "unary":
        return ""
    if a.role == "binary" or b.role == "binary":
        return " "
    if (av in _BINARY and a.type != "NAME") or (bv in _BINARY and b.type != "NAME"):
        return " "
    if a.role == "body" or b.role == "body":
        return " "
    return keep


def _render_code(toks: list[_Tok]) -> str:
    return "".join(_pieces(toks))


def _offsets(toks: list[_Tok]) -> list[int]:
    """The column of each token in the rendered line."""
    out = []
    col = 0
    for k, piece in enumerate(_pieces(toks)):
        if k % 2 == 0:
            out.append(col)
        col += len(piece)
    return out


def _pieces(toks: list[_Tok]) -> list[str]:
    """Token, space, token, space, … token."""
    out: list[str] = []
    brackets = 0
    prev: _Tok | None = None
    for t in toks:
        if prev is not None:
            out.append(_space(prev, t, brackets > 0))
        out.append(t.value)
        if t.value == "[":
            brackets += 1
        elif t.value == "]":
            brackets = max(brackets - 1, 0)
        prev = t
    return out


# ---------------------------------------------------------------- tables of block calls
@dataclass(slots=True)
class _Row:
    line: _Line
    head: str  # "label: " (without the callee)
    callee: str  # "Name("
    args: list[str]
    tail: str  # ")" and what follows


def _row(line: _Line) -> _Row | None:
    """A line that is one block call ``[label:] Name(a, b, …)[ * n]``, split in cells."""
    toks = line.toks
    i = 0
    if len(toks) >= 2 and toks[1].value == ":" and toks[0].type in ("NAME", "STRING"):
        i = 2
    if i >= len(toks) or toks[i].type != "CALLNAME":
        return None
    depth = 0
    args: list[list[_Tok]] = [[]]
    for j in range(i + 1, len(toks)):
        t = toks[j]
        if t.value in _OPENERS or t.type == "CALLNAME":
            depth += 1
        elif t.value in _CLOSERS:
            if depth == 0:
                if t.value != ")":
                    return None
                rest = toks[j + 1 :]
                if any(x.value in ("->", ";", "{", "}") for x in rest):
                    return None
                if len(args) < 2 or not all(args):
                    return None
                head = _render_code(toks[:i]) + " " if i else ""
                tail = _render_code(toks[j:])
                return _Row(line, head, toks[i].value, [_render_code(a) for a in args], tail)
            depth -= 1
        elif t.value == "," and depth == 0:
            args.append([])
            continue
        args[-1].append(t)
    return None


def _align_tables(lines: list[_Line]) -> None:
    run: list[_Row] = []

    def flush() -> None:
        if len(run) >= 2:
            _align(run)
        run.clear()

    for line in lines:
        row = _row(line) if line.toks else None
        if row is None:
            flush()
            continue
        if run and (
            row.callee != run[0].callee
            or bool(row.head) != bool(run[0].head)
            or len(row.args) != len(run[0].args)
            or line.indent != run[0].line.indent
        ):
            flush()
        run.append(row)
    flush()


def _align(rows: list[_Row]) -> None:
    ncol = len(rows[0].args)
    widths = [max(len(r.args[c]) for r in rows) for c in range(ncol)]
    numeric = [all(_NUMBER.match(r.args[c]) for r in rows) for c in range(ncol)]
    head = max(len(r.head) for r in rows)
    for r in rows:
        cells = []
        for c, arg in enumerate(r.args):
            last = c == ncol - 1
            if numeric[c]:
                cell = arg.rjust(widths[c]) + ("" if last else ",")
            else:
                cell = arg + ("" if last else ",")
                if not last:
                    cell = cell.ljust(widths[c] + 1)
            cells.append(cell)
        code = r.head.ljust(head) + r.callee + " ".join(cells) + r.tail
        r.line.code = code.rstrip() if r.tail == "" else code


# ---------------------------------------------------------------- the whole file
def _layout(lines: list[_Line]) -> str:
    for line in lines:
        line.code = _render_code(line.toks)
    _indents(lines)
    _align_tables(lines)
    # trailing comments: one column per paragraph (consecutive lines that are not blank)
    out: list[str] = []
    i = 0
    while i < len(lines):
        j = i
        while j < len(lines) and (lines[j].toks or lines[j].comment is not None):
            j += 1
        para = lines[i:j] if j > i else [lines[i]]
        width = max(
            (len(" " * ln.indent + ln.code) for ln in para if ln.toks and ln.comment), default=0
        )
        for ln in para:
            code = " " * ln.indent + ln.code if ln.toks else ""
            if ln.comment is not None and ln.toks:
                out.append(code.ljust(width) + "  " + ln.comment)
            elif ln.comment is not None:
                out.append(" " * ln.indent + ln.comment)
            else:
                out.append(code)
        i = max(j, i + 1)
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(line.rstrip() for line in out) + "\n" if out else ""


def _reindent_only(text: str) -> str:
    lines = _lines(text)
    _roles(lines)
    for line in lines:
        line.code = _render_code(line.toks)
    _indents(lines)
    raw = text.split("\n")
    out = []
    for k, raw_line in enumerate(raw):
        body = raw_line.strip()
        indent = lines[k].indent if k < len(lines) else 0
        out.append(" " * indent + body if body else "")
    while out and not out[-1]:
        out.pop()
    return "\n".join(out) + "\n" if out else ""


def format_source(text: str, path: str = "<string>") -> str:
    """The canonical layout of ``text``; raises :class:`CnnError` when it does not parse.

    The result parses to the same syntax tree as ``text``."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    original = parse(text, path)  # a syntax error is reported as parse reports it
    for attempt in (_full, _reindent_only):
        out = attempt(text)
        try:
            if parse(out, path) == original:
                return out
        except CnnError:
            pass
    return text


def _full(text: str) -> str:
    lines = _lines(text)
    _roles(lines)
    return _layout(lines)
