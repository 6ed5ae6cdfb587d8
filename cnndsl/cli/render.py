"""``cnndsl render``: draw a network with graphviz and write the diagram."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ..errors import CnnError, Warnings
from ..fileutil import check_outputs, write_atomic
from .common import analyses as _analyses
from .common import report


def _may_overwrite(out: Path, source: Path | None, force: bool) -> None:
    """An existing output is replaced only when cnndsl wrote it (its mark), or with --force."""
    from ..diagram import is_ours

    if source is not None:
        check_outputs([(source, out)])
    if out.is_file() and not force:
        try:
            with out.open("rb") as f:
                data = f.read()
        except OSError:
            data = b""
        if data and not is_ours(data):
            raise CnnError(
                f"refusing to overwrite {out}: cnndsl did not write it",
                hint="give another output file with -o, or --force to replace it",
            )


def cmd_render(args: Any) -> int:
    """``cnndsl render FILE [-o OUT] [--format …] [--depth N] …``; returns the exit status."""
    if getattr(args, "watch", False):
        from .preview import watch_render

        return watch_render(args, cmd_render)
    from ..diagram import format_of, to_dot

    warnings = Warnings()
    analyses = _analyses(args, args.file, warnings)
    for w in warnings.items:
        report(w)
    if not analyses:
        raise CnnError(f"{args.file} has no network to draw (a library of blocks)")
    fmt = args.format
    out_arg = getattr(args, "out", None)
    if fmt is None and out_arg not in (None, "-"):
        fmt = format_of(Path(out_arg))
        if fmt is None:
            raise CnnError(
                f"cannot tell the format of {out_arg} from its extension",
                hint="use .svg, .png, .pdf, .dot or .tex (TikZ), or give --format",
            )
    fmt = fmt or "svg"
    depth = getattr(args, "depth", None)
    if depth is None or (isinstance(depth, str) and depth.lower() == "auto"):
        depth = "auto"
    elif isinstance(depth, str) and depth.lower() in ("all", "none", "full"):
        depth = None
    elif isinstance(depth, str):
        depth = int(depth)
    source = None if args.file == "-" else Path(args.file)
    stem = "network" if source is None else source.stem
    for a in analyses:
        diagram = to_dot(
            a,
            depth=depth,
            rankdir=args.rankdir or "TB",
            theme=args.theme or "light",
            shapes=not args.no_shapes,
            fold=not args.no_fold,
        )
        data = diagram.to_bytes(fmt)
        if out_arg == "-":
            sys.stdout.buffer.write(data) if hasattr(sys.stdout, "buffer") else sys.stdout.write(
                data.decode("utf-8", "replace")
            )
            continue
        ext = "tex" if fmt == "tikz" else fmt
        out = Path(out_arg) if out_arg else Path(f"{stem}.{ext}")
        if len(analyses) > 1:
            out = out.with_name(f"{out.stem}.{a.network.name}{out.suffix}")
        _may_overwrite(out, source, getattr(args, "force", False))
        write_atomic(out, data)
        print(f"wrote {out}", file=sys.stderr)
    return 0
