"""Stage 1: text -> syntax tree (:mod:`cnndsl.syntax`), every node with its span.

>>> tree = parse("network N { input 1x8x8; conv 4 3x3 pad=same }")
>>> tree.items[0].name
'N'
"""

from __future__ import annotations

import ast
import math
import re
from collections import deque
from collections.abc import Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput

from . import syntax as s
from .errors import CnnError, Span, source_lines

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_TOKENS = 250_000  # tokens in one file: parsing stays within seconds and memory linear
MAX_NESTING = 64

_OPEN = {"(", "{"}
_CLOSE = {")", "}"}

# How the parser's expectations read in a message.
_PRETTY = {
    "_NL": "a newline",
    "NAME": "a name",
    "CALLNAME": "a call",
    "INT": "an integer",
    "FLOAT": "a number",
    "SIZE": "a size like 3x3",
    "STRING": "a string",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "LPAR": "'('",
    "RPAR": "')'",
    "COLON": "':'",
    "SEMICOLON": "';'",
    "EQUAL": "'='",
    "COMMA": "','",
    "STAR": "'*'",
    "DOT": "'.'",
    "COMP_OP": "a comparison",
    "ADD_OP": "'+' or '-'",
    "MUL_OP": "'/', '//' or '%'",
    "$END": "the end of the file",
}


MAX_OPERATORS = 256  # binary operators in one statement
_OPERATORS = {"+", "-", "*", "/", "//", "%", "and", "or", "==", "!=", "<", ">", "<=", ">="}


# Keywords that may be a label (§5): `block: { … }`; the others cannot name anything.
LABEL_KEYWORDS = frozenset(
    "network block input let repeat residual shortcut concat add mul split output init".split()
)
KEYWORDS = LABEL_KEYWORDS | frozenset("import train if else as true false and or not in".split())
# where a statement or a chain's first step may start (so a label may follow)
_STMT_START = frozenset({"_NL", "SEMICOLON", "LBRACE", "__ANON_0", "OUTPUT", "EQUAL", "COLON"})
_HOLE_LIMIT = 400  # tokens scanned for the holes of one template label


def _retype(stream: Iterator[Token]) -> Iterator[Token]:
    """Gives tokens their second-edition meaning from their neighbours (one look-ahead
    pass): a keyword label (`block:`) becomes a NAME; an unquoted template label
    (`denselayer{i + 1}:`, no space outside its holes) becomes TEMPLATE_HEAD, HOLE_OPEN …
    HOLE_CLOSE, TEMPLATE_TAIL; a '[' right after a name, ')' or ']' becomes INDEX_OPEN.
    It also refuses `1xk` (a size literal holds digits only)."""
    buf: deque[Token] = deque()
    it = iter(stream)

    def peek(n: int) -> Token | None:
        while len(buf) <= n:
            nxt = next(it, None)
            if nxt is None:
                return None
            buf.append(nxt)
        return buf[n]

    prev: Token | None = None
    while peek(0) is not None:
        tok = buf.popleft()
        nxt = peek(0)
        at_start = prev is None or prev.type in _STMT_START
        if tok.type == "LSQB" and prev is not None and prev.end_pos == tok.start_pos:
            if prev.type in ("NAME", "RPAR", "RSQB"):
                tok = Token.new_borrow_pos("INDEX_OPEN", tok.value, tok)
        elif tok.type == "INT" and nxt is not None and nxt.type == "NAME":
            if nxt.start_pos == tok.end_pos and nxt.value.startswith("x"):
                raise _SizeExpr(tok, nxt)
        elif nxt is not None and tok.value.isidentifier() and tok.type != "CALLNAME":
            if at_start and nxt.type == "EQUAL" and tok.type != "NAME" and tok.value in KEYWORDS:
                raise _KeywordName(tok)
            if at_start and nxt.type == "ADD_OP" and nxt.value == "-" and tok.type == "NAME":
                _hyphen_label(peek, tok)
            if nxt.type == "COLON" and at_start and tok.type != "NAME":
                if tok.value in LABEL_KEYWORDS:
                    tok = Token.new_borrow_pos("NAME", tok.value, tok)
                elif tok.value in KEYWORDS:
                    raise _KeywordName(tok)
            elif nxt.type == "LBRACE" and at_start:
                n = _template_length(peek, tok)
                if n:
                    yield Token.new_borrow_pos("TEMPLATE_HEAD", tok.value, tok)
                    for _ in range(n):
                        part = buf.popleft()
                        kind = {"LBRACE": "HOLE_OPEN", "RBRACE": "HOLE_CLOSE"}.get(part.type)
                        if kind is None and prev is not None and prev.type == "HOLE_CLOSE":
                            kind = "TEMPLATE_TAIL"
                        prev = Token.new_borrow_pos(kind, part.value, part) if kind else part
                        yield prev
                    continue
        prev = tok
        yield tok


