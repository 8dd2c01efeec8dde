"""The network estimators: their parameters and the module each one builds."""

from __future__ import annotations

import math
import os
import sys
import warnings
from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from .core import (
    AUGMENTATION_PRESETS,
    NetworkClassifier,
    NetworkRegressor,
    as_layer_sizes,
    check_augmentation,
    fill_doc,
    make_augmentation,
)
from .embeddings import NUMERIC_EMBEDDINGS, EmbeddingMLP, quantile_bins
from .modules import CNN, MLP

_MLP_CONSTRAINTS = {
    "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
    "numeric_embedding": [StrOptions(set(NUMERIC_EMBEDDINGS)), None],
    "d_embedding": [Interval(Integral, 1, None, closed="left"), None],
    "n_bins": [Interval(Integral, 2, None, closed="left")],
}
_AUGMENTATION_CONSTRAINTS = {"augmentation": [StrOptions(set(AUGMENTATION_PRESETS)), dict, None]}


class _NumericEmbeddingMixin:
    """The MLPs' module, with or without a numeric embedding, and the bins it learns in fit."""

    def _fit_input_encoding(self, X, y_encoded) -> None:
        self.__dict__.pop("embedding_bins_", None)
        if self.numeric_embedding == "piecewise_linear":
            split = self._validation_indices(y_encoded)
            self.embedding_bins_ = quantile_bins(X if split is None else X[split[0]], self.n_bins)

    def _build_module(self, n_outputs: int) -> MLP | EmbeddingMLP:
        layers = {
            "activation": self.activation,
            "dropout": self.dropout,
            "batch_norm": self.batch_norm,
            "kernel_initializer": self.kernel_initializer,
        }
        sizes = as_layer_sizes(self.hidden_layer_sizes)
        if self.numeric_embedding is None:
            return MLP(self.n_features_in_, n_outputs, sizes, **layers)
        return EmbeddingMLP(
            self.n_features_in_,
            n_outputs,
            sizes,
            numeric_embedding=self.numeric_embedding,
            d_embedding=self.d_embedding,
            bins=getattr(self, "embedding_bins_", None),
            **layers,
        )


@fill_doc
class MLPClassifier(_NumericEmbeddingMixin, NetworkClassifier):
    """Multi-layer perceptron classifier, trained by skorch on PyTorch.

    Softmax output and cross-entropy loss; binary problems use two outputs, so
    ``predict_proba`` always has one column per class.

    Parameters
    ----------
    {architecture_parameters}
    {layer_parameters}
    {embedding_parameters}
    {training_parameters}
    {classifier_parameters}
    input_shape : tuple of int or None, default=None
        The ``(channels, height, width)`` (or ``(height, width)``) of flattened image rows,
        used only by ``augmentation``, which needs it; ``fit`` checks that
        ``channels * height * width`` is the number of features. The network itself sees the
        flat rows.
    {augmentation_parameter}

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels, as given (strings, ints, bools ...).
    {fitted_attributes}
    {embedding_attributes}

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = make_pipeline(StandardScaler(),
    ...                     MLPClassifier(max_epochs=30, learning_rate=1e-2, random_state=0))
    >>> clf.fit(X, y).score(X, y) > 0.9
    True
    >>> clf[-1].count_params()
    803
    """

    _parameter_constraints: dict = {
        **NetworkClassifier._parameter_constraints,
        **_MLP_CONSTRAINTS,
        **_AUGMENTATION_CONSTRAINTS,
        "input_shape": ["array-like", None],
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        dropout=0.0,
        batch_norm=False,
        kernel_initializer="glorot_uniform",
        numeric_embedding=None,
        d_embedding=None,
        n_bins=48,
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
        input_shape=None,
        augmentation=None,
        random_state=None,
        device="auto",
        compile="auto",
        n_threads="auto",
        warm_start=False,
        verbose=0,
    ):
        self._store_init_arguments(locals())

    def _augmentation(self):
        shape = None
        if self.input_shape is not None:
            shape = _infer_image_shape((self.n_features_in_,), self.input_shape)
        elif check_augmentation(self.augmentation) is not None:
            raise ValueError(
                f"augmentation={self.augmentation!r} transforms images, but MLPClassifier "
                "takes flat rows: give input_shape=(channels, height, width) of the images "
                f"the {self.n_features_in_} features of a row hold, or use CNNClassifier."
            )
        return None if shape is None else make_augmentation(self.augmentation, shape)


