"""The resolved training configuration: the train section with command-line overrides."""

from __future__ import annotations

import copy
from typing import Any

from ..errors import CnnError
from ..train_config import DEFAULTS, OPTIMIZERS, SCHEDULES


# ---------------------------------------------------------------- configuration
def resolve_config(base: dict[str, Any] | None, args: Any) -> dict[str, Any]:
    """The train section's config with the command line's overrides applied.

    >>> from argparse import Namespace
    >>> cfg = resolve_config(None, Namespace(epochs=3, optimizer="sgd", lr=0.1))
    >>> cfg["epochs"], cfg["optimizer"]
    (3, {'name': 'sgd', 'lr': 0.1})
    """
    cfg = copy.deepcopy(base if base is not None else DEFAULTS)

    def opt(key: str) -> Any:
        return getattr(args, key, None)

    if opt("data"):
        cfg["data"] = parse_data_spec(opt("data"))
    for key in ("epochs", "batch", "seed"):
        if opt(key) is not None:
            cfg[key] = opt(key)
    if opt("val") is not None:
        if not 0 <= opt("val") < 1:
            raise CnnError(
                f"--val {opt('val')}: the fraction held out for validation is from 0 up to "
                "(not including) 1",
                hint="e.g. --val 0.1; --val 0 trains on everything and keeps the last epoch",
            )
        cfg["val"] = float(opt("val"))
    if opt("optimizer") and opt("optimizer") != cfg["optimizer"]["name"]:
        cfg["optimizer"] = _switch(cfg["optimizer"], opt("optimizer"), OPTIMIZERS)
    if opt("lr") is not None:
        cfg["optimizer"]["lr"] = opt("lr")
    if opt("schedule") and opt("schedule") != cfg["schedule"]["name"]:
        cfg["schedule"] = _switch(cfg["schedule"], opt("schedule"), SCHEDULES)
    return cfg


def _switch(old: dict[str, Any], name: str, table: dict[str, dict[str, str]]) -> dict[str, Any]:
    """A new choice keeping the old settings it understands (lr, weight_decay, warmup)."""
    return {"name": name, **{k: v for k, v in old.items() if k != "name" and k in table[name]}}


def parse_data_spec(text: str) -> dict[str, Any]:
    """``--data 'digits(size=32)'`` -> ``{"name": "digits", "size": 32}``, as a train section."""
    from ..parser import parse
    from ..train_config import train_config

    try:
        tree = parse(f"train {{ data {text} }}", "--data")
        return train_config(tree.items[0])["data"]  # type: ignore[arg-type]
    except CnnError as exc:
        raise CnnError(
            f"--data {text!r}: {exc.message}",
            hint=exc.hint or 'e.g. --data "digits(size=32)" or --data "mnist(\\"data/mnist\\")"',
        ) from None
