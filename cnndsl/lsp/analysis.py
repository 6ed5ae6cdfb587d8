"""What the language server knows about one document, independent of the protocol.

:func:`analyze_document` runs the front end (parse, imports, elaborate) on the editor's text
and keeps what the features need: the diagnostics, the syntax tree, the program's blocks,
and (computed on first use) the side table of every network, indexed by source span. All
positions here are the compiler's: 1-based lines and columns, end exclusive.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import ir
from .. import program as program_module
from .. import syntax as s
from ..elaborate import elaborate
from ..errors import NOWHERE, CnnError, Diagnostic, Span, Warnings, source_lines
from ..expr import FUNCTIONS, IN_ATTRS
from ..ops import REGISTRY
from ..parser import parse, parse_file
from ..program import Program, no_gc
from ..shapes import Analysis, infer_shapes
from ..text import human, size_text
from .opdocs import MEANINGS, OP_DOCS

KEYWORDS = (
    "network", "block", "input", "import", "train", "let", "if", "else", "repeat", "as",
    "residual", "shortcut", "concat", "add", "mul", "split", "output", "init", "true",
    "false", "and", "or", "not", "in",
)  # fmt: skip
STEP_KEYWORDS = ("input", "let", "if", "repeat", "residual", "concat", "add", "mul", "output")

_CALLED_AT = re.compile(r"called at (.+):(\d+):(\d+)$")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BIND = re.compile(r"^\s*[A-Za-z_][A-Za-z0-9_]*\s*=(?!=)")


def same_file(a: str, b: str) -> bool:
    return a == b or os.path.realpath(a) == os.path.realpath(b)


@dataclass(slots=True)
class Instance:
    """One module the checker built from a step of this document."""

    path: str
    node: Any
    network: str
    stats: Any = None


@dataclass
class Document:
    """The result of checking one text."""

    path: str
    text: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    tree: s.File | None = None
    program: Program | None = None
    networks: list[ir.Network] = field(default_factory=list)
    _analyses: list[Analysis] | None = None
    _index: dict[Span, list[Instance]] | None = None
    # open documents that import this one: their networks show this file's blocks at work
    importers: list[Document] = field(default_factory=list)

    def set_importers(self, docs: list[Document]) -> None:
        if [id(d) for d in docs] != [id(d) for d in self.importers]:
            self.importers = docs
            self._index = None

    def imports(self, path: str) -> bool:
        """Whether this document's program uses blocks of the file ``path``."""
        if self.program is None or same_file(self.path, path):
            return False
        return any(same_file(b.span.file, path) for b in self.program.blocks.values())

    @property
    def checked(self) -> bool:
        """Whether some network (this file's or an importer's) runs this file's steps."""
        return bool(self.networks) or any(d.networks for d in self.importers)

    # ------------------------------------------------------------ the side table
    @property
    def analyses(self) -> list[Analysis]:
        if self._analyses is None:
            with no_gc():
                self._analyses = [infer_shapes(n) for n in self.networks]
        return self._analyses

    def index(self) -> dict[Span, list[Instance]]:
        """Every module and layer whose step is in this document, by the step's span."""
        if self._index is None:
            out: dict[Span, list[Instance]] = {}
            for a in self.analyses + [a for d in self.importers for a in d.analyses]:
                for path, node in a.network.modules():
                    span = getattr(node, "span", None)
                    if span is None or not same_file(span.file, self.path):
                        continue
                    stats = a.stats.get(node.uid)
                    out.setdefault(span, []).append(Instance(path, node, a.network.name, stats))
            self._index = out
        return self._index

    def instances_at(self, line: int, col: int) -> tuple[Span, list[Instance]] | None:
        """The innermost step at a position (a label counts as its step)."""
        target = self._label_target(line, col)
        idx = self.index()
        if target is not None and target in idx:
            return target, idx[target]
        best: tuple[Span, list[Instance]] | None = None
        for span, found in idx.items():
            if _contains(span, line, col) and (best is None or _inside(span, best[0])):
                best = (span, found)
        return best

    def _label_target(self, line: int, col: int) -> Span | None:
        if self.tree is None:
            return None
        for node in s.walk(self.tree):
            if isinstance(node, s.Labelled) and _contains(node.label.span, line, col):
                step = node.step
                while isinstance(step, s.Labelled):
                    step = step.step
                return getattr(step, "span", None)
        return None

    # ------------------------------------------------------------ words and scopes
    def line_text(self, line: int) -> str:
        lines = source_lines(self.text)
        return lines[line - 1] if 1 <= line <= len(lines) else ""

    def word_at(self, line: int, col: int) -> tuple[str, int, int] | None:
        """The identifier under a 1-based position, with its columns (end exclusive)."""
        text = self.line_text(line)
        for m in _WORD.finditer(text):
            if m.start() + 1 <= col <= m.end() + 1:
                return m.group(), m.start() + 1, m.end() + 1
        return None

    def enclosing_def(self, line: int) -> s.BlockDef | s.NetworkDef | None:
        if self.tree is None:
            return None
        for item in self.tree.items:
            if isinstance(item, (s.BlockDef, s.NetworkDef)) and item.span.line <= line <= (
                item.span.end_line
            ):
                return item
        return None

    def binds(self, scope: object) -> list[s.Bind]:
        return [n for n in s.walk(scope) if isinstance(n, s.Bind)]

    def blocks(self) -> dict[str, s.BlockDef]:
        if self.program is not None:
            return self.program.blocks
        if self.tree is not None:
            return {i.name: i for i in self.tree.items if isinstance(i, s.BlockDef)}
        return {}