@fill_doc
class MLPRegressor(_NumericEmbeddingMixin, NetworkRegressor):
    """Multi-layer perceptron regressor, trained by skorch on PyTorch.

    Linear output layer; one or several targets. Targets are used as given: scale them
    (for example with :class:`~sklearn.compose.TransformedTargetRegressor`) when they are large.

    Parameters
    ----------
    {architecture_parameters}
    {layer_parameters}
    {embedding_parameters}
    {training_parameters}
    loss : {{"mse", "mae", "huber"}}, default="mse"
        Mean squared error, mean absolute error, or Huber loss (delta 1).

    Attributes
    ----------
    n_outputs_ : int
        Number of targets.
    {fitted_attributes}
    {embedding_attributes}

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 3))
    >>> y = X @ [1.0, -2.0, 0.5]
    >>> reg = MLPRegressor(hidden_layer_sizes=(), max_epochs=40, learning_rate=0.05,
    ...                    random_state=0).fit(X, y)
    >>> reg.score(X, y) > 0.99
    True
    """

    _parameter_constraints: dict = {
        **NetworkRegressor._parameter_constraints,
        **_MLP_CONSTRAINTS,
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        dropout=0.0,
        batch_norm=False,
        kernel_initializer="glorot_uniform",
        numeric_embedding=None,
        d_embedding=None,
        n_bins=48,
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
    ):
        self._store_init_arguments(locals())


def _caller_level() -> int:
    """The ``stacklevel`` that points a warning of its caller at the code that called ``fit``.

    The first frame outside skdeep and scikit-learn's ``fit`` wrapper (``sklearn/base.py``).
    """
    package = os.path.dirname(os.path.abspath(__file__))
    wrapper = os.path.join("sklearn", "base.py")
    frame, level = sys._getframe(1), 1
    while frame is not None and (
        frame.f_code.co_filename.startswith(package) or frame.f_code.co_filename.endswith(wrapper)
    ):
        frame, level = frame.f_back, level + 1
    return level


def _infer_image_shape(sample_shape: tuple[int, ...], declared) -> tuple[int, int, int]:
    """The (channels, height, width) of one sample, from ``input_shape`` or the data."""
    n_values = math.prod(sample_shape)
    if n_values == 0:
        raise ValueError(
            f"The samples of X have shape {tuple(sample_shape)}, which holds no values; each "
            "sample must be an image of at least one pixel."
        )
    if len(sample_shape) > 3:
        raise ValueError(
            f"X has {len(sample_shape) + 1} dimensions (samples of shape {tuple(sample_shape)}); "
            "CNNClassifier takes (n, F), (n, H, W) or (n, C, H, W) arrays."
        )
    if declared is not None:
        entries = tuple(declared)
        if not all(isinstance(v, Integral) and not isinstance(v, bool) for v in entries):
            raise ValueError(
                f"input_shape must be (height, width) or (channels, height, width) of positive "
                f"integers, got {declared!r}."
            )
        shape = tuple(int(v) for v in entries)
        if len(shape) == 2:
            shape = (1, *shape)
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError(
                f"input_shape must be (height, width) or (channels, height, width) of positive "
                f"integers, got {declared!r}."
            )
        if math.prod(shape) != n_values:
            raise ValueError(
                f"Each sample of X has {n_values} values (shape {sample_shape}), which cannot "
                f"form input_shape={tuple(declared)} ({math.prod(shape)} values)."
            )
        if len(sample_shape) > 1 and tuple(sample_shape) not in (shape, shape[1:]):
            # predict would refuse these samples: only flat rows are reshaped into images.
            raise ValueError(
                f"X has samples of shape {tuple(sample_shape)}, which is not "
                f"input_shape={tuple(declared)}; give X as (n, {', '.join(map(str, shape))}) "
                "images or as flat rows."
            )
        return shape
    if len(sample_shape) == 3:
        if sample_shape[-1] in (1, 3) and sample_shape[0] not in (1, 3):
            height, width, channels = sample_shape
            raise ValueError(
                f"X has samples of shape {tuple(sample_shape)}: channels-last images (height "
                f"{height}, width {width}, {channels} channel{'s' * (channels > 1)}), read "
                f"channels-first they would be {height} channels of {width}x{channels}. "
                "CNNClassifier takes (n, channels, height, width): pass "
                "X.transpose(0, 3, 1, 2). To train on the axes as given, set "
                f"input_shape={tuple(sample_shape)}."
            )
        return sample_shape
    if len(sample_shape) == 2:
        return (1, *sample_shape)
    side = math.isqrt(n_values)
    if side * side == n_values:  # a square number of features is a flattened square image
        return (1, side, side)
    warnings.warn(
        f"X has {n_values} features, not a square number: CNNClassifier trains on them as a "
        f"one-row image of shape (1, 1, {n_values}). Set input_shape=(channels, height, width) "
        f"if they are images, or input_shape=(1, {n_values}) to keep the row and silence "
        "this warning.",
        UserWarning,
        stacklevel=_caller_level(),
    )
    return (1, 1, n_values)


