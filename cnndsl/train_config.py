"""The ``train { … }`` section: parsed here, validated, and turned into a plain dict.

The dict is JSON-serialisable (it becomes ``config.json`` of a run); command-line options
override its keys.

>>> from cnndsl.parser import parse
>>> tree = parse("network N { input 1x8x8 }\\ntrain { epochs 3\\n optimizer adam lr=0.01 }")
>>> cfg = train_config(tree.items[1])
>>> cfg["epochs"], cfg["optimizer"]
(3, {'name': 'adam', 'lr': 0.01})
"""

from __future__ import annotations

from typing import Any

from . import syntax as s
from .errors import CnnError, did_you_mean

# key -> (value kind, {word: {kwarg: kind}})
DATASETS: dict[str, dict[str, str]] = {
    "digits": {"size": "int", "channels": "int"},
    "fake": {"n": "int", "classes": "int", "size": "int", "channels": "int"},
    "mnist": {"root": "str", "size": "int", "channels": "int"},
    "fashion_mnist": {"root": "str", "size": "int", "channels": "int"},
    "cifar10": {"root": "str", "size": "int", "channels": "int"},
    "folder": {"root": "str", "size": "int", "channels": "int"},
}
OPTIMIZERS: dict[str, dict[str, str]] = {
    "sgd": {"lr": "positive", "momentum": "float", "weight_decay": "float", "nesterov": "bool"},
    "adam": {"lr": "positive", "weight_decay": "float", "eps": "positive"},
    "adamw": {"lr": "positive", "weight_decay": "float", "eps": "positive"},
}
SCHEDULES: dict[str, dict[str, str]] = {
    "constant": {"warmup": "int"},
    "step": {"step_size": "int", "gamma": "float", "warmup": "int"},
    "cosine": {"warmup": "int"},
    "onecycle": {"max_lr": "positive", "pct_start": "float"},
}
LOSSES: dict[str, dict[str, str]] = {"cross_entropy": {"label_smoothing": "float"}}
AUGMENTS: dict[str, dict[str, str]] = {  # LANGUAGE.md §10: torchvision's transforms.v2
    "random_crop": {"pad": "int"},
    "hflip": {"p": "probability"},
    "vflip": {"p": "probability"},
    "random_resized_crop": {"min_scale": "fraction"},
    "color_jitter": {
        "brightness": "float",
        "contrast": "float",
        "saturation": "float",
        "hue": "float",
    },
    "randaugment": {"ops": "int", "magnitude": "int"},
    "trivialaugment": {},
    "random_erasing": {"p": "probability"},
    "normalize": {"mean": "float", "std": "positive"},
    "mixup": {"alpha": "positive"},
    "cutmix": {"alpha": "positive"},
}
POSITIONAL = {
    "fake": ("n", "classes"),
    "mnist": ("root",),
    "fashion_mnist": ("root",),
    "cifar10": ("root",),
    "folder": ("root", "size"),
    "normalize": ("mean", "std"),
    "random_crop": ("pad",),
    "random_resized_crop": ("min_scale",),
    "random_erasing": ("p",),
    "mixup": ("alpha",),
    "cutmix": ("alpha",),
}
DEFAULTS: dict[str, Any] = {
    "data": {"name": "digits", "size": None},
    "val": 0.1,
    "epochs": 10,
    "batch": 64,
    "optimizer": {"name": "adam", "lr": 0.001},
    "schedule": {"name": "constant"},
    "loss": {"name": "cross_entropy"},
    "augment": [],
    "seed": 0,
}
KEYS = tuple(DEFAULTS)


def train_config(train: s.TrainDef) -> dict[str, Any]:
    """Validate a train section; returns the defaults overridden by what it says."""
    cfg: dict[str, Any] = {
        k: (v.copy() if isinstance(v, (dict, list)) else v) for k, v in DEFAULTS.items()
    }
    seen: set[str] = set()
    for entry in train.entries:
        if entry.key not in DEFAULTS:
            raise CnnError(
                f"unknown train setting {entry.key!r}",
                entry.span,
                did_you_mean(entry.key, KEYS) or f"settings: {', '.join(KEYS)}",
            )
        if entry.key in seen:
            raise CnnError(f"train setting {entry.key!r} is given twice", entry.span)
        seen.add(entry.key)
        cfg[entry.key] = _ENTRY[entry.key](entry)
    return cfg


def _scalar(entry: s.TrainEntry, kind: str, minimum: int | None = None) -> Any:
    if len(entry.values) != 1 or entry.kwargs:
        raise CnnError(f"{entry.key} takes one value", entry.span)
    value = literal_value(entry.values[0])
    _check_kind(entry.key, value, kind, entry.values[0])
    if minimum is not None and value < minimum:
        raise CnnError(f"{entry.key} must be at least {minimum}, got {value}", entry.values[0].span)
    return value


def _choice(entry: s.TrainEntry, table: dict[str, dict[str, str]]) -> dict[str, Any]:
    if len(entry.values) != 1:
        raise CnnError(f"{entry.key} takes one choice", entry.span, f"choices: {', '.join(table)}")
    item = _item(entry.values[0], table, entry.key)
    for kw in entry.kwargs:
        item.update(_kwargs(item["name"], (kw,), table[item["name"]]))
    return item


