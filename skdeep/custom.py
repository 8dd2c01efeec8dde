"""Estimators around the user's own torch module: a class, an instance, or a builder function.

:class:`NeuralNetClassifier` and :class:`NeuralNetRegressor` share everything with the built-in
estimators (training parameters, callbacks, the fast path, the scikit-learn contract) except
the module, which the user brings, with ``module__*`` parameters that ``set_params`` and
searches reach, and transfer learning with ``freeze`` and ``unfreeze_at_epoch``.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import Interval
from torch import nn

from .core import (
    MODULE_PREFIX,
    NetworkClassifier,
    NetworkRegressor,
    build_module,
    check_output_shape,
    fill_doc,
)
from .freezing import FreezeParameters, frozen_parameter_names

_LAYER_PARAMETERS = ("activation", "dropout", "batch_norm", "kernel_initializer")


def _custom_constraints(constraints: dict) -> dict:
    """The built-in estimators' constraints, less the layer options, plus the module's."""
    return {
        **{k: v for k, v in constraints.items() if k not in _LAYER_PARAMETERS},
        "module": [callable],
        "freeze": [str, list, tuple, callable, None],
        "unfreeze_at_epoch": [Interval(Integral, 1, None, closed="left"), None],
    }


class _CustomModuleMixin:
    """What the custom-module estimators add to the built-in ones: the module parameters."""

    _array_kwargs: dict = {"dtype": np.float32, "allow_nd": True}
    _positive_int_tuples: tuple[str, ...] = ()
    _output_name = "output"

    # -- module__ parameters: stored apart (scikit-learn's get_params only reads __init__) --

    def get_params(self, deep: bool = True) -> dict:
        """Get the parameters of this estimator, ``module__*`` ones included.

        Parameters
        ----------
        deep : bool, default=True
            Also return the parameters of contained estimators.

        Returns
        -------
        dict
        """
        return {**super().get_params(deep=deep), **self._module_params}

    def set_params(self, **params):
        """Set parameters, ``module__*`` ones included (new ones are added).

        Parameters
        ----------
        **params
            Estimator parameters.

        Returns
        -------
        self
        """
        module_params = {k: params.pop(k) for k in list(params) if k.startswith(MODULE_PREFIX)}
        super().set_params(**params)
        self._module_params = {**self._module_params, **module_params}
        return self

    # -- building the module -----------------------------------------------------------------

    def _check_architecture(self) -> None:
        unknown = sorted(k for k in self._module_params if not k.startswith(MODULE_PREFIX))
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got unexpected keyword arguments {unknown}; the only "
                f"extra arguments it takes are {MODULE_PREFIX}<name>, passed on to the module."
            )
        if self.unfreeze_at_epoch is not None and self.freeze is None:
            raise ValueError(
                f"unfreeze_at_epoch={self.unfreeze_at_epoch} unfreezes the parameters chosen "
                "by freeze, but freeze is None; set freeze, or unfreeze_at_epoch=None."
            )

    def _validate_X_y(self, X, y, reset: bool):
        X, y = super()._validate_X_y(X, y, reset)
        if reset:
            self.input_shape_ = tuple(X.shape[1:])
        else:
            self._check_sample_shape(X)
        return X, y

    def _validate_X(self, X, reset: bool, ensure_all_finite: bool = True) -> np.ndarray:
        X = super()._validate_X(X, reset, ensure_all_finite)
        self._check_sample_shape(X)
        return X

    def _check_sample_shape(self, X: np.ndarray) -> None:
        if tuple(X.shape[1:]) != self.input_shape_:
            raise ValueError(
                f"X has samples of shape {tuple(X.shape[1:])}, but {type(self).__name__} was "
                f"fitted on samples of shape {self.input_shape_}."
            )

    def _sample_shape(self) -> tuple[int, ...]:
        return self.input_shape_

    def _build_module(self, n_outputs: int) -> nn.Module:
        params = {k[len(MODULE_PREFIX) :]: v for k, v in self._module_params.items()}
        module = build_module(self.module, params, self.n_features_in_, n_outputs)
        check_output_shape(module, self.input_shape_, n_outputs, self._output_name)
        if self.freeze is not None:
            frozen = frozen_parameter_names(module, self.freeze)
            if len(frozen) == len(list(module.parameters())):
                raise ValueError(
                    f"freeze={self.freeze!r} selects every parameter of the "
                    f"{type(module).__name__}, which leaves nothing to train; leave the "
                    "layers to train (the new head) out of it."
                )
        return module

    def _fit_callbacks(self) -> list:
        callbacks = super()._fit_callbacks()
        if self.freeze is None:
            return callbacks
        return [("freeze", FreezeParameters(self.freeze, self.unfreeze_at_epoch)), *callbacks]

    def save(self, path, *, overwrite: bool = False):
        """Refuse: a custom module is code, which a pickle-free file does not hold.

        Use :func:`joblib.dump` or :mod:`pickle` (with the module's class importable where
        the file is loaded), or :meth:`to_onnx` to run the network without Python.

        Parameters
        ----------
        path : str or path-like
        overwrite : bool, default=False

        Raises
        ------
        TypeError
            Always.
        """
        raise TypeError(
            f"{type(self).__name__}.save writes pickle-free files, which cannot hold the code "
            "of your own torch module; save the estimator with joblib.dump (the module's "
            "class must be importable where it is loaded), or export it with to_onnx."
        )


_CUSTOM_PARAMETERS = """\
    module : torch.nn.Module subclass, instance, or callable
        The network. A **class** is instantiated at fit with the ``module__*`` parameters
        as keywords, plus ``n_features_in`` and ``n_outputs`` (from the data) when its
        ``__init__`` names them. An **instance** is deep-copied at each fit and trained from
        its current weights; the instance itself never changes. Any other **callable** is a
        builder, called as ``module(n_features_in, n_outputs, **module_params)``, that sizes
        the network from the data. The network takes float32 batches of shape
        ``(batch, *X.shape[1:])`` and returns ``(batch, n_outputs)``:
        {outputs}.
    freeze : str, list of str, callable or None, default=None
        Parameters to keep fixed (transfer learning): glob patterns of parameter names, such
        as ``"features.*"``, or a callable ``(name, parameter) -> bool``. They get no
        gradient and no update; batch-norm layers whose parameters are all frozen are held in
        inference mode (running statistics fixed), as in Keras
        (:class:`skdeep.freezing.FreezeParameters`).
    unfreeze_at_epoch : int >= 1 or None, default=None
        The first epoch (counted from 1) in which the frozen parameters train too, at the
        learning rate of that epoch: fine-tuning after the head has learnt. None keeps them
        frozen for the whole fit.
    {{training_parameters}}"""

_CUSTOM_ATTRIBUTES = """\
    input_shape_ : tuple of int
        Shape of one sample, ``X.shape[1:]``.
    {fitted_attributes}"""


def _fill_custom_doc(outputs: str):
    def decorate(cls: type) -> type:
        cls.__doc__ = cls.__doc__.replace(
            "{custom_parameters}", _CUSTOM_PARAMETERS.lstrip().format(outputs=outputs)
        ).replace("{custom_attributes}", _CUSTOM_ATTRIBUTES.lstrip())
        return fill_doc(cls)

    return decorate


@_fill_custom_doc("logits, one per class (softmax is applied by ``predict_proba``)")
class NeuralNetClassifier(_CustomModuleMixin, NetworkClassifier):
    """Classifier around your own torch module, trained by skorch like the built-in ones.

    Cross-entropy loss on the module's outputs (logits); binary problems have two outputs.
    Everything else (training parameters, callbacks, ``partial_fit``, pipelines, searches
    over ``module__*`` parameters) works as for :class:`skdeep.MLPClassifier`.

    Parameters
    ----------
    {custom_parameters}
    {classifier_parameters}
    **module_params
        ``module__<name>=value``: keyword arguments of the module class or builder, settable
        and searchable like any parameter (``set_params(module__hidden=64)``).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    {custom_attributes}

    Examples
    --------
    >>> import torch
    >>> from sklearn.datasets import load_iris
    >>> class Net(torch.nn.Module):
    ...     def __init__(self, n_features_in, n_outputs, hidden=16):
    ...         super().__init__()
    ...         self.layers = torch.nn.Sequential(
    ...             torch.nn.Linear(n_features_in, hidden), torch.nn.ReLU(),
    ...             torch.nn.Linear(hidden, n_outputs))
    ...     def forward(self, x):
    ...         return self.layers(x)
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = NeuralNetClassifier(Net, module__hidden=32, max_epochs=40, learning_rate=0.01,
    ...                           device="cpu", random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    >>> clf.get_params()["module__hidden"], clf.count_params()
    (32, 259)
    """

    _parameter_constraints: dict = _custom_constraints(NetworkClassifier._parameter_constraints)
    _output_name = "class"

    def __init__(
        self,
        module,
        freeze=None,
        unfreeze_at_epoch=None,
        optimizer="adam",
        learning_rate=1e-3,
        momentum=None,
        batch_size=32,
        max_epochs=100,
        l1=0.0,
        l2=0.0,
        validation_fraction=0.1,
        early_stopping=False,
        early_stopping_monitor="valid_loss",
        n_iter_no_change=10,
        tol=1e-4,
        on_divergence="raise",
        lr_schedule=None,
        batch_size_scaling=None,
        callbacks=None,
        class_weight=None,
        label_smoothing=0.0,
        random_state=None,
        device="auto",
        compile="auto",
        n_threads="auto",
        warm_start=False,
        verbose=0,
        **module_params,
    ):
        self._store_init_arguments(locals())
        # Kept apart: scikit-learn reads parameters from __init__'s signature only.
        self._module_params = module_params


@_fill_custom_doc("one per target")
class NeuralNetRegressor(_CustomModuleMixin, NetworkRegressor):
    """Regressor around your own torch module, trained by skorch like the built-in ones.

    The module's outputs are the predictions, one column per target. Everything else works
    as for :class:`skdeep.MLPRegressor`.

    Parameters
    ----------
    {custom_parameters}
    loss : {{"mse", "mae", "huber"}}, default="mse"
        Mean squared error, mean absolute error, or Huber loss (delta 1).
    **module_params
        ``module__<name>=value``: keyword arguments of the module class or builder, settable
        and searchable like any parameter (``set_params(module__hidden=64)``).

    Attributes
    ----------
    n_outputs_ : int
        Number of targets.
    {custom_attributes}

    Examples
    --------
    >>> import numpy as np, torch
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 3))
    >>> y = X @ [1.0, -2.0, 0.5]
    >>> reg = NeuralNetRegressor(lambda n_in, n_out: torch.nn.Linear(n_in, n_out),
    ...                          max_epochs=40, learning_rate=0.05, device="cpu",
    ...                          random_state=0).fit(X, y)
    >>> reg.score(X, y) > 0.99
    True
    """

    _parameter_constraints: dict = _custom_constraints(NetworkRegressor._parameter_constraints)
    _output_name = "target"

    def __init__(
        self,
        module,
        freeze=None,
        unfreeze_at_epoch=None,
        optimizer="adam",
        learning_rate=1e-3,
        momentum=None,
        batch_size=32,
        max_epochs=100,
        l1=0.0,
        l2=0.0,
        validation_fraction=0.1,
        early_stopping=False,
        early_stopping_monitor="valid_loss",
        n_iter_no_change=10,
        tol=1e-4,
        on_divergence="raise",
        lr_schedule=None,
        batch_size_scaling=None,
        callbacks=None,
        loss="mse",
        random_state=None,
        device="auto",
        compile="auto",
        n_threads="auto",
        warm_start=False,
        verbose=0,
        **module_params,
    ):
        self._store_init_arguments(locals())
        # Kept apart: scikit-learn reads parameters from __init__'s signature only.
        self._module_params = module_params


__all__ = ["NeuralNetClassifier", "NeuralNetRegressor", "build_module"]
