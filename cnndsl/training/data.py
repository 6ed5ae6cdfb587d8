"""Data sets for ``cnndsl train``: read from local files (nothing is downloaded), as tensors.

:func:`load_data` turns the ``data`` entry of a train section (a dict such as
``{"name": "digits", "size": 32}``) into a :class:`Data`: train, validation and test splits
and the class names. Images come out channels first, ``uint8`` (0..255) or ``float32``
(0..1), already at the network's input size and channel count; the trainer batches, scales and
augments them on its device.

The readers are torchvision's (``download=False``): ``MNIST`` and ``FashionMNIST`` (IDX files,
plain or gzipped), ``ImageFolder`` (the layout: one sub-folder per class). CIFAR-10 is the
exception: ``torchvision.datasets.CIFAR10`` unpickles its batches with ``pickle.load``, which
runs whatever a planted file names, so a thin adapter here reads the same files (torchvision's
file list) with an unpickler that allows numpy arrays only.

The validation split is a seeded, stratified fraction of the training split (scikit-learn's
``train_test_split``), unless the data set has its own (``folder`` with a ``val/`` folder).

>>> import torch
>>> data = load_data({"name": "fake", "n": 50, "classes": 5}, (3, 8, 8), seed=0, val=0.25)
>>> len(data.train), len(data.val), len(data.test), data.classes
(30, 10, 10, ('0', '1', '2', '3', '4'))
"""

from __future__ import annotations

import gzip
import math
import pickle
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ..errors import CnnError

Shape = tuple[int, ...]
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
CIFAR_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)  # torchvision's
CIFAR_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
FASHION_CLASSES = (
    "t-shirt",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle-boot",
)


@dataclass(frozen=True)
class Split:
    """Images ``x`` (N×C×…, uint8 or float32) and integer labels ``y`` (N)."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)

    @property
    def nbytes(self) -> int:
        return self.x.nelement() * self.x.element_size() + self.y.nelement() * 8


@dataclass(frozen=True)
class Data:
    """A data set: its train, test and (optional) validation splits (tensors, or a lazy
    ``Dataset``) and class names."""

    name: str
    train: Split | Dataset
    test: Split | Dataset
    classes: tuple[str, ...]
    val: Split | Dataset | None = None


def load_data(
    spec: dict[str, Any],
    input_shape: Shape,
    seed: int = 0,
    max_bytes: int = 1 << 30,
    val: float = 0.0,
) -> Data:
    """Read the data set ``spec`` names, shaped for a network taking ``input_shape``.

    ``max_bytes``: an image folder larger than this is decoded lazily (per item) instead of
    into memory. ``val``: the fraction of the training split held out for validation
    (stratified, seeded by ``seed``) when the data set has no validation split of its own.
    """
    data = _load(spec, input_shape, seed, max_bytes)
    if data.val is not None or not val:
        return data
    train, held = split_off(data.train, val, seed)
    return Data(data.name, train, data.test, data.classes, held)


def _load(spec: dict[str, Any], input_shape: Shape, seed: int, max_bytes: int) -> Data:
    name = spec["name"]
    if name != "fake" and len(input_shape) != 3:
        shape = "x".join(map(str, input_shape))
        raise CnnError(
            f"{name} gives images (channels x height x width), but the network takes input {shape}",
            hint="use fake(n, classes) data for this network",
        )
    target = _target_size(spec, input_shape)
    if name == "folder":
        return _folder(
            spec,
            input_shape[0] if spec.get("channels") is None else spec["channels"],
            target,
            seed,
            max_bytes,
            input_shape[0],
        )
    data = LOADERS[name](spec, input_shape, seed)
    if name == "fake":
        return data
    return Data(
        data.name,
        _fit(data.train, spec, input_shape, target),  # type: ignore[arg-type]
        _fit(data.test, spec, input_shape, target),  # type: ignore[arg-type]
        data.classes,
    )


def labels_of(split: Split | Dataset) -> torch.Tensor:
    """The labels of a split (tensors or image files), without decoding images."""
    if isinstance(split, Split):
        return split.y
    return torch.as_tensor(split.labels, dtype=torch.long)  # type: ignore[attr-defined]


def split_off(split: Split | Dataset, fraction: float, seed: int) -> tuple[Any, Any]:
    """(rest, held out): ``fraction`` of ``split`` held out, stratified by label and seeded;
    unstratified when a class has too few images to stratify."""
    n = len(split)  # type: ignore[arg-type]
    held = max(1, round(n * fraction))
    if held >= n:
        raise CnnError(
            f"val {fraction} of {n} training images leaves none to train on",
            hint="lower val, or use val 0",
        )
    keep, out = stratified_split(labels_of(split), seed, held)
    return _take(split, keep), _take(split, out)


def _take(split: Split | Dataset, idx: torch.Tensor) -> Any:
    if isinstance(split, Split):
        return Split(split.x[idx], split.y[idx])
    files: ImageFiles = split  # type: ignore[assignment]
    pick = idx.tolist()
    return ImageFiles(
        [files.files[i] for i in pick], [files.labels[i] for i in pick], files.channels, files.size
    )


def _target_size(spec: dict[str, Any], input_shape: Shape) -> tuple[int, ...]:
    size = spec.get("size")
    native = tuple(input_shape[1:])
    if size is None or spec["name"] == "fake":
        return native
    if (size, size) != native:
        shape = "x".join(map(str, input_shape))
        raise CnnError(
            f"data size={size} does not fit the network input {shape}",
            hint=f"leave size out (images are resized to the input) or use size={native[-1]}"
            if len(set(native)) == 1
            else None,
        )
    return native


# ---------------------------------------------------------------- shaping
def _fit(split: Split, spec: dict[str, Any], input_shape: Shape, target: tuple[int, ...]) -> Split:
    """Convert channels (when asked) and resize to the network's input size."""
    x = convert_channels(split.x, spec, input_shape[0])
    return Split(resize(x, target), split.y)


