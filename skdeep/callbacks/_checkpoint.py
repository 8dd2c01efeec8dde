"""Checkpoints that are written atomically, belong to one model, and resume a fit."""

from __future__ import annotations

import hashlib
import json
import pickle
import re
import zipfile
from numbers import Integral
from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import Callback

from ..utils.files import atomic_write
from ..utils.reprs import stable_repr
from ._common import ParamsRepr, UsesEstimatorParams, lower_is_better_for, monitored_value
from ._stopping import EarlyStopping

CHECKPOINT_FORMAT = 1

# Parameters that change how long or where a fit runs, not which model it trains: a fit resumed
# with more epochs, on another device or with other callbacks continues the same model.
_RUN_ONLY_PARAMS = frozenset({"max_epochs", "device", "verbose", "callbacks", "warm_start"})


def model_fingerprint(net, estimator_params: dict | None = None) -> dict:
    """What identifies the model a checkpoint belongs to, as plain JSON-able values.

    The module's layers and parameter shapes, the optimizer and criterion, and the estimator's
    hyper-parameters except those that only say how long or where it runs (``max_epochs``,
    ``device``, ``verbose``, ``callbacks``, ``warm_start``).
    """
    fingerprint = {
        "module": repr(net.module_),
        "tensors": {name: list(t.shape) for name, t in net.module_.state_dict().items()},
        "optimizer": type(net.optimizer_).__name__,
        "criterion": repr(net.criterion_),
    }
    if estimator_params is not None:
        fingerprint["estimator"] = {
            name: stable_repr(value)
            for name, value in sorted(estimator_params.items())
            if name not in _RUN_ONLY_PARAMS
        }
    return fingerprint


def _differences(saved: dict, current: dict, prefix: str = "") -> list[str]:
    lines = []
    for key in sorted(set(saved) | set(current)):
        a, b = saved.get(key), current.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            lines += _differences(a, b, f"{prefix}{key}.")
        elif a != b and not prefix and key == "data":
            lines.insert(
                0,
                "the training data (features, targets, sample weights: another data set or "
                "another fold) is not the data the checkpoint was trained on",
            )
        elif a != b:
            lines.append(f"{prefix}{key}: checkpoint {a!r}, this fit {b!r}")
    return lines


_UNREADABLE = (
    pickle.UnpicklingError,
    RuntimeError,
    EOFError,
    ValueError,
    TypeError,
    KeyError,
    AttributeError,
    zipfile.BadZipFile,
    UnicodeDecodeError,
)


def _read_checkpoint(path: Path, device) -> dict:
    """The checkpoint in ``path``, or a ValueError naming the file when it cannot be read."""
    try:
        saved = torch.load(path, map_location=device, weights_only=True)
    except _UNREADABLE as error:
        raise ValueError(
            f"{path} is not a readable checkpoint (damaged, or not written by Checkpoint: "
            f"{type(error).__name__}); delete it, or give this fit another dirname."
        ) from None
    if not isinstance(saved, dict) or not isinstance(saved.get("fingerprint", {}), dict):
        raise ValueError(
            f"{path} is not a checkpoint written by Checkpoint; delete it, or give this fit "
            "another dirname."
        )
    return saved