def _hyphen_label(peek: Any, head: Token) -> None:
    """``block1-0: …`` (a label with a hyphen, written as one word) is an error whose hint
    quotes it: ``"block1-0": …``."""
    text, end, i = head.value, head.end_pos, 0
    while i < 64:
        tok = peek(i)
        if tok is None or tok.start_pos != end:
            return
        if tok.type == "COLON":
            if "-" in text:
                raise _HyphenLabel(head, text)
            return
        if tok.value != "-" and tok.type not in ("NAME", "INT"):
            return
        text += tok.value
        end = tok.end_pos
        i += 1


def _template_length(peek: Any, head: Token) -> int:
    """How many tokens after ``head`` belong to its template label (0: not a template).

    A template is written as one word: ``head{…}``, then more ``{…}`` holes or a name or
    number, each touching the previous token, and a ':' right after the last. With a space
    before the first hole and a ':' after the holes it is an error; anything else is not a
    label (``concat{ … }``, ``if c{ … }``)."""
    i = 0
    last_end = head.end_pos
    spaced = False
    while i < _HOLE_LIMIT:
        tok = peek(i)
        if tok is None:
            return 0
        if tok.type == "COLON":
            if tok.start_pos != last_end or i == 0:
                return 0
            if spaced:
                raise _SpacedTemplate(head)
            return i
        if tok.type == "LBRACE":
            if tok.start_pos != last_end:
                if i:
                    return 0
                spaced = True
            j = i + 1
            while True:
                inner = peek(j)
                if inner is None or j - i > _HOLE_LIMIT:
                    return 0
                if inner.type in ("LBRACE", "_NL", "SEMICOLON", "COLON"):
                    return 0
                if inner.type == "RBRACE":
                    break
                j += 1
            if j == i + 1:
                return 0  # `name{}` is a name and an empty group, not a template
            last_end = inner.end_pos
            i = j + 1
            continue
        if (
            i
            and tok.start_pos == last_end
            and (tok.type in ("NAME", "INT") or tok.value in KEYWORDS)
        ):
            last_end = tok.end_pos
            i += 1
            continue
        return 0
    return 0


class _PostLex:
    """Drops newlines inside ``( )``, ``[ ]`` and after a trailing ``->``; bounds nesting
    depth; gives tokens their meaning from their neighbours (:func:`_retype`).

    It also catches ``shortcut``/``else`` at the start of a line (they must follow ``}``).
    """

    always_accept = ("_NL",)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        return self._process(_retype(stream))

    def _process(self, stream: Iterator[Token]) -> Iterator[Token]:
        count = 0
        for tok in self._lines(stream):
            count += 1
            if count > MAX_TOKENS:
                raise _TooMany(tok)
            yield tok

    def _lines(self, stream: Iterator[Token]) -> Iterator[Token]:
        parens = 0
        depth = 0
        operators = 0
        after_arrow = False
        prev = ""
        start: Token | None = None
        for tok in stream:
            if tok.type == "_NL":
                if parens or after_arrow:
                    continue
                operators = 0
                start = None
                prev = "\n" if prev == "}" or prev == "}\n" else "\n?"
                prev = "}\n" if prev == "\n" else prev
                yield tok
                continue
            value = tok.value
            if value in ("shortcut", "else") and prev == "}\n" and tok.type != "NAME":
                raise _Misplaced(tok)
            if len(value) > MAX_NAME and tok.type in ("NAME", "CALLNAME", "TEMPLATE_HEAD"):
                raise _LongName(tok)
            if start is None or prev in ("=", ";", "(", "{"):
                start = tok
            prev = value
            if value in _OPERATORS:
                operators += 1
                if operators > MAX_OPERATORS:
                    raise _TooLong(start)
            elif value == ";":
                operators = 0
            after_arrow = value == "->"
            if tok.type == "CALLNAME" or value in ("(", "["):
                parens += 1
            elif value in (")", "]"):
                parens = max(parens - 1, 0)
            if value in _OPEN or tok.type == "CALLNAME":
                depth += 1
                if depth > MAX_NESTING:
                    raise _TooDeep(tok)
            elif value in _CLOSE:
                depth = max(depth - 1, 0)
            yield tok


