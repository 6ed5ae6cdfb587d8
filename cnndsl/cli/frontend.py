"""``cnndsl check``, ``summary`` and ``ir``: the front end's commands."""

from __future__ import annotations

import argparse

from ..errors import CnnError, Warnings
from .common import analyses as _analyses
from .common import report, write_output


def cmd_check(args: argparse.Namespace) -> int:
    from ..text import human, size_text

    status = 0
    for path in args.files:
        warnings = Warnings()
        try:
            analyses = _analyses(args, path, warnings)
        except CnnError as exc:
            for w in warnings.items:
                report(w)
            report(exc.diagnostic)
            status = 1
            continue
        for w in warnings.items:
            report(w)
        if not analyses:
            print(f"{path}: ok (no network: a library of blocks)")
        for a in analyses:
            net = a.network
            side = "".join(f", {n} {size_text(sh)}" for n, sh in a.outputs.items())
            print(
                f"{path}: {net.name} ok: {size_text(net.input_shape)} -> "
                f"{size_text(net.output_shape)}{side}; {a.params:,} params, "
                f"{human(a.macs)} MACs"
            )
    return status


def cmd_summary(args: argparse.Namespace) -> int:
    from ..tables import FORMATS

    warnings = Warnings()
    analyses = _analyses(args, args.file, warnings)
    for w in warnings.items:
        report(w)
    text = FORMATS[args.format](analyses, args.depth)
    write_output(text, args.out, args.file)
    return 0


def cmd_ir(args: argparse.Namespace) -> int:
    from ..text import size_text

    warnings = Warnings()
    analyses = _analyses(args, args.file, warnings)
    lines = []
    for a in analyses:
        lines.append(f"network {a.network.name} input {size_text(a.network.input_shape)}")
        for path, node in a.network.modules():
            indent = "  " * (path.count(".") + 1)
            what = (
                getattr(node, "op", None) or getattr(node, "title", "") or getattr(node, "kind", "")
            )
            args_text = ""
            if hasattr(node, "args"):
                args_text = " " + " ".join(f"{k}={v}" for k, v in node.args.items())
            lines.append(f"{indent}{path}: {what}{args_text} -> {size_text(node.out_shape)}")
    write_output("\n".join(lines) + "\n", args.out, args.file)
    return 0
