"""``cnndsl train``, ``eval`` and ``predict``."""

from __future__ import annotations

import os
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..api import load_networks
from ..errors import CnnError, exit_on_sigterm
from ..training import (
    Context,
    NetInfo,
    Options,
    evaluate,
    load_checkpoint,
    load_model,
    pick_device,
    resolve_config,
    train,
)
from ..training.data import Split, load_data, read_image
from ..training.state import check_fits
from ..training.trainer import RUN_MARKER
from .common import parse_overrides


def _network(file: str, network: str | None, param: list[str] | None) -> tuple[Any, dict[str, Any]]:
    params = parse_overrides(param)
    nets = load_networks(file, network=network, overrides=params)
    if not nets:
        raise CnnError(f"{file} defines no network to train (only blocks)")
    return nets[-1], params


def _options(args: Any, resume: bool = False) -> Options:
    return Options(
        device=args.device,
        amp=args.amp,
        channels_last=args.channels_last,
        compile=args.compile,
        nproc=args.nproc,
        workers=args.workers,
        deterministic=args.deterministic,
        stop_after=args.stop_after,
        resume=resume,
    )


def cmd_train(args: Any) -> int:
    """``cnndsl train FILE``: train, writing a run folder; ``--resume RUN_DIR`` continues.
    SIGINT and SIGTERM both save ``interrupted.pt`` and stop (exit 130 and 143)."""
    exit_on_sigterm()
    if args.resume:
        return _resume(args)
    net, params = _network(args.file, args.network, args.param)
    cfg = resolve_config(net.train, args)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = Path(args.out or f"runs/{net.name}-{stamp}")
    if (run_dir / "last.pt").exists():
        raise CnnError(
            f"{run_dir} already holds a run",
            hint=f"continue it with --resume {run_dir}, or choose another --out",
        )
    if run_dir.is_dir() and any(run_dir.iterdir()) and not (run_dir / RUN_MARKER).exists():
        raise CnnError(
            f"refusing to train into {run_dir}: it holds files cnndsl did not write",
            hint="choose an empty or new folder with --out",
        )
    info = NetInfo.of(net, args.file, params)
    final = train(
        partial(load_model, args.file, net.name, params), info, cfg, run_dir, _options(args)
    )
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun only rank 0 reports
        _print_final(final, run_dir)
    return 0


_CONFIG_FLAGS = ("epochs", "batch", "lr", "optimizer", "schedule", "data", "seed", "out")


def _resume(args: Any) -> int:
    run_dir = Path(args.resume)
    ckpt = load_checkpoint(run_dir / "last.pt")
    given = [f"--{k}" for k in _CONFIG_FLAGS if getattr(args, k, None) is not None]
    if given:
        raise CnnError(
            f"--resume continues {run_dir} as configured; {', '.join(given)} would change it",
            hint="drop those options, or start a new run",
        )
    saved = ckpt["network"]
    params = saved["params"] or {}
    net = load_networks(args.file, network=saved["name"], overrides=params)[-1]
    if ckpt["epoch"] >= ckpt["config"]["epochs"]:
        print(f"{run_dir} already finished its {ckpt['epoch']} epochs")
        return 0
    info = NetInfo.of(net, args.file, params)
    final = train(
        partial(load_model, args.file, net.name, params),
        info,
        ckpt["config"],
        run_dir,
        _options(args, resume=True),
    )
    _print_final(final, run_dir)
    return 0


def _print_final(final: dict[str, Any], run_dir: Path) -> None:
    if final:
        print(
            f"test accuracy {final['test_accuracy']:.2%} after epoch {final['epoch']} "
            f"(best {final['best_test_accuracy']:.2%} at epoch {final['best_epoch']}); "
            f"run saved in {run_dir}"
        )


def _from_checkpoint(args: Any) -> tuple[nn.Module, dict[str, Any], NetInfo, torch.device]:
    device = pick_device(args.device)
    ckpt = load_checkpoint(args.checkpoint)
    saved = ckpt.get("network") or {}
    params = saved.get("params") or {}
    net = load_networks(args.file, network=args.network or saved.get("name"), overrides=params)[-1]
    info = NetInfo.of(net, args.file, params)
    model = load_model(args.file, net.name, params).to(device)
    check_fits(ckpt, model, args.checkpoint, f"{net.name} in {args.file}")
    model.load_state_dict(ckpt["model"])
    return model.eval(), ckpt, info, device


def cmd_eval(args: Any) -> int:
    """``cnndsl eval FILE --checkpoint CKPT``: print the test split's metrics."""
    model, ckpt, info, device = _from_checkpoint(args)
    cfg = ckpt["config"]
    data = load_data(cfg["data"], info.input_shape, cfg["seed"])
    norm = [
        (s.get("mean", 0.5), s.get("std", 0.5)) for s in cfg["augment"] if s["name"] == "normalize"
    ]
    ctx = Context(device, normalize=norm[-1] if norm else None)
    m = evaluate(model, _on_device(data.test, device), ctx, data.classes, info.num_outputs)
    print(
        f"{info.name} on {data.name} test ({sum(v['support'] for v in m['per_class'].values())}"
        f" images): loss {m['test_loss']:.4f}  accuracy {m['test_accuracy']:.2%}  "
        f"precision {m['precision']:.2%}  recall {m['recall']:.2%}  F1 {m['f1']:.2%}"
    )
    print(f"{'class':>12} {'precision':>10} {'recall':>8} {'F1':>8} {'support':>8}")
    for name, c in m["per_class"].items():
        print(
            f"{name:>12} {c['precision']:>10.2%} {c['recall']:>8.2%} {c['f1']:>8.2%} "
            f"{c['support']:>8}"
        )
    return 0


def _on_device(split: Any, device: torch.device) -> Any:
    return Split(split.x.to(device), split.y.to(device)) if isinstance(split, Split) else split


def cmd_predict(args: Any) -> int:
    """``cnndsl predict FILE --checkpoint CKPT IMAGE…``: class and probability per image."""
    model, ckpt, info, device = _from_checkpoint(args)
    classes = ckpt.get("classes") or [str(i) for i in range(info.num_outputs)]
    norm = [
        (s.get("mean", 0.5), s.get("std", 0.5))
        for s in ckpt["config"]["augment"]
        if s["name"] == "normalize"
    ]
    ctx = Context(device, normalize=norm[-1] if norm else None)
    if len(info.input_shape) != 3:
        raise CnnError(f"predict reads images; {info.name} does not take images")
    channels, size = info.input_shape[0], tuple(info.input_shape[1:])
    x = torch.stack([read_image(p, channels, size) for p in args.images])
    x, _ = ctx.prepare(x, torch.zeros(len(x), dtype=torch.long), train=False)
    with torch.inference_mode():
        out = model(x)
        probs = (out if isinstance(out, torch.Tensor) else out[0]).float().softmax(1)
    for path, p in zip(args.images, probs):
        best = int(p.argmax())
        name = classes[best] if best < len(classes) else str(best)
        print(f"{path}: {name} ({p[best].item():.1%})")
    return 0
