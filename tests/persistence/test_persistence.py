"""``est.save(path)`` and ``skdeep.load(path)``: pickle-free round trips of fitted estimators."""

import io
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_digits, make_classification
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch.callbacks import EpochTimer

import skdeep
from skdeep import CNNClassifier, MLPClassifier, MLPRegressor, load
from skdeep.persistence import FORMAT_VERSION

FAST = {"max_epochs": 3, "hidden_layer_sizes": (8,), "device": "cpu", "random_state": 0}
CNN_FAST = {
    "max_epochs": 2,
    "filters": (3,),
    "kernel_sizes": (3,),
    "dense_units": (8,),
    "device": "cpu",
    "random_state": 0,
}


@pytest.fixture(scope="module")
def blobs():
    X, y = make_classification(
        n_samples=120, n_features=9, n_informative=5, n_classes=3, random_state=0
    )
    return X.astype(np.float32), y


def round_trip(estimator, folder, **load_kwargs):
    path = estimator.save(folder / "model.skdeep")
    assert path == folder / "model.skdeep"
    return load(path, **load_kwargs)


def rewritten(path, target, member, transform):
    """A copy of the model file ``path`` at ``target`` with one member transformed."""
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(target, "w") as copy:
        for name in source.namelist():
            content = source.read(name)
            copy.writestr(name, transform(content) if name == member else content)
    return target


def edited_manifest(**changes):
    def transform(content):
        manifest = json.loads(content)
        manifest.update(changes)
        return json.dumps(manifest)

    return transform


def assert_same_weights(a, b) -> None:
    state_a, state_b = a.net_.module_.state_dict(), b.net_.module_.state_dict()
    assert state_a.keys() == state_b.keys()
    for key in state_a:
        assert torch.equal(state_a[key], state_b[key]), key


def assert_same_params(a, b) -> None:
    params_a, params_b = a.get_params(), b.get_params()
    assert params_a.keys() == params_b.keys()
    for name, value in params_a.items():
        assert value == params_b[name], name
        assert type(value) is type(params_b[name]), name


@pytest.mark.parametrize(
    "make",
    [
        lambda: MLPClassifier(**FAST, dropout=0.2, batch_norm=True, class_weight={0: 2.0, 2: 0.5}),
        lambda: MLPRegressor(**FAST, loss="huber", l2=1e-3),
        lambda: CNNClassifier(**CNN_FAST, input_shape=(3, 3)),
    ],
    ids=["MLPClassifier", "MLPRegressor", "CNNClassifier"],
)
def test_round_trip_predicts_identically_and_keeps_everything_fitted(blobs, tmp_path, make):
    X, y = blobs
    original = make().fit(X, y)
    restored = round_trip(original, tmp_path)
    assert type(restored) is type(original)
    np.testing.assert_array_equal(restored.predict(X), original.predict(X))
    if hasattr(original, "predict_proba"):
        np.testing.assert_array_equal(restored.predict_proba(X), original.predict_proba(X))
        np.testing.assert_array_equal(restored.classes_, original.classes_)
    assert_same_weights(restored, original)
    assert_same_params(restored, original)
    assert restored.n_features_in_ == original.n_features_in_ == 9
    assert restored.n_iter_ == original.n_iter_
    assert restored.n_threads_ == original.n_threads_
    pd.testing.assert_frame_equal(restored.history_frame(), original.history_frame())
    assert list(restored.history_) == list(original.history_)
    assert type(restored.history_) is type(original.history_)
    assert str(restored.summary()) == str(original.summary())
    assert restored.count_params() == original.count_params()
    if isinstance(original, CNNClassifier):
        assert restored.input_shape_ == (1, 3, 3)
        assert type(restored.input_shape_) is tuple


@pytest.mark.parametrize(
    "labels",
    [
        np.array(["cat", "dog", "emu"]),
        np.array(["cat", "dog", "emu"], dtype=object),
        np.array([3, 10, 42]),
        np.array([-1.0, 0.0, 2.0]),
        np.array([True, False]),
    ],
    ids=["str", "object", "int", "float", "bool"],
)
def test_labels_round_trip_with_their_dtype(blobs, tmp_path, labels):
    X, y = blobs
    y_labels = labels[y % len(labels)]
    original = MLPClassifier(**FAST).fit(X, y_labels)
    restored = round_trip(original, tmp_path)
    assert restored.classes_.dtype == original.classes_.dtype
    np.testing.assert_array_equal(restored.classes_, original.classes_)
    predicted = restored.predict(X)
    assert predicted.dtype == original.predict(X).dtype
    np.testing.assert_array_equal(predicted, original.predict(X))


