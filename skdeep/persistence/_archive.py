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

import inspect
import io
import json
import os
import warnings
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from sklearn.utils.validation import check_is_fitted

from .._version import __version__
from ..utils.device import resolve_device, seeded
from ..utils.files import atomic_write
from ._typed_json import NotEncodable, decode, encode
from ._untrusted_file import (
    UNREADABLE,
    Refused,
    estimator_class,
    fitted_state,
    is_saveable,
    read_member,
    read_states,
)

if TYPE_CHECKING:
    from ..core import BaseNetwork

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
_MANIFEST_LIMIT = 256 * 2**20  # bytes of skdeep.json: ample for a history of 10^5 epochs


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
            stored[name] = encode(value)
        except NotEncodable:
            stored[name] = encode(defaults.get(name))
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
            fitted[name] = encode(getattr(estimator, name))
        except NotEncodable as error:
            raise TypeError(
                f"Cannot save {type(estimator).__name__}: its fitted attribute {name} holds "
                f"{error}, which a pickle-free file cannot store; use pickle or joblib instead."
            ) from None
    return fitted


def _history_records(history) -> list:
    try:
        return encode(list(history))
    except NotEncodable as error:
        raise TypeError(
            f"Cannot save the training history: a callback recorded {error} in it, which a "
            "pickle-free file cannot store; record numbers or strings instead."
        ) from None


def save(estimator: BaseNetwork, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write a fitted skdeep estimator to one zip file that :func:`load` reads back.

    The file is written next to ``path`` under a temporary name and renamed into place, so
    ``path`` never holds a half-written model; without ``overwrite``, an existing file there,
    even one another process creates during the write, is never replaced
    (``FileExistsError``). Parameters that JSON cannot hold (skorch
    ``callbacks`` objects) are stored as their defaults, with a warning.

    Parameters
    ----------
    estimator : MLPClassifier, MLPRegressor or CNNClassifier
        A fitted estimator.
    path : str or path-like
        The file to write; ``.skdeep`` is a good suffix.
    overwrite : bool, default=False
        Replace an existing file at ``path``.

    Returns
    -------
    pathlib.Path
        The model file.

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

    if not is_saveable(estimator):
        raise TypeError(
            "save writes skdeep's MLPClassifier, MLPRegressor and CNNClassifier, got a "
            f"{type(estimator).__name__}; save other estimators and pipelines with joblib.dump."
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


# -- loading ---------------------------------------------------------------------------------


def _read_manifest(archive: zipfile.ZipFile, path: Path) -> dict:

    if _MANIFEST not in archive.namelist():
        raise ValueError(f"{path} is not a model file written by skdeep's save.")
    try:
        manifest = json.loads(read_member(archive, _MANIFEST, _MANIFEST_LIMIT))
        version = int(manifest["format_version"])
    except Refused:
        raise
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


def _new_estimator(cls: type[BaseNetwork], stored_params: Any) -> BaseNetwork:
    if not isinstance(stored_params, dict):
        raise Refused("its parameters are not a mapping")
    params = decode(stored_params)
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
    estimator = cls(**{name: value for name, value in params.items() if name in known})
    try:
        estimator._validate_params()
        estimator._check_architecture()
    except (ValueError, TypeError) as error:
        raise Refused(f"its parameters are invalid: {error}") from None
    return estimator


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

    The file is not trusted. Before anything is imported, set or allocated, ``load`` checks
    that it names one of skdeep's saveable estimators, that its parameters pass the class's
    ``_parameter_constraints``, that it sets only the fitted attributes the class has (each
    of the right kind), and that the network its parameters describe fits the weights it
    holds; members are read only up to the size the network needs.

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
    FileNotFoundError
        When ``path`` does not exist (``IsADirectoryError`` when it is a folder).
    ValueError
        When ``path`` is not a readable skdeep model file (damaged, edited, forged, or not a
        model at all: the message names the file and what is wrong), or comes from a newer,
        incompatible format version.

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
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file; give the path of a file written by save.")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder, not a model file written by skdeep's save.")
    try:
        return _load(path, device)
    except Refused as error:
        raise ValueError(f"{path} cannot be loaded: {error}.") from None
    except UNREADABLE as error:
        if isinstance(error, ValueError) and str(path) in str(error):
            raise
        raise ValueError(
            f"{path} is not a readable skdeep model file: it is damaged or was edited "
            f"({type(error).__name__}: {error})."
        ) from None


def _load(path: Path, device: str | None) -> BaseNetwork:
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a model file written by skdeep's save.")
    with zipfile.ZipFile(path) as archive:
        manifest = _read_manifest(archive, path)
        cls = estimator_class(manifest["estimator"])
        estimator = _new_estimator(cls, manifest["params"])
        for name, value in fitted_state(cls, manifest["fitted"]).items():
            setattr(estimator, name, value)
        states = read_states(archive, estimator, _STATE_FILES)
    history = decode(manifest["history"])
    if not isinstance(history, list) or not all(isinstance(row, dict) for row in history):
        raise Refused("its history is not a list of epochs")
    torch_device = _load_device(estimator, device)
    with seeded(getattr(estimator, "_seed", 0), torch_device):
        net = estimator._build_net(torch_device)
    try:
        net.load_params(**states)
    except UNREADABLE as error:
        raise ValueError(
            f"The weights in {path} do not fit the network its parameters describe; the file "
            f"is damaged or was edited. ({error})"
        ) from None
    # The history class the net chose (skdeep's may be a faster History subclass).
    net.history = type(net.history)(history)
    estimator.net_ = net
    estimator.history_ = net.history
    return estimator


__all__ = ["FORMAT_VERSION", "load", "save"]
