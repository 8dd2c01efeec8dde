"""Export fitted networks to ONNX, alone or behind their Pipeline's preprocessing.

The network goes through torch's exporter (``torch.onnx.export(dynamo=True)``), wrapped so that
the model takes ``X`` as float32 samples of the shape ``fit`` got (flat rows, or images as
``(n, H, W)`` or ``(n, C, H, W)``), reshapes them for the module, and returns probabilities
(softmax in the graph) for classifiers or the predictions for regressors, for any number of
rows. Preprocessing before it in a Pipeline is converted by skl2onnx and joined in front of the
network's graph with :func:`onnx.compose.merge_models`, so one file runs the whole pipeline.
See ``docs/custom_networks.md``.

onnx, onnxscript (torch's exporter needs it), skl2onnx and onnxruntime are optional:
``pip install skdeep[all]``.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import logging
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from sklearn.base import ClassifierMixin
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted
from torch import nn

from .utils.files import atomic_write

if TYPE_CHECKING:
    from .core import BaseNetwork

INPUT_NAME = "X"
PROBABILITIES = "probabilities"
PREDICTIONS = "predictions"
_NETWORK_PREFIX = "network_"
_PREPROCESSING_PREFIX = "preprocessing_"


def _require(*packages: str) -> None:
    missing = [name for name in packages if importlib.util.find_spec(name) is None]
    if missing:
        raise ImportError(
            f"ONNX export needs {', '.join(missing)}, which is not installed; "
            "install it with pip install skdeep[all]."
        )


def input_layout(estimator) -> tuple[int, ...]:
    """The shape of one sample of the exported model's input: as the estimator was fitted.

    A CNNClassifier fitted on flat rows takes flat rows, one fitted on images takes images;
    other networks take their fitted sample shape.
    """
    fit_layout = getattr(estimator, "_fit_layout", None)
    return tuple(fit_layout() if callable(fit_layout) else estimator._sample_shape())


class _ExportedNetwork(nn.Module):
    """The module as the ONNX model runs it: samples as fitted in, probabilities or values out."""

    def __init__(
        self, module: nn.Module, sample_shape: tuple[int, ...], output: str | None
    ) -> None:
        super().__init__()
        self.module = module
        self.sample_shape = tuple(sample_shape)
        self.output = output  # "softmax", "logistic" (multilabel) or None (regression)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        if tuple(X.shape[1:]) != self.sample_shape:
            X = X.reshape(X.shape[0], *self.sample_shape)
        outputs = self.module(X)
        if self.output == "softmax":
            return torch.softmax(outputs, dim=1)
        return torch.sigmoid(outputs) if self.output == "logistic" else outputs


@contextmanager
def _quiet_exporter():
    """Silence the exporter's notes (optional torchvision ops, torch-internal deprecations)."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        logger.setLevel(level)


def _is_network(estimator) -> bool:
    # Every skdeep network (BaseNetwork, which this module sits below) tells its sample shape.
    return callable(getattr(estimator, "_sample_shape", None))


def _check_network(estimator) -> None:
    if not _is_network(estimator):
        raise TypeError(
            f"ONNX export takes a fitted skdeep network estimator, got a "
            f"{type(estimator).__name__}; for a Pipeline ending in one, use pipeline_to_onnx."
        )
    check_is_fitted(estimator)


def network_model(estimator: BaseNetwork):
    """Return the ONNX model (an ``onnx.ModelProto``) of a fitted skdeep network.

    Its input ``X`` is float32 of the shape the estimator was fitted on: (n_samples,
    n_features) for flat rows, (n_samples, H, W) or (n_samples, C, H, W) for images fitted
    as such (:func:`input_layout`); its output is ``probabilities`` (n_samples, n_classes), in
    the order of ``classes_``, for a classifier, and ``predictions`` (n_samples, n_outputs)
    for a regressor. ``n_samples`` is free. The model's metadata holds the estimator's class
    and, for classifiers, ``classes`` as JSON.

    Parameters
    ----------
    estimator : skdeep network estimator
        Fitted.

    Returns
    -------
    onnx.ModelProto
    """
    _require("onnx", "onnxscript")
    import onnx

    _check_network(estimator)
    classifier = isinstance(estimator, ClassifierMixin)
    sample_shape = estimator._sample_shape()
    module = copy.deepcopy(estimator.net_.module_).cpu().eval()
    output = getattr(estimator, "out_activation_", "softmax") if classifier else None
    wrapped = _ExportedNetwork(module, sample_shape, output).eval()
    example = torch.zeros((2, *input_layout(estimator)))
    with _quiet_exporter():
        program = torch.onnx.export(
            wrapped,
            (example,),
            dynamo=True,
            input_names=[INPUT_NAME],
            output_names=[PROBABILITIES if classifier else PREDICTIONS],
            dynamic_shapes=({0: torch.export.Dim("n_samples")},),
            verbose=False,
        )
    model = program.model_proto
    metadata = {"skdeep_estimator": type(estimator).__name__}
    if classifier:
        metadata["classes"] = json.dumps(estimator.classes_.tolist(), default=str)
    onnx.helper.set_model_props(model, metadata)
    return model


def _preprocessing_model(preprocessing: Pipeline, n_features: int, opset: int):
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    names = [name for name, _ in preprocessing.steps]
    try:
        return convert_sklearn(
            preprocessing,
            initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))],
            target_opset=opset,
        )
    except Exception as error:
        raise ValueError(
            f"skl2onnx cannot convert the preprocessing steps {names} of the pipeline: "
            f"{error}. Export the network alone with to_onnx and run those steps before it."
        ) from error


