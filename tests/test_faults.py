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
