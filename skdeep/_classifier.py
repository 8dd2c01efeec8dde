"""The classifier side of the network estimators: labels, class weights, probabilities."""

from __future__ import annotations

import math
from numbers import Real

import numpy as np
import torch
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from torch import nn

from ._base import BaseNetwork


def _mixed_labels_error(*label_arrays) -> ValueError:
    types = sorted({type(v).__name__ for a in label_arrays for v in np.asarray(a).ravel().tolist()})
    return ValueError(
        f"The labels mix types {types} that cannot be sorted together; give every label the "
        "same type, for example with y.astype(str)."
    )


def _unique_labels(labels) -> np.ndarray:
    try:
        return np.unique(labels)
    except TypeError:
        raise _mixed_labels_error(labels) from None


class NetworkClassifier(ClassifierMixin, BaseNetwork):
    """The classifier side: label encoding, class weights, ``predict_proba``."""

    _parameter_constraints: dict = {
        **BaseNetwork._parameter_constraints,
        "class_weight": [StrOptions({"balanced"}), dict, None],
    }
    _y_validation: dict = {}

    def _criterion(self) -> nn.Module:
        return nn.CrossEntropyLoss(reduction="none")

    def _n_outputs(self) -> int:
        return len(self.classes_)

    def _encode_targets(self, y, first_call: bool, classes=None) -> np.ndarray:
        try:
            check_classification_targets(y)
        except TypeError:
            raise _mixed_labels_error(y) from None
        if first_call:
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

    def _class_weights(self, y_encoded: np.ndarray) -> np.ndarray | None:
        if self.class_weight is None:
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
        if not hasattr(self, "net_") and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        return self._partial_fit(X, y, sample_weight=sample_weight, classes=classes)

    def predict_proba(self, X) -> np.ndarray:
        """Return class probabilities, shape (n_samples, n_classes), columns as ``classes_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        return torch.softmax(self._outputs(X).double(), dim=1).numpy()

    def predict(self, X) -> np.ndarray:
        """Return the most probable class of each sample, as one of ``classes_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        best = self._outputs(X).argmax(dim=1).numpy()
        return self.classes_[best]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        return tags