class _TooDeep(Exception):
    def __init__(self, tok: Token):
        super().__init__("too deep")
        self.tok = tok


class _TooLong(_TooDeep):
    pass


class _Misplaced(_TooDeep):
    pass


class _LongName(_TooDeep):
    pass


class _TooMany(_TooDeep):
    pass


class _KeywordName(_TooDeep):
    pass


class _SpacedTemplate(_TooDeep):
    pass


class _HyphenLabel(_TooDeep):
    def __init__(self, tok: Token, text: str):
        super().__init__(tok)
        self.text = text


class _SizeExpr(_TooDeep):
    def __init__(self, tok: Token, name: Token):
        super().__init__(tok)
        self.name = name


@cache
def grammar_text() -> str:
    """The grammar: inside the installed package, or in ``grammars/`` beside a checkout."""
    packaged = resources.files("cnndsl").joinpath("grammars").joinpath("cnn.lark")
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return (Path(__file__).resolve().parent.parent / "grammars" / "cnn.lark").read_text("utf-8")


def _build(**options: Any) -> Lark:
    return Lark(
        grammar_text(),
        parser="lalr",
        lexer="basic",
        propagate_positions=True,
        postlex=_PostLex(),
        maybe_placeholders=False,
        **options,
    )


@cache
def _lark() -> Lark:
    """The parser, built once per process from an on-disk cache of its tables.

    The cache is a pickle, so it lives where only this user can write: a 0700 folder of the
    user's cache directory (``$XDG_CACHE_HOME/cnndsl``, else ``~/.cache/cnndsl``) that this
    user owns; never a predictable name in a shared temporary folder. Without such a
    folder the tables are built in memory."""
    path = cache_file()
    if path is not None:
        try:
            return _build(cache=str(path))
        except OSError:
            pass
    return _build()


def cache_file() -> Path | None:
    """Where the parser tables are cached, or None when no private folder can be had."""
    import hashlib
    import os
    import sys

    import lark

    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cnndsl"
    try:
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = base.stat()
    except OSError:
        return None
    if hasattr(os, "getuid") and (st.st_uid != os.getuid() or st.st_mode & 0o077):
        return None
    key = f"{grammar_text()}|{lark.__version__}|{sys.version_info[:2]}".encode()
    return base / f"parser-{hashlib.sha256(key).hexdigest()[:16]}.lark"


def build_strict() -> Lark:
    """Build the parser with ``strict=True`` (used by the tests: no conflicts, no collisions)."""
    return _build(strict=True)


def parse(text: str, path: str = "<string>") -> s.File:
    """Parse ``.cnn`` source text into a :class:`cnndsl.syntax.File`.

    Raises :class:`CnnError` with a position for every syntax error.
    """
    if len(text) > MAX_FILE_BYTES:
        raise CnnError(
            f"file is larger than the limit of {MAX_FILE_BYTES // 2**20} MiB",
            Span(path, 1, 1, 1, 1),
        )
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # one line ending, as source_lines
    try:
        tree = _lark().parse(text)
    except _Misplaced as exc:
        word = exc.tok.value
        raise CnnError(
            f"`{word}` must follow the closing `}}` on the same line",
            _tok_span(path, exc.tok),
            f"write `}} {word} {{`",
        ) from None
    except _TooMany as exc:
        raise CnnError(
            f"the file has more than {MAX_TOKENS:,} tokens",
            _tok_span(path, exc.tok),
            "this is the limit of one file; split it with `import`",
        ) from None
    except _HyphenLabel as exc:
        raise CnnError(
            f"`{exc.text}` is not a name: an unquoted label is an identifier",
            _tok_span(path, exc.tok),
            f'a name with a hyphen is a string label: "{exc.text}": …',
        ) from None
    except _KeywordName as exc:
        word = exc.tok.value
        if word in LABEL_KEYWORDS:  # `split = …`
            raise CnnError(
                f"`{word}` is a keyword and cannot name a tensor",
                _tok_span(path, exc.tok),
                _keyword_hint(word),
            ) from None
        raise CnnError(
            f"`{word}` is a keyword and cannot be a label",
            _tok_span(path, exc.tok),
            f'quote it as a string label: "{word}": …',
        ) from None
    except _SpacedTemplate as exc:
        raise CnnError(
            "a template label is written as one word, with no space before its holes",
            _tok_span(path, exc.tok),
            f'write `{exc.tok.value}{{…}}:` (or quote it: "{exc.tok.value} {{…}}":)',
        ) from None
    except _SizeExpr as exc:
        tok, name = exc.tok, exc.name
        rest = ", ".join([tok.value, *[p for p in name.value[1:].split("x")]])
        raise CnnError(
            f"`{tok.value}{name.value}` is not a size: a size literal holds digits only",
            Span(
                path,
                tok.line or 1,
                tok.column or 1,
                name.end_line or tok.line or 1,
                name.end_column or (tok.column or 1) + 1,
            ),
            f"build a size from values with size(…): size({rest})",
        ) from None
    except _LongName as exc:
        raise CnnError(
            f"name longer than the limit of {MAX_NAME} characters",
            _tok_span(path, exc.tok),
            "choose a shorter name",
        ) from None
    except _TooLong as exc:
        raise CnnError(
            f"expression longer than the limit of {MAX_OPERATORS} operators",
            _tok_span(path, exc.tok),
            "break it up with `let`",
        ) from None
    except _TooDeep as exc:
        tok = exc.tok
        raise CnnError(
            f"nesting deeper than the limit of {MAX_NESTING} levels",
            _tok_span(path, tok),
            "split the network into blocks",
        ) from None
    except UnexpectedInput as exc:
        raise _syntax_error(exc, text, path) from None
    result = _ToSyntax(path).transform(tree)
    assert isinstance(result, s.File)
    return result


