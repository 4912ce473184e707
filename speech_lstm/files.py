"""Atomic file writes: the one way this package writes a file that others read."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write"]


@contextlib.contextmanager
def atomic_write(path, mode: str = "w", encoding: str | None = "utf-8", suffix: str = ".tmp"):
    """``with atomic_write(path) as f: ...`` writes to a temporary file in ``path``'s folder
    (created if missing) and renames it over ``path`` when the block ends without an error, so
    a reader never sees a partial file and a crash leaves the old one. The file gets the
    permissions of the one it replaces, or the usual ones under the umask (not mkstemp's 0600).
    ``mode``: "w" (text, ``encoding``) or "wb"."""
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    try:
        with os.fdopen(fd, mode, **({"encoding": encoding, "newline": "\n"} if mode == "w" else {})) as f:
            yield f
        if path.exists():
            mode_bits = path.stat().st_mode & 0o777
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode_bits = 0o666 & ~umask
        os.chmod(tmp, mode_bits)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
