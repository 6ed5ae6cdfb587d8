"""The Pygments lexer: registered as ``cnn``, no Error token on any example, the main token
kinds where a reader expects them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.token import Comment, Error, Keyword, Name, Number, Operator, String

from cnndsl.highlight import CnnLexer

EXAMPLES = sorted((ROOT / "examples").glob("*.cnn"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_no_error_tokens_on_examples(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    tokens = list(CnnLexer().get_tokens(text))
    assert [v for t, v in tokens if t is Error] == []
    assert "".join(v for _, v in tokens) == text if text.endswith("\n") else text + "\n"


def test_an_unknown_character_is_an_error_token() -> None:
    assert (Error, "$") in list(CnnLexer().get_tokens("conv $ 3"))


def test_token_kinds() -> None:
    src = (
        'import "blocks.cnn"\n'
        "block B(c, stride = 1) {\n"
        "    conv_dw{i + 7}: conv in.channels 3x3 stride=stride pad=same bias=false  # dw\n"
        "    residual if stride == 1 { relu } -> Foo(c, 1e-3)\n"
        "}\n"
    )
    toks = [(t, v) for t, v in CnnLexer().get_tokens(src) if v.strip()]
    assert (Keyword, "import") in toks and (String.Double, '"blocks.cnn"') in toks
    assert (Name.Class, "B") in toks
    assert (Name.Label, "conv_dw") in toks
    assert (Name.Builtin, "conv") in toks and (Name.Builtin, "relu") in toks
    assert (Name.Variable.Magic, "channels") in toks
    assert (Number.Integer, "3x3") in toks and (Number.Float, "1e-3") in toks
    assert (Name.Attribute, "stride") in toks and (Name.Attribute, "pad") in toks
    assert (Keyword.Constant, "false") in toks
    assert (Comment.Single, "# dw") in toks
    assert (Operator, "->") in toks and (Operator, "==") in toks
    assert (Keyword, "residual") in toks and (Name.Function, "Foo") in toks


def test_registered_with_pygments() -> None:
    assert type(get_lexer_by_name("cnn")).__name__ == "CnnLexer"
    assert type(get_lexer_for_filename("resnet.cnn")).__name__ == "CnnLexer"
    out = subprocess.run(
        [sys.executable, "-m", "pygments", "-l", "cnn", "-f", "html", "-O", "noclasses=false"],
        input="conv 64 3x3 pad=same\n",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert '<span class="nb">conv</span>' in out and '<span class="mi">3x3</span>' in out


# ---------------------------------------------------------------- the VS Code extension
VSCODE = ROOT / "editors" / "vscode"
GRAMMAR = VSCODE / "syntaxes" / "cnn.tmLanguage.json"


def test_textmate_grammar_knows_every_op_and_function() -> None:
    import json
    import re

    from cnndsl.expr import FUNCTIONS
    from cnndsl.ops import REGISTRY

    text = json.dumps(json.loads(GRAMMAR.read_text()))
    ops = re.search(r"\\\\b\(([a-z_0-9|]+)\)\\\\b\", \"name\": \"support.function.op.cnn", text)
    assert ops is not None and set(ops.group(1).split("|")) == set(REGISTRY)
    funcs = re.search(r"\\\\b\(([a-z_0-9|]+)\)\\\\b\", \"name\": \"support.function.builtin", text)
    assert funcs is not None and set(funcs.group(1).split("|")) == set(FUNCTIONS)


@pytest.fixture(scope="module")
def npm_tools() -> Path:
    """editors/vscode/node_modules, installed by ``npm ci`` once (it is git-ignored)."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed (Debian: apt-get install npm)")
    bin_dir = VSCODE / "node_modules" / ".bin"
    lock = VSCODE / "package-lock.json"
    stamp = VSCODE / "node_modules" / ".package-lock.json"
    fresh = stamp.exists() and stamp.stat().st_mtime >= lock.stat().st_mtime
    if not (bin_dir / "vsce").exists() or not fresh:
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=VSCODE, check=True
        )
    return bin_dir


