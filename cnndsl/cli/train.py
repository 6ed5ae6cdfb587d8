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
from ..training.config import parse_data_spec
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


_CONFIG_FLAGS = ("epochs", "batch", "lr", "optimizer", "schedule", "data", "val", "seed", "out")


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
    if not final:
        return
    test = final.get("test")
    chosen = (
        f"epoch {final['best_epoch']}, val accuracy {final['best_val_accuracy']:.2%}"
        if final.get("best_val_accuracy") is not None
        else f"epoch {final['best_epoch']}, the last (no validation split)"
    )
    if test:
        top5 = f", top-5 {test['top5_accuracy']:.2%}" if "top5_accuracy" in test else ""
        print(
            f"test accuracy {test['accuracy']:.2%}{top5} ({test['images']:,} images) with "
            f"best.pt ({chosen}); run saved in {run_dir}"
        )
    else:
        print(
            f"stopped after epoch {final['epoch']} (best.pt: {chosen}); the test split is "
            f"evaluated when the run finishes: --resume {run_dir}"
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


def _normalize(cfg: dict[str, Any]) -> tuple[float, float] | None:
    norm = [
        (s.get("mean", 0.5), s.get("std", 0.5)) for s in cfg["augment"] if s["name"] == "normalize"
    ]
    return norm[-1] if norm else None


def cmd_eval(args: Any) -> int:
    """``cnndsl eval FILE --checkpoint CKPT [--data SPEC] [--split val|test] [--json] [-o DIR]``:
    the classification report and top-k of a split; writes metrics.json, confusion.png and
    confusion_normalized.png."""
    import json
    import sys

    from sklearn.metrics import classification_report  # type: ignore[import-untyped]

    from ..fileutil import write_atomic
    from ..training.loop import eval_batch_count
    from ..training.report import Reporter, plot_confusion

    model, ckpt, info, device = _from_checkpoint(args)
    cfg = ckpt["config"]
    spec = parse_data_spec(args.data) if args.data else cfg["data"]
    val = cfg.get("val", 0.0)
    data = load_data(spec, info.input_shape, cfg["seed"], val=val if args.split == "val" else 0)
    split = data.test if args.split == "test" else data.val
    if split is None:
        raise CnnError(
            f"{args.checkpoint} was trained without a validation split (val 0)",
            hint="use --split test",
        )
    trained = tuple(ckpt.get("classes") or data.classes)
    if len(data.classes) != len(trained):
        raise CnnError(
            f"{data.name} has {len(data.classes)} classes, {args.checkpoint} was trained on "
            f"{len(trained)}",
            hint="evaluate on a data set with the same classes",
        )
    if tuple(data.classes) != trained:
        print(
            f"cnndsl: warning: {data.name}'s class names ({', '.join(data.classes[:5])}…) differ "
            f"from the checkpoint's ({', '.join(trained[:5])}…); classes are matched by index",
            file=sys.stderr,
        )
    ctx = Context(device, normalize=_normalize(cfg))
    reporter = Reporter(not args.json, None, 1)
    label = f"{args.split} ({Path(args.checkpoint).name})"
    reporter.eval_start(label, eval_batch_count(split))
    try:
        m = evaluate(
            model, _on_device(split, device), ctx, trained, info.num_outputs, reporter.eval_step
        )
    finally:
        reporter.eval_end()
        reporter.close()
    epoch = ckpt.get("epoch")
    where = f"{info.name} {Path(args.checkpoint).name} (epoch {epoch}) on {data.name} {args.split}"
    result = {
        "network": info.name,
        "checkpoint": str(args.checkpoint),
        "epoch": epoch,
        "data": spec,
        "split": args.split,
        **m,
    }
    ckpt_path = Path(args.checkpoint)
    out = Path(args.out) if args.out else ckpt_path.parent / f"eval-{ckpt_path.stem}-{args.split}"
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "metrics.json", json.dumps(result, indent=2) + "\n")
    title = f"{where}, {m['images']:,} images"
    plot_confusion(
        m["confusion"], trained, out / "confusion.png", f"{title}\naccuracy {m['accuracy']:.2%}"
    )
    plot_confusion(
        m["confusion_normalized"],
        trained,
        out / "confusion_normalized.png",
        f"{title}\nshare of each true class",
        normalized=True,
    )
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    import numpy as np

    y_true = np.repeat(np.arange(len(trained)), [sum(r) for r in m["confusion"]])
    y_pred = np.concatenate([np.repeat(np.arange(len(trained)), r) for r in m["confusion"]])
    top = f"  top-5 {m['top5_accuracy']:.2%} (error {1 - m['top5_accuracy']:.2%})"
    print(
        f"{where}: {m['images']:,} images  loss {m['loss']:.4f}  "
        f"top-1 {m['accuracy']:.2%} (error {1 - m['accuracy']:.2%})"
        + (top if "top5_accuracy" in m else "")
    )
    print()
    print(
        classification_report(
            y_true,
            y_pred,
            labels=list(range(len(trained))),
            target_names=list(trained),
            digits=4,
            zero_division=0,
        ).rstrip()
    )
    print()
    print(f"wrote {out / 'metrics.json'}, {out / 'confusion.png'}, confusion_normalized.png")
    return 0


