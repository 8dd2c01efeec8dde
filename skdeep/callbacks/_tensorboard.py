"""TensorBoard logging: every history column per epoch, and the HParams view at the end."""

from __future__ import annotations

import itertools
import os
import uuid
from datetime import datetime

from skorch.callbacks import TensorBoard as SkorchTensorBoard

from ..utils.reprs import stable_repr
from ._common import ParamsRepr, UsesEstimatorParams

_FINAL_METRICS = ("train_loss", "valid_loss", "valid_acc")


def tensorboard_tag(key: str) -> str:
    """The TensorBoard tag of a history column, grouped by kind.

    Examples
    --------
    >>> [tensorboard_tag(k) for k in ("valid_loss", "valid_acc", "lr", "grad_norm_0", "dur")]
    ['Loss/valid_loss', 'Accuracy/valid_acc', 'LearningRate/lr', 'GradNorm/0', 'Metrics/dur']
    """
    if key.startswith("grad_norm_"):
        return "GradNorm/" + key.removeprefix("grad_norm_")
    if key == "lr":
        return "LearningRate/lr"
    if key.endswith("loss"):
        return "Loss/" + key
    if key.endswith(("_acc", "_accuracy")):
        return "Accuracy/" + key
    return "Metrics/" + key


def _hparam_value(value):
    """A value TensorBoard's HParams view takes (bool, int, float or str).

    Layer sizes read as the course writes them, ``"512x256"``; other values as their repr.

    >>> _hparam_value((512, 256)), _hparam_value((512,)), _hparam_value(0.1)
    ('512x256', '512', 0.1)
    """
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (tuple, list)) and value and all(type(v) is int for v in value):
        return "x".join(str(v) for v in value)
    return stable_repr(value)


def _claim_run_dir(logdir: str, run: str) -> str:
    """``logdir/run``, or ``run-2``, ``run-3``, ... if taken: created here, so claimed at once."""
    os.makedirs(logdir, exist_ok=True)
    for suffix in itertools.count(1):
        path = os.path.join(logdir, run if suffix == 1 else f"{run}-{suffix}")
        try:
            os.mkdir(path)
        except FileExistsError:
            continue
        return path
    raise AssertionError("unreachable")


class TensorBoard(ParamsRepr, UsesEstimatorParams, SkorchTensorBoard):
    """Log the history to TensorBoard each epoch and the hyper-parameters at the end.

    skorch's :class:`~skorch.callbacks.TensorBoard` writing to a ``SummaryWriter`` it opens
    itself under ``logdir/run_name``. Every numeric history column is logged each epoch, grouped
    as ``Loss/``, ``Accuracy/``, ``LearningRate/``, ``GradNorm/`` (per layer) and ``Metrics/``
    (see :func:`tensorboard_tag`). At the end of training, with ``hparams``, the estimator's
    hyper-parameters are written with its final metrics (``hparam/train_loss``,
    ``hparam/valid_loss``, ``hparam/valid_acc``, ``hparam/best_valid_loss``,
    ``hparam/best_valid_acc`` when present), one run per fit, so that TensorBoard's HParams view
    compares the fits of a search.

    Needs the ``tensorboard`` package (``pip install skdeep[all]``).

    Parameters
    ----------
    logdir : str or path-like
        The directory TensorBoard is pointed at (``tensorboard --logdir ...``).
    hparams : bool, default=True
        Write the hyper-parameters and final metrics when training ends.
    run_name : str or None, default=None
        The run's subdirectory; None makes a new, unique one per fit (time and a random suffix).
        A name another fit has used already gets ``-2``, ``-3``, ... so that two fits (the
        folds of one trial of a search, named ``trial-0007``) never mix their events.

    Attributes
    ----------
    log_dir_ : str
        Where this fit's events were written.

    Examples
    --------
    >>> from skdeep import MLPClassifier
    >>> clf = MLPClassifier(callbacks=[TensorBoard("runs")])
    >>> clf.fit(X, y)  # doctest: +SKIP
    """

    close_after_train = True
    keys_ignored = None
    key_mapper = staticmethod(tensorboard_tag)

    def __init__(self, logdir, hparams: bool = True, run_name: str | None = None) -> None:
        self.logdir = logdir
        self.hparams = hparams
        self.run_name = run_name

    @property
    def writer(self):
        """The ``SummaryWriter`` of the current training (skorch's methods write through it)."""
        return self.writer_

    def initialize(self):
        super().initialize()
        self.log_dir_ = None
        self.writer_ = None
        return self

    def on_train_begin(self, net, **kwargs) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as error:
            raise ImportError(
                "skdeep.callbacks.TensorBoard needs the tensorboard package; install it with "
                "`pip install skdeep[all]`."
            ) from error
        if self.log_dir_ is None:
            run = self.run_name
            if run is None:
                run = f"{datetime.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:8]}"
            self.log_dir_ = _claim_run_dir(os.fspath(self.logdir), run)
        self.writer_ = SummaryWriter(log_dir=self.log_dir_)

    def on_train_end(self, net, **kwargs) -> None:
        if self.hparams and len(net.history):
            self.writer_.add_hparams(
                self._hyperparameters(net),
                self._final_metrics(net),
                # "." keeps the HParams summary in this run, beside its scalars.
                run_name=".",
                global_step=net.history[-1]["epoch"],
            )
        super().on_train_end(net, **kwargs)
        self.writer_ = None  # closed; dropped so that the fitted net pickles

    def _hyperparameters(self, net) -> dict:
        if self.estimator_params_ is None:
            params = {
                "lr": net.lr,
                "batch_size": net.batch_size,
                "max_epochs": net.max_epochs,
                "optimizer": getattr(net.optimizer, "__name__", str(net.optimizer)),
            }
        else:
            params = dict(self.estimator_params_)
            layers = params.get("hidden_layer_sizes")
            if isinstance(layers, (tuple, list)):
                # Numbers that HParams can plot: depth and width of the network.
                params["n_hidden_layers"] = len(layers)
                params["first_layer_units"] = int(layers[0]) if len(layers) else 0
        return {name: _hparam_value(value) for name, value in params.items()}

    @staticmethod
    def _final_metrics(net) -> dict:
        history = net.history
        metrics = {}
        for key in _FINAL_METRICS:
            values = [row[key] for row in history if key in row]
            if values:
                metrics[f"hparam/{key}"] = float(values[-1])
                if key.startswith("valid"):
                    best = min(values) if key.endswith("loss") else max(values)
                    metrics[f"hparam/best_{key}"] = float(best)
        return metrics
