"""The diagnostics corpus: every file in ``tests/fixtures/errors/`` is a bad program.

Each case is headed by comment lines that say what ``cnndsl check`` must report::

    # error: unknown op 'cnov'          (a substring of the error message line)
    # at: 3:5                           (LINE:COL of the reported position)
    # hint: did you mean 'conv'?        (optional: a substring of the hint line)

The header lines are lines of the file, so positions refer to the file as written.
``# at:`` may name another file, relative to the case's folder, when the error belongs
there (``# at: support/cycle_b.cnn:1:1``). Files under ``support/`` are companions
(imported by the cases), not cases.

Every case must exit with status 1, print ``path:line:col: error: message`` as the first
line of stderr, a caret line under the span, the hint when one is expected, and never a
traceback. The whole corpus is also run through a real subprocess, where a hang is a
failure too.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from cnndsl.cli import main

FIXTURES = (Path(__file__).parent / "fixtures" / "errors").resolve()
CASES = sorted(FIXTURES.glob("*.cnn"), key=lambda p: p.name)
TIMEOUT_S = 30
CARET = re.compile(r"^ *\^+$")


@dataclass(frozen=True)
class Expect:
    error: str
    file: str
    line: int
    column: int
    hint: str | None


def expectation(path: Path) -> Expect:
    """Read the ``# error:`` / ``# at:`` / ``# hint:`` header of a case."""
    fields: dict[str, str] = {}
    for text in path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"#\s*(error|at|hint):\s?(.*)$", text)
        if m:
            fields.setdefault(m.group(1), m.group(2).strip())
        elif not text.startswith("#"):
            break
    assert "error" in fields, f"{path.name}: no '# error:' header"
    assert "at" in fields, f"{path.name}: no '# at:' header"
    m = re.fullmatch(r"(?:(.+):)?(\d+):(\d+)", fields["at"])
    assert m, f"{path.name}: '# at:' must be LINE:COL or FILE:LINE:COL, got {fields['at']!r}"
    where = str(path) if m.group(1) is None else str((path.parent / m.group(1)).resolve())
    return Expect(fields["error"], where, int(m.group(2)), int(m.group(3)), fields.get("hint"))


def check_output(path: Path, status: int, stderr: str) -> None:
    """Assert that one run of ``cnndsl check`` reported the case as its header says."""
    want = expectation(path)
    assert "Traceback" not in stderr, f"traceback:\n{stderr}"
    assert status == 1, f"exit status {status}, expected 1; stderr:\n{stderr}"
    lines = stderr.splitlines()
    assert lines, "nothing on stderr"
    prefix = f"{want.file}:{want.line}:{want.column}: error:"
    assert lines[0].startswith(prefix), f"expected {prefix!r}…, got:\n{stderr}"
    assert want.error in lines[0], f"expected {want.error!r} in the message, got:\n{stderr}"
    assert any(CARET.match(line) for line in lines[1:4]), f"no caret line:\n{stderr}"
    if want.hint is not None:
        hints = [line for line in lines if line.startswith("hint: ")]
        assert hints, f"expected a hint containing {want.hint!r}, got none:\n{stderr}"
        assert any(want.hint in h for h in hints), (
            f"expected a hint containing {want.hint!r}, got:\n{stderr}"
        )


class _Hang(BaseException):
    """Raised by the alarm; a BaseException so that ``main`` cannot swallow it."""


def _alarm(signum, frame):
    raise _Hang()


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_diagnostic(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    use_alarm = hasattr(signal, "setitimer")
    if use_alarm:
        old = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, TIMEOUT_S)
    status: int | None = None
    try:
        status = main(["check", str(path)])
    except _Hang:
        pass
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
    captured = capsys.readouterr()
    if status is None:
        pytest.fail(f"`cnndsl check` did not finish within {TIMEOUT_S} s")
    assert "Traceback" not in captured.out
    check_output(path, status, captured.err)


def _run(path: Path) -> tuple[Path, str | None]:
    """Run one case in a subprocess; returns a description of what went wrong, or None."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env.pop("CNNDSL_DEBUG", None)
    try:
        r = subprocess.run(
            [sys.executable, "-m", "cnndsl", "check", str(path)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return path, f"timed out after {TIMEOUT_S} s"
    if "Traceback" in r.stderr or "Traceback" in r.stdout:
        return path, f"traceback:\n{r.stderr}"
    if r.returncode != 1:
        return path, f"exit status {r.returncode}:\n{r.stdout}{r.stderr}"
    return path, None


def test_corpus_in_subprocess() -> None:
    workers = max(2, min(8, os.cpu_count() or 2))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(_run, CASES))
    failures = [f"{p.name}: {why}" for p, why in results if why is not None]
    assert not failures, f"{len(failures)} of {len(CASES)} cases failed:\n" + "\n".join(failures)


def test_corpus_size() -> None:
    assert len(CASES) >= 30, f"only {len(CASES)} cases in {FIXTURES}"
    for path in CASES:
        expectation(path)  # every case has a well-formed header
