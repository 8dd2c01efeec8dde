"""The skorch net that trains skdeep's modules: skorch runs the loop, this adds what it lacks.

It adds to :class:`skorch.NeuralNet`: sample weights and L1/L2 weight penalties in the loss,
training and validation accuracies for classifiers (and ``predict`` returning class indices, so
that skorch's ``EpochScoring`` and ``BatchScoring`` can score them), ``partial_fit`` for a given
number of epochs, the augmentation of each training batch's images
(:mod:`skdeep.core._augment`), and on a GPU the training step captured in a CUDA graph
(:mod:`skdeep.core._graph_step`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks.scoring import ScoringBase
from skorch.dataset import unpack_data
from skorch.utils import to_numpy

from ..callbacks import EpochLog, EpochMetrics, TerminateOnNaN, TrainAccuracy, ValidAccuracy
from ..modules import penalized_parameters, per_layer, weight_penalty
from ..utils.denormals import flushed_denormals
from ..utils.interrupt import SigintWatch
from ..utils.threads import (
    describe_probe,
    fit_thread_count,
    make_tuner,
    shape_key,
    torch_threads,
)
from ._fast_loop import FastLoopMixin, mean_loss, per_sample_loss
from ._graph_step import start_static_step


def _narrowing_first_linear(module: torch.nn.Module) -> torch.nn.Linear | None:
    """The module's first layer when it is a ``Linear`` with fewer outputs than inputs."""
    first = module
    while isinstance(first, torch.nn.Sequential) and len(first):
        first = first[0]
    if isinstance(first, torch.nn.Linear) and first.out_features < first.in_features:
        return first
    return None


def targets_to_numpy(y) -> np.ndarray:
    """A batch's targets as numpy, without the sample weights a weighted batch carries.

    The ``target_extractor`` skdeep gives skorch's scoring callbacks that have skorch's
    default.

    Examples
    --------
    >>> targets_to_numpy((torch.tensor([0, 1]), torch.tensor([1.0, 2.0])))
    array([0, 1])
    """
    return to_numpy(y[0] if isinstance(y, tuple) else y)


# Samples per forward pass when predicting or validating on a CPU: batches whose activations
# stay in the cache run faster than one large pass (measured: about 2x for LeNet-5, see
# docs/performance.md); on a GPU, larger batches are better.
CPU_PREDICT_BATCH_SIZE = 1024