def _contains(span: Span, line: int, col: int) -> bool:
    if line < span.line or line > span.end_line:
        return False
    if line == span.line and col < span.column:
        return False
    return not (line == span.end_line and col >= span.end_column)


def _inside(a: Span, b: Span) -> bool:
    """``a`` lies within ``b``."""
    return (a.line, a.column) >= (b.line, b.column) and (a.end_line, a.end_column) <= (
        b.end_line,
        b.end_column,
    )


_PARSED: dict[tuple[str, int, int], s.File] = {}


def _parse_file_cached(path: str | Path) -> s.File:
    """:func:`cnndsl.parser.parse_file`, remembered while the file on disk is unchanged (its
    modification time and size): a warm server parses an imported file once."""
    try:
        st = os.stat(path)
    except OSError:
        return parse_file(path)
    key = (os.path.realpath(path), st.st_mtime_ns, st.st_size)
    tree = _PARSED.get(key)
    if tree is None:
        tree = parse_file(path)  # a CnnError is not remembered
        if len(_PARSED) > 256:
            _PARSED.clear()
        _PARSED[key] = tree
    return tree


@contextlib.contextmanager
def _imports_cached() -> Iterator[None]:
    """Resolve imports through :func:`_parse_file_cached` (syntax trees are immutable, so
    one tree can serve every check) for the duration of one check."""
    saved = getattr(program_module, "parse_file", None)
    if saved is not parse_file:  # the program stage reads files some other way now
        yield
        return
    program_module.parse_file = _parse_file_cached  # type: ignore[assignment]
    try:
        yield
    finally:
        program_module.parse_file = saved


def analyze_document(path: str, text: str, previous: Document | None = None) -> Document:
    """Check ``text`` as the file ``path``; never raises for a mistake in the text."""
    doc = Document(path, text)
    warnings = Warnings()
    try:
        with no_gc(), _imports_cached():
            doc.tree = parse(text, path)
            doc.program = Program.from_file(doc.tree)
            doc.networks = elaborate(doc.program, None, None, warnings)
    except CnnError as exc:
        doc.diagnostics.append(exc.diagnostic)
    except RecursionError:
        doc.diagnostics.append(Diagnostic("error", "nesting too deep to check", NOWHERE))
    doc.diagnostics.extend(warnings.items)
    if doc.tree is None:
        _repair(doc)
    if doc.program is None and previous is not None:  # keep the blocks for completion
        doc.program = previous.program
    return doc


def _repair(doc: Document, tries: int = 8) -> None:
    """A tree for scopes and symbols while a line is being typed: blank the lines that do
    not parse (the diagnostics come from the text as it is)."""
    lines = source_lines(doc.text)
    for _ in range(tries):
        try:
            doc.tree = parse("\n".join(lines), doc.path)
        except CnnError as exc:
            k = exc.span.line - 1
            if not 0 <= k < len(lines) or not lines[k].strip():
                return
            lines[k] = ""
            continue
        try:
            doc.program = Program.from_file(doc.tree)
        except CnnError:
            pass
        return


# ---------------------------------------------------------------- diagnostics
def place(diag: Diagnostic, path: str) -> tuple[Span, list[tuple[Span, str]]]:
    """Where a diagnostic goes in the document ``path``, and its related information.

    A mistake inside an imported block is shown at the call in this document (the last
    "called at" note that points here), with the block's line as related information."""
    related: list[tuple[Span, str]] = []
    span = diag.span
    if diag.hint:
        related.append((span, f"hint: {diag.hint}"))
    calls: list[Span] = []
    for note in diag.notes:
        m = _CALLED_AT.search(note)
        where = span
        if m:
            line, col = int(m.group(2)), int(m.group(3))
            where = Span(m.group(1), line, col, line, col + 1)
            calls.append(where)
        related.append((where, f"note: {note}"))
    if not same_file(span.file, path):
        here = [c for c in calls if same_file(c.file, path)]
        if span != NOWHERE:
            related.insert(0, (span, f"{diag.severity} here: {diag.message}"))
        span = here[-1] if here else Span(path, 1, 1, 1, 1)
    return span, related


# ---------------------------------------------------------------- hover text
def op_doc(name: str) -> str:
    """An op's signature and meaning (Markdown)."""
    op = REGISTRY.get(name)
    if op is None:
        return ""
    doc = OP_DOCS.get(op.name) or OP_DOCS.get(name) or {}
    out = [f"```\n{op.usage().removeprefix('usage: ')}\n```"]
    meaning = doc.get("meaning") or MEANINGS.get(op.name, "")
    torch = getattr(op, "torch_class", "")
    head = f"**{op.name}**" + (f" — {meaning}" if meaning else "")
    if name != op.name:
        head += f" (`{name}` is an alias)"
    if torch:
        head += f"; PyTorch `{torch.replace('{r}', 'N')}`"
    out.append(head)
    if doc.get("positional"):
        out.append(f"positional: {doc['positional']}")
    if doc.get("keywords"):
        out.append(f"keywords: {doc['keywords']}")
    if doc.get("details"):
        out.append(doc["details"])
    return "\n\n".join(out)


