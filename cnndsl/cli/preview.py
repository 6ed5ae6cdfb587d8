"""``cnndsl preview FILE [--port N]`` and the loop behind ``cnndsl render --watch``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from ..errors import CnnError
from .common import report


def _needs_editor_extra(exc: ModuleNotFoundError) -> CnnError:
    return CnnError(
        f"this command needs the editor extra ({exc.name} is not installed)",
        hint="pip install 'cnndsl[editor]'",
    )


def cmd_preview(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise CnnError(f"cannot read {args.file}: no such file", hint="give a .cnn file")
    try:
        import watchfiles  # noqa: F401

        from ..preview.server import serve
    except ModuleNotFoundError as exc:
        if exc.name != "watchfiles":
            raise
        raise _needs_editor_extra(exc) from None

    def ready(url: str) -> None:
        print(f"preview of {path} at {url} (127.0.0.1 only; Ctrl-C to stop)", flush=True)
        if args.open:
            import webbrowser

            webbrowser.open(url)

    try:
        serve(path, args.port, ready)
    except OSError as exc:
        raise CnnError(
            f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}",
            hint="choose another port with --port (0: any free port)",
        ) from None
    return 0


def watch_render(args: argparse.Namespace, render: Callable[[argparse.Namespace], int]) -> int:
    """``render --watch``: draw, then draw again after each save of the file or its imports;
    a mistake in the file is reported and the watch goes on (Ctrl-C stops)."""
    if args.file == "-":
        raise CnnError("--watch needs a file, not stdin")
    try:
        from ..preview.watch import changes, files_of, stamps
    except ModuleNotFoundError as exc:  # pragma: no cover - the editor extra is missing
        raise _needs_editor_extra(exc) from None
    once = argparse.Namespace(**{**vars(args), "watch": False})

    def run() -> None:
        try:
            render(once)
        except CnnError as exc:
            report(exc.diagnostic)

    since = stamps(files_of(args.file))
    run()
    print(f"watching {args.file} and its imports (Ctrl-C to stop)", file=sys.stderr, flush=True)
    try:
        for _ in changes(args.file, since=since):
            run()
    except KeyboardInterrupt:
        pass
    return 0
