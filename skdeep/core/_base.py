"""The base estimator: the one place where scikit-learn meets skorch.

scikit-learn's side (parameter validation, ``validate_data``, label encoding, sample weights,
fitted attributes) happens here; training is handed to :class:`skdeep.core._net.SkdeepNet`.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context, clone
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data
from skorch.callbacks import Callback
from torch import nn

from ..callbacks import LR_SCHEDULES, estimator_callbacks, restore_checkpoints, stopped_early
from ..modules import INITIALIZERS, make_activation
from ..utils.device import resolve_device, seeded
from ..utils.threads import predict_thread_count
from ._augment import RandomAffine
from ._data import BatchIterator, TensorData
from ._input_checks import check_finite_input, check_validation_rows, reject_non_numeric_columns
from ._introspection import IntrospectionMixin
from ._net import CPU_PREDICT_BATCH_SIZE, SkdeepNet

PREDICT_BATCH_SIZE = 8192

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "nadam": torch.optim.NAdam,
    "rmsprop": torch.optim.RMSprop,
    "adagrad": torch.optim.Adagrad,
}
_FUSED = {"sgd", "adam", "adamw", "adagrad"}
# The momentum each optimizer takes when ``momentum=None``: scikit-learn's 0.9 for SGD, torch's
# and Keras' 0 for RMSprop.
DEFAULT_MOMENTUM = {"sgd": 0.9, "rmsprop": 0.0}


def as_layer_sizes(value) -> tuple:
    """Layer sizes as a tuple; an int is one layer of that size, as in scikit-learn.

    Examples
    --------
    >>> as_layer_sizes(320), as_layer_sizes([64, 32])
    ((320,), (64, 32))
    """
    if isinstance(value, Integral) and not isinstance(value, bool):
        return (value,)
    return tuple(value)


class BaseNetwork(IntrospectionMixin, BaseEstimator):
    """Everything the network estimators share; subclasses define the module and targets."""

    _parameter_constraints: dict = {
        "activation": [str],  # a name of ACTIVATIONS or "leaky_relu(0.2)", checked in fit
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "batch_norm": ["boolean"],
        "kernel_initializer": [StrOptions(set(INITIALIZERS))],
        "optimizer": [StrOptions(set(OPTIMIZERS))],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "momentum": [Interval(Real, 0, 1, closed="both"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "l1": [Interval(Real, 0, None, closed="left"), "array-like"],
        "l2": [Interval(Real, 0, None, closed="left"), "array-like"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "early_stopping": ["boolean"],
        "early_stopping_monitor": [str],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "on_divergence": [StrOptions({"raise", "stop", "continue"})],
        "lr_schedule": [StrOptions(set(LR_SCHEDULES)), Callback, None],
        "batch_size_scaling": [StrOptions({"sqrt", "linear"}), None],
        "callbacks": [list, None],
        "random_state": ["random_state"],
        "device": [str],
        "compile": [StrOptions({"auto", "cuda_graph", "none"})],
        "n_threads": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
    }

    # -- what subclasses define -------------------------------------------------------------

    def _store_init_arguments(self, arguments: dict) -> None:
        """Store each named ``__init__`` argument untouched under its own name.

        scikit-learn's rule. Each estimator calls it with its ``locals()``, so that its
        signature, which scikit-learn reads, is the one list of its parameters.
        """
        for name in self._get_param_names():
            setattr(self, name, arguments[name])

    def _build_module(self, n_outputs: int) -> nn.Module:
        raise NotImplementedError

    def _criterion(self) -> nn.Module:
        raise NotImplementedError

    def _encode_targets(self, y, first_call: bool, classes=None) -> np.ndarray:
        raise NotImplementedError

    def _n_outputs(self) -> int:
        raise NotImplementedError

    _array_kwargs: dict = {"dtype": np.float32}
    _positive_int_tuples: tuple[str, ...] = ("hidden_layer_sizes",)

    def _validate_X(self, X, reset: bool, ensure_all_finite: bool = True) -> np.ndarray:
        reject_non_numeric_columns(X)
        return validate_data(
            self, X, reset=reset, ensure_all_finite=ensure_all_finite, **self._array_kwargs
        )

    def _validate_X_y(self, X, y, reset: bool):
        reject_non_numeric_columns(X)
        return validate_data(self, X, y, reset=reset, **self._array_kwargs, **self._y_validation)

    def _sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample as the module takes it."""
        return (self.n_features_in_,)

    def _to_module_input(self, X: np.ndarray) -> torch.Tensor:
        if not X.flags.writeable:
            X = X.copy()
        return torch.from_numpy(np.ascontiguousarray(X)).reshape(-1, *self._sample_shape())

    def _class_weights(self, y_encoded: np.ndarray) -> np.ndarray | None:
        return None

    def _augmentation(self) -> RandomAffine | None:
        """The augmentation of training batches (None: off), checked when ``fit`` starts.

        Estimators with an ``augmentation`` parameter build it from that and their image shape.
        """
        return None

    # -- training ---------------------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Train the network on ``(X, y)`` for ``max_epochs`` epochs.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights of the loss.

        Returns
        -------
        self
        """
        resume = self.warm_start and hasattr(self, "net_")
        return self._train(X, y, sample_weight, epochs=None, first_call=not resume)

    def _partial_fit(self, X, y, sample_weight=None, classes=None):
        first_call = not hasattr(self, "net_")
        return self._train(X, y, sample_weight, epochs=1, first_call=first_call, classes=classes)

    def _train(self, X, y, sample_weight, epochs: int | None, first_call: bool, classes=None):
        """Train ``epochs`` more epochs; None: ``max_epochs``, less any a checkpoint restored."""
        device = resolve_device(self.device)
        X, y_encoded, weights = self._prepare_data(X, y, sample_weight, first_call, classes)
        with seeded(self._seed + (0 if first_call else len(self.net_.history)), device):
            if first_call:
                self.net_ = self._build_net(device)
                # A Checkpoint(resume=True) loads its saved epochs into the net here.
                restore_checkpoints(self.net_, data=(X, y_encoded, weights))
            if epochs is None:
                epochs = max(0, self.max_epochs - (len(self.net_.history) if first_call else 0))
                if first_call and stopped_early(self.net_):
                    epochs = 0  # the restored fit had already stopped early
            self.net_.target_scale_ = self._target_scale(y_encoded)  # named on a divergence
            # Set at every call, so that set_params between partial_fit calls takes effect.
            self.net_.augmentation = self._augmentation()
            train, valid = self._datasets(X, y_encoded, weights, device)
            self.net_.train_split = None if valid is None else _PredefinedSplit(valid)
            self.net_.partial_fit(train, epochs=epochs)
        self.history_ = self.net_.history
        self.n_iter_ = len(self.history_)
        self.diverged_ = any(bool(row.get("diverged")) for row in self.history_)
        self.n_threads_ = self.net_.n_threads_
        return self

    def _target_scale(self, y_encoded: np.ndarray) -> float | None:
        """The largest absolute regression target, for divergence advice (None: classifier)."""
        return None

    def _prepare_data(self, X, y, sample_weight, first_call: bool, classes=None):
        """Validate and encode the data of a fit (and draw its seed on the first call).

        Returns ``X`` as an array, the encoded targets and the normalised sample weights (or
        None).
        """
        if first_call:
            self._check_architecture()
        X, y = self._validate_X_y(X, y, reset=first_call)
        check_validation_rows(self, len(X))
        y_encoded = self._encode_targets(y, first_call=first_call, classes=classes)
        weights = self._combined_weights(sample_weight, X, y_encoded)
        if first_call:
            self._augmentation()  # refuses a bad augmentation before any training
            self._seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
            self._fit_input_encoding(X, y_encoded)
        return X, y_encoded, weights

    def _fit_input_encoding(self, X: np.ndarray, y_encoded: np.ndarray) -> None:
        """Learn what the module's input layer needs from the data, on the first call of a fit.

        After the seed is drawn, so that :meth:`_validation_indices` gives the rows that will
        train; the MLPs' piecewise-linear bins come from those rows only.
        """

    def _check_architecture(self) -> None:
        """Check what ``_parameter_constraints`` cannot: tuple entries, and bools as counts."""
        for name in self._positive_int_tuples:
            value = getattr(self, name)
            if isinstance(value, bool) or not all(
                isinstance(v, Integral) and not isinstance(v, bool) and v > 0
                for v in as_layer_sizes(value)
            ):
                raise ValueError(f"{name} must hold positive integers, got {value!r}.")
        for name in ("l1", "l2"):
            value = getattr(self, name)
            if not isinstance(value, Real) and not all(
                isinstance(v, Real) and not isinstance(v, bool) and 0 <= v < float("inf")
                for v in np.ravel(np.asarray(value, dtype=object))
            ):
                raise ValueError(
                    f"{name} must be a float >= 0 or one float >= 0 per weight layer, got "
                    f"{value!r}."
                )
        if "activation" in self._parameter_constraints:
            try:
                make_activation(self.activation)
            except ValueError as error:
                raise ValueError(f"activation: {error}") from None
        for name, constraints in self._parameter_constraints.items():
            counts = any(isinstance(c, Interval) and c.type is Integral for c in constraints)
            if counts and isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be an integer, got the bool {getattr(self, name)}.")

    def _combined_weights(self, sample_weight, X, y_encoded) -> np.ndarray | None:
        class_weights = self._class_weights(y_encoded)
        if sample_weight is None and class_weights is None:
            return None
        weights = _check_sample_weight(sample_weight, X, dtype=np.float32, ensure_non_negative=True)
        if class_weights is not None:
            weights = weights * class_weights[y_encoded].astype(np.float32)
        total = weights.sum()
        if total <= 0:
            raise ValueError("The sample weights sum to zero: there is nothing to learn from.")
        # Normalised to mean 1 so that the loss keeps its scale (and all-ones weights change
        # nothing at all).
        return weights / np.float32(total / len(weights))

    def _fit_callbacks(self) -> list:
        """The skorch callbacks of a new net; subclasses add those of their own parameters."""
        return estimator_callbacks(self)

    def _build_net(self, device: torch.device) -> SkdeepNet:
        optimizer_kwargs: dict = {}
        if self.optimizer in DEFAULT_MOMENTUM:
            optimizer_kwargs["momentum"] = (
                DEFAULT_MOMENTUM[self.optimizer] if self.momentum is None else self.momentum
            )
        if self.optimizer in _FUSED and device.type in ("cpu", "cuda"):
            optimizer_kwargs["fused"] = True
        else:
            optimizer_kwargs["foreach"] = True
        net = SkdeepNet(
            module=self._build_module(self._n_outputs()),
            criterion=self._criterion(),
            optimizer=OPTIMIZERS[self.optimizer],
            lr=self.learning_rate,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            iterator_train=BatchIterator,
            iterator_train__shuffle=True,
            iterator_valid=BatchIterator,
            iterator_valid__batch_size=max(
                self.batch_size,
                CPU_PREDICT_BATCH_SIZE if device.type == "cpu" else PREDICT_BATCH_SIZE,
            ),
            dataset=TensorData,
            train_split=None,
            callbacks=self._fit_callbacks(),
            callbacks__terminate_on_nan__on_divergence=self.on_divergence,
            device=device,
            verbose=self.verbose,
            l1=self.l1,
            l2=self.l2,
            classification=isinstance(self, ClassifierMixin),
            graph_step=self.compile,
            n_threads=self.n_threads,
            augmentation=self._augmentation(),
            **{f"optimizer__{key}": value for key, value in optimizer_kwargs.items()},
        )
        return net.initialize()

    def _datasets(self, X, y_encoded, weights, device):
        X_t = self._to_module_input(X).to(device)
        y_t = torch.from_numpy(np.ascontiguousarray(y_encoded)).to(device)
        w_t = None if weights is None else torch.from_numpy(weights).to(device)
        data = TensorData(X_t, y_t, w_t)
        split = self._validation_indices(y_encoded)
        if split is None:
            return data, None
        train_index, valid_index = (torch.from_numpy(i).to(device) for i in split)
        return data.subset(train_index), data.subset(valid_index)

    def _validation_indices(self, y_encoded) -> tuple[np.ndarray, np.ndarray] | None:
        n_samples = len(y_encoded)
        n_valid = int(n_samples * self.validation_fraction)
        if n_valid == 0 or n_valid == n_samples:
            return None
        stratify = None
        if isinstance(self, ClassifierMixin) and y_encoded.ndim == 1:
            counts = np.bincount(y_encoded)
            counts = counts[counts > 0]
            if counts.min() >= 2 and len(counts) <= min(n_valid, n_samples - n_valid):
                stratify = y_encoded
        return train_test_split(
            np.arange(n_samples), test_size=n_valid, random_state=self._seed, stratify=stratify
        )

    # -- prediction and introspection -------------------------------------------------------

    def _outputs(self, X) -> torch.Tensor:
        """The module's raw outputs for ``X`` (logits or regression values), on the CPU."""
        check_is_fitted(self)
        # Finiteness is checked by torch on the tensor, several times faster than numpy's.
        X = self._validate_X(X, reset=False, ensure_all_finite=False)
        X_t = self._to_module_input(X)
        n_threads = predict_thread_count(self.n_threads, getattr(self, "n_threads_", None))
        name = type(self).__name__
        # Each batch is checked just before its forward pass, while it is in the cache.
        outputs = self.net_.predict_outputs(
            X_t, PREDICT_BATCH_SIZE, n_threads, check=lambda batch: check_finite_input(batch, name)
        )
        if not torch.isfinite(outputs).all():
            finite = torch.isfinite(outputs.flatten(1)).all(dim=1)
            rows = torch.nonzero(~finite).flatten()
            raise ValueError(
                f"The network's outputs are NaN or infinite for {len(rows)} of {len(X)} rows of "
                f"X (first: row {int(rows[0])}). "
                + (
                    "Its weights are not finite: the fit diverged; refit with a lower "
                    "learning_rate."
                    if not all(torch.isfinite(p).all() for p in self.net_.module_.parameters())
                    else "Those rows lie far outside the range of the training data; scale X "
                    "as it was scaled for fit."
                )
            )
        return outputs

    def _network(self, X, y, method: str) -> tuple[BaseNetwork, nn.Module, torch.device]:
        """The fitted network, or with ``X`` and ``y`` the one a fit on them would build.

        Returns the estimator that holds it (an unfitted clone for data, so that ``self``
        stays as it was), the module and its device. The built module is not trained.
        """
        if X is None and y is None:
            check_is_fitted(
                self,
                msg=(
                    f"This {type(self).__name__} is not fitted yet: fit it, or call {method}(X, y) "
                    "to build the network for that data without training."
                ),
            )
            return self, self.net_.module_, torch.device(self.net_.device)
        if X is None or y is None:
            raise ValueError(
                f"{method} needs both X and y (the outputs depend on y), or neither for the "
                "fitted network."
            )
        probe = clone(self)
        probe._prepare_data(X, y, None, first_call=True)
        device = torch.device("cpu")
        with seeded(probe._seed, device):
            module = probe._build_module(probe._n_outputs())
        frozen = getattr(probe, "freeze", None)
        if frozen is not None:
            from ..freezing import frozen_parameter_names

            names = set(frozen_parameter_names(module, frozen))
            for name, parameter in module.named_parameters():
                parameter.requires_grad_(name not in names)
        return probe, module, device

    def _expected_failed_checks(self) -> dict[str, str]:
        """scikit-learn checks that cannot apply, with the reason; used by the test-suite."""
        return {
            "check_sample_weight_equivalence_on_dense_data": (
                "mini-batch training: a sample weight of 2 doubles that sample's gradient in "
                "its batch, which is not the same optimisation path as seeing the row twice in "
                "shuffled batches"
            ),
        }


class _PredefinedSplit:
    """skorch ``train_split``: the training data as given, and a fixed validation set."""

    def __init__(self, valid: TensorData) -> None:
        self.valid = valid

    def __call__(self, dataset, y=None, **fit_params):
        return dataset, self.valid