def test_textmate_tokens(npm_tools: Path) -> None:
    """The grammar's assertions (tests/*.test.cnn) with vscode-tmgrammar-test."""
    r = subprocess.run(
        [str(npm_tools / "vscode-tmgrammar-test"), "-g", str(GRAMMAR), "tests/*.test.cnn"],
        cwd=VSCODE,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def _snapshot_scopes(snap: str) -> dict[tuple[int, int], str]:
    """(line, column) -> scopes, from a vscode-tmgrammar-snap snapshot."""
    out: dict[tuple[int, int], str] = {}
    line = 0
    for row in snap.splitlines():
        if row.startswith(">"):
            line += 1
        elif row.startswith("#") and "^" in row:
            start = row.index("^")
            end = start + len(row[start:]) - len(row[start:].lstrip("^"))
            scopes = row[end:].strip()
            for col in range(start - 1, end - 1):
                out[(line, col)] = scopes
    return out


def test_textmate_tokens_on_every_example(npm_tools: Path, tmp_path: Path) -> None:
    """Every example through vscode-tmgrammar-snap: no invalid token, and where Pygments
    sees an op, a keyword, a number or a comment, the TextMate grammar sees the same."""
    for p in EXAMPLES:
        shutil.copy(p, tmp_path / p.name)
    r = subprocess.run(
        [
            str(npm_tools / "vscode-tmgrammar-snap"),
            "-u",
            "-s",
            "source.cnn",
            "-g",
            str(GRAMMAR),
            str(tmp_path / "*.cnn"),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    expected = {
        Name.Builtin: "support.function.op.cnn",
        Comment.Single: "comment.line",
        Number.Integer: "constant.numeric",
        Number.Float: "constant.numeric.float",
        String.Double: "string.quoted.double",
        Name.Label: "entity.name.tag.label",
    }
    checked = 0
    for p in EXAMPLES:
        snap = (tmp_path / f"{p.name}.snap").read_text()
        assert "invalid" not in snap, p.name
        scopes = _snapshot_scopes(snap)
        line, col = 1, 0
        for kind, value in CnnLexer().get_tokens(p.read_text()):
            if kind in expected and value.strip():
                assert expected[kind] in scopes.get((line, col), ""), (p.name, line, value)
                checked += 1
            for ch in value:
                line, col = (line + 1, 0) if ch == "\n" else (line, col + 1)
    assert checked > 2000


def test_vsix_package(npm_tools: Path, tmp_path: Path) -> None:
    """The extension packs into a .vsix with @vscode/vsce (the client's code included)."""
    import zipfile

    out = tmp_path / "cnndsl.vsix"
    r = subprocess.run(
        [str(npm_tools / "vsce"), "package", "--out", str(out)],
        cwd=VSCODE,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    names = set(zipfile.ZipFile(out).namelist())
    for name in (
        "extension/package.json",
        "extension/extension.js",
        "extension/language-configuration.json",
        "extension/syntaxes/cnn.tmLanguage.json",
        "extension/node_modules/vscode-languageclient/package.json",
    ):
        assert name in names
    assert not any(n.startswith("extension/tests/") for n in names)
    node = shutil.which("node")
    if node:
        subprocess.run([node, "--check", str(VSCODE / "extension.js")], check=True)


def test_cnn_code_in_the_docs_is_highlighted() -> None:
    """README.md and docs/language.md tag their .cnn code `cnn`: it lexes without errors."""
    import re

    blocks = []
    for doc in ("README.md", "docs/language.md"):
        text = (ROOT / doc).read_text(encoding="utf-8")
        blocks += re.findall(r"^```cnn\n(.*?)^```", text, flags=re.S | re.M)
    assert len(blocks) >= 4
    for block in blocks:
        assert [v for t, v in CnnLexer().get_tokens(block) if t is Error] == []
