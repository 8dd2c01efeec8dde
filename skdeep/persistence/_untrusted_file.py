"""Checks of a model file that is not trusted, made before anything is imported, set or allocated.

Which class the file names (looked up in a fixed table), which fitted attributes it sets (only
those the class declares, each of the right kind), and how large its members and the network
its parameters describe are (computed on torch's meta device). :func:`skdeep.load` turns
every :class:`Refused` into a ValueError that names the file.
"""

from __future__ import annotations

import importlib
import io
import json
import math
import pickle
import zipfile
import zlib
from numbers import Integral
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ._typed_json import decode

if TYPE_CHECKING:
    from ..core import BaseNetwork

SMALL_MEMBER_LIMIT = 2**20  # criterion.pt, and what a state dict adds to its tensors

# The estimators that save writes and load reads back, by where they are defined; the class is
# imported from here, never from a name the file chose.
_ESTIMATORS_MODULE = "skdeep.estimators"

# Errors that reading a damaged or forged file raises, in zipfile, zlib, json, torch or numpy.
UNREADABLE = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    OSError,
    UnicodeDecodeError,
    json.JSONDecodeError,
    pickle.UnpicklingError,
    RuntimeError,
    KeyError,
    IndexError,
    TypeError,
    ValueError,
    AttributeError,
    OverflowError,
    NotImplementedError,
)


class Refused(ValueError):
    """A reason to refuse the file, completed with its path by :func:`load`."""


def _count(value, low: int = 0) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool) and value >= low


# The fixed weights of a piecewise-linear encoding hold n_features x (most edges - 1) values,
# twice; load computes them on the CPU from the file's edges, so they are bounded.
MAX_ENCODING_VALUES = 2**24


def _check_bins(bins, n_features) -> str | None:
    """Why ``bins`` cannot be an MLP's ``embedding_bins_``, or None when they can."""
    if not isinstance(bins, list) or not _count(n_features, 1) or len(bins) != n_features:
        return f"it is not a list of n_features_in_={n_features} arrays of edges"
    for j, edges in enumerate(bins):
        if not (isinstance(edges, np.ndarray) and edges.dtype == np.float32 and edges.ndim == 1):
            return f"the edges of feature {j} are not a 1-D float32 array"
        if len(edges) < 2 or not np.isfinite(edges).all() or not (np.diff(edges) > 0).all():
            return f"the edges of feature {j} are not two or more increasing finite values"
    if n_features * max(len(edges) for edges in bins) > MAX_ENCODING_VALUES:
        return f"its encoding would hold more than {MAX_ENCODING_VALUES} values"
    return None


def _check_fitted_value(name: str, value, fitted: dict) -> None:
    n_features = fitted.get("n_features_in_")
    if name in ("n_features_in_", "n_outputs_", "n_threads_"):
        ok = _count(value, 1)
    elif name == "out_activation_":
        ok = value in ("softmax", "logistic")
    elif name == "n_iter_":
        ok = _count(value)
    elif name == "diverged_":
        ok = isinstance(value, bool)
    elif name == "_seed":
        ok = _count(value) and value < 2**32
    elif name == "classes_":
        ok = (
            isinstance(value, np.ndarray)
            and value.ndim == 1
            and len(value) >= 2
            # As fit sets it: unique and sorted, since predictions index it by position (an
            # edited order would relabel them).
            and np.array_equal(np.unique(value), value)
        )
    elif name == "feature_names_in_":
        ok = isinstance(value, np.ndarray) and value.shape == (n_features,)
    elif name == "embedding_bins_":
        why = _check_bins(value, n_features)
        if why is not None:
            raise Refused(f"its fitted attribute embedding_bins_ is not valid: {why}")
        ok = True
    else:  # input_shape_
        ok = (
            isinstance(value, tuple)
            and len(value) == 3
            and all(_count(v, 1) for v in value)
            and n_features in (math.prod(value), value[0], value[1])
        )
    if not ok:
        raise Refused(f"its fitted attribute {name} is not valid ({value!r:.80})")


