"""``cnndsl lsp`` end to end: a real client (pytest-lsp) talks to ``python -m cnndsl lsp``
over stdio. Reference figures come from outside the server (torch's own layer for a
parameter count, the source text for ranges)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import pytest_lsp
from conftest import ROOT
from lsprotocol import types as t
from pytest_lsp import ClientServerConfig, LanguageClient

RESNET18 = ROOT / "examples" / "resnet18.cnn"
BLOCKS = ROOT / "examples" / "resnet_blocks.cnn"


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=[sys.executable, "-m", "cnndsl", "lsp"])
)
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(
        t.InitializeParams(
            capabilities=t.ClientCapabilities(),
            root_uri=ROOT.as_uri(),
            initialization_options={"inlayHints": True},
        )
    )
    yield
    await lsp_client.shutdown_session()


async def _open(client: LanguageClient, path: Path, text: str | None = None) -> str:
    uri = path.resolve().as_uri()
    client.text_document_did_open(
        t.DidOpenTextDocumentParams(
            t.TextDocumentItem(
                uri=uri,
                language_id="cnn",
                version=1,
                text=path.read_text() if text is None else text,
            )
        )
    )
    await client.wait_for_notification(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    return uri


def _pos(text: str, needle: str, offset: int = 0) -> t.Position:
    """The position of ``needle`` (plus ``offset`` characters) in ``text``."""
    i = text.index(needle) + offset
    line = text.count("\n", 0, i)
    return t.Position(line, i - (text.rfind("\n", 0, i) + 1))


ERROR_SRC = "network N {\n    input 3x32x32\n    conv 8 3x3 stride=0\n    relu\n}\n"


@pytest.mark.asyncio
async def test_error_at_its_range(client: LanguageClient, tmp_path: Path) -> None:
    uri = await _open(client, tmp_path / "bad.cnn", ERROR_SRC)
    (diag,) = client.diagnostics[uri]
    assert diag.severity == t.DiagnosticSeverity.Error
    assert "stride" in diag.message
    start = _pos(ERROR_SRC, "stride=0")
    assert diag.range.start == start
    assert diag.range.end.line == start.line and diag.range.end.character > start.character
    # a fix clears it
    client.text_document_did_change(
        t.DidChangeTextDocumentParams(
            t.VersionedTextDocumentIdentifier(uri=uri, version=2),
            [t.TextDocumentContentChangeWholeDocument(ERROR_SRC.replace("stride=0", "stride=1"))],
        )
    )
    await client.wait_for_notification(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    assert not client.diagnostics[uri]


@pytest.mark.asyncio
async def test_syntax_error_hint_is_related_information(
    client: LanguageClient, tmp_path: Path
) -> None:
    src = "network N {\n    input 3x32x32\n    conv 8 'x'\n}\n"
    uri = await _open(client, tmp_path / "syntax.cnn", src)
    (diag,) = client.diagnostics[uri]
    assert diag.range.start.line == 2
    assert diag.related_information, "the hint travels as related information"
    assert any("hint" in r.message for r in diag.related_information)


@pytest.mark.asyncio
async def test_error_in_an_imported_block_shows_at_the_call(
    client: LanguageClient, tmp_path: Path
) -> None:
    (tmp_path / "lib.cnn").write_text("block B(c) {\n    conv c 9x9\n}\n")
    src = 'import "lib.cnn"\nnetwork N {\n    input 3x8x8\n    B(4)\n}\n'
    uri = await _open(client, tmp_path / "main.cnn", src)
    (diag,) = client.diagnostics[uri]
    assert diag.range.start.line == 3  # the call B(4)
    locations = {r.location.uri for r in diag.related_information or []}
    assert (tmp_path / "lib.cnn").resolve().as_uri() in locations


@pytest.mark.asyncio
async def test_a_changed_import_is_checked_again(client: LanguageClient, tmp_path: Path) -> None:
    lib = tmp_path / "lib.cnn"
    lib.write_text("block B(c) {\n    conv c 3x3\n}\n")
    src = 'import "lib.cnn"\nnetwork N {\n    input 3x8x8\n    B(4)\n}\n'
    uri = await _open(client, tmp_path / "main.cnn", src)
    assert not client.diagnostics[uri]
    lib.write_text("block B(c) {\n    conv c 9x9\n}\n")
    client.workspace_did_change_watched_files(
        t.DidChangeWatchedFilesParams([t.FileEvent(lib.as_uri(), t.FileChangeType.Changed)])
    )
    await client.wait_for_notification(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    (diag,) = client.diagnostics[uri]
    assert diag.range.start.line == 3


@pytest.mark.asyncio
async def test_warning_severity(client: LanguageClient, tmp_path: Path) -> None:
    src = "network N {\n    input 3x32x32\n    conv 8 3 -> bn\n}\n"
    uri = await _open(client, tmp_path / "warn.cnn", src)
    diags = client.diagnostics[uri]
    assert diags and all(d.severity == t.DiagnosticSeverity.Warning for d in diags)
    assert diags[0].range.start.line == 2


@pytest.mark.asyncio
async def test_hover_on_a_conv(client: LanguageClient) -> None:
    torch = pytest.importorskip("torch")
    text = RESNET18.read_text()
    uri = await _open(client, RESNET18)
    assert not client.diagnostics[uri]
    hover = await client.text_document_hover_async(
        t.HoverParams(t.TextDocumentIdentifier(uri), _pos(text, "conv 64 7x7", 1))
    )
    assert hover is not None
    value = hover.contents.value
    assert "`conv1`" in value and "64×112×112" in value
    params = sum(p.numel() for p in torch.nn.Conv2d(3, 64, 7, bias=False).parameters())
    assert f"params {params:,}" in value
    assert "RF 7×7" in value
    assert "stride=1" in value  # the op's signature from its table


@pytest.mark.asyncio
async def test_hover_on_a_block_call(client: LanguageClient) -> None:
    text = RESNET18.read_text()
    uri = await _open(client, RESNET18)
    hover = await client.text_document_hover_async(
        t.HoverParams(t.TextDocumentIdentifier(uri), _pos(text, "BasicBlock(128, stride=2)", 2))
    )
    assert hover is not None
    value = hover.contents.value
    assert "block BasicBlock(c, stride = 1)" in value
    assert "Two 3x3 convolutions" in value  # the block's leading comment
    assert "`layer2.0`" in value and "128×28×28" in value


@pytest.mark.asyncio
async def test_a_block_file_shows_its_instances_in_an_open_importer(
    client: LanguageClient,
) -> None:
    await _open(client, ROOT / "examples" / "resnet50.cnn")
    blocks = BLOCKS.read_text()
    uri = await _open(client, BLOCKS)
    hover = await client.text_document_hover_async(
        t.HoverParams(t.TextDocumentIdentifier(uri), _pos(blocks, "conv2: conv c 3x3 stride", 8))
    )
    assert hover is not None
    assert "`layer1.0.conv2` (ResNet50): output **64×56×56**" in hover.contents.value
    line = _pos(blocks, "conv2: conv c 3x3 stride").line
    hints = await client.text_document_inlay_hint_async(
        t.InlayHintParams(
            t.TextDocumentIdentifier(uri), t.Range(t.Position(line, 0), t.Position(line + 1, 0))
        )
    )
    assert hints and hints[0].label == "→ 64×56×56 … 512×7×7 (4 shapes)"


@pytest.mark.asyncio
async def test_definition_of_a_block_and_an_import(client: LanguageClient) -> None:
    text = RESNET18.read_text()
    uri = await _open(client, RESNET18)
    loc = await client.text_document_definition_async(
        t.DefinitionParams(t.TextDocumentIdentifier(uri), _pos(text, "BasicBlock(64)", 3))
    )
    assert isinstance(loc, t.Location) and loc.uri == BLOCKS.resolve().as_uri()
    blocks = BLOCKS.read_text()
    assert loc.range.start == _pos(blocks, "block BasicBlock")
    loc = await client.text_document_definition_async(
        t.DefinitionParams(
            t.TextDocumentIdentifier(uri), _pos(text, 'import "resnet_blocks.cnn"', 10)
        )
    )
    assert isinstance(loc, t.Location) and loc.uri == BLOCKS.resolve().as_uri()


@pytest.mark.asyncio
async def test_definition_of_a_bound_tensor(client: LanguageClient) -> None:
    path = ROOT / "examples" / "conv1d.cnn"
    text = path.read_text()
    uri = await _open(client, path)
    loc = await client.text_document_definition_async(
        t.DefinitionParams(t.TextDocumentIdentifier(uri), _pos(text, "concat(fine", 8))
    )
    assert isinstance(loc, t.Location) and loc.range.start == _pos(text, "fine = conv")


async def _complete(client: LanguageClient, uri: str, pos: t.Position) -> list[str]:
    result = await client.text_document_completion_async(
        t.CompletionParams(t.TextDocumentIdentifier(uri), pos)
    )
    assert isinstance(result, t.CompletionList)
    return [i.label for i in result.items]


@pytest.mark.asyncio
async def test_completion(client: LanguageClient, tmp_path: Path) -> None:
    src = (
        'import "lib.cnn"\n'
        "network N {\n"
        "    input 3x32x32\n"
        "    x = conv 8 3\n"
        "    conv 8 3 pad=\n"
        "    conv in.\n"
        "    maxpool 2 \n"
        "    \n"
        "}\n"
    )
    (tmp_path / "lib.cnn").write_text("block Stem(c, stride = 1) {\n    conv c 3\n}\n")
    uri = await _open(client, tmp_path / "c.cnn", src)
    labels = await _complete(client, uri, _pos(src, "pad=", 4))
    assert {"same", "valid", "full"} <= set(labels)
    labels = await _complete(client, uri, _pos(src, "in.", 3))
    assert {"channels", "height", "width"} <= set(labels)
    labels = await _complete(client, uri, _pos(src, "maxpool 2 ", 10))
    assert {"stride=", "pad=", "ceil="} <= set(labels)
    labels = await _complete(client, uri, t.Position(7, 4))
    assert {"conv", "relu", "Stem", "x", "residual", "concat"} <= set(labels)


@pytest.mark.asyncio
async def test_symbols_formatting_and_inlay_hints(client: LanguageClient, tmp_path: Path) -> None:
    src = "network N {\ninput 3x32x32\n  stem: conv 8 3 pad = 1 -> relu # s\n}\n"
    uri = await _open(client, tmp_path / "f.cnn", src)
    symbols = await client.text_document_document_symbol_async(
        t.DocumentSymbolParams(t.TextDocumentIdentifier(uri))
    )
    assert symbols and symbols[0].name == "N"
    assert [c.name for c in symbols[0].children or []] == ["stem"]
    edits = await client.text_document_formatting_async(
        t.DocumentFormattingParams(
            t.TextDocumentIdentifier(uri), t.FormattingOptions(tab_size=4, insert_spaces=True)
        )
    )
    assert edits and edits[0].new_text == (
        "network N {\n    input 3x32x32\n    stem: conv 8 3 pad=1 -> relu  # s\n}\n"
    )
    hints = await client.text_document_inlay_hint_async(
        t.InlayHintParams(
            t.TextDocumentIdentifier(uri), t.Range(t.Position(0, 0), t.Position(4, 0))
        )
    )
    assert hints and [(h.position, h.label) for h in hints] == [(t.Position(2, 32), "→ 8×32×32")]
    client.workspace_did_change_configuration(
        t.DidChangeConfigurationParams(settings={"cnndsl": {"inlayHints": False}})
    )
    hints = await client.text_document_inlay_hint_async(
        t.InlayHintParams(
            t.TextDocumentIdentifier(uri), t.Range(t.Position(0, 0), t.Position(4, 0))
        )
    )
    assert not hints


def test_every_op_has_its_meaning() -> None:
    from cnndsl.lsp.analysis import op_doc
    from cnndsl.lsp.opdocs import OP_DOCS
    from cnndsl.ops import REGISTRY

    missing = sorted(op.name for op in REGISTRY.values() if op.name not in OP_DOCS)
    assert missing == []
    for name in REGISTRY:
        head = op_doc(name).split("\n\n")[1]
        assert head.startswith(f"**{REGISTRY[name].name}** — "), head
    assert "same" in op_doc("conv") or "pad=0" in op_doc("conv")
    assert "Dropout" in op_doc("dropout2d") or "channel dropout" in op_doc("dropout2d")


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.cnn")), ids=lambda p: p.name)
def test_a_half_typed_file_never_breaks_the_server(path: Path) -> None:
    """Every feature on cuts of an example (as while typing): answers, never an exception."""
    from cnndsl.lsp import server
    from cnndsl.lsp.analysis import analyze_document, hover_text

    src = path.read_text()
    for k in (1, 2, 3, 4, 5):
        cut = src[: len(src) * k // 6]
        doc = analyze_document(str(path), cut)
        assert doc.diagnostics or doc.networks or doc.tree is not None
        lines = cut.split("\n")
        for n, line in enumerate(lines, 1):
            for col in range(1, len(line) + 2, 5):
                hover_text(doc, n, col)
            server.complete(doc, line, n)
        server.diagnostics(doc, path.as_uri())
        if doc.networks:
            server.shape_hints(doc, 1, len(lines))
        if doc.tree is not None:
            server._labelled(doc.tree)


def test_the_readme_emacs_setup(tmp_path: Path) -> None:
    """The README's eglot configuration, in a real Emacs (skipped where none is installed):
    it opens a file in cnn-mode, connects to cnndsl lsp and shows the diagnostic."""
    import re
    import shutil
    import subprocess

    emacs = shutil.which("emacs")
    if emacs is None:
        pytest.skip("emacs is not installed")
    elisp = re.search(r"```elisp\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert elisp is not None
    (tmp_path / "init.el").write_text(elisp.group(1))
    (tmp_path / "bad.cnn").write_text(ERROR_SRC)
    bin_dir = Path(sys.executable).parent
    (tmp_path / "run.el").write_text(
        f"""
