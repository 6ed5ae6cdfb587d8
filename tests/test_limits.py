"""Resource bounds of the front end (docs/language.md, "Bounds"): each is a positioned error,
enforced early, and a file at the size limit is checked in bounded memory, linear in the
input (the memory is measured in a child process; time goes to bench/, never asserted)."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

from cnndsl import parser
from cnndsl.errors import CnnError

CHILD = """
import resource, sys
from cnndsl.api import analyze
from cnndsl.errors import CnnError
try:
    analyze(sys.argv[1])
    print("ok")
except CnnError as exc:
    print("error", exc.message)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _check_in_child(path: Path) -> tuple[str, int]:
    """(first output line, peak resident KiB) of checking ``path`` in a fresh process."""
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    return out[0], int(out[-1])


def _baseline(tmp_path: Path) -> int:
    small = tmp_path / "small.cnn"
    small.write_text("network N {\n input 3x8x8\n relu\n}\n")
    return _check_in_child(small)[1]


@pytest.mark.parametrize(
    "name, body, outcome",
    [
        # 4 MB of blank lines: one newline token, not one per line
        ("blank", "\n" * (4_000_000), "ok"),
        # a 4 MB string literal: refused at the literal, after a linear scan
        ("string", 'let s = "' + "a" * 4_000_000 + '"\n', "error string longer than 4096"),
        # 4 MB of comments
        ("comments", ("# " + "x" * 78 + "\n") * 50_000, "ok"),
    ],
)
def test_file_at_the_size_limit_stays_small(
    tmp_path: Path, name: str, body: str, outcome: str
) -> None:
    path = tmp_path / f"{name}.cnn"
    path.write_text("network N {\n input 3x8x8\n" + body + "relu\n}\n")
    assert path.stat().st_size <= parser.MAX_FILE_BYTES
    line, peak_kib = _check_in_child(path)
    assert line.startswith(outcome)
    # memory linear in the input with a small factor: under 64 MiB above an empty check
    assert peak_kib - _baseline(tmp_path) < 64 * 1024


def test_file_over_the_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.cnn"
    path.write_text("#" * (parser.MAX_FILE_BYTES + 1))
    with pytest.raises(CnnError, match="larger than the limit of 4 MiB") as info:
        parser.parse_file(path)
    assert (info.value.span.line, info.value.span.column) == (1, 1)  # type: ignore[union-attr]


def test_token_limit_is_a_positioned_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parser, "MAX_TOKENS", 100)
    src = "network N {\n input 3x8x8\n" + "relu\n" * 60 + "}\n"
    with pytest.raises(CnnError, match="more than 100 tokens") as info:
        parser.parse(src)
    # 7 tokens for the first two lines (newlines included), then 2 per `relu` line: token 101
    # is the newline that ends the 47th `relu`, on line 49
    assert info.value.span.line == 49  # type: ignore[union-attr]


def test_peak_memory_is_measured_in_kib() -> None:
    # ru_maxrss is KiB on Linux (the unit the assertions above rely on)
    assert sys.platform.startswith("linux")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss > 1024