def parse_file(path: str | Path) -> s.File:
    """Read and parse a file; a missing or unreadable file is a :class:`CnnError`."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_FILE_BYTES:
            raise CnnError(
                f"file is larger than the limit of {MAX_FILE_BYTES // 2**20} MiB",
                Span(str(path), 1, 1, 1, 1),
            )
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CnnError(
            f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}",
            Span(str(path), 1, 1, 1, 1),
        ) from None
    return parse(text, str(path))


def _tok_span(path: str, tok: Any) -> Span:
    line = tok.line or 1
    col = tok.column or 1
    return Span(path, line, col, tok.end_line or line, tok.end_column or col + 1)


def _syntax_error(exc: UnexpectedInput, text: str, path: str) -> CnnError:
    line, col = getattr(exc, "line", 1) or 1, getattr(exc, "column", 1) or 1
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream or 0
        ch = text[pos] if pos < len(text) else "?"
        if ch == '"':
            return CnnError(
                "syntax error: unterminated string",
                Span(path, line, col, line, col + 1),
                'close it with " on the same line',
            )
        return CnnError(
            f"syntax error: unexpected character {ch!r}",
            Span(path, line, col, line, col + 1),
            _char_hint(ch),
        )
    tok: Any = getattr(exc, "token", None)
    if isinstance(exc, UnexpectedEOF) or tok is None or tok.type == "$END":
        lines = source_lines(text.rstrip("\n")) or [""]
        line = len(lines)
        col = len(lines[-1]) + 1
        return CnnError(
            "syntax error: unexpected end of file",
            Span(path, line, col, line, col),
            _unclosed(text, len(text)) or "a '{' or '(' is not closed",
        )
    if tok.value in ("network", "block", "train", "import") and tok.type != "NAME":
        hint = _unclosed(text, tok.start_pos or 0)
        if hint:
            return CnnError(f"syntax error: unexpected {tok.value!r}", _tok_span(path, tok), hint)
    names_expected = {"NAME", "CALLNAME"} & set(getattr(exc, "expected", ()))
    if tok.value in KEYWORDS and tok.type != "NAME" and names_expected:
        return CnnError(
            f"`{tok.value}` is a keyword and cannot be a name",
            _tok_span(path, tok),
            _keyword_hint(tok.value),
        )
    expected = sorted(
        {
            _PRETTY.get(t, f"'{t.lower()}'" if t.isalpha() else t)
            for t in getattr(exc, "expected", set())
            if not t.startswith("__")
        }
    )
    shown = "newline" if tok.type == "_NL" else repr(str(tok.value))
    span = _tok_span(path, tok) if tok.type != "_NL" else Span(path, line, col, line, col + 1)
    return CnnError(f"syntax error: unexpected {shown}", span, _token_hint(tok, expected))


def _unclosed(text: str, upto: int) -> str | None:
    """A hint naming the innermost '{' or '(' still open at ``upto``."""
    stack: list[tuple[str, int]] = []
    line = 1
    i = 0
    while i < upto:
        c = text[i]
        if c == "#":
            while i < upto and text[i] != "\n":
                i += 1
            continue
        if c == '"':
            i += 1
            while i < upto and text[i] not in '"\n':
                i += 2 if text[i] == "\\" else 1
        elif c == "\n":
            line += 1
        elif c in "({":
            stack.append((c, line))
        elif c in ")}" and stack:
            stack.pop()
        i += 1
    if not stack:
        return None
    c, at = stack[-1]
    return f"the '{c}' opened on line {at} is not closed"


def _keyword_hint(word: str) -> str:
    if word in ("split", "init"):
        return f"`{word}` is a keyword since the second edition of the language; rename it"
    return "choose another name"


def _char_hint(ch: str) -> str | None:
    if ch == "[":
        return "sizes are written 3x3, not [3, 3]"
    if ch == "'":
        return "strings use double quotes"
    return None


def _token_hint(tok: Token, expected: list[str]) -> str | None:
    if tok.type == "NAME" and re.fullmatch(r"x[0-9]+(x[0-9]+)*", tok.value):
        dims = tok.value[1:].replace("x", ", ")
        return f"a size built from a value is written size(…): size(c, {dims})"
    if tok.type == "LSQB":
        return "a list is not an atom: parenthesise it, `([3, 3])`; sizes are written 3x3"
    if tok.type == "_NL" and "'shortcut'" in expected:
        return "`shortcut` and `else` go on the same line as the closing '}'"
    if tok.value in ("shortcut", "else"):
        return "`shortcut` and `else` follow the closing '}' on the same line"
    if tok.type == "LPAR":
        return "a call has no space before its '(': write Name(…)"
    if tok.type in ("NAME", "INT", "SIZE", "FLOAT", "CALLNAME") and "'->'" in expected:
        return "separate steps with '->', a newline or ';'"
    if expected and len(expected) <= 6:
        return "expected " + ", ".join(expected)
    return None


def _meta_span(path: str, meta: Any) -> Span:
    try:
        return Span(path, meta.line, meta.column, meta.end_line, meta.end_column)
    except AttributeError:  # an empty rule has no position
        return Span(path, 1, 1, 1, 1)


MAX_NAME = 256  # characters in an identifier (a diagram label must stay drawable)
MAX_INT_DIGITS = 19  # integers are at most 2**63 - 1 (number bounds in docs/language.md)
MAX_STRING = 4096  # characters in a string literal


def _literal_string(tok: Token, span: Span) -> str:
    """A string literal's value, with Python's escapes; a bad one is a CnnError."""
    text = str(tok)
    if "\0" in text:
        raise CnnError("a string may not hold a NUL character", span, "remove it")
    if len(text) > MAX_STRING + 2:
        raise CnnError(f"string longer than {MAX_STRING} characters", span)
    try:
        return str(ast.literal_eval(text))
    except (SyntaxError, ValueError) as exc:
        reason = str(exc).split(": ", 1)[-1].split(" (<unknown>")[0]
        raise CnnError(
            f"invalid escape in string: {reason}",
            span,
            r"escapes are Python's: \\, \", \n, \t, \xHH, \uHHHH; or drop the backslash",
        ) from None


class _ToSyntax:
    """One small method per grammar rule; each returns a :mod:`cnndsl.syntax` node.

    Methods are called as ``rule(meta, *children)``, bottom-up and without recursion (so
    deep nesting cannot overflow the stack, and no per-call wrapper is built).
    """

    def __init__(self, path: str):
        self.path = path

    def transform(self, root: Tree) -> Any:
        out: list[Any] = []
        work: list[tuple[Any, bool]] = [(root, False)]
        while work:
            node, done = work.pop()
            if not isinstance(node, Tree):
                out.append(node)
            elif not done:
                work.append((node, True))
                work.extend((child, False) for child in reversed(node.children))
            else:
                n = len(node.children)
                args = out[len(out) - n :] if n else []
                if n:
                    del out[len(out) - n :]
                out.append(getattr(self, node.data)(node.meta, *args))
        return out[0]

    def _sp(self, meta: Any) -> Span:
        return _meta_span(self.path, meta)

    # files
    def start(self, meta: Any, *items: s.Item) -> s.File:
        return s.File(tuple(items), self.path)

    def import_stmt(self, meta: Any, path: Token) -> s.Import:
        return s.Import(_literal_string(path, self._sp(meta)), self._sp(meta))

    def _def(
        self, meta: Any, children: tuple[Any, ...]
    ) -> tuple[str, tuple[s.Param, ...], s.Group]:
        name = str(children[0]).rstrip("(")
        params: tuple[s.Param, ...] = children[1] if len(children) == 3 else ()
        return name, params, children[-1]

    def block_def(self, meta: Any, *children: Any) -> s.BlockDef:
        return s.BlockDef(*self._def(meta, children), self._sp(meta))

    def seq_block_def(self, meta: Any, *children: Any) -> s.BlockDef:
        name, params, body = self._def(meta, children)
        return s.BlockDef(name, params, body, self._sp(meta), sequential=True)

    def network_def(self, meta: Any, *children: Any) -> s.NetworkDef:
        return s.NetworkDef(*self._def(meta, children), self._sp(meta))

    def params(self, meta: Any, *params: s.Param) -> tuple[s.Param, ...]:
        seen: set[str] = set()
        for p in params:
            if p.name in seen:
                raise CnnError(f"parameter {p.name!r} is declared twice", p.span)
            seen.add(p.name)
        return params

    def param(self, meta: Any, name: Token, default: s.Expr | None = None) -> s.Param:
        return s.Param(str(name), default, self._sp(meta))

    def train_def(self, meta: Any, *entries: s.TrainEntry) -> s.TrainDef:
        return s.TrainDef(entries, self._sp(meta))

    def train_entry(self, meta: Any, key: Token, *rest: Any) -> s.TrainEntry:
        values = tuple(r for r in rest if not isinstance(r, s.Kwarg))
        kwargs = tuple(r for r in rest if isinstance(r, s.Kwarg))
        return s.TrainEntry(str(key), values, kwargs, self._sp(meta))

    # statements
    def body(self, meta: Any, *stmts: s.Stmt) -> s.Group:
        return s.Group(stmts, self._sp(meta))

    def let_stmt(self, meta: Any, name: Token, value: s.Expr) -> s.Let:
        return s.Let(str(name), value, self._sp(meta))

    def bind_stmt(self, meta: Any, name: Token, chain: s.Chain) -> s.Bind:
        return s.Bind(str(name), chain, self._sp(meta))

    def init_stmt(self, meta: Any, scheme: Token, *kwargs: s.Kwarg) -> s.Init:
        _no_duplicate_keys(kwargs)
        return s.Init(str(scheme), kwargs, self._sp(meta), _tok_span(self.path, scheme))

    def output_stmt(self, meta: Any, name: Token, *rest: Any) -> s.Output:
        return s.Output(str(name), tuple(rest[:-1]), rest[-1], self._sp(meta))

    def chain(self, meta: Any, *steps: s.Step) -> s.Chain:
        return s.Chain(steps, self._sp(meta))

    # steps
    def labelled(self, meta: Any, name: Token, step: s.Step) -> s.Labelled:
        label = s.Label((str(name),), _tok_span(self.path, name))
        return s.Labelled(label, step, self._sp(meta))

    def string_labelled(self, meta: Any, tok: Token, step: s.Step) -> s.Labelled:
        span = _tok_span(self.path, tok)
        parts = _string_template(_literal_string(tok, span), span, self.path)
        return s.Labelled(s.Label(parts, span, quoted=True), step, self._sp(meta))

    def templated(self, meta: Any, name: Token, *rest: Any) -> s.Labelled:
        parts: list[str | s.Expr] = [str(name)]
        last: Token = name
        for part in rest[:-1]:
            parts.extend(part[:-1])
            last = part[-1]
        start = _tok_span(self.path, name)
        end = _tok_span(self.path, last)
        label_span = Span(self.path, start.line, start.column, end.end_line, end.end_column)
        merged: list[str | s.Expr] = []
        for p in parts:  # adjacent text parts join: `stage{i}_unit`
            if isinstance(p, str) and merged and isinstance(merged[-1], str):
                merged[-1] += p
            else:
                merged.append(p)
        return s.Labelled(s.Label(tuple(merged), label_span), rest[-1], self._sp(meta))

    def template_part(
        self, meta: Any, _open: Token, expr: s.Expr, close: Token, tail: Token | None = None
    ) -> list[Any]:
        return [expr, str(tail), tail] if tail is not None else [expr, close]

    def layer(self, meta: Any, op: Token, *rest: Any) -> s.Layer:
        args, kwargs = _split_args(
            rest, "put positional arguments (like `64 3x3`) before key=value ones"
        )
        return s.Layer(str(op), args, kwargs, self._sp(meta))

    def kwarg(self, meta: Any, key: Token, value: s.Expr) -> s.Kwarg:
        return s.Kwarg(str(key), value, self._sp(meta))

    def call(self, meta: Any, name: Token, args: tuple[Any, ...]) -> s.Call:
        pos, kws = _split_args(args, "put positional arguments before key=value ones")
        return s.Call(str(name)[:-1], pos, kws, self._sp(meta))

    def args(self, meta: Any, *args: Any) -> tuple[Any, ...]:
        return args

    def group(self, meta: Any, body: s.Group) -> s.Group:
        return body

    def repetition(self, meta: Any, target: s.Call | s.Group, count: s.Expr) -> s.Repetition:
        return s.Repetition(target, count, self._sp(meta))

    def merge(self, meta: Any, kind: Token, body: s.Group) -> s.Merge:
        return s.Merge(str(kind), body.body, self._sp(meta))

    def residual(self, meta: Any, *parts: Any) -> s.Residual:
        cond = parts[0] if isinstance(parts[0], _Cond) else None
        rest = parts[1:] if cond else parts
        body = rest[0]
        shortcut = rest[1] if len(rest) > 1 else None
        return s.Residual(
            cond.expr if cond else None,
            body,
            shortcut[0] if shortcut else None,
            shortcut[1] if shortcut else None,
            self._sp(meta),
        )

    def shortcut(self, meta: Any, *parts: Any) -> tuple[s.Expr | None, s.Group]:
        if len(parts) == 2:
            return parts[0].expr, parts[1]
        return None, parts[0]

    def cond(self, meta: Any, expr: s.Expr) -> _Cond:
        return _Cond(expr)

    def repeat_stmt(self, meta: Any, count: s.Expr, *rest: Any) -> s.Repeat:
        var = str(rest[0]) if len(rest) == 2 else None
        return s.Repeat(count, var, rest[-1], self._sp(meta))

    def if_stmt(self, meta: Any, cond: s.Expr, then: s.Group, orelse: Any = None) -> s.If:
        return s.If(cond, then, orelse, self._sp(meta))

    def input_step(self, meta: Any, shape: s.Expr) -> s.Input:
        return s.Input(shape, self._sp(meta))

    # expressions
    def int_lit(self, meta: Any, tok: Token) -> s.Lit:
        digits = str(tok).lstrip("0") or "0"
        if len(digits) > MAX_INT_DIGITS or int(digits) > 2**63 - 1:
            raise CnnError(
                f"number too large: {digits[:24]}{'…' if len(digits) > 24 else ''}",
                self._sp(meta),
                "integers are at most 2**63 - 1",
            )
        return s.Lit(int(digits), self._sp(meta))

    def float_lit(self, meta: Any, tok: Token) -> s.Lit:
        value = float(tok)
        if math.isinf(value):
            raise CnnError(
                f"number too large: {tok}", self._sp(meta), "a number is at most about 1.8e308"
            )
        return s.Lit(value, self._sp(meta))

    def size_lit(self, meta: Any, tok: Token) -> s.Lit:
        parts = str(tok).split("x")
        if any(len(v.lstrip("0")) > MAX_INT_DIGITS for v in parts):
            raise CnnError("number too large in a size", self._sp(meta), "at most 2**63 - 1")
        return s.Lit(s.Size(int(v) for v in parts), self._sp(meta))

    def string_lit(self, meta: Any, tok: Token) -> s.Lit:
        return s.Lit(_literal_string(tok, self._sp(meta)), self._sp(meta))

    def true_lit(self, meta: Any) -> s.Lit:
        return s.Lit(True, self._sp(meta))

    def false_lit(self, meta: Any) -> s.Lit:
        return s.Lit(False, self._sp(meta))

    def name(self, meta: Any, tok: Token) -> s.Name:
        return s.Name(str(tok), self._sp(meta))

    def in_attr(self, meta: Any, tok: Token) -> s.InAttr:
        return s.InAttr(str(tok), self._sp(meta))

    def ifexp(self, meta: Any, body: s.Expr, test: s.Expr, orelse: s.Expr) -> s.IfExp:
        return s.IfExp(body, test, orelse, self._sp(meta))

    def or_(self, meta: Any, left: s.Expr, right: s.Expr) -> s.BoolOp:
        return s.BoolOp("or", left, right, self._sp(meta))

    def and_(self, meta: Any, left: s.Expr, right: s.Expr) -> s.BoolOp:
        return s.BoolOp("and", left, right, self._sp(meta))

    def not_(self, meta: Any, operand: s.Expr) -> s.Unary:
        return s.Unary("not", operand, self._sp(meta))

    def compare(self, meta: Any, first: s.Expr, *rest: Any) -> s.Compare:
        ops = tuple(str(t) for t in rest[0::2])
        return s.Compare(ops, (first, *rest[1::2]), self._sp(meta))

    def binop(self, meta: Any, left: s.Expr, op: Token, right: s.Expr) -> s.BinOp:
        return s.BinOp(str(op), left, right, self._sp(meta))

    def mulop(self, meta: Any, left: s.Expr, right: s.Expr) -> s.BinOp:
        return s.BinOp("*", left, right, self._sp(meta))

    def unary(self, meta: Any, op: Token, operand: s.Expr) -> s.Unary:
        return s.Unary(str(op), operand, self._sp(meta))

    def powop(self, meta: Any, left: s.Expr, right: s.Expr) -> s.BinOp:
        return s.BinOp("**", left, right, self._sp(meta))

    def list_lit(self, meta: Any, *items: s.Expr) -> s.ListExpr:
        return s.ListExpr(items, self._sp(meta))

    def index(self, meta: Any, target: s.Expr, _open: Token, index: s.Expr) -> s.Index:
        return s.Index(target, index, self._sp(meta))

    def slice(
        self, meta: Any, target: s.Expr, _open: Token, lo: s.Expr | None, hi: s.Expr | None
    ) -> s.Slice:
        return s.Slice(target, lo, hi, self._sp(meta))

    def slice_bound(self, meta: Any, expr: s.Expr | None = None) -> s.Expr | None:
        return expr


def _string_template(text: str, span: Span, path: str) -> tuple[str | s.Expr, ...]:
    """A string label's parts: text, and an expression for each ``{…}`` hole (``{{`` and
    ``}}`` write braces)."""
    parts: list[str | s.Expr] = []
    buf: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c in "{}" and text[i : i + 2] in ("{{", "}}"):
            buf.append(c)
            i += 2
            continue
        if c == "}":
            raise CnnError("unmatched '}' in a string label", span, "write }} for a literal brace")
        if c == "{":
            end = text.find("}", i)
            if end < 0:
                raise CnnError(
                    "unclosed '{' in a string label", span, "write {{ for a literal brace"
                )
            hole = text[i + 1 : end]
            if '"' in hole or "{" in hole or not hole.strip():
                raise CnnError(
                    f"bad hole {{{hole}}} in a string label",
                    span,
                    "a hole holds an expression without strings, e.g. {i + 1}",
                )
            if buf:
                parts.append("".join(buf))
                buf = []
            parts.append(_hole_expr(hole, span, path))
            i = end + 1
            continue
        buf.append(c)
        i += 1
    if buf or not parts:
        parts.append("".join(buf))
    return tuple(parts)


def _hole_expr(hole: str, span: Span, path: str) -> s.Expr:
    """The expression of one hole of a string label, parsed as a `let` value; its nodes
    carry the label's span."""
    try:
        tree = parse(f"network _ {{\nlet _ = ({hole})\n}}", path)
    except CnnError as exc:
        raise CnnError(f"bad hole {{{hole}}} in a string label: {exc.message}", span) from None
    let = tree.items[0].body.body[0]  # type: ignore[union-attr]
    assert isinstance(let, s.Let)
    return _respan(let.value, span)


