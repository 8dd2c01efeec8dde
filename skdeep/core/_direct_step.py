"""torch's optimizer step and gradient reset, without the Python around them, on a CPU.

A small network's training step on a CPU is short enough for ``Optimizer.step`` and
``Optimizer.zero_grad`` to matter: for an MLP 784-128-10 at batch 32, the Python around
``torch.optim.Adam(fused=True)``'s kernel (the profiling wrapper, the dynamo guard, the lists
built per group, one ``add_`` per parameter's step counter) and ``zero_grad`` cost about a fifth
of the step (docs/performance.md). Two functions skip it when it does nothing:

- :func:`zero_grads` sets every gradient to None, which is what ``zero_grad()`` does;
- :func:`step` calls torch's fused Adam or AdamW kernel (``torch._fused_adam_``,
  ``torch._fused_adamw_``) with the arguments torch's own step passes it, from tensor lists built
  once per optimizer state. The step counters of a group become views of one tensor, so that one
  ``add_`` counts the step of every parameter; torch's own step counts them one by one, as
  before. The parameters and the optimizer state are bitwise those of torch's step (tested).

Either calls the optimizer's own method instead whenever it could do more: another optimizer
class, a method replaced on the instance (an LR scheduler wraps ``step``), step hooks, a
closure, the torch profiler running, a gradient scaler, tensors off the CPU, a parameter
without a gradient this step (torch skips it) or without state yet (torch creates it).
"""

from __future__ import annotations

import weakref

import torch
from torch.optim import Adam, AdamW, Optimizer
from torch.optim import optimizer as torch_optimizer

_STEP_KERNELS = {
    "adam": getattr(torch, "_fused_adam_", None),
    "adamw": getattr(torch, "_fused_adamw_", None),
}


def _profiling() -> bool:
    """Whether the torch profiler runs: it then sees the optimizer's own, labelled calls."""
    return torch._C._autograd._profiler_enabled()


def zero_grads(optimizer: Optimizer) -> None:
    """Set the gradients of ``optimizer``'s parameters to None, as ``optimizer.zero_grad()``.

    Examples
    --------
    >>> layer = torch.nn.Linear(2, 1)
    >>> layer(torch.ones(1, 2)).sum().backward()
    >>> zero_grads(torch.optim.SGD(layer.parameters(), lr=0.1))
    >>> layer.weight.grad is None
    True
    """
    if (
        type(optimizer).zero_grad is not Optimizer.zero_grad
        or "zero_grad" in optimizer.__dict__
        or _profiling()
    ):
        optimizer.zero_grad()
        return
    for group in optimizer.param_groups:
        for param in group["params"]:
            param.grad = None


class _GroupPlan:
    """One param group's tensor lists, and its step counters as views of one tensor."""

    def __init__(self, optimizer: Optimizer, group: dict) -> None:
        self.group = group
        self.params: list[torch.Tensor] = list(group["params"])
        self.states = [optimizer.state[p] for p in self.params]
        self.exp_avgs = [state["exp_avg"] for state in self.states]
        self.exp_avg_sqs = [state["exp_avg_sq"] for state in self.states]
        self.max_exp_avg_sqs = (
            [state["max_exp_avg_sq"] for state in self.states] if group["amsgrad"] else []
        )
        self.counter = torch.stack([state["step"] for state in self.states])
        self.steps = list(self.counter.unbind())
        for state, view in zip(self.states, self.steps, strict=True):
            state["step"] = view

    def current(self, state: dict) -> bool:
        group = self.group
        return (
            len(group["params"]) == len(self.params)
            and bool(self.max_exp_avg_sqs) == group["amsgrad"]
            and all(
                state.get(p) is s and s["step"] is view
                for p, s, view in zip(self.params, self.states, self.steps, strict=True)
            )
        )


class _Plan:
    """What :func:`step` needs of one optimizer, and how to tell that it still holds."""

    def __init__(self, optimizer: Optimizer) -> None:
        self.state = optimizer.state
        self.param_groups = optimizer.param_groups
        self.groups = [_GroupPlan(optimizer, group) for group in optimizer.param_groups]

    def current(self, optimizer: Optimizer) -> bool:
        return (
            optimizer.state is self.state
            and optimizer.param_groups is self.param_groups
            and len(self.param_groups) == len(self.groups)
            and all(plan.current(self.state) for plan in self.groups)
        )


