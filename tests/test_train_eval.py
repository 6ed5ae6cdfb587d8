"""Validation, test and the figures the papers report, checked against oracles from outside
the code under test: scikit-learn's metrics on the same predictions (recomputed here from the
checkpoint's weights), scikit-learn's own split, and torchvision's readers and transforms on
small files written here in the real formats.
"""

from __future__ import annotations

import gzip
import json
import os
import pickle
import struct
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn import metrics as skm
from sklearn.model_selection import train_test_split
from torch import nn

from cnndsl import training as T
from cnndsl.cli import main
from cnndsl.errors import CnnError
from cnndsl.training.data import labels_of, load_data

TINY = T.NetInfo("Tiny", (1, 8, 8), 10)
TINY_SOURCE = """
network Tiny {
    input 1x8x8
    conv 8 3x3 pad=1 -> relu -> maxpool 2
    flatten
    linear 10
}

train {
    data digits
    val 0.1
    epochs 3
    batch 32
    optimizer adam lr=0.01
    seed 0
}
"""
PETS_SOURCE = """
network Pets {
    input 3x8x8
    conv 4 3x3 pad=1 -> relu -> maxpool 2
    flatten
    linear 2
}

train {
    data folder("%s")
    val 0.25
    epochs 2
    batch 4
    optimizer adam lr=0.01
}
"""


def tiny() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(128, 10)
    )


def config(**changes) -> dict:
    cfg = {
        "data": {"name": "digits"},
        "val": 0.1,
        "epochs": 3,
        "batch": 32,
        "optimizer": {"name": "adam", "lr": 0.01},
        "schedule": {"name": "constant"},
        "loss": {"name": "cross_entropy"},
        "augment": [],
        "seed": 0,
    }
    return {**cfg, **changes}


def quiet(**changes) -> T.Options:
    return T.Options(device="cpu", verbose=False, **changes)


def scores_of(checkpoint: Path, x: torch.Tensor, source: Path | None = None) -> np.ndarray:
    """The logits of a checkpoint's weights on images (uint8 or float), computed here (the
    module: :func:`tiny`, or ``source`` compiled as ``cnndsl train`` compiles it)."""
    import cnndsl

    model = cnndsl.load(source) if source is not None else tiny()
    model.load_state_dict(torch.load(checkpoint, weights_only=True)["model"])
    model.eval()
    x = x.float() / 255 if x.dtype == torch.uint8 else x.float()
    with torch.no_grad():
        return model(x).numpy()


def sklearn_figures(y: np.ndarray, scores: np.ndarray) -> dict:
    pred = scores.argmax(1)
    labels = list(range(10))
    out = {
        "accuracy": skm.accuracy_score(y, pred),
        "top5_accuracy": skm.top_k_accuracy_score(y, scores, k=5, labels=labels),
        "confusion": skm.confusion_matrix(y, pred, labels=labels).tolist(),
        "confusion_normalized": skm.confusion_matrix(y, pred, labels=labels, normalize="true"),
    }
    for average in ("macro", "weighted", "micro"):
        p, r, f, _ = skm.precision_recall_fscore_support(
            y, pred, labels=labels, average=average, zero_division=0
        )
        out[average] = {"precision": p, "recall": r, "f1": f}
    p, r, f, s = skm.precision_recall_fscore_support(
        y, pred, labels=labels, average=None, zero_division=0
    )
    out["per_class"] = {
        str(c): {"precision": p[c], "recall": r[c], "f1": f[c], "support": s[c]} for c in labels
    }
    return out


