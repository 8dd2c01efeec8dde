"""NeuralNetClassifier / NeuralNetRegressor: the user's own module as a scikit-learn estimator."""

import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits, make_classification
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks
from torch import nn

from skdeep import NeuralNetClassifier, NeuralNetRegressor

FAST = {"max_epochs": 5, "learning_rate": 1e-2, "device": "cpu", "random_state": 0}


class SmallNet(nn.Module):
    """Sized from the data through the names ``n_features_in`` and ``n_outputs``."""

    def __init__(self, n_features_in, n_outputs, hidden=8):
        super().__init__()
        self.hidden = nn.Linear(n_features_in, hidden)
        self.out = nn.Linear(hidden, n_outputs)

    def forward(self, x):
        return self.out(torch.relu(self.hidden(x)))


class FixedNet(nn.Module):
    """A skorch-style module: every size given as a module__ parameter."""

    def __init__(self, n_in=6, n_out=3):
        super().__init__()
        self.linear = nn.Linear(n_in, n_out)

    def forward(self, x):
        return self.linear(x)


class IntegerNet(nn.Module):
    """A module that rounds its outputs to integers: no loss can train it."""

    def __init__(self, n_features_in, n_out=3):
        super().__init__()
        self.layer = nn.Linear(n_features_in, n_out)

    def forward(self, x):
        return self.layer(x).round().long()


class TinyConv(nn.Module):
    def __init__(self, n_features_in, n_outputs):
        super().__init__()
        self.conv = nn.Conv2d(n_features_in, 4, 3, padding=1)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * 8 * 8, n_outputs))

    def forward(self, x):
        return self.head(torch.relu(self.conv(x)))


@pytest.fixture(scope="module")
def blobs():
    X, y = make_classification(
        n_samples=200, n_features=6, n_informative=4, n_classes=3, random_state=0
    )
    return X.astype(np.float32), y


CHECKS_FAST = {"max_epochs": 30, "learning_rate": 1e-2, "device": "cpu", "module__hidden": 16}


@parametrize_with_checks(
    [NeuralNetClassifier(SmallNet, **CHECKS_FAST), NeuralNetRegressor(SmallNet, **CHECKS_FAST)],
    expected_failed_checks=lambda estimator: estimator._expected_failed_checks(),
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_module_params_are_parameters(blobs):
    clf = NeuralNetClassifier(SmallNet, module__hidden=5, **FAST)
    assert clf.get_params()["module__hidden"] == 5
    assert clone(clf).get_params()["module__hidden"] == 5
    clf.set_params(module__hidden=7)
    assert clf.fit(*blobs).net_.module_.hidden.out_features == 7
    assert "module__hidden=7" in repr(clf)
    # sklearn's own set_params would split module__hidden into module.set_params(hidden=...).
    assert isinstance(clf.module, type)


def test_grid_search_over_module_params_in_a_pipeline(blobs):
    pipe = make_pipeline(StandardScaler(), NeuralNetClassifier(SmallNet, **FAST))
    grid = {"neuralnetclassifier__module__hidden": [2, 12]}
    search = GridSearchCV(pipe, grid, cv=2).fit(*blobs)
    assert search.cv_results_["param_neuralnetclassifier__module__hidden"].tolist() == [2, 12]
    best = search.best_params_["neuralnetclassifier__module__hidden"]
    assert search.best_estimator_[-1].net_.module_.hidden.out_features == best
    # Twelve hidden units beat two on a three-class problem with four informative features.
    assert best == 12


def test_class_without_size_names_gets_only_module_params(blobs):
    clf = NeuralNetClassifier(FixedNet, module__n_in=6, module__n_out=3, **FAST).fit(*blobs)
    assert clf.net_.module_.linear.weight.shape == (3, 6)


def test_builder_is_called_with_the_data_sizes(blobs):
    calls = []

    def build(n_features_in, n_outputs, width=4):
        calls.append((n_features_in, n_outputs, width))
        return nn.Sequential(
            nn.Linear(n_features_in, width), nn.ReLU(), nn.Linear(width, n_outputs)
        )

    X, y = blobs
    NeuralNetClassifier(build, module__width=3, **FAST).fit(X, y)
    NeuralNetRegressor(build, **FAST).fit(X, np.c_[y, -y].astype(float))
    assert calls == [(6, 3, 3), (6, 2, 4)]


def test_an_instance_is_copied_and_each_fit_starts_from_its_weights(blobs):
    torch.manual_seed(0)
    instance = SmallNet(6, 3)
    before = {k: v.clone() for k, v in instance.state_dict().items()}
    clf = NeuralNetClassifier(instance, **FAST)
    first = clf.fit(*blobs).predict_proba(blobs[0])
    second = clf.fit(*blobs).predict_proba(blobs[0])
    np.testing.assert_array_equal(first, second)
    assert clf.net_.module_ is not instance
    for name, value in instance.state_dict().items():
        assert torch.equal(value, before[name]), name
    # The starting point is the instance's weights: zero epochs of training would return them.
    start = NeuralNetClassifier(instance, **{**FAST, "learning_rate": 1e-12}).fit(*blobs)
    with torch.no_grad():
        expected = torch.softmax(instance(torch.from_numpy(blobs[0])).double(), dim=1).numpy()
    np.testing.assert_allclose(start.predict_proba(blobs[0]), expected, atol=1e-6)


def test_images_keep_their_shape():
    X, y = load_digits(return_X_y=True)
    images = (X[:200] / 16).reshape(-1, 1, 8, 8).astype(np.float32)
    clf = NeuralNetClassifier(TinyConv, **FAST).fit(images, y[:200])
    assert clf.input_shape_ == (1, 8, 8)
    assert clf.n_features_in_ == 1
    assert clf.score(images, y[:200]) > 0.5
    with pytest.raises(ValueError, match=r"samples of shape \(1, 4, 16\).*\(1, 8, 8\)"):
        clf.predict(images.reshape(-1, 1, 4, 16))


def test_partial_fit_and_pickle(blobs):
    X, y = blobs
    clf = NeuralNetClassifier(SmallNet, **FAST)
    clf.partial_fit(X, y, classes=[0, 1, 2])
    clf.partial_fit(X, y)
    assert clf.n_iter_ == 2
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))