_plans: weakref.WeakKeyDictionary[Optimizer, _Plan] = weakref.WeakKeyDictionary()


def _direct_possible(optimizer: Optimizer) -> bool:
    """Whether torch's step of ``optimizer`` would do nothing more than its fused kernel."""
    if (
        type(optimizer) not in (Adam, AdamW)
        or "step" in optimizer.__dict__
        or None in _STEP_KERNELS.values()
        or _profiling()
    ):
        return False
    if (
        getattr(optimizer, "grad_scale", None) is not None
        or getattr(optimizer, "found_inf", None) is not None
        or getattr(optimizer, "_optimizer_step_pre_hooks", True)
        or getattr(optimizer, "_optimizer_step_post_hooks", True)
        or getattr(torch_optimizer, "_global_optimizer_pre_hooks", True)
        or getattr(torch_optimizer, "_global_optimizer_post_hooks", True)
    ):
        return False
    return all(
        group.get("fused")
        and not group.get("differentiable")
        and not isinstance(group["betas"][0], torch.Tensor)
        and not isinstance(group["betas"][1], torch.Tensor)
        for group in optimizer.param_groups
    )


def _plannable(optimizer: Optimizer) -> bool:
    """Whether every parameter is on the CPU with the state of a fused step (and a gradient)."""
    state = optimizer.state
    return all(group["params"] for group in optimizer.param_groups) and all(
        p.device.type == "cpu"
        and p.grad is not None
        and "exp_avg" in state.get(p, ())
        and state[p]["step"].dim() == 0
        and (not group["amsgrad"] or "max_exp_avg_sq" in state[p])
        for group in optimizer.param_groups
        for p in group["params"]
    )


def step(optimizer: Optimizer) -> None:
    """``optimizer.step()``; for a fused Adam or AdamW on a CPU, torch's kernel called directly.

    Examples
    --------
    >>> torch.manual_seed(0)
    <torch._C.Generator object at ...>
    >>> layers = [torch.nn.Linear(3, 2) for _ in range(2)]
    >>> layers[1].load_state_dict(layers[0].state_dict())
    <All keys matched successfully>
    >>> optimizers = [torch.optim.Adam(layer.parameters(), fused=True) for layer in layers]
    >>> for _ in range(3):
    ...     for layer, optimizer, update in zip(layers, optimizers, (step, Adam.step)):
    ...         layer(torch.ones(4, 3)).square().sum().backward()
    ...         update(optimizer)
    ...         zero_grads(optimizer)
    >>> torch.equal(layers[0].weight, layers[1].weight)
    True
    """
    possible = _direct_possible(optimizer)
    plan = _plans.get(optimizer) if possible else None
    if plan is None or not plan.current(optimizer):
        optimizer.step()
        if possible and _plannable(optimizer):
            _plans[optimizer] = _Plan(optimizer)
        else:
            _plans.pop(optimizer, None)
        return
    grads_of_groups = []
    for group_plan in plan.groups:
        grads = [p.grad for p in group_plan.params]
        if any(grad is None for grad in grads):
            optimizer.step()  # torch skips those parameters, and counts the others' steps
            return
        grads_of_groups.append(grads)
    with torch.no_grad():
        for group_plan, grads in zip(plan.groups, grads_of_groups, strict=True):
            group = group_plan.group
            # torch 2.4's AdamW is a class of its own, without this setting.
            decoupled = group.get("decoupled_weight_decay", type(optimizer) is AdamW)
            group_plan.counter.add_(1)
            beta1, beta2 = group["betas"]
            _STEP_KERNELS["adamw" if decoupled else "adam"](
                group_plan.params,
                grads,
                group_plan.exp_avgs,
                group_plan.exp_avg_sqs,
                group_plan.max_exp_avg_sqs,
                group_plan.steps,
                amsgrad=group["amsgrad"],
                lr=group["lr"],
                beta1=beta1,
                beta2=beta2,
                weight_decay=group["weight_decay"],
                eps=group["eps"],
                maximize=group["maximize"],
                grad_scale=None,
                found_inf=None,
            )
