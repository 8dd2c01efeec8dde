"""Saving and loading fitted estimators without pickle: torch state dicts plus JSON.

A saved model is one zip file holding

- ``skdeep.json``: the format version, the skdeep version that wrote it, the estimator's class,
  its parameters, its fitted attributes (``classes_``, ``n_features_in_``, ``input_shape_`` ...)
  and its training history;
- ``module.pt``, ``optimizer.pt``, ``criterion.pt``: the state dicts of the skorch net, written
  by skorch's ``save_params`` (``torch.save``) and read back by ``load_params`` with
  ``torch.load(weights_only=True)``, mapped onto the device the model is loaded on.

Nothing in the file is unpickled, so loading a file runs no code from it.
"""

from __future__ import annotations

import importlib
import inspect
import io
import json
import math
import os
import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from ._base import BaseNetwork, resolve_device, seeded
from ._files import atomic_write

FORMAT_VERSION = 1
"""Version of the file layout; :func:`load` refuses files from a newer one."""

_MANIFEST = "skdeep.json"
_STATE_FILES = {
    "f_params": "module.pt",
    "f_optimizer": "optimizer.pt",
    "f_criterion": "criterion.pt",
}
# Fitted state that is not a public ``*_`` attribute but is needed to continue training
# exactly where the saved fit stopped.
_PRIVATE_FITTED = ("_seed",)
_NOT_JSON = ("net_", "history_")


class _NotEncodable(TypeError):
    pass


# -- typed JSON: tuples, arrays with their dtype, non-string dict keys survive the round trip --


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else {"__float__": repr(float(value))}
    if isinstance(value, np.generic):
        return _encode(value.item())
    if isinstance(value, torch.Tensor):
        return _encode(value.detach().cpu().numpy())
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufUO":
            raise _NotEncodable(f"an array of dtype {value.dtype}")
        dtype = "object" if value.dtype.kind == "O" else value.dtype.str
        return {
            "__ndarray__": [_encode(v) for v in value.ravel().tolist()],
            "dtype": dtype,
            "shape": list(value.shape),
        }
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in value):
            return {k: _encode(v) for k, v in value.items()}
        return {"__dict__": [[_encode(k), _encode(v)] for k, v in value.items()]}
    if isinstance(value, np.random.RandomState):
        return {"__random_state__": _encode(value.get_state())}
    raise _NotEncodable(f"a {type(value).__name__}")


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__float__" in value:
        return float(value["__float__"])
    if "__tuple__" in value:
        return tuple(_decode(v) for v in value["__tuple__"])
    if "__ndarray__" in value:
        items = [_decode(v) for v in value["__ndarray__"]]
        array = np.empty(len(items), dtype=object)
        array[:] = items
        return array.astype(np.dtype(value["dtype"])).reshape(value["shape"])
    if "__dict__" in value:
        return {_hashable(_decode(k)): _decode(v) for k, v in value["__dict__"]}
    if "__random_state__" in value:
        random_state = np.random.RandomState()
        random_state.set_state(_decode(value["__random_state__"]))
        return random_state
    return {k: _decode(v) for k, v in value.items()}


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


# -- saving ---------------------------------------------------------------------------------


def _storable_params(estimator: BaseNetwork) -> dict:
    """The parameters as JSON; those that JSON cannot hold are stored as their default."""
    defaults = {
        name: p.default
        for name, p in inspect.signature(type(estimator).__init__).parameters.items()
    }
    stored, dropped = {}, []
    for name, value in estimator.get_params(deep=False).items():
        try:
            stored[name] = _encode(value)
        except _NotEncodable:
            stored[name] = _encode(defaults.get(name))
            dropped.append(name)
    if dropped:
        warnings.warn(
            f"Parameters {dropped} of {type(estimator).__name__} hold Python objects that a "
            "pickle-free file cannot store; they are saved as their defaults "
            f"({', '.join(f'{n}={defaults.get(n)!r}' for n in dropped)}). The loaded model "
            "predicts the same; set them again with set_params before training it further.",
            UserWarning,
            stacklevel=3,
        )
    return stored


