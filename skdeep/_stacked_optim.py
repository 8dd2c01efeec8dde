"""torch's optimizer updates on stacked weights, each member with its own hyper-parameters.

A stacked model holds the weights of K networks of the same shape along a leading axis. torch's
optimizers take one learning rate (and momentum) per parameter group, so they cannot give each
member its own; the updates below are torch's own formulas, with the rate and momentum held as
tensors of K values. Members that are not ``active`` (stopped early, or without a batch at this
step) keep their weights and optimizer state unchanged.
"""

from __future__ import annotations

import torch

STACKABLE_OPTIMIZERS = ("sgd", "adam", "adamw", "nadam", "rmsprop", "adagrad")

# torch's defaults for the settings skdeep's estimators do not expose.
_BETAS = (0.9, 0.999)
_EPS = 1e-8
_ADAMW_WEIGHT_DECAY = 1e-2
_NADAM_MOMENTUM_DECAY = 4e-3
_RMSPROP_ALPHA = 0.99
_ADAGRAD_EPS = 1e-10


def _per_member(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """View K values so that they broadcast over stacked tensors shaped like ``like``."""
    return values.view(-1, *([1] * (like.dim() - 1)))


class _StateOfZeros(dict):
    """An optimizer state whose entries not yet set read as zeros shaped like the weights."""

    def __init__(self, state: dict, like: torch.Tensor) -> None:
        super().__init__(state)
        self.like = like

    def __missing__(self, key: str) -> torch.Tensor:
        return torch.zeros_like(self.like)


class StackedOptimizer:
    """Update K stacked networks as K separate torch optimizers of one kind would.

    Parameters
    ----------
    name : str
        One of ``STACKABLE_OPTIMIZERS`` (the estimators' ``optimizer`` names).
    lr : torch.Tensor of shape (K,)
        Each member's learning rate; may be changed between steps (schedules).
    momentum : torch.Tensor of shape (K,)
        Each member's momentum (used by ``"sgd"`` and ``"rmsprop"``).

    Examples
    --------
    >>> weights = {"w": torch.ones(2, 3)}
    >>> opt = StackedOptimizer("sgd", lr=torch.tensor([0.1, 0.5]), momentum=torch.zeros(2))
    >>> opt.step(weights, {"w": torch.ones(2, 3)})
    >>> weights["w"][:, 0]
    tensor([0.9000, 0.5000])
    """

    def __init__(self, name: str, lr: torch.Tensor, momentum: torch.Tensor) -> None:
        if name not in STACKABLE_OPTIMIZERS:
            raise ValueError(f"optimizer {name!r} cannot be stacked; use {STACKABLE_OPTIMIZERS}.")
        self.name = name
        self.lr = lr
        self.momentum = momentum
        self.steps = torch.zeros_like(lr)  # optimizer steps taken by each member
        self.state: dict[str, dict[str, torch.Tensor]] = {}
        self.nadam_mu_product = torch.ones_like(lr)

    def step(
        self,
        params: dict[str, torch.Tensor],
        grads: dict[str, torch.Tensor],
        active: torch.Tensor | None = None,
    ) -> None:
        """Update ``params`` in place from ``grads``; only ``active`` members when given."""
        steps = self.steps + (1 if active is None else active.to(self.steps.dtype))
        mu = mu_next = mu_product = None
        if self.name == "nadam":
            mu, mu_next = self._nadam_mu(steps)
            mu_product = self.nadam_mu_product * mu
        for key, p in params.items():
            state = self.state.setdefault(key, {})
            new_p, new_state = self._update(
                p, grads[key], _StateOfZeros(state, p), steps, mu, mu_next, mu_product
            )
            if active is not None:
                keep = _per_member(active, p)
                new_p = torch.where(keep, new_p, p)
                new_state = {
                    k: torch.where(keep, v, state[k]) if k in state else torch.where(keep, v, 0)
                    for k, v in new_state.items()
                }
            p.copy_(new_p)
            state.update(new_state)
        if self.name == "nadam":
            self.nadam_mu_product = (
                mu_product
                if active is None
                else torch.where(active, mu_product, self.nadam_mu_product)
            )
        self.steps = steps

    def _nadam_mu(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        beta1 = _BETAS[0]
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * _NADAM_MOMENTUM_DECAY))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * _NADAM_MOMENTUM_DECAY))
        return mu, mu_next

    def _update(self, p, g, state, t, mu, mu_next, mu_product):
        lr = _per_member(self.lr, p)
        # Every state starts at zero: torch's first momentum buffer, the gradient itself, is
        # momentum * 0 + gradient.
        if self.name == "sgd":
            buf = _per_member(self.momentum, p) * state["buf"] + g
            return p - lr * buf, {"buf": buf}
        if self.name == "adagrad":
            total = state["sum"] + g * g
            return p - lr * g / (total.sqrt() + _ADAGRAD_EPS), {"sum": total}
        if self.name == "rmsprop":
            square = _RMSPROP_ALPHA * state["square"] + (1 - _RMSPROP_ALPHA) * g * g
            buf = _per_member(self.momentum, p) * state["buf"] + g / (square.sqrt() + _EPS)
            return p - lr * buf, {"square": square, "buf": buf}
        beta1, beta2 = _BETAS
        t_ = _per_member(t, p)
        m = state["m"].lerp(g, 1 - beta1)
        v = state["v"] * beta2 + (1 - beta2) * g * g
        bias_correction2 = 1 - beta2**t_
        if self.name == "nadam":
            denom = (v / bias_correction2).sqrt() + _EPS
            mu, mu_next, mu_product = (_per_member(x, p) for x in (mu, mu_next, mu_product))
            p = p - lr * (1 - mu) / (1 - mu_product) * g / denom
            p = p - lr * mu_next / (1 - mu_product * mu_next) * m / denom
            return p, {"m": m, "v": v}
        if self.name == "adamw":
            p = p * (1 - lr * _ADAMW_WEIGHT_DECAY)
        denom = v.sqrt() / bias_correction2.sqrt() + _EPS
        return p - lr / (1 - beta1**t_) * m / denom, {"m": m, "v": v}


__all__ = ["STACKABLE_OPTIMIZERS", "StackedOptimizer"]