def assert_figures(got: dict, want: dict) -> None:
    assert got["accuracy"] == pytest.approx(want["accuracy"])
    assert got["top5_accuracy"] == pytest.approx(want["top5_accuracy"])
    assert got["confusion"] == want["confusion"]
    assert np.allclose(got["confusion_normalized"], want["confusion_normalized"])
    macro = {k: got[k] for k in ("precision", "recall", "f1")}
    assert macro == pytest.approx(want["macro"])
    assert got["weighted"] == pytest.approx(want["weighted"])
    assert got["micro"] == pytest.approx(want["micro"])
    for c, row in want["per_class"].items():
        assert got["per_class"][c] == pytest.approx(row)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny on the 8x8 digits, 3 epochs, validation 10%."""
    out = tmp_path_factory.mktemp("run")
    T.fit(tiny, TINY, config(), out, quiet())
    return out


# ---------------------------------------------------------------- splits and selection
def test_validation_split_is_sklearns_stratified_split_of_the_training_data() -> None:
    whole = load_data({"name": "digits"}, (1, 8, 8), seed=4)
    data = load_data({"name": "digits"}, (1, 8, 8), seed=4, val=0.1)
    held = round(len(whole.train) * 0.1)
    keep, out = train_test_split(
        np.arange(len(whole.train)),
        test_size=held,
        stratify=whole.train.y.numpy(),
        random_state=4,
    )
    assert torch.equal(data.val.x, whole.train.x[out]) and torch.equal(
        data.train.y, whole.train.y[keep]
    )
    assert torch.equal(data.test.x, whole.test.x)  # the test split is untouched
    counts = torch.bincount(data.val.y, minlength=10)
    assert counts.min() >= 14 and counts.max() <= 15  # stratified: 144 = 10 classes x 14.4


def test_best_pt_is_chosen_on_val_and_test_is_evaluated_once_on_it(run: Path) -> None:
    metrics = json.loads((run / "metrics.json").read_text())
    vals = [r["val_accuracy"] for r in metrics["history"]]
    assert metrics["selected_on"] == "val"
    assert metrics["best_epoch"] == vals.index(max(vals)) + 1  # the earlier on ties
    best = torch.load(run / "best.pt", weights_only=True)
    assert best["epoch"] == metrics["best_epoch"]
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert all(not any(k.startswith("test") for k in r) for r in lines)  # no peeking per epoch
    data = load_data({"name": "digits"}, (1, 8, 8), seed=0, val=0.1)
    y = data.test.y.numpy()
    want = sklearn_figures(y, scores_of(run / "best.pt", data.test.x))
    assert metrics["test"]["checkpoint"] == "best.pt"
    assert metrics["test"]["epoch"] == metrics["best_epoch"]
    assert_figures(metrics["test"], want)
    assert metrics["test_accuracy"] == pytest.approx(want["accuracy"])


def test_per_epoch_validation_figures_are_sklearns(run: Path) -> None:
    data = load_data({"name": "digits"}, (1, 8, 8), seed=0, val=0.1)
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    want = sklearn_figures(data.val.y.numpy(), scores_of(run / "last.pt", data.val.x))
    assert last["val_accuracy"] == pytest.approx(want["accuracy"])
    assert last["val_top5_accuracy"] == pytest.approx(want["top5_accuracy"])
    assert last["val_weighted"] == pytest.approx(want["weighted"])


def test_val_0_keeps_the_last_epoch(tmp_path: Path) -> None:
    final = T.fit(tiny, TINY, config(val=0.0, epochs=2), tmp_path, quiet())
    assert final["best_epoch"] == 2 and final["selected_on"] == "last epoch"
    assert final["test"]["images"] == 360 and "val_accuracy" not in final["history"][0]


def test_val_in_the_train_section() -> None:
    from cnndsl.parser import parse
    from cnndsl.train_config import train_config

    assert train_config(parse("train { val 0.2 }").items[0])["val"] == 0.2
    assert train_config(parse("train { epochs 1 }").items[0])["val"] == 0.1
    for bad, message in (("val 1", "from 0 up to"), ("val 1.5", "from 0 up to"),
                         ("augment color_jitter(hue=0.8)", "hue must be from 0 to 0.5"),
                         ("augment randaugment(magnitude=40)", "magnitude must be"),
                         ("augment mixup(alpha=0)", "positive"),
                         ("augment random_erasing(p=1.5)", "probability")):  # fmt: skip
        with pytest.raises(CnnError, match=message):
            train_config(parse(f"train {{ {bad} }}").items[0])


# ---------------------------------------------------------------- eval
@pytest.fixture(scope="module")
def cli_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("cli")
    source = folder / "tiny.cnn"
    source.write_text(TINY_SOURCE)
    out = folder / "run"
    assert main(["train", str(source), "--out", str(out), "--device", "cpu"]) == 0
    return source, out


def test_eval_json_is_sklearns_figures_and_writes_its_files(
    cli_run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, run = cli_run
    capsys.readouterr()
    for split in ("test", "val"):
        out = tmp_path / split
        args = ["eval", str(source), "--checkpoint", str(run / "best.pt"), "--json"]
        assert main([*args, "--split", split, "-o", str(out), "--device", "cpu"]) == 0
        result = json.loads(capsys.readouterr().out)
        data = load_data({"name": "digits"}, (1, 8, 8), seed=0, val=0.1)
        part = data.test if split == "test" else data.val
        assert_figures(
            result, sklearn_figures(part.y.numpy(), scores_of(run / "best.pt", part.x, source))
        )
        assert result["split"] == split and result["images"] == len(part)
        assert json.loads((out / "metrics.json").read_text()) == result
        for png in ("confusion.png", "confusion_normalized.png"):
            assert (out / png).read_bytes()[:4] == b"\x89PNG"


def test_eval_prints_the_classification_report(
    cli_run: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    source, run = cli_run
    capsys.readouterr()
    assert main(["eval", str(source), "--checkpoint", str(run / "best.pt"), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "top-1" in out and "top-5" in out and "macro avg" in out and "weighted avg" in out
    assert (run / "eval-best-test" / "confusion.png").exists()


def _idx(path: Path, array: torch.Tensor, gz: bool) -> None:
    header = struct.pack(f">BBBB{array.dim()}I", 0, 0, 8, array.dim(), *array.shape)
    body = header + array.to(torch.uint8).numpy().tobytes()
    if gz:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(body)
    else:
        path.write_bytes(body)


def write_mnist(root: Path, kind: str = "MNIST", gz: bool = False, n: int = 30) -> tuple:
    raw = root / kind / "raw"
    raw.mkdir(parents=True)
    gen = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (n, 28, 28), generator=gen)
    labels = torch.arange(n) % 10
    for part, count in (("train", n), ("t10k", n // 2)):
        _idx(raw / f"{part}-images-idx3-ubyte", images[:count], gz)
        _idx(raw / f"{part}-labels-idx1-ubyte", labels[:count], gz)
    return images, labels


def test_eval_on_another_data_set_with_the_same_classes(
    cli_run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, run = cli_run
    write_mnist(tmp_path)
    spec = f'mnist("{tmp_path}")'
    capsys.readouterr()
    args = ["eval", str(source), "--checkpoint", str(run / "best.pt"), "--data", spec]
    assert main([*args, "--json", "-o", str(tmp_path / "out"), "--device", "cpu"]) == 0
    result = json.loads(capsys.readouterr().out)
    data = load_data({"name": "mnist", "root": str(tmp_path)}, (1, 8, 8))
    want = sklearn_figures(data.test.y.numpy(), scores_of(run / "best.pt", data.test.x, source))
    assert result["images"] == 15 and result["data"]["name"] == "mnist"
    assert result["accuracy"] == pytest.approx(want["accuracy"])
    assert result["confusion"] == want["confusion"]
    bad = ["eval", str(source), "--checkpoint", str(run / "best.pt"), "--data", "fake(40, 3)"]
    assert main(bad) == 1
    assert "3 classes" in capsys.readouterr().err


# ---------------------------------------------------------------- predict
@pytest.fixture(scope="module")
def pets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A two-class image folder (cat: red, dog: blue) and a run trained on it."""
    from PIL import Image

    root = tmp_path_factory.mktemp("pets")
    data = root / "data"
    for label, colour in (("cat", (230, 20, 20)), ("dog", (20, 20, 230))):
        (data / label).mkdir(parents=True)
        for i in range(8):
            Image.new("RGB", (10 + i, 12), colour).save(data / label / f"{i}.png")
    source = root / "pets.cnn"
    source.write_text(PETS_SOURCE % data)
    out = root / "run"
    assert main(["train", str(source), "--out", str(out), "--epochs", "4", "--device", "cpu"]) == 0
    return source, out, data


