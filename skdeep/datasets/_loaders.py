"""Readers for real datasets stored as gzip files under a data home folder, with checksums."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from ._fetch import (
    DEFAULT_HOME,
    ENV_VAR,
    PathLike,
    Source,
    locate,
    parse_idx,
    read_csv_table,
    read_verified,
)

__all__ = [
    "get_data_home",
    "load_adult",
    "load_california_housing",
    "load_fashion_mnist",
    "load_mnist",
]

Subset = Literal["train", "test", "all"]

_IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_IDX_SAMPLES = {"train": 60_000, "test": 10_000}
_IDX_NAMES = [name for pair in _IDX_FILES.values() for name in pair]
_MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_HOUSING_URL = (
    "https://raw.githubusercontent.com/ageron/handson-ml2/master/datasets/housing/housing.csv"
)


_MNIST = Source(
    title="MNIST",
    folder="mnist",
    urls={name: _MNIST_URL + name for name in _IDX_NAMES},
    sha256={
        "train-images-idx3-ubyte.gz": (
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"
        ),
        "train-labels-idx1-ubyte.gz": (
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"
        ),
        "t10k-images-idx3-ubyte.gz": (
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"
        ),
    },
)
_FASHION_MNIST = Source(
    title="Fashion-MNIST",
    folder="fashion-mnist",
    urls={name: _FASHION_URL + name for name in _IDX_NAMES},
    md5={
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
)
_HOUSING = Source(
    title="California housing",
    folder="california-housing",
    urls={"housing.csv.gz": _HOUSING_URL},
    sha256={"housing.csv.gz": "8a3727f4cf54ac1a327f69b1d5b4db54c5834ea81c6e4efc0d163300022a685e"},
    gzip_download=True,
)
_ADULT = Source(
    title="Adult",
    folder="adult",
    sha256={
        "adult.csv.gz": "5138b5b5c98caed85f1d168fa268339cfe6e9d033c3957515ab3a00396877174",
        "adult-test.csv.gz": "db06b64a90951207cb7afb8d792ba8d327c2d8a78679ce5145157a8ec753ae4f",
    },
)
_ADULT_FILES = {"train": "adult.csv.gz", "test": "adult-test.csv.gz"}


def get_data_home(data_home: PathLike | None = None) -> Path:
    """Return the folder under which the dataset files are looked up.

    Parameters
    ----------
    data_home : str or os.PathLike, default=None
        The folder to use. When None, the ``SKDEEP_DATA`` environment variable
        is used if it is set and not empty, else ``~/skdeep_data``.

    Returns
    -------
    pathlib.Path
        The data home, with ``~`` expanded. The folder is not created.

    Examples
    --------
    >>> from skdeep.datasets import get_data_home
    >>> get_data_home("~/my_data").name
    'my_data'
    """
    if data_home is None:
        data_home = os.environ.get(ENV_VAR) or DEFAULT_HOME
    return Path(data_home).expanduser()


_IDX_DOC = {
    "idx_subset": """subset : {"train", "test", "all"}, default="train"
        The 60,000 training images, the 10,000 test images, or both with
        the training images first.""",
    "idx_images": """X : numpy.ndarray of shape (n_samples, 28, 28), dtype uint8
        The images, pixel values 0 to 255.""",
    "idx_raises": """Raises
    ------
    FileNotFoundError
        If a file is missing and ``download`` is False.
    OSError
        If a download fails.
    ValueError
        If ``subset`` is unknown, a file is not a valid IDX file, or a
        checksum or shape does not match.""",
}


def _idx_doc(loader):
    """Fill in what the docstrings of the two IDX loaders (MNIST, Fashion-MNIST) share."""
    loader.__doc__ = loader.__doc__.format(**_IDX_DOC)
    return loader


@_idx_doc
def load_mnist(
    data_home: PathLike | None = None,
    *,
    subset: Subset = "train",
    download: bool = False,
    verify: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Load the MNIST handwritten digits.

    Reads the four original IDX files (``train-images-idx3-ubyte.gz`` and so on)
    from ``<data home>/mnist/`` or from the data home itself.

    Parameters
    ----------
    data_home : str or os.PathLike, default=None
        Where the files are; see :func:`get_data_home`.
    {idx_subset}
    download : bool, default=False
        Fetch missing files from ``https://ossci-datasets.s3.amazonaws.com/mnist/``
        into ``<data home>/mnist/``. Existing files are never overwritten.
    verify : bool, default=True
        Check the sha256 of each file's uncompressed content and the shapes.

    Returns
    -------
    {idx_images}
    y : numpy.ndarray of shape (n_samples,), dtype int64
        The digits 0 to 9.

    {idx_raises}

    Examples
    --------
    >>> from skdeep.datasets import load_mnist
    >>> X, y = load_mnist()  # doctest: +SKIP
    >>> X.shape, X.dtype, y[:5]  # doctest: +SKIP
    ((60000, 28, 28), dtype('uint8'), array([5, 0, 4, 1, 9]))
    """
    return _load_idx_dataset(_MNIST, data_home, subset, download, verify)


