"""Random-number state, seeding and checkpoints."""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import CnnError
from ..fileutil import write_atomic
from .batches import Augment


# ---------------------------------------------------------------- state
def rng_state(augment: Augment | None) -> dict[str, Any]:
    """torch (CPU, CUDA), python, numpy and augmentation generator states, load-safe types."""
    version, words, gauss = random.getstate()
    name, words_np, pos, has_gauss, cached = np.random.get_state()  # type: ignore[misc]
    keys = np.asarray(words_np, dtype=np.int64)
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
        "python": [version, list(words), gauss],
        "numpy": [name, torch.from_numpy(keys), pos, has_gauss, cached],
        "augment": augment.gen.get_state() if augment else None,
    }


def set_rng_state(state: dict[str, Any], augment: Augment | None) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    version, words, gauss = state["python"]
    random.setstate((version, tuple(words), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if augment and state["augment"] is not None:
        augment.gen.set_state(state["augment"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


CHECKPOINT_FORMAT = 1
_REQUIRED = ("model", "network", "config", "epoch")


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """``torch.save`` through a temporary file and ``os.replace``: never half written. The
    checkpoint carries its format version and its structure (every key and shape)."""
    state = {"format": CHECKPOINT_FORMAT, "structure": structure(state["model"]), **state}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_atomic(path, buffer.getvalue(), stale_after=0)  # a run folder has one writer


def structure(state_dict: dict[str, Any]) -> list[tuple[str, tuple[int, ...]]]:
    """The keys and shapes of a state_dict: what must match for the weights to load."""
    return [(k, tuple(v.shape)) for k, v in state_dict.items() if hasattr(v, "shape")]


def check_fits(ckpt: dict[str, Any], model: torch.nn.Module, path: Path | str, what: str) -> None:
    """Refuse a checkpoint whose keys or shapes differ from ``model``'s, saying which."""
    have = dict(structure(ckpt["model"]))
    want = dict(structure(model.state_dict()))
    if have == want:
        return
    missing = [k for k in want if k not in have]
    extra = [k for k in have if k not in want]
    shapes = [
        f"{k} {'×'.join(map(str, have[k]))} vs {'×'.join(map(str, want[k]))}"
        for k in want
        if k in have and have[k] != want[k]
    ]
    parts = []
    for label, items in (("missing", missing), ("unexpected", extra), ("shape", shapes)):
        if items:
            more = f" (+{len(items) - 3} more)" if len(items) > 3 else ""
            parts.append(f"{label}: {', '.join(items[:3])}{more}")
    raise CnnError(
        f"{path} does not fit {what}: {'; '.join(parts)}",
        hint="the architecture changed since the checkpoint was saved: restore the .cnn file "
        "it was trained with, or start a new run",
    )


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """A checkpoint written by :func:`save_checkpoint` (loaded with ``weights_only``)."""
    path = Path(path)
    if not path.is_file():
        raise CnnError(
            f"checkpoint {path} not found", hint="a run folder holds last.pt and best.pt"
        )
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad file
        raise CnnError(f"{path} is not a cnndsl checkpoint: {exc}") from None
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in _REQUIRED):
        found = (
            f"a dict with {', '.join(map(str, list(ckpt)[:4]))}"
            if isinstance(ckpt, dict)
            else f"a {type(ckpt).__name__}"
        )
        raise CnnError(
            f"{path} is not a cnndsl checkpoint: it holds {found}",
            hint="give last.pt, best.pt or interrupted.pt from a cnndsl run folder "
            "(a bare state_dict loads with model.load_state_dict in Python)",
        )
    if ckpt.get("format", 0) > CHECKPOINT_FORMAT:
        raise CnnError(
            f"{path} was written by a newer cnndsl (format {ckpt['format']})",
            hint="upgrade cnndsl",
        )
    return ckpt  # type: ignore[no-any-return]
