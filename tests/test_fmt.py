"""``cnndsl fmt``: meaning kept (summary JSON, errors), idempotent, comments and blank lines
kept, trailing comments and block-call tables aligned; the command's modes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from cnndsl.api import summary_json
from cnndsl.errors import CnnError
from cnndsl.fmt import format_source
from cnndsl.parser import parse

EXAMPLES = sorted((ROOT / "examples").glob("*.cnn"))
FIXTURES = sorted((ROOT / "tests" / "fixtures").rglob("*.cnn"))


def _parses(path: Path) -> bool:
    try:
        parse(path.read_text(encoding="utf-8"), str(path))
    except CnnError:
        return False
    return True


PARSING = [p for p in EXAMPLES + FIXTURES if _parses(p)]


def _meaning(path: Path, source: str | None) -> object:
    """The summary JSON, or the error's message, line and hint (columns move)."""
    try:
        if source is None:
            return summary_json(path)
        return summary_json(source=source, filename=str(path))
    except CnnError as exc:
        d = exc.diagnostic
        return ("error", d.message, d.span.line, d.hint)


def _id(p: Path) -> str:
    return str(p.relative_to(ROOT))


@pytest.mark.parametrize("path", PARSING, ids=_id)
def test_meaning_and_idempotence(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    out = format_source(text, str(path))
    assert format_source(out, str(path)) == out  # idempotent
    assert parse(out, str(path)) == parse(text, str(path))  # the same tree (spans aside)
    assert _meaning(path, out) == _meaning(path, None)
    # every comment, in order, and the line count
    comments = [ln.split("#", 1)[1].rstrip() for ln in text.splitlines() if "#" in ln]
    kept = [ln.split("#", 1)[1].rstrip() for ln in out.splitlines() if "#" in ln]
    assert kept == comments
    assert out.rstrip("\n").count("\n") == text.rstrip("\n").count("\n")


def test_there_is_something_to_format() -> None:
    assert len(PARSING) > 100
    assert len([p for p in PARSING if "fixtures" in str(p)]) > 80


def test_examples_are_formatted() -> None:
    bad = [p.name for p in EXAMPLES if format_source(p.read_text(), str(p)) != p.read_text()]
    assert bad == []


def test_layout() -> None:
    src = (
        "# a file\n"
        "\n"
        "\n"
        "block A(c, s=1) {   # opens\n"
        "  let  y = c*2+ -1\n"
        "  conv_dw{i+7}: conv c 3x3 stride = s pad=(  ( 3-1)//2 ) -> relu # a\n"
        "  z=conv (y) 1   # a longer comment\n"
        "     residual if s==1 and in . channels==c {\n"
        "  relu\n"
        "  } shortcut {\n"
        "   conv c 1 ->\n"
        "   bn\n"
        "  }\n"
        "}\n"
        "\n"
        "network N(k = 2) {\n"
        "    input 3x32x32\n"
        "    a: A(1,2, s=1) # c\n"
        "    bb: A(16,2, s=k)\n"
        "    { relu ->\n"
        "  relu }\n"
        "}\n\n\n"
    )
    assert format_source(src) == (
        "# a file\n"
        "\n"
        "\n"
        "block A(c, s = 1) {                                                 # opens\n"
        "    let y = c * 2 + -1\n"
        "    conv_dw{i + 7}: conv c 3x3 stride=s pad=((3 - 1) // 2) -> relu  # a\n"
        "    z = conv (y) 1                                                  # a longer comment\n"
        "    residual if s == 1 and in.channels == c {\n"
        "        relu\n"
        "    } shortcut {\n"
        "        conv c 1 ->\n"
        "            bn\n"
        "    }\n"
        "}\n"
        "\n"
        "network N(k = 2) {\n"
        "    input 3x32x32\n"
        "    a:  A( 1, 2, s=1)  # c\n"
        "    bb: A(16, 2, s=k)\n"
        "    { relu ->\n"
        "      relu }\n"
        "}\n"
    )


def test_whitespace_that_matters_is_kept() -> None:
    # `f (x)` is a layer with a parenthesised argument, `f(x)` a call
    src = "network N {\n    input 3x8x8\n    conv (2 * 4) 3\n}\n"
    assert format_source(src) == src


def test_a_syntax_error_is_reported_not_formatted() -> None:
    with pytest.raises(CnnError) as info:
        format_source("network N {\n    input 1x8x8\n    conv 3 3\n")
    assert info.value.diagnostic.span.line == 3


def _cnndsl(*args: str, stdin: str | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cnndsl", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
    )


def test_cli_modes(tmp_path: Path) -> None:
    ugly = "network N {\ninput 1x8x8\n  conv 4 3 pad = same # c\n}\n"
    pretty = format_source(ugly)
    f = tmp_path / "n.cnn"
    f.write_text(ugly)
    r = _cnndsl("fmt", "--check", str(tmp_path))
    assert r.returncode == 1 and "would reformat" in r.stderr and f.read_text() == ugly
    r = _cnndsl("fmt", "--diff", str(f))
    assert r.returncode == 0 and "+    conv 4 3 pad=same  # c" in r.stdout
    assert f.read_text() == ugly
    r = _cnndsl("fmt", "-", stdin=ugly)
    assert r.returncode == 0 and r.stdout == pretty
    r = _cnndsl("fmt", str(f))
    assert r.returncode == 0 and f.read_text() == pretty
    r = _cnndsl("fmt", "--check", str(f))
    assert r.returncode == 0 and r.stderr == ""
    r = _cnndsl("fmt", "-", stdin="network N {\n")
    assert r.returncode == 1 and "<stdin>:1" in r.stderr and "Traceback" not in r.stderr


def test_cli_summary_json_is_unchanged(tmp_path: Path) -> None:
    """The issue's check, through the commands: summary --format json of fmt's output."""
    src = (ROOT / "examples" / "googlenet.cnn").read_text()
    ugly = "".join(
        "  " + code.replace(", ", ",") + sep + comment + "\n"
        for code, sep, comment in (line.partition("#") for line in src.splitlines())
    )
    (tmp_path / "g.cnn").write_text(ugly)
    before = _cnndsl("summary", "--format", "json", "g.cnn", cwd=tmp_path)
    assert _cnndsl("fmt", "g.cnn", cwd=tmp_path).returncode == 0
    after = _cnndsl("summary", "--format", "json", "g.cnn", cwd=tmp_path)
    assert before.returncode == 0 and json.loads(after.stdout) == json.loads(before.stdout)
    assert (tmp_path / "g.cnn").read_text() == src


@pytest.mark.parametrize("path", EXAMPLES, ids=_id)
def test_an_example_comes_back_from_a_careless_layout(path: Path) -> None:
    """Indentation removed, runs of spaces collapsed, no space after commas or around
    arrows: fmt restores the example exactly (the examples are formatted)."""
    src = path.read_text(encoding="utf-8")
    lines = []
    for line in src.split("\n"):
        code, sep, comment = line.partition("#")
        if '"' in code:  # leave strings (and a '#' inside one) alone
            lines.append(line.strip())
            continue
        code = re.sub(r"\s+", " ", code.strip()).replace(", ", ",").replace(" -> ", "->")
        lines.append(code + (" " + sep + comment if sep else ""))
    assert format_source("\n".join(lines), str(path)) == src


def test_second_edition_syntax() -> None:
    """Lists, indexing, slices, `**`, string and keyword labels, sequential blocks, split."""
    src = (
        "block ConvBNAct(c, k, stride=1) = { conv c k stride=stride pad=((k-1)//2) -> bn }\n"
        "network N(widths = [16,32 ,64]) {\n"
        "    input 3x64x64\n"
        "    let w = widths[0]*2**1\n"
        "    let ws = widths[1:]\n"
        '    "0": ConvBNAct(w, 3, stride=2)\n'
        "    block: { conv (ws[ -1]) 1 }\n"
        "    stages: repeat len(ws) as i {\n"
        '        "stage{i}" : ConvBNAct(ws[i],3)\n'
        "    }\n"
        "    split { { identity } ; { identity } } -> gap\n"
        "}\n"
    )
    assert format_source(src) == (
        "block ConvBNAct(c, k, stride = 1) = { conv c k stride=stride pad=((k - 1) // 2) -> bn }\n"
        "network N(widths = [16, 32, 64]) {\n"
        "    input 3x64x64\n"
        "    let w = widths[0] * 2 ** 1\n"
        "    let ws = widths[1:]\n"
        '    "0": ConvBNAct(w, 3, stride=2)\n'
        "    block: { conv (ws[-1]) 1 }\n"
        "    stages: repeat len(ws) as i {\n"
        '        "stage{i}": ConvBNAct(ws[i], 3)\n'
        "    }\n"
        "    split { { identity }; { identity } } -> gap\n"
        "}\n"
    )
