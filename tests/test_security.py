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
    | {"_ceil_crop", "_make_divisible", "sum"}  # sum: of the file's own lists (sum(depths))
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
    # the children of a container, called in turn: `for layer in self.values(): x = layer(x)`
    defined |= {
        n.target.id
        for n in ast.walk(tree)
        if isinstance(n, ast.For)
        and isinstance(n.target, ast.Name)
        and ast.unparse(n.iter) in ("self", "self.values()", "self.children()")
    }
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


class _Payload:
    """Pickles as a call to ``pathlib.Path(marker).touch()``: runs on a plain pickle.load."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):  # type: ignore[no-untyped-def]
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_a_planted_cifar_batch_does_not_run(tmp_path: Path) -> None:
    import pickle

    import numpy as np

    from cnndsl.training.data import load_data

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    marker = tmp_path / MARKER
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    good = load_data({"name": "cifar10", "root": str(tmp_path)}, (3, 32, 32))
    assert good.train.x.shape == (10, 3, 32, 32)
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": _Payload(marker), b"labels": []}))
    pickle.loads((folder / "test_batch").read_bytes())  # the planted file does run …
    assert marker.exists()
    marker.unlink()
    with pytest.raises(CnnError, match="not a CIFAR-10 batch: refusing pathlib"):
        load_data({"name": "cifar10", "root": str(tmp_path)}, (3, 32, 32))
    assert not marker.exists()  # … but not through cnndsl


@pytest.mark.parametrize("target", ["/etc/passwd", "/proc/self/environ", "other.txt"])
def test_imports_take_cnn_files_only(tmp_path: Path, target: str) -> None:
    (tmp_path / "other.txt").write_text("SECRET=1\n")
    path = tmp_path / "net.cnn"
    path.write_text(f'import "{target}"\nnetwork N {{ input 1x8; relu }}\n')
    with pytest.raises(CnnError, match="imports name .cnn files") as err:
        compile_source(path)
    assert err.value.span is not None and err.value.span.file == str(path)


def test_an_import_that_does_not_parse_is_not_quoted(tmp_path: Path) -> None:
    (tmp_path / "secret.cnn").write_text("TOKEN=abc123\n")
    path = tmp_path / "net.cnn"
    path.write_text('import "secret.cnn"\nnetwork N { input 1x8; relu }\n')
    with pytest.raises(CnnError) as err:
        compile_source(path)
    assert "abc123" not in str(err.value) and err.value.span.file == str(path)  # type: ignore[union-attr]


def test_the_parser_cache_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import tempfile

    from cnndsl.parser import cache_file

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = cache_file()
    assert path is not None and path.parent == tmp_path / "cache" / "cnndsl"
    assert not str(path).startswith(tempfile.gettempdir() + os.sep + ".lark")
    assert path.parent.stat().st_mode & 0o777 == 0o700
    path.parent.chmod(0o755)  # a folder others can write to is not used
    assert cache_file() is None


def test_an_image_that_claims_too_many_pixels_is_an_error(tmp_path: Path) -> None:
    """A PNG header can claim 30000×30000 pixels in a few bytes (a decompression bomb)."""
    import struct
    import zlib

    from cnndsl.training.data import read_image

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    for side in (30000, 9000):  # past PIL's own bomb limit, and past only cnndsl's
        header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
        png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")
        path = tmp_path / f"bomb{side}.png"
        path.write_bytes(png)
        with pytest.raises(CnnError, match="claims more pixels than the limit"):
            read_image(path, 1, (8, 8))


@pytest.mark.parametrize("lr", ["nan", "-1", "inf", "0"])
def test_bad_learning_rates_are_refused(lr: str, capsys: pytest.CaptureFixture[str]) -> None:
    from cnndsl.cli import main

    assert main(["train", str(EXAMPLES[0]), "--lr", lr]) == 2
    assert "expected a positive number" in capsys.readouterr().err