def _figures(inst: Instance) -> str:
    st = inst.stats
    shape = size_text(inst.node.out_shape)
    if st is None:
        return f"output {shape}"
    parts = [f"output **{shape}**", f"params {st.params:,}", f"MACs {human(st.macs)}"]
    if st.rf:
        parts.append(f"RF {size_text(st.rf)}")
    return " · ".join(parts)


def hover_text(doc: Document, line: int, col: int) -> tuple[str, Span | None] | None:
    """Markdown for a hover at a position, and the range it is about."""
    word = doc.word_at(line, col)
    text = doc.line_text(line)
    blocks = doc.blocks()
    found = doc.instances_at(line, col) if doc.checked else None
    # a block call: its signature, leading comment and totals
    if word and word[0] in blocks and text[word[2] - 1 : word[2]] == "(":
        block = blocks[word[0]]
        out = [f"```cnn\n{block_signature(block)}\n```"]
        comment = leading_comment(block)
        if comment:
            out.append(comment)
        calls = [
            i
            for span, insts in doc.index().items()
            if span.line == line and span.column <= word[1] <= span.end_column
            for i in insts
            if isinstance(i.node, ir.Module) and i.node.block == block.name
        ]
        if calls:
            out.append(_instances(calls))
        return "\n\n".join(out), Span(doc.path, line, word[1], line, word[2])
    parts: list[str] = []
    span = None
    if found:
        span, insts = found
        op = getattr(insts[0].node, "op", None)
        title = op or getattr(insts[0].node, "title", "") or getattr(insts[0].node, "kind", "")
        parts.append(f"**{title}** — " + _instances(insts))
    if word and word[0] in REGISTRY and (not found or getattr(found[1][0].node, "op", None)):
        parts.append(op_doc(word[0]))
        span = span or Span(doc.path, line, word[1], line, word[2])
    if not parts:
        return None
    return "\n\n---\n\n".join(parts), span


def _instances(insts: list[Instance]) -> str:
    first = insts[0]
    lines = [f"`{first.path}` ({first.network}): {_figures(first)}"]
    for inst in insts[1:6]:
        lines.append(f"`{inst.path}`: {_figures(inst)}")
    if len(insts) > 6:
        lines.append(f"… and {len(insts) - 6} more instances")
    return "  \n".join(lines)


def block_signature(block: s.BlockDef | s.NetworkDef) -> str:
    from ..unparse import expr as unparse_expr

    params = []
    for p in block.params:
        if p.default is None:
            params.append(p.name)
        else:
            try:
                params.append(f"{p.name} = {unparse_expr(p.default)}")
            except Exception:  # a construct the unparser does not know yet
                params.append(f"{p.name} = …")
    eq = " = { … }" if getattr(block, "sequential", False) else ""
    return f"block {block.name}({', '.join(params)}){eq}"


def leading_comment(block: s.BlockDef | s.NetworkDef) -> str:
    """The comment lines directly above a definition (its docstring)."""
    try:
        lines = source_lines(Path(block.span.file).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return ""
    return _comment_above(lines, block.span.line)


def _comment_above(lines: list[str], line: int) -> str:
    out: list[str] = []
    k = line - 2
    while k >= 0 and lines[k].lstrip().startswith("#"):
        out.append(lines[k].lstrip()[1:].strip())
        k -= 1
    return "\n".join(reversed(out)).strip()


# ---------------------------------------------------------------- completion data
def in_attributes() -> list[str]:
    seen: list[str] = []
    for rank in sorted(IN_ATTRS):
        for a in IN_ATTRS[rank]:
            if a not in seen:
                seen.append(a)
    return seen


def step_op(prefix: str) -> str | None:
    """The op (first word) of the step that the text before the cursor is in."""
    depth = 0
    for i in range(len(prefix) - 1, -1, -1):
        c = prefix[i]
        if c in ")]":
            depth += 1
        elif c in "([":
            if depth == 0:
                return None  # inside a call's parentheses
            depth -= 1
        elif depth == 0 and (c in "{;:" or prefix[i : i + 2] == "->"):
            return _first_word(prefix[i + (2 if prefix[i : i + 2] == "->" else 1) :])
    return _first_word(prefix)


def _first_word(step: str) -> str | None:
    step = _BIND.sub("", step, count=1)  # `x = conv …`: the op follows the binding
    m = _WORD.match(step.lstrip())
    return m.group() if m else None


__all__ = [
    "FUNCTIONS",
    "KEYWORDS",
    "STEP_KEYWORDS",
    "Document",
    "analyze_document",
    "block_signature",
    "hover_text",
    "in_attributes",
    "leading_comment",
    "op_doc",
    "place",
    "step_op",
]