def test_predict_folders_globs_topk_and_formats(
    pets: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, run, data = pets
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    base = ["predict", str(source), "--checkpoint", str(run / "best.pt"), "--device", "cpu"]
    capsys.readouterr()
    assert main([*base, str(data / "cat"), str(broken), str(data / "dog" / "*.png")]) == 1
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert len(lines) == 16 and lines[0].startswith(str(data / "cat" / "0.png") + ": ")
    assert captured.err.count("\n") == 1 and str(broken) in captured.err
    assert "Traceback" not in captured.err

    assert main([*base, str(data), "--topk", "2", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 16 and all(len(r["predictions"]) == 2 for r in rows)
    assert {p["class"] for r in rows for p in r["predictions"]} == {"cat", "dog"}
    for row in rows:
        probs = [p["probability"] for p in row["predictions"]]
        assert probs == sorted(probs, reverse=True) and sum(probs) == pytest.approx(1.0)

    # the probabilities are the softmax of the checkpoint's logits (computed here)
    import cnndsl

    model = cnndsl.load(source)
    model.load_state_dict(torch.load(run / "best.pt", weights_only=True)["model"])
    image = torch.tensor([[[230.0]], [[20.0]], [[20.0]]]).expand(3, 8, 8) / 255
    with torch.no_grad():
        want = model(image[None]).softmax(1)[0]
    red = next(r for r in rows if r["image"] == str(data / "cat" / "0.png"))
    got = {p["class"]: p["probability"] for p in red["predictions"]}
    assert got["cat"] == pytest.approx(want[0].item(), abs=1e-5)

    assert main([*base, str(data / "cat" / "1.png"), "--format", "csv", "--topk", "2"]) == 0
    csv_lines = capsys.readouterr().out.splitlines()
    assert csv_lines[0] == "image,rank,class,index,probability" and len(csv_lines) == 3
    assert main([*base, str(tmp_path / "nothing-*.png")]) == 1
    assert "no file matches" in capsys.readouterr().err


# ---------------------------------------------------------------- torchvision's readers
@pytest.mark.parametrize("kind", ["MNIST", "FashionMNIST"])
def test_idx_files_read_as_torchvision_reads_them(tmp_path: Path, kind: str) -> None:
    from torchvision import datasets

    write_mnist(tmp_path, kind)
    name = "mnist" if kind == "MNIST" else "fashion_mnist"
    ours = load_data({"name": name, "root": str(tmp_path)}, (1, 28, 28))
    oracle = getattr(datasets, kind)(str(tmp_path), train=True, download=False)
    assert torch.equal(ours.train.x[:, 0], oracle.data)
    assert torch.equal(ours.train.y, oracle.targets)
    test = getattr(datasets, kind)(str(tmp_path), train=False, download=False)
    assert torch.equal(ours.test.x[:, 0], test.data)


def test_gzipped_idx_files_in_another_layout(tmp_path: Path) -> None:
    from torchvision import datasets

    write_mnist(tmp_path / "plain")
    gz = tmp_path / "gz"
    write_mnist(gz, gz=True)
    for path in (gz / "MNIST" / "raw").iterdir():
        path.rename(gz / path.name)  # the files straight in root, gzipped
    ours = load_data({"name": "mnist", "root": str(gz)}, (1, 28, 28))
    oracle = datasets.MNIST(str(tmp_path / "plain"), train=True, download=False)
    assert torch.equal(ours.train.x[:, 0], oracle.data)


def test_a_corrupt_idx_file_is_a_clear_error(tmp_path: Path) -> None:
    write_mnist(tmp_path)
    path = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    path.write_bytes(b"\x00\x00\x0d\x07garbage")
    with pytest.raises(CnnError, match="not MNIST IDX files"):
        load_data({"name": "mnist", "root": str(tmp_path)}, (1, 28, 28))


def test_missing_files_say_which_are_expected_where(tmp_path: Path) -> None:
    with pytest.raises(CnnError) as err:
        load_data({"name": "cifar10", "root": str(tmp_path)}, (3, 32, 32))
    assert "data_batch_1" in str(err.value) and "cifar-10-batches-py" in str(err.value)
    assert "downloads nothing" in str(err.value)
    with pytest.raises(CnnError, match="no class sub-folders") as err:
        (tmp_path / "empty").mkdir()
        load_data({"name": "folder", "root": str(tmp_path / "empty")}, (3, 8, 8))
    assert "<class>" in err.value.hint


def test_cifar10_batches_read_as_torchvision_reads_them(tmp_path: Path) -> None:
    from torchvision import datasets

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    gen = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            "data": gen.integers(0, 256, (4, 3072), dtype=np.uint8),
            "labels": gen.integers(0, 10, 4).tolist(),
        }
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))

    class Unchecked(datasets.CIFAR10):  # the oracle: torchvision's reader, minus the md5 check
        def _check_integrity(self) -> bool:
            return True

        def _load_meta(self) -> None:
            self.classes = []

    ours = load_data({"name": "cifar10", "root": str(tmp_path)}, (3, 32, 32))
    for train, split in ((True, ours.train), (False, ours.test)):
        oracle = Unchecked(str(tmp_path), train=train, download=False)
        assert torch.equal(split.x.permute(0, 2, 3, 1), torch.from_numpy(oracle.data))
        assert split.y.tolist() == oracle.targets


