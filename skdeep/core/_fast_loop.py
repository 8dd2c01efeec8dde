"""The per-batch work of skorch's training loop that a fit does not need, taken out.

skorch still runs the loop and every callback; :class:`FastLoopMixin` only makes each batch
cheaper, with the same results:

- a hook is called only on the callbacks that implement it (skorch calls every callback's
  hook for every batch, most of them the base class's empty method);
- without a callback listening to ``on_grad_computed`` (or an optimizer that needs a closure,
  such as LBFGS) the optimizer is stepped directly, without the closure and the generator of
  parameters skorch builds for that hook at every batch;
- the gradients are reset and a fused Adam or AdamW on a CPU is stepped without the Python
  around torch's kernels (:mod:`skdeep.core._direct_step`);
- the modules' train/eval mode is set only when it changes, not on the whole module tree at
  every batch;
- a batch that is already a tensor goes to the module without ``skorch.utils.to_tensor``;
- the epoch's batch loop (:meth:`FastLoopMixin.run_single_epoch`) is skorch's, with the batch
  size read as ``len(X)`` for a tensor batch and the history and keys looked up once per epoch;
- the history reads and writes the current epoch and batch directly: skorch's
  :class:`~skorch.history.History` copies the list of epochs on each ``history[-1]``;
- without sample weights, torch's built-in losses reduce to the mean in their own kernel
  (:func:`mean_loss`) instead of a per-sample loss followed by a separate mean;
- on a GPU, each batch's loss is recorded as a tensor on the device and all of an epoch's are
  read back at once when its batches end (before ``on_epoch_end``), instead of ``.item()``
  waiting for every batch to finish: the host queues the next batch while the GPU computes.
  During the epoch, a callback reading a batch's ``train_loss`` sees a 0-d tensor.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.dataset import get_len
from skorch.history import History

from . import _direct_step

# Devices on which batch losses are read back once per epoch rather than once per batch. Not
# the CPU, where ``.item()`` costs nothing to wait for (the tests add it, to check the records).
DEFERRED_LOSS_DEVICES: tuple[str, ...] = ("cuda",)


class FastHistory(History):
    """skorch's :class:`~skorch.history.History` with ``history[i]`` (an integer) in O(1).

    skorch's indexing copies the list of epochs before picking one; an integer index here reads
    the epoch directly. Everything else, including the results, is skorch's.

    Examples
    --------
    >>> history = FastHistory()
    >>> history.new_epoch()
    >>> history.new_batch()
    >>> history.record_batch("train_loss", 0.5)
    >>> history[-1, "batches", -1, "train_loss"], history[-1]["batches"]
    (0.5, [{'train_loss': 0.5}])
    """

    def __getitem__(self, i):
        if type(i) is int:
            return list.__getitem__(self, i)
        return super().__getitem__(i)

    def new_batch(self) -> None:
        list.__getitem__(self, -1)["batches"].append({})

    def record_batch(self, attr: str, value) -> None:
        list.__getitem__(self, -1)["batches"][-1][attr] = value


# Losses whose reduction="mean" (without class weights) is the mean over samples of the
# per-sample losses, each sample's loss being the mean over its elements.
_ELEMENTWISE_MEAN_LOSSES = (
    torch.nn.CrossEntropyLoss,
    torch.nn.MSELoss,
    torch.nn.L1Loss,
    torch.nn.HuberLoss,
    torch.nn.SmoothL1Loss,
)


def mean_loss(criterion: torch.nn.Module, y_pred, y_true) -> torch.Tensor:
    """Return the mean over samples of ``criterion``, a loss built with ``reduction="none"``.

    Each sample's loss is the mean over its elements. For torch's built-in losses without
    class weights, the loss's own ``reduction="mean"`` computes exactly that in one kernel.

    Examples
    --------
    >>> criterion = torch.nn.CrossEntropyLoss(reduction="none")
    >>> logits, labels = torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0])
    >>> mean_loss(criterion, logits, labels).item() == criterion(logits, labels).mean().item()
    True
    >>> criterion.reduction
    'none'
    """
    if (
        type(criterion) in _ELEMENTWISE_MEAN_LOSSES
        and criterion.reduction == "none"
        and getattr(criterion, "weight", None) is None
    ):
        # Through __dict__: nn.Module.__setattr__ would look for a parameter, buffer or
        # submodule of that name, twice per training step.
        attributes = criterion.__dict__
        attributes["reduction"] = "mean"
        try:
            return criterion(y_pred, y_true)
        finally:
            attributes["reduction"] = "none"
    return per_sample_loss(criterion, y_pred, y_true).mean()


def per_sample_loss(criterion: torch.nn.Module, y_pred, y_true) -> torch.Tensor:
    """Return one loss per sample of ``criterion`` (``reduction="none"``): its elements' mean.

    Examples
    --------
    >>> criterion = torch.nn.MSELoss(reduction="none")
    >>> per_sample_loss(criterion, torch.zeros(2, 2), torch.tensor([[1.0, 3.0], [2.0, 2.0]]))
    tensor([5., 4.])
    """
    loss = criterion(y_pred, y_true)
    return loss.flatten(1).mean(dim=1) if loss.dim() > 1 else loss


def implements(callback, hook: str) -> bool:
    """Whether ``callback`` does something in ``hook``, rather than inherit the empty method."""
    empty = getattr(Callback, hook, None)
    return empty is None or getattr(getattr(callback, hook), "__func__", None) is not empty


class _HookTable:
    """Per hook, the bound methods of the callbacks that implement it."""

    def __init__(self, callbacks: list) -> None:
        self.callbacks = callbacks
        self.size = len(callbacks)
        self.hooks: dict[str, list[Callable]] = {}
        self.needs_step_closure: bool | None = None

    def current(self, callbacks: list) -> bool:
        return callbacks is self.callbacks and len(callbacks) == self.size

    def get(self, hook: str) -> list[Callable]:
        found = self.hooks.get(hook)
        if found is None:
            found = self.hooks[hook] = [
                getattr(cb, hook) for _, cb in self.callbacks if implements(cb, hook)
            ]
        return found


def _read_back_losses(history: History, loss_key: str) -> None:
    """Turn the epoch's batch losses recorded as tensors into floats, in one read-back."""
    records = [
        r for r in list.__getitem__(history, -1)["batches"] if torch.is_tensor(r.get(loss_key))
    ]
    if records:
        values = torch.stack([record[loss_key] for record in records]).tolist()
        for record, value in zip(records, values, strict=True):
            record[loss_key] = value


