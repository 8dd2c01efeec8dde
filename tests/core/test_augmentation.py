"""augmentation: random shifts, rotations and scalings of the training images, only in training.

The module's inputs are recorded by a forward pre-hook that a callback puts on the net when
training begins: in training mode they are the augmented batches, in eval mode the validation
batches, and ``on_batch_begin`` sees the batches as gathered, before augmentation.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.utils._param_validation import InvalidParameterError
from skorch.callbacks import Callback

from skdeep import CNNClassifier, MLPClassifier, MLPRegressor, load
from skdeep.core import _graph_step
from skdeep.core._augment import RandomAffine, check_augmentation

COMMON = {"device": "cpu", "random_state": 0, "max_epochs": 2, "n_threads": 1}
SHIFT = {"shift": 1.5, "rotation": 10, "scale": 0.1}
ESTIMATORS = {
    "mlp": lambda **p: MLPClassifier(hidden_layer_sizes=(16,), input_shape=(1, 8, 8), **p),
    "cnn": lambda **p: CNNClassifier(filters=(4,), kernel_sizes=(3,), dense_units=(8,), **p),
}


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X[:240] / 16).astype(np.float32), y[:240]


class InputRecorder(Callback):
    """Records the batches as gathered, and what the module gets in training and eval mode."""

    def on_train_begin(self, net, **kwargs):
        self.gathered, self.trained, self.evaluated = [], [], []
        self.epoch_starts = []
        net.module_.register_forward_pre_hook(self._record)

    def on_epoch_begin(self, net, **kwargs):
        self.epoch_starts.append(len(self.gathered))

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training:
            self.gathered.append(batch[0].detach().clone())

    def _record(self, module, inputs):
        target = self.trained if module.training else self.evaluated
        target.append(inputs[0].detach().clone())


def recorder_of(clf) -> InputRecorder:
    return next(cb for _, cb in clf.net_.callbacks_ if isinstance(cb, InputRecorder))


def weights(clf) -> list[torch.Tensor]:
    return [t.detach().clone() for t in clf.net_.module_.state_dict().values()]


# -- the parameter ----------------------------------------------------------------------------


def test_presets_and_dicts_become_ranges():
    assert check_augmentation(None) is None
    assert check_augmentation({}) is None
    assert check_augmentation({"shift": 0, "rotation": 0.0}) is None
    assert check_augmentation("standard") == {"shift": 2.0, "rotation": 10.0, "scale": 0.1}
    assert check_augmentation({"scale": 0.2}) == {"shift": 0.0, "rotation": 0.0, "scale": 0.2}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"shfit": 2}, r"augmentation has unknown keys \['shfit'\]"),
        ({"shift": -1}, r"augmentation\['shift'\] must be a number of pixels >= 0"),
        ({"rotation": 200}, r"augmentation\['rotation'\] must be a number of degrees"),
        ({"scale": 1.0}, r"augmentation\['scale'\] must be a fraction in \[0, 1\)"),
        ({"scale": float("nan")}, r"augmentation\['scale'\]"),
        ({"shift": True}, r"augmentation\['shift'\]"),
        ({"shift": "2"}, r"augmentation\['shift'\]"),
    ],
)
@pytest.mark.parametrize("kind", sorted(ESTIMATORS))
def test_bad_values_are_refused_before_training_naming_the_parameter(
    digits, kind, value, message
):
    X, y = digits
    clf = ESTIMATORS[kind](augmentation=value, **COMMON)
    with pytest.raises(ValueError, match=message):
        clf.fit(X, y)
    assert not hasattr(clf, "net_")


def test_an_unknown_preset_is_refused_by_parameter_validation(digits):
    with pytest.raises(InvalidParameterError, match="'augmentation' parameter of CNNClassifier"):
        CNNClassifier(augmentation="strong", **COMMON).fit(*digits)


def test_the_parameter_is_stored_untouched_and_clones(digits):
    value = {"shift": 1}
    clf = ESTIMATORS["cnn"](augmentation=value, **COMMON)
    assert clf.get_params()["augmentation"] is value
    clf.fit(*digits)
    assert value == {"shift": 1}
    assert clone(clf).get_params()["augmentation"] == {"shift": 1}


# -- images only ------------------------------------------------------------------------------


def test_an_mlp_without_input_shape_refuses_augmentation(digits):
    with pytest.raises(ValueError, match=r"augmentation='standard' transforms images.*input_shape"):
        MLPClassifier(augmentation="standard", **COMMON).fit(*digits)
    # Off (None, or all zero) needs no image shape.
    MLPClassifier(augmentation={"shift": 0}, **COMMON).fit(*digits)


def test_input_shape_must_hold_the_features(digits):
    with pytest.raises(ValueError, match=r"64 values .* input_shape=\(1, 7, 8\)"):
        MLPClassifier(input_shape=(1, 7, 8), **COMMON).fit(*digits)
    with pytest.raises(ValueError, match="input_shape must be"):
        MLPClassifier(input_shape=(0, 8, 8), augmentation=SHIFT, **COMMON).fit(*digits)
    # (height, width) is one channel.
    clf = MLPClassifier(input_shape=(8, 8), augmentation=SHIFT, **COMMON).fit(*digits)
    assert clf.net_.augmentation.image_shape == (1, 8, 8)


def test_regressors_have_no_augmentation():
    with pytest.raises(TypeError, match="augmentation"):
        MLPRegressor(augmentation="standard")
    assert "augmentation" not in MLPRegressor().get_params()


# -- the transform ----------------------------------------------------------------------------


def _draws(*values):
    return torch.tensor([values], dtype=torch.float32)


def test_shifts_move_by_whole_pixels_right_and_down():
    augment = RandomAffine((1, 5, 7), shift=1.0)
    image = torch.zeros(1, 1, 5, 7)
    image[0, 0, 1, 2] = 1
    right = augment.warp(image, augment.matrices_of(_draws(0, 0, 1, 0)))
    down = augment.warp(image, augment.matrices_of(_draws(0, 0, 0, 1)))
    torch.testing.assert_close(right, torch.roll(image, 1, dims=3), atol=1e-6, rtol=0)
    torch.testing.assert_close(down, torch.roll(image, 1, dims=2), atol=1e-6, rtol=0)


@pytest.mark.parametrize("shape", [(1, 5, 5), (2, 4, 6)])
def test_a_quarter_turn_turns_about_the_centre_clockwise(shape):
    augment = RandomAffine(shape, rotation=90.0)
    _, height, width = shape
    image = torch.zeros(1, *shape)
    image[0, -1, 1, 1] = 1  # (row, column) offset from the centre: (1 - (h-1)/2, 1 - (w-1)/2)
    turned = augment.warp(image, augment.matrices_of(_draws(1, 0, 0, 0)))
    # Clockwise on the screen: an offset (dx, dy) becomes (-dy, dx).
    dx, dy = 1 - (width - 1) / 2, 1 - (height - 1) / 2
    row, column = int((height - 1) / 2 + dx), int((width - 1) / 2 - dy)
    assert turned[0, -1, row, column] == pytest.approx(1.0, abs=1e-5)
    assert float(turned.sum()) == pytest.approx(1.0, abs=1e-5)


def test_scaling_grows_the_image_about_its_centre():
    augment = RandomAffine((1, 9, 9), scale=0.5)
    image = torch.zeros(1, 1, 9, 9)
    image[0, 0, 3:6, 3:6] = 1
    grown = augment.warp(image, augment.matrices_of(_draws(0, 1, 0, 0)))
    assert float(grown.sum()) > 1.5 * float(image.sum())
    torch.testing.assert_close(grown[0, 0], grown[0, 0].flip(0).flip(1))


def test_each_image_of_a_batch_gets_its_own_transform():
    augment = RandomAffine((1, 8, 8), **SHIFT)
    image = torch.rand(1, 64)
    batch = augment(image.repeat(16, 1))
    assert batch.shape == (16, 64)
    assert len({tuple(row.tolist()) for row in batch}) == 16


# -- in training only -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(ESTIMATORS))
def test_each_epoch_sees_other_versions_of_each_image(digits, kind):
    X, y = digits
    clf = ESTIMATORS[kind](augmentation=SHIFT, callbacks=[InputRecorder()], **COMMON).fit(X, y)
    record = recorder_of(clf)
    assert len(record.gathered) == len(record.trained)
    versions: dict[bytes, list[torch.Tensor]] = {}
    for gathered, trained in zip(record.gathered, record.trained, strict=True):
        assert gathered.shape == trained.shape
        for original, augmented in zip(gathered, trained, strict=True):
            versions.setdefault(original.numpy().tobytes(), []).append(augmented)
    assert len(versions) == len(clf._validation_indices(np.searchsorted(clf.classes_, y))[0])
    for original, (first, second) in versions.items():
        pixels = np.frombuffer(original, dtype=np.float32).copy()
        flat = torch.from_numpy(pixels).reshape(first.shape)
        assert not torch.equal(first, flat)
        assert not torch.equal(first, second)


@pytest.mark.parametrize("kind", sorted(ESTIMATORS))
def test_validation_rows_are_never_augmented(digits, kind):
    X, y = digits
    clf = ESTIMATORS[kind](augmentation=SHIFT, callbacks=[InputRecorder()], **COMMON)
    clf.fit(X, y)
    valid = clf._validation_indices(np.searchsorted(clf.classes_, y))[1]
    expected = torch.from_numpy(X[valid]).reshape(-1, *clf._sample_shape())
    evaluated = recorder_of(clf).evaluated
    assert len(evaluated) == 2  # one validation batch per epoch
    for batch in evaluated:
        assert torch.equal(batch, expected)
    # The recorded valid_loss is the clean rows' loss under the final weights.
    target = torch.from_numpy(np.searchsorted(clf.classes_, y[valid]))
    loss = F.cross_entropy(clf._outputs(X[valid]).double(), target)
    assert clf.history_[-1, "valid_loss"] == pytest.approx(float(loss), rel=1e-5)


@pytest.mark.parametrize("kind", sorted(ESTIMATORS))
def test_predict_and_score_are_those_of_the_weights_without_augmentation(digits, kind):
    X, y = digits
    augmented = ESTIMATORS[kind](augmentation=SHIFT, **COMMON).fit(X, y)
    plain = ESTIMATORS[kind](**COMMON).fit(X, y)
    pairs = zip(weights(augmented), weights(plain), strict=True)
    assert not all(torch.equal(a, b) for a, b in pairs)
    plain.net_.module_.load_state_dict(augmented.net_.module_.state_dict())
    np.testing.assert_array_equal(augmented.predict_proba(X), plain.predict_proba(X))
    np.testing.assert_array_equal(augmented.predict_proba(X), augmented.predict_proba(X))
    assert augmented.score(X, y) == plain.score(X, y)
    module = augmented.net_.module_.eval()
    with torch.no_grad():
        logits = module(torch.from_numpy(X).reshape(-1, *augmented._sample_shape()))
    np.testing.assert_allclose(
        augmented.predict_proba(X), torch.softmax(logits, 1).numpy(), rtol=1e-5, atol=1e-6
    )


# -- repeatable, and its interplay with the rest of a fit ---------------------------------------


@pytest.mark.parametrize("kind", sorted(ESTIMATORS))
def test_the_same_random_state_gives_the_same_weights(digits, kind):
    X, y = digits
    first = weights(ESTIMATORS[kind](augmentation=SHIFT, **COMMON).fit(X, y))
    again = weights(ESTIMATORS[kind](augmentation=SHIFT, **COMMON).fit(X, y))
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    other = weights(ESTIMATORS[kind](augmentation=SHIFT, **{**COMMON, "random_state": 1}).fit(X, y))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))


def test_set_params_between_partial_fit_calls_takes_effect(digits):
    X, y = digits
    clf = ESTIMATORS["cnn"](**COMMON)
    clf.partial_fit(X, y, classes=np.unique(y))
    assert clf.net_.augmentation is None
    clf.set_params(augmentation={"rotation": 5}).partial_fit(X, y)
    assert clf.net_.augmentation.rotation == 5.0
    with pytest.raises(ValueError, match="augmentation"):
        clf.set_params(augmentation={"rotation": -5}).partial_fit(X, y)


def test_the_static_step_gives_way_to_augmentation(digits, monkeypatch):
    monkeypatch.setattr(_graph_step, "STATIC_STEP_DEVICES", ("cuda", "cpu"))
    X, y = digits
    plain = ESTIMATORS["cnn"](**COMMON).fit(X, y)
    assert plain.net_.train_step_mode_ == "static"
    clf = ESTIMATORS["cnn"](augmentation=SHIFT, **COMMON).fit(X, y)
    assert clf.net_.train_step_mode_ == "eager"
    assert "augmentation" in clf.net_.eager_reason_


def test_save_and_load_keep_the_parameter(digits, tmp_path):
    clf = ESTIMATORS["mlp"](augmentation=SHIFT, **COMMON).fit(*digits)
    loaded = load(clf.save(tmp_path / "model.skdeep"))
    assert loaded.get_params()["augmentation"] == SHIFT
    assert loaded.get_params()["input_shape"] == (1, 8, 8)
    np.testing.assert_array_equal(loaded.predict_proba(digits[0]), clf.predict_proba(digits[0]))


def test_onnx_export_computes_the_unaugmented_network(digits, tmp_path):
    pytest.importorskip("onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    X, y = digits
    clf = ESTIMATORS["cnn"](augmentation=SHIFT, **COMMON).fit(X, y)
    path = clf.to_onnx(tmp_path / "cnn.onnx")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (probabilities,) = session.run(["probabilities"], {"X": X})
    np.testing.assert_allclose(probabilities, clf.predict_proba(X), rtol=1e-5, atol=1e-6)
