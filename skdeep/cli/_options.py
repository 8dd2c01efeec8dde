"""The checks of the ``skdeep`` command's options, made before anything trains.

The ``*_type`` functions are argparse ``type=`` converters: a bad value stops the command
with ``argument --OPTION: ...`` and exit status 2. The ``check_*`` functions need the data and
raise a ``ValueError`` that names the option.
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Sequence

import numpy as np


def _integer(text: str, option_min: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < option_min:
        raise argparse.ArgumentTypeError(f"must be at least {option_min}, got {value}")
    return value


def positive_int(text: str) -> int:
    """An integer of at least 1 (epochs, seeds, samples)."""
    return _integer(text, 1)


def non_negative_int(text: str) -> int:
    """An integer of at least 0 (a random state)."""
    return _integer(text, 0)


def fold_count(text: str) -> int:
    """A number of cross-validation folds: at least 2."""
    return _integer(text, 2)


def device_type(text: str) -> str:
    """A device this machine has: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``."""
    if text in ("auto", "cpu"):  # always there; asking torch would cost seconds of import
        return text
    from ..utils.device import resolve_device

    try:
        resolve_device(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def scoring_type(text: str) -> list[str]:
    """Comma-separated scorer names of ``compare --scoring``, scikit-learn's or skdeep's,
    each checked."""
    from sklearn.metrics import get_scorer_names

    from ..scorers import SCORERS, get_scorer

    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give at least one scorer name")
    for name in names:
        try:
            scorer = get_scorer(name)
        except ValueError:
            known = [*get_scorer_names(), *SCORERS]
            close = difflib.get_close_matches(name, known, n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise argparse.ArgumentTypeError(
                f"{name!r} is neither a scikit-learn scorer (sklearn.metrics.get_scorer_names()) "
                f"nor one of skdeep's ({', '.join(sorted(SCORERS))}).{hint}"
            ) from None
        if getattr(scorer, "reads_validation", False):
            raise argparse.ArgumentTypeError(
                f"{name!r} reads a validation split, and compare's networks train on every "
                "training row of a fold (no split); use a score of the fold's test rows, such "
                "as accuracy or neg_log_loss."
            )
    return list(dict.fromkeys(names))


def models_type(text: str) -> list[str]:
    """Comma-separated model names among ``skdeep.baselines.MODEL_NAMES``."""
    from ..baselines import MODEL_NAMES

    names = list(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    if not names:
        raise argparse.ArgumentTypeError("give at least one model name")
    unknown = [name for name in names if name not in MODEL_NAMES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown models {unknown}; choose among {', '.join(MODEL_NAMES)}"
        )
    return names


def check_models(names: Sequence[str] | None, task: str, images: bool) -> list[str]:
    """The models a comparison trains: exactly ``names``, or every one that fits the task."""
    from ..baselines import CLASSIFICATION_MODELS, REGRESSION_MODELS

    if task == "classification":
        allowed = (*CLASSIFICATION_MODELS, "cnn")
        default = list(CLASSIFICATION_MODELS)
        if images:
            default.insert(1, "cnn")
    else:
        allowed = REGRESSION_MODELS
        default = list(REGRESSION_MODELS)
    if names is None:
        return default
    wrong = [name for name in names if name not in allowed]
    if wrong:
        raise ValueError(
            f"--models: {', '.join(wrong)} cannot do {task} on this data; "
            f"choose among {', '.join(allowed)}."
        )
    return list(names)


def check_folds(cv: int, y, task: str) -> None:
    """Refuse more folds than the data can fill (each class in every fold, for classes)."""
    if cv > len(y):
        raise ValueError(f"--cv {cv}: more folds than the {len(y)} samples.")
    if task == "classification":
        labels, counts = np.unique(np.asarray(y), return_counts=True)
        if counts.min() < cv:
            rare = labels[counts.argmin()].tolist()
            raise ValueError(
                f"--cv {cv}: class {rare!r} has only {counts.min()} samples, too few for "
                f"{cv} stratified folds; lower --cv or use more data (--max-samples)."
            )
