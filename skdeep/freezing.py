"""Transfer learning: keep chosen parameters of a network fixed while the rest trains.

:class:`FreezeParameters` is a skorch callback; the custom-module estimators switch it on with
their ``freeze`` and ``unfreeze_at_epoch`` parameters, and any skdeep estimator (or skorch net)
can take it in ``callbacks``. See ``docs/custom_networks.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fnmatch import fnmatchcase
from numbers import Integral

import torch
from skorch.callbacks import Callback
from torch import nn
from torch.nn.modules.batchnorm import _NormBase

from .modules import penalized_parameters

FreezeSpec = str | Sequence[str] | Callable[[str, torch.Tensor], bool]


def _selector(freeze: FreezeSpec) -> Callable[[str, torch.Tensor], bool]:
    if isinstance(freeze, str):
        freeze = [freeze]
    if callable(freeze):
        return lambda name, tensor: bool(freeze(name, tensor))
    patterns = list(freeze) if isinstance(freeze, (list, tuple)) else None
    if not patterns or not all(isinstance(p, str) for p in patterns):
        raise TypeError(
            f"freeze must be a glob pattern of parameter names (e.g. 'features.*'), a list of "
            f"them, or a callable (name, parameter) -> bool; got {freeze!r}."
        )
    return lambda name, tensor: any(fnmatchcase(name, p) for p in patterns)


def frozen_parameter_names(module: nn.Module, freeze: FreezeSpec) -> list[str]:
    """Return the names of the parameters of ``module`` that ``freeze`` selects.

    Parameters
    ----------
    module : torch.nn.Module
    freeze : str, list of str or callable
        Glob patterns matched against the names of ``module.named_parameters()``
        (``"features.*"``, ``"0.weight"``), or a callable ``(name, parameter) -> bool``.

    Returns
    -------
    list of str
        In the module's order.

    Raises
    ------
    ValueError
        When a glob pattern matches no parameter (a typo would otherwise freeze nothing).

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    >>> frozen_parameter_names(net, ["0.*"])
    ['0.weight', '0.bias']
    >>> frozen_parameter_names(net, lambda name, p: p.dim() == 1)
    ['0.bias', '2.bias']
    """
    selected = _selector(freeze)
    named = list(module.named_parameters())
    if not callable(freeze):
        patterns = [freeze] if isinstance(freeze, str) else list(freeze)
        unmatched = [p for p in patterns if not any(fnmatchcase(n, p) for n, _ in named)]
        if unmatched:
            names = [n for n, _ in named]
            shown = names if len(names) <= 12 else [*names[:12], "..."]
            raise ValueError(
                f"freeze patterns {unmatched} match no parameter of the "
                f"{type(module).__name__}; its parameters are named {shown}."
            )
    return [name for name, param in named if selected(name, param)]


def _frozen_norm_layers(
    module: nn.Module, frozen: set[str], selected: Callable[[str, torch.Tensor], bool]
) -> list[nn.Module]:
    """The batch-norm layers that the freeze covers: all their parameters (or, without
    parameters, their running mean) are selected."""
    layers = []
    for prefix, layer in module.named_modules():
        if not isinstance(layer, _NormBase) or not layer.track_running_stats:
            continue
        dot = f"{prefix}." if prefix else ""
        names = [dot + name for name, _ in layer.named_parameters(recurse=False)]
        if names:
            covered = all(name in frozen for name in names)
        else:
            covered = selected(dot + "running_mean", layer.running_mean)
        if covered:
            layers.append(layer)
    return layers


def _hold_in_eval_mode(layer: nn.Module, args) -> None:
    # Runs before each forward of a frozen batch norm: it normalises with its running
    # statistics and leaves them as they are, whatever mode the network around it is in.
    layer.training = False


class FreezeParameters(Callback):
    """Keep the selected parameters of the module fixed, optionally until a given epoch.

    While frozen, the parameters have ``requires_grad=False``: they get no gradient, so the
    optimizer skips them (no update, no weight decay, no momentum, no optimizer state), and
    L1/L2 penalties leave them out, as Keras does. They stay registered in the optimizer, so
    that unfreezing needs no new parameter group: learning-rate schedules, checkpoints and a
    resumed fit see the same optimizer throughout, and unfrozen parameters train at the
    current learning rate with fresh optimizer state.

    A batch-norm layer whose parameters are all frozen (or, for one without parameters, whose
    ``running_mean`` is selected) is also held in inference mode, as Keras does for a layer
    with ``trainable=False``: it normalises with its running statistics and does not update
    them. Dropout layers are left as they are.

    Epochs are counted from 1 over the whole training, as in ``history_``: a warm start or a
    resumed checkpoint continues the count. When training ends, every ``requires_grad`` flag
    is set back as it was and the batch norms follow the network's mode again.

    Parameters
    ----------
    freeze : str, list of str or callable
        Glob patterns of parameter names (``"features.*"``), or a callable
        ``(name, parameter) -> bool``. See :func:`frozen_parameter_names`.
    unfreeze_at_epoch : int >= 1 or None, default=None
        The first epoch in which the frozen parameters train too; None keeps them frozen for
        the whole training.

    Attributes
    ----------
    frozen_names_ : list of str
        The names of the selected parameters.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeep import MLPClassifier
    >>> X, y = np.random.RandomState(0).rand(40, 3), np.arange(40) % 2
    >>> clf = MLPClassifier(hidden_layer_sizes=(8,), max_epochs=3, device="cpu",
    ...                     callbacks=[FreezeParameters("0.*", unfreeze_at_epoch=3)]).fit(X, y)
    >>> clf.history_[:, "frozen_params"]
    [32, 32, 0]
    """

    def __init__(self, freeze: FreezeSpec, unfreeze_at_epoch: int | None = None) -> None:
        self.freeze = freeze
        self.unfreeze_at_epoch = unfreeze_at_epoch

    def initialize(self):
        epoch = self.unfreeze_at_epoch
        if epoch is not None and not (isinstance(epoch, Integral) and epoch >= 1):
            raise ValueError(f"unfreeze_at_epoch must be an int >= 1 or None, got {epoch!r}.")
        _selector(self.freeze)
        self.frozen_ = False
        return self

    def on_train_begin(self, net, **kwargs) -> None:
        # A training that raised never reached on_train_end: give its module back first.
        self._set_frozen(net, False)
        module = net.module_
        self.frozen_names_ = frozen_parameter_names(module, self.freeze)
        frozen = set(self.frozen_names_)
        params = dict(module.named_parameters())
        self._params = [params[name] for name in self.frozen_names_]
        self._requires_grad = [p.requires_grad for p in self._params]
        self._norm_layers = _frozen_norm_layers(module, frozen, _selector(self.freeze))
        self._hooks: list = []
        self._set_frozen(net, self._frozen_in(len(net.history) + 1))

    def on_epoch_begin(self, net, **kwargs) -> None:
        frozen = self._frozen_in(len(net.history))
        self._set_frozen(net, frozen)
        net.history.record("frozen_params", sum(p.numel() for p in self._params) if frozen else 0)

    def on_train_end(self, net, **kwargs) -> None:
        self._set_frozen(net, False)

    def _frozen_in(self, epoch: int) -> bool:
        return self.unfreeze_at_epoch is None or epoch < self.unfreeze_at_epoch

    def _set_frozen(self, net, frozen: bool) -> None:
        if frozen == self.frozen_:
            return
        for param, requires_grad in zip(self._params, self._requires_grad, strict=True):
            param.requires_grad_(requires_grad and not frozen)
        if frozen:
            self._hooks = [
                layer.register_forward_pre_hook(_hold_in_eval_mode) for layer in self._norm_layers
            ]
        else:
            for hook in self._hooks:
                hook.remove()
            self._hooks = []
            for layer in self._norm_layers:
                layer.train(net.module_.training)
        if hasattr(net, "penalized_params_"):
            weights = penalized_parameters(net.module_)
            keep = [p.requires_grad or not frozen for p in weights]
            net.penalized_params_ = [p for p, kept in zip(weights, keep, strict=True) if kept]
            if hasattr(net, "l1_all_layers_"):  # each kept layer keeps its own penalties
                for name in ("l1", "l2"):
                    values = getattr(net, f"{name}_all_layers_")
                    kept_values = [v for v, kept in zip(values, keep, strict=True) if kept]
                    setattr(net, f"{name}_per_layer_", kept_values)
        self.frozen_ = frozen


__all__ = ["FreezeParameters", "frozen_parameter_names"]
