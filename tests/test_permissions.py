"""Permissions, checked as an unprivileged user (issue 11): CI runs as root, for whom every
file is readable and every folder writable, so these commands run as ``nobody`` through
``setpriv`` when the tests run as root (and as the current user otherwise).

Each refused read or write is one clear line with exit status 1, no traceback, and nothing
the user had is changed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

CNNDSL = str(Path(sys.executable).with_name("cnndsl"))
NOBODY = 65534
SOURCE = "network N {\n    input 3x8x8\n    conv 4 3x3\n}\n"


@pytest.fixture
def place() -> Iterator[Path]:
    """A folder everyone can read (pytest's own tmp folders are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="cnndsl-perm-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def run_unprivileged(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv")
        prefix = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "LANG": "C.UTF-8"}
    return subprocess.run(
        [*prefix, CNNDSL, *args], capture_output=True, text=True, env=env, cwd="/", timeout=120
    )


def _home(place: Path) -> Path:
    home = place / "home"
    home.mkdir(mode=0o777)
    home.chmod(0o777)
    return home


def _refused(result: subprocess.CompletedProcess[str], words: str) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert words in result.stderr, result.stderr


def test_unreadable_file(place: Path) -> None:
    src = place / "secret.cnn"
    src.write_text(SOURCE)
    src.chmod(0o600 if os.geteuid() == 0 else 0o000)
    result = run_unprivileged(["check", str(src)], _home(place))
    _refused(result, "cannot read")
    assert "Permission denied" in result.stderr


@pytest.mark.parametrize(
    "command, target",
    [
        (["compile"], "model.py"),
        (["render", "--format", "svg"], "model.svg"),
    ],
)
def test_output_into_a_folder_without_write_permission(
    place: Path, command: list[str], target: str
) -> None:
    src = place / "net.cnn"
    src.write_text(SOURCE)
    src.chmod(0o644)
    locked = place / "locked"
    locked.mkdir()
    old = locked / target
    old.write_text("the user's file\n")
    old.chmod(0o644)
    locked.chmod(0o755 if os.geteuid() == 0 else 0o555)
    result = run_unprivileged([*command, str(src), "-o", str(old), "--force"], _home(place))
    _refused(result, str(locked))
    assert old.read_text() == "the user's file\n"
    assert sorted(p.name for p in locked.iterdir()) == [target]  # no temporary left behind
    locked.chmod(0o755)


def test_unwritable_cache_folder_still_checks(place: Path) -> None:
    src = place / "net.cnn"
    src.write_text(SOURCE)
    src.chmod(0o644)
    home = place / "readonly-home"
    home.mkdir()
    home.chmod(0o755 if os.geteuid() == 0 else 0o555)
    result = run_unprivileged(["check", str(src)], home)
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout
    assert not (home / ".cache").exists()
