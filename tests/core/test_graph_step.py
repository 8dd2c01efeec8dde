"""The static-buffer training step (skdeep.core._graph_step) and the ``compile`` parameter.

On a CPU the static step runs without capture (``STATIC_STEP_DEVICES`` patched to hold it):
that proves everything but the CUDA graph object itself, namely the buffers, the partial last
batch, sample weights and a tensor learning rate set by per-step schedules, trains exactly as
the ordinary loop. The tests marked ``cuda`` check the capture where a GPU exists.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback, EpochScoring

from skdeep import MLPClassifier, MLPRegressor
from skdeep.callbacks import ExponentialDecay
from skdeep.core import _graph_step
from skdeep.freezing import FreezeParameters

# 50 samples in batches of 16: three full batches and a partial one of 2 per epoch.
N_SAMPLES, BATCH = 50, 16
FAST = {
    "hidden_layer_sizes": (8,),
    "batch_size": BATCH,
    "max_epochs": 3,
    "validation_fraction": 0.0,
    "learning_rate": 0.01,
    "random_state": 0,
}
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture
def data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(N_SAMPLES, 4)).astype(np.float32)
    return X, (X[:, 0] + X[:, 1] > 0).astype(int)


@pytest.fixture
def static_on_cpu(monkeypatch):
    """Accept the CPU for the static step: it then runs without capture."""
    monkeypatch.setattr(_graph_step, "STATIC_STEP_DEVICES", ("cuda", "cpu"))


def _weights(estimator) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in estimator.net_.module_.state_dict().items()}


def _assert_same_weights(a, b, exact: bool = True) -> None:
    for (name, wa), wb in zip(_weights(a).items(), _weights(b).values(), strict=True):
        if exact:
            assert torch.equal(wa, wb), name
        else:
            torch.testing.assert_close(wa, wb, rtol=1e-3, atol=1e-4, msg=name)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"validation_fraction": 0.2, "batch_norm": True, "dropout": 0.2},
        {"optimizer": "adamw", "l2": 0.01},
        {"callbacks": [ExponentialDecay(decay_steps=2, decay_rate=0.5)]},
        {"lr_schedule": "cyclic"},
        {"class_weight": "balanced"},
    ],
    ids=["plain", "valid-bn-dropout", "adamw-l2", "decay-per-step", "cyclic", "class-weight"],
)
def test_static_step_trains_exactly_as_the_eager_loop(data, static_on_cpu, params):
    X, y = data
    kwargs = {**FAST, **params, "device": "cpu"}
    eager = MLPClassifier(**kwargs, compile="none").fit(X, y)
    static = MLPClassifier(**kwargs).fit(X, y)
    assert eager.net_.train_step_mode_ == "eager"
    assert eager.net_.eager_reason_ == "compile='none'"
    assert static.net_.train_step_mode_ == "static"
    n_batches = sum(static.history_[:, "train_batch_count"])
    full_per_epoch = round(N_SAMPLES * (1 - static.validation_fraction)) // BATCH
    # Only the full batches ran on the static buffers; the partial ones eagerly.
    assert static.net_.static_batches_ == full_per_epoch * FAST["max_epochs"] < n_batches
    _assert_same_weights(eager, static)
    assert static.history_[:, "train_loss"] == eager.history_[:, "train_loss"]
    assert static.history_[:, "train_acc"] == eager.history_[:, "train_acc"]
    assert static.history_[:, "lr"] == eager.history_[:, "lr"]


def test_static_step_with_sample_weights_and_a_regressor(data, static_on_cpu):
    X, y = data
    target = X @ np.array([1.0, -2.0, 0.5, 0.0], dtype=np.float32)
    weights = np.random.RandomState(1).uniform(0.1, 3.0, size=len(X))
    kwargs = {**FAST, "device": "cpu"}
    eager = MLPRegressor(**kwargs, compile="none").fit(X, target, sample_weight=weights)
    static = MLPRegressor(**kwargs).fit(X, target, sample_weight=weights)
    assert static.net_.train_step_mode_ == "static"
    _assert_same_weights(eager, static)
    # The weights matter: without them the fit differs.
    unweighted = MLPRegressor(**kwargs).fit(X, target)
    assert not torch.equal(_weights(unweighted)["0.weight"], _weights(static)["0.weight"])


def test_per_step_schedule_reaches_the_tensor_rate(data, static_on_cpu):
    """The rate the optimizer reads is the tensor the schedule fills, step by step."""
    X, y = data
    seen: list[float] = []

    class RecordRate(Callback):
        def on_batch_end(self, net, training=False, **kwargs):
            if training:
                lr = net.optimizer_.param_groups[0]["lr"]
                assert isinstance(lr, torch.Tensor)  # the static step's rate
                seen.append(float(lr))

    decay = ExponentialDecay(decay_steps=1, decay_rate=0.5)
    clf = MLPClassifier(**FAST, device="cpu", callbacks=[decay, RecordRate()]).fit(X, y)
    n_steps = 4 * FAST["max_epochs"]
    assert seen == pytest.approx([0.01 * 0.5**t for t in range(n_steps)], rel=1e-12)
    # After the fit the rate is a float again, at its last value.
    group = clf.net_.optimizer_.param_groups[0]
    assert type(group["lr"]) is float and group["lr"] == seen[-1]
    assert group["capturable"] is False


def test_unfreezing_mid_fit_matches_the_eager_loop(data, static_on_cpu):
    X, y = data
    kwargs = {**FAST, "max_epochs": 4, "device": "cpu"}
    runs = [
        MLPClassifier(**kwargs, compile=compile, callbacks=[FreezeParameters("0.*", 3)]).fit(X, y)
        for compile in ("none", "auto")
    ]
    assert runs[1].net_.train_step_mode_ == "static"
    _assert_same_weights(*runs)


def test_plateau_schedule_and_saving_after_a_static_fit(data, static_on_cpu, tmp_path):
    from skdeep import load

    X, y = data
    clf = MLPClassifier(**FAST, lr_schedule="plateau", device="cpu").fit(X, y)
    assert all(type(lr) is float for lr in clf.history_[:, "lr"])
    loaded = load(clf.save(tmp_path / "clf.skdeep"))
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    loaded.set_params(warm_start=True, max_epochs=1).fit(X, y)
    assert loaded.n_iter_ == FAST["max_epochs"] + 1


def test_warm_start_continues_identically(data, static_on_cpu):
    X, y = data
    runs = []
    for compile in ("none", "auto"):
        clf = MLPClassifier(**FAST, compile=compile, device="cpu", warm_start=True)
        runs.append(clf.fit(X, y).set_params(max_epochs=2).fit(X, y))
    _assert_same_weights(*runs)


# -- when the step stays eager, and why -------------------------------------------------------


class GradHook(Callback):
    def on_grad_computed(self, net, named_parameters, **kwargs):
        pass


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"optimizer": "sgd"}, "the optimizer is SGD"),
        ({"optimizer": "rmsprop"}, "the optimizer is RMSprop (not fused)"),
        ({"callbacks": [GradHook()]}, "implement on_grad_computed"),
        (
            {"callbacks": [EpochScoring("accuracy", on_train=True, name="acc")]},
            "keep the training batches' outputs",
        ),
    ],
)
def test_model_reasons(data, params, reason):
    X, y = data
    clf = MLPClassifier(**{**FAST, "max_epochs": 1}, **params, device="cpu").fit(X, y)
    assert reason in _graph_step.model_reason(clf.net_)
    assert clf.net_.train_step_mode_ == "eager"


def test_auto_on_cpu_is_eager_and_quiet(data, capsys, recwarn):
    X, y = data
    clf = MLPClassifier(**{**FAST, "max_epochs": 1}, device="cpu", verbose=1).fit(X, y)
    assert clf.net_.train_step_mode_ == "eager"
    assert "CUDA device" in clf.net_.eager_reason_
    assert "CUDA graph" not in capsys.readouterr().out
    assert not [w for w in recwarn if "cuda_graph" in str(w.message)]


def test_cuda_graph_on_cpu_warns_and_trains_eagerly(data, capsys):
    X, y = data
    with pytest.warns(UserWarning, match="compile='cuda_graph' was asked.*the device is cpu"):
        clf = MLPClassifier(
            **{**FAST, "max_epochs": 1}, compile="cuda_graph", device="cpu", verbose=1
        ).fit(X, y)
    assert clf.net_.train_step_mode_ == "eager"
    assert "runs eagerly, not in a CUDA graph: the device is cpu" in capsys.readouterr().out


def test_bad_compile_value_is_refused_before_training(data):
    X, y = data
    with pytest.raises(ValueError, match="'compile' parameter of MLPClassifier must be"):
        MLPClassifier(**FAST, compile="jit", device="cpu").fit(X, y)


def test_data_on_another_device_gives_up_with_the_reason(static_on_cpu):
    from skdeep.core._net import SkdeepNet

    net = SkdeepNet(
        torch.nn.Linear(3, 2),
        criterion=torch.nn.CrossEntropyLoss(reduction="none"),
        optimizer=torch.optim.Adam,
        optimizer__fused=True,
    ).initialize()
    step = _graph_step.StaticStep(net, capture=False)
    step.device = torch.device("meta")  # stands for "the data is not where the model is"
    assert step.run((torch.ones(4, 3), torch.tensor([0, 1, 0, 1]))) is None
    assert net.train_step_mode_ == "eager" and "training data is on cpu" in net.eager_reason_


# -- on a GPU -------------------------------------------------------------------------------


@cuda
@pytest.mark.parametrize(
    "params",
    [{}, {"callbacks": [ExponentialDecay(decay_steps=2, decay_rate=0.5)]}, {"l2": 0.01}],
    ids=["plain", "decay-per-step", "l2"],
)
def test_cuda_graph_matches_eager(params):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(1000, 20)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    kwargs = {**FAST, "batch_size": 64, "device": "cuda", **params}
    eager = MLPClassifier(**kwargs, compile="none").fit(X, y)
    graph = MLPClassifier(**kwargs, compile="cuda_graph").fit(X, y)
    assert graph.net_.train_step_mode_ == "cuda_graph"
    full = (1000 // 64) * FAST["max_epochs"]
    assert graph.net_.graph_replays_ == full - _graph_step.WARMUP_STEPS
    _assert_same_weights(eager, graph, exact=False)
    np.testing.assert_allclose(
        graph.history_[:, "train_loss"], eager.history_[:, "train_loss"], rtol=1e-4
    )
    assert type(graph.net_.optimizer_.param_groups[0]["lr"]) is float


@cuda
def test_cuda_graph_captures_again_after_unfreezing():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(640, 10)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    kwargs = {**FAST, "max_epochs": 4, "batch_size": 32, "device": "cuda"}
    runs = [
        MLPClassifier(**kwargs, compile=c, callbacks=[FreezeParameters("0.*", 3)]).fit(X, y)
        for c in ("none", "auto")
    ]
    assert runs[1].net_.train_step_mode_ == "cuda_graph"
    # Two captures, each after its warm-up: 4 epochs of 20 full batches less 2 warm-ups.
    assert runs[1].net_.graph_replays_ == 80 - 2 * _graph_step.WARMUP_STEPS
    _assert_same_weights(*runs, exact=False)


@cuda
def test_cuda_fallback_reason_is_logged_and_warned(capsys):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 5)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    clf = MLPClassifier(**FAST, optimizer="sgd", device="cuda", verbose=1).fit(X, y)
    assert clf.net_.train_step_mode_ == "eager"
    assert "not in a CUDA graph: the optimizer is SGD" in capsys.readouterr().out
    with pytest.warns(UserWarning, match="compile='cuda_graph' was asked.*on_grad_computed"):
        MLPClassifier(**FAST, compile="cuda_graph", device="cuda", callbacks=[GradHook()]).fit(X, y)
