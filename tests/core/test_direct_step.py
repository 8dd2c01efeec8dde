"""The optimizer stepped and its gradients reset without torch's Python: same results."""

import warnings
from inspect import signature

import numpy as np
import pytest
import torch

from skdeep import MLPClassifier
from skdeep.core import _direct_step
from skdeep.core._direct_step import step, zero_grads


def twin_models(seed=0):
    torch.manual_seed(seed)
    models = [
        torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.ReLU(), torch.nn.Linear(4, 3))
        for _ in range(2)
    ]
    models[1].load_state_dict(models[0].state_dict())
    return models


def train(model, optimizer, update, steps=6, before_step=None):
    generator = torch.Generator().manual_seed(1)
    for i in range(steps):
        x = torch.randn(8, 5, generator=generator)
        model(x).square().mean().backward()
        if before_step is not None:
            before_step(i, model, optimizer)
        update(optimizer)
        zero_grads(optimizer)


def torch_step(optimizer):
    optimizer.step()


def assert_same(models, optimizers):
    for direct, reference in zip(models[0].parameters(), models[1].parameters(), strict=True):
        assert torch.equal(direct, reference)
    for direct, reference in zip(
        optimizers[0].state_dict()["state"].values(),
        optimizers[1].state_dict()["state"].values(),
        strict=True,
    ):
        assert direct.keys() == reference.keys()
        for key in direct:
            assert torch.equal(direct[key], reference[key]), key


@pytest.mark.parametrize(
    "cls, kwargs",
    [
        (torch.optim.Adam, {}),
        (torch.optim.Adam, {"weight_decay": 0.1, "amsgrad": True}),
        (torch.optim.Adam, {"maximize": True, "betas": (0.8, 0.99), "eps": 1e-6}),
        (torch.optim.AdamW, {"weight_decay": 0.1}),
        (torch.optim.Adam, {"weight_decay": 0.1, "decoupled_weight_decay": True}),
    ],
)
def test_bitwise_the_step_of_torch(cls, kwargs):
    if (
        "decoupled_weight_decay" in kwargs
        and "decoupled_weight_decay" not in signature(cls).parameters
    ):
        pytest.skip("this torch's Adam has no decoupled_weight_decay")
    models = twin_models()
    optimizers = [cls(m.parameters(), lr=0.01, fused=True, **kwargs) for m in models]
    train(models[0], optimizers[0], step)
    train(models[1], optimizers[1], torch_step)
    assert _direct_step._plans[optimizers[0]].current(optimizers[0])  # the direct path was taken
    assert_same(models, optimizers)
    assert [s["step"].item() for s in optimizers[0].state.values()] == [6.0] * 4


def test_rates_changed_between_steps_and_groups_are_read_at_each_step():
    models = twin_models()
    optimizers = [
        torch.optim.Adam(
            [{"params": m[0].parameters(), "lr": 0.1}, {"params": m[2].parameters()}],
            lr=0.01,
            fused=True,
        )
        for m in models
    ]

    def decay(i, model, optimizer):
        for group in optimizer.param_groups:
            group["lr"] *= 0.5

    train(models[0], optimizers[0], step, before_step=decay)
    train(models[1], optimizers[1], torch_step, before_step=decay)
    assert optimizers[0] in _direct_step._plans
    assert_same(models, optimizers)


def test_a_parameter_without_gradient_is_skipped_as_torch_skips_it():
    models = twin_models()
    optimizers = [torch.optim.Adam(m.parameters(), lr=0.01, fused=True) for m in models]

    def freeze_first_layer_from_step_3(i, model, optimizer):
        if i >= 3:
            model[0].weight.grad = None

    train(models[0], optimizers[0], step, before_step=freeze_first_layer_from_step_3)
    train(models[1], optimizers[1], torch_step, before_step=freeze_first_layer_from_step_3)
    assert_same(models, optimizers)
    steps = [optimizers[0].state[p]["step"].item() for p in models[0].parameters()]
    assert steps == [3.0, 6.0, 6.0, 6.0]


def test_a_loaded_state_is_stepped_from():
    models = twin_models()
    optimizers = [torch.optim.Adam(m.parameters(), lr=0.01, fused=True) for m in models]
    saved = {}

    def save_then_load(i, model, optimizer):
        if i == 2:
            saved[id(optimizer)] = optimizer.state_dict()
        if i == 4:
            optimizer.load_state_dict(saved[id(optimizer)])

    train(models[0], optimizers[0], step, before_step=save_then_load)
    train(models[1], optimizers[1], torch_step, before_step=save_then_load)
    assert_same(models, optimizers)


def test_hooks_and_a_scheduler_go_through_the_optimizer_step():
    model = twin_models()[0]
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01, fused=True)
    calls = []
    optimizer.register_step_post_hook(lambda *args: calls.append("post"))
    train(model, optimizer, step, steps=3)
    assert calls == ["post"] * 3

    optimizer = torch.optim.Adam(model.parameters(), lr=0.01, fused=True)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns when it sees no optimizer.step() first
        train(model, optimizer, step, steps=3, before_step=lambda *args: None)
        scheduler.step()
    assert optimizer not in _direct_step._plans


def test_other_optimizers_and_replaced_zero_grad_are_called():
    model = twin_models()[0]
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    before = model[0].weight.detach().clone()
    model(torch.ones(2, 5)).sum().backward()
    step(sgd)
    assert not torch.equal(model[0].weight, before)
    assert sgd not in _direct_step._plans

    class CountingSGD(torch.optim.SGD):
        resets = 0

        def zero_grad(self, set_to_none=True):
            CountingSGD.resets += 1
            super().zero_grad(set_to_none)

    zero_grads(CountingSGD(model.parameters(), lr=0.1))
    assert CountingSGD.resets == 1
    assert model[0].weight.grad is None


def test_a_fit_takes_the_direct_path_with_the_results_of_torchs(monkeypatch):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(96, 6)).astype(np.float32), rng.integers(0, 3, 96)
    params = {"max_epochs": 3, "batch_size": 16, "device": "cpu", "random_state": 0}
    direct = MLPClassifier(**params).fit(X, y)
    assert direct.net_.optimizer_ in _direct_step._plans
    monkeypatch.setattr(_direct_step, "_direct_possible", lambda optimizer: False)
    reference = MLPClassifier(**params).fit(X, y)
    assert reference.net_.optimizer_ not in _direct_step._plans
    for a, b in zip(
        direct.net_.module_.parameters(), reference.net_.module_.parameters(), strict=True
    ):
        assert torch.equal(a, b)