class SkdeepNet(FastLoopMixin, NeuralNet):
    """A :class:`skorch.NeuralNet` whose criterion returns one loss per sample.

    skorch runs the loop; :class:`~skdeep.core._fast_loop.FastLoopMixin` trims its per-batch work.

    Parameters
    ----------
    *args, **kwargs
        As for :class:`skorch.NeuralNet`. The criterion must use ``reduction="none"``.
    l1, l2 : float or sequence of float, default=0.0
        Penalties ``l1 * sum|w| + l2 / 2 * sum w**2`` on weights (not biases), added to the
        training loss; a sequence gives one value per weight tensor of the module, in order.
    classification : bool, default=False
        Record ``train_acc`` and ``valid_acc`` in the history; ``predict_proba`` returns
        probabilities (softmax, or sigmoid for a multilabel ``BCEWithLogitsLoss``) and
        ``predict`` the encoded classes (indices, or the 0/1 indicator matrix), which is what
        skorch's scoring callbacks compare with the encoded targets.
    graph_step : {"auto", "cuda_graph", "none"}, default="auto"
        Whether the training step is captured in a CUDA graph and replayed per batch
        (:mod:`skdeep.core._graph_step`; the estimators' ``compile``); ``train_step_mode_`` and
        ``eager_reason_`` say what each training did. Not skorch's ``compile``, which is
        ``torch.compile``.
    n_threads : "auto" or int, default="auto"
        torch's intra-op CPU threads during ``partial_fit`` (the caller's count is restored
        afterwards); ``"auto"`` times training steps to choose (:mod:`skdeep.utils.threads`).
        ``n_threads_`` is the count the last training ended with; each epoch's count is in
        the history as ``n_threads``, each probe's step times as ``thread_probe``.
    augmentation : callable or None, default=None
        Applied to the features of each training batch, after the batch is gathered and
        before the forward pass (the estimators' ``augmentation``:
        :class:`skdeep.core._augment.RandomAffine`); never to validation or predicted
        batches. A training step with it runs eagerly, not in a CUDA graph.
    """

    def __init__(
        self,
        *args,
        l1: float = 0.0,
        l2: float = 0.0,
        classification: bool = False,
        graph_step: str = "auto",
        n_threads="auto",
        augmentation=None,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.l1 = l1
        self.l2 = l2
        self.classification = classification
        self.graph_step = graph_step
        self.n_threads = n_threads
        self.augmentation = augmentation

    @property
    def _default_callbacks(self):
        # skorch's PrintLog, last, becomes the Keras-like log of verbose=1 (its table at 2).
        callbacks = [
            (name, EpochLog() if name == "print_log" else callback)
            for name, callback in super()._default_callbacks
        ]
        # Before print_log, so that the printed table shows them; being defaults, they run
        # before the user's callbacks, so that a diverged epoch never reaches a checkpoint.
        if self.classification:
            callbacks.insert(-1, ("train_acc", TrainAccuracy()))
            callbacks.insert(-1, ("valid_acc", ValidAccuracy()))
        callbacks.insert(-1, ("epoch_metrics", EpochMetrics()))
        callbacks.insert(-1, ("terminate_on_nan", TerminateOnNaN()))
        return callbacks

    def initialize_callbacks(self):
        super().initialize_callbacks()
        for _, callback in self.callbacks_:
            # With sample weights a batch's target is (y, weight); skorch's scorers need y.
            if isinstance(callback, ScoringBase) and callback.target_extractor is to_numpy:
                callback.target_extractor = targets_to_numpy
        return self

    def initialize_module(self):
        super().initialize_module()
        self.penalized_params_ = penalized_parameters(self.module_)
        # Checked here, before any training: one value per weight layer, or one float.
        n_layers = len(self.penalized_params_)
        self.l1_all_layers_ = per_layer("l1", self.l1, n_layers)
        self.l2_all_layers_ = per_layer("l2", self.l2, n_layers)
        # Those of penalized_params_ (a freezing callback may leave frozen layers out).
        self.l1_per_layer_ = list(self.l1_all_layers_)
        self.l2_per_layer_ = list(self.l2_all_layers_)
        self.penalize_ = any(self.l1_per_layer_) or any(self.l2_per_layer_)
        return self

    def get_loss(self, y_pred, y_true, X=None, training=False):
        if isinstance(y_true, tuple):
            y_true, weight = y_true
        else:
            weight = None
        if weight is None:
            loss = mean_loss(self.criterion_, y_pred, y_true)
        else:
            loss = (per_sample_loss(self.criterion_, y_pred, y_true) * weight).mean()
        if training and self.penalize_:
            loss = loss + weight_penalty(
                self.penalized_params_, self.l1_per_layer_, self.l2_per_layer_
            )
        return loss

    def partial_fit(self, X, y=None, classes=None, epochs: int | None = None, **fit_params):
        """Train for ``epochs`` epochs (``max_epochs`` when None) without re-initialising.

        On a CPU, denormal floats are flushed to zero while it trains
        (:mod:`skdeep.utils.denormals`), and the caller's setting is restored afterwards.
        """
        if not self.initialized_:
            self.initialize()
        self.planned_epochs_ = epochs  # None: max_epochs; shown by the verbose log
        key = shape_key(self.module_, self.batch_size)
        with torch_threads(fit_thread_count(self.n_threads, key)), flushed_denormals(self.device):
            self.thread_tuner_ = make_tuner(
                self.n_threads,
                torch.device(self.device),
                self.batch_size,
                math.ceil(len(X) / self.batch_size),
                self.max_epochs if epochs is None else epochs,
                previous=self.__dict__.get("thread_tuner_"),
                key=key,
            )
            # Before the callbacks' on_train_begin: the rate becomes a tensor they then set.
            self.static_step_ = start_static_step(self)
            try:
                self.notify("on_train_begin", X=X, y=y)
                with SigintWatch() as ctrl_c:
                    try:
                        self.fit_loop(X, y, epochs=epochs, **fit_params)
                    except KeyboardInterrupt:
                        # A callback ending the fit (early stopping) is caught; Ctrl-C is not.
                        if ctrl_c.received:
                            raise
            finally:
                if self.static_step_ is not None:
                    self.static_step_.close()
                self.static_step_ = None
                self.n_threads_ = torch.get_num_threads()
            self.notify("on_train_end", X=X, y=y)
        return self

    def on_epoch_end(self, net, **kwargs) -> None:
        super().on_epoch_end(net, **kwargs)
        self.history.record("n_threads", torch.get_num_threads())
        tuner = self.__dict__.get("thread_tuner_")
        probe = None if tuner is None else tuner.new_probe()
        if probe is not None:
            self.history.record("thread_probe", probe)
            if self.verbose:
                print(describe_probe(probe, tuner.count))

    def train_step(self, batch, **fit_params):
        tuner = self.__dict__.get("thread_tuner_")
        start = None if tuner is None else tuner.begin()
        static = self.__dict__.get("static_step_")
        step = static.run(batch) if static is not None and not fit_params else None
        if step is None:
            step = super().train_step(batch, **fit_params)
        if tuner is not None:
            data = batch[0] if isinstance(batch, (tuple, list)) else batch
            tuner.end(start, len(data) if isinstance(data, torch.Tensor) else -1)
        return step

    def train_step_single(self, batch, **fit_params):
        # skorch's NeuralNet.train_step_single, with the augmentation of the batch's features.
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        if self.augmentation is not None:
            Xi = self.augmentation(Xi)
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}

    @property
    def multilabel(self) -> bool:
        """Whether the net classifies multilabel indicator targets (a sigmoid per output)."""
        return isinstance(getattr(self, "criterion_", None), torch.nn.BCEWithLogitsLoss)

    def _get_predict_nonlinearity(self):
        if not self.classification or self.predict_nonlinearity != "auto":
            return super()._get_predict_nonlinearity()
        return torch.sigmoid if self.multilabel else partial(torch.softmax, dim=-1)

    def predict(self, X):
        """The encoded classes: indices, or for multilabel targets the 0/1 indicator matrix."""
        if not self.classification:
            return super().predict(X)
        proba = self.predict_proba(X)
        return (proba > 0.5).astype(np.int64) if self.multilabel else proba.argmax(axis=1)

    def predict_outputs(
        self,
        X: torch.Tensor,
        batch_size: int,
        n_threads: int | None = None,
        check: Callable[[torch.Tensor], None] | None = None,
    ) -> torch.Tensor:
        """Return the module's raw outputs for ``X``, computed in large batches in eval mode.

        On a CPU the batches hold at most :data:`CPU_PREDICT_BATCH_SIZE` samples, computed
        with ``n_threads`` intra-op threads (None: the caller's), restored afterwards.
        ``check``, when given, sees each batch of ``X`` before the module does (and may raise);
        for a module whose first layer is a narrowing ``Linear``, only the batches that make
        that layer's output non-finite.
        """
        if torch.device(self.device).type == "cpu":
            batch_size = min(batch_size, CPU_PREDICT_BATCH_SIZE)
        module = self.module_
        module.eval()
        outputs = []
        first = _narrowing_first_linear(module) if check is not None else None
        hook = None
        if first is not None:
            # A NaN or infinity in a row of X makes that row's output non-finite in every unit
            # of a Linear layer whose weights are all non-zero (IEEE arithmetic): the sum of
            # one such unit's outputs answers for the batch, at a small fraction of the cost of
            # the batch's own sum. Without such a unit, the sum of all the layer's outputs
            # (smaller than the input) answers.
            with torch.no_grad():
                dense_units = torch.nonzero((first.weight != 0).all(dim=1)).flatten()
            unit = int(dense_units[0]) if len(dense_units) else None

            def check_layer_output(layer, inputs, output):
                watched = output if unit is None else output[:, unit]
                if not math.isfinite(watched.sum().item()):
                    check(inputs[0])

            hook = first.register_forward_hook(check_layer_output)
        try:
            with torch_threads(n_threads), torch.inference_mode():
                for start in range(0, len(X), batch_size):
                    batch = X[start : start + batch_size]
                    if check is not None and hook is None:
                        check(batch)
                    outputs.append(module(batch.to(self.device)))
        finally:
            if hook is not None:
                hook.remove()
        return (torch.cat(outputs) if len(outputs) > 1 else outputs[0]).cpu()
