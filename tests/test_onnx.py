"""ONNX export: the exported model computes what the estimator predicts, under onnxruntime."""

import json

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits, make_classification
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from torch import nn

from skdeep import (
    CNNClassifier,
    MLPClassifier,
    MLPRegressor,
    NeuralNetClassifier,
    NeuralNetRegressor,
)
from skdeep import onnx as skdeep_onnx

onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

FAST = {"max_epochs": 3, "learning_rate": 1e-2, "device": "cpu", "random_state": 0}
TOLERANCE = 1e-5


class ConvNet(nn.Module):
    """A custom module on images: conv, batch norm, pooling, dropout, a dense head."""

    def __init__(self, n_features_in, n_outputs, channels=4):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(n_features_in, channels, 3, padding=1),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Dropout(0.2), nn.Linear(channels * 16, n_outputs)
        )

    def forward(self, x):
        return self.head(self.features(x))


def run(path, X: np.ndarray, output: str) -> np.ndarray:
    session = onnxruntime.InferenceSession(str(path))
    assert [i.name for i in session.get_inputs()] == ["X"]
    return session.run([output], {"X": X.astype(np.float32)})[0]


def input_shape(path) -> list:
    """The model's input shape after the free batch axis."""
    return onnxruntime.InferenceSession(str(path)).get_inputs()[0].shape[1:]


def assert_same_for_any_batch(path, X, expected, output):
    """The whole set, one row, and an odd-sized batch: the batch axis is free."""
    for rows in (slice(None), slice(0, 1), slice(3, 10)):
        np.testing.assert_allclose(run(path, X[rows], output), expected[rows], atol=TOLERANCE)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X[:300] / 16).astype(np.float32), y[:300]


@pytest.fixture(scope="module")
def table():
    X, y = make_classification(
        n_samples=200, n_features=6, n_informative=4, n_classes=3, random_state=0
    )
    return (X * 3 + 5).astype(np.float32), y


def test_mlp_classifier_exports_probabilities(table, tmp_path):
    X, y = table
    clf = MLPClassifier(hidden_layer_sizes=(16,), batch_norm=True, dropout=0.1, **FAST)
    clf.fit(X, [f"class {c}" for c in y])
    path = clf.to_onnx(tmp_path / "clf.onnx")
    assert path == tmp_path / "clf.onnx"
    assert_same_for_any_batch(path, X, clf.predict_proba(X), "probabilities")
    metadata = {p.key: p.value for p in onnx.load(path).metadata_props}
    assert json.loads(metadata["classes"]) == ["class 0", "class 1", "class 2"]
    assert metadata["skdeep_estimator"] == "MLPClassifier"


def test_mlp_regressor_exports_predictions(table, tmp_path):
    X, y = table
    targets = np.c_[X[:, 0] - X[:, 1], X[:, 2]]
    reg = MLPRegressor(hidden_layer_sizes=(16,), **FAST).fit(X, targets)
    path = reg.to_onnx(tmp_path / "reg.onnx")
    assert_same_for_any_batch(path, X, reg.predict(X), "predictions")
    single = MLPRegressor(hidden_layer_sizes=(16,), **FAST).fit(X, targets[:, 0])
    path = single.to_onnx(tmp_path / "single.onnx")
    assert_same_for_any_batch(path, X, single.predict(X)[:, None], "predictions")


@pytest.mark.parametrize("layout", [(64,), (8, 8), (1, 8, 8)], ids=["flat", "2-D", "4-D"])
def test_cnn_classifier_takes_the_images_as_it_was_fitted_on_them(digits, tmp_path, layout):
    X, y = digits
    images = X.reshape(-1, *layout)
    cnn = CNNClassifier(filters=(4, 8), kernel_sizes=(3, 3), dense_units=(16,), batch_norm=True)
    cnn.set_params(**FAST).fit(images, y)
    path = cnn.to_onnx(tmp_path / "cnn.onnx")
    assert input_shape(path) == list(layout)
    assert_same_for_any_batch(path, images, cnn.predict_proba(images), "probabilities")