@pytest.mark.parametrize(
    "make",
    [lambda: MLPClassifier(**FAST), lambda: CNNClassifier(**CNN_FAST)],
    ids=["MLPClassifier", "CNNClassifier"],
)
def test_multilabel_classifiers_round_trip_with_their_sigmoid_outputs(blobs, tmp_path, make):
    X, y = blobs
    indicators = np.column_stack([y == 0, y == 1, X[:, 0] > 0]).astype(int)
    original = make().fit(X, indicators)
    restored = round_trip(original, tmp_path)
    assert restored.out_activation_ == original.out_activation_ == "logistic"
    np.testing.assert_array_equal(restored.predict(X), original.predict(X))
    np.testing.assert_array_equal(restored.predict_proba(X), original.predict_proba(X))


def test_dataframe_feature_names_and_several_targets_round_trip(tmp_path):
    rng = np.random.RandomState(0)
    frame = pd.DataFrame(rng.normal(size=(60, 3)), columns=["age", "height", "weight"])
    targets = np.column_stack([frame.sum(axis=1), frame["age"] - frame["weight"]])
    original = MLPRegressor(**FAST).fit(frame, targets)
    restored = round_trip(original, tmp_path)
    np.testing.assert_array_equal(restored.feature_names_in_, ["age", "height", "weight"])
    assert restored.n_outputs_ == 2
    np.testing.assert_array_equal(restored.predict(frame), original.predict(frame))
    with pytest.raises(ValueError, match="Feature names"):
        restored.predict(frame.rename(columns={"age": "years"}))


def test_partial_fit_continues_exactly_as_the_original_would(blobs, tmp_path):
    X, y = blobs
    original = MLPClassifier(**FAST, dropout=0.3, optimizer="adam").fit(X, y)
    restored = round_trip(original, tmp_path)
    original.partial_fit(X, y)
    restored.partial_fit(X, y)
    # Same weights after one more epoch: the optimizer's moments, the seed and the epoch count
    # (which seeds the next epoch's shuffling and dropout) were all restored.
    assert_same_weights(restored, original)
    assert restored.n_iter_ == original.n_iter_ == FAST["max_epochs"] + 1


def test_warm_start_fit_continues_from_the_loaded_weights(blobs, tmp_path):
    X, y = blobs
    original = MLPClassifier(**FAST, warm_start=True).fit(X, y)
    restored = round_trip(original, tmp_path)
    module = restored.net_.module_
    restored.fit(X, y)
    assert restored.net_.module_ is module
    assert restored.n_iter_ == 2 * FAST["max_epochs"]


def test_an_unfitted_estimator_is_refused_and_nothing_is_written(tmp_path):
    with pytest.raises(NotFittedError):
        MLPClassifier().save(tmp_path / "model.skdeep")
    assert list(tmp_path.iterdir()) == []


def test_only_skdeep_estimators_are_saved(blobs, tmp_path):
    X, y = blobs
    pipe = make_pipeline(StandardScaler(), MLPClassifier(**FAST)).fit(X, y)
    with pytest.raises(TypeError, match="pipelines with joblib.dump"):
        skdeep.persistence.save(pipe, tmp_path / "pipe.skdeep")


def test_an_existing_file_is_kept_unless_overwrite_is_asked(blobs, tmp_path):
    X, y = blobs
    path = tmp_path / "model.skdeep"
    path.write_bytes(b"precious")
    clf = MLPClassifier(**FAST).fit(X, y)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        clf.save(path)
    assert path.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.skdeep"]
    clf.save(path, overwrite=True)
    np.testing.assert_array_equal(load(path).predict_proba(X), clf.predict_proba(X))
    # Written under a temporary name and renamed: no leftovers beside it.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.skdeep"]