def _respan(e: Any, span: Span) -> Any:
    import dataclasses

    if isinstance(e, tuple):
        return tuple(_respan(x, span) for x in e)
    if not dataclasses.is_dataclass(e):
        return e
    changes = {
        f.name: _respan(getattr(e, f.name), span) for f in dataclasses.fields(e) if f.name != "span"
    }
    return dataclasses.replace(e, span=span, **changes)  # type: ignore[type-var]


def _split_args(items: tuple[Any, ...], hint: str) -> tuple[tuple[Any, ...], tuple[s.Kwarg, ...]]:
    """Positional arguments and keyword arguments; positional ones may not follow keywords."""
    args = tuple(a for a in items if not isinstance(a, s.Kwarg))
    kwargs = tuple(a for a in items if isinstance(a, s.Kwarg))
    if kwargs and not isinstance(items[-1], s.Kwarg):
        first = next(a for a in items[items.index(kwargs[0]) :] if not isinstance(a, s.Kwarg))
        raise CnnError("positional argument after a keyword argument", first.span, hint)
    _no_duplicate_keys(kwargs)
    return args, kwargs


def _no_duplicate_keys(kwargs: tuple[s.Kwarg, ...]) -> None:
    seen: set[str] = set()
    for kw in kwargs:
        if kw.key in seen:
            raise CnnError(f"duplicate keyword {kw.key!r}", kw.span, "give each keyword once")
        seen.add(kw.key)


class _Cond:
    __slots__ = ("expr",)

    def __init__(self, expr: s.Expr):
        self.expr = expr