(setenv "PATH" (concat "{bin_dir}:" (getenv "PATH")))
(setq exec-path (cons "{bin_dir}" exec-path))
(package-initialize)
(require 'eglot)
(load "{tmp_path / "init.el"}")
(find-file "{tmp_path / "bad.cnn"}")
(run-hooks 'post-command-hook)  ; eglot-ensure connects after the command
(let ((deadline (+ (float-time) 60)))
  (while (and (< (float-time) deadline) (null (flymake-diagnostics)))
    (accept-process-output nil 0.2)
    (flymake-start)))
(message "MODE %s" major-mode)
(dolist (d (flymake-diagnostics))
  (message "DIAG %d:%d %s" (line-number-at-pos (flymake-diagnostic-beg d))
           (save-excursion (goto-char (flymake-diagnostic-beg d)) (current-column))
           (flymake-diagnostic-text d)))
(kill-emacs 0)
"""
    )
    r = subprocess.run(
        [emacs, "--batch", "-l", str(tmp_path / "run.el")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    out = r.stdout + r.stderr
    if "Cannot open load file" in out and "eglot" in out:
        pytest.skip("eglot is not installed (Emacs 29 has it; Debian: elpa-eglot)")
    assert "MODE cnn-mode" in out
    start = _pos(ERROR_SRC, "stride=0")
    assert f"DIAG {start.line + 1}:{start.character} " in out, out


def test_the_readme_neovim_setup(tmp_path: Path) -> None:
    """The README's vim.lsp configuration in a real Neovim 0.11+ (skipped where none is
    installed): filetype, client, the diagnostic at its place, a hover and an inlay hint."""
    import re
    import shutil
    import subprocess

    nvim = shutil.which("nvim")
    if nvim is None:
        pytest.skip("nvim is not installed")
    version = subprocess.run([nvim, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"NVIM v0\.(\d+)", version)
    if m is None or int(m.group(1)) < 11:
        pytest.skip(f"vim.lsp.config needs Neovim 0.11 ({version.splitlines()[0]})")
    lua = re.search(r"```lua\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert lua is not None
    (tmp_path / "init.lua").write_text(lua.group(1))
    (tmp_path / "bad.cnn").write_text(ERROR_SRC)
    (tmp_path / "good.cnn").write_text(ERROR_SRC.replace("stride=0", "stride=1"))
    (tmp_path / "check.lua").write_text(
        """
vim.wait(30000, function() return #vim.lsp.get_clients({ bufnr = 0 }) > 0 end, 50)
local client = vim.lsp.get_clients({ bufnr = 0 })[1]
local uri = vim.uri_from_bufnr(0)
vim.wait(30000, function() return #vim.diagnostic.get(0) > 0 end, 50)
for _, d in ipairs(vim.diagnostic.get(0)) do print(string.format("DIAG %d:%d", d.lnum, d.col)) end
vim.cmd("edit " .. vim.fn.fnameescape(vim.fn.expand("%:h") .. "/good.cnn"))
vim.wait(30000, function() return #vim.lsp.get_clients({ bufnr = 0 }) > 0 end, 50)
local td = { uri = vim.uri_from_bufnr(0) }
local hover = client:request_sync("textDocument/hover",
  { textDocument = td, position = { line = 2, character = 5 } }, 20000, 0)
print("HOVER " .. hover.result.contents.value:gsub("\\n", " "))
local whole = { start = { line = 0, character = 0 }, ["end"] = { line = 4, character = 0 } }
local hints = client:request_sync("textDocument/inlayHint",
  { textDocument = td, range = whole }, 20000, 0)
print("HINT " .. hints.result[1].label)
vim.cmd("qa!")
"""
    )
    r = subprocess.run(
        [nvim, "--headless", "-u", str(tmp_path / "init.lua"), str(tmp_path / "bad.cnn"),
         "-c", f"luafile {tmp_path / 'check.lua'}"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
             "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config")},
    )  # fmt: skip
    out = r.stdout + r.stderr
    start = _pos(ERROR_SRC, "stride=0")
    assert f"DIAG {start.line}:{start.character}" in out, out
    assert "8×30×30" in out.split("HOVER", 1)[1], out
    assert "HINT → 8×30×30" in out, out


def test_op_docs_follow_the_language_reference() -> None:
    """cnndsl/lsp/opdocs.py holds §8's table of docs/language.md (the package ships no docs):
    each row's positional arguments, keywords and meaning, unchanged."""
    import re

    from cnndsl.lsp.opdocs import OP_DOCS

    text = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    section = text.split("\n## 8.", 1)[1].split("\n## 9.", 1)[0]
    rows = 0
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        first, positional, keywords = (c.strip() for c in line.strip("|").split("|")[:3])
        meaning = re.search(r"\(([^)]*)\)", first)
        for name in re.findall(r"`([a-z_0-9]+)`", first):
            doc = OP_DOCS[name]
            assert doc["positional"] == positional and doc["keywords"] == keywords, name
            if meaning:
                assert doc["meaning"] == re.sub(r"`([^`]*)`", r"\1", meaning.group(1)), name
            rows += 1
    assert rows == len(OP_DOCS)
