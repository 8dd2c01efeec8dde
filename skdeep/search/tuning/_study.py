"""Where a ``skdeep tune`` run lives: its output folder, and the Optuna study it adds to."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import warnings
from pathlib import Path

from ...utils.optional import require
from ..objective import open_study

CONFIG_FILE = "tune.json"
STUDY_FILE = "study.db"

# Two tables every Optuna RDB storage has; a SQLite file with tables but not these belongs to
# another application.
OPTUNA_TABLES = frozenset({"studies", "version_info"})
# The pip package of each database driver SQLAlchemy may ask for; skdeep's extra, if any.
DRIVER_PACKAGES = {
    "psycopg": ("psycopg[binary]", "postgres"),
    "psycopg2": ("psycopg2-binary", None),
    "pymysql": ("PyMySQL", None),
    "MySQLdb": ("mysqlclient", None),
}


def check_storage(url: str, option: str = "--storage") -> None:
    """Refuse a storage that cannot hold an Optuna study, before anything is written.

    A SQLite file that exists must be a SQLite database and, if it has tables, Optuna's; a
    server URL needs its driver installed. Raises ValueError or ImportError naming ``option``.
    """
    sqlalchemy = require("sqlalchemy")
    parsed = sqlalchemy.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and Path(database).exists():
            _check_sqlite_file(Path(database), option)
        return
    try:
        parsed.get_dialect().import_dbapi()
    except sqlalchemy.exc.NoSuchModuleError:
        raise ValueError(
            f"{option} {safe_url(url)}: SQLAlchemy knows no database {parsed.drivername!r}."
        ) from None
    except ImportError as error:
        module = getattr(error, "name", None) or parsed.get_driver_name()
        package, extra = DRIVER_PACKAGES.get(module.split(".")[0], (module, None))
        how = f"pip install '{package}'"
        if extra is not None:
            how = f"pip install 'skdeep[{extra}]' (or {how})"
        raise ImportError(
            f"{option} {safe_url(url)} needs the database driver {module!r}, which is not "
            f"installed: {how}."
        ) from None


def _check_sqlite_file(path: Path, option: str) -> None:
    if path.is_dir():
        raise ValueError(f"{option} {path} is a folder, not a SQLite file.")
    try:
        # Read-only: a file that is not a database is left exactly as it is.
        uri = f"{path.resolve().as_uri()}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as connection:
            tables = {
                row[0]
                for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
    except sqlite3.DatabaseError as error:
        raise ValueError(
            f"{option} {path} is not a readable SQLite database ({error}); move it away or "
            "give another --storage."
        ) from None
    if tables and not OPTUNA_TABLES <= tables:
        raise ValueError(
            f"{option} {path} is a SQLite database of another application (tables "
            f"{', '.join(sorted(tables)[:5])}), not an Optuna storage; give another --storage."
        )


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


@contextlib.contextmanager
def undone_on_error(out: Path, created: bool | None):
    """Undo :func:`prepare_out` of a new run (``created``: whether it made ``out``) on an error.

    A folder whose study could not be opened must not pass for a tune run; ``created`` None
    (a resumed run) undoes nothing.
    """
    try:
        yield
    except BaseException:
        if created is not None:
            (out / CONFIG_FILE).unlink(missing_ok=True)
            if created and out.is_dir() and not any(out.iterdir()):
                out.rmdir()
        raise


def open_tune_study(
    name: str, url: str, config: dict, start, random_state: int, worker: int | None = None
):
    """Open (or create) the study, check it was made for ``config``, enqueue the first trials.

    ``start`` is the model's :class:`~skdeep.search.tuning._spaces.Start` on the data: its first
    trials and the pruner's warm-up. A first trial that the study already holds is not
    enqueued again. Each ``worker`` process of a run seeds its sampler differently.
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
            seed=random_state + len(study.trials) + 1000 * (worker or 0),
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
