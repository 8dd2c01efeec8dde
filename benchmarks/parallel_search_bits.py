"""How far GridSearchCV(n_jobs=2) scores are from n_jobs=1 ones, for a CNN and an MLP.

joblib gives each worker process fewer torch threads than the parent has, and float32 sums
run in another order with another thread count: the scores may differ in their last bits.
Prints one JSON line per estimator: both runs' mean test scores (``neg_log_loss``, which
shows the last bits; accuracy rarely moves) and their largest difference.

Usage::

    python benchmarks/parallel_search_bits.py
"""

from __future__ import annotations

import json

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV

from skdeep import CNNClassifier, MLPClassifier


def main() -> None:
    X, y = load_digits(return_X_y=True)
    X, y = (X[:600] / 16).astype(np.float32), y[:600]
    common = {"max_epochs": 3, "device": "cpu", "random_state": 0}
    estimators = [
        CNNClassifier(filters=(4,), kernel_sizes=(3,), dense_units=(16,), **common),
        MLPClassifier(hidden_layer_sizes=(32,), **common),
    ]
    for estimator in estimators:
        scores = [
            GridSearchCV(
                estimator,
                {"learning_rate": [1e-3, 1e-2]},
                cv=3,
                n_jobs=n_jobs,
                scoring="neg_log_loss",
            )
            .fit(X, y)
            .cv_results_["mean_test_score"]
            for n_jobs in (1, 2)
        ]
        print(
            json.dumps(
                {
                    "estimator": type(estimator).__name__,
                    "n_jobs_1": scores[0].tolist(),
                    "n_jobs_2": scores[1].tolist(),
                    "max_abs_difference": float(np.abs(scores[0] - scores[1]).max()),
                }
            )
        )


if __name__ == "__main__":
    main()