def test_image_folders_as_torchvision_finds_them_with_their_own_val(tmp_path: Path) -> None:
    from PIL import Image
    from torchvision import datasets

    for part, count in (("train", 4), ("val", 2), ("test", 3)):
        for label in ("ant", "bee", "cow"):
            (tmp_path / part / label).mkdir(parents=True)
            for i in range(count):
                Image.new("L", (9, 9), 40 * i).save(tmp_path / part / label / f"{i}.png")
    data = load_data({"name": "folder", "root": str(tmp_path)}, (1, 9, 9), val=0.5)
    oracle = datasets.ImageFolder(str(tmp_path / "train"))
    assert list(data.classes) == oracle.classes
    assert labels_of(data.train).tolist() == [c for _, c in oracle.samples]
    assert len(data.val) == 6 and len(data.test) == 9  # the folder's own val, not 50% of train
    lazy = load_data({"name": "folder", "root": str(tmp_path)}, (1, 9, 9), max_bytes=0)
    assert lazy.val[0][0].shape == (1, 9, 9)


# ---------------------------------------------------------------- progress
def test_progress_shows_an_eta_and_a_bar_while_evaluating() -> None:
    from cnndsl.training.report import Reporter

    reporter = Reporter(True, True, epochs=3)
    reporter.epoch_start(1, 10)
    loss, correct = torch.tensor(6.0), torch.tensor(3)
    reporter.step(1, loss, correct, 4)  # the first step shows figures at once
    info = reporter.progress.tasks[0].fields["info"]
    assert "loss 1.5000" in info and "acc 75.0%" in info and "ETA" in info and "run" in info
    reporter.eval_start("val", 4)
    reporter.eval_step(2, 4)
    assert reporter.progress.tasks[-1].description.strip() == "val"
    assert reporter.progress.tasks[-1].completed == 2
    reporter.eval_end()
    assert len(reporter.progress.tasks) == 1
    reporter.close()


