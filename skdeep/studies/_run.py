"""The hyper-parameter studies: one question each, several variants, several seeds, a reading.

The designs live in ``_study_designs`` (their variants in ``_study_variants``), the rules that
read them in ``_study_reading`` and the figure in ``_study_figure``; this module runs a study
and holds what it found.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.multiclass import type_of_target

from ..estimators import CNNClassifier, MLPClassifier
from ..utils.machine import load_average
from ..utils.progress import Progress
from ..utils.reports import markdown_table
from ..utils.tasks import infer_task
from ._designs import STUDIES, Study
from ._reading import MEASURES, Measured, Verdict, mean_std_text, read_study
from ._variants import Variant

__all__ = ["STUDIES", "Study", "StudyResult", "Variant", "run_study"]

WARM_UP_SAMPLES = 256


@dataclass
class StudyResult:
    """What a study found.

    Attributes
    ----------
    study : Study
    frame : DataFrame
        One row per variant: ``<measure>_mean`` and ``<measure>_std`` over the seeds'
        complete runs for every measure of ``runs``, the parameter count, failed runs.
    runs : DataFrame
        One row per variant and seed: status and measures.
    curves : DataFrame
        One row per variant, seed and epoch: the training history.
    gradients : DataFrame
        One row per variant, seed and layer with weights: the first epoch's gradient norm.
    verdicts : list of Verdict
        Each expectation held against the results.
    seeds, max_epochs, n_train, n_test, n_classes : int
    notes : list of str
        The runs that failed, with their errors.
    dataset : str
        The data's name, shown in the figure's title.
    load_average : tuple of float
        The machine's 1-minute load average before and after the runs (NaN where unknown):
        times measured under load are longer and noisier.
    """

    study: Study
    frame: pd.DataFrame
    runs: pd.DataFrame
    curves: pd.DataFrame
    gradients: pd.DataFrame
    verdicts: list[Verdict]
    seeds: int
    max_epochs: int
    n_train: int
    n_test: int
    n_classes: int
    notes: list[str] = field(default_factory=list)
    dataset: str = ""
    load_average: tuple[float, float] = (math.nan, math.nan)

    def table(self) -> pd.DataFrame:
        """The study's columns for a reader: named in words, mean ± std, rounded.

        Returns
        -------
        DataFrame of str
        """
        columns = {}
        for measure in self.study.columns:
            if f"{measure}_mean" not in self.frame:
                continue
            name = MEASURES[measure][0]
            means, stds = self.frame[f"{measure}_mean"], self.frame.get(f"{measure}_std")
            show_std = self.seeds > 1 and measure not in ("n_params",) and stds is not None
            columns[name] = [
                "" if pd.isna(m) else mean_std_text(measure, m, s if show_std else None)
                for m, s in zip(means, stds if stds is not None else means, strict=True)
            ]
        table = pd.DataFrame(columns, index=self.frame.index)
        if self.frame["failed_runs"].any():
            table["failed runs"] = self.frame["failed_runs"].astype(str)
        return table

    def to_markdown(self) -> str:
        """Return :meth:`table` as Markdown."""
        return markdown_table(self.table())

    def plot(self):
        """The study figure (see :func:`skdeep.studies._figure.plot_study`).

        Returns
        -------
        matplotlib.figure.Figure
        """
        from ._figure import plot_study

        return plot_study(self)


def _network_estimator(variant: Variant, study: Study, device: str, max_epochs: int, seed: int):
    params = {
        **study.base,
        **variant.params,
        "device": device,
        "max_epochs": max_epochs,
        "random_state": seed,
    }
    if variant.network == "cnn":
        return CNNClassifier(**params), None
    network = MLPClassifier(**params)
    if study.standardize:
        return make_pipeline(StandardScaler(), network), network
    return network, network


def _history_measures(history: pd.DataFrame) -> dict:
    """The measures a run's history gives: losses, best epoch, time per epoch, memory."""
    measures = {"epochs_run": len(history), "final_train_loss": history["train_loss"].iloc[-1]}
    if "valid_loss" in history and history["valid_loss"].notna().any():
        valid = history["valid_loss"]
        measures.update(
            final_valid_loss=valid.iloc[-1],
            best_valid_loss=valid.min(),
            max_valid_loss=valid.max(),
            best_epoch=int(history["epoch"].iloc[int(np.nanargmin(valid.to_numpy()))]),
        )
    times = history["epoch_time"] if "epoch_time" in history else history["dur"]
    # The first epoch carries one-off costs (allocation, lazy set-up); skip it when there are more.
    measures["epoch_time"] = float(times.iloc[1:].median() if len(times) > 1 else times.iloc[0])
    if "peak_rss_mb" in history:
        measures["peak_memory_mb"] = float(history["peak_rss_mb"].max())
    if "memory_increase_mb" in history:
        measures["memory_increase_mb"] = float(history["memory_increase_mb"].max())
    return measures


