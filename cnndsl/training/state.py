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


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """``torch.save`` through a temporary file and ``os.replace``: never half written."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_atomic(path, buffer.getvalue())


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """A checkpoint written by :func:`save_checkpoint` (loaded with ``weights_only``)."""
    path = Path(path)
    if not path.is_file():
        raise CnnError(
            f"checkpoint {path} not found", hint="a run folder holds last.pt and best.pt"
        )
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad file
        raise CnnError(f"{path} is not a cnndsl checkpoint: {exc}") from None
