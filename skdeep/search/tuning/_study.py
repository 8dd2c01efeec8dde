"""Where a ``skdeep tune`` run lives: its output folder, and the Optuna study it adds to."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from ...utils.optional import require
from ..objective import open_study

CONFIG_FILE = "tune.json"
STUDY_FILE = "study.db"


def prepare_out(out: Path, config: dict) -> bool:
    """Create ``out`` or reopen the tune run it holds; return whether it is resumed.

    A tune folder is resumed, never replaced; any other folder must be empty or missing (the
    root, the home and the current folder are refused, as for every skdeep report).
    """
    from ...utils.files import check_output_dir

    marker = out / CONFIG_FILE
    if out.is_dir() and marker.exists():
        previous = json.loads(marker.read_text())
        if previous != config:
            raise ValueError(
                f"{out} holds a tune run of {previous}, not of {config}; choose another --out."
            )
        return True
    out = check_output_dir(out, force=False)
    out.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(config, indent=2))
    return False


def open_tune_study(name: str, url: str, config: dict, start, random_state: int):
    """Open (or create) the study, check it was made for ``config``, enqueue the first trials.

    ``start`` is the model's :class:`~skdeep.search.tuning._spaces.Start` on the data: its first
    trials and the pruner's warm-up. A first trial that the study already holds is not
    enqueued again.
    """
    optuna = require("optuna")
    # Each trial has its own line from the watch; Optuna's would repeat it. A trial's error
    # ends the run and is reported by it (Ctrl-C included), without Optuna's traceback.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study = open_study(
            name,
            url,
            pruner=optuna.pruners.MedianPruner(
                n_startup_trials=2, n_warmup_steps=start.warmup_epochs
            ),
            heartbeat_interval=10,
        )
        # Seeded by the trials already there: a resumed study draws new points, not the
        # ones its first run drew.
        study.sampler = optuna.samplers.TPESampler(
            n_startup_trials=4,
            multivariate=True,
            group=True,
            seed=random_state + len(study.trials),
        )
    if study.user_attrs.get("tune", config) != config:
        raise ValueError(
            f"The study {name!r} in {url} was made for {study.user_attrs['tune']}, not "
            f"{config}; give another --storage."
        )
    study.set_user_attr("tune", config)
    for params in start.first_trials:
        study.enqueue_trial(dict(params), skip_if_exists=True)
    return study


def safe_url(url: str) -> str:
    """The storage URL with its password hidden, for the report."""
    sqlalchemy = require("sqlalchemy")
    return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
