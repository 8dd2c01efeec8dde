"""Transfer learning: a base trained here on one task, frozen under a new head for another."""

import copy

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification
from skorch.callbacks import Callback
from torch import nn

from skdeep import MLPClassifier, NeuralNetClassifier
from skdeep.freezing import FreezeParameters, frozen_parameter_names

FAST = {"learning_rate": 1e-2, "device": "cpu", "random_state": 0, "validation_fraction": 0.2}


def make_features(n_features_in: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(n_features_in, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU()
    )


class Transfer(nn.Module):
    """A feature extractor and a head, as in a Keras application with include_top=False."""

    def __init__(self, features: nn.Module, n_outputs: int, width: int = 16):
        super().__init__()
        self.features = features
        self.head = nn.Linear(width, n_outputs)

    def forward(self, x):
        return self.head(self.features(x))


def build_transfer(n_features_in, n_outputs):
    return Transfer(make_features(n_features_in), n_outputs)


def recorder(clf) -> "RecordState":
    return next(cb for _, cb in clf.net_.callbacks_ if isinstance(cb, RecordState))


class RecordState(Callback):
    """Copies of chosen tensors of the module after each epoch."""

    def __init__(self, names):
        self.names = names

    def initialize(self):
        self.states_ = []
        self.penalized_ = []
        return self

    def on_train_begin(self, net, **kwargs):
        state = net.module_.state_dict()
        self.initial_ = {name: state[name].clone() for name in self.names}

    def on_epoch_end(self, net, **kwargs):
        state = net.module_.state_dict()
        self.states_.append({name: state[name].clone() for name in self.names})
        self.penalized_.append(len(net.penalized_params_))


@pytest.fixture(scope="module")
def tasks():
    X, y = make_classification(
        n_samples=600, n_features=10, n_informative=6, n_classes=4, random_state=1
    )
    # The new task groups the pretraining classes in pairs: the base's features serve it.
    return X.astype(np.float32), y, (y >= 2).astype(int)


@pytest.fixture(scope="module")
def pretrained(tasks):
    X, y_pretrain, _ = tasks
    clf = NeuralNetClassifier(build_transfer, max_epochs=15, **FAST).fit(X, y_pretrain)
    assert clf.score(X, y_pretrain) > 0.7
    return clf.net_.module_.features


def new_model(pretrained) -> Transfer:
    torch.manual_seed(1)
    return Transfer(copy.deepcopy(pretrained), 2)


def accuracy(module, X, y) -> float:
    module.eval()
    with torch.no_grad():
        return float((module(torch.from_numpy(X)).argmax(1).numpy() == y).mean())


def test_frozen_base_stays_bit_identical_while_the_head_learns(tasks, pretrained):
    X, _, y = tasks
    start = new_model(pretrained)
    clf = NeuralNetClassifier(
        start, freeze="features.*", optimizer="adamw", l2=1e-2, max_epochs=8, **FAST
    ).fit(X, y)
    fitted = clf.net_.module_
    # Weights and the batch norm's running statistics (held in inference mode) alike.
    for name, value in start.features.state_dict().items():
        assert torch.equal(fitted.features.state_dict()[name], value), name
    assert not torch.equal(fitted.head.weight, start.head.weight)
    assert accuracy(start, X, y) < 0.7 < clf.score(X, y)
    n_frozen = sum(p.numel() for p in start.features.parameters())
    assert clf.history_[:, "frozen_params"] == [n_frozen] * 8
    # The optimizer never stepped the frozen parameters: AdamW holds state for the head only.
    stepped = {id(p) for p in clf.net_.optimizer_.state}
    assert stepped == {id(p) for p in fitted.head.parameters()}
    # Training over, the module is handed back with every parameter trainable.
    assert all(p.requires_grad for p in fitted.parameters())


def test_unfreeze_at_epoch_fine_tunes_the_base(tasks, pretrained):
    X, _, y = tasks
    start = new_model(pretrained)
    names = ["features.0.weight", "features.1.running_mean"]
    record = RecordState(names)
    clf = NeuralNetClassifier(
        start,
        freeze=["features.*"],
        unfreeze_at_epoch=3,
        max_epochs=5,
        l1=1e-4,
        callbacks=[record],
        **FAST,
    ).fit(X, y)
    n_frozen = sum(p.numel() for p in start.features.parameters())
    assert clf.history_[:, "frozen_params"] == [n_frozen, n_frozen, 0, 0, 0]
    initial = start.state_dict()
    for epoch, state in enumerate(recorder(clf).states_, start=1):
        for name in names:
            unchanged = torch.equal(state[name], initial[name])
            assert unchanged == (epoch < 3), (epoch, name)
    # The penalty covers the head's weight while the base is frozen, then all three weights.
    assert recorder(clf).penalized_ == [1, 1, 3, 3, 3]


def test_a_callable_chooses_parameters_and_unfrozen_batch_norm_trains(tasks, pretrained):
    X, _, y = tasks
    start = new_model(pretrained)
    clf = NeuralNetClassifier(
        start, freeze=lambda name, param: name.startswith("features.0."), max_epochs=3, **FAST
    ).fit(X, y)
    fitted = clf.net_.module_.features
    assert torch.equal(fitted[0].weight, start.features[0].weight)
    assert torch.equal(fitted[0].bias, start.features[0].bias)
    assert not torch.equal(fitted[3].weight, start.features[3].weight)
    # Its parameters are not frozen, so the batch norm updates its statistics as usual.
    assert not torch.equal(fitted[1].running_mean, start.features[1].running_mean)


def test_freezing_a_built_in_network_through_callbacks():
    X, y = make_classification(n_samples=100, n_features=4, random_state=0)
    record = RecordState(["0.weight", "0.bias"])
    clf = MLPClassifier(
        hidden_layer_sizes=(8,),
        max_epochs=3,
        callbacks=[FreezeParameters(["0.weight"]), record],
        **FAST,
    ).fit(X, y)
    initial = recorder(clf).initial_
    assert torch.equal(clf.net_.module_[0].weight, initial["0.weight"])
    assert not torch.equal(clf.net_.module_[0].bias, initial["0.bias"])
    assert clf.history_[:, "frozen_params"] == [32, 32, 32]


@pytest.mark.parametrize(
    ("params", "error", "message"),
    [
        (
            {"freeze": ["feature.*"]},
            ValueError,
            r"freeze patterns \['feature.\*'\] match no parameter of the Transfer; its "
            r"parameters are named \['features.0.weight'",
        ),
        ({"freeze": "*"}, ValueError, "selects every parameter.*leaves nothing to train"),
        ({"unfreeze_at_epoch": 2}, ValueError, "unfreeze_at_epoch=2 .* but freeze is None"),
        ({"freeze": [1]}, TypeError, "freeze must be a glob pattern"),
    ],
    ids=["typo", "everything", "unfreeze-alone", "not-a-pattern"],
)
def test_bad_freeze_is_refused_before_training(tasks, pretrained, params, error, message):
    X, _, y = tasks
    clf = NeuralNetClassifier(new_model(pretrained), max_epochs=2, **FAST, **params)
    with pytest.raises(error, match=message):
        clf.fit(X, y)
    assert not hasattr(clf, "history_")


def test_frozen_parameter_names_in_module_order():
    net = Transfer(make_features(3), 2)
    assert frozen_parameter_names(net, ["head.*", "features.1.*"]) == [
        "features.1.weight",
        "features.1.bias",
        "head.weight",
        "head.bias",
    ]
