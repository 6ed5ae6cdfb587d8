"""``cnndsl lsp``: the language server (pygls, over stdio).

Features: diagnostics on open/change/save (errors and warnings with their ranges; hints and
notes as related information), hover (a layer's path, shape, params, MACs and receptive
field; a block call's signature, leading comment and totals; an op's signature and meaning),
go to definition (block calls, imports, bound tensors), completion (ops, keywords and their
words, blocks with parameters, ``in.`` attributes, bound tensors), document symbols,
formatting (``cnndsl fmt``) and inlay hints (output shapes; off with the initialization
option or setting ``inlayHints: false``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from lsprotocol import types as t
from pygls.lsp.server import LanguageServer

from .. import syntax as s
from ..errors import CnnError, Span
from ..ops import REGISTRY
from ..text import size_text
from ..version import __version__
from .analysis import (
    FUNCTIONS,
    KEYWORDS,
    STEP_KEYWORDS,
    Document,
    analyze_document,
    block_signature,
    hover_text,
    in_attributes,
    leading_comment,
    place,
    same_file,
    step_op,
)


class CnnServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("cnndsl", __version__)
        self.docs: dict[str, Document] = {}
        self.inlay_hints = True


server = CnnServer()


def uri_path(uri: str) -> str:
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return unquote(parsed.path)
    return uri


def path_uri(path: str) -> str:
    return Path(path).resolve().as_uri()


def to_range(span: Span) -> t.Range:
    start = t.Position(max(span.line - 1, 0), max(span.column - 1, 0))
    end = t.Position(max(span.end_line - 1, 0), max(span.end_column - 1, 0))
    if (end.line, end.character) < (start.line, start.character):
        end = start
    return t.Range(start, end)


# ---------------------------------------------------------------- documents
def refresh(ls: CnnServer, uri: str) -> Document:
    document = ls.workspace.get_text_document(uri)
    path = uri_path(uri)
    doc = analyze_document(path, document.source, ls.docs.get(uri))
    ls.docs[uri] = doc
    ls.text_document_publish_diagnostics(
        t.PublishDiagnosticsParams(
            uri=uri, diagnostics=diagnostics(doc, uri), version=document.version
        )
    )
    return doc


def diagnostics(doc: Document, uri: str) -> list[t.Diagnostic]:
    out = []
    for d in doc.diagnostics:
        span, related = place(d, doc.path)
        severity = t.DiagnosticSeverity.Error
        if d.severity == "warning":
            severity = t.DiagnosticSeverity.Warning
        info = [
            t.DiagnosticRelatedInformation(
                location=t.Location(uri=_uri_for(where.file, doc.path, uri), range=to_range(where)),
                message=message,
            )
            for where, message in related
        ]
        message = d.message
        if not same_file(d.span.file, doc.path) and d.span.file != "<unknown>":
            message += f" (in {Path(d.span.file).name}:{d.span.line})"
        out.append(
            t.Diagnostic(
                range=to_range(span),
                message=message,
                severity=severity,
                source="cnndsl",
                related_information=info or None,
            )
        )
    return out


def _uri_for(file: str, doc_path: str, doc_uri: str) -> str:
    if same_file(file, doc_path) or file in ("<unknown>", "<string>"):
        return doc_uri
    return path_uri(file)


def current(ls: CnnServer, uri: str) -> Document:
    doc = ls.docs.get(uri)
    text = ls.workspace.get_text_document(uri).source
    if doc is None or doc.text != text:
        doc = refresh(ls, uri)
    doc.set_importers([d for d in ls.docs.values() if d is not doc and d.imports(doc.path)])
    return doc


@server.feature(t.INITIALIZE)
def initialize(ls: CnnServer, params: t.InitializeParams) -> None:
    opts = params.initialization_options
    if isinstance(opts, dict) and "inlayHints" in opts:
        ls.inlay_hints = bool(opts["inlayHints"])


@server.feature(t.WORKSPACE_DID_CHANGE_CONFIGURATION)
def did_change_configuration(ls: CnnServer, params: t.DidChangeConfigurationParams) -> None:
    settings = params.settings
    if isinstance(settings, dict):
        conf = settings.get("cnndsl", settings)
        if isinstance(conf, dict) and "inlayHints" in conf:
            ls.inlay_hints = bool(conf["inlayHints"])
            caps = ls.client_capabilities.workspace
            hints = caps.inlay_hint if caps is not None else None
            if hints is not None and hints.refresh_support:
                ls.workspace_inlay_hint_refresh(None)


@server.feature(t.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: CnnServer, params: t.DidOpenTextDocumentParams) -> None:
    refresh(ls, params.text_document.uri)


@server.feature(t.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: CnnServer, params: t.DidChangeTextDocumentParams) -> None:
    refresh(ls, params.text_document.uri)


@server.feature(t.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: CnnServer, params: t.DidSaveTextDocumentParams) -> None:
    refresh_all(ls)  # the saved file may be imported by the other open documents


@server.feature(t.WORKSPACE_DID_CHANGE_WATCHED_FILES)
def did_change_watched_files(ls: CnnServer, params: t.DidChangeWatchedFilesParams) -> None:
    refresh_all(ls)  # an imported file changed on disk


def refresh_all(ls: CnnServer) -> None:
    for uri in list(ls.docs):
        if uri in ls.workspace.text_documents:
            refresh(ls, uri)


@server.feature(t.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: CnnServer, params: t.DidCloseTextDocumentParams) -> None:
    ls.docs.pop(params.text_document.uri, None)
    ls.text_document_publish_diagnostics(
        t.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[])
    )


# ---------------------------------------------------------------- hover
@server.feature(t.TEXT_DOCUMENT_HOVER)
def hover(ls: CnnServer, params: t.HoverParams) -> t.Hover | None:
    doc = current(ls, params.text_document.uri)
    pos = params.position
    found = hover_text(doc, pos.line + 1, pos.character + 1)
    if found is None:
        return None
    text, span = found
    return t.Hover(
        contents=t.MarkupContent(kind=t.MarkupKind.Markdown, value=text),
        range=to_range(span) if span else None,
    )


# ---------------------------------------------------------------- definition
@server.feature(t.TEXT_DOCUMENT_DEFINITION)
def definition(ls: CnnServer, params: t.DefinitionParams) -> t.Location | None:
    uri = params.text_document.uri
    doc = current(ls, uri)
    line, col = params.position.line + 1, params.position.character + 1
    text = doc.line_text(line)
    m = re.match(r'\s*import\s+"([^"]*)"', text)
    if m:
        target = (Path(doc.path).parent / m.group(1)).resolve()
        if target.is_file():
            return t.Location(
                uri=target.as_uri(), range=t.Range(t.Position(0, 0), t.Position(0, 0))
            )
        return None
    word = doc.word_at(line, col)
    if word is None:
        return None
    name = word[0]
    blocks = doc.blocks()
    if name in blocks and text[word[2] - 1 : word[2]] == "(":
        span = blocks[name].span
        return t.Location(uri=_uri_for(span.file, doc.path, uri), range=to_range(_head(span)))
    scope = doc.enclosing_def(line)
    if scope is not None:
        for bind in doc.binds(scope):
            if bind.name == name and (bind.span.line, bind.span.column) != (line, word[1]):
                return t.Location(uri=uri, range=to_range(_head(bind.span, len(name))))
    return None


def _head(span: Span, width: int | None = None) -> Span:
    """The first line of a span (a definition's name line), or its first ``width`` chars."""
    end = span.column + width if width else span.column + 1
    if width is None and span.end_line == span.line:
        end = span.end_column
    return Span(span.file, span.line, span.column, span.line, end)


# ---------------------------------------------------------------- completion
@server.feature(t.TEXT_DOCUMENT_COMPLETION, t.CompletionOptions(trigger_characters=[".", "="]))
def completion(ls: CnnServer, params: t.CompletionParams) -> t.CompletionList:
    uri = params.text_document.uri
    doc = ls.docs.get(uri) or current(ls, uri)
    text = ls.workspace.get_text_document(uri).source
    lines = text.split("\n")
    line = lines[params.position.line] if params.position.line < len(lines) else ""
    prefix = line[: params.position.character]
    items = complete(doc, prefix, params.position.line + 1)
    return t.CompletionList(is_incomplete=False, items=items)


def complete(doc: Document, prefix: str, line: int) -> list[t.CompletionItem]:
    Kind = t.CompletionItemKind
    stripped = prefix.split("#", 1)[0] if "#" in prefix else prefix
    if stripped != prefix:
        return []  # in a comment
    if re.search(r"\bin\.[A-Za-z_]*$", prefix):
        return [t.CompletionItem(label=a, kind=Kind.Property) for a in in_attributes()]
    m = re.search(r"([A-Za-z_][A-Za-z0-9_]*)=([A-Za-z_]*)$", prefix)
    if m:
        op = REGISTRY.get(step_op(prefix[: m.start()]) or "")
        key = m.group(1)
        if op is not None and key in op.keywords:
            p = op.keywords[key]
            words = list(p.words)
            if p.kind == "pad":
                words = ["same", "valid", "full"]
            elif p.kind == "bool":
                words = ["true", "false"]
            elif p.kind == "dim" and not words:
                words = ["channels"]
            return [
                t.CompletionItem(label=w, kind=Kind.EnumMember, detail=f"{op.name} {key}=")
                for w in words
            ]
        return _names(doc, line)
    op_name = step_op(prefix)
    at_step_start = re.search(r"(^|[{;:]|->)\s*[A-Za-z_]*$", prefix) is not None
    items: list[t.CompletionItem] = []
    if op_name in REGISTRY and not at_step_start:
        op = REGISTRY[op_name]
        used = set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", prefix))
        for key, p in op.keywords.items():
            if key in used:
                continue
            default = "" if p.default is None else f" (default {p.default})"
            items.append(
                t.CompletionItem(
                    label=f"{key}=",
                    kind=Kind.Field,
                    detail=f"{p.kind}{default}",
                    insert_text=f"{key}=",
                    command=t.Command("suggest", "editor.action.triggerSuggest"),
                )
            )
        return items + _names(doc, line)
    for name, op in sorted(REGISTRY.items()):
        items.append(
            t.CompletionItem(
                label=name,
                kind=Kind.Function,
                detail=op.usage().removeprefix("usage: "),
            )
        )
    for kw in STEP_KEYWORDS if at_step_start else KEYWORDS:
        items.append(t.CompletionItem(label=kw, kind=Kind.Keyword))
    for name, block in sorted(doc.blocks().items()):
        params = [p for p in block.params if p.default is None]
        snippet = ", ".join(f"${{{i + 1}:{p.name}}}" for i, p in enumerate(params))
        items.append(
            t.CompletionItem(
                label=name,
                kind=Kind.Class,
                detail=block_signature(block),
                documentation=leading_comment(block) or None,
                insert_text=f"{name}({snippet})",
                insert_text_format=t.InsertTextFormat.Snippet,
            )
        )
    return items + _names(doc, line)


def _names(doc: Document, line: int) -> list[t.CompletionItem]:
    """Bound tensors, parameters, lets and functions in scope at a line."""
    Kind = t.CompletionItemKind
    out: list[t.CompletionItem] = []
    scope = doc.enclosing_def(line)
    if scope is not None:
        for bind in doc.binds(scope):
            out.append(t.CompletionItem(label=bind.name, kind=Kind.Variable, detail="tensor"))
        for p in scope.params:
            out.append(t.CompletionItem(label=p.name, kind=Kind.Variable, detail="parameter"))
        for node in s.walk(scope):
            if isinstance(node, s.Let):
                out.append(t.CompletionItem(label=node.name, kind=Kind.Variable, detail="let"))
    for fn in FUNCTIONS:
        out.append(t.CompletionItem(label=fn, kind=Kind.Function, detail="function"))
    return out


# ---------------------------------------------------------------- symbols
@server.feature(t.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
def document_symbols(ls: CnnServer, params: t.DocumentSymbolParams) -> list[t.DocumentSymbol]:
    doc = current(ls, params.text_document.uri)
    if doc.tree is None:
        return []
    out = []
    for item in doc.tree.items:
        if isinstance(item, (s.BlockDef, s.NetworkDef)):
            kind = t.SymbolKind.Class if isinstance(item, s.BlockDef) else t.SymbolKind.Module
            word = "block" if isinstance(item, s.BlockDef) else "network"
            rng = to_range(item.span)
            out.append(
                t.DocumentSymbol(
                    name=item.name,
                    detail=block_signature(item).replace("block", word, 1),
                    kind=kind,
                    range=rng,
                    selection_range=_name_range(doc, item),
                    children=_labelled(item.body),
                )
            )
    return out


def _name_range(doc: Document, item: s.BlockDef | s.NetworkDef) -> t.Range:
    text = doc.line_text(item.span.line)
    col = text.find(item.name, item.span.column - 1)
    if col < 0:
        return to_range(_head(item.span))
    return t.Range(
        t.Position(item.span.line - 1, col), t.Position(item.span.line - 1, col + len(item.name))
    )


def _labelled(node: object) -> list[t.DocumentSymbol]:
    """Labelled steps under a node, nested as the labels are."""
    out: list[t.DocumentSymbol] = []
    stack: list[object] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, tuple):
            stack.extend(reversed(item))
            continue
        fields = getattr(item, "__dataclass_fields__", None)
        if fields is None:
            continue
        if isinstance(item, s.Labelled):
            name = "".join(p if isinstance(p, str) else "{…}" for p in item.label.parts)
            step = item.step
            out.append(
                t.DocumentSymbol(
                    name=name,
                    detail=type(step).__name__.lower(),
                    kind=t.SymbolKind.Field,
                    range=to_range(item.span),
                    selection_range=to_range(item.label.span),
                    children=_labelled(step),
                )
            )
            continue
        stack.extend(reversed([getattr(item, f) for f in fields if f != "span"]))
    return out


# ---------------------------------------------------------------- formatting
@server.feature(t.TEXT_DOCUMENT_FORMATTING)
def formatting(ls: CnnServer, params: t.DocumentFormattingParams) -> list[t.TextEdit] | None:
    from ..fmt import format_source

    uri = params.text_document.uri
    text = ls.workspace.get_text_document(uri).source
    try:
        out = format_source(text, uri_path(uri))
    except CnnError:
        return None  # the diagnostics already say why
    if out == text:
        return []
    lines = text.split("\n")
    end = t.Position(len(lines) - 1, len(lines[-1]))
    return [t.TextEdit(range=t.Range(t.Position(0, 0), end), new_text=out)]


# ---------------------------------------------------------------- inlay hints
@server.feature(t.TEXT_DOCUMENT_INLAY_HINT)
def inlay_hints(ls: CnnServer, params: t.InlayHintParams) -> list[t.InlayHint]:
    if not ls.inlay_hints:
        return []
    doc = current(ls, params.text_document.uri)
    if not doc.checked:
        return []
    first, last = params.range.start.line + 1, params.range.end.line + 1
    return shape_hints(doc, first, last)


def shape_hints(doc: Document, first: int, last: int) -> list[t.InlayHint]:
    """The output shape at the end of each line's last step."""
    ends: dict[int, tuple[int, list[Any]]] = {}
    for span, insts in doc.index().items():
        if not first <= span.end_line <= last:
            continue
        best = ends.get(span.end_line)
        if best is None or span.end_column > best[0]:
            ends[span.end_line] = (span.end_column, list(insts))
        elif span.end_column == best[0]:
            best[1].extend(i for i in insts if i not in best[1])
    out = []
    for line, (col, insts) in sorted(ends.items()):
        shapes: list[str] = []
        for inst in insts:
            text = size_text(inst.node.out_shape)
            if text not in shapes:
                shapes.append(text)
        label = " | ".join(shapes)
        if len(shapes) > 2:  # a block's line, run at several sizes
            label = f"{shapes[0]} … {shapes[-1]} ({len(shapes)} shapes)"
        out.append(
            t.InlayHint(
                position=t.Position(line - 1, col - 1),
                label=f"→ {label}",
                kind=t.InlayHintKind.Type,
                padding_left=True,
            )
        )
    return out


def main() -> None:
    server.start_io()
