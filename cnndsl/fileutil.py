"""The one output writer: every file cnndsl writes goes through :func:`write_atomic`.

* Atomic: a temporary file in the same folder, then a rename, so a reader (or a crash) sees
  the old file or the new one, never half of one. Temporaries that an interrupted run of
  cnndsl left behind (``.NAME.*.tmp``) are removed when NAME is written again.
* A symbolic link is written through (its target is replaced, the link stays); a FIFO or a
  device (``/dev/stdout``, ``/dev/null``) is written directly, since it cannot be renamed
  over.
* An input is never an output: :func:`check_outputs` refuses a path that is also an input,
  and two inputs that map to one output, before anything is written.
* Every ``OSError`` becomes a :class:`CnnError` naming the path and the cause (exit 1),
  saying that the previous file is intact.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from .errors import CnnError

STALE_SECONDS = 60.0  # a temporary older than this belongs to a run that died


def write_atomic(path: Path, data: str | bytes, stale_after: float = STALE_SECONDS) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file, never half.

    ``stale_after``: the age in seconds past which a leftover temporary of ``path`` is removed
    (0 where nothing else writes the folder, as a run folder's checkpoints)."""
    raw = data if isinstance(data, bytes) else data.encode("utf-8")
    path = Path(path)
    try:
        try:
            mode: int | None = os.stat(path).st_mode  # through symbolic links
        except FileNotFoundError:
            mode = None
        if mode is not None and stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory")
        if mode is not None and not stat.S_ISREG(mode):
            _write_special(path, raw)  # a FIFO, a device, /dev/stdout: no rename
            return
        target = Path(os.path.realpath(path))  # a link is written through
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(target, stale_after)
        _replace(target, raw)
    except OSError as exc:
        raise _error(path, exc) from None


def _replace(target: Path, raw: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a written file follows the umask
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _write_special(target: Path, raw: bytes) -> None:
    with open(target, "wb") as f:
        f.write(raw)


def _remove_stale(target: Path, stale_after: float) -> None:
    """Remove ``.NAME.*.tmp`` files of ``target`` that a killed process left behind."""
    now = time.time()
    for tmp in target.parent.glob(f".{target.name}.*.tmp"):
        try:
            st = tmp.lstat()
            if stat.S_ISREG(st.st_mode) and now - st.st_mtime >= stale_after:
                tmp.unlink()
        except OSError:
            continue


def _error(path: Path, exc: OSError) -> CnnError:
    cause = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        cause = "no space left on device"
    elif exc.errno == errno.EFBIG:
        cause = "file too large for this file system (or its size limit)"
    kept = f"; the previous {path.name} is intact" if path.is_file() else ""
    hint = {
        errno.EACCES: "choose a folder you can write to",
        errno.EROFS: "the file system is read-only: choose another folder",
        errno.EISDIR: "give a file name, not a folder",
        errno.ENOSPC: "free some space, or write elsewhere",
    }.get(exc.errno or 0)
    return CnnError(f"cannot write {path}: {cause}{kept}", hint=hint)


def check_outputs(pairs: Iterable[tuple[Path | str, Path | str]]) -> None:
    """Refuse (input, output) pairs where an output is an input, or two inputs share an output,
    before anything is written."""
    checked = [(Path(i), Path(o)) for i, o in pairs if str(o) != "-"]
    inputs = {_key(i): i for i, _ in checked}
    seen: dict[str, Path] = {}
    for source, out in checked:
        key = _key(out)
        if key in inputs:
            raise CnnError(
                f"refusing to write {out}: it is an input ({inputs[key]})",
                hint="give another output with -o",
            )
        if key in seen and _key(seen[key]) != _key(source):
            raise CnnError(
                f"{seen[key]} and {source} would both be written to {out}",
                hint="write them one at a time, with different outputs",
            )
        seen[key] = source


def _key(path: Path) -> str:
    return os.path.realpath(path)
