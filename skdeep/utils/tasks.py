"""What a target asks for: classification or regression."""

from __future__ import annotations

import numpy as np
from sklearn.utils.multiclass import type_of_target

MAX_INTEGER_CLASSES = 30


def infer_task(y) -> str:
    """Guess the task from the target: ``"regression"`` or ``"classification"``.

    Floating-point targets are regression, even when their values happen to be whole (house
    prices in dollars); integer targets are classes unless they take more than
    ``MAX_INTEGER_CLASSES`` values (counts); strings and bools are classes.

    Examples
    --------
    >>> infer_task([0.5, 1.2, 3.3]), infer_task([452600.0, 358500.0]), infer_task(["a", "b"])
    ('regression', 'regression', 'classification')
    >>> infer_task([0, 1, 1, 0]), infer_task(list(range(100)))
    ('classification', 'regression')
    """
    y = np.asarray(y)
    if y.dtype.kind == "f" or type_of_target(y).startswith("continuous"):
        return "regression"
    if y.dtype.kind in "iu" and len(np.unique(y)) > MAX_INTEGER_CLASSES:
        return "regression"
    return "classification"
