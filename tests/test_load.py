"""Load: fitting and predicting again and again does not leak memory.

Marked ``slow`` (excluded from the default run; ``pytest -m slow tests/test_load.py``). It runs
for ``SKDEEP_LOAD_SECONDS`` seconds (default 150).
"""

import gc
import os
import time

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification

from skdeep import CNNClassifier, MLPClassifier, MLPRegressor

DURATION_S = float(os.environ.get("SKDEEP_LOAD_SECONDS", "150"))
WARM_UP_FRACTION = 0.25
# Live tensors catch any leaked estimator, net or dataset (each holds tensors) however small;
# the resident-memory bound catches native leaks, which grow with every round.
RSS_GROWTH_BOUND_MB = 40.0
LIVE_TENSOR_SLACK = 10


def resident_memory_mb() -> float:
    """This process's resident set size, from /proc (Linux) or psutil."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        psutil = pytest.importorskip("psutil")
        return psutil.Process().memory_info().rss / 2**20


def live_tensors() -> int:
    gc.collect()
    # type() rather than isinstance(): some of torch's deprecated module aliases warn when probed.
    return sum(1 for obj in gc.get_objects() if issubclass(type(obj), torch.Tensor))


def one_round(X, y, round_index: int) -> None:
    """Fit and predict each kind of estimator once, as a search or a service would."""
    seed = round_index % 7
    clf = MLPClassifier(
        hidden_layer_sizes=(128, 64), max_epochs=1, device="cpu", random_state=seed
    ).fit(X, y)
    assert clf.predict_proba(X).shape == (len(X), 3)
    clf.partial_fit(X[:100], y[:100])
    reg = MLPRegressor(hidden_layer_sizes=(64,), max_epochs=1, device="cpu", random_state=seed)
    assert reg.fit(X, y.astype(float)).predict(X).shape == (len(X),)
    cnn = CNNClassifier(
        filters=(4,),
        kernel_sizes=(3,),
        dense_units=(16,),
        max_epochs=1,
        random_state=seed,
        device="cpu",
    ).fit(X[:200], y[:200])
    assert cnn.predict(X[:50]).shape == (50,)


@pytest.mark.slow
def test_repeated_fits_and_predictions_do_not_leak():
    X, y = make_classification(
        n_samples=1000, n_features=64, n_informative=10, n_classes=3, random_state=0
    )
    X = X.astype(np.float32)
    start = time.monotonic()
    rounds = 0
    while time.monotonic() - start < WARM_UP_FRACTION * DURATION_S or rounds < 3:
        one_round(X, y, rounds)
        rounds += 1
    gc.collect()
    rss_after_warm_up = resident_memory_mb()
    tensors_after_warm_up = live_tensors()
    warm_up_rounds = rounds

    samples = []
    while time.monotonic() - start < DURATION_S or rounds < 2 * warm_up_rounds:
        one_round(X, y, rounds)
        rounds += 1
        gc.collect()
        samples.append(resident_memory_mb())

    growth = max(samples) - rss_after_warm_up
    assert growth < RSS_GROWTH_BOUND_MB, (
        f"resident memory grew by {growth:.1f} MB over {rounds - warm_up_rounds} rounds after "
        f"warm-up (from {rss_after_warm_up:.0f} MB)"
    )
    tensors = live_tensors()
    assert tensors <= tensors_after_warm_up + LIVE_TENSOR_SLACK, (
        f"live torch tensors grew from {tensors_after_warm_up} to {tensors} over "
        f"{rounds - warm_up_rounds} rounds"
    )