def _item(expr: s.Expr, table: dict[str, dict[str, str]], key: str) -> dict[str, Any]:
    args: tuple[s.Expr, ...] = ()
    kwargs: tuple[s.Kwarg, ...] = ()
    if isinstance(expr, s.Name):
        name = expr.id
    elif isinstance(expr, s.Call):
        name, args, kwargs = expr.func, expr.args, expr.kwargs
    else:
        raise CnnError(f"{key} expects one of {', '.join(table)}", expr.span)
    if name not in table:
        raise CnnError(
            f"unknown {key} {name!r}",
            expr.span,
            did_you_mean(name, table) or f"choices: {', '.join(table)}",
        )
    item: dict[str, Any] = {"name": name}
    positional = POSITIONAL.get(name, ())
    if len(args) > len(positional):
        raise CnnError(f"{name}() takes at most {len(positional)} positional arguments", expr.span)
    for pname, arg in zip(positional, args, strict=False):
        value = literal_value(arg)
        _check_kind(pname, value, table[name][pname], arg)
        item[pname] = value
    item.update(_kwargs(name, kwargs, table[name]))
    return item


def _kwargs(name: str, kwargs: tuple[s.Kwarg, ...], spec: dict[str, str]) -> dict[str, Any]:
    out = {}
    for kw in kwargs:
        if kw.key not in spec:
            raise CnnError(
                f"{name} has no setting {kw.key!r}",
                kw.span,
                did_you_mean(kw.key, spec) or f"settings: {', '.join(spec)}",
            )
        value = literal_value(kw.value)
        _check_kind(kw.key, value, spec[kw.key], kw.value)
        out[kw.key] = value
    return out


def literal_value(expr: s.Expr) -> Any:
    """The value of a literal (``-`` allowed); a bare word is its name."""
    if isinstance(expr, s.Lit):
        return expr.value
    if isinstance(expr, s.Unary) and expr.op == "-" and isinstance(expr.operand, s.Lit):
        value = expr.operand.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CnnError(f"cannot negate {value!r}: '-' takes a number", expr.span)
        return -value
    if isinstance(expr, s.Name):
        return expr.id
    raise CnnError("expected a literal value here", expr.span)


def _check_kind(key: str, value: Any, kind: str, expr: s.Expr) -> None:
    ok = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "positive": isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0,
        "bool": isinstance(value, bool),
        "str": isinstance(value, str),
        "probability": _number(value) and 0 <= value <= 1,
        "fraction": _number(value) and 0 < value <= 1,
    }[kind]
    if not ok:
        want = {
            "int": "an integer",
            "float": "a number",
            "positive": "a positive number",
            "bool": "true or false",
            "str": 'a string such as "data/mnist"',
            "probability": "a probability from 0 to 1",
            "fraction": "a fraction above 0, at most 1",
        }[kind]
        raise CnnError(f"{key} expects {want}, got {value!r}", expr.span)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# ranges that transforms.v2 would refuse with a traceback: checked here, with a position
_RANGES = {
    ("random_crop", "pad"): (0, None),
    ("color_jitter", "brightness"): (0, None),
    ("color_jitter", "contrast"): (0, None),
    ("color_jitter", "saturation"): (0, None),
    ("color_jitter", "hue"): (0, 0.5),
    ("randaugment", "ops"): (0, None),
    ("randaugment", "magnitude"): (0, 30),
}


def _augment(entry: s.TrainEntry) -> list[dict[str, Any]]:
    if entry.kwargs:
        raise CnnError("augment takes a list such as random_crop(pad=4), hflip", entry.span)
    items = []
    for value in entry.values:
        item = _item(value, AUGMENTS, "augmentation")
        for (name, key), (low, high) in _RANGES.items():
            if item["name"] == name and key in item:
                v = item[key]
                if v < low or (high is not None and v > high):
                    bound = f"from {low} to {high}" if high is not None else f"at least {low}"
                    raise CnnError(f"{name} {key} must be {bound}, got {v}", value.span)
        items.append(item)
    return items


def _val(entry: s.TrainEntry) -> float:
    value = _scalar(entry, "float")
    if not 0 <= value < 1:
        raise CnnError(
            f"val is the fraction of the training data held out: from 0 up to (not including) 1, "
            f"got {value}",
            entry.values[0].span,
            "e.g. val 0.1; val 0 trains on everything and keeps the last epoch",
        )
    return float(value)


_ENTRY = {
    "data": lambda e: _choice(e, DATASETS),
    "val": _val,
    "epochs": lambda e: _scalar(e, "int", 1),
    "batch": lambda e: _scalar(e, "int", 1),
    "seed": lambda e: _scalar(e, "int", 0),
    "optimizer": lambda e: _choice(e, OPTIMIZERS),
    "schedule": lambda e: _choice(e, SCHEDULES),
    "loss": lambda e: _choice(e, LOSSES),
    "augment": _augment,
}
