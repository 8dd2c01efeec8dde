"""Files written whole or not at all; report folders where skdeep replaces only its own files."""

from __future__ import annotations

import errno
import glob
import hashlib
import json
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

# Temporary files are named after the machine and process that write them, so that the next
# write can tell the leftovers of a killed writer from a write still in progress elsewhere.
_HOST_TAG = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _temporary_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{_HOST_TAG}-{os.getpid()}-{uuid.uuid4().hex}.tmp")


def _process_alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill would terminate the process there
        try:
            import psutil
        except ImportError:
            return True
        return psutil.pid_exists(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that killed writes of ``path`` left beside it; return them.

    Only files written on this machine by a process that no longer runs are removed: a write in
    progress (in this process, another one, or on another machine sharing the folder) is kept.
    """
    path = Path(path)
    removed = []
    for candidate in path.parent.glob(f".{glob.escape(path.name)}.{_HOST_TAG}-*.tmp"):
        pid = candidate.name[len(path.name) + len(_HOST_TAG) + 3 :].split("-", 1)[0]
        if pid.isdigit() and not _process_alive(int(pid)):
            with suppress(FileNotFoundError):
                candidate.unlink()
                removed.append(candidate)
    return removed


def _create_exclusively(temporary: Path, path: Path) -> None:
    """Give the complete ``temporary`` the name ``path``, failing if ``path`` exists."""
    try:
        # A hard link is created atomically, and only where no file exists.
        os.link(temporary, path)
    except FileExistsError:
        raise FileExistsError(f"{path} appeared while it was being written.") from None
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        # A file system without hard links: claim the name with an exclusive create, then
        # put the complete file in place of the (empty) claim.
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            raise FileExistsError(f"{path} appeared while it was being written.") from None
        os.replace(temporary, path)
    else:
        temporary.unlink()


@contextmanager
def atomic_write(path: str | os.PathLike, overwrite: bool = True) -> Iterator[BinaryIO]:
    """Write ``path`` through a temporary file beside it, renamed into place when complete.

    A crash or kill during the write leaves the previous file intact, and a stray
    ``.NAME.*.tmp`` that the next write of ``path`` deletes; an error removes the temporary
    file at once. With ``overwrite=False`` the complete file is linked into place, which fails
    if ``path`` exists: of several writers racing for one new path exactly one succeeds, and
    the others get ``FileExistsError``.

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
    remove_stale_temporaries(path)
    # Same folder, so the rename stays on one file system and is atomic.
    temporary = _temporary_name(path)
    try:
        with open(temporary, "xb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        if overwrite:
            os.replace(temporary, path)
        else:
            _create_exclusively(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


MANIFEST = ".skdeep-manifest.json"
_STAGING_PREFIX = ".skdeep-staging-"


def _refusal(path: Path) -> str | None:
    """Why ``path`` may never hold a report (the root, the home, the current folder or above)."""
    resolved = path.resolve()
    if resolved == Path(resolved.anchor):
        return "the root of the file system"
    cwd = Path.cwd().resolve()
    if resolved == cwd:
        return "the current folder"
    if resolved in cwd.parents:
        return "a folder above the current one"
    home = Path.home().resolve()
    if resolved == home:
        return "your home folder"
    if resolved in home.parents:
        return f"a folder above your home ({home})"
    return None


def read_manifest(folder: str | os.PathLike) -> list[str] | None:
    """The names of the files skdeep wrote in ``folder``, or None when it holds no manifest.

    Examples
    --------
    >>> import tempfile
    >>> read_manifest(tempfile.mkdtemp()) is None
    True
    """
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    try:
        files = json.loads(path.read_text())["files"]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path} is not a manifest written by skdeep ({error}).") from None
    if not (isinstance(files, list) and all(isinstance(f, str) for f in files)):
        raise ValueError(f"{path} is not a manifest written by skdeep: bad file list.")
    for name in files:
        if not _plain_name(name):
            raise ValueError(
                f"{path} is not a manifest written by skdeep: it lists {name!r}, which is not "
                "the name of a file in its folder."
            )
        entry = Path(folder) / name
        if entry.is_dir() and not entry.is_symlink():
            raise ValueError(
                f"{path} is not a manifest written by skdeep: it lists {name!r}, which is a "
                "folder (skdeep writes only files)."
            )
    return files


def _plain_name(name: str) -> bool:
    """Whether ``name`` names an entry of a folder itself: no separator, not ``.`` or ``..``."""
    return not ("/" in name or "\\" in name or name in ("", ".", "..", MANIFEST))


def check_output_dir(path: str | os.PathLike, force: bool = False) -> Path:
    """Check that a report may be written into ``path``, creating nothing.

    A missing or empty folder is fine. A folder holding files is refused, unless ``force`` and
    every file in it was written by skdeep (listed in its manifest, ``.skdeep-manifest.json``):
    only then may a new report replace the previous one. The root, the home folder, the current
    folder and the folders above them are always refused.

    Parameters
    ----------
    path : str or os.PathLike
    force : bool, default=False
        Allow replacing a previous skdeep report (``--force`` on the command line).

    Returns
    -------
    Path
        ``path``, with ``~`` expanded.

    Raises
    ------
    FileExistsError
        When the folder may not be written into, with the reason.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp()) / "run"
    >>> check_output_dir(folder) == folder, folder.exists()
    (True, False)
    >>> check_output_dir(".")
    Traceback (most recent call last):
    ...
    FileExistsError: . is the current folder: give the report a folder of its own (--out).
    """
    path = Path(path).expanduser()
    refusal = _refusal(path)
    if refusal is not None:
        raise FileExistsError(f"{path} is {refusal}: give the report a folder of its own (--out).")
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path} exists and is not a folder.")
    entries = sorted(entry.name for entry in path.iterdir()) if path.is_dir() else []
    if not entries:
        return path
    if not force:
        raise FileExistsError(
            f"{path} is not empty; choose another --out folder, or pass --force to replace the "
            "skdeep report in it."
        )
    written = read_manifest(path)
    if written is None:
        raise FileExistsError(
            f"{path} holds files that skdeep did not write (it has no {MANIFEST}); --force "
            "replaces only a previous skdeep report. Choose another --out folder."
        )
    others = [
        name
        for name in entries
        if name not in written and name != MANIFEST and not name.startswith(_STAGING_PREFIX)
    ]
    if others:
        listed = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        raise FileExistsError(
            f"{path} holds files that skdeep did not write ({listed}); --force replaces only "
            "the files of a previous skdeep report. Move them, or choose another --out folder."
        )
    return path


def _write_manifest(folder: Path, files: list[str]) -> None:
    with atomic_write(folder / MANIFEST) as file:
        file.write(json.dumps({"written_by": "skdeep", "files": sorted(files)}, indent=2).encode())


def write_output_files(
    path: str | os.PathLike, writers: Mapping[str, Callable[[Path], object]], force: bool = False
) -> list[Path]:
    """Write a report's files into ``path``, replacing only files skdeep wrote there before.

    The folder is checked with :func:`check_output_dir`. Each ``writers[name](temporary_path)``
    writes one file into a staging folder inside ``path``; once all are written they are moved
    into place and recorded in the manifest, and the files of a previous report that the new
    one does not have are deleted. If a writer fails, nothing of the new report is left behind,
    and neither is a folder created for it.

    Parameters
    ----------
    path : str or os.PathLike
    writers : mapping of file name to callable
        Each callable receives the path to write.
    force : bool, default=False
        Replace a previous skdeep report in ``path``.

    Returns
    -------
    list of Path
        The files written, in the order of ``writers``.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp()) / "run"
    >>> [f.name for f in write_output_files(folder, {"a.txt": lambda p: p.write_text("a")})]
    ['a.txt']
    >>> read_manifest(folder)
    ['a.txt']
    """
    path = check_output_dir(path, force)
    names = list(writers)
    if not all(_plain_name(name) for name in names):
        raise ValueError(f"Report file names must be plain names, got {names}.")
    created = [folder for folder in (path, *path.parents) if not folder.exists()]
    path.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=path))
    try:
        for name, write in writers.items():
            write(staging / name)
        previous = read_manifest(path) or []
        # Listed before they are moved in, so that an interruption leaves no unlisted file.
        _write_manifest(path, sorted(set(previous) | set(names)))
        for name in names:
            os.replace(staging / name, path / name)
        _write_manifest(path, names)
        for stale in set(previous) - set(names):
            (path / stale).unlink(missing_ok=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for folder in created:  # deepest first
            try:
                folder.rmdir()
            except OSError:
                break
        raise
    shutil.rmtree(staging, ignore_errors=True)
    return [path / name for name in names]
