"""Files written whole or not at all."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def atomic_write(path: str | os.PathLike, overwrite: bool = True) -> Iterator[BinaryIO]:
    """Write ``path`` through a temporary file beside it, renamed into place when complete.

    A crash or kill during the write leaves the previous file intact (and a stray
    ``.NAME.*.tmp``); an error removes the temporary file. With ``overwrite=False`` a file that
    appeared at ``path`` meanwhile is never replaced.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "a.bin"
    >>> with atomic_write(target) as file:
    ...     _ = file.write(b"whole")
    >>> target.read_bytes()
    b'whole'
    """
    path = Path(path)
    # Same folder, so the rename stays on one file system and is atomic.
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temporary, "xb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} appeared while it was being written.")
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