class FastLoopMixin:
    """Mixin for a :class:`skorch.NeuralNet`: the same training, with less work per batch.

    Put it before ``NeuralNet`` in the bases. See the module's docstring for what it changes.
    One difference is visible: skorch sets the train/eval mode of the whole module tree at
    every batch, this sets it when the top module's mode differs from the one needed, so a
    submodule a callback switched to eval mode (a frozen batch norm, say) stays so.
    """

    def initialize_history(self):
        super().initialize_history()
        if type(self.history_) is History:
            self.history_ = FastHistory(self.history_)
        return self

    def _hook_table(self) -> _HookTable:
        table = self.__dict__.get("callback_hooks_")
        if table is None or not table.current(self.callbacks_):
            table = self.callback_hooks_ = _HookTable(self.callbacks_)
        return table

    def notify(self, method_name: str, **cb_kwargs) -> None:
        if method_name == "on_train_begin":
            # Callbacks, optimizers or methods may have changed since the last fit.
            self.__dict__.pop("callback_hooks_", None)
        getattr(self, method_name)(self, **cb_kwargs)
        for hook in self._hook_table().get(method_name):
            hook(self, **cb_kwargs)

    def _needs_step_closure(self) -> bool:
        table = self._hook_table()
        if table.needs_step_closure is None:
            table.needs_step_closure = (
                bool(table.get("on_grad_computed"))
                or type(self).on_grad_computed is not NeuralNet.on_grad_computed
                or type(self).get_train_step_accumulator is not NeuralNet.get_train_step_accumulator
                or any(
                    isinstance(getattr(self, name + "_"), torch.optim.LBFGS)
                    for name in self._optimizers
                )
            )
        return table.needs_step_closure

    def train_step(self, batch, **fit_params):
        if self._needs_step_closure():
            return super().train_step(batch, **fit_params)
        self._zero_grad_optimizer()
        step = self.train_step_single(batch, **fit_params)
        self._step_optimizer(None)
        return step

    def _zero_grad_optimizer(self, set_to_none=None) -> None:
        if set_to_none is not None:
            super()._zero_grad_optimizer(set_to_none)
            return
        for name in self._optimizers:
            _direct_step.zero_grads(getattr(self, name + "_"))

    def _step_optimizer(self, step_fn) -> None:
        if step_fn is not None:
            super()._step_optimizer(step_fn)
            return
        for name in self._optimizers:
            _direct_step.step(getattr(self, name + "_"))

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        # skorch's NeuralNet.run_single_epoch, step for step, with less work per batch.
        if iterator is None:
            return
        history, notify = self.history, self.notify
        loss_key, size_key = prefix + "_loss", prefix + "_batch_size"
        deferred = torch.device(self.device).type in DEFERRED_LOSS_DEVICES
        batch_count = 0
        try:
            for batch in iterator:
                notify("on_batch_begin", batch=batch, training=training)
                step = step_fn(batch, **fit_params)
                loss = step["loss"]
                # A copy: a CUDA-graph step returns the same output tensor at every batch.
                history.record_batch(loss_key, loss.detach().clone() if deferred else loss.item())
                data = batch[0] if isinstance(batch, (tuple, list)) else batch
                history.record_batch(
                    size_key, len(data) if type(data) is torch.Tensor else get_len(data)
                )
                history.record_batch("training", training)
                notify("on_batch_end", batch=batch, training=training, **step)
                batch_count += 1
        finally:
            if deferred:
                _read_back_losses(history, loss_key)
        history.record(prefix + "_batch_count", batch_count)

    def _set_training(self, training: bool = True) -> None:
        for name in self._modules + self._criteria:
            module = getattr(self, name + "_")
            if isinstance(module, torch.nn.Module) and module.training != training:
                module.train(training)

    def infer(self, x, **fit_params):
        if isinstance(x, torch.Tensor) and not fit_params:
            return self.module_(x.to(self.device))
        return super().infer(x, **fit_params)
