"""Behaviour of the estimators that scikit-learn's generic checks do not pin down."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits, make_classification
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from skdeep import CNNClassifier, MLPClassifier, MLPRegressor

FAST = {"max_epochs": 5, "hidden_layer_sizes": (16,), "device": "cpu", "random_state": 0}


@pytest.fixture(scope="module")
def blobs():
    X, y = make_classification(
        n_samples=300, n_features=6, n_informative=4, n_classes=3, random_state=0
    )
    return X.astype(np.float32), y


def test_parameter_count_of_the_issue_example():
    X = np.random.RandomState(0).rand(20, 784)
    y = np.arange(20) % 10
    clf = MLPClassifier(hidden_layer_sizes=(128,), max_epochs=1, device="cpu").fit(X, y)
    assert clf.count_params() == 101_770
    summary = clf.summary()
    assert summary.total_params == 101_770
    assert summary.frame["params"].tolist() == [100_480, 0, 1_290]
    assert "Total params: 101,770" in str(summary)


def test_lenet5_with_valid_padding_has_the_classic_size():
    X = np.random.RandomState(0).rand(20, 28, 28)
    y = np.arange(20) % 10
    cnn = CNNClassifier(padding="valid", max_epochs=1, device="cpu").fit(X, y)
    assert cnn.count_params() == 44_426
    shapes = cnn.summary().frame.set_index("type")["output_shape"]
    assert shapes["Flatten"] == (None, 256)


@pytest.mark.parametrize(
    "labels",
    [np.array(["cat", "dog", "emu"]), np.array([3, 10, 42]), np.array([True, False, True])],
)
def test_labels_come_back_as_given(blobs, labels):
    X, y = blobs
    y_labels = labels[y % len(np.unique(labels))] if labels.dtype != bool else y == 1
    clf = MLPClassifier(**FAST).fit(X, y_labels)
    np.testing.assert_array_equal(clf.classes_, np.unique(y_labels))
    predicted = clf.predict(X)
    assert predicted.dtype == np.asarray(y_labels).dtype
    assert set(predicted) <= set(np.unique(y_labels))
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), len(clf.classes_))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(predicted, clf.classes_[proba.argmax(axis=1)])


def test_learns_digits():
    X, y = load_digits(return_X_y=True)
    clf = MLPClassifier(max_epochs=20, random_state=0, device="cpu").fit(X[:1200] / 16, y[:1200])
    assert clf.score(X[1200:] / 16, y[1200:]) > 0.9


def test_dataframe_feature_names_and_non_numeric_columns(blobs):
    X, y = blobs
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    clf = MLPClassifier(**FAST).fit(frame, y)
    np.testing.assert_array_equal(clf.feature_names_in_, frame.columns)
    frame["colour"] = "red"
    frame["city"] = "Lyon"
    with pytest.raises(ValueError, match=r"non-numeric columns \['colour', 'city'\]"):
        MLPClassifier(**FAST).fit(frame, y)


def test_same_random_state_same_predictions_and_different_otherwise(blobs):
    X, y = blobs
    first = MLPClassifier(**FAST).fit(X, y).predict_proba(X)
    again = MLPClassifier(**FAST).fit(X, y).predict_proba(X)
    other = MLPClassifier(**{**FAST, "random_state": 1}).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_fit_leaves_the_global_torch_random_state_alone(blobs):
    X, y = blobs
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    MLPClassifier(**FAST).fit(X, y)
    np.testing.assert_array_equal(torch.rand(3), expected)


def test_clone_and_pickle_round_trips(blobs):
    X, y = blobs
    clf = MLPClassifier(**FAST).fit(X, y)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    fresh = clone(clf)
    assert not hasattr(fresh, "net_")
    np.testing.assert_array_equal(fresh.fit(X, y).predict_proba(X), clf.predict_proba(X))


def test_partial_fit_trains_exactly_one_epoch_per_call(blobs):
    X, y = blobs
    clf = MLPClassifier(**{**FAST, "max_epochs": 50})
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[:100], y[:100], classes=[0, 1, 2])
    assert len(clf.history_) == 1
    weights = [p.detach().clone() for p in clf.net_.module_.parameters()]
    clf.partial_fit(X, y)
    assert clf.n_iter_ == len(clf.history_) == 2
    assert any(
        not torch.equal(a, b) for a, b in zip(weights, clf.net_.module_.parameters(), strict=True)
    )
    with pytest.raises(ValueError, match=r"labels \[7\] that are not in classes_"):
        clf.partial_fit(X[:3], [0, 1, 7])
    with pytest.raises(ValueError, match="features"):
        clf.partial_fit(X[:, :3], y)


def test_partial_fit_sees_a_class_absent_from_its_first_batch(blobs):
    X, y = blobs
    first = y != 2
    clf = MLPClassifier(**FAST).partial_fit(X[first], y[first], classes=[0, 1, 2])
    assert clf.predict_proba(X).shape == (len(X), 3)


def test_warm_start_continues_from_the_fitted_weights(blobs):
    X, y = blobs
    clf = MLPClassifier(**{**FAST, "warm_start": True}).fit(X, y)
    module = clf.net_.module_
    clf.fit(X, y)
    assert clf.net_.module_ is module
    assert len(clf.history_) == 2 * FAST["max_epochs"]
    cold = MLPClassifier(**FAST).fit(X, y)
    cold_module = cold.net_.module_
    cold.fit(X, y)
    assert cold.net_.module_ is not cold_module
    assert len(cold.history_) == FAST["max_epochs"]


def test_history_records_losses_accuracy_and_duration(blobs):
    X, y = blobs
    history = MLPClassifier(**FAST).fit(X, y).history_frame()
    assert list(history.index) == [1, 2, 3, 4, 5]
    for column in ["train_loss", "valid_loss", "valid_acc", "dur"]:
        assert history[column].notna().all()
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    no_valid = MLPClassifier(**{**FAST, "validation_fraction": 0.0}).fit(X, y).history_frame()
    assert "valid_loss" not in no_valid


def test_validation_accuracy_matches_a_prediction_on_the_held_out_rows(blobs):
    X, y = blobs
    clf = MLPClassifier(**{**FAST, "validation_fraction": 0.2}).fit(X, y)
    valid = clf.net_.train_split.valid
    held_out, encoded = valid.slice(0, len(valid))
    assert len(held_out) == 60
    labels = clf.classes_[encoded.numpy()]
    assert clf.history_[-1, "valid_acc"] == pytest.approx(clf.score(held_out.numpy(), labels))


def test_sample_weights_of_ones_change_nothing_and_zero_weights_remove_a_class(blobs):
    X, y = blobs
    plain = MLPClassifier(**FAST).fit(X, y).predict_proba(X)
    ones = MLPClassifier(**FAST).fit(X, y, sample_weight=np.ones(len(y))).predict_proba(X)
    np.testing.assert_array_equal(plain, ones)
    without_2 = MLPClassifier(**{**FAST, "max_epochs": 20}).fit(
        X, y, sample_weight=(y != 2).astype(float)
    )
    assert without_2.predict_proba(X)[:, 2].mean() < 0.1
    with pytest.raises(ValueError, match="non-zero"):
        MLPClassifier(**FAST).fit(X, y, sample_weight=np.zeros(len(y)))


def test_balanced_class_weight_raises_minority_recall():
    X, y = make_classification(
        n_samples=400, n_features=4, weights=[0.9, 0.1], class_sep=0.5, random_state=0
    )
    params = {**FAST, "max_epochs": 10, "validation_fraction": 0.0}
    plain = MLPClassifier(**params).fit(X, y).predict(X)
    balanced = MLPClassifier(**params, class_weight="balanced").fit(X, y).predict(X)
    assert (balanced[y == 1] == 1).mean() > (plain[y == 1] == 1).mean()
    with pytest.raises(ValueError, match="class_weight names labels"):
        MLPClassifier(**params, class_weight={5: 2.0}).fit(X, y)


def test_l1_and_l2_penalties_apply_to_weights_only(blobs):
    X, y = blobs
    clf = MLPClassifier(**{**FAST, "l1": 0.01, "l2": 0.1}).fit(X, y)
    net = clf.net_
    X_t, y_t = torch.from_numpy(X[:8]), torch.from_numpy(y[:8])
    with torch.no_grad():
        outputs = net.module_(X_t)
        penalised = net.get_loss(outputs, y_t, training=True)
        data_loss = net.get_loss(outputs, y_t, training=False)
    weights = [layer.weight for layer in net.module_ if isinstance(layer, torch.nn.Linear)]
    expected = sum(0.01 * w.abs().sum() + 0.05 * w.pow(2).sum() for w in weights)
    assert float((penalised - data_loss).detach()) == pytest.approx(float(expected), rel=1e-5)


def test_per_layer_penalties_follow_the_formula_layer_by_layer(blobs):
    X, y = blobs
    l1, l2 = (0.0, 0.01, 0.0), (0.1, 0.0, 0.3)  # two hidden layers, then the output layer
    clf = MLPClassifier(**{**FAST, "hidden_layer_sizes": (8, 4), "l1": l1, "l2": l2}).fit(X, y)
    net = clf.net_
    X_t, y_t = torch.from_numpy(X[:8]), torch.from_numpy(y[:8])
    with torch.no_grad():
        outputs = net.module_(X_t)
        penalty = net.get_loss(outputs, y_t, training=True) - net.get_loss(outputs, y_t)
    weights = [layer.weight for layer in net.module_ if isinstance(layer, torch.nn.Linear)]
    expected = sum(
        a * w.abs().sum() + b / 2 * w.pow(2).sum() for a, b, w in zip(l1, l2, weights, strict=True)
    )
    assert float(penalty) == pytest.approx(float(expected), rel=1e-5)
    # A uniform value is not the same thing: the per-layer values are what is applied.
    uniform = sum(0.01 * w.abs().sum() + 0.05 * w.pow(2).sum() for w in weights)
    assert float(penalty) != pytest.approx(float(uniform), rel=1e-3)


def test_per_layer_penalties_are_checked_against_the_architecture(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match="l2 has 2 values, but the network has 3 weight layers"):
        MLPClassifier(**{**FAST, "hidden_layer_sizes": (8, 4), "l2": (0.1, 0.2)}).fit(X, y)
    with pytest.raises(ValueError, match="l1 has 1 values, but the network has 4 weight layers"):
        CNNClassifier(
            filters=(4,),
            kernel_sizes=(3,),
            dense_units=(8, 8),
            l1=[0.1],
            **{"max_epochs": 1, "device": "cpu"},
        ).fit(X[:, :4], y)
    with pytest.raises(ValueError, match="l1 must be a float >= 0 or one float >= 0 per weight"):
        MLPClassifier(**{**FAST, "l1": (0.1, -1.0)}).fit(X, y)


def test_l2_shrinks_the_weights(blobs):
    X, y = blobs
    norms = [
        sum(
            float(p.pow(2).sum())
            for p in MLPClassifier(**FAST, l2=l2).fit(X, y).net_.penalized_params_
        )
        for l2 in (0.0, 1.0)
    ]
    assert norms[1] < 0.8 * norms[0]


# Weights of a 400 -> 300 layer: glorot's bound is sqrt(6 / 700), he's std sqrt(2 / 400).
@pytest.mark.parametrize(
    ("name", "check"),
    [
        ("glorot_uniform", lambda w: w.abs().max() <= (6 / 700) ** 0.5),
        ("he_normal", lambda w: abs(w.std() - (2 / 400) ** 0.5) < 0.01),
        ("random_uniform", lambda w: w.abs().max() <= 0.05),
        ("random_normal", lambda w: abs(w.std() - 0.05) < 0.005),
    ],
)
def test_kernel_initializers(name, check):
    X = np.random.RandomState(0).rand(10, 400)
    clf = MLPClassifier(
        hidden_layer_sizes=(300,),
        kernel_initializer=name,
        max_epochs=1,
        learning_rate=1e-9,
        device="cpu",
        random_state=0,
    ).fit(X, np.arange(10) % 2)
    layer = clf.net_.module_[0]
    assert check(layer.weight.detach())
    assert float(layer.bias.abs().max()) < 1e-6


def test_regressor_single_and_multi_output():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 4))
    Y = np.column_stack([X @ [1, 2, 0, 0], X @ [0, 0, -1, 1]])
    for loss in ("mse", "mae", "huber"):
        reg = MLPRegressor(**{**FAST, "max_epochs": 40}, learning_rate=1e-2, loss=loss)
        assert reg.fit(X, Y).predict(X).shape == (200, 2)
        assert reg.score(X, Y) > 0.8
    single = MLPRegressor(**FAST).fit(X, Y[:, 0])
    assert single.predict(X).shape == (200,)
    with pytest.raises(ValueError, match="y has 2 targets"):
        single.partial_fit(X, Y)


@pytest.mark.parametrize(
    ("shape", "expected"),
    [((64,), (1, 8, 8)), ((8, 8), (1, 8, 8)), ((3, 8, 8), (3, 8, 8)), ((10,), (1, 1, 10))],
)
def test_cnn_infers_the_image_shape(shape, expected):
    X = np.random.RandomState(0).rand(12, *shape)
    y = np.arange(12) % 2
    cnn = CNNClassifier(max_epochs=1, device="cpu").fit(X, y)
    assert cnn.input_shape_ == expected
    assert cnn.predict(X).shape == (12,)


@pytest.mark.parametrize("fit_shape", [(64,), (8, 8), (1, 8, 8)])
def test_cnn_predicts_images_flat_or_not_whatever_the_layout_it_was_fitted_on(fit_shape):
    X = np.random.RandomState(0).rand(12, 64)
    y = np.arange(12) % 2
    cnn = CNNClassifier(max_epochs=1, device="cpu").fit(X.reshape(12, *fit_shape), y)
    expected = cnn.predict_proba(X.reshape(12, *fit_shape))
    for shape in [(64,), (8, 8), (1, 8, 8)]:
        np.testing.assert_array_equal(cnn.predict_proba(X.reshape(12, *shape)), expected)


def test_cnn_shape_errors():
    X = np.random.RandomState(0).rand(12, 64)
    y = np.arange(12) % 2
    with pytest.raises(ValueError, match=r"cannot form input_shape=\(7, 7\)"):
        CNNClassifier(input_shape=(7, 7), device="cpu").fit(X, y)
    cnn = CNNClassifier(max_epochs=1, device="cpu").fit(X.reshape(12, 8, 8), y)
    with pytest.raises(ValueError, match=r"fitted on images of shape \(1, 8, 8\)"):
        cnn.predict(np.random.rand(3, 8, 4))
    with pytest.raises(ValueError, match=r"X has samples of shape \(81,\), but .* \(1, 8, 8\)"):
        cnn.predict(np.random.rand(3, 81))
    with pytest.raises(ValueError, match="too small for a 5x5 convolution"):
        CNNClassifier(padding="valid", device="cpu").fit(np.random.rand(12, 3, 3), y)
    with pytest.raises(ValueError, match="filters and kernel_sizes must have the same length"):
        CNNClassifier(filters=(4, 8), kernel_sizes=(3,), device="cpu").fit(X, y)


@pytest.mark.parametrize("channels", [1, 3])
def test_cnn_refuses_channels_last_images_and_says_how_to_pass_them(channels):
    X = np.random.RandomState(0).rand(12, 8, 8, channels)
    y = np.arange(12) % 2
    with pytest.raises(
        ValueError, match=r"channels-last.*X\.transpose\(0, 3, 1, 2\).*input_shape="
    ):
        CNNClassifier(max_epochs=1, device="cpu").fit(X, y)
    cnn = CNNClassifier(max_epochs=1, device="cpu").fit(X.transpose(0, 3, 1, 2), y)
    assert cnn.input_shape_ == (channels, 8, 8)
    # Said explicitly, the axes are taken as given.
    as_given = CNNClassifier(max_epochs=1, device="cpu", input_shape=(8, 8, channels))
    assert as_given.fit(X, y).input_shape_ == (8, 8, channels)


def test_cnn_warns_that_flat_rows_of_a_non_square_count_are_a_one_row_image():
    X = np.random.RandomState(0).rand(12, 63)
    y = np.arange(12) % 2
    with pytest.warns(UserWarning, match=r"63 features, not a square number.*input_shape") as w:
        CNNClassifier(max_epochs=1, device="cpu").fit(X, y)
    assert w[0].filename == __file__  # points at the caller's fit, not into skdeep
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cnn = CNNClassifier(max_epochs=1, device="cpu", input_shape=(1, 63)).fit(X, y)
    assert cnn.input_shape_ == (1, 1, 63)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"activation": "relux"}, r"activation: Unknown activation 'relux'; valid names .*'relu'"),
        ({"dropout": 1.5}, r"'dropout' parameter .* range \[0.0, 1.0\)"),
        ({"batch_size": 0}, r"'batch_size' parameter"),
        ({"optimizer": "lbfgs"}, r"'optimizer' parameter"),
        ({"hidden_layer_sizes": (10, 0)}, r"hidden_layer_sizes must hold positive integers"),
        ({"device": "gpu"}, r"device='gpu' is not a device"),
    ],
)
def test_bad_parameters_are_refused_before_training(blobs, params, message):
    X, y = blobs
    with pytest.raises((ValueError, InvalidParameterError), match=message):
        MLPClassifier(**{**FAST, **params}).fit(X, y)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_on_a_machine_without_it_is_refused(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match="no CUDA GPU"):
        MLPClassifier(**{**FAST, "device": "cuda"}).fit(X, y)


def test_predict_before_fit_and_single_class():
    with pytest.raises(NotFittedError):
        MLPClassifier().predict(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="at least 2 classes.*only one class: 'a'"):
        MLPClassifier(device="cpu").fit(np.zeros((4, 3)), ["a"] * 4)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw", "nadam", "rmsprop", "adagrad"])
def test_every_optimizer_trains(blobs, optimizer):
    X, y = blobs
    clf = MLPClassifier(**{**FAST, "max_epochs": 10}, optimizer=optimizer, learning_rate=1e-2)
    history = clf.fit(X, y).history_frame()
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    assert isinstance(clf.net_.optimizer_, torch.optim.Optimizer)


@pytest.mark.parametrize(
    ("optimizer", "momentum", "used"),
    [("sgd", None, 0.9), ("rmsprop", None, 0.0), ("sgd", 0.0, 0.0), ("rmsprop", 0.5, 0.5)],
)
def test_the_optimizer_gets_the_momentum_users_know(blobs, optimizer, momentum, used):
    X, y = blobs
    clf = MLPClassifier(**{**FAST, "max_epochs": 1}, optimizer=optimizer, momentum=momentum)
    optimizer_ = clf.fit(X, y).net_.optimizer_
    assert {group["momentum"] for group in optimizer_.param_groups} == {used}
    # torch keeps a velocity per weight only when the momentum it steps with is not 0.
    state = optimizer_.state[next(clf.net_.module_.parameters())]
    assert ("momentum_buffer" in state) == (used > 0)
    assert clf.get_params()["momentum"] is momentum


@pytest.mark.slow
@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_digits_cross_validation_with_the_defaults(model):
    """The foundation's acceptance figure: at least 0.95 in shuffled, stratified 5-fold CV."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    estimator = (
        make_pipeline(StandardScaler(), MLPClassifier()) if model == "mlp" else CNNClassifier()
    )
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    scores = cross_val_score(estimator, X, y, cv=cv)
    print(f"{model}: {scores.mean():.4f} {scores.round(4)}")
    assert scores.mean() >= 0.95


