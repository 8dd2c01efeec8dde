"""The classifier side of the network estimators: labels, class weights, probabilities.

Targets are class labels (softmax outputs, cross-entropy) or, as in scikit-learn's
``MLPClassifier``, a multilabel indicator matrix (one sigmoid output per label, binary
cross-entropy; ``classes_`` is then ``arange(n_labels)``).
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import column_or_1d
from torch import nn

from ._base import BaseNetwork


def _mixed_labels_error(*label_arrays) -> ValueError:
    types = sorted({type(v).__name__ for a in label_arrays for v in np.asarray(a).ravel().tolist()})
    return ValueError(
        f"The labels mix types {types} that cannot be sorted together; give every label the "
        "same type, for example with y.astype(str)."
    )


def _check_classes(classes) -> np.ndarray:
    classes = np.asarray(classes)
    if pd.isna(classes.astype(object)).any():
        raise ValueError(f"classes must not hold NaN or None, got {classes.tolist()}.")
    return classes


def _same_labels(classes: np.ndarray, fitted: np.ndarray) -> bool:
    try:
        return np.array_equal(_unique_labels(classes), fitted)
    except ValueError:
        return False


def _unique_labels(labels) -> np.ndarray:
    try:
        return np.unique(labels)
    except TypeError:
        raise _mixed_labels_error(labels) from None


class SmoothedBCEWithLogitsLoss(nn.BCEWithLogitsLoss):
    """Binary cross-entropy of each label against targets moved towards 1/2, as in Keras.

    A target ``y`` of 0 or 1 becomes ``y * (1 - label_smoothing) + label_smoothing / 2``: the
    targets that torch's ``cross_entropy(label_smoothing=...)`` gives a class of a two-class
    problem, for each label on its own.

    Examples
    --------
    >>> loss = SmoothedBCEWithLogitsLoss(0.2, reduction="none")
    >>> logits, y = torch.tensor([[0.5, -1.0]]), torch.tensor([[1.0, 0.0]])
    >>> torch.allclose(loss(logits, y), nn.BCEWithLogitsLoss(reduction="none")(
    ...     logits, torch.tensor([[0.9, 0.1]])))
    True
    """

    def __init__(self, label_smoothing: float, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.label_smoothing = float(label_smoothing)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        smoothing = self.label_smoothing
        return super().forward(input, target * (1 - smoothing) + smoothing / 2)

    def extra_repr(self) -> str:
        return f"label_smoothing={self.label_smoothing}"


class NetworkClassifier(ClassifierMixin, BaseNetwork):
    """The classifier side: label encoding, class weights, ``predict_proba``."""

    _parameter_constraints: dict = {
        **BaseNetwork._parameter_constraints,
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
    }
    _y_validation: dict = {"multi_output": True}

    def _multilabel(self) -> bool:
        return getattr(self, "out_activation_", "softmax") == "logistic"

    def _criterion(self) -> nn.Module:
        if self._multilabel():
            if self.label_smoothing:
                return SmoothedBCEWithLogitsLoss(self.label_smoothing, reduction="none")
            return nn.BCEWithLogitsLoss(reduction="none")
        return nn.CrossEntropyLoss(reduction="none", label_smoothing=float(self.label_smoothing))

    def _n_outputs(self) -> int:
        return len(self.classes_)

    def _encode_targets(self, y, first_call: bool, classes=None) -> np.ndarray:
        if classes is not None:
            classes = _check_classes(classes)
        if sp.issparse(y):
            y = y.toarray()
        try:
            check_classification_targets(y)
        except TypeError:
            raise _mixed_labels_error(y) from None
        if np.ndim(y) == 2 and type_of_target(y) == "multilabel-indicator":
            return self._encode_indicator(np.asarray(y), first_call, classes)
        if np.ndim(y) == 2 and np.shape(y)[1] != 1:
            raise ValueError(
                f"{type(self).__name__} takes class labels of shape (n_samples,) or a multilabel "
                f"indicator matrix of 0s and 1s; y has shape {np.shape(y)} and is "
                f"{type_of_target(y)}."
            )
        if np.ndim(y) == 2:
            y = column_or_1d(y, warn=True)
        if not first_call and self._multilabel():
            raise ValueError(
                f"y holds class labels, but {type(self).__name__} was fitted on a multilabel "
                "indicator matrix."
            )
        elif not first_call and classes is not None and not _same_labels(classes, self.classes_):
            raise ValueError(
                f"classes={classes.tolist()} is not the same as on the first call to "
                f"partial_fit, which gave {self.classes_.tolist()}."
            )
        if first_call:
            self.out_activation_ = "softmax"
            self.classes_ = _unique_labels(y if classes is None else classes)
            if len(self.classes_) < 2:
                raise ValueError(
                    f"{type(self).__name__} needs samples of at least 2 classes, but the data "
                    f"contains only one class: {self.classes_.tolist()[0]!r}."
                )
        try:
            unknown = np.setdiff1d(y, self.classes_)
        except TypeError:
            raise _mixed_labels_error(y, self.classes_) from None
        if len(unknown):
            raise ValueError(
                f"y contains labels {unknown.tolist()} that are not in classes_ "
                f"{self.classes_.tolist()}."
            )
        return np.searchsorted(self.classes_, y).astype(np.int64)

    def _encode_indicator(self, y: np.ndarray, first_call: bool, classes) -> np.ndarray:
        """A multilabel indicator matrix as float32 0/1 targets, one column per label."""
        n_labels = y.shape[1]
        if not np.isin(y, (0, 1)).all():
            raise ValueError(
                "y is a matrix of two values, read as a multilabel indicator, but it holds "
                f"{np.unique(y).tolist()}; a multilabel indicator matrix holds only 0 and 1."
            )
        if first_call:
            self.out_activation_ = "logistic"
            self.classes_ = np.arange(n_labels)
        elif not self._multilabel() or n_labels != len(self.classes_):
            fitted = f"{len(self.classes_)} labels" if self._multilabel() else "class labels"
            raise ValueError(
                f"y is a multilabel indicator matrix of {n_labels} labels, but "
                f"{type(self).__name__} was fitted on {fitted}."
            )
        if classes is not None and not _same_labels(classes, self.classes_):
            raise ValueError(
                f"classes={classes.tolist()} does not match the {n_labels} columns of the "
                f"multilabel y; give classes=range({n_labels}) (or leave it out)."
            )
        if self.class_weight is not None:
            raise ValueError(
                "class_weight applies to class labels, not to a multilabel indicator y; use "
                "sample_weight instead."
            )
        return y.astype(np.float32)

    def _class_weights(self, y_encoded: np.ndarray) -> np.ndarray | None:
        if self.class_weight is None or y_encoded.ndim == 2:
            return None
        present = np.unique(y_encoded)
        if self.class_weight == "balanced":
            weights = np.ones(len(self.classes_))
            weights[present] = compute_class_weight("balanced", classes=present, y=y_encoded)
            return weights
        invalid = {
            label: weight
            for label, weight in self.class_weight.items()
            if not (isinstance(weight, Real) and math.isfinite(weight) and weight >= 0)
        }
        if invalid:
            raise ValueError(f"class_weight values must be finite numbers >= 0, got {invalid}.")
        unknown = set(self.class_weight) - set(self.classes_.tolist())
        if unknown:
            raise ValueError(
                f"class_weight names labels {sorted(map(str, unknown))} that are not in the "
                f"classes {self.classes_.tolist()}."
            )
        return np.array([self.class_weight.get(c, 1.0) for c in self.classes_.tolist()])

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train for exactly one epoch, continuing from the current weights.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        classes : array-like of shape (n_classes,), default=None
            Every label the classifier will see; required on the first call, as in
            scikit-learn.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self
        """
        first_call = not hasattr(self, "net_")
        if first_call and classes is None and type_of_target(y) != "multilabel-indicator":
            raise ValueError("classes must be passed on the first call to partial_fit.")
        return self._partial_fit(X, y, sample_weight=sample_weight, classes=classes)

    def predict_proba(self, X) -> np.ndarray:
        """Return class probabilities, shape (n_samples, n_classes), columns as ``classes_``.

        For multilabel targets, each label's probability (its sigmoid), shape
        (n_samples, n_labels); the rows do not sum to 1.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        return self._probabilities(X, log=False)

    def predict_log_proba(self, X) -> np.ndarray:
        """Return the logarithm of :meth:`predict_proba`, computed stably from the logits.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of the shape of :meth:`predict_proba`'s

        Examples
        --------
        >>> import numpy as np
        >>> from skdeep import MLPClassifier
        >>> clf = MLPClassifier(max_epochs=2, device="cpu").fit([[0.0], [1.0]] * 10, [0, 1] * 10)
        >>> np.allclose(np.exp(clf.predict_log_proba([[0.5]])), clf.predict_proba([[0.5]]))
        True
        """
        return self._probabilities(X, log=True)

    def _probabilities(self, X, log: bool) -> np.ndarray:
        """The softmax of the logits (each label's sigmoid when multilabel), or its log."""
        outputs = self._outputs(X).double()
        if self._multilabel():
            return (nn.functional.logsigmoid(outputs) if log else torch.sigmoid(outputs)).numpy()
        return (torch.log_softmax(outputs, dim=1) if log else torch.softmax(outputs, dim=1)).numpy()

    def predict(self, X) -> np.ndarray:
        """Return the most probable class of each sample, as one of ``classes_``.

        For multilabel targets, the indicator matrix of the labels whose probability exceeds
        0.5, shape (n_samples, n_labels).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_labels)
        """
        outputs = self._outputs(X)
        if self._multilabel():
            return (outputs > 0).numpy().astype(np.int64)
        return self.classes_[outputs.argmax(dim=1).numpy()]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        tags.classifier_tags.multi_label = True
        return tags
