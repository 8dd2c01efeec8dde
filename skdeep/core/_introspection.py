"""What a network tells about itself, and how it leaves the process.

The parameter count and the Keras-like summary (of the fitted network, or of the one a fit on
given data would build), the history as a DataFrame and its learning curves, saving without
pickle and the ONNX export. A mixin of :class:`skdeep.core.BaseNetwork`, which provides
``_network(X, y, method)`` and ``_sample_shape()``.
"""

from __future__ import annotations

import pandas as pd
import torch
from sklearn.utils.validation import check_is_fitted

from ..modules import count_params, layer_table
from ._summary import ModelSummary


class IntrospectionMixin:
    """Parameter count, summary, history, saving and ONNX export of a skdeep estimator."""

    def count_params(self, X=None, y=None, *, trainable_only: bool = False) -> int:
        """Return the number of parameters of the network.

        Fitted and without data: the fitted network's. With ``X`` and ``y``: that of the
        network a fit on them would build (inputs and outputs sized from the data), built
        without training and without changing the estimator, fitted or not.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), default=None
        y : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None
        trainable_only : bool, default=False
            Count only the parameters the optimizer updates (not those ``freeze`` selects).

        Returns
        -------
        int

        Examples
        --------
        >>> from skdeep import MLPClassifier
        >>> X, y = [[0.0, 1.0, 2.0]] * 4, [0, 1, 2, 0]
        >>> MLPClassifier(hidden_layer_sizes=(4,)).count_params(X, y)  # (3 + 1) * 4 + (4 + 1) * 3
        31
        """
        _, module, _ = self._network(X, y, "count_params")
        return count_params(module, trainable_only=trainable_only)

    def summary(self, X=None, y=None) -> ModelSummary:
        """Return a Keras-like table of the network: layer, output shape, parameters.

        Fitted and without data: the fitted network. With ``X`` and ``y``: the network a fit
        on them would build, without training (see :meth:`count_params`).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), default=None
        y : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None

        Returns
        -------
        ModelSummary
            Prints as a table; ``.frame`` holds it as a DataFrame and ``.total_params`` the
            total.
        """
        owner, module, device = self._network(X, y, "summary")
        example = torch.zeros((1, *owner._sample_shape()), device=device)
        return ModelSummary(
            layer_table(module, example), count_params(module), type(module).__name__
        )

    def history_frame(self) -> pd.DataFrame:
        """Return ``history_`` as a DataFrame, one row per epoch (per-batch records left out).

        Returns
        -------
        pandas.DataFrame
        """
        check_is_fitted(self)
        return pd.DataFrame(
            [{k: v for k, v in row.items() if k != "batches"} for row in self.history_]
        ).set_index("epoch")

    def plot_history(self, metrics=None, **kwargs):
        """Draw the learning curves (training vs validation loss and accuracy per epoch).

        Parameters
        ----------
        metrics : sequence of str, default=None
            One panel each, ``("loss", "acc")`` by default; any history column works
            (``"lr"``, ``"grad_norm_0"`` ...). See :func:`skdeep.plotting.plot_history`.
        **kwargs
            Passed on to :func:`skdeep.plotting.plot_history` (``figsize``).

        Returns
        -------
        matplotlib.figure.Figure

        Examples
        --------
        >>> from skdeep import MLPClassifier
        >>> clf = MLPClassifier(max_epochs=2, device="cpu").fit([[0.0], [1.0]] * 10, [0, 1] * 10)
        >>> [ax.get_ylabel() for ax in clf.plot_history(metrics=["loss", "lr"]).axes]
        ['loss', 'lr']
        """
        check_is_fitted(self)
        from ..plotting import plot_history

        return plot_history(self, metrics, **kwargs)

    def save(self, path, *, overwrite: bool = False):
        """Save the fitted estimator to one file, without pickle; :func:`skdeep.load` reads it.

        The file is a zip of the parameters, fitted attributes and history as JSON and the
        weights and optimizer state as torch state dicts (see ``docs/reliability.md``).

        Parameters
        ----------
        path : str or path-like
            The file to write; ``.skdeep`` is a good suffix.
        overwrite : bool, default=False
            Replace ``path`` when it exists; otherwise an existing ``path`` raises
            ``FileExistsError``.

        Returns
        -------
        pathlib.Path
            The path written.
        """
        from ..persistence import save

        return save(self, path, overwrite=overwrite)

    def to_onnx(self, path, *, overwrite: bool = False):
        """Export the fitted network to an ONNX file, for onnxruntime and other ONNX runtimes.

        The model takes ``X`` as float32 samples of the shape ``fit`` got (flat rows, or
        images as fitted) with any number of rows; classifiers output ``probabilities``, regressors
        ``predictions`` of shape (n_samples, n_outputs). See :func:`skdeep.onnx.to_onnx`, and
        :func:`skdeep.onnx.pipeline_to_onnx` for a Pipeline with preprocessing.

        Parameters
        ----------
        path : str or path-like
            The file to write; ``.onnx`` is the usual suffix.
        overwrite : bool, default=False
            Replace ``path`` when it exists; otherwise an existing ``path`` raises
            ``FileExistsError``.

        Returns
        -------
        pathlib.Path
            The path written.

        Examples
        --------
        >>> import tempfile
        >>> from skdeep import MLPRegressor
        >>> reg = MLPRegressor(max_epochs=1, device="cpu").fit([[0.0], [1.0]] * 5, [0.0, 1.0] * 5)
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     reg.to_onnx(f"{folder}/reg.onnx").stat().st_size > 0
        True
        """
        from ..onnx import to_onnx

        return to_onnx(self, path, overwrite=overwrite)
