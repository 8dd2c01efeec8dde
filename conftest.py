"""The documentation's examples, run by pytest through Sybil.

Each page's ``python`` blocks (README.md and docs/*.md) run top to bottom in one namespace, in a
scratch folder of their own so that the files they write never land in the repository. A block
that needs MNIST or a GPU is preceded by a Sybil skip directive, for example::

    <!-- skip: next if(not HAS_MNIST, reason="needs MNIST (set SKDEEP_DATA)") -->

``HAS_MNIST``, ``HAS_CALIFORNIA`` and ``HAS_CUDA`` are in every page's namespace. When
``SKDEEP_DATA`` is not set and the repository's sibling ``shared/data`` folder exists, the pages
read their data from there.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from sybil import Sybil
from sybil.parsers.markdown import PythonCodeBlockParser, SkipParser

ROOT = Path(__file__).resolve().parent
SHARED_DATA = ROOT.parent / "shared" / "data"
DATA_FILES = {
    "HAS_MNIST": ("mnist/train-images-idx3-ubyte.gz", "mnist/train-labels-idx1-ubyte.gz"),
    "HAS_CALIFORNIA": ("california-housing/housing.csv.gz",),
}


def _data_home() -> Path | None:
    """The folder the pages read their data from: ``SKDEEP_DATA``, else the shared data."""
    configured = os.environ.get("SKDEEP_DATA")
    home = Path(configured) if configured else SHARED_DATA
    return home if home.is_dir() else None


def _has(home: Path | None, files: tuple[str, ...]) -> bool:
    return home is not None and all((home / name).is_file() for name in files)


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _setup(namespace: dict) -> None:
    saved = {"cwd": os.getcwd(), "SKDEEP_DATA": os.environ.get("SKDEEP_DATA")}
    scratch = tempfile.mkdtemp(prefix="skdeep-docs-")
    home = _data_home()
    if home is not None:
        os.environ["SKDEEP_DATA"] = str(home)
    os.chdir(scratch)
    namespace.update(
        {flag: _has(home, files) for flag, files in DATA_FILES.items()},
        HAS_CUDA=_has_cuda(),
        _docs_saved=saved,
        _docs_scratch=scratch,
    )


def _teardown(namespace: dict) -> None:
    saved = namespace["_docs_saved"]
    os.chdir(saved["cwd"])
    if saved["SKDEEP_DATA"] is None:
        os.environ.pop("SKDEEP_DATA", None)
    else:
        os.environ["SKDEEP_DATA"] = saved["SKDEEP_DATA"]
    shutil.rmtree(namespace["_docs_scratch"], ignore_errors=True)


pytest_collect_file = Sybil(
    parsers=[PythonCodeBlockParser(), SkipParser()],
    patterns=["README.md", "docs/*.md"],
    setup=_setup,
    teardown=_teardown,
).pytest()