def test_regressor_learns_a_linear_target():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 3))
    y = X @ [1.0, -2.0, 0.5]
    reg = NeuralNetRegressor(
        lambda n_in, n_out: nn.Linear(n_in, n_out),
        **{**FAST, "max_epochs": 40, "learning_rate": 0.05},
    )
    assert reg.fit(X, y).score(X, y) > 0.99
    assert reg.predict(X).shape == (200,)


@pytest.mark.parametrize(
    ("estimator", "error", "message"),
    [
        (
            NeuralNetClassifier(SmallNet, module__hiden=3, **FAST),
            TypeError,
            r"SmallNet takes no parameter hiden, given as module__hiden; its parameters are "
            r"\['n_features_in', 'n_outputs', 'hidden'\]",
        ),
        (
            NeuralNetClassifier(SmallNet(6, 3), module__hidden=3, **FAST),
            ValueError,
            r"module is an instance of SmallNet.*\['module__hidden'\].*pass the module class",
        ),
        (
            NeuralNetClassifier(FixedNet, module__n_out=10, **FAST),
            ValueError,
            r"outputs of shape \(2, 10\).*needs \(2, 3\): one column per class",
        ),
        (
            NeuralNetRegressor(FixedNet, **FAST),
            ValueError,
            r"outputs of shape \(2, 3\).*needs \(2, 1\): one column per target",
        ),
        (
            NeuralNetClassifier(lambda n_in, n_out: "not a module", **FAST),
            TypeError,
            "returned a str, not a torch.nn.Module",
        ),
        (
            NeuralNetClassifier(IntegerNet, **FAST),
            ValueError,
            r"outputs of dtype torch.int64, but the loss needs floating-point outputs",
        ),
        (
            NeuralNetRegressor(IntegerNet, module__n_out=1, **FAST),
            ValueError,
            r"outputs of dtype torch.int64",
        ),
        (
            NeuralNetClassifier(SmallNet, lerning_rate=0.1, **FAST),
            TypeError,
            r"unexpected keyword arguments \['lerning_rate'\]",
        ),
    ],
    ids=[
        "typo",
        "instance-params",
        "classes",
        "targets",
        "integer-classes",
        "integer-targets",
        "builder",
        "unknown-kwarg",
    ],
)
def test_bad_modules_are_refused_before_training(blobs, estimator, error, message):
    with pytest.raises(error, match=message):
        estimator.fit(*blobs)
    assert not hasattr(estimator, "net_") or len(estimator.net_.history) == 0


def test_module_must_be_callable(blobs):
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="'module' parameter"):
        NeuralNetClassifier("resnet", **FAST).fit(*blobs)


def test_save_refuses_with_a_way_out(blobs, tmp_path):
    clf = NeuralNetClassifier(SmallNet, **FAST).fit(*blobs)
    with pytest.raises(TypeError, match="joblib.dump.*to_onnx"):
        clf.save(tmp_path / "model.skdeep")
    assert not (tmp_path / "model.skdeep").exists()


def test_the_guide_runs(tmp_path, monkeypatch, capsys):
    for package in ("onnx", "onnxruntime", "onnxscript", "skl2onnx"):
        pytest.importorskip(package)
    guide = (Path(__file__).parents[1] / "docs" / "custom_networks.md").read_text()
    code = "\n".join(re.findall(r"```python\n(.*?)```", guide, flags=re.DOTALL))
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "docs/custom_networks.md", "exec"), {"__name__": "guide"})
    printed = capsys.readouterr().out.splitlines()
    # The two ONNX comparisons with predict_proba.
    assert printed.count("True") == 2