def _on_device(split: Any, device: torch.device) -> Any:
    return Split(split.x.to(device), split.y.to(device)) if isinstance(split, Split) else split


_GLOB = frozenset("*?[")


def _image_paths(items: list[str]) -> tuple[list[Path], list[str]]:
    """(image files, errors): files as given, folders searched recursively (sorted), globs
    expanded (when the shell did not); a name that matches nothing is an error line."""
    import glob

    from ..training.data import IMAGE_SUFFIXES

    files: list[Path] = []
    errors: list[str] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            )
            if not found:
                errors.append(f"{item}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
            files += found
        elif path.exists() or not _GLOB & set(item):
            files.append(path)
        else:
            matches = sorted(glob.glob(item, recursive=True))
            if not matches:
                errors.append(f"{item}: no file matches")
            for match in matches:
                files += _image_paths([match])[0]
    return files, errors


def cmd_predict(args: Any) -> int:
    """``cnndsl predict FILE --checkpoint CKPT IMAGES… [--topk K] [--format table|json|csv]``:
    the K likeliest classes per image. An unreadable image is one line on stderr and exit
    status 1; the others are still classified."""
    import csv
    import json
    import sys

    model, ckpt, info, device = _from_checkpoint(args)
    classes = list(ckpt.get("classes") or [str(i) for i in range(info.num_outputs)])
    ctx = Context(device, normalize=_normalize(ckpt["config"]))
    if len(info.input_shape) != 3:
        raise CnnError(f"predict reads images; {info.name} does not take images")
    channels, size = info.input_shape[0], tuple(info.input_shape[1:])
    paths, errors = _image_paths(args.images)
    for line in errors:
        print(f"cnndsl: error: {line}", file=sys.stderr)
    k = min(args.topk, info.num_outputs)
    rows: list[dict[str, Any]] = []
    chunk = 256
    for start in range(0, len(paths), chunk):
        batch, good = [], []
        for path in paths[start : start + chunk]:
            try:
                batch.append(read_image(path, channels, size))
                good.append(path)
            except CnnError as exc:
                print(f"cnndsl: error: {exc.message}", file=sys.stderr)
                errors.append(str(path))
        if not batch:
            continue
        x, _ = ctx.prepare(torch.stack(batch), torch.zeros(len(batch), dtype=torch.long), False)
        with torch.inference_mode():
            out = model(x)
            probs = (out if isinstance(out, torch.Tensor) else out[0]).float().softmax(1)
        top = probs.topk(k, dim=1)
        for path, p, i in zip(good, top.values.tolist(), top.indices.tolist(), strict=True):
            rows.append(
                {
                    "image": str(path),
                    "predictions": [
                        {
                            "class": classes[c] if c < len(classes) else str(c),
                            "index": c,
                            "probability": q,
                        }
                        for c, q in zip(i, p, strict=True)
                    ],
                }
            )
    if args.format == "json":
        print(json.dumps(rows, indent=2))
    elif args.format == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["image", "rank", "class", "index", "probability"])
        for row in rows:
            for rank, pred in enumerate(row["predictions"], 1):
                writer.writerow(
                    [row["image"], rank, pred["class"], pred["index"], f"{pred['probability']:.6f}"]
                )
    else:
        for row in rows:
            guesses = ", ".join(
                f"{p['class']} ({p['probability']:.1%})" for p in row["predictions"]
            )
            print(f"{row['image']}: {guesses}")
    return 1 if errors else 0