def convert_channels(x: torch.Tensor, spec: dict[str, Any], want: int) -> torch.Tensor:
    """Grey <-> RGB conversion, only when the data spec says ``channels=``; else an error."""
    have = x.shape[1]
    asked = spec.get("channels")
    if asked is not None and asked != want:
        raise CnnError(
            f"data channels={asked} does not fit the network's {want} input channels",
            hint=f"use channels={want}",
        )
    if have == want:
        return x
    if asked is None:
        kind = {1: "grey-level", 3: "RGB"}.get(have, f"{have}-channel")
        raise CnnError(
            f"{spec['name']} images are {kind} ({have} channel"
            f"{'s' if have > 1 else ''}) but the network takes {want}",
            hint=f"convert them with a data argument, e.g. "
            f"{spec['name']}(…, channels={want}), or change the input",
        )
    if have == 1:
        return x.expand(-1, want, *x.shape[2:]).contiguous()
    if have == 3 and want == 1:
        weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, *([1] * (x.dim() - 2)))
        grey = (x.float() * weights).sum(1, keepdim=True)
        return grey.round().to(torch.uint8) if x.dtype == torch.uint8 else grey
    raise CnnError(f"cannot convert {have}-channel images to {want} channels")


def resize(x: torch.Tensor, size: tuple[int, ...], chunk: int = 4096) -> torch.Tensor:
    """Bilinear resize of N×C×H×W images (uint8 stays uint8), in chunks to bound memory."""
    if tuple(x.shape[2:]) == tuple(size):
        return x
    parts = []
    for start in range(0, len(x), chunk):
        part = F.interpolate(
            x[start : start + chunk].float(), size=size, mode="bilinear", align_corners=False
        )
        if x.dtype == torch.uint8:
            part = part.round().clamp(0, 255).to(torch.uint8)
        parts.append(part)
    return torch.cat(parts)


def stratified_split(
    y: torch.Tensor, seed: int, test_size: float | int = 0.2
) -> tuple[torch.Tensor, torch.Tensor]:
    """Train and test indices, stratified by label, reproducible from ``seed`` (scikit-learn's
    ``train_test_split``); unstratified when some class has fewer than 2 images or the held
    out part is smaller than the number of classes."""
    from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]

    index = torch.arange(len(y)).numpy()
    counts = torch.bincount(y) if len(y) else torch.zeros(0)
    present = counts[counts > 0]
    held = test_size if isinstance(test_size, int) else math.ceil(test_size * len(y))
    ok = len(present) > 0 and int(present.min()) >= 2
    ok = ok and held >= len(present) and len(y) - held >= len(present)
    train, test = train_test_split(
        index, test_size=test_size, stratify=y.numpy() if ok else None, random_state=seed
    )
    return torch.from_numpy(train), torch.from_numpy(test)


def _split(x: torch.Tensor, y: torch.Tensor, seed: int) -> tuple[Split, Split]:
    train, test = stratified_split(y, seed)
    return Split(x[train], y[train]), Split(x[test], y[test])