def atomic_torch_save(obj, path: Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename it over ``path``.

    A crash or kill during the write leaves the previous file intact.
    """
    with atomic_write(path) as file:
        torch.save(obj, file)


def _rng_state(device: torch.device) -> dict:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict, device: torch.device) -> None:
    # torch wants the states as CPU byte tensors, wherever map_location put them.
    torch.set_rng_state(state["cpu"].cpu())
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)


def _epochs_only(history) -> list[dict]:
    # Per-batch records would make each write grow with the whole run (thousands of batches
    # per epoch); the epochs' own columns, train_batch_count included, are what resuming needs.
    return [{**row, "batches": []} for row in history.to_list()]


def _stopping_callbacks(net) -> list[tuple[str, EarlyStopping]]:
    return [(name, cb) for name, cb in net.callbacks_ if isinstance(cb, EarlyStopping)]


class Checkpoint(ParamsRepr, UsesEstimatorParams, Callback):
    """Save the module, optimizer and history during training; resume a fit from them.

    One file, ``dirname/filename``, holds the module and optimizer state dicts, the history
    (without its per-batch records), the random-number state and a fingerprint of the fit:
    its layers, the estimator's hyper-parameters (see :func:`model_fingerprint`) and a digest
    of the training data (features, targets and sample weights, so each fold of a
    cross-validation is a fit of its own). It is
    written to a temporary file in the same directory and renamed over the old one, so a crash
    never leaves a half-written checkpoint.

    Every ``every`` epochs the checkpoint is written; with ``save_best_only`` only when
    ``monitor`` beats the best value saved so far (its direction read from its name, see
    :func:`lower_is_better_for`). The history records ``event_cp`` (saved or not) per epoch.

    With ``resume=True``, a fit whose ``dirname`` holds a checkpoint of the same model restores
    it (weights, optimizer, history, random state) and trains only the epochs left to reach
    ``max_epochs``; on the CPU the result equals an uninterrupted fit. Without a checkpoint the
    fit starts afresh. A checkpoint of a *different* fit (another model, or the same model on
    other data) is never resumed nor overwritten: the fit stops before training with an error
    that lists the differences. An unreadable file is a ValueError that names it.

    Each fit writes its own file: by default its name is a digest of the model's fingerprint and
    of the training data (``checkpoint-<digest>.pt``), so the candidates and the folds of a
    parallel search never write to the same file, and a fit run again on the same data with the
    same parameters finds its own checkpoint.

    A ``filename`` with an ``{epoch}`` field (``"mlp-{epoch:03d}.pt"``, as Keras'
    ``ModelCheckpoint``) keeps one file per saved epoch instead of replacing one file; resuming
    starts from the latest of them. The history's ``event_cp`` column says, epoch by epoch,
    whether a checkpoint was written.

    Parameters
    ----------
    dirname : str or path-like
        Directory of the checkpoint; created if missing.
    every : int >= 1, default=1
        Consider saving every ``every`` epochs.
    monitor : str, default="valid_loss"
        The history column that decides what "best" is when ``save_best_only``.
    save_best_only : bool, default=True
        Save only when ``monitor`` improved; with False, save every ``every`` epochs (the
        choice for resuming an interrupted fit where it stopped).
    resume : bool, default=False
        Resume from a checkpoint of the same model found in ``dirname``.
    filename : str or None, default=None
        Name of the file in ``dirname``; None names it after the model and the data (see
        above). A fixed name is shared by every fit that uses this callback: the first fit
        claims it (an exclusive create, before training), and a fit of another model or on
        other data, in this process or another, then stops with the error above instead of
        overwriting the first one's checkpoint. With an ``{epoch}`` field, a file per saved
        epoch.

    Examples
    --------
    >>> from skdeep import MLPClassifier
    >>> clf = MLPClassifier(max_epochs=20, callbacks=[Checkpoint("runs/mlp", resume=True)])
    >>> clf.fit(X, y)  # doctest: +SKIP
    """

    def __init__(
        self,
        dirname,
        every: int = 1,
        monitor: str = "valid_loss",
        save_best_only: bool = True,
        resume: bool = False,
        filename: str | None = None,
    ) -> None:
        self.dirname = dirname
        self.every = every
        self.monitor = monitor
        self.save_best_only = save_best_only
        self.resume = resume
        self.filename = filename

    @property
    def path(self) -> Path:
        """The checkpoint file (known once the fit has started, when ``filename`` is None).

        With an ``{epoch}`` filename, the file of the latest epoch saved in ``dirname``.
        """
        if self._per_epoch():
            files = self.epoch_files()
            return files[max(files)] if files else self._epoch_path(0)
        if self.filename is not None:
            return Path(self.dirname) / self.filename
        key = json.dumps(self.fingerprint_, sort_keys=True)
        return Path(self.dirname) / f"checkpoint-{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt"

    def _per_epoch(self) -> bool:
        return self.filename is not None and "{epoch" in self.filename

    def _epoch_path(self, epoch: int) -> Path:
        return Path(self.dirname) / self.filename.format(epoch=epoch)

    def epoch_files(self) -> dict[int, Path]:
        """With an ``{epoch}`` filename, the files in ``dirname`` that it names, by epoch.

        Examples
        --------
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> for name in ("mlp-002.pt", "mlp-010.pt", "other-003.pt"):
        ...     _ = (Path(folder) / name).write_bytes(b"")
        >>> sorted(Checkpoint(folder, filename="mlp-{epoch:03d}.pt").epoch_files())
        [2, 10]
        """
        start = self.filename.index("{epoch")
        end = self.filename.index("}", start) + 1
        prefix, suffix = self.filename[:start], self.filename[end:]
        pattern = re.compile(re.escape(prefix) + r"(\d+)" + re.escape(suffix))
        folder = Path(self.dirname)
        matches = (pattern.fullmatch(p.name) for p in folder.iterdir()) if folder.is_dir() else ()
        return {int(m.group(1)): folder / m.group(0) for m in matches if m}

    def initialize(self):
        if not (isinstance(self.every, Integral) and self.every >= 1):
            raise ValueError(f"Checkpoint needs every >= 1, got {self.every!r}.")
        if self.filename is not None and "{" in self.filename:
            try:
                valid = self._per_epoch() and self.filename.format(epoch=1) != self.filename
            except (KeyError, IndexError, ValueError):
                valid = False
            if not valid:
                raise ValueError(
                    f"Checkpoint's filename {self.filename!r} may hold one field, {{epoch}} "
                    "(for instance 'mlp-{epoch:03d}.pt'), and no other braces."
                )
        self.prepared_ = False
        self.best_ = None
        return self

    def restore(self, net, data_digest: str | None = None) -> None:
        """Check ``dirname`` before training; with ``resume``, load its checkpoint into ``net``.

        Called once, when the net is built (skdeep's estimators do it before choosing how many
        epochs are left, with the digest of the training data) or else at the start of training.
        """
        if self.prepared_:
            return
        self.prepared_ = True
        self.fingerprint_ = model_fingerprint(net, self.estimator_params_)
        if data_digest is not None:
            self.fingerprint_["data"] = data_digest
        if not self.path.exists() and not self._claimed():
            return
        saved = _read_checkpoint(self.path, net.device)
        if (
            not isinstance(saved.get("format", 0), int)
            or saved.get("format", 0) > CHECKPOINT_FORMAT
        ):
            raise ValueError(
                f"{self.path} was written by a newer skdeep (checkpoint format "
                f"{saved['format']}, this one reads up to {CHECKPOINT_FORMAT}); upgrade skdeep."
            )
        differences = _differences(saved.get("fingerprint", {}), self.fingerprint_)
        if differences:
            raise ValueError(
                f"{self.path} holds a checkpoint of a different model, which this fit would "
                f"{'resume' if self.resume else 'overwrite'}: "
                + "; ".join(differences[:5])
                + (f" (and {len(differences) - 5} more)" if len(differences) > 5 else "")
                + ". Give this fit another dirname (or filename), or delete that file."
            )
        if not self.resume or "module" not in saved:  # a claim: no epoch saved yet
            return
        try:
            net.module_.load_state_dict(saved["module"])
            net.optimizer_.load_state_dict(saved["optimizer"])
            net.history = type(net.history)(json.loads(saved["history"]))
            _set_rng_state(saved["rng"], torch.device(net.device))
        except _UNREADABLE as error:
            raise ValueError(
                f"{self.path} holds a damaged checkpoint ({type(error).__name__}: {error}); "
                "delete it, or give this fit another dirname."
            ) from None
        self.best_ = saved["best"]
        for name, callback in _stopping_callbacks(net):
            if name in saved.get("early_stopping", {}):
                callback.resume(saved["early_stopping"][name], net)

    def _claimed(self) -> bool:
        """Claim a fixed ``filename`` for this model before training; False if it is claimed.

        A claim is a checkpoint without weights, created exclusively: of several fits that
        share one name, the first claims it and the others find its fingerprint and stop
        before training (or share it, when they train the same model on the same data).
        Default names need no claim: they differ whenever the models or the data do.
        """
        if self.filename is None or self._per_epoch():
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        claim = {"format": CHECKPOINT_FORMAT, "fingerprint": self.fingerprint_, "history": "[]"}
        try:
            with atomic_write(self.path, overwrite=False) as file:
                torch.save(claim, file)
        except FileExistsError:
            return True
        return False

    def on_train_begin(self, net, **kwargs) -> None:
        self.restore(net)

    def on_epoch_end(self, net, **kwargs) -> None:
        epoch = net.history[-1]["epoch"]
        save = epoch % self.every == 0
        if save and self.save_best_only:
            value = monitored_value(net, self.monitor, "Checkpoint")
            lower = lower_is_better_for(self.monitor)
            save = self.best_ is None or (value < self.best_ if lower else value > self.best_)
            if save:
                self.best_ = float(value)
        net.history.record("event_cp", bool(save))
        if save:
            self.save(net)

    def save(self, net) -> None:
        """Write the checkpoint of ``net`` now."""
        path = self._epoch_path(net.history[-1]["epoch"]) if self._per_epoch() else self.path
        path.parent.mkdir(parents=True, exist_ok=True)
        checkpoint = {
            "format": CHECKPOINT_FORMAT,
            "fingerprint": self.fingerprint_,
            "module": net.module_.state_dict(),
            "optimizer": net.optimizer_.state_dict(),
            "history": json.dumps(_epochs_only(net.history)),
            "rng": _rng_state(torch.device(net.device)),
            "best": self.best_,
            "early_stopping": {
                name: callback.state()
                for name, callback in _stopping_callbacks(net)
                if hasattr(callback, "counted_epoch_")
            },
        }
        atomic_torch_save(checkpoint, path)


def data_digest(*arrays) -> str:
    """A digest of the bytes of ``arrays`` (numpy arrays), to tell training sets apart.

    Examples
    --------
    >>> import numpy as np
    >>> data_digest(np.zeros(3)) == data_digest(np.zeros(3)) != data_digest(np.ones(3))
    True
    """
    digest = hashlib.blake2b(digest_size=16)
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.view(np.uint8).reshape(-1) if array.size else b"")
    return digest.hexdigest()


def restore_checkpoints(net, data: tuple = ()):
    """Let each :class:`Checkpoint` of ``net`` check its directory and resume; return ``net``.

    ``data`` are the training arrays (features, targets, sample weights or None), whose digest
    enters each checkpoint's fingerprint and default name: a checkpoint resumes only a fit on
    the same data. After
    a resume, :func:`stopped_early` says whether the restored epochs had already stopped the fit.
    """
    checkpoints = [cb for _, cb in net.callbacks_ if isinstance(cb, Checkpoint)]
    digest = (
        data_digest(*(array for array in data if array is not None))
        if checkpoints and data
        else None
    )
    for callback in checkpoints:
        callback.restore(net, digest)
    return net


def stopped_early(net) -> bool:
    """Whether an early-stopping callback of ``net`` has run out of patience (after a resume).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> stopped_early(SimpleNamespace(callbacks_=[("early_stopping", EarlyStopping())]))
    False
    """
    return any(callback.stopped_ for _, callback in _stopping_callbacks(net))
