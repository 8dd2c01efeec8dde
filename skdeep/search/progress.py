"""Progress of a search: candidates done out of the total, best score so far, time left."""

from __future__ import annotations

import functools
import math
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

import numpy as np
from joblib import effective_n_jobs

from ..utils.formatting import format_seconds
from ..utils.optional import require
from ..utils.threads import free_workers

MODES = ("auto", "bar", "lines", "quiet")


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be {', '.join(map(repr, MODES))}, got {mode!r}.")


class SearchProgress:
    """Show how far a search is: a tqdm bar on a terminal, one plain line per update elsewhere.

    Use it through :func:`fit_with_progress`, or as an Optuna callback:
    ``study.optimize(objective, n_trials=50, callbacks=[SearchProgress(50)])``.

    Parameters
    ----------
    total : int or None, default=None
        Candidates (or trials) expected; None when only a timeout bounds the search.
    description : str, default="search"
    mode : {"auto", "bar", "lines", "quiet"}, default="auto"
        ``"auto"`` draws a tqdm bar when ``stream`` is a terminal and plain lines otherwise
        (log files, CI, notebooks' captured output).
    stream : file-like, default=sys.stdout
    timeout : float or None, default=None
        Seconds the search may run; bounds the estimated time left.
    greater_is_better : bool, default=True

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> progress = SearchProgress(4, mode="lines", stream=out)
    >>> progress.update(2, best=0.91)
    >>> out.getvalue().split(" (")[0]
    'search: 2/4 candidates, best 0.91'
    """

    def __init__(
        self,
        total: int | None = None,
        description: str = "search",
        mode: str = "auto",
        stream: TextIO | None = None,
        timeout: float | None = None,
        greater_is_better: bool = True,
    ) -> None:
        _check_mode(mode)
        self.total = total
        self.description = description
        self.mode = mode
        self.stream = stream
        self.timeout = timeout
        self.greater_is_better = greater_is_better
        self.done = 0
        self.best: float | None = None
        self._start = time.perf_counter()
        self._bar = None
        self._mode = mode
        out = self._stream()
        if mode == "auto":
            isatty = getattr(out, "isatty", lambda: False)
            self._mode = "bar" if isatty() else "lines"
        if self._mode == "bar":
            try:
                tqdm = require("tqdm").tqdm
            except ImportError:
                self._mode = "lines"
            else:
                self._bar = tqdm(total=total, desc=description, unit="cand", file=out)

    def _stream(self) -> TextIO:
        return sys.stdout if self.stream is None else self.stream

    def seconds_left(self) -> float:
        """Return the estimated seconds left (inf when unknown)."""
        elapsed = time.perf_counter() - self._start
        left = math.inf
        if self.total is not None and self.done:
            left = elapsed / self.done * max(self.total - self.done, 0)
        if self.timeout is not None:
            left = min(left, max(self.timeout - elapsed, 0.0))
        return left

    def set_total(self, total: int) -> None:
        """Change the expected number of candidates, once the search knows it."""
        self.total = total
        if self._bar is not None:
            self._bar.total = total
            self._bar.refresh()

    def update(self, n: int = 1, best: float | None = None) -> None:
        """Count ``n`` more candidates done; ``best`` is the best score so far, if known."""
        self.done += n
        if best is not None and math.isfinite(best):
            if self.best is None or (best > self.best) == self.greater_is_better:
                self.best = best
        if self._bar is not None:
            if self.best is not None:
                self._bar.set_postfix(best=f"{self.best:.4g}", refresh=False)
            self._bar.update(n)
        elif self._mode == "lines":
            total = "?" if self.total is None else self.total
            best_text = "" if self.best is None else f", best {self.best:.4g}"
            elapsed = time.perf_counter() - self._start
            print(
                f"{self.description}: {self.done}/{total} candidates{best_text} "
                f"(elapsed {format_seconds(elapsed)}, ETA {format_seconds(self.seconds_left())})",
                file=self._stream(),
                flush=True,
            )

    def __call__(self, study, trial) -> None:
        """Optuna callback: count a finished trial, and its value when it completed."""
        value = trial.value if trial.state.name == "COMPLETE" else None
        self.update(1, best=value)

    def close(self) -> None:
        """Close the bar, if one is drawn."""
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> SearchProgress:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def _halving_total(search, n_first: int) -> int:
    """Candidates a successive-halving search evaluates, from its first iteration's count."""
    # The same arithmetic as BaseSuccessiveHalving._run_search.
    n_possible = 1 + int(math.log(search.max_resources_ // search.min_resources_, search.factor))
    n_required = 1 + int(math.log(n_first, search.factor))
    n_iterations = n_required if search.aggressive_elimination else min(n_possible, n_required)
    total, n = 0, n_first
    for _ in range(n_iterations):
        total += n
        n = math.ceil(n / search.factor)
    return total


def _best_score(search, results: dict) -> float | None:
    refit = search.refit if isinstance(search.refit, str) else "score"
    key = f"mean_test_{refit}"
    if key not in results:
        key = next((k for k in results if k.startswith("mean_test_")), None)
    if key is None:
        return None
    scores = np.asarray(results[key], dtype=float)
    return float(np.nanmax(scores)) if np.isfinite(scores).any() else None


def _fit_sklearn(search, X, y, progress: SearchProgress, chunk_size: int | None, fit_params):
    chunk = chunk_size or max(1, effective_n_jobs(search.n_jobs))
    original = search._run_search
    halving = hasattr(search, "factor") and hasattr(search, "resource")

    @functools.wraps(original)  # keeps the signature that BaseSearchCV.fit inspects
    def run_search(evaluate_candidates, *args, **kwargs):
        def evaluate_in_chunks(candidate_params, cv=None, more_results=None, callback_ctx=None):
            candidates = list(candidate_params)
            if progress.total is None:
                total = _halving_total(search, len(candidates)) if halving else len(candidates)
                progress.set_total(total)
            elif progress.done + len(candidates) > progress.total:
                progress.set_total(progress.done + len(candidates))
            results = None
            for start in range(0, len(candidates), chunk):
                part = slice(start, start + chunk)
                more = None
                if more_results is not None:
                    more = {key: values[part] for key, values in more_results.items()}
                # scikit-learn's callback context numbers the fits of one call: chunks would
                # repeat the numbers, so they go without it.
                results = evaluate_candidates(candidates[part], cv, more)
                progress.update(len(candidates[part]), best=_best_score(search, results))
            return results

        return original(evaluate_in_chunks, *args, **kwargs)

    # An instance attribute shadows the method for this one fit.
    search._run_search = run_search
    try:
        return search.fit(X, y, **fit_params)
    finally:
        del search._run_search


def fit_with_progress(
    search,
    X,
    y=None,
    *,
    mode: str = "auto",
    stream: TextIO | None = None,
    chunk_size: int | None = None,
    **fit_params,
):
    """Fit ``search`` and show its progress: candidates done / total, best score, ETA.

    For scikit-learn searches (grid, randomized, successive halving, on any joblib backend
    including Dask) the candidates are handed to the workers ``chunk_size`` at a time, so that
    the progress can be counted in this process; the results are the same as ``search.fit``.
    For ``OptunaSearchCV`` a :class:`SearchProgress` is added to its callbacks for the fit.

    Parameters
    ----------
    search : GridSearchCV, RandomizedSearchCV, HalvingGridSearchCV, HalvingRandomSearchCV,
        StackedSearchCV or OptunaSearchCV
    X, y : array-like
    mode : {"auto", "bar", "lines", "quiet"}, default="auto"
        A tqdm bar when ``stream`` is a terminal, plain lines otherwise.
    stream : file-like, default=sys.stdout
    chunk_size : int or None, default=None
        Candidates per chunk; None takes the number of parallel workers. Larger chunks keep the
        workers busier, smaller ones report more often.
    **fit_params
        Passed to ``search.fit``.

    Notes
    -----
    Beside busy processes, a search on joblib's own backends runs with no more workers than
    the cores left free (:func:`skdeep.utils.threads.free_workers`): ``n_jobs=-1`` on 2 cores
    beside one busy process runs one. ``search.n_jobs`` is restored afterwards, and a line
    says so unless ``mode="quiet"``.

    Returns
    -------
    search
        Fitted.

    Examples
    --------
    >>> import io
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skdeep import MLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> search = GridSearchCV(MLPClassifier(max_epochs=1, device="cpu", random_state=0),
    ...                       {"learning_rate": [1e-3, 1e-2]}, cv=2)
    >>> out = io.StringIO()
    >>> _ = fit_with_progress(search, X, y, mode="lines", stream=out)
    >>> [line.split(",")[0] for line in out.getvalue().splitlines()]
    ['search: 1/2 candidates', 'search: 2/2 candidates']
    """
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}.")
    _check_mode(mode)  # before a line on the workers is printed
    from .stacked import StackedSearchCV

    if isinstance(search, StackedSearchCV):
        # It trains stacks, not candidates one by one: it reports each stack as it is scored.
        with SearchProgress(None, "search", mode, stream) as progress:
            search._progress = progress
            try:
                return search.fit(X, y, **fit_params)
            finally:
                del search._progress
    optuna = hasattr(search, "n_trials") and hasattr(search, "enable_pruning")
    if not optuna and not hasattr(search, "_run_search"):
        raise TypeError(
            "fit_with_progress takes a scikit-learn search (GridSearchCV, RandomizedSearchCV, "
            "HalvingGridSearchCV, HalvingRandomSearchCV) or an OptunaSearchCV, got "
            f"{type(search).__name__}."
        )
    with _within_free_cores(search, mode, stream):
        if not optuna:
            with SearchProgress(None, "search", mode, stream) as progress:
                return _fit_sklearn(search, X, y, progress, chunk_size, fit_params)
        progress = SearchProgress(search.n_trials, "search", mode, stream, timeout=search.timeout)
        callbacks = search.callbacks
        search.callbacks = [*(callbacks or []), progress]
        try:
            return search.fit(X, y, **fit_params)
        finally:
            search.callbacks = callbacks
            progress.close()


@contextmanager
def _within_free_cores(search, mode: str, stream: TextIO | None) -> Iterator[None]:
    """Run ``search`` with no more workers than the cores other processes leave free."""
    wanted = getattr(search, "n_jobs", None)
    workers = free_workers(wanted)
    if workers == wanted or workers >= (everyone := effective_n_jobs(wanted)):
        yield
        return
    if mode != "quiet":
        print(
            f"search: n_jobs={wanted} runs {workers} of its {everyone} workers: other "
            "processes keep the other cores busy.",
            file=sys.stdout if stream is None else stream,
            flush=True,
        )
    search.n_jobs = workers
    try:
        yield
    finally:
        search.n_jobs = wanted