def _fitted_attributes(estimator: BaseNetwork) -> dict:
    names = [
        name
        for name in vars(estimator)
        if name.endswith("_") and not name.startswith("_") and name not in _NOT_JSON
    ]
    names += [name for name in _PRIVATE_FITTED if hasattr(estimator, name)]
    fitted = {}
    for name in names:
        try:
            fitted[name] = _encode(getattr(estimator, name))
        except _NotEncodable as error:
            raise TypeError(
                f"Cannot save {type(estimator).__name__}: its fitted attribute {name} holds "
                f"{error}, which a pickle-free file cannot store; use pickle or joblib instead."
            ) from None
    return fitted


def _history_records(history) -> list:
    try:
        return _encode(list(history))
    except _NotEncodable as error:
        raise TypeError(
            f"Cannot save the training history: a callback recorded {error} in it, which a "
            "pickle-free file cannot store; record numbers or strings instead."
        ) from None


def save(estimator: BaseNetwork, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write a fitted skdeep estimator to one zip file that :func:`load` reads back.

    The file is written next to ``path`` under a temporary name and renamed into place, so
    ``path`` never holds a half-written model. Parameters that JSON cannot hold (skorch
    ``callbacks`` objects) are stored as their defaults, with a warning.

    Parameters
    ----------
    estimator : MLPClassifier, MLPRegressor or CNNClassifier
        A fitted estimator.
    path : str or path-like
        The file to write; ``.skdeep`` is a good suffix.
    overwrite : bool, default=False
        Replace ``path`` when it exists; otherwise an existing ``path`` raises
        ``FileExistsError``.

    Returns
    -------
    pathlib.Path
        The path written.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from skdeep import MLPClassifier, load
    >>> X, y = np.random.RandomState(0).rand(20, 3), np.arange(20) % 2
    >>> clf = MLPClassifier(max_epochs=2, device="cpu", random_state=0).fit(X, y)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = save(clf, f"{folder}/model.skdeep")
    ...     restored = load(path)
    >>> bool((restored.predict_proba(X) == clf.predict_proba(X)).all())
    True
    """
    from . import __version__

    if not isinstance(estimator, BaseNetwork):
        raise TypeError(
            f"save writes skdeep estimators, got a {type(estimator).__name__}; save a pipeline "
            "with joblib.dump."
        )
    check_is_fitted(estimator)
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(
            f"{path} exists; pass overwrite=True to replace it, or choose another path."
        )
    manifest = {
        "format_version": FORMAT_VERSION,
        "skdeep_version": __version__,
        "torch_version": torch.__version__,
        "estimator": {"module": type(estimator).__module__, "name": type(estimator).__name__},
        "params": _storable_params(estimator),
        "fitted": _fitted_attributes(estimator),
        "history": _history_records(estimator.net_.history),
    }
    states = {key: io.BytesIO() for key in _STATE_FILES}
    estimator.net_.save_params(**states)

    with atomic_write(path, overwrite=overwrite) as file:
        with zipfile.ZipFile(file, "w") as archive:
            archive.writestr(_MANIFEST, json.dumps(manifest, allow_nan=False))
            for key, member in _STATE_FILES.items():
                archive.writestr(member, states[key].getvalue())
    return path


# -- loading --------------------------------------------------------------------------------


def _read_manifest(archive: zipfile.ZipFile, path: Path) -> dict:
    from . import __version__

    try:
        manifest = json.loads(archive.read(_MANIFEST))
        version = int(manifest["format_version"])
    except (KeyError, ValueError, TypeError):
        raise ValueError(f"{path} is not a model file written by skdeep's save.") from None
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{path} was written by skdeep {manifest.get('skdeep_version', '?')} in save format "
            f"{version}, but this skdeep ({__version__}) reads formats up to {FORMAT_VERSION}; "
            "upgrade skdeep (pip install -U skdeep) to load it."
        )
    missing = [key for key in ("estimator", "params", "fitted", "history") if key not in manifest]
    if missing:
        raise ValueError(f"{path} is incomplete: its {_MANIFEST} lacks {missing}.")
    return manifest


def _estimator_class(spec: dict) -> type[BaseNetwork]:
    module_name, name = spec.get("module", ""), spec.get("name", "")
    # Only skdeep's own classes: a file never decides which code gets imported.
    if module_name == "skdeep" or module_name.startswith("skdeep."):
        try:
            cls = getattr(importlib.import_module(module_name), name)
        except (ImportError, AttributeError):
            cls = None
        if isinstance(cls, type) and issubclass(cls, BaseNetwork):
            return cls
    raise ValueError(
        f"The file holds a {module_name}.{name}, which is not an estimator this skdeep knows."
    )


def _new_estimator(cls: type[BaseNetwork], stored_params: dict) -> BaseNetwork:
    params = _decode(stored_params)
    known = cls().get_params(deep=False)
    unknown = sorted(set(params) - set(known))
    if unknown:
        # Written by another skdeep version whose estimator had these parameters.
        warnings.warn(
            f"The saved {cls.__name__} has parameters {unknown} that this skdeep's "
            f"{cls.__name__} does not know; they are ignored.",
            UserWarning,
            stacklevel=3,
        )
    return cls(**{name: value for name, value in params.items() if name in known})


def _load_device(estimator: BaseNetwork, device: str | None) -> torch.device:
    if device is not None:
        estimator.set_params(device=device)
        return resolve_device(device)
    try:
        return resolve_device(estimator.device)
    except ValueError as error:
        warnings.warn(
            f"The model was saved with device={estimator.device!r}, which this machine cannot "
            f"use ({error}); it is loaded on the CPU and its device parameter set to 'cpu'.",
            UserWarning,
            stacklevel=3,
        )
        estimator.set_params(device="cpu")
        return torch.device("cpu")


def load(path: str | os.PathLike, *, device: str | None = None) -> BaseNetwork:
    """Read back an estimator written by :meth:`~skdeep.MLPClassifier.save`.

    The estimator is rebuilt from its parameters exactly as ``fit`` builds it, then its
    weights, optimizer state and history are restored: it predicts as the saved one did, and
    ``partial_fit`` or a ``warm_start`` fit continue its training.

    Parameters
    ----------
    path : str or path-like
        A file written by ``save``.
    device : str or None, default=None
        Where to put the model, overriding its saved ``device`` parameter. None keeps the saved
        parameter, except that a model saved on CUDA loads on the CPU (with a warning) on a
        machine without CUDA.

    Returns
    -------
    MLPClassifier, MLPRegressor or CNNClassifier
        The fitted estimator.

    Raises
    ------
    ValueError
        When ``path`` is not a skdeep model file, or comes from a newer, incompatible format
        version.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from skdeep import MLPRegressor
    >>> X = np.random.RandomState(0).rand(20, 2)
    >>> reg = MLPRegressor(max_epochs=2, device="cpu").fit(X, X.sum(axis=1))
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     restored = load(reg.save(f"{folder}/model.skdeep"))
    >>> bool((restored.predict(X) == reg.predict(X)).all())
    True
    """
    path = Path(path)
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a model file written by skdeep's save.")
    with zipfile.ZipFile(path) as archive:
        manifest = _read_manifest(archive, path)
        try:
            states = {key: io.BytesIO(archive.read(name)) for key, name in _STATE_FILES.items()}
        except KeyError as error:
            raise ValueError(f"{path} is incomplete: {error.args[0]}") from None

    estimator = _new_estimator(_estimator_class(manifest["estimator"]), manifest["params"])
    torch_device = _load_device(estimator, device)
    for name, value in _decode(manifest["fitted"]).items():
        setattr(estimator, name, value)
    with seeded(getattr(estimator, "_seed", 0), torch_device):
        net = estimator._build_net(torch_device)
    try:
        net.load_params(**states)
    except (RuntimeError, pickle.UnpicklingError) as error:
        raise ValueError(
            f"The weights in {path} do not fit the network its parameters describe; the file "
            f"is damaged or was edited. ({error})"
        ) from None
    # The history class the net chose (skdeep's may be a faster History subclass).
    net.history = type(net.history)(_decode(manifest["history"]))
    estimator.net_ = net
    estimator.history_ = net.history
    return estimator


__all__ = ["FORMAT_VERSION", "load", "save"]