def test_a_write_that_fails_midway_leaves_the_previous_file_intact(blobs, tmp_path, monkeypatch):
    X, y = blobs
    path = MLPClassifier(**FAST).fit(X, y).save(tmp_path / "model.skdeep")
    before = path.read_bytes()
    written = []

    def failing_writestr(archive, name, data, *args, **kwargs):
        if written:
            raise OSError("disk full")
        written.append(name)
        return original_writestr(archive, name, data, *args, **kwargs)

    original_writestr = zipfile.ZipFile.writestr
    monkeypatch.setattr(zipfile.ZipFile, "writestr", failing_writestr)
    other = MLPClassifier(**{**FAST, "random_state": 1}).fit(X, y)
    with pytest.raises(OSError, match="disk full"):
        other.save(path, overwrite=True)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.skdeep"]


def test_the_file_is_a_zip_of_json_and_weights_only_state_dicts(blobs, tmp_path):
    X, y = blobs
    clf = MLPClassifier(**FAST).fit(X, np.array(["a", "b", "c"])[y])
    path = clf.save(tmp_path / "model.skdeep")
    with zipfile.ZipFile(path) as archive:
        names = sorted(archive.namelist())
        manifest = json.loads(archive.read("skdeep.json"))
        module_state = torch.load(archive.open("module.pt"), map_location="cpu", weights_only=True)
        optimizer_state = torch.load(
            archive.open("optimizer.pt"), map_location="cpu", weights_only=True
        )
    assert names == ["criterion.pt", "module.pt", "optimizer.pt", "skdeep.json"]
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["skdeep_version"] == skdeep.__version__
    assert manifest["estimator"] == {"module": "skdeep.estimators", "name": "MLPClassifier"}
    assert manifest["params"]["hidden_layer_sizes"] == {"__tuple__": [8]}
    assert manifest["fitted"]["classes_"]["__ndarray__"] == ["a", "b", "c"]
    assert manifest["fitted"]["n_features_in_"] == 9
    assert len(manifest["history"]) == FAST["max_epochs"]
    assert torch.equal(module_state["0.weight"], clf.net_.module_[0].weight)
    assert optimizer_state["state"]  # the Adam moments are there


def test_a_file_from_a_newer_format_says_so(blobs, tmp_path):
    X, y = blobs
    path = MLPClassifier(**FAST).fit(X, y).save(tmp_path / "model.skdeep")
    changes = edited_manifest(format_version=FORMAT_VERSION + 1, skdeep_version="9.0")
    newer = rewritten(path, tmp_path / "newer.skdeep", "skdeep.json", changes)
    message = (
        rf"written by skdeep 9.0 in save format {FORMAT_VERSION + 1}, but this skdeep "
        rf"\({skdeep.__version__}\) reads formats up to {FORMAT_VERSION}; upgrade skdeep"
    )
    with pytest.raises(ValueError, match=message):
        load(newer)


def test_parameters_unknown_to_this_version_are_ignored_with_a_warning(blobs, tmp_path):
    X, y = blobs
    clf = MLPClassifier(**FAST).fit(X, y)
    path = clf.save(tmp_path / "model.skdeep")
    with zipfile.ZipFile(path) as archive:
        params = json.loads(archive.read("skdeep.json"))["params"]
    changes = edited_manifest(params={**params, "retired_option": 3})
    older = rewritten(path, tmp_path / "older.skdeep", "skdeep.json", changes)
    with pytest.warns(UserWarning, match=r"parameters \['retired_option'\].*ignored"):
        restored = load(older)
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))


def test_an_incomplete_file_is_refused(blobs, tmp_path):
    X, y = blobs
    path = MLPClassifier(**FAST).fit(X, y).save(tmp_path / "model.skdeep")

    def without_fitted(content):
        manifest = json.loads(content)
        del manifest["fitted"]
        return json.dumps(manifest)

    broken = rewritten(path, tmp_path / "broken.skdeep", "skdeep.json", without_fitted)
    with pytest.raises(ValueError, match=r"incomplete: its skdeep.json lacks \['fitted'\]"):
        load(broken)


def test_a_missing_path_is_a_file_not_found_error_naming_it(tmp_path):
    missing = tmp_path / "missing.skdeep"
    with pytest.raises(FileNotFoundError, match=f"{re.escape(str(missing))}: no such file"):
        load(missing)
    with pytest.raises(IsADirectoryError, match="is a folder, not a model file"):
        load(tmp_path)