def _gradient_rows(history: pd.DataFrame, label: str, seed: int) -> list[dict]:
    first = history.iloc[0]
    layers = [c for c in history.columns if c.startswith("grad_norm_") and pd.notna(first[c])]
    return [
        {
            "variant": label,
            "seed": seed,
            "position": i,
            "layer": c.removeprefix("grad_norm_"),
            "grad_norm": first[c],
        }
        for i, c in enumerate(layers)
    ]


def _check_target(y) -> int:
    if infer_task(y) == "regression":
        raise ValueError(
            "skdeep study trains classifiers, and this target is a regression target (numbers, "
            f"{len(np.unique(y))} distinct values); use `skdeep compare` for regression."
        )
    kind = type_of_target(y)
    if kind not in ("binary", "multiclass"):
        raise ValueError(
            f"skdeep study trains classifiers of one label per sample; this target is {kind}."
        )
    return len(np.unique(y))


def run_study(
    name: str,
    X,
    y,
    *,
    seeds: int = 2,
    max_epochs: int | None = None,
    test_size: float = 0.2,
    device: str = "auto",
    random_state: int = 0,
    progress: str = "auto",
) -> StudyResult:
    """Run the study ``name`` (a key of ``STUDIES``) on ``(X, y)`` and read its results.

    Every variant trains ``seeds`` times (seeds 0, 1, ...) on the same stratified training
    split and is scored on the same held-out test split. Networks keep their defaults except
    for the study's design (``Study.base``) and the variant's parameters. A run that fails (a
    divergent loss, say) is recorded as failed and the study goes on. Before the runs, one
    untimed epoch on a few samples warms up the process, so that the first variant's times do
    not carry the one-off costs.

    Parameters
    ----------
    name : str
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        Class labels; a regression target is refused before anything trains.
    seeds : int, default=2
    max_epochs : int, default=None
        The study's own (``Study.max_epochs``) when None.
    test_size : float, default=0.2
    device : str, default="auto"
    random_state : int, default=0
        Seeds the train/test split.
    progress : {"auto", "bar", "lines", "quiet"}, default="auto"

    Returns
    -------
    StudyResult

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> result = run_study("width", X[:200], y[:200], seeds=1, max_epochs=2, progress="quiet")
    >>> result.frame["n_params_mean"].tolist()[:2]
    [1210.0, 2410.0]
    >>> [verdict.outcome for verdict in result.verdicts][:1]
    ['borne out']
    """
    if name not in STUDIES:
        raise ValueError(f"Unknown study {name!r}; choose among {list(STUDIES)}.")
    if seeds < 1 or (max_epochs is not None and max_epochs < 1):
        raise ValueError("seeds and max_epochs must be at least 1.")
    study = STUDIES[name]
    max_epochs = study.max_epochs if max_epochs is None else max_epochs
    n_classes = _check_target(y)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, random_state=random_state, stratify=y
    )
    n_features = math.prod(np.shape(X)[1:])
    variants = study.variants(n_features, n_classes)
    warm_up, _ = _network_estimator(variants[0], study, device, 1, 0)
    warm_up.fit(X_train[:WARM_UP_SAMPLES], y_train[:WARM_UP_SAMPLES])

    load_before = load_average()
    tracker = Progress(len(variants) * seeds, f"study {name}", mode=progress)
    runs, curves, gradients, notes = [], [], [], []
    for variant in variants:
        for seed in range(seeds):
            estimator, _ = _network_estimator(variant, study, device, max_epochs, seed)
            network = estimator[-1] if hasattr(estimator, "steps") else estimator
            run = {"variant": variant.label, "seed": seed}
            start = time.perf_counter()
            try:
                estimator.fit(X_train, y_train)
            except Exception as error:  # noqa: BLE001 - a failed run is a result of the study
                notes.append(f"{variant.label}, seed {seed}: {type(error).__name__}: {error}")
                runs.append({**run, "status": "failed", "fit_time": time.perf_counter() - start})
                tracker.update(f"{variant.label} seed {seed}: failed")
                continue
            fit_time = time.perf_counter() - start
            history = network.history_frame().reset_index()
            run.update(
                status="complete",
                test_accuracy=estimator.score(X_test, y_test),
                train_accuracy=estimator.score(X_train, y_train),
                fit_time=fit_time,
                n_params=network.count_params(),
                **_history_measures(history),
            )
            run["accuracy_gap"] = run["train_accuracy"] - run["test_accuracy"]
            grads = _gradient_rows(history, variant.label, seed)
            if grads:
                run["first_grad_norm"] = grads[0]["grad_norm"]
                run["grad_ratio"] = grads[0]["grad_norm"] / grads[-1]["grad_norm"]
            runs.append(run)
            gradients += grads
            keep = [
                c
                for c in ("epoch", "train_loss", "valid_loss", "train_acc", "valid_acc", "lr")
                if c in history
            ]
            curves.append(history[keep].assign(variant=variant.label, seed=seed))
            tracker.update(f"{variant.label} seed {seed}: accuracy {run['test_accuracy']:.4f}")
    tracker.close()
    runs_frame = pd.DataFrame(runs)
    frame = summarise(runs_frame, [v.label for v in variants])
    return StudyResult(
        study=study,
        frame=frame,
        runs=runs_frame,
        curves=pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(),
        gradients=pd.DataFrame(gradients),
        verdicts=read_study(study.expectations, Measured(frame, runs_frame, n_classes, max_epochs)),
        seeds=seeds,
        max_epochs=max_epochs,
        n_train=len(y_train),
        n_test=len(y_test),
        n_classes=n_classes,
        notes=notes,
        load_average=(load_before, load_average()),
    )


def summarise(runs: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """Mean and std (ddof=0) over the complete runs of each variant, in ``order``.

    Examples
    --------
    >>> runs = pd.DataFrame({"variant": ["a", "a", "b"], "seed": [0, 1, 0],
    ...                      "status": ["complete", "complete", "failed"],
    ...                      "test_accuracy": [0.8, 0.9, None]})
    >>> summarise(runs, ["a", "b"]).round(3).to_dict("index")["a"]
    {'test_accuracy_mean': 0.85, 'test_accuracy_std': 0.05, 'failed_runs': 0}
    """
    complete = runs[runs["status"] == "complete"]
    measures = [c for c in runs.columns if c not in ("variant", "seed", "status")]
    grouped = complete.groupby("variant")[measures]
    means, stds = grouped.mean(), grouped.std(ddof=0)
    frame = pd.DataFrame(index=pd.Index(order, name="variant"))
    for measure in measures:
        frame[f"{measure}_mean"] = means[measure]
        frame[f"{measure}_std"] = stds[measure]
    failed = runs["status"].ne("complete").groupby(runs["variant"]).sum()
    frame["failed_runs"] = failed.reindex(frame.index).fillna(0).astype(int)
    return frame