_COMMON_FITTED = (
    "n_features_in_",
    "feature_names_in_",
    "n_iter_",
    "_seed",
    "n_threads_",
    "diverged_",
)
# The fitted state each class has, and the attributes that must be present.
_FITTED: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "MLPClassifier": (
        (*_COMMON_FITTED, "classes_", "out_activation_", "embedding_bins_"),
        ("n_features_in_", "classes_"),
    ),
    "MLPRegressor": (
        (*_COMMON_FITTED, "n_outputs_", "embedding_bins_"),
        ("n_features_in_", "n_outputs_"),
    ),
    "CNNClassifier": (
        (*_COMMON_FITTED, "classes_", "out_activation_", "input_shape_"),
        ("n_features_in_", "classes_", "input_shape_"),
    ),
}


def is_saveable(estimator) -> bool:
    """Whether ``estimator`` is one of the estimators that :func:`load` can read back."""
    cls = type(estimator)
    return cls.__module__ == _ESTIMATORS_MODULE and cls.__name__ in _FITTED


def fitted_state(cls: type[BaseNetwork], stored: Any) -> dict:
    """The fitted attributes of the file, only those ``cls`` declares, each checked."""
    if not isinstance(stored, dict):
        raise Refused("its fitted section is not a mapping")
    declared, required = _FITTED[cls.__name__]
    undeclared = sorted(set(stored) - set(declared))
    if undeclared:
        raise Refused(f"it sets attributes {undeclared} that {cls.__name__} does not have")
    missing = [name for name in required if name not in stored]
    if missing:
        raise Refused(f"it lacks the fitted attributes {missing}")
    fitted = {name: decode(value) for name, value in stored.items()}
    for name, value in fitted.items():
        _check_fitted_value(name, value, fitted)
    return fitted


def read_member(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """Read one member, refusing (without reading further) one that exceeds ``limit`` bytes."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise Refused(f"it is incomplete: it has no {name}") from None
    if info.file_size > limit:
        raise Refused(f"its {name} holds {info.file_size} bytes, more than {limit} expected")
    with archive.open(info) as member:
        data = member.read(limit + 1)  # to the end, so that zipfile checks its CRC
    if len(data) > limit:
        raise Refused(f"its {name} holds more than the {limit} bytes expected")
    return data


def estimator_class(spec: Any) -> type[BaseNetwork]:
    """The class the file names, if it is one of the estimators that ``save`` writes.

    Looked up in a fixed table: the file never decides what gets imported.
    """
    if isinstance(spec, dict):
        module_name, name = spec.get("module"), spec.get("name")
        if module_name == _ESTIMATORS_MODULE and name in _FITTED:
            return getattr(importlib.import_module(_ESTIMATORS_MODULE), name)
    else:
        module_name, name = "?", spec
    raise ValueError(
        f"The file holds a {module_name}.{name}, which is not an estimator this skdeep knows."
    )


def _state_bytes(estimator: BaseNetwork) -> int:
    """Bytes of the network's state dict, computed on the meta device: nothing is allocated."""
    with torch.device("meta"):
        module = estimator._build_module(estimator._n_outputs())
    return sum(t.numel() * t.element_size() for t in module.state_dict().values())


def read_states(archive: zipfile.ZipFile, estimator: BaseNetwork, members: dict) -> dict:
    """The state-dict members, bounded by what the network the parameters describe needs."""
    needed = _state_bytes(estimator)
    weights = (
        archive.getinfo(members["f_params"])
        if members["f_params"] in (archive.namelist())
        else None
    )
    if weights is not None and weights.file_size < needed:
        raise Refused(
            f"its parameters describe a network of {needed} bytes of weights, but its "
            f"{weights.filename} holds only {weights.file_size} bytes"
        )
    # torch.save adds a little to the tensors; an optimizer keeps up to 3 tensors per weight.
    limits = {
        "f_params": needed + needed // 10 + SMALL_MEMBER_LIMIT,
        "f_optimizer": 3 * (needed + needed // 10) + SMALL_MEMBER_LIMIT,
        "f_criterion": SMALL_MEMBER_LIMIT,
    }
    return {
        key: io.BytesIO(read_member(archive, name, limits[key])) for key, name in members.items()
    }


__all__ = [
    "UNREADABLE",
    "Refused",
    "estimator_class",
    "fitted_state",
    "is_saveable",
    "read_member",
    "read_states",
]
