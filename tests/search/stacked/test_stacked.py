"""Stacked training: members equal their separate fits, and StackedSearchCV equals GridSearchCV."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import FitFailedWarning
from sklearn.model_selection import (
    GridSearchCV,
    ParameterSampler,
    StratifiedKFold,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdeep import MLPClassifier, MLPRegressor
from skdeep.callbacks import TrainingDivergedError
from skdeep.search import StackedSearchCV, results_frame
from skdeep.search.stacked._members import prepare_member, stack_key
from skdeep.search.stacked._trainer import StackedTrainer

BASE = {"hidden_layer_sizes": (16,), "device": "cpu", "max_epochs": 1}


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X[:600] / 16).astype(np.float32), y[:600]


def _stack(estimators, X, y, sample_weight=None):
    """Prepare each estimator on all rows, train them as one stack, return the members."""
    rows = np.arange(len(X))
    members = [prepare_member(e, X, y, sample_weight, rows, 0, len(X)) for e in estimators]
    features = members[0].estimator._to_module_input(X.astype(np.float32))
    StackedTrainer(members, features, len(X)).train()
    return members


def _max_weight_difference(a, b) -> float:
    pairs = zip(a.net_.module_.parameters(), b.net_.module_.parameters(), strict=True)
    return max(float((p - q).detach().abs().max()) for p, q in pairs)


def test_each_member_ends_its_first_epoch_with_the_weights_of_its_separate_fit(digits):
    X, y = digits  # 540 training rows in batches of 32: the last batch is partial
    settings = [
        {"learning_rate": 1e-3, "random_state": 0},
        {"learning_rate": 3e-3, "random_state": 1, "l2": 1e-3},
        {"learning_rate": 1e-2, "random_state": 2, "l1": 1e-4},
        {"learning_rate": 1e-2, "random_state": 3, "l2": (1e-2, 0.0), "l1": (0.0, 1e-3)},
    ]
    members = _stack([MLPClassifier(**BASE, **s) for s in settings], X, y)
    for setting, member in zip(settings, members, strict=True):
        alone = MLPClassifier(**BASE, **setting).fit(X, y)
        assert _max_weight_difference(alone, member.estimator) < 1e-5
        for column in ("train_loss", "train_acc", "valid_loss", "valid_acc", "lr"):
            assert member.estimator.history_[-1, column] == pytest.approx(
                alone.history_[-1, column], rel=1e-5
            )
        np.testing.assert_array_equal(member.estimator.predict(X), alone.predict(X))


def test_members_with_fewer_batches_wait_unchanged_for_the_others(digits):
    X, y = digits
    settings = [{"random_state": 0, "learning_rate": 1e-2}, {"random_state": 1}]
    sizes = (300, 600)  # 9 and 17 batches per epoch
    members = []
    for size, setting in zip(sizes, settings, strict=True):
        estimator = MLPClassifier(**{**BASE, "max_epochs": 2}, **setting)
        members.append(
            prepare_member(estimator, X[:size], y[:size], None, np.arange(size), 0, len(X))
        )
    StackedTrainer(members, torch.from_numpy(X), len(X)).train()
    for size, setting, member in zip(sizes, settings, members, strict=True):
        alone = MLPClassifier(**{**BASE, "max_epochs": 2}, **setting).fit(X[:size], y[:size])
        assert _max_weight_difference(alone, member.estimator) < 1e-5
        assert (
            member.estimator.history_[:, "train_batch_count"]
            == alone.history_[:, "train_batch_count"]
        )


@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop", "adamw", "nadam", "adagrad"])
def test_regressors_with_sample_weights_and_momenta_match_their_separate_fits(optimizer):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5)).astype(np.float32)
    y = X @ rng.normal(size=(5, 2)).astype(np.float32)
    weights = rng.uniform(0.5, 2.0, size=200)
    settings = [{"momentum": 0.9, "random_state": 0}, {"momentum": 0.0, "random_state": 1}]
    common = {**BASE, "optimizer": optimizer, "learning_rate": 0.01, "max_epochs": 2}
    members = _stack([MLPRegressor(**common, **s) for s in settings], X, y, weights)
    for setting, member in zip(settings, members, strict=True):
        alone = MLPRegressor(**common, **setting).fit(X, y, sample_weight=weights)
        assert _max_weight_difference(alone, member.estimator) < 1e-5


def test_per_step_schedules_follow_their_formula_in_every_member(digits):
    X, y = digits
    rates = [1e-3, 4e-3]
    members = _stack(
        [
            MLPClassifier(**{**BASE, "max_epochs": 3}, learning_rate=r, lr_schedule="exponential")
            for r in rates
        ],
        X,
        y,
    )
    for rate, member in zip(rates, members, strict=True):
        # "exponential" decays by 0.96 per epoch's worth of steps; each epoch records the rate
        # of its first step.
        expected = [rate * 0.96**epoch for epoch in range(3)]
        np.testing.assert_allclose(member.estimator.history_[:, "lr"], expected, rtol=1e-6)


def test_one_cycle_and_cosine_members_follow_their_separate_fits(digits):
    from skdeep.callbacks import CosineDecay

    X, y = digits
    common = {**BASE, "max_epochs": 3}
    settings = [
        {"learning_rate": 1e-2, "random_state": 0, "lr_schedule": "one_cycle"},
        {"learning_rate": 3e-3, "random_state": 1, "lr_schedule": "one_cycle"},
        {"learning_rate": 1e-2, "random_state": 2, "lr_schedule": "cosine"},
        {"learning_rate": 1e-2, "random_state": 3, "lr_schedule": CosineDecay(0.3)},
    ]
    members = _stack([MLPClassifier(**common, **s) for s in settings], X, y)
    assert len({stack_key(m.estimator) for m in members}) == 1
    for setting, member in zip(settings, members, strict=True):
        alone = MLPClassifier(**common, **setting).fit(X, y)
        # Each epoch's first rate: the schedule spans the same 3 * 17 steps in both.
        np.testing.assert_allclose(member.estimator.history_[:, "lr"], alone.history_[:, "lr"])
        assert _max_weight_difference(alone, member.estimator) < 1e-5


def test_plateau_schedules_lower_each_member_rate_when_its_separate_fit_does(digits):
    from skdeep.callbacks import ReduceLROnPlateau

    X, y = digits
    common = {**BASE, "max_epochs": 12, "lr_schedule": ReduceLROnPlateau(patience=0, factor=0.5)}
    settings = [
        {"learning_rate": 0.05, "random_state": 0},
        {"learning_rate": 0.02, "random_state": 1},
    ]
    members = _stack([MLPClassifier(**common, **s) for s in settings], X, y)
    for setting, member in zip(settings, members, strict=True):
        alone = MLPClassifier(**common, **setting).fit(X, y)
        np.testing.assert_allclose(member.estimator.history_[:, "lr"], alone.history_[:, "lr"])
        assert _max_weight_difference(alone, member.estimator) < 1e-4
    assert members[0].estimator.history_[-1, "lr"] < 0.05  # the plateau was reached


def test_early_stopping_stops_each_member_where_its_separate_fit_stops(digits):
    X, y = digits
    common = {**BASE, "max_epochs": 40, "early_stopping": True, "n_iter_no_change": 2, "tol": 0.02}
    settings = [
        {"learning_rate": 3e-3, "random_state": 0},
        {"learning_rate": 1e-3, "random_state": 1},
    ]
    members = _stack([MLPClassifier(**common, **s) for s in settings], X, y)
    for setting, member in zip(settings, members, strict=True):
        alone = MLPClassifier(**common, **setting).fit(X, y)
        assert len(member.estimator.history_) == len(alone.history_)
        # The best epoch's weights are restored, as in the separate fit.
        assert _max_weight_difference(alone, member.estimator) < 1e-4
    assert len(members[0].estimator.history_) < 40  # it did stop early


def test_members_stopping_on_valid_acc_or_with_smoothed_labels_match_separate_fits(digits):
    X, y = digits
    common = {**BASE, "max_epochs": 40, "early_stopping": True, "n_iter_no_change": 2}
    settings = [
        {"learning_rate": 3e-3, "random_state": 0, "early_stopping_monitor": "valid_acc"},
        {"learning_rate": 1e-3, "random_state": 1, "early_stopping_monitor": "valid_acc"},
        {"learning_rate": 3e-3, "random_state": 2, "early_stopping_monitor": "valid_loss"},
    ]
    for smoothing in (0.0, 0.2):
        estimators = [MLPClassifier(**common, **s, label_smoothing=smoothing) for s in settings]
        members = _stack(estimators, X, y)
        assert len({stack_key(m.estimator) for m in members}) == 1
        for setting, member in zip(settings, members, strict=True):
            alone = MLPClassifier(**common, **setting, label_smoothing=smoothing).fit(X, y)
            assert len(member.estimator.history_) == len(alone.history_)
            np.testing.assert_allclose(
                member.estimator.history_[:, "valid_loss"],
                alone.history_[:, "valid_loss"],
                rtol=1e-4,
            )
            assert _max_weight_difference(alone, member.estimator) < 1e-4
        assert len(members[0].estimator.history_) < 40  # stopped early on valid_acc


def test_dropout_rates_stack_together_and_each_member_drops_at_its_rate(digits):
    X, y = digits
    common = {**BASE, "max_epochs": 5, "learning_rate": 1e-2, "random_state": 0}
    estimators = [MLPClassifier(**common, dropout=p) for p in (0.1, 0.5)]
    members = _stack(estimators, X, y)
    assert stack_key(members[0].estimator) == stack_key(members[1].estimator)
    heavier = [m.estimator.history_[-1, "train_loss"] for m in members]
    assert heavier[1] > heavier[0]  # more dropout, higher training loss
    assert all(m.estimator.score(X, y) > 0.5 for m in members)


@pytest.fixture(scope="module")
def digits_search_inputs(digits):
    X, y = digits
    pipe = make_pipeline(StandardScaler(), MLPClassifier(**{**BASE, "max_epochs": 3}))
    grid = {
        "mlpclassifier__learning_rate": [3e-4, 3e-3],
        "mlpclassifier__l2": [0.0, 1e-2],
        "mlpclassifier__random_state": [0, 1],
    }
    return X, y, pipe, grid, StratifiedKFold(3, shuffle=True, random_state=0)


def test_stacked_search_gives_gridsearchcv_results_on_digits(digits_search_inputs):
    X, y, pipe, grid, cv = digits_search_inputs
    stacked = StackedSearchCV(pipe, grid, cv=cv).fit(X, y)
    plain = GridSearchCV(pipe, grid, cv=cv).fit(X, y)
    assert stacked.cv_results_["params"] == plain.cv_results_["params"]
    for fold in range(3):
        np.testing.assert_allclose(
            stacked.cv_results_[f"split{fold}_test_score"],
            plain.cv_results_[f"split{fold}_test_score"],
            atol=0.005,
        )
    np.testing.assert_array_equal(
        np.argsort(stacked.cv_results_["mean_test_score"].round(2)),
        np.argsort(plain.cv_results_["mean_test_score"].round(2)),
    )
    assert stacked.best_params_ == plain.best_params_
    assert stacked.cv_results_["stack_group"].tolist() == [0] * 8
    assert stacked.best_estimator_.score(X, y) == pytest.approx(plain.best_estimator_.score(X, y))


def test_different_shapes_train_in_separate_stacks_and_unstackable_ones_alone(digits):
    X, y = digits
    grid = [
        {"hidden_layer_sizes": [(8,), (16,)], "learning_rate": [1e-3, 1e-2]},
        {"batch_norm": [True]},
    ]
    search = StackedSearchCV(MLPClassifier(**BASE, random_state=0), grid, cv=2).fit(X, y)
    plain = GridSearchCV(MLPClassifier(**BASE, random_state=0), grid, cv=2).fit(X, y)
    groups = search.cv_results_["stack_group"].tolist()
    assert groups[0] == groups[1] != groups[2] == groups[3]
    assert groups[4] == -1  # batch norm: fitted one at a time
    assert search.cv_results_["mean_test_score"][4] == plain.cv_results_["mean_test_score"][4]


def test_candidates_with_augmentation_are_fitted_alone_as_their_separate_fits(digits):
    X, y = digits
    grid = {"augmentation": [None, {"shift": 1, "rotation": 10}], "learning_rate": [1e-3, 1e-2]}
    base = MLPClassifier(**BASE, input_shape=(1, 8, 8), random_state=0)
    search = StackedSearchCV(base, grid, cv=2).fit(X, y)
    plain = GridSearchCV(base, grid, cv=2).fit(X, y)
    params = search.cv_results_["params"]
    groups = search.cv_results_["stack_group"].tolist()
    for i, candidate in enumerate(params):
        assert (groups[i] == -1) == (candidate["augmentation"] is not None)
        if candidate["augmentation"] is not None:  # each with its own augmented batches
            assert search.cv_results_["mean_test_score"][i] == pytest.approx(
                plain.cv_results_["mean_test_score"][i], abs=1e-12
            )


def test_max_stack_splits_a_group_without_changing_the_results(digits):
    X, y = digits
    grid = {"learning_rate": [1e-3, 3e-3, 1e-2]}
    whole = StackedSearchCV(MLPClassifier(**BASE, random_state=0), grid, cv=2).fit(X, y)
    split = StackedSearchCV(MLPClassifier(**BASE, random_state=0), grid, cv=2, max_stack=2)
    np.testing.assert_allclose(
        split.fit(X, y).cv_results_["mean_test_score"],
        whole.cv_results_["mean_test_score"],
        atol=1e-6,
    )


def test_a_diverged_member_is_recorded_as_failed_and_the_others_go_on():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    y = X.sum(axis=1)
    grid = {"learning_rate": [1e-3, 1e10]}
    search = StackedSearchCV(MLPRegressor(**BASE, optimizer="sgd", random_state=0), grid, cv=2)
    with pytest.warns(FitFailedWarning, match="TrainingDivergedError"):
        search.fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores[0]) and np.isnan(scores[1])
    assert search.best_params_ == {"learning_rate": 1e-3}


def test_a_member_whose_loss_grows_fails_as_in_gridsearchcv():
    # A loss that grows a hundredfold but stays finite: TerminateOnNaN stops the separate
    # fit, so the stack fails the member too, rather than scoring its guesses.
    X, y = load_digits(return_X_y=True)
    X, y = X[:300], y[:300]
    estimator = MLPClassifier(optimizer="sgd", max_epochs=2, random_state=0, device="cpu")
    grid = {"learning_rate": [0.01, 1e3, 1e6]}
    with pytest.warns(FitFailedWarning, match="grew to"):
        stacked = StackedSearchCV(estimator, grid, cv=2).fit(X, y)
    with pytest.warns(FitFailedWarning):
        separate = GridSearchCV(estimator, grid, cv=2).fit(X, y)
    np.testing.assert_allclose(
        stacked.cv_results_["mean_test_score"], separate.cv_results_["mean_test_score"], atol=1e-6
    )
    assert np.isnan(stacked.cv_results_["mean_test_score"][1:]).all()


def test_the_stack_checks_divergence_as_terminateonnan_does():
    trainer = StackedTrainer.__new__(StackedTrainer)
    trainer.start_loss, trainer.max_loss_growth = [1.0], [100.0]
    assert "weights became NaN" in trainer._divergence(0, 2.0, finite_weights=False)
    assert trainer._divergence(0, 2.0, finite_weights=True) is None
    assert "grew to" in trainer._divergence(0, 101.0, finite_weights=True)


def test_randomized_candidates_are_those_of_randomizedsearchcv(digits):
    X, y = digits
    distributions = {"learning_rate": [1e-3, 3e-3, 1e-2], "random_state": [0, 1, 2]}
    search = StackedSearchCV(
        MLPClassifier(**BASE), param_distributions=distributions, n_iter=4, cv=2, random_state=3
    ).fit(X, y)
    expected = list(ParameterSampler(distributions, 4, random_state=3))
    assert search.cv_results_["params"] == expected


def test_bad_searches_are_refused_before_training(digits):
    X, y = digits
    with pytest.raises(TypeError, match="skdeep estimator or a Pipeline ending in one"):
        StackedSearchCV(StandardScaler(), {"with_mean": [True]}).fit(X, y)
    with pytest.raises(ValueError, match="exactly one of param_grid"):
        StackedSearchCV(MLPClassifier(), {"learning_rate": [0.1]}, param_distributions={}).fit(X, y)


class ScaledNet(torch.nn.Module):
    """A module whose forward depends on a setting its repr does not show."""

    def __init__(self, n_features_in, n_outputs, scale=1.0):
        super().__init__()
        self.layer = torch.nn.Linear(n_features_in, n_outputs)
        self.scale = scale

    def forward(self, x):
        return self.layer(x) * self.scale


def test_custom_module_settings_never_share_a_stack(digits):
    from skdeep import NeuralNetClassifier

    X, y = digits
    estimator = NeuralNetClassifier(module=ScaledNet, max_epochs=1, device="cpu", random_state=0)
    grid = {"module__scale": [1.0, 10.0], "learning_rate": [1e-3, 1e-2]}
    search = StackedSearchCV(estimator, grid, cv=2).fit(X, y)
    plain = GridSearchCV(estimator, grid, cv=2).fit(X, y)
    # Candidates in ParameterGrid's order: (1e-3, 1.0), (1e-3, 10.0), (1e-2, 1.0), (1e-2, 10.0).
    assert search.cv_results_["stack_group"].tolist() == [0, 1, 0, 1]
    np.testing.assert_allclose(
        search.cv_results_["mean_test_score"], plain.cv_results_["mean_test_score"], atol=0.01
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_stack_on_the_gpu_matches_separate_fits_on_the_gpu(digits):
    X, y = digits
    common = {**BASE, "device": "cuda", "max_epochs": 2}
    settings = [{"learning_rate": 1e-3}, {"learning_rate": 3e-3, "l2": 1e-3}]
    members = []
    for setting in settings:
        estimator = MLPClassifier(**common, **setting, random_state=len(members))
        members.append(prepare_member(estimator, X, y, None, np.arange(len(X)), 0, len(X)))
    features = torch.from_numpy(X).cuda()
    StackedTrainer(members, features, len(X)).train()
    for k, (setting, member) in enumerate(zip(settings, members, strict=True)):
        alone = MLPClassifier(**common, **setting, random_state=k).fit(X, y)
        assert _max_weight_difference(alone, member.estimator) < 1e-4
        assert member.estimator.net_.module_[0].weight.device.type == "cuda"


def test_multimetric_scoring_train_scores_and_sample_weights_as_in_gridsearchcv(digits):
    X, y = digits
    weights = np.where(y == 3, 3.0, 1.0)
    grid = {"learning_rate": [1e-3, 1e-2]}
    options = {
        "cv": 2,
        "scoring": {"acc": "accuracy", "ll": "neg_log_loss"},
        "refit": "ll",
        "return_train_score": True,
    }
    estimator = MLPClassifier(**BASE, random_state=0)
    stacked = StackedSearchCV(estimator, grid, **options).fit(X, y, sample_weight=weights)
    plain = GridSearchCV(estimator, grid, **options).fit(X, y, sample_weight=weights)
    for key in ("mean_test_acc", "mean_test_ll", "mean_train_acc", "mean_train_ll"):
        np.testing.assert_allclose(stacked.cv_results_[key], plain.cv_results_[key], atol=2e-3)
    assert stacked.best_params_ == plain.best_params_
    assert stacked.multimetric_ and set(stacked.scorer_) == {"acc", "ll"}
    assert results_frame(stacked)["mean_test_ll"].tolist() == list(
        stacked.cv_results_["mean_test_ll"]
    )


def test_error_score_raise_stops_the_search_at_the_first_diverged_member():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    search = StackedSearchCV(
        MLPRegressor(**BASE, optimizer="sgd", random_state=0),
        {"learning_rate": [1e-3, 1e10]},
        cv=2,
        error_score="raise",
    )
    with pytest.raises(TrainingDivergedError, match="Training diverged"):
        search.fit(X, X.sum(axis=1))


def test_convolutional_networks_stack_and_match_their_separate_fits(digits):
    from skdeep import CNNClassifier

    X, y = digits
    images = X.reshape(-1, 8, 8)
    common = {
        "max_epochs": 1,
        "device": "cpu",
        "filters": (4,),
        "kernel_sizes": (3,),
        "dense_units": (16,),
        "dropout": 0.2,  # below, the same seed with dropout 0.2 and 0.5 stack together
    }
    settings = [{"learning_rate": 1e-3}, {"learning_rate": 1e-2}]
    search = StackedSearchCV(
        CNNClassifier(**common, random_state=0),
        {"learning_rate": [1e-3, 1e-2], "dropout": [0.2, 0.5]},
        cv=2,
    ).fit(images, y)
    assert search.cv_results_["stack_group"].tolist() == [0, 0, 0, 0]
    no_dropout = {**common, "dropout": 0.0}
    members = _stack(
        [CNNClassifier(**no_dropout, **s, random_state=i) for i, s in enumerate(settings)],
        images,
        y,
    )
    for i, (setting, member) in enumerate(zip(settings, members, strict=True)):
        alone = CNNClassifier(**no_dropout, **setting, random_state=i).fit(images, y)
        assert _max_weight_difference(alone, member.estimator) < 1e-5


def test_automatic_stacks_hold_fewer_members_of_larger_networks(digits):
    from skdeep.search.stacked._search import _members_that_fit

    X, y = digits
    rows = np.arange(len(X))
    counts = [
        _members_that_fit(
            prepare_member(
                MLPClassifier(**{**BASE, "hidden_layer_sizes": width}), X, y, None, rows, 0, 600
            ),
            torch.device("cpu"),
        )
        for width in [(16,), (4096,)]
    ]
    assert counts[0] == 256  # the cap
    assert 1 <= counts[1] < 64


def test_fit_with_progress_counts_candidates_as_their_stacks_are_scored(digits):
    import io

    from skdeep.search import fit_with_progress

    X, y = digits
    grid = [{"learning_rate": [1e-3, 1e-2]}, {"batch_norm": [True]}]
    search = StackedSearchCV(MLPClassifier(**BASE, random_state=0), grid, cv=2)
    out = io.StringIO()
    fit_with_progress(search, X, y, mode="lines", stream=out)
    lines = [line.split(" (")[0] for line in out.getvalue().splitlines()]
    best = max(search.cv_results_["mean_test_score"])
    # The batch-norm candidate is fitted alone, as it is met; the stack of the two others after.
    assert lines[0].startswith("search: 1/3 candidates")
    assert lines[-1] == f"search: 3/3 candidates, best {best:.4g}"
    assert not hasattr(search, "_progress")


def test_a_stack_out_of_device_memory_is_trained_in_halves(digits, monkeypatch):
    X, y = digits
    grid = {"learning_rate": [1e-3, 3e-3, 1e-2], "l2": [0.0, 1e-3]}
    estimator = MLPClassifier(**{**BASE, "max_epochs": 2}, random_state=0)
    whole = StackedSearchCV(estimator, grid, cv=2).fit(X, y)
    validate = StackedTrainer._validate
    sizes = []

    def out_of_memory_in_large_stacks(trainer, classification):
        epochs_done = len(trainer.members[0].estimator.net_.history)
        if epochs_done == 0:
            sizes.append(len(trainer.members))
        # The second epoch of a large stack runs out of memory: its members must be rewound.
        if len(trainer.members) > 3 and epochs_done == 1:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return validate(trainer, classification)

    monkeypatch.setattr(StackedTrainer, "_validate", out_of_memory_in_large_stacks)
    with pytest.warns(UserWarning, match="ran out of device memory"):
        halved = StackedSearchCV(estimator, grid, cv=2).fit(X, y)
    assert sizes == [12, 6, 3, 3, 6, 3, 3]
    np.testing.assert_allclose(
        halved.cv_results_["mean_test_score"], whole.cv_results_["mean_test_score"], atol=1e-6
    )
