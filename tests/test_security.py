"""Untrusted ``.cnn`` files: no text from a file or its name reaches generated Python except as
a checked identifier or a quoted string, and nothing in it runs when the module is imported.

Every generated file of a corpus of hostile labels, templates, block and network names and
file names is parsed, and its AST is checked against an allow-list: calls only on names the
generated module defines or on a few builtins, no dunder attribute (``__class__``) and no
private attribute of ``nn.Module`` (``_modules``), no dunder names. Then the module is
imported and built, and the payloads' marker file must not exist.
"""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

import pytest
from conftest import EXAMPLES

import cnndsl
from cnndsl.codegen import compile_source
from cnndsl.errors import CnnError
from cnndsl.names import NN_MODULE_ATTRS

MARKER = "cnndsl_security_marker"
PAYLOAD = f"__import__('pathlib').Path('{{root}}/{MARKER}').touch()"

ALLOWED_CALLS = frozenset(
    {"super", "getattr", "setattr", "range", "len", "str", "int", "float", "isinstance", "list"}
    | {"tuple", "max", "min", "round", "abs", "ValueError", "OrderedDict", "Merge", "_pad"}
    | {"_ceil_crop", "_make_divisible"}
)
SAFE_ROOTS = frozenset({"self", "nn", "torch", "F", "math"})


def hostile_sources(root: Path) -> list[tuple[str, str]]:
    payload = PAYLOAD.format(root=root)
    return [
        (
            "template label in an arm no instance takes",
            f'network N(c = 1) {{ input 3x8x8; if c > 5 {{ _modules{{"[0] = {payload} #"}}: '
            "conv 1 1 } ; conv 2 1 }",
        ),
        (
            "string label template, taken",
            f'network N {{ input 3x8x8; repeat 1 as i {{ a{{"{payload}"}}: relu }} }}',
        ),
        (
            "template with a string computed in the hole",
            'network N(c = 1) { input 3x8x8; if c > 5 { repeat 2 as i { a{"x" + "y"}: relu } } '
            "; relu }",
        ),
        ("block named like a builtin", "block eval { relu }\nnetwork N { input 3x8x8; eval() }"),
        ("network named exec", "network exec { input 3x8x8; conv 2 1 }"),
        (
            "dunder-ish labels",
            "network N { input 3x8x8; __class: conv 2 1 ; _modules_: relu }",
        ),
    ]


def check_ast(text: str) -> None:
    tree = ast.parse(text)
    defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef | ast.FunctionDef)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id in ALLOWED_CALLS | defined, ast.unparse(node)
        if isinstance(node, ast.Attribute) and ast.unparse(node) != "super().__init__":
            assert not node.attr.startswith("__"), ast.unparse(node)
            internal = node.attr in NN_MODULE_ATTRS and node.attr.startswith("_")
            assert not internal, ast.unparse(node)
        if isinstance(node, ast.Name):
            assert not (node.id.startswith("__") and node.id.endswith("__")), node.id
            assert node.id not in ("eval", "exec", "open", "compile", "globals", "vars")


@pytest.mark.parametrize("case", range(6))
def test_hostile_names_never_reach_python(tmp_path: Path, case: int) -> None:
    what, source = hostile_sources(tmp_path)[case]
    path = tmp_path / "net.cnn"
    path.write_text(source, encoding="utf-8")
    try:
        text = compile_source(path)
    except CnnError:
        return  # rejected with a position: nothing is generated
    check_ast(text)
    try:
        cnndsl.load(path)
    except CnnError:
        pass
    assert not (tmp_path / MARKER).exists(), what


@pytest.mark.parametrize(
    "name", ['x\nimport os\nos.system("true").cnn', 'a"""b.cnn', "c'\\d\u2028e.cnn"]
)
def test_file_names_never_reach_python(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("network N { input 3x8x8; conv 2 1 }", encoding="utf-8")
    text = compile_source(path)
    check_ast(text)
    tree = ast.parse(text)
    assert [type(n).__name__ for n in tree.body[:2]] == ["Expr", "Import"]
    assert all(ch not in tree.body[0].value.value for ch in '"\n\\')  # type: ignore[attr-defined]


def test_every_example_passes_the_allow_list() -> None:
    for example in EXAMPLES:
        check_ast(compile_source(example))


def test_the_allow_list_catches_a_payload() -> None:
    with pytest.raises(AssertionError):
        check_ast("class N:\n    def f(self):\n        self._modules['x'] = __import__('os')\n")
    assert "exec" in dir(builtins)
