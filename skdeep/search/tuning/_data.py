"""The data of ``skdeep tune``: a training set to search and refit on, a test set scored once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from ...datasets import IMAGE_DATASETS, NAMED_DATASETS, subsample

# The share of the data held out as the test set where the dataset has no test set of its own.
TEST_SIZE = 0.2


@dataclass
class TuneData:
    """Training and test rows of a tuning run, kept apart from the moment they are loaded."""

    name: str
    X_train: object
    y_train: np.ndarray
    X_test: object
    y_test: np.ndarray
    task: str
    images: bool
    description: list[str]


def check_dataset(name: str, target: str | None) -> None:
    """Raise ValueError for an unknown dataset name or a CSV without ``target``."""
    if name.endswith(".csv"):
        if target is None:
            raise ValueError("A CSV dataset needs --target COLUMN naming the column to predict.")
        return
    if name not in NAMED_DATASETS:
        raise ValueError(
            f"Unknown dataset {name!r}; choose among {list(NAMED_DATASETS)} or give a .csv path."
        )


def _split(X, y, task: str, random_state: int):
    return train_test_split(
        X,
        y,
        test_size=TEST_SIZE,
        random_state=random_state,
        stratify=y if task == "classification" else None,
    )


def load_tune_data(
    name: str,
    *,
    target: str | None = None,
    data_home=None,
    download: bool = False,
    max_samples: int | None = None,
    random_state: int = 0,
) -> TuneData:
    """Load ``name`` as training and test rows.

    MNIST, Fashion-MNIST and Adult keep their own test sets; digits, California housing and
    CSV files hold out a random 20 % (stratified for classes). Images are scaled to [0, 1]
    and flattened. ``max_samples`` subsamples the training rows only.

    Examples
    --------
    >>> data = load_tune_data("digits")
    >>> data.X_train.shape, data.X_test.shape, data.task
    ((1437, 64), (360, 64), 'classification')
    """
    from ... import datasets
    from ...utils.tasks import infer_task

    check_dataset(name, target)
    test_source = None
    if name == "digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        X = (X / 16.0).astype(np.float32)
        source = "digits (scikit-learn, embedded): 8x8 images of handwritten digits"
    elif name in ("mnist", "fashion-mnist"):
        loader = datasets.load_mnist if name == "mnist" else datasets.load_fashion_mnist
        X, y = loader(data_home, subset="train", download=download)
        X_test, y_test = loader(data_home, subset="test", download=download)
        X, X_test = (
            images.reshape(len(images), -1).astype(np.float32) / 255.0 for images in (X, X_test)
        )
        test_source = (X_test, y_test)
        source = f"{name}: 28x28 images, its own 60,000 training and 10,000 test images"
    elif name == "california":
        X, y = datasets.load_california_housing(data_home, download=download)
        y = y.to_numpy()
        source = "California housing (1990 census), median house value in USD"
    elif name == "adult":
        X, y = datasets.load_adult(data_home, subset="train", download=download)
        X_test, y_test = datasets.load_adult(data_home, subset="test", download=download)
        test_source = (X_test, y_test.to_numpy())
        y = y.to_numpy()
        source = "Adult census income (UCI), its own training and test files"
    else:
        frame = pd.read_csv(name)
        if target not in frame.columns:
            raise ValueError(
                f"{name} has no column {target!r}; its columns: {list(frame.columns)}."
            )
        frame = frame.dropna(subset=[target])
        X, y = frame.drop(columns=target), frame[target].to_numpy()
        source = f"{Path(name).name}, target column {target!r}"
    task = infer_task(y)
    if test_source is None:
        X, X_test, y, y_test = _split(X, y, task, random_state)
        held_out = f"a random {'stratified ' * (task == 'classification')}20 % held out as test set"
    else:
        X_test, y_test = test_source
        held_out = "the dataset's own test set"
    n_available = len(y)
    X, y = subsample(
        X, y, max_samples, stratify=task == "classification", random_state=random_state
    )
    kind = f"{len(np.unique(y))} classes" if task == "classification" else "regression"
    description = [
        f"dataset: {source}",
        f"{len(y)} training and {len(y_test)} test samples ({held_out}), "
        f"{X.shape[1]} features, {kind}",
    ]
    if len(y) < n_available:
        description.append(
            f"training rows: a random subset of {len(y)} of {n_available} (--max-samples)"
        )
    return TuneData(
        name,
        X,
        np.asarray(y),
        X_test,
        np.asarray(y_test),
        task,
        name in IMAGE_DATASETS,
        description,
    )


# The share of the training rows that selects among the trials (the rest trains them).
VALIDATION_SIZE = 0.1


def selection_split(data: TuneData, random_state: int) -> tuple:
    """Split the training rows once into fitting and selection rows: ``X_fit, X_valid, y_fit,
    y_valid``, the same in every process of a run for the same ``random_state``."""
    return train_test_split(
        data.X_train,
        data.y_train,
        test_size=VALIDATION_SIZE,
        random_state=random_state,
        stratify=data.y_train if data.task == "classification" else None,
    )
