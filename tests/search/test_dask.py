"""A search runs unchanged on a Dask cluster through joblib's dask backend."""

import logging
import os

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV

from skdeep import MLPClassifier
from skdeep.search import fit_with_progress

distributed = pytest.importorskip("distributed")

FAST = {"max_epochs": 3, "batch_size": 64, "device": "cpu", "random_state": 0}


def _worker_pid(estimator, X, y):
    return os.getpid()


def _search() -> GridSearchCV:
    return GridSearchCV(
        MLPClassifier(**FAST),
        {"learning_rate": [1e-3, 1e-2], "hidden_layer_sizes": [(8,), (16,)]},
        cv=2,
        scoring={"accuracy": "accuracy", "pid": _worker_pid},
        refit="accuracy",
    )


@pytest.mark.slow  # about 25 s: two worker processes start and import torch
def test_grid_search_on_a_local_dask_cluster_matches_a_local_run():
    X, y = load_digits(return_X_y=True)
    X, y = X[:360].astype(np.float32) / 16, y[:360]
    local = _search().fit(X, y)
    with (
        distributed.LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        client.wait_for_workers(2)
        with joblib.parallel_backend("dask"):
            remote = _search().fit(X, y)
            with_progress = fit_with_progress(_search(), X, y, mode="quiet")
        worker_pids = set(client.run(os.getpid).values())
    for search in (remote, with_progress):
        for key in ("split0_test_accuracy", "split1_test_accuracy", "mean_test_accuracy"):
            np.testing.assert_array_equal(search.cv_results_[key], local.cv_results_[key])
        assert search.best_params_ == local.best_params_
        # The fits ran in the cluster's worker processes.
        pids = {
            int(search.cv_results_[f"split{i}_test_pid"][c]) for i in range(2) for c in range(4)
        }
        assert pids <= worker_pids
    assert set(local.cv_results_["mean_test_pid"]) == {os.getpid()}
