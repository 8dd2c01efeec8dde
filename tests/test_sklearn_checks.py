"""scikit-learn's own estimator checks on every skdeep estimator."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from skdeep import CNNClassifier, MLPClassifier, MLPRegressor

# Small, fast settings; the checks' toy problems are learnt well within these epochs.
FAST = {"max_epochs": 30, "learning_rate": 1e-2, "hidden_layer_sizes": (16,), "device": "cpu"}
ESTIMATORS = [
    MLPClassifier(**FAST),
    MLPRegressor(**FAST),
    CNNClassifier(
        filters=(4,),
        kernel_sizes=(3,),
        dense_units=(16,),
        max_epochs=30,
        learning_rate=1e-2,
        device="cpu",
    ),
]


@parametrize_with_checks(
    ESTIMATORS, expected_failed_checks=lambda estimator: estimator._expected_failed_checks()
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


# The MLPs with each numeric embedding (about 4.5 minutes on 2 CPU cores: run with -m slow).
@pytest.mark.slow
@parametrize_with_checks(
    [
        MLPRegressor(numeric_embedding="piecewise_linear", **FAST),
        MLPClassifier(numeric_embedding="periodic", **FAST),
    ],
    expected_failed_checks=lambda estimator: estimator._expected_failed_checks(),
)
def test_sklearn_compatible_with_numeric_embeddings(estimator, check):
    pytest.importorskip("rtdl_num_embeddings")
    check(estimator)
