"""A full disk, said in one line: which disk, what did not fit, and how much room there was."""

from __future__ import annotations

import errno
import os
import re
import shutil
from pathlib import Path

# DuckDB reports a full disk only in its message, which names the file it could not write.
_NO_SPACE = re.compile(r"no space left on device|disk quota exceeded", re.IGNORECASE)
_FILE_IN_MESSAGE = re.compile(r'"([^"]+)"[^"]*(?:no space left on device|disk quota exceeded)', re.IGNORECASE)


def is_disk_full(error: BaseException) -> bool:
    """True when ``error`` (an OSError, a DuckDB error, a failed ``cp``) comes from a full disk."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return bool(_NO_SPACE.search(f"{error} {getattr(error, 'stderr', '') or ''}"))


def full_folder(error: BaseException, default: Path) -> Path:
    """The folder of the file the full disk refused (the warehouse's, unless the error names another)."""
    named = getattr(error, "filename", None) or (_FILE_IN_MESSAGE.search(str(error)) or [None, None])[1]
    return Path(named).parent if named else default


def free_bytes(folder: str | os.PathLike) -> int:
    """Room left for this process on the disk holding ``folder`` (0 when it cannot be measured)."""
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return 0


def megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def write_whole(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all: a full disk leaves neither a cut nor an empty file.

    Written beside ``path`` and renamed over it, so an older report of that name stays until the
    new one is complete; raises IngestError naming the file, the size and the room there was.
    """
    from pipelines.common.errors import IngestError

    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        if not is_disk_full(exc):
            raise IngestError(str(path), f"cannot write: {exc.strerror or exc}") from exc
        room = megabytes(free_bytes(path.parent))
        raise IngestError(
            str(path), f"no space left on the disk for it (needs {megabytes(len(data))}, {room} free); nothing written"
        ) from exc
