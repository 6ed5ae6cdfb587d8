"""Which files a ``.cnn`` file reads (itself and its imports), and waiting for a save."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

from .. import syntax as s
from ..errors import CnnError
from ..parser import parse_file


def files_of(path: str | Path) -> set[Path]:
    """The file and every file it imports (transitively), resolved; a file that does not
    parse still counts (the user is editing it), its imports are then unknown."""
    todo = [Path(path).resolve()]
    seen: set[Path] = set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            tree = parse_file(p)
        except CnnError:
            continue
        for item in tree.items:
            if isinstance(item, s.Import) and item.path.endswith(".cnn"):
                try:
                    todo.append((p.parent / item.path).resolve())
                except (OSError, RuntimeError, ValueError):
                    continue
    return seen


def stamps(files: set[Path]) -> dict[Path, tuple[int, int] | None]:
    """Modification time and size of each file (None: missing)."""
    out: dict[Path, tuple[int, int] | None] = {}
    for f in files:
        try:
            st = f.stat()
            out[f] = (st.st_mtime_ns, st.st_size)
        except OSError:
            out[f] = None
    return out


def changes(
    path: str | Path,
    stop: threading.Event | None = None,
    since: dict[Path, tuple[int, int] | None] | None = None,
    debounce_ms: int = 80,
) -> Iterator[set[Path]]:
    """Yield the set of changed files each time the file or one of its imports is saved.

    Editors save by writing in place or by renaming a temporary over the file, so the
    folders are watched and filtered; the set of imports is read again after each change.
    ``since``: the :func:`stamps` the caller last read the files at; a save between then
    and the moment the watch starts is reported too."""
    import watchfiles

    stop = stop or threading.Event()
    while not stop.is_set():
        files = files_of(path)
        folders = sorted({str(f.parent) for f in files if f.parent.is_dir()})
        names = {str(f) for f in files}

        def wanted(change: object, name: str, names: set[str] = names) -> bool:
            return str(Path(name).resolve()) in names

        for batch in watchfiles.watch(
            *folders,
            watch_filter=wanted,
            debounce=debounce_ms,
            step=20,
            stop_event=stop,
            recursive=False,
            raise_interrupt=False,
            yield_on_timeout=True,
            rust_timeout=200,
        ):
            if not batch:  # the watch is running: was anything saved before it started?
                if since is not None and stamps(files) != since:
                    since = None
                    yield set(files)
                since = None
                continue
            since = None
            yield {Path(name).resolve() for _, name in batch}
            if files_of(path) != files:
                break  # the imports changed: watch the new set
        else:
            return
