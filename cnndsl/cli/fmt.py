"""``cnndsl fmt FILE… [--check] [--diff]``: lay out ``.cnn`` files canonically."""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from ..errors import CnnError
from ..fileutil import write_atomic
from ..fmt import format_source
from .common import remember_source, report


def _files(names: list[str]) -> list[str]:
    """The files named, with the ``.cnn`` files under each folder (sorted)."""
    out: list[str] = []
    for name in names:
        p = Path(name)
        if name != "-" and p.is_dir():
            found = sorted(str(f) for f in p.rglob("*.cnn") if f.is_file())
            out.extend(found)
        else:
            out.append(name)
    return out


def cmd_fmt(args: argparse.Namespace) -> int:
    """Exit status: 0 done (or nothing to change), 1 a file does not parse or, with
    ``--check``, would change."""
    status = 0
    changed: list[str] = []
    for name in _files(args.files):
        try:
            if name == "-":
                text = sys.stdin.read()
            else:
                text = Path(name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            report(
                CnnError(f"cannot read {name}: {getattr(exc, 'strerror', None) or exc}").diagnostic
            )
            status = 1
            continue
        shown = "<stdin>" if name == "-" else name
        remember_source(shown, text)
        try:
            out = format_source(text, shown)
        except CnnError as exc:
            report(exc.diagnostic)
            status = 1
            continue
        same = out == text
        if args.diff and not same:
            sys.stdout.writelines(
                difflib.unified_diff(
                    text.splitlines(keepends=True),
                    out.splitlines(keepends=True),
                    f"{shown} (original)",
                    f"{shown} (formatted)",
                )
            )
        if name == "-" and not args.check and not args.diff:
            sys.stdout.write(out)
            continue
        if same:
            continue
        changed.append(shown)
        if not args.check and not args.diff:
            write_atomic(Path(name), out)
            print(f"formatted {shown}", file=sys.stderr)
    if args.check:
        for name in changed:
            print(f"would reformat {name}", file=sys.stderr)
        if changed:
            status = 1
    return status
