"""Checkpoints from elsewhere, and checkpoints that no longer fit: clear errors (exit 1) that
say what differs and what to do, never PyTorch's traceback or an internal error."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import ROOT

from cnndsl.cli import main

LENET = ROOT / "examples" / "lenet5.cnn"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LeNet-5 run on the digits, stopped after 1 of its 2 epochs."""
    out = tmp_path_factory.mktemp("run") / "lenet"
    assert main(["train", str(LENET), "--epochs", "2", "--stop-after", "1", "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("kind", ["state_dict", "tensor", "other_tool"])
def test_a_checkpoint_of_another_layout_is_an_error(
    run: Path, tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = torch.load(run / "last.pt", weights_only=True)
    foreign = {
        "state_dict": ckpt["model"],
        "tensor": torch.zeros(3),
        "other_tool": {"epoch": 3, "state_dict": ckpt["model"], "optimizer_state": {}},
    }[kind]
    path = tmp_path / f"{kind}.pt"
    torch.save(foreign, path)
    for args in (["eval", str(LENET), "--checkpoint", str(path)],
                 ["predict", str(LENET), "--checkpoint", str(path), str(path)]):  # fmt: skip
        assert main(args) == 1
        err = capsys.readouterr().err
        assert "is not a cnndsl checkpoint: it holds" in err and "internal error" not in err


def test_the_checkpoint_carries_its_format_and_structure(run: Path) -> None:
    ckpt = torch.load(run / "last.pt", weights_only=True)
    assert ckpt["format"] == 1
    assert dict(ckpt["structure"])["c1.weight"] == tuple(ckpt["model"]["c1.weight"].shape)


def test_resume_after_the_architecture_changed_says_what_differs(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edited = tmp_path / "lenet5.cnn"
    edited.write_text(LENET.read_text().replace("c1: conv 6", "c1: conv 8"))
    assert main(["eval", str(edited), "--checkpoint", str(run / "last.pt")]) == 1
    err = capsys.readouterr().err
    assert "does not fit LeNet5" in err and "c1.weight 6×1×5×5 vs 8×1×5×5" in err
    assert "restore the .cnn file" in err and "Traceback" not in err


def test_resume_of_an_edited_network_is_refused(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    last = (copy / "last.pt").read_bytes()
    edited = tmp_path / "lenet5.cnn"
    edited.write_text(LENET.read_text().replace("c1: conv 6", "c1: conv 8"))
    assert main(["train", str(edited), "--resume", str(copy)]) == 1
    err = capsys.readouterr().err
    assert "does not fit" in err and "c1.weight" in err
    assert (copy / "last.pt").read_bytes() == last  # nothing of the run was lost


def test_train_never_writes_into_a_folder_of_someone_elses_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "config.json").write_text('{"my": "settings"}')
    assert main(["train", str(LENET), "--epochs", "1", "--out", str(folder)]) == 1
    assert "cnndsl did not write" in capsys.readouterr().err
    assert (folder / "config.json").read_text() == '{"my": "settings"}'


def test_a_run_folder_is_marked(run: Path) -> None:
    assert (run / ".cnndsl-run").is_file()


def test_a_run_killed_between_checkpoint_bytes_and_rename_resumes_exactly(
    tmp_path: Path,
) -> None:
    """SIGKILL while last.pt's bytes are written but not yet renamed: the old last.pt is
    intact, --resume continues, the temporary is cleaned up, and the weights and metrics equal
    an uninterrupted run's."""
    import json
    import signal
    import subprocess
    import sys

    def run(args: list[str], kill_at: int = 0) -> subprocess.CompletedProcess[str]:
        code = (
            "import os, signal, sys\n"
            "real, seen = os.replace, [0]\n"
            "def replace(a, b):\n"
            "    if str(b).endswith('last.pt'):\n"
            "        seen[0] += 1\n"
            f"        if seen[0] == {kill_at}:\n"
            "            os.kill(os.getpid(), signal.SIGKILL)\n"
            "    return real(a, b)\n"
            "os.replace = replace\n"
            "from cnndsl.cli import main\n"
            f"sys.exit(main({args!r}))\n"
        )
        # a timeout, not a hang, if anything the run forked outlives it holding its pipes
        # (the plot process did, until it ended with the trainer)
        return subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=600
        )

    common = ["train", str(LENET), "--epochs", "4"]
    assert run([*common, "--out", str(tmp_path / "straight")]).returncode == 0
    killed = tmp_path / "killed"
    proc = run([*common, "--out", str(killed)], kill_at=2)
    assert proc.returncode == -signal.SIGKILL
    assert list(killed.glob(".last.pt.*.tmp"))  # the bytes were written, not renamed
    assert torch.load(killed / "last.pt", weights_only=True)["epoch"] == 1  # old one intact
    resumed = run(["train", str(LENET), "--resume", str(killed)])
    assert resumed.returncode == 0, resumed.stderr
    assert not list(killed.glob("*.tmp")) and not list(killed.glob(".*.tmp"))
    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)["model"]
    b = torch.load(killed / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    lines = (killed / "metrics.jsonl").read_text().splitlines()
    epochs = [json.loads(line)["epoch"] for line in lines]
    assert epochs == [1, 2, 3, 4]


def test_sigterm_under_two_processes_stops_cleanly_and_resumes(tmp_path: Path) -> None:
    """SIGTERM to `cnndsl train --nproc 2` (as a scheduler sends it) after the first epoch:
    the agent passes it on to the ranks, which save interrupted.pt; the command exits 143
    without a traceback, last.pt is a whole checkpoint of a finished epoch, and --resume
    (again in 2 processes) completes the run."""
    import signal
    import subprocess
    import sys
    import time

    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "cnndsl", "train", str(LENET), "--nproc", "2", "--epochs", "6"]
    proc = subprocess.Popen(
        [*cmd, "--out", str(run_dir)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lines = run_dir / "metrics.jsonl"
    deadline = time.monotonic() + 600
    while proc.poll() is None and time.monotonic() < deadline:
        if lines.exists() and lines.read_text().strip():
            break
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 143 and "Traceback" not in err, err  # as one process exits
    assert "internal error" not in err and (run_dir / "interrupted.pt").is_file()
    ckpt = torch.load(run_dir / "last.pt", weights_only=True)
    assert 1 <= ckpt["epoch"] < 6
    resumed = subprocess.run(
        [*cmd[:-2], "--resume", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert torch.load(run_dir / "last.pt", weights_only=True)["epoch"] == 6
    assert "test accuracy" in resumed.stdout