# -- scikit-learn parity: multilabel targets, log probabilities, partial_fit's classes --------


@pytest.fixture(scope="module")
def multilabel():
    from sklearn.datasets import make_multilabel_classification

    X, Y = make_multilabel_classification(n_samples=120, n_features=16, n_classes=4, random_state=0)
    return (X / X.max()).astype(np.float32), Y


@pytest.mark.parametrize("estimator", ["mlp", "cnn"])
def test_multilabel_indicator_targets_train_one_sigmoid_per_label(multilabel, estimator):
    X, Y = multilabel
    params = {"max_epochs": 3, "device": "cpu", "random_state": 0}
    clf = (
        MLPClassifier(hidden_layer_sizes=(16,), **params)
        if estimator == "mlp"
        else CNNClassifier(filters=(4,), kernel_sizes=(3,), dense_units=(8,), **params)
    ).fit(X, Y)
    assert isinstance(clf.net_.criterion_, torch.nn.BCEWithLogitsLoss)
    np.testing.assert_array_equal(clf.classes_, np.arange(4))
    assert clf.out_activation_ == "logistic"
    logits = clf.net_.predict_outputs(clf._to_module_input(X), 1024).double()
    proba = clf.predict_proba(X)
    assert proba.shape == (120, 4)
    np.testing.assert_allclose(proba, torch.sigmoid(logits).numpy(), rtol=1e-12)
    predicted = clf.predict(X)
    assert predicted.shape == (120, 4) and set(np.unique(predicted)) <= {0, 1}
    np.testing.assert_array_equal(predicted, (proba > 0.5).astype(int))
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), proba, rtol=1e-10)
    # score and valid_acc are scikit-learn's subset accuracy: all of a sample's labels right.
    assert clf.score(X, Y) == pytest.approx(np.mean((predicted == Y).all(axis=1)))
    assert 0 <= clf.history_[-1, "train_acc"] <= 1
    with pytest.raises(ValueError, match="fitted on 4 labels"):
        clf.partial_fit(X, Y[:, :3])
    with pytest.raises(ValueError, match="y holds class labels.*multilabel"):
        clf.partial_fit(X, Y[:, 0])


