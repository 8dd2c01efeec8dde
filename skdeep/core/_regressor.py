"""The regressor side of the network estimators: losses, one or several targets."""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin, _fit_context
from sklearn.utils._param_validation import StrOptions
from torch import nn

from ._base import BaseNetwork

REGRESSION_LOSSES: dict[str, type[nn.Module]] = {
    "mse": nn.MSELoss,
    "mae": nn.L1Loss,
    "huber": nn.HuberLoss,
}


class NetworkRegressor(RegressorMixin, BaseNetwork):
    """The regressor side: a choice of loss, one or several targets."""

    _parameter_constraints: dict = {
        **BaseNetwork._parameter_constraints,
        "loss": [StrOptions(set(REGRESSION_LOSSES))],
    }
    _y_validation: dict = {"multi_output": True, "y_numeric": True}

    def _criterion(self) -> nn.Module:
        return REGRESSION_LOSSES[self.loss](reduction="none")

    def _n_outputs(self) -> int:
        return self.n_outputs_

    def _target_scale(self, y_encoded: np.ndarray) -> float | None:
        return float(np.abs(y_encoded).max(initial=0.0))

    def _encode_targets(self, y, first_call: bool, classes=None) -> np.ndarray:
        y = np.asarray(y)
        if y.dtype.kind not in "biuf":
            raise ValueError(
                f"{type(self).__name__} needs numeric targets, but y has dtype {y.dtype}; "
                "encode them as numbers, or use a classifier for labels."
            )
        with np.errstate(over="ignore", invalid="ignore"):
            y = y.astype(np.float32)
        if not np.isfinite(y).all():
            raise ValueError(
                "y holds missing values (None) or values beyond float32's range "
                f"(|y| > {np.finfo(np.float32).max:.3g}); drop or fill them, and scale large "
                "targets, e.g. with TransformedTargetRegressor."
            )
        y2d = y.reshape(len(y), -1)
        if first_call:
            self.n_outputs_ = y2d.shape[1]
        elif y2d.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {y2d.shape[1]} targets, but {type(self).__name__} was fitted with "
                f"{self.n_outputs_}."
            )
        return y2d

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Train for exactly one epoch, continuing from the current weights.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self
        """
        return self._partial_fit(X, y, sample_weight=sample_weight)

    def predict(self, X) -> np.ndarray:
        """Return the predicted targets, shape (n_samples,) for a single target.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        outputs = self._outputs(X).numpy().astype(np.float64)
        return outputs.ravel() if self.n_outputs_ == 1 else outputs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _expected_failed_checks(self) -> dict[str, str]:
        return {
            **super()._expected_failed_checks(),
            "check_methods_subset_invariance": (
                "float32 matrix products sum in a different order for one row than for a "
                "batch, so a prediction may differ in its last bit (about 2e-7) between the "
                "two; classifiers are unaffected"
            ),
        }
