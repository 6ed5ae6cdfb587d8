"""The Pygments lexer: registered as ``cnn``, no Error token on any example, the main token
kinds where a reader expects them."""

from __future__ import annotations

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
