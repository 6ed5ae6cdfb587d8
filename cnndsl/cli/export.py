"""``cnndsl export FILE --format onnx|exported-program|torchscript [-o OUT]``."""

from __future__ import annotations

import argparse

from ..export import export
from .common import _read_input, parse_overrides


def cmd_export(args: argparse.Namespace) -> int:
    """Export one network (the last of the file, or ``--network``); ``-`` reads stdin and
    then needs ``-o``."""
    source, name = _read_input(args.file)
    result = export(
        None if source is not None else name,
        args.format,
        args.out,
        network=args.network,
        opset=args.opset,
        dynamic_batch=args.dynamic_batch,
        params=parse_overrides(args.param),
        source=source,
        input_shape=getattr(args, "input", None),
    )
    batch = "N" if result.dynamic_batch else "1"
    shape = "×".join(map(str, (batch, *result.input_shape)))
    print(f"wrote {result.path} ({result.format}, {result.network}, input {shape})")
    return 0