def test_multilabel_refuses_class_weight_and_multiclass_multioutput(multilabel):
    X, Y = multilabel
    with pytest.raises(ValueError, match="class_weight applies to class labels"):
        MLPClassifier(**FAST, class_weight="balanced").fit(X, Y)
    with pytest.raises(ValueError, match=r"y has shape \(120, 2\) and is multiclass-multioutput"):
        MLPClassifier(**FAST).fit(X, np.stack([Y[:, 0] * 2, Y[:, 1]], axis=1))


def test_predict_log_proba_is_the_log_of_predict_proba(blobs):
    X, y = blobs
    clf = MLPClassifier(**FAST).fit(X, y)
    log_proba = clf.predict_log_proba(X)
    assert log_proba.shape == (len(X), len(clf.classes_)) and (log_proba <= 0).all()
    np.testing.assert_allclose(np.exp(log_proba), clf.predict_proba(X), rtol=1e-10)


def test_partial_fit_refuses_other_classes_than_the_first_calls(blobs):
    X, y = blobs
    classes = np.unique(y)
    clf = MLPClassifier(**FAST).partial_fit(X, y, classes=classes)
    clf.partial_fit(X, y, classes=classes[::-1])  # the same labels, in another order
    with pytest.raises(ValueError, match=r"classes=\[0, 1\] is not the same as on the first call"):
        clf.partial_fit(X[y < 2], y[y < 2], classes=[0, 1])
    assert clf.n_iter_ == 2