# ---------------------------------------------------------------- loaders
def _digits(spec: dict[str, Any], input_shape: Shape, seed: int) -> Data:
    """scikit-learn's 1,797 8×8 digits (0..16 scaled to 0..1), stratified 80/20 split."""
    from sklearn.datasets import load_digits  # type: ignore[import-untyped]

    bunch = load_digits()
    x = torch.from_numpy(bunch.images).float().div_(16.0).unsqueeze(1)
    y = torch.from_numpy(bunch.target).long()
    train, test = _split(x, y, seed)
    return Data("digits", train, test, tuple(str(i) for i in range(10)))


def _fake(spec: dict[str, Any], input_shape: Shape, seed: int) -> Data:
    """Synthetic learnable data: a random prototype per class plus noise, 80/20 split."""
    n, classes = int(spec.get("n", 1000)), int(spec.get("classes", 10))
    if n < 2 or classes < 1:
        raise CnnError(f"fake data needs n >= 2 and classes >= 1, got n={n}, classes={classes}")
    shape = list(input_shape)
    if spec.get("channels") is not None:
        shape[0] = spec["channels"]
    if spec.get("size") is not None and len(shape) == 3:
        shape[1:] = [spec["size"], spec["size"]]
    gen = torch.Generator().manual_seed(seed)
    protos = torch.rand(classes, *shape, generator=gen)
    y = torch.randint(0, classes, (n,), generator=gen)
    x = (protos[y] + 0.35 * torch.randn(n, *shape, generator=gen)).clamp_(0, 1)
    cut = max(1, n // 5)
    train, test = Split(x[cut:], y[cut:]), Split(x[:cut], y[:cut])
    if tuple(shape) != tuple(input_shape):
        spec = {**spec, "name": "fake"}
        train = _fit(train, spec, input_shape, tuple(input_shape[1:]))
        test = _fit(test, spec, input_shape, tuple(input_shape[1:]))
    return Data("fake", train, test, tuple(str(i) for i in range(classes)))


def _find_files(
    root: Path,
    names: tuple[str, ...],
    subdirs: tuple[str, ...],
    dataset: str,
    suffixes: tuple[str, ...] = ("", ".gz"),
) -> dict[str, Path]:
    """The ``names`` in ``root`` or one of its ``subdirs``; else an error naming them."""
    for folder in (root, *(root / s for s in subdirs)):
        found = {}
        for name in names:
            hits = [folder / (name + s) for s in suffixes if (folder / (name + s)).is_file()]
            if hits:
                found[name] = hits[0]
        if len(found) == len(names):
            return found
    expected = ", ".join(n + ("[.gz]" if ".gz" in suffixes else "") for n in names)
    where = " or ".join(str(f) for f in (root, *(root / s for s in subdirs)))
    raise CnnError(
        f"{dataset}: data files not found in {where}; expected {expected}",
        hint=f"cnndsl downloads nothing: put the {dataset} files in {root}, or point "
        f'the data at the folder that holds them, e.g. {dataset}("path/to/dir")',
    )


def _idx_dataset(
    name: str, subdir: str, classes: tuple[str, ...]
) -> Callable[[dict[str, Any], Shape, int], Data]:
    """torchvision's ``MNIST`` / ``FashionMNIST`` (``download=False``) on the folder that
    holds the four IDX files: ``root``, ``root/<subdir>/raw`` (torchvision's own layout),
    ``root/<subdir>`` or ``root/raw``; gzipped files are unpacked to a temporary folder."""

    def load(spec: dict[str, Any], input_shape: Shape, seed: int) -> Data:
        files = _find_files(
            Path(spec.get("root", f"data/{name}")),
            MNIST_FILES,
            (f"{subdir}/raw", subdir, "raw"),
            name,
        )
        with tempfile.TemporaryDirectory(prefix="cnndsl-idx-") as tmp:
            folder = _plain_idx_folder(files, Path(tmp))
            train, test = (_torchvision_idx(subdir, folder, t) for t in (True, False))
        return Data(name, train, test, classes)

    return load


def _plain_idx_folder(files: dict[str, Path], tmp: Path) -> Path:
    """The folder of the uncompressed files (gzipped ones are unpacked into ``tmp``)."""
    paths = list(files.values())
    if all(p.suffix != ".gz" for p in paths) and len({p.parent for p in paths}) == 1:
        return paths[0].parent
    for name, path in files.items():
        try:
            opener: Callable[..., Any] = gzip.open if path.suffix == ".gz" else open
            with opener(path, "rb") as src, open(tmp / name, "wb") as dst:
                shutil.copyfileobj(src, dst)
        except (OSError, EOFError) as exc:
            raise CnnError(f"cannot read {path}: {exc}") from None
    return tmp


def _torchvision_idx(subdir: str, folder: Path, train: bool) -> Split:
    from torchvision import datasets  # type: ignore[import-untyped]

    base = datasets.FashionMNIST if subdir == "FashionMNIST" else datasets.MNIST

    class At(base):  # type: ignore[misc, valid-type]
        """torchvision's reader, pointed at ``folder`` (no legacy ``processed/`` files)."""

        @property
        def raw_folder(self) -> str:
            return str(folder)

        def _check_legacy_exist(self) -> bool:
            return False

    part = "train" if train else "t10k"
    try:
        ds = At(str(folder), train=train, download=False)
    except (AssertionError, TypeError, ValueError, RuntimeError, IndexError) as exc:
        raise CnnError(
            f"{folder}: {part}-images-idx3-ubyte / {part}-labels-idx1-ubyte are not MNIST IDX "
            f"files of unsigned bytes ({exc or type(exc).__name__})",
            hint="use the files of the data set's distribution, unchanged (gzipped or not)",
        ) from None
    x, y = ds.data, ds.targets
    if len(x) != len(y):
        raise CnnError(f"{folder}: {len(x)} {part} images but {len(y)} labels")
    return Split(x.unsqueeze(1), y.long())


def _cifar10(spec: dict[str, Any], input_shape: Shape, seed: int) -> Data:
    """The CIFAR-10 python pickle batches (``cifar-10-batches-py``)."""
    files = _find_files(
        Path(spec.get("root", "data/cifar10")),
        CIFAR_FILES,
        ("cifar-10-batches-py",),
        "cifar10",
        ("",),
    )
    parts = [_cifar_batch(files[n]) for n in CIFAR_FILES]
    x_train = torch.cat([p[0] for p in parts[:5]])
    y_train = torch.cat([p[1] for p in parts[:5]])
    return Data("cifar10", Split(x_train, y_train), Split(*parts[5]), CIFAR_CLASSES)


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles CIFAR batches only: numpy arrays, lists, dicts, bytes, str and numbers.

    A pickle can name any function to call while loading; a data folder is not trusted
    code, so every global other than numpy's array reconstruction is refused."""

    ALLOWED = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("_codecs", "encode"),  # protocol-2 pickles write bytes through it
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing {module}.{name}")


def _cifar_batch(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        with open(path, "rb") as f:
            batch = _BatchUnpickler(f, encoding="bytes").load()
        if isinstance(batch, dict):  # Python 2's str keys: bytes; a Python 3 pickle's: str
            batch = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}
        if not isinstance(batch, dict) or "data" not in batch or "labels" not in batch:
            raise pickle.UnpicklingError("not a dict with 'data' and 'labels'")
    except (pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise CnnError(
            f"{path} is not a CIFAR-10 batch: {exc}",
            hint="it must be one of the python pickles of cifar-10-python.tar.gz, unchanged",
        ) from None
    x = torch.as_tensor(batch["data"], dtype=torch.uint8).reshape(-1, 3, 32, 32)
    return x, torch.as_tensor(batch["labels"], dtype=torch.long)


LOADERS: dict[str, Callable[[dict[str, Any], Shape, int], Data]] = {
    "digits": _digits,
    "fake": _fake,
    "mnist": _idx_dataset("mnist", "MNIST", tuple(str(i) for i in range(10))),
    "fashion_mnist": _idx_dataset("fashion_mnist", "FashionMNIST", FASHION_CLASSES),
    "cifar10": _cifar10,
}


# ---------------------------------------------------------------- image folders
class ImageFiles(Dataset):
    """Images decoded per item (for folders too large to hold in memory)."""

    def __init__(self, files: list[Path], labels: list[int], channels: int, size: tuple[int, ...]):
        self.files, self.labels, self.channels, self.size = files, labels, channels, size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return read_image(self.files[i], self.channels, self.size), self.labels[i]


MAX_IMAGE_PIXELS = 64_000_000  # an explicit limit on decoded images (8000×8000)


def read_image(path: str | Path, channels: int, size: tuple[int, ...]) -> torch.Tensor:
    """An image file as a C×H×W uint8 tensor, converted to grey or RGB and resized."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as original:
            if original.width * original.height > MAX_IMAGE_PIXELS:
                raise CnnError(
                    f"image {path} claims more pixels than the limit of {MAX_IMAGE_PIXELS:,} "
                    f"({original.width}×{original.height})",
                    hint="resize it first; very large headers are how decompression bombs work",
                )
            img = original.convert("L" if channels == 1 else "RGB")
        img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
        data = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8)
    except Image.DecompressionBombError:
        raise CnnError(
            f"image {path} claims more pixels than the limit of {MAX_IMAGE_PIXELS:,}",
            hint="resize it first; very large headers are how decompression bombs work",
        ) from None
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise CnnError(f"cannot read image {path}: {exc}") from None
    if channels not in (1, 3):
        raise CnnError(f"image files give 1 or 3 channels, the network takes {channels}")
    return data.reshape(size[0], size[1], channels).permute(2, 0, 1).contiguous()


def _folder(
    spec: dict[str, Any], channels: int, size: tuple[int, ...], seed: int, max_bytes: int, want: int
) -> Data:
    """torchvision's ``ImageFolder`` layout: one sub-folder per class; ``train/`` and
    ``test/`` (and ``val/``) sub-folders when present. Images are decoded by
    :func:`read_image` (with its pixel limit)."""
    if channels != want:
        raise CnnError(
            f"data channels={channels} does not fit the network's {want} input channels",
            hint=f"use channels={want}",
        )
    root = Path(spec["root"])
    if not root.is_dir():
        raise CnnError(
            f"folder: {root} is not a folder",
            hint="folder(root) expects one sub-folder of images per class "
            "(root/<class>/<image>), or train/ and test/ folders laid out so",
        )
    val_files: list[tuple[Path, int]] | None = None
    if (root / "train").is_dir() and (root / "test").is_dir():
        classes, train_files = _image_folder(root / "train")
        test_files = _image_folder(root / "test", classes)[1]
        if (root / "val").is_dir():
            val_files = _image_folder(root / "val", classes)[1]
    else:
        classes, files = _image_folder(root)
        train_idx, test_idx = stratified_split(torch.tensor([c for _, c in files]), seed)
        train_files = [files[i] for i in train_idx.tolist()]
        test_files = [files[i] for i in test_idx.tolist()]
    per_image = channels * size[0] * size[1]
    count = len(train_files) + len(test_files) + len(val_files or ())
    make = _lazy_split if count * per_image > max_bytes else _eager_split
    return Data(
        "folder",
        make(train_files, channels, size),
        make(test_files, channels, size),
        tuple(classes),
        make(val_files, channels, size) if val_files is not None else None,
    )


def _image_folder(
    root: Path, classes: list[str] | None = None
) -> tuple[list[str], list[tuple[Path, int]]]:
    """(classes, [(file, label)]) as ``torchvision.datasets.ImageFolder`` finds them;
    ``classes``: those of the train folder, which a test or val folder must repeat."""
    from torchvision.datasets import ImageFolder  # type: ignore[import-untyped]

    try:
        found = ImageFolder(str(root), loader=str, allow_empty=True)
    except (FileNotFoundError, OSError) as exc:
        raise CnnError(
            f"folder: {root} has no class sub-folders ({exc})",
            hint="put the images of each class in a sub-folder named after it: "
            f"{root}/<class>/<image>.png",
        ) from None
    if classes is not None and found.classes != classes:
        raise CnnError(
            f"folder: the classes of {root} ({', '.join(found.classes)}) differ from those of "
            f"the training folder ({', '.join(classes)})",
            hint="every split needs the same class sub-folders",
        )
    files = [(Path(p), int(c)) for p, c in found.samples]
    if not files:
        raise CnnError(
            f"folder: no images ({', '.join(IMAGE_SUFFIXES)}) under {root}/<class>/",
            hint="put the images of each class in a sub-folder named after it",
        )
    return list(found.classes), files


def _eager_split(files: list[tuple[Path, int]], channels: int, size: tuple[int, ...]) -> Split:
    if not files:
        return Split(torch.zeros(0, channels, *size, dtype=torch.uint8), torch.zeros(0).long())
    x = torch.stack([read_image(p, channels, size) for p, _ in files])
    return Split(x, torch.tensor([c for _, c in files], dtype=torch.long))


def _lazy_split(files: list[tuple[Path, int]], channels: int, size: tuple[int, ...]) -> ImageFiles:
    return ImageFiles([p for p, _ in files], [c for _, c in files], channels, size)
