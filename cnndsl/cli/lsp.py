"""``cnndsl lsp``: the language server over stdio (for editors)."""

from __future__ import annotations

import argparse

from ..errors import CnnError


def cmd_lsp(args: argparse.Namespace) -> int:
    try:
        from ..lsp.server import main
    except ModuleNotFoundError as exc:
        if exc.name not in ("pygls", "lsprotocol"):
            raise
        raise CnnError(
            f"cnndsl lsp needs the editor extra ({exc.name} is not installed)",
            hint="pip install 'cnndsl[editor]'",
        ) from None
    main()
    return 0