def test_custom_modules_export(digits, tmp_path):
    X, y = digits
    images = X.reshape(-1, 1, 8, 8)
    clf = NeuralNetClassifier(ConvNet, module__channels=3, **FAST).fit(images, y)
    path = clf.to_onnx(tmp_path / "custom.onnx")
    assert input_shape(path) == [1, 8, 8]
    assert_same_for_any_batch(path, images, clf.predict_proba(images), "probabilities")

    reg = NeuralNetRegressor(lambda n_in, n_out: nn.Linear(n_in, n_out), **FAST)
    reg.fit(X, y.astype(float))
    path = reg.to_onnx(tmp_path / "linear.onnx")
    assert_same_for_any_batch(path, X, reg.predict(X)[:, None], "predictions")


def test_pipeline_exports_its_preprocessing_in_front(table, tmp_path):
    X, y = table
    pipe = make_pipeline(StandardScaler(), MinMaxScaler(), MLPClassifier(**FAST)).fit(X, y)
    path = skdeep_onnx.pipeline_to_onnx(pipe, tmp_path / "pipe.onnx")
    assert_same_for_any_batch(path, X, pipe.predict_proba(X), "probabilities")
    # The scaling is in the graph: the network alone, fed raw X, computes something else.
    alone = run(pipe[-1].to_onnx(tmp_path / "net.onnx"), X, "probabilities")
    assert np.abs(alone - pipe.predict_proba(X)).max() > 0.01
    metadata = {p.key: p.value for p in onnx.load(path).metadata_props}
    assert json.loads(metadata["preprocessing"]) == ["standardscaler", "minmaxscaler"]


def test_pipeline_with_a_regressor_and_passthrough(table, tmp_path):
    X, y = table
    pipe = make_pipeline("passthrough", StandardScaler(), MLPRegressor(**FAST))
    pipe.fit(X, y.astype(float))
    path = skdeep_onnx.pipeline_to_onnx(pipe, tmp_path / "pipe.onnx")
    assert_same_for_any_batch(path, X, pipe.predict(X)[:, None], "predictions")


def test_existing_files_are_kept_unless_overwrite(table, tmp_path):
    X, y = table
    clf = MLPClassifier(**FAST).fit(X, y)
    path = tmp_path / "model.onnx"
    path.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        clf.to_onnx(path)
    pipe = make_pipeline(StandardScaler(), clf)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        skdeep_onnx.pipeline_to_onnx(pipe, path)
    assert path.read_bytes() == b"precious"
    clf.to_onnx(path, overwrite=True)
    assert_same_for_any_batch(path, X, clf.predict_proba(X), "probabilities")
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_refusals(table, tmp_path):
    X, y = table
    with pytest.raises(TypeError, match="fitted skdeep network estimator, got a StandardScaler"):
        skdeep_onnx.to_onnx(StandardScaler().fit(X), tmp_path / "a.onnx")
    with pytest.raises(TypeError, match="last step is a MinMaxScaler"):
        skdeep_onnx.pipeline_to_onnx(make_pipeline(MinMaxScaler()).fit(X), tmp_path / "b.onnx")
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        MLPClassifier().to_onnx(tmp_path / "c.onnx")

    class Unsupported(StandardScaler):
        pass

    pipe = make_pipeline(Unsupported(), MLPClassifier(**FAST)).fit(X, y)
    with pytest.raises(ValueError, match=r"skl2onnx cannot convert the preprocessing steps"):
        skdeep_onnx.pipeline_to_onnx(pipe, tmp_path / "d.onnx")
    assert list(tmp_path.iterdir()) == []


def test_missing_onnx_names_the_extra(monkeypatch, table, tmp_path):
    clf = MLPClassifier(**FAST).fit(*table)
    real = skdeep_onnx.importlib.util.find_spec
    monkeypatch.setattr(
        skdeep_onnx.importlib.util,
        "find_spec",
        lambda name, *args: None if name == "onnx" else real(name, *args),
    )
    with pytest.raises(ImportError, match=r"needs onnx, .*pip install skdeep\[all\]"):
        clf.to_onnx(tmp_path / "model.onnx")


def test_export_leaves_the_estimator_as_it_was(table, tmp_path):
    X, y = table
    clf = MLPClassifier(batch_norm=True, **FAST).fit(X, y)
    before = clf.predict_proba(X)
    module = clf.net_.module_
    module.train()
    clf.to_onnx(tmp_path / "model.onnx")
    assert clf.net_.module_ is module and module.training
    assert all(p.device == torch.device("cpu") for p in module.parameters())
    np.testing.assert_array_equal(clf.predict_proba(X), before)