class Clock:
    """A clock for the progress object's ``now`` seam: time moves only when the test says."""

    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_progress_refreshes_by_time_not_by_step_count() -> None:
    from cnndsl.training.report import Reporter

    clock = Clock()
    reporter = Reporter(True, True, epochs=2, now=clock)
    reporter.epoch_start(1, 100)
    task = reporter.progress.tasks[0]
    loss, correct = torch.zeros(()), torch.zeros((), dtype=torch.long)
    redrawn = []

    def step(i: int) -> None:
        loss.add_(2.0)  # running sums, as train_one_epoch keeps them: batches of 4 images
        correct.add_(3)
        reporter.step(i, loss, correct, 4 * i)
        if task.completed == i:
            redrawn.append(i)

    step(1)  # the first step shows figures at once
    for i in range(2, 11):  # nine steps while the clock stands still: no redraw
        step(i)
    assert redrawn == [1] and task.completed == 1
    clock.t += 11.0  # eleven seconds on, one step later: redrawn, with the figures of step 11
    step(11)
    assert redrawn == [1, 11]
    info = task.fields["info"]
    assert "loss 0.5000" in info and "acc 75.0%" in info and "4 img/s" in info
    assert "ETA 1:29, run 3:09" in info  # 100 s per epoch: 89 s left, plus one more epoch
    for i in range(12, 16):  # a step every half second: every one is shown
        clock.t += 0.5
        step(i)
    assert redrawn == [1, 11, 12, 13, 14, 15]
    for i in range(16, 24):  # a step every eighth of a second: every second one (0.25 s)
        clock.t += 0.125
        step(i)
    assert redrawn == [1, 11, 12, 13, 14, 15, 17, 19, 21, 23]
    step(100)  # the last step of the epoch is always shown
    assert task.completed == 100
    reporter.close()


