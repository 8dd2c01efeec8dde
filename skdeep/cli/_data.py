"""The data of a ``skdeep`` command: a named dataset or a CSV file, checked before any training."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..datasets import DOWNLOADABLE, IMAGE_DATASETS, NAMED_DATASETS, subsample

_WHERE = (
    "On the command line, --data-home DIR (or the SKDEEP_DATA environment variable) says "
    "where the files are"
)


@dataclass
class Dataset:
    """Data loaded for a command, with the lines that describe it in a report."""

    name: str
    X: object
    y: object
    description: list[str]
    images: bool
    unit: str | None = None


def check_data_options(
    name: str, *, target: str | None, download: bool, data_home: str | None
) -> None:
    """Refuse option combinations that cannot work, before anything is loaded or created.

    A CSV file is checked by its header alone: that it exists, and that ``target`` is one of
    its columns.
    """
    if name not in NAMED_DATASETS:
        _check_table(name, target)
    if name in NAMED_DATASETS:
        if target is not None:
            raise ValueError(
                f"--target applies to a CSV file; the {name} dataset has its own target."
            )
        if download and name not in DOWNLOADABLE:
            why = (
                "is embedded in scikit-learn"
                if name == "digits"
                else "has no known download source (copy its files by hand)"
            )
            raise ValueError(f"--download fetches only {', '.join(DOWNLOADABLE)}; {name} {why}.")
    elif download:
        raise ValueError(f"--download fetches the named datasets {list(DOWNLOADABLE)}, not files.")
    if data_home is not None and not download and not Path(data_home).expanduser().is_dir():
        raise FileNotFoundError(
            f"--data-home {data_home} is not a folder (add --download to create it and fetch "
            "the files there)."
        )


def _check_table(name: str, target: str | None) -> None:
    path = Path(name).expanduser()
    if not path.is_file():
        if path.suffix or "/" in name:
            raise FileNotFoundError(f"--dataset {name}: no such file.")
        raise ValueError(
            f"--dataset {name!r}: unknown dataset; choose among {list(NAMED_DATASETS)} or give the "
            "path of a CSV file."
        )
    try:
        columns = list(pd.read_csv(path, nrows=0).columns)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as error:
        raise ValueError(f"--dataset {name}: cannot read it as a CSV table ({error}).") from None
    if target is None:
        raise ValueError(
            f"--dataset {name} is a table: add --target COLUMN to name the column to predict; "
            f"its columns: {columns}."
        )
    if target not in columns:
        raise ValueError(f"--target {target!r}: {name} has no such column; its columns: {columns}.")


def _subsample(X, y, max_samples: int | None, random_state: int, stratify: bool):
    try:
        X_sub, y_sub = subsample(X, y, max_samples, stratify=stratify, random_state=random_state)
    except ValueError as error:
        raise ValueError(f"--max-samples {max_samples}: {error}") from None
    return X_sub, y_sub, (None if len(y_sub) == len(y) else max_samples)


def _read_table(name: str, target: str):
    path = Path(name).expanduser()
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as error:
        raise ValueError(f"--dataset {name}: cannot read it as a CSV table ({error}).") from None
    frame = frame.dropna(subset=[target])
    if frame.empty:
        raise ValueError(f"--target {target!r}: every value of that column is missing.")
    return frame.drop(columns=target), frame[target].to_numpy(), f"{path.name}, target {target!r}"


def _load_named(name: str, data_home: str | None, download: bool):
    from .. import datasets

    if name == "digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        return X / 16.0, y, "digits (scikit-learn, embedded): 8x8 images of handwritten digits"
    try:
        if name in ("mnist", "fashion-mnist"):
            loader = datasets.load_mnist if name == "mnist" else datasets.load_fashion_mnist
            X, y = loader(data_home, subset="train", download=download)
            X = X.reshape(len(X), -1).astype(np.float32) / 255.0
            return X, y, f"{name} training set: 28x28 images"
        if name == "california":
            X, y = datasets.load_california_housing(data_home, download=download)
            return X, y, "California housing (1990 census), median house value in USD"
        X, y = datasets.load_adult(data_home, subset="train")
        return X, y.to_numpy(), "Adult (1994 census): income above 50K USD, a mixed table"
    except FileNotFoundError as error:
        fetch = "; --download fetches them." if name in DOWNLOADABLE else "."
        raise FileNotFoundError(f"{error}\n{_WHERE}{fetch}") from None


def load_dataset(
    name: str,
    *,
    target: str | None = None,
    data_home: str | None = None,
    max_samples: int | None = None,
    random_state: int = 0,
    download: bool = False,
) -> Dataset:
    """Load a dataset by name (see ``NAMED_DATASETS``) or from a CSV file, ready for a comparison.

    Images are scaled to [0, 1] and flattened. ``max_samples`` draws a stratified (for
    classes) random subset. Errors name the command-line option at fault.

    Parameters
    ----------
    name : str
        ``"digits"``, ``"mnist"``, ``"fashion-mnist"``, ``"california"``, ``"adult"``, or the
        path of a CSV file (compressed ones such as ``housing.csv.gz`` too).
    target : str, default=None
        Target column of a CSV file.
    data_home : str, default=None
        Where the downloaded datasets live (see :func:`skdeep.datasets.get_data_home`).
    max_samples : int, default=None
    random_state : int, default=0
    download : bool, default=False
        Fetch the missing files of a named dataset that has a download source.

    Returns
    -------
    Dataset

    Examples
    --------
    >>> data = load_dataset("digits", max_samples=100)
    >>> data.X.shape, data.images
    ((100, 64), True)
    """
    from ..utils.tasks import infer_task

    check_data_options(name, target=target, download=download, data_home=data_home)
    if name in NAMED_DATASETS:
        X, y, source = _load_named(name, data_home, download)
    else:
        X, y, source = _read_table(name, target)
    task = infer_task(y)
    X, y, subset = _subsample(X, y, max_samples, random_state, task == "classification")
    summary = f"{len(y)} samples, {X.shape[1]} features, " + (
        f"{len(np.unique(y))} classes" if task == "classification" else "regression"
    )
    description = [f"dataset: {source}", summary]
    if subset is not None:
        description.append(
            f"a random {'stratified ' * (task == 'classification')}subset of "
            f"{subset} samples (--max-samples)"
        )
    if isinstance(X, pd.DataFrame):
        other = X.select_dtypes(exclude=["number", "bool"]).columns.tolist()
        missing = int(X.isna().to_numpy().sum())
        if other or missing:
            description.append(
                f"non-numeric columns {other} one-hot encoded; {missing} missing values imputed"
            )
    unit = "USD" if name == "california" else None
    return Dataset(name, X, y, description, name in IMAGE_DATASETS, unit)