@fill_doc
class CNNClassifier(NetworkClassifier):
    """Convolutional classifier with LeNet-5's layer sequence, trained by skorch on PyTorch.

    Convolution blocks (``Conv2d -> activation -> MaxPool2d``), then dense blocks, then a
    softmax output. With ``padding="valid"`` on 28x28 MNIST it is exactly the classic LeNet-5
    (44,426 parameters).

    Parameters
    ----------
    filters : tuple of int, default=(6, 16)
        Number of filters of each convolution block.
    kernel_sizes : tuple of int, default=(5, 5)
        Kernel size of each convolution block, one per entry of ``filters``.
    pool_size : int, default=2
        Max-pooling window; an axis shorter than it is not pooled.
    padding : {{"same", "valid"}}, default="same"
        ``"same"`` keeps the image size through each convolution, so any image works.
    dense_units : tuple of int or int, default=(120, 84)
        Units of each dense hidden layer after the convolutions (an int: one layer).
    input_shape : tuple of int or None, default=None
        ``(channels, height, width)`` or ``(height, width)`` of one sample. None infers it:
        ``(n, H, W)`` and ``(n, C, H, W)`` arrays give their own shape; ``(n, H*W)`` with a
        square ``H*W`` becomes ``(1, H, W)``; any other ``(n, F)`` becomes a
        one-row image ``(1, 1, F)``, with a warning. Channels-last ``(n, H, W, 1)`` or
        ``(n, H, W, 3)`` images are refused: pass ``X.transpose(0, 3, 1, 2)``.
    activation : {{"relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh"}}, default="relu"
    {layer_parameters}
    {training_parameters}
    {classifier_parameters}
    {augmentation_parameter}

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    input_shape_ : tuple of int
        ``(channels, height, width)`` of one sample, as the network sees it.
    {fitted_attributes}

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> cnn = CNNClassifier(max_epochs=3, random_state=0).fit(X[:300] / 16, y[:300])
    >>> cnn.input_shape_
    (1, 8, 8)
    """

    _parameter_constraints: dict = {
        **NetworkClassifier._parameter_constraints,
        "filters": ["array-like"],
        "kernel_sizes": ["array-like"],
        "pool_size": [Interval(Integral, 1, None, closed="left")],
        "padding": [StrOptions({"same", "valid"})],
        "dense_units": ["array-like", Interval(Integral, 1, None, closed="left")],
        "input_shape": ["array-like", None],
        **_AUGMENTATION_CONSTRAINTS,
    }
    _array_kwargs: dict = {"dtype": np.float32, "allow_nd": True}
    _positive_int_tuples = ("filters", "kernel_sizes", "dense_units")

    def __init__(
        self,
        filters=(6, 16),
        kernel_sizes=(5, 5),
        pool_size=2,
        padding="same",
        dense_units=(120, 84),
        input_shape=None,
        activation="relu",
        dropout=0.0,
        batch_norm=False,
        kernel_initializer="glorot_uniform",
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
        augmentation=None,
        random_state=None,
        device="auto",
        compile="auto",
        n_threads="auto",
        warm_start=False,
        verbose=0,
    ):
        self._store_init_arguments(locals())

    def _augmentation(self):
        return make_augmentation(self.augmentation, self.input_shape_)

    def _validate_X_y(self, X, y, reset: bool):
        X, y = super()._validate_X_y(X, y, reset)
        if reset:
            self.input_shape_ = _infer_image_shape(X.shape[1:], self.input_shape)
        else:
            self._check_image_shape(X)
        return X, y

    def _validate_X(self, X, reset: bool, ensure_all_finite: bool = True) -> np.ndarray:
        if not reset and isinstance(X, np.ndarray) and X.ndim >= 2:
            layout = self._fit_layout()
            # Images given flat to a CNN fitted on 2-D images, or the other way round: put them
            # in the fitted layout before scikit-learn counts features as the second axis. Flat
            # rows for a CNN fitted on flat rows get scikit-learn's own feature-count check.
            if X.ndim > 2 or len(layout) > 1:
                self._check_image_shape(X)
                X = X.reshape(len(X), *layout)
        X = super()._validate_X(X, reset, ensure_all_finite)
        self._check_image_shape(X)
        return X

    def _fit_layout(self) -> tuple[int, ...]:
        """The shape of one sample of X as ``fit`` got it: flat, (h, w) or (c, h, w)."""
        channels, height, width = self.input_shape_
        if self.n_features_in_ == channels * height * width:
            return (self.n_features_in_,)
        if self.n_features_in_ == channels:
            return self.input_shape_
        return (height, width)

    def _check_image_shape(self, X: np.ndarray) -> None:
        fitted = self.input_shape_
        sample = X.shape[1:]
        same_values = math.prod(sample) == math.prod(fitted)
        if not same_values or (X.ndim > 2 and sample not in (fitted, fitted[1:])):
            raise ValueError(
                f"X has samples of shape {sample}, but {type(self).__name__} was fitted on "
                f"images of shape {fitted}."
            )

    def _sample_shape(self) -> tuple[int, ...]:
        return self.input_shape_

    def _build_module(self, n_outputs: int) -> CNN:
        return CNN(
            self.input_shape_,
            n_outputs,
            tuple(self.filters),
            tuple(self.kernel_sizes),
            pool_size=self.pool_size,
            padding=self.padding,
            dense_units=as_layer_sizes(self.dense_units),
            activation=self.activation,
            dropout=self.dropout,
            batch_norm=self.batch_norm,
            kernel_initializer=self.kernel_initializer,
        )
