"""The datasets that the ``skdeep`` command and ``skdeep tune`` accept by name."""

from __future__ import annotations

NAMED_DATASETS = ("digits", "mnist", "fashion-mnist", "california", "adult")
IMAGE_DATASETS = ("digits", "mnist", "fashion-mnist")
# The named datasets whose loader can fetch missing files (--download).
DOWNLOADABLE = ("mnist", "fashion-mnist", "california")


def subsample(X, y, max_samples: int | None, *, stratify: bool, random_state: int):
    """Return ``max_samples`` random rows of ``X`` and ``y`` (all of them when None or more).

    Examples
    --------
    >>> X, y = subsample(list(range(10)), [0, 1] * 5, 4, stratify=True, random_state=0)
    >>> len(X), sorted(y)
    (4, [0, 0, 1, 1])
    """
    if max_samples is None or max_samples >= len(y):
        return X, y
    from sklearn.model_selection import train_test_split

    X, _, y, _ = train_test_split(
        X, y, train_size=max_samples, random_state=random_state, stratify=y if stratify else None
    )
    return X, y
