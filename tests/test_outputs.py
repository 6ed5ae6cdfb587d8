"""Nothing of the user's is lost: the one output writer (cnndsl/fileutil.py) through the CLI.

Every unwritable output is a one-line error with exit 1 (never an internal error), an input is
never overwritten, two inputs never share an output, links are written through, FIFOs and
devices are written directly, and temporaries of a killed write are cleaned up.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT

from cnndsl.cli import main

LENET = ROOT / "examples" / "lenet5.cnn"


@pytest.fixture
def net(tmp_path: Path) -> Path:
    path = tmp_path / "net.cnn"
    path.write_bytes(LENET.read_bytes())
    return path


def test_an_input_is_never_an_output(net: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for command in (["summary"], ["ir"], ["render", "--format", "dot"]):
        assert main([*command, str(net), "-o", str(net)]) == 1
        assert "it is an input" in capsys.readouterr().err
        assert net.read_bytes() == LENET.read_bytes()


def test_two_inputs_never_share_an_output(tmp_path: Path) -> None:
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "net.cnn").write_bytes(LENET.read_bytes())
    out = tmp_path / "gen"
    files = [str(tmp_path / d / "net.cnn") for d in ("a", "b")]
    assert main(["compile", *files, "-o", str(out)]) == 1
    assert not out.exists()


@pytest.mark.parametrize("target", ["/dev/full", "folder"])
def test_unwritable_outputs_are_errors(
    net: Path, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = net.parent / target if target == "folder" else Path(target)
    if target == "folder":
        out.mkdir()
    assert main(["summary", str(net), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"cnndsl: error: cannot write {out}: ")
    assert "internal error" not in err and "Traceback" not in err


def test_a_size_limit_is_an_error_and_the_old_file_stays(net: Path) -> None:
    """A full disk, as RLIMIT_FSIZE makes it: the write fails, the previous file is intact."""
    out = net.parent / "table.txt"
    out.write_text("the previous table\n")

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (200, 200))

    proc = subprocess.run(
        [sys.executable, "-m", "cnndsl", "summary", str(net), "-o", str(out)],
        capture_output=True,
        text=True,
        preexec_fn=limit,
    )
    assert proc.returncode == 1, proc.stderr
    assert "cannot write" in proc.stderr and "the previous table.txt is intact" in proc.stderr
    assert out.read_text() == "the previous table\n"
    assert [p.name for p in net.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_links_are_written_through_and_fifos_directly(net: Path) -> None:
    target = net.parent / "target.txt"
    link = net.parent / "link.txt"
    link.symlink_to(target.name)
    assert main(["summary", str(net), "-o", str(link)]) == 0
    assert link.is_symlink() and target.read_text().startswith("LeNet5")
    fifo = net.parent / "pipe"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE, text=True)
    assert main(["ir", str(net), "-o", str(fifo)]) == 0
    out, _ = reader.communicate(timeout=30)
    assert out.startswith("network LeNet5") and fifo.exists() and not fifo.is_file()


def test_stale_temporaries_of_a_killed_write_are_removed(net: Path) -> None:
    out = net.parent / "table.txt"
    stale = net.parent / ".table.txt.abc123.tmp"
    fresh = net.parent / ".table.txt.def456.tmp"  # another write may be running right now
    stale.write_bytes(b"x" * 1000)
    fresh.write_bytes(b"y")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    assert main(["summary", str(net), "-o", str(out)]) == 0
    assert not stale.exists() and fresh.exists() and out.is_file()


def test_compile_does_not_crash_on_an_output_that_is_not_text(net: Path) -> None:
    out = net.parent / "gen"
    out.mkdir()
    (out / "net.py").write_bytes(b"\xff\xfe not utf-8")
    assert main(["compile", str(net), "-o", str(out)]) == 1
    assert (out / "net.py").read_bytes() == b"\xff\xfe not utf-8"


def test_sigterm_saves_like_ctrl_c(tmp_path: Path) -> None:
    """A scheduler's SIGTERM: the run saves interrupted.pt, says so, and exits 143."""
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cnndsl",
            "train",
            str(LENET),
            "--epochs",
            "200",
            "--out",
            str(run_dir),
        ],  # fmt: skip
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not (run_dir / "metrics.jsonl").exists() and time.monotonic() < deadline:
        time.sleep(0.2)  # one epoch done: the run is in its loop
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert (run_dir / "interrupted.pt").is_file()
    assert "interrupted in epoch" in err and "Traceback" not in err
