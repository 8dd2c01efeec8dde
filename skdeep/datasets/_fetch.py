"""Dataset files on disk: where they are looked up, their download, checksums and formats."""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import math
import os
import struct
import tempfile
import urllib.request
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

PathLike = str | os.PathLike[str]

ENV_VAR = "SKDEEP_DATA"
DEFAULT_HOME = "~/skdeep_data"
RESOLUTION = (
    f"The data home is the data_home argument, else the {ENV_VAR} environment variable, "
    f"else {DEFAULT_HOME}."
)
_CHUNK = 1 << 20
_TIMEOUT_S = 60


@dataclass(frozen=True)
class Source:
    """A dataset's files: its folder under the data home, where to fetch them, their digests.

    ``sha256`` digests are of the uncompressed content, ``md5`` of the downloaded bytes;
    ``gzip_download`` stores a plain download gzipped.
    """

    title: str
    folder: str
    urls: Mapping[str, str] = field(default_factory=dict)
    sha256: Mapping[str, str] = field(default_factory=dict)
    md5: Mapping[str, str] = field(default_factory=dict)
    gzip_download: bool = False


def locate(
    source: Source, names: list[str], home: Path, download: bool, verify: bool
) -> list[Path]:
    """Paths of ``names`` in ``home/source.folder`` or ``home``, downloading missing ones."""
    folder = home / source.folder
    paths, missing = [], []
    for name in names:
        path = next((p for p in (folder / name, home / name) if p.is_file()), folder / name)
        paths.append(path)
        if not path.is_file():
            missing.append(path)
    if missing and download and source.urls:
        for path in missing:
            _download(source, path, home, verify)
    elif missing:
        raise FileNotFoundError(_missing_message(source, missing, home))
    return paths


def read_verified(source: Source, path: Path, verify: bool) -> bytes:
    """The uncompressed content of a gzip file, checked against its known sha256."""
    data = _gunzip(path)
    expected = source.sha256.get(path.name)
    if verify and expected is not None:
        _check_digest(
            str(path),
            "sha256 of the uncompressed content",
            expected,
            hashlib.sha256(data).hexdigest(),
            "Delete or replace the file (download=True fetches a fresh copy), "
            "or pass verify=False to load it anyway.",
        )
    return data


def parse_idx(data: bytes, path: PathLike) -> np.ndarray:
    """The unsigned-byte array of an IDX file's content (the MNIST format)."""
    if len(data) < 4 or data[:3] != b"\x00\x00\x08":
        raise ValueError(
            f"{path} is not an unsigned-byte IDX file: its magic bytes are {data[:4].hex()!r}, "
            "expected 000008 then the number of dimensions."
        )
    ndim = data[3]
    offset = 4 + 4 * ndim
    if len(data) < offset:
        raise ValueError(f"{path} is truncated: its IDX header needs {offset} bytes.")
    shape = struct.unpack(f">{ndim}I", data[4:offset])
    size = math.prod(shape)
    if len(data) - offset != size:
        raise ValueError(
            f"{path} is truncated or corrupt: its header gives shape {shape}, that is "
            f"{size} bytes of data, but the file holds {len(data) - offset}."
        )
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape)


def read_csv_table(
    source: Source, path: Path, target: str, verify: bool
) -> tuple[pd.DataFrame, pd.Series]:
    """The features and the ``target`` column of a gzipped CSV file."""
    frame = pd.read_csv(io.BytesIO(read_verified(source, path, verify)))
    if target not in frame.columns:
        raise ValueError(f"{path} has no {target!r} column; its columns are {list(frame)}.")
    return frame.drop(columns=target), frame[target]


def _gunzip(path: Path) -> bytes:
    try:
        with gzip.open(path, "rb") as file:
            return file.read()
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise ValueError(f"{path} is not a complete gzip file: {exc}") from exc


def _check_digest(what: str, kind: str, expected: str, actual: str, advice: str) -> None:
    if actual != expected:
        raise ValueError(
            f"Checksum mismatch for {what}: expected {kind} {expected}, got {actual}. {advice}"
        )


def _missing_message(source: Source, missing: list[Path], home: Path) -> str:
    expected = "\n".join(f"  {path}" for path in missing)
    if source.urls:
        how = "Pass download=True to fetch them, or copy the files there by hand."
    else:
        how = f"No download source is known for the {source.title} data: copy the files by hand."
    return (
        f"{source.title} data not found. Expected:\n{expected}\n"
        f"(each file may also sit directly in {home}). {RESOLUTION} {how}"
    )


def _download(source: Source, dest: Path, home: Path, verify: bool) -> None:
    url = source.urls[dest.name]
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        md5 = hashlib.md5(usedforsecurity=False)
        try:
            with os.fdopen(fd, "wb") as raw, urllib.request.urlopen(url, timeout=_TIMEOUT_S) as r:
                out = gzip.GzipFile("", "wb", 9, raw, mtime=0) if source.gzip_download else raw
                with out:
                    while chunk := r.read(_CHUNK):
                        md5.update(chunk)
                        out.write(chunk)
        except (OSError, http.client.HTTPException) as exc:
            raise OSError(
                f"The download of {url} failed ({exc}). Fetch the file another way and put it "
                f"at {dest} (or directly in {home}). {RESOLUTION}"
            ) from exc
        advice = f"The download was discarded; {dest} was not written."
        if verify and dest.name in source.md5:
            _check_digest(url, "md5", source.md5[dest.name], md5.hexdigest(), advice)
        if verify and dest.name in source.sha256:
            try:
                data = _gunzip(tmp)
            except ValueError as exc:
                raise ValueError(f"The download of {url} is not valid gzip. {advice}") from exc
            actual = hashlib.sha256(data).hexdigest()
            _check_digest(url, "content sha256", source.sha256[dest.name], actual, advice)
        try:
            os.link(tmp, dest)
        except FileExistsError:
            pass
        except OSError:
            if not dest.exists():
                os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