def _joined(preprocessing, network):
    """``preprocessing``'s single output fed into ``network``'s input, as one model."""
    from onnx import checker, compose

    network = compose.add_prefix(network, _NETWORK_PREFIX, rename_inputs=True, rename_outputs=False)
    preprocessing = compose.add_prefix(
        preprocessing, _PREPROCESSING_PREFIX, rename_inputs=False, rename_outputs=True
    )
    # merge_models wants one IR version; the newer one reads both graphs.
    ir_version = max(preprocessing.ir_version, network.ir_version)
    preprocessing.ir_version = network.ir_version = ir_version
    model = compose.merge_models(
        preprocessing,
        network,
        io_map=[(preprocessing.graph.output[0].name, network.graph.input[0].name)],
    )
    checker.check_model(model)
    return model


def pipeline_model(pipeline: Pipeline):
    """Return the ONNX model of a fitted Pipeline: preprocessing, then a skdeep network.

    The steps before the network are converted by skl2onnx (scalers, PCA, imputers and the
    other transformers it supports that take one float tensor) and their graph is joined in
    front of :func:`network_model`'s. The input ``X`` is the raw float32 data, shape
    (n_samples, n_features); the outputs are the network's.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Fitted, its last step a skdeep network estimator.

    Returns
    -------
    onnx.ModelProto
    """
    _require("onnx", "onnxscript", "skl2onnx")
    if not isinstance(pipeline, Pipeline):
        raise TypeError(
            f"pipeline_to_onnx takes a Pipeline, got a {type(pipeline).__name__}; export a "
            "network on its own with its to_onnx method."
        )
    network = pipeline.steps[-1][1]
    if not _is_network(network):
        raise TypeError(
            f"The pipeline's last step is a {type(network).__name__}, not a skdeep network "
            "estimator."
        )
    net_model = network_model(network)
    steps = [
        (name, step) for name, step in pipeline.steps[:-1] if step not in (None, "passthrough")
    ]
    if not steps:
        return net_model
    opset = next(o.version for o in net_model.opset_import if o.domain in ("", "ai.onnx"))
    preprocessing = Pipeline(steps)
    n_features = steps[0][1].n_features_in_
    joined = _joined(_preprocessing_model(preprocessing, n_features, opset), net_model)
    import onnx

    metadata = {p.key: p.value for p in net_model.metadata_props}
    metadata["preprocessing"] = json.dumps([name for name, _ in steps])
    del joined.metadata_props[:]
    onnx.helper.set_model_props(joined, metadata)
    return joined


def _refuse_existing(path, overwrite: bool) -> None:
    if Path(path).exists() and not overwrite:
        raise FileExistsError(
            f"{path} exists; pass overwrite=True to replace it, or choose another path."
        )


def _write(model, path, overwrite: bool) -> Path:
    """Write ``model`` to ``path`` under a temporary name, then rename it into place."""
    path = Path(path)
    _refuse_existing(path, overwrite)
    data = model.SerializeToString()
    with atomic_write(path, overwrite=overwrite) as file:
        file.write(data)
    return path


def to_onnx(estimator: BaseNetwork, path, *, overwrite: bool = False) -> Path:
    """Export a fitted skdeep network to an ONNX file.

    See :func:`network_model` for the model's input and outputs. The file is written under a
    temporary name beside ``path`` and renamed into place when complete.

    Parameters
    ----------
    estimator : skdeep network estimator
        Fitted.
    path : str or path-like
        The file to write; ``.onnx`` is the usual suffix.
    overwrite : bool, default=False
        Replace an existing file at ``path``. Without it, a file there raises
        ``FileExistsError`` before anything is exported, and so does one that another
        process creates there while the model is written.

    Returns
    -------
    pathlib.Path
        ``path``, as a ``Path``.

    Examples
    --------
    >>> import tempfile, numpy as np, onnxruntime
    >>> from skdeep import MLPClassifier
    >>> X, y = np.random.RandomState(0).rand(40, 3).astype(np.float32), np.arange(40) % 2
    >>> clf = MLPClassifier(hidden_layer_sizes=(8,), max_epochs=2, device="cpu").fit(X, y)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     session = onnxruntime.InferenceSession(str(to_onnx(clf, f"{folder}/clf.onnx")))
    >>> probabilities = session.run(["probabilities"], {"X": X})[0]
    >>> bool(np.allclose(probabilities, clf.predict_proba(X), atol=1e-5))
    True
    """
    _refuse_existing(path, overwrite)
    return _write(network_model(estimator), path, overwrite)


def pipeline_to_onnx(pipeline: Pipeline, path, *, overwrite: bool = False) -> Path:
    """Export a fitted Pipeline (scikit-learn preprocessing, then a skdeep network) to ONNX.

    See :func:`pipeline_model` for what it supports; ``path``, ``overwrite`` and what is
    returned are as for :func:`to_onnx`.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Fitted, its last step a skdeep network estimator.
    path : str or path-like
    overwrite : bool, default=False

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import tempfile, numpy as np, onnxruntime
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skdeep import MLPRegressor
    >>> X = np.random.RandomState(0).normal(5, 3, size=(40, 3)).astype(np.float32)
    >>> pipe = make_pipeline(StandardScaler(), MLPRegressor(max_epochs=2, device="cpu"))
    >>> pipe = pipe.fit(X, X.sum(axis=1))
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     session = onnxruntime.InferenceSession(str(pipeline_to_onnx(pipe, f"{folder}/p.onnx")))
    >>> predictions = session.run(["predictions"], {"X": X})[0]
    >>> bool(np.allclose(predictions.ravel(), pipe.predict(X), atol=1e-5))
    True
    """
    _refuse_existing(path, overwrite)
    return _write(pipeline_model(pipeline), path, overwrite)


__all__ = ["network_model", "pipeline_model", "pipeline_to_onnx", "to_onnx"]