def test_files_that_are_not_models_are_refused(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a model")
    with pytest.raises(ValueError, match="not a model file written by skdeep's save"):
        load(text)
    other_zip = tmp_path / "other.zip"
    with zipfile.ZipFile(other_zip, "w") as archive:
        archive.writestr("data.csv", "a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a model file written by skdeep's save"):
        load(other_zip)


_UNPICKLED = []


class _Payload:
    def __reduce__(self):
        return (_UNPICKLED.append, ("code ran",))


def test_loading_never_unpickles_objects(blobs, tmp_path):
    X, y = blobs
    path = MLPClassifier(**FAST).fit(X, y).save(tmp_path / "model.skdeep")

    def with_payload(content):
        buffer = io.BytesIO()
        torch.save({"0.weight": _Payload()}, buffer)
        return buffer.getvalue()

    tampered = rewritten(path, tmp_path / "tampered.skdeep", "module.pt", with_payload)
    with pytest.raises(ValueError, match="damaged or was edited"):
        load(tampered)
    assert _UNPICKLED == []


def test_callback_objects_are_stored_as_the_default_with_a_warning(blobs, tmp_path):
    X, y = blobs
    clf = MLPClassifier(**FAST, callbacks=[("timer", EpochTimer())]).fit(X, y)
    with pytest.warns(UserWarning, match=r"Parameters \['callbacks'\].*callbacks=None"):
        path = clf.save(tmp_path / "model.skdeep")
    restored = load(path)
    assert restored.callbacks is None
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))


def test_random_state_objects_and_non_finite_history_values_round_trip(blobs, tmp_path):
    X, y = blobs
    clf = MLPClassifier(**{**FAST, "random_state": np.random.RandomState(7)}).fit(X, y)
    clf.history_.record("custom_score", float("nan"))
    restored = round_trip(clf, tmp_path)
    state, restored_state = clf.random_state.get_state(), restored.random_state.get_state()
    assert state[0] == restored_state[0]
    np.testing.assert_array_equal(state[1], restored_state[1])
    assert state[2:] == restored_state[2:]
    assert np.isnan(restored.history_[-1, "custom_score"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_model_saved_on_cuda_loads_and_predicts_on_the_cpu(blobs, tmp_path, monkeypatch):
    X, y = blobs
    clf = MLPClassifier(**FAST).fit(X, y)
    expected = clf.predict_proba(X)
    # Write the file as a CUDA machine does: device="cuda" and every tensor tagged 'cuda:0'.
    clf.set_params(device="cuda")
    with monkeypatch.context() as patch:
        patch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        path = clf.save(tmp_path / "model.skdeep")
    with zipfile.ZipFile(path) as archive, pytest.raises(RuntimeError, match="CUDA"):
        torch.load(archive.open("module.pt"), weights_only=True)

    with pytest.warns(UserWarning, match="loaded on the CPU"):
        restored = load(path)
    assert restored.device == "cpu"
    assert restored.net_.module_[0].weight.device.type == "cpu"
    np.testing.assert_array_equal(restored.predict_proba(X), expected)
    restored.partial_fit(X, y)  # the optimizer state was mapped to the CPU too

    explicit = load(path, device="cpu")
    np.testing.assert_array_equal(explicit.predict_proba(X), expected)


def test_a_model_saved_by_release_0_1_0_still_loads_and_predicts_as_it_did():
    """The file was written by ``save`` of skdeep 0.1.0, before the package was laid out anew.

    MLPClassifier(hidden_layer_sizes=(16,), max_epochs=3, random_state=0) fitted on the first
    200 digits (pixels / 16); the .npy holds its predict_proba of the first 20 rows.
    """
    data = Path(__file__).parents[1] / "data"
    X = load_digits().data[:200].astype(np.float32) / 16
    restored = load(data / "mlp_classifier_0.1.0.skdeep")
    assert type(restored).__name__ == "MLPClassifier"
    assert restored.hidden_layer_sizes == (16,)
    expected = np.load(data / "mlp_classifier_0.1.0_proba.npy")
    np.testing.assert_allclose(restored.predict_proba(X[:20]), expected, rtol=1e-5, atol=1e-7)
