"""The ensemble of a tuning run's best trials: their networks as trained, averaged."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class TrialEnsemble:
    """The average of fitted estimators: of their class probabilities, or of their predictions.

    Each member is used as it was trained (a trial's network on the fitting rows); nothing
    is refitted. Classifiers must share their ``classes_``, as a run's trials do: they train
    on the same rows.

    Parameters
    ----------
    estimators : sequence of fitted estimators
    trials : sequence of int
        The trial number of each member, for the reports.
    task : {"classification", "regression"}

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> X, y = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1])
    >>> members = [LogisticRegression(C=c).fit(X, y) for c in (0.1, 10.0)]
    >>> ensemble = TrialEnsemble(members, [0, 1], "classification")
    >>> ensemble.predict(X).tolist()
    [0, 0, 1, 1]
    >>> bool(np.allclose(ensemble.predict_proba(X).sum(axis=1), 1.0))
    True
    """

    def __init__(self, estimators: Sequence, trials: Sequence[int], task: str) -> None:
        if not estimators:
            raise ValueError("An ensemble needs at least one fitted estimator.")
        self.estimators = list(estimators)
        self.trials = list(trials)
        self.task = task
        if task == "classification":
            self.classes_ = self.estimators[0].classes_
            for estimator in self.estimators[1:]:
                if not np.array_equal(estimator.classes_, self.classes_):
                    raise ValueError("The members of an ensemble must share their classes_.")

    def predict_proba(self, X) -> np.ndarray:
        """The mean of the members' class probabilities."""
        if self.task != "classification":
            raise AttributeError("predict_proba: a regression ensemble predicts numbers.")
        return np.mean([estimator.predict_proba(X) for estimator in self.estimators], axis=0)

    def predict(self, X) -> np.ndarray:
        """The class of the highest mean probability, or the mean prediction."""
        if self.task == "classification":
            return self.classes_[self.predict_proba(X).argmax(axis=1)]
        return np.mean([estimator.predict(X) for estimator in self.estimators], axis=0)

    def __repr__(self) -> str:
        return f"TrialEnsemble(trials={self.trials}, task={self.task!r})"