def test_nan_labels_are_refused():
    X = np.zeros((4, 2))
    with pytest.raises(
        ValueError, match=r"classes must not hold NaN or None, got \[0.0, 1.0, nan\]"
    ):
        MLPClassifier(**FAST).partial_fit(X, [0.0, 1.0, 0.0, 1.0], classes=[0.0, 1.0, np.nan])
    with pytest.raises(ValueError, match="NaN"):
        MLPClassifier(**FAST).fit(X, [0.0, 1.0, np.nan, 1.0])


def test_an_int_hidden_layer_sizes_is_one_layer(blobs):
    X, y = blobs
    as_int = MLPClassifier(**{**FAST, "hidden_layer_sizes": 7}).fit(X, y)
    as_tuple = MLPClassifier(**{**FAST, "hidden_layer_sizes": (7,)}).fit(X, y)
    assert as_int.get_params()["hidden_layer_sizes"] == 7
    assert as_int.count_params() == as_tuple.count_params()
    np.testing.assert_array_equal(as_int.predict_proba(X), as_tuple.predict_proba(X))
    with pytest.raises(InvalidParameterError, match="hidden_layer_sizes"):
        MLPClassifier(**{**FAST, "hidden_layer_sizes": 0}).fit(X, y)


def test_count_params_and_summary_for_data_before_any_fit(blobs):
    X, y = blobs
    n_features, n_classes = X.shape[1], len(np.unique(y))
    clf = MLPClassifier(**{**FAST, "hidden_layer_sizes": (16, 8)})
    by_hand = (n_features + 1) * 16 + (16 + 1) * 8 + (8 + 1) * n_classes
    assert clf.count_params(X, y) == by_hand
    built = clf.summary(X, y)
    assert built.total_params == by_hand
    with pytest.raises(NotFittedError, match=r"call count_params\(X, y\)"):
        clf.count_params()  # building for data left the estimator unfitted
    with pytest.raises(ValueError, match="needs both X and y"):
        clf.summary(X)
    assert str(clf.fit(X, y).summary()) == str(built)
    assert clf.count_params() == by_hand
    lenet = CNNClassifier(padding="valid")
    assert lenet.count_params(np.zeros((10, 784)), np.arange(10)) == 44_426
    assert not hasattr(lenet, "input_shape_")


def test_leaky_relu_slope_and_elu_alpha_are_set_by_name():
    from torch import nn

    X, y = np.random.RandomState(0).rand(40, 3), np.arange(40) % 2
    clf = MLPClassifier(activation="leaky_relu(0.2)", hidden_layer_sizes=(4, 4), max_epochs=1)
    layers = [m for m in clf.fit(X, y).net_.module_.modules() if isinstance(m, nn.LeakyReLU)]
    assert [layer.negative_slope for layer in layers] == [0.2, 0.2]
    cnn = CNNClassifier(activation="elu(0.5)", filters=(2,), kernel_sizes=(3,), dense_units=(),
                        max_epochs=1)
    cnn.fit(np.random.RandomState(0).rand(40, 1, 6, 6), np.arange(40) % 2)
    assert [m.alpha for m in cnn.net_.module_.modules() if isinstance(m, nn.ELU)] == [0.5]
    for bad in ("leaky_relu(steep)", "elu(-1)", "relu(2)", "swish"):
        with pytest.raises(ValueError, match=r"^activation: Unknown activation"):
            MLPClassifier(activation=bad, max_epochs=1).fit(X, y)