@_idx_doc
def load_fashion_mnist(
    data_home: PathLike | None = None,
    *,
    subset: Subset = "train",
    download: bool = False,
    verify: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Load the Fashion-MNIST images of clothing.

    Reads the four IDX files, named as for MNIST, from
    ``<data home>/fashion-mnist/`` or from the data home itself.

    Parameters
    ----------
    data_home : str or os.PathLike, default=None
        Where the files are; see :func:`get_data_home`.
    {idx_subset}
    download : bool, default=False
        Fetch missing files from
        ``http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/`` into
        ``<data home>/fashion-mnist/``. Existing files are never overwritten.
    verify : bool, default=True
        Check the MD5 of downloaded gzip files, and the IDX shapes on load.
        No content hashes are published for this dataset.

    Returns
    -------
    {idx_images}
    y : numpy.ndarray of shape (n_samples,), dtype int64
        The classes 0 to 9 (T-shirt/top, trouser, pullover, dress, coat,
        sandal, shirt, sneaker, bag, ankle boot).

    {idx_raises}

    Examples
    --------
    >>> from skdeep.datasets import load_fashion_mnist
    >>> X, y = load_fashion_mnist(subset="test")  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (10000, 28, 28)
    """
    return _load_idx_dataset(_FASHION_MNIST, data_home, subset, download, verify)


def load_california_housing(
    data_home: PathLike | None = None,
    *,
    download: bool = False,
    verify: bool = True,
) -> tuple[pd.DataFrame, pd.Series]:
    """Load the California housing prices of the 1990 census.

    Reads ``housing.csv.gz``, the "Hands-On Machine Learning" variant, from
    ``<data home>/california-housing/`` or from the data home itself.

    Parameters
    ----------
    data_home : str or os.PathLike, default=None
        Where the file is; see :func:`get_data_home`.
    download : bool, default=False
        Fetch the missing file from the ``ageron/handson-ml2`` repository and
        store it gzipped. An existing file is never overwritten.
    verify : bool, default=True
        Check the sha256 of the uncompressed CSV.

    Returns
    -------
    X : pandas.DataFrame of shape (20640, 9)
        Eight float64 columns and the string column ``ocean_proximity``.
    y : pandas.Series of shape (20640,), dtype float64
        ``median_house_value`` in US dollars.

    Raises
    ------
    FileNotFoundError
        If the file is missing and ``download`` is False.
    OSError
        If the download fails.
    ValueError
        If the file is not valid gzip, lacks the target column, or its
        checksum does not match.

    Examples
    --------
    >>> from skdeep.datasets import load_california_housing
    >>> X, y = load_california_housing()  # doctest: +SKIP
    >>> X.shape, round(float(y.mean()), 1)  # doctest: +SKIP
    ((20640, 9), 206855.8)
    """
    (path,) = locate(_HOUSING, ["housing.csv.gz"], get_data_home(data_home), download, verify)
    X, y = read_csv_table(_HOUSING, path, "median_house_value", verify)
    return X, y.astype("float64")


def load_adult(
    data_home: PathLike | None = None,
    *,
    subset: Subset = "train",
    download: bool = False,
    verify: bool = True,
) -> tuple[pd.DataFrame, pd.Series]:
    """Load the UCI Adult census income table.

    Reads ``adult.csv.gz`` and ``adult-test.csv.gz`` from ``<data home>/adult/``
    or from the data home itself. Missing values are NaN.

    Parameters
    ----------
    data_home : str or os.PathLike, default=None
        Where the files are; see :func:`get_data_home`.
    subset : {"train", "test", "all"}, default="train"
        The training rows, the test rows, or both with the training rows first.
    download : bool, default=False
        Accepted for symmetry with the other loaders; no download source is
        known, so missing files raise :class:`FileNotFoundError` either way.
    verify : bool, default=True
        Check the sha256 of each uncompressed CSV.

    Returns
    -------
    X : pandas.DataFrame of shape (n_samples, 14)
        Six int64 columns and eight string columns.
    y : pandas.Series of shape (n_samples,)
        ``income``, the strings ``"<=50K"`` and ``">50K"`` (no trailing dot).

    Raises
    ------
    FileNotFoundError
        If a file is missing.
    ValueError
        If ``subset`` is unknown, a file is not valid gzip, lacks the target
        column, or its checksum does not match.

    Examples
    --------
    >>> from skdeep.datasets import load_adult
    >>> X, y = load_adult()  # doctest: +SKIP
    >>> X.shape, int((y == ">50K").sum())  # doctest: +SKIP
    ((32561, 14), 7841)
    """
    names = [_ADULT_FILES[part] for part in _subsets(subset)]
    parts = [
        read_csv_table(_ADULT, path, "income", verify)
        for path in locate(_ADULT, names, get_data_home(data_home), download, verify)
    ]
    X = pd.concat([X for X, _ in parts], ignore_index=True)
    y = pd.concat([y for _, y in parts], ignore_index=True)
    return X, y.str.rstrip(".")


def _subsets(subset: str) -> tuple[str, ...]:
    if subset == "all":
        return ("train", "test")
    if subset in ("train", "test"):
        return (subset,)
    raise ValueError(f"subset must be 'train', 'test' or 'all', got {subset!r}.")


def _load_idx_dataset(
    source: Source, data_home: PathLike | None, subset: str, download: bool, verify: bool
) -> tuple[np.ndarray, np.ndarray]:
    parts = _subsets(subset)
    names = [name for part in parts for name in _IDX_FILES[part]]
    paths = locate(source, names, get_data_home(data_home), download, verify)
    images, labels = [], []
    for part, image_path, label_path in zip(parts, paths[::2], paths[1::2], strict=True):
        X = parse_idx(read_verified(source, image_path, verify), image_path)
        y = parse_idx(read_verified(source, label_path, verify), label_path)
        if X.ndim != 3 or y.ndim != 1 or len(X) != len(y):
            raise ValueError(
                f"{image_path} and {label_path} do not fit together: expected images of shape "
                f"(n, height, width) and labels of shape (n,), got {X.shape} and {y.shape}."
            )
        expected = (_IDX_SAMPLES[part], 28, 28)
        if verify and X.shape != expected:
            raise ValueError(
                f"{image_path} holds images of shape {X.shape}, expected {expected}; "
                "pass verify=False to load it anyway."
            )
        images.append(X)
        labels.append(y)
    return np.concatenate(images), np.concatenate(labels).astype(np.int64)