def test_plain_progress_lines_are_unchanged(capsys) -> None:
    from cnndsl.training.report import Reporter

    clock = Clock()
    reporter = Reporter(True, False, epochs=3, now=clock)
    reporter.epoch_start(1, 10)
    for i in range(1, 11):
        clock.t += 0.25
        reporter.step(i, torch.tensor(1.0 * i), torch.tensor(i), 4 * i)
    reporter.eval_start("val", 2)
    reporter.eval_step(1, 2)
    reporter.eval_end()
    record = {
        "epoch": 1,
        "train_loss": 0.5,
        "train_accuracy": 0.75,
        "val_loss": 0.25,
        "val_accuracy": 0.8,
        "images_per_s": 1234.4,
    }
    reporter.epoch_end(record)
    reporter.close()
    assert capsys.readouterr().out == (
        "epoch   1/3  loss 0.5000  acc 75.00%  val loss 0.2500  val acc 80.00%  1,234 img/s  2.5s\n"
    )
    assert reporter.progress is None  # no bar was started


class Watch(nn.Module):
    """Wraps a model; at the first training step of every epoch after the first, waits until
    the plots handed over so far are written (``sync``: the plot process's own seam), then
    reads the text chunks of the plots in the run folder (PIL reads them), i.e. what the
    files say after the epoch before."""

    def __init__(self, model: nn.Module, run_dir: Path, steps_per_epoch: int):
        super().__init__()
        self.model, self.run_dir, self.per_epoch = model, run_dir, steps_per_epoch
        self.steps = 0
        self.seen: list[dict[str, dict[str, str]]] = []
        self.sync = lambda: None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            if self.steps and self.steps % self.per_epoch == 0:
                self.sync()
                self.seen.append(plot_texts(self.run_dir))
            self.steps += 1
        return self.model(x)


def plot_texts(run_dir: Path) -> dict[str, dict[str, str]]:
    from PIL import Image

    out = {}
    for png in sorted(run_dir.glob("*.png")):
        with Image.open(png) as image:
            out[png.name] = dict(image.text)
    return out


