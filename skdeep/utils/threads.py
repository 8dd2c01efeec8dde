"""How many CPU threads torch's operations use during a fit or a predict (``n_threads``).

An int fixes the count. ``"auto"`` decides before the first step and measures when it can:

1. a fit starts at the count a previous fit of a network of the same shape and batch size
   chose in this process (:data:`REMEMBERED`), else at the prior of the machine's state: the
   cores left free by the processes running now (:func:`prior_thread_count`);
2. a fit long enough to pay for it times training steps at each candidate count
   (:class:`ThreadTuner`), keeps the fastest (:func:`choose_count`), remembers it for the
   next fits of that shape, and measures again when the step time drifts.

On an idle machine more threads usually win; beside other work, every thread the OS cannot
give makes the others wait for it at each operation, and one thread can be several times
faster. So the hundreds of short fits of a search or a comparison never run at a count the
machine cannot give, and probe once per shape at most.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import joblib
import torch
from threadpoolctl import threadpool_limits

from .machine import busy_cores

# The clock the tuner reads when none is given; a test replaces it to fake the step times.
CLOCK: Callable[[], float] = time.perf_counter

# Per candidate: steps run after switching to it and not timed (the thread pool is rebuilt),
# then steps timed, whose mean is the candidate's step time. The mean, not the median: beside
# other work, the steps at too many threads are slow now and then (a thread waits for a core),
# and those waits are what the count costs.
WARMUP_STEPS = 1
TIMED_STEPS = 5
# Full steps a fit trains before its first probe: its first steps are slow whatever the count
# (memory first touched, the optimizer's state made), and would make the first candidate look
# slow.
SETTLE_STEPS = 20
# A fit probes early when a fit of at least REFERENCE_EPOCHS epochs of its steps holds this
# many times the steps a probe takes, and probes again only after as many steps: the probing
# stays within about 2 % of the steps of a 20-epoch fit.
STEPS_PER_PROBE_STEP = 50
REFERENCE_EPOCHS = 20
# joblib's backends whose workers run on this machine's cores.
LOCAL_BACKENDS = tuple(
    joblib.parallel.BACKENDS[name] for name in ("loky", "threading", "multiprocessing")
)
# A classical model's first fold must take this long for its second to be timed at 1 thread.
MIN_PROBED_FOLD_SECONDS = 0.5
# Steps timed at the chosen count before comparing their mean with the probe's.
DRIFT_WINDOW = 32
# A mean this many times slower (or faster) than the probe's triggers a new probe.
DRIFT_RATIO = 1.5
# Counts within this factor of the fastest tie with it (:func:`choose_count`): a few percent
# measured in 5 steps are noise on a shared machine.
TIE_RATIO = 1.1


def _env_thread_limit() -> int | None:
    value = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def thread_limit() -> int:
    """Return the most intra-op threads a fit of this process should use.

    The smallest of torch's current count (which reflects ``OMP_NUM_THREADS``, a joblib/loky
    worker's limit, ``threadpoolctl.threadpool_limits`` and ``torch.set_num_threads``), the
    ``OMP_NUM_THREADS`` variable and the CPUs of this process's affinity mask.

    Examples
    --------
    >>> 1 <= thread_limit() <= torch.get_num_threads()
    True
    """
    limits = [torch.get_num_threads()]
    env = _env_thread_limit()
    if env is not None:
        limits.append(env)
    if hasattr(os, "sched_getaffinity"):
        limits.append(len(os.sched_getaffinity(0)))
    return max(1, min(limits))


# The count a finished probe chose, per network shape, batch size and thread limit.
REMEMBERED: dict[tuple, int] = {}


def prior_thread_count(limit: int, busy: float | None = None, cores: int | None = None) -> int:
    """Return the count a fit starts with before any measure: the cores the others leave free.

    Parameters
    ----------
    limit : int
        This process's limit (:func:`thread_limit`).
    busy : float, default=None
        Threads of other work running now; None reads :func:`busy_cores`.
    cores : int, default=None
        The cores this process may run on; None reads its affinity mask.

    Examples
    --------
    >>> [prior_thread_count(2, busy, cores=2) for busy in (0, 1, 2)]
    [2, 1, 1]
    >>> prior_thread_count(8, busy=3, cores=8)
    5
    """
    busy = busy_cores() if busy is None else busy
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    free = int((cores or 1) - round(busy))
    if free >= limit:
        return limit
    return max(1, free)


def free_workers(n_jobs: int | None, busy: float | None = None, cores: int | None = None):
    """Return the workers a joblib call with ``n_jobs`` should start: no more than the cores
    that the processes running now leave free.

    Beside busy processes, ``n_jobs=-1`` (one worker per core) starts workers that wait for a
    core at every step, and the search runs slower than with fewer. Under joblib's own
    backends (loky, threads, processes) the count is capped like :func:`prior_thread_count`;
    under another (Dask, Ray) the workers are not this machine's, and ``n_jobs`` is returned
    as given, as are None (joblib's default, usually 1) and 1.

    Examples
    --------
    >>> free_workers(-1, busy=1, cores=2), free_workers(-1, busy=0, cores=2)
    (1, 2)
    >>> free_workers(None, busy=2, cores=2) is None
    True
    """
    if n_jobs is None or n_jobs == 1:
        return n_jobs
    backend, _ = joblib.parallel.get_active_backend()
    if not isinstance(backend, LOCAL_BACKENDS):
        return n_jobs
    return prior_thread_count(joblib.effective_n_jobs(n_jobs), busy, cores)


def shape_key(module: torch.nn.Module, batch_size: int) -> tuple:
    """What decides a fit's best thread count: its parameter shapes, batch size and limit."""
    shapes = tuple(tuple(p.shape) for p in module.parameters())
    return shapes, batch_size, thread_limit()


def candidate_counts(limit: int) -> list[int]:
    """Return the thread counts ``"auto"`` tries: 1, 2, 4 ... below ``limit``, and ``limit``.

    Examples
    --------
    >>> candidate_counts(1), candidate_counts(2), candidate_counts(6)
    ([1], [1, 2], [1, 2, 4, 6])
    """
    counts = []
    count = 1
    while count < limit:
        counts.append(count)
        count *= 2
    return [*counts, limit]


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the block with ``count`` intra-op threads (None: as they are), then restore them.

    The caller's count is restored also when the block raises.

    Examples
    --------
    >>> before = torch.get_num_threads()
    >>> with torch_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    previous = torch.get_num_threads()
    if count is not None and count != previous:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


class ThreadTuner:
    """Choose the fastest thread count by timing training steps, and re-check it on drift.

    Call :meth:`begin` before a training step and :meth:`end` after it; the tuner sets torch's
    thread count for the coming steps itself. Steps of another batch size than
    ``batch_size`` (an epoch's last, partial batch) are not timed.

    Parameters
    ----------
    candidates : list of int
        Thread counts to try, e.g. from :func:`candidate_counts`.
    batch_size : int
        Samples of a full training batch.
    clock : callable, default=None
        Returns seconds as a float; :data:`CLOCK` (``time.perf_counter``) when None.
    wait_steps : int, default=0
        Full steps to train at the current count before the first probe; the attribute of the
        same name counts down the steps left.

    Attributes
    ----------
    count : int
        The count the next steps run at.
    probes : list of dict
        One per finished probe: ``{count: mean seconds per step}``.
    chosen : int or None
        The count the last finished probe chose (:func:`choose_count`); None before.

    Examples
    --------
    A fake clock under which a step takes 1 s at 1 thread and 3 s at 2:

    >>> now = [0.0]
    >>> def fake_clock():
    ...     now[0] += {1: 1.0, 2: 3.0}[torch.get_num_threads()]
    ...     return now[0]
    >>> tuner = ThreadTuner([1, 2], batch_size=32, clock=fake_clock)
    >>> with torch_threads(None):
    ...     for _ in range(ThreadTuner.probe_steps(2)):
    ...         tuner.end(tuner.begin(), 32)
    >>> tuner.count, tuner.probes
    (1, [{1: 1.0, 2: 3.0}])
    """

    def __init__(
        self,
        candidates: list[int],
        batch_size: int,
        clock: Callable[[], float] | None = None,
        wait_steps: int = 0,
        key: tuple | None = None,
    ) -> None:
        self.key = key
        self.candidates = list(candidates)
        self.batch_size = batch_size
        self.clock = CLOCK if clock is None else clock
        self.probes: list[dict[int, float]] = []
        self._probes_returned = 0
        self.count = torch.get_num_threads()
        self.chosen: int | None = None
        self._probe_times: dict[int, list[float]] = {}
        self._queue: list[int] = []
        self._steps_at_count = 0
        self._reference = 0.0
        self._window: list[float] = []
        self._steps_since_probe = 0
        self.wait_steps = wait_steps
        if wait_steps <= 0:
            self._start_probe()

    @staticmethod
    def probe_steps(n_candidates: int) -> int:
        """Return the full-batch steps one probe of ``n_candidates`` counts takes."""
        return n_candidates * (WARMUP_STEPS + TIMED_STEPS)

    def new_probe(self) -> dict[int, float] | None:
        """Return the last finished probe if it was not returned before, else None."""
        if len(self.probes) == self._probes_returned:
            return None
        self._probes_returned = len(self.probes)
        return dict(self.probes[-1])

    @property
    def probing(self) -> bool:
        """Whether the tuner is timing the candidates now."""
        return bool(self._queue)

    def _start_probe(self) -> None:
        self._queue = list(self.candidates)
        self._probe_times = {count: [] for count in self.candidates}
        self._steps_at_count = 0
        self._set(self._queue[0])

    def _set(self, count: int) -> None:
        self.count = count
        if torch.get_num_threads() != count:
            torch.set_num_threads(count)

    def resume(self) -> None:
        """Set torch's count to the tuner's, when a new call continues the same training."""
        self._set(self.count)

    def begin(self) -> float:
        """Return the clock's time before a step."""
        return self.clock()

    def end(self, start: float, batch_size: int) -> None:
        """Account for a step that began at ``start`` and trained ``batch_size`` samples."""
        if batch_size != self.batch_size:
            return
        if self.wait_steps > 0:
            self.wait_steps -= 1
            if self.wait_steps == 0:
                self._start_probe()
            return
        seconds = self.clock() - start
        self._steps_since_probe += 1
        if self._queue:
            self._probe_step(seconds)
        else:
            self._watch(seconds)

    def _probe_step(self, seconds: float) -> None:
        self._steps_at_count += 1
        if self._steps_at_count <= WARMUP_STEPS:
            return
        count = self._queue[0]
        self._probe_times[count].append(seconds)
        if len(self._probe_times[count]) < TIMED_STEPS:
            return
        self._queue.pop(0)
        self._steps_at_count = 0
        if self._queue:
            self._set(self._queue[0])
            return
        means = {c: statistics.fmean(times) for c, times in self._probe_times.items()}
        self.probes.append(means)
        best = self.chosen = choose_count(means, self.chosen)
        self._reference = means[best]
        self._window = []
        self._steps_since_probe = 0
        if self.key is not None:
            REMEMBERED[self.key] = best
        self._set(best)

    def _watch(self, seconds: float) -> None:
        self._window.append(seconds)
        if len(self._window) < DRIFT_WINDOW:
            return
        mean = statistics.fmean(self._window)
        self._window = []
        gap = STEPS_PER_PROBE_STEP * self.probe_steps(len(self.candidates))
        drifted = mean > DRIFT_RATIO * self._reference or mean * DRIFT_RATIO < self._reference
        if drifted and self._steps_since_probe >= gap:
            self._start_probe()


def choose_count(means: dict[int, float], current: int | None = None) -> int:
    """Return the thread count a probe chooses from each count's mean step time.

    ``current`` (the count a previous probe chose) stays when its time ties with the fastest
    (within :data:`TIE_RATIO`); otherwise the fewest threads that tie win: they leave cores to
    other work, and wait less for a core when a neighbour starts.

    Examples
    --------
    >>> choose_count({1: 0.85, 2: 0.82}), choose_count({1: 9.2, 2: 5.5})  # a tie, then not
    (1, 2)
    >>> choose_count({1: 8.47, 2: 8.57}, current=2), choose_count({1: 8.5, 2: 17.0}, current=2)
    (2, 1)
    """
    fastest = min(means.values())
    if current in means and means[current] <= TIE_RATIO * fastest:
        return current
    return min(count for count, seconds in means.items() if seconds <= TIE_RATIO * fastest)


def describe_probe(probe: dict[int, float], chosen: int) -> str:
    """One line for the verbose log: each count's step time and the count chosen.

    Examples
    --------
    >>> describe_probe({1: 0.00042, 2: 0.00097}, 1)
    "n_threads='auto': steps of 0.42 ms at 1, 0.97 ms at 2 threads; training with 1"
    """
    parts = [f"{seconds * 1e3:.2f} ms at {count}" for count, seconds in probe.items()]
    return f"n_threads='auto': steps of {', '.join(parts)} threads; training with {chosen}"


def make_tuner(
    n_threads,
    device: torch.device,
    batch_size: int,
    steps_per_epoch: int,
    epochs: int,
    previous: ThreadTuner | None = None,
    key: tuple | None = None,
) -> ThreadTuner | None:
    """Return the tuner of an ``n_threads="auto"`` training call, or None when there is none.

    None for an int ``n_threads``, on a GPU (its steps hardly use the CPU threads), when
    this process may use one thread only, or when a fit of the same ``key`` (see
    :func:`shape_key`) already chose and this one is too short to probe. ``previous``, the
    tuner of the same net's last call (``warm_start``, ``partial_fit``), goes on when it
    tunes the same counts. A new tuner probes after :data:`SETTLE_STEPS` steps when
    ``max(epochs, REFERENCE_EPOCHS)`` epochs hold at least :data:`STEPS_PER_PROBE_STEP`
    times the steps of a probe (600 steps for 2 candidates: 30 steps per epoch); otherwise
    (tiny data) it first trains that many steps at the count it started with, over this and
    later calls on the same net, so that a short fit never pays for a probe.
    """
    if n_threads != "auto" or device.type != "cpu":
        return None
    candidates = candidate_counts(thread_limit())
    if len(candidates) < 2:
        return None
    if (
        previous is not None
        and previous.candidates == candidates
        and previous.batch_size == batch_size
    ):
        previous.resume()
        return previous
    threshold = STEPS_PER_PROBE_STEP * ThreadTuner.probe_steps(len(candidates))
    horizon = max(epochs, REFERENCE_EPOCHS) * steps_per_epoch
    if horizon < threshold and key in REMEMBERED:
        return None
    wait = SETTLE_STEPS if horizon >= threshold else threshold
    return ThreadTuner(candidates, batch_size, wait_steps=wait, key=key)


def fit_thread_count(n_threads, key: tuple | None = None) -> int:
    """Return the thread count a fit starts with: ``n_threads``, or for ``"auto"`` the count
    remembered for ``key`` (within the limit now), else :func:`prior_thread_count`.

    Examples
    --------
    >>> fit_thread_count(3)
    3
    """
    if n_threads != "auto":
        return int(n_threads)
    limit = thread_limit()
    if key in REMEMBERED:
        return min(REMEMBERED[key], limit)
    return prior_thread_count(limit)


def predict_thread_count(n_threads, fitted: int | None) -> int | None:
    """Return the threads of a predict: an int ``n_threads`` (set before or after the fit) as
    given; under ``"auto"`` the fit's final count ``fitted``, within this process's limit now
    (a model fitted elsewhere, or predicting in a joblib worker); None keeps the caller's.

    Examples
    --------
    >>> predict_thread_count(3, 1), predict_thread_count("auto", None)
    (3, None)
    """
    if n_threads != "auto":
        return int(n_threads)
    return None if fitted is None else min(fitted, thread_limit())


class FoldThreadChooser:
    """Choose the OpenMP/BLAS threads of a classical model's folds in a comparison by timing.

    The first fold runs at the process's limit; when it took at least
    :data:`MIN_PROBED_FOLD_SECONDS`, the second runs at one thread, and the others at the
    faster of the two. ``threadpoolctl`` sets the count, so it reaches every model whose
    threads are OpenMP's or BLAS's (HistGradientBoosting, k-NN, logistic regression).

    Examples
    --------
    >>> chooser = FoldThreadChooser(limit=2)
    >>> chooser.count()
    2
    >>> chooser.record(2, 3.0)
    >>> chooser.count()
    1
    >>> chooser.record(1, 1.5)
    >>> chooser.count()
    1
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.seconds: dict[int, float] = {}

    def count(self) -> int:
        """Return the count of the next fold."""
        if self.limit == 1 or not self.seconds:
            return self.limit
        if len(self.seconds) == 1:
            return 1 if self.seconds[self.limit] >= MIN_PROBED_FOLD_SECONDS else self.limit
        return min(self.seconds, key=self.seconds.get)

    def record(self, count: int, seconds: float) -> None:
        """Account for a fold run at ``count`` threads in ``seconds`` (NaN when it failed)."""
        if count not in self.seconds and seconds == seconds:
            self.seconds[count] = seconds

    @contextmanager
    def limits(self) -> Iterator[int]:
        """Run the block (one fold) at :meth:`count` threads; yield that count."""
        count = self.count()
        with threadpool_limits(limits=None if count == self.limit else count):
            yield count