EPOCHS, STEPS = 5, -(-1293 // 32)
SGD = config(epochs=EPOCHS, optimizer={"name": "sgd", "lr": 0.02, "momentum": 0.0})


def bests_of(run_dir: Path) -> list[int]:
    """best.pt's epoch after each epoch, from metrics.jsonl: the first best val accuracy."""
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    best, best_acc, bests = 0, -1.0, []
    for r in records:
        if r["val_accuracy"] > best_acc:
            best, best_acc = r["epoch"], r["val_accuracy"]
        bests.append(best)
    return bests


@pytest.mark.parametrize("process", [True, False], ids=["plot-process", "in-process"])
def test_plots_are_rewritten_after_every_epoch(tmp_path: Path, process: bool) -> None:
    from cnndsl.training.trainer import Trainer

    watch = Watch(tiny(), tmp_path, STEPS)
    trainer = Trainer(lambda: watch, TINY, SGD, tmp_path, quiet(plot_process=process))
    watch.sync = trainer.plots.sync
    trainer.run()
    after = [*watch.seen, plot_texts(tmp_path)]  # the files after epochs 1 .. 5
    assert len(after) == EPOCHS
    bests = bests_of(tmp_path)
    assert len(set(bests)) > 1  # best.pt moved during the run
    for epoch, (texts, best) in enumerate(zip(after, bests, strict=True), 1):
        curves = texts["curves.png"]
        assert curves["cnndsl epochs"] == str(epoch), epoch
        assert curves["cnndsl best epoch"] == str(best), epoch
        assert f"best.pt is epoch {best} of {epoch}" in curves["Title"]
        for name in ("confusion.png", "confusion_normalized.png"):
            assert texts[name]["cnndsl checkpoint epoch"] == str(best), (epoch, name)
            where = "test" if epoch == EPOCHS else "val"
            assert f"best.pt (epoch {best}) on {where}" in texts[name]["Title"], (epoch, name)
    # every state was drawn, in order (each epoch's, then the end's)
    curves = [tag for name, tag in trainer.plots.drawn if name == "curves.png"]
    assert curves == [str(e) for e in range(1, EPOCHS + 1)] + [str(EPOCHS)]
    confusion = [int(tag) for name, tag in trainer.plots.drawn if name == "confusion.png"]
    assert confusion == sorted(set(bests)) + [bests[-1]]  # each new best.pt, then on test


def test_the_plot_process_draws_every_epoch_at_most_one_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Drawing slower than training (the tiny epochs take ~0.1 s, a drawing over 0.5 s): the
    trainer still never runs more than one epoch ahead of the files (it waits for the epoch
    before's drawing, with no sync from the test), no epoch is skipped, and the process is
    back in the idle scheduling class whenever training runs."""
    from cnndsl.training import report
    from cnndsl.training.trainer import Trainer

    draw = report.Drawer.draw

    def slowly(drawer, jobs):  # half a second more per drawing (the fork inherits the patch)
        time.sleep(0.5)
        return draw(drawer, jobs)

    monkeypatch.setattr(report.Drawer, "draw", slowly)
    watch = Watch(tiny(), tmp_path, STEPS)
    trainer = Trainer(lambda: watch, TINY, SGD, tmp_path, quiet(plot_process=True))
    policies = []

    def look() -> None:  # at the first step of epochs 2..5: the process's scheduling class
        if hasattr(os, "sched_getscheduler"):
            policies.append(os.sched_getscheduler(trainer.plots.proc.pid))

    watch.sync = look
    trainer.run()
    assert trainer.plots.proc is None  # ended with the run
    on_disk = [int(texts.get("curves.png", {}).get("cnndsl epochs", 0)) for texts in watch.seen]
    assert len(on_disk) == EPOCHS - 1
    for before, epoch in zip(on_disk, range(2, EPOCHS + 1), strict=True):
        assert before >= epoch - 2, (epoch, on_disk)  # the epoch before last is on disk
    curves = [int(tag) for name, tag in trainer.plots.drawn if name == "curves.png"]
    assert curves == [*range(1, EPOCHS + 1), EPOCHS]  # every epoch's state, then the end's
    assert trainer.plots.waited > 4 * 0.5  # it waited for each epoch's drawing but the last
    if hasattr(os, "SCHED_IDLE"):
        assert policies == [os.SCHED_IDLE] * (EPOCHS - 1)
    texts = plot_texts(tmp_path)
    assert texts["curves.png"]["cnndsl epochs"] == str(EPOCHS)
    best = json.loads((tmp_path / "metrics.json").read_text())["best_epoch"]
    assert texts["confusion.png"]["cnndsl checkpoint epoch"] == str(best)
    assert "on test" in texts["confusion.png"]["Title"]


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux scheduling classes")
def test_a_waited_for_drawing_runs_at_normal_priority(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the trainer waits for a drawing, the plot process is in the normal scheduling
    class (in the idle class, other programs filling the CPUs would stall the run); when
    the wait ends it is back in the idle class."""
    from cnndsl.training import report

    log = tmp_path / "policies"
    draw = report.Drawer.draw

    def recorded(drawer, jobs):  # in the plot process: its class, a second into the drawing
        time.sleep(1.0)
        with log.open("a") as f:
            f.write(f"{os.sched_getscheduler(0)}\n")
        return draw(drawer, jobs)

    monkeypatch.setattr(report.Drawer, "draw", recorded)
    history = [{"epoch": e, "train_loss": 1.0 / e, "train_accuracy": 0.5} for e in (1, 2)]
    path = str(tmp_path / "curves.png")
    plots = report.Plots()
    plots.start()
    assert os.sched_getscheduler(plots.proc.pid) == os.SCHED_IDLE
    plots.submit({path: ("curves", (history[:1], "Net on data", 1))})
    plots.submit({path: ("curves", (history, "Net on data", 2))})  # waits for the first
    assert plots.waited > 0.5
    assert os.sched_getscheduler(plots.proc.pid) == os.SCHED_IDLE
    plots.close()
    assert log.read_text().split() == [str(os.SCHED_OTHER)] * 2  # the close waited too


def test_plots_are_drawn_beside_training_only_where_a_core_is_free(tmp_path: Path) -> None:
    """By default the trainer draws in a plot process only when the CPUs outnumber the
    training threads (or training runs on an accelerator); else between epochs."""
    from cnndsl.training.report import plots_beside
    from cnndsl.training.trainer import Trainer

    assert plots_beside("cuda", busy_threads=64, cpus=2)
    assert not plots_beside("cpu", busy_threads=2, cpus=2)
    assert not plots_beside("cpu", busy_threads=2 * 2, cpus=4)  # two ranks of two threads
    assert plots_beside("cpu", busy_threads=8, cpus=16)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = torch.get_num_threads()
    try:
        for n, beside in ((cpus, False), (max(cpus - 1, 1), cpus > 1)):
            torch.set_num_threads(n)
            trainer = Trainer(tiny, TINY, SGD, tmp_path / str(n), quiet())
            assert trainer.plots.background is beside, (n, cpus)
    finally:
        torch.set_num_threads(threads)


def test_plots_are_drawn_here_when_the_plot_process_dies(tmp_path: Path) -> None:
    from cnndsl.training.report import Plots

    history = [
        {"epoch": e, "train_loss": 1.0 / e, "train_accuracy": 0.5, "lr": 0.1} for e in (1, 2, 3)
    ]
    path = str(tmp_path / "curves.png")
    plots = Plots()
    plots.submit({path: ("curves", (history[:1], "Net on data", 1))})
    plots.sync()
    assert plot_texts(tmp_path)["curves.png"]["cnndsl epochs"] == "1"
    plots.proc.kill()
    plots.proc.join()
    plots.submit({path: ("curves", (history[:2], "Net on data", 2))})
    plots.submit({path: ("curves", (history, "Net on data", 3))})
    plots.close()
    assert plots.proc is None and plots.local is not None
    assert plot_texts(tmp_path)["curves.png"]["cnndsl epochs"] == "3"
    assert plots.drawn[0] == ("curves.png", "1") and plots.drawn[-1] == ("curves.png", "3")
