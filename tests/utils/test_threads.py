"""The thread policy (``n_threads``): counts set, restored and chosen by timing."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from joblib import Parallel, delayed, parallel_config, register_parallel_backend
from joblib.parallel import ParallelBackendBase
from sklearn.model_selection import GridSearchCV
from skorch.callbacks import Callback
from threadpoolctl import threadpool_limits

import skdeep.utils.machine as machine
import skdeep.utils.threads as threads
from skdeep import CNNClassifier, MLPClassifier, MLPRegressor
from skdeep.search import StackedSearchCV
from skdeep.utils.threads import ThreadTuner, candidate_counts, make_tuner, thread_limit


@pytest.fixture
def two_threads(monkeypatch):
    """The caller runs 2 torch threads (the test session's default is 1) on an idle machine."""
    monkeypatch.setattr(threads, "busy_cores", lambda samples=5: 0.0)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(400, 6)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(int)


class RecordThreads(Callback):
    """Record torch's thread count at every training batch; optionally fail at an epoch."""

    def __init__(self, fail_at_epoch=None):
        self.fail_at_epoch = fail_at_epoch

    def initialize(self):
        self.seen_ = []
        return self

    def on_batch_begin(self, net, training=False, **kwargs):
        if training:
            self.seen_.append(torch.get_num_threads())

    def on_epoch_end(self, net, **kwargs):
        if self.fail_at_epoch == len(net.history):
            raise RuntimeError("failing on purpose")


def _recorded(estimator) -> list[int]:
    return dict(estimator.net_.callbacks_)["RecordThreads"].seen_


def fake_clock(step_seconds: dict[int, float]):
    """A clock under which a training step lasts ``step_seconds[torch's thread count]``."""
    now = [0.0]

    def clock() -> float:
        now[0] += step_seconds[torch.get_num_threads()]
        return now[0]

    return clock


# -- counts set and restored -----------------------------------------------------------------


def test_an_int_is_honoured_in_fit_and_restored_after(two_threads, data):
    X, y = data
    clf = MLPClassifier(max_epochs=2, n_threads=1, callbacks=[RecordThreads()], random_state=0)
    clf.fit(X, y)
    assert set(_recorded(clf)) == {1}
    assert [row["n_threads"] for row in clf.history_] == [1, 1]
    assert clf.n_threads_ == 1
    assert torch.get_num_threads() == 2


def test_predict_runs_at_the_fixed_count_and_restores_the_callers(two_threads, data, monkeypatch):
    X, y = data
    clf = MLPClassifier(max_epochs=1, n_threads=1, random_state=0).fit(X, y)
    seen = []
    forward = clf.net_.module_.forward
    monkeypatch.setattr(
        clf.net_.module_, "forward", lambda x: seen.append(torch.get_num_threads()) or forward(x)
    )
    clf.predict(X)
    clf.set_params(n_threads=2).predict_proba(X)
    assert seen == [1, 2]
    assert torch.get_num_threads() == 2


def test_the_callers_count_is_restored_when_the_fit_raises(two_threads, data):
    X, y = data
    clf = MLPClassifier(max_epochs=3, n_threads=1, callbacks=[RecordThreads(fail_at_epoch=2)])
    with pytest.raises(RuntimeError, match="failing on purpose"):
        clf.fit(X, y)
    assert torch.get_num_threads() == 2


def test_the_callers_count_is_restored_when_predict_raises(two_threads, data):
    X, y = data
    clf = MLPClassifier(max_epochs=1, n_threads=1).fit(X, y)
    clf.net_.module_.forward = lambda x: 1 / 0
    with pytest.raises(ZeroDivisionError):
        clf.predict(X)
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("value", [0, -1, "fast", 1.5, True])
def test_a_bad_n_threads_is_refused_before_training(value, data):
    with pytest.raises(ValueError, match="n_threads"):
        MLPRegressor(max_epochs=1, n_threads=value).fit(*data)


# -- the limit -----------------------------------------------------------------------------


def test_the_limit_follows_torch_omp_num_threads_and_threadpoolctl(two_threads, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    expected = min(2, len(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else 2
    assert thread_limit() == expected
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert thread_limit() == 1
    monkeypatch.delenv("OMP_NUM_THREADS")
    with threadpool_limits(1, user_api="openmp"):
        assert thread_limit() == 1
    torch.set_num_threads(1)
    assert thread_limit() == 1


def test_auto_stays_within_a_threadpoolctl_limit(two_threads, data):
    X, y = data
    clf = MLPClassifier(max_epochs=8, batch_size=8, validation_fraction=0.0, random_state=0)
    with threadpool_limits(1, user_api="openmp"):
        clf.set_params(callbacks=[RecordThreads()]).fit(X, y)
    assert set(_recorded(clf)) == {1}
    assert "thread_probe" not in clf.history_[0]  # one candidate: nothing to probe


def _fit_in_worker(X, y):
    clf = MLPClassifier(max_epochs=8, batch_size=8, validation_fraction=0.0, random_state=0)
    clf.set_params(callbacks=[RecordThreads()]).fit(X, y)
    return torch.get_num_threads(), _recorded(clf), clf.n_threads_


def test_auto_honours_a_joblib_workers_limit(data):
    X, y = data
    results = Parallel(n_jobs=2, backend="loky")(delayed(_fit_in_worker)(X, y) for _ in range(2))
    cores = os.cpu_count()
    for worker_limit, seen, final in results:
        # loky gives each of 2 workers cores // 2 threads; a fit never goes above it.
        assert worker_limit == max(1, cores // 2)
        assert max(seen) <= worker_limit and final <= worker_limit


def _threads_of_fit(estimator, X, y):
    return max(row["n_threads"] for row in estimator.history_)


def test_grid_search_workers_never_run_more_threads_than_cores(data):
    X, y = data
    search = GridSearchCV(
        MLPClassifier(max_epochs=8, batch_size=8, validation_fraction=0.0, random_state=0),
        {"learning_rate": [1e-3, 1e-2]},
        cv=2,
        n_jobs=2,
        scoring=_threads_of_fit,
    ).fit(X, y)
    per_fit = np.concatenate([search.cv_results_[f"split{i}_test_score"] for i in range(2)])
    assert 2 * per_fit.max() <= os.cpu_count()


# -- choosing by timing --------------------------------------------------------------------


@pytest.mark.parametrize(("step_seconds", "chosen"), [({1: 1.0, 2: 3.0}, 1), ({1: 3.0, 2: 1.0}, 2)])
def test_auto_chooses_the_count_the_clock_finds_faster(
    two_threads, data, monkeypatch, capsys, step_seconds, chosen
):
    X, y = data
    monkeypatch.setattr(threads, "thread_limit", lambda: 2)
    monkeypatch.setattr(threads, "CLOCK", fake_clock(step_seconds))
    clf = MLPClassifier(
        max_epochs=8,
        batch_size=8,
        validation_fraction=0.0,
        callbacks=[RecordThreads()],
        random_state=0,
        verbose=1,
    ).fit(X, y)
    # 400 samples, batch 8: 50 steps per epoch; 20 epochs hold 1000 steps, 50 x the probe's 12.
    # The probe follows the first 20 steps, at the limit.
    seen = _recorded(clf)
    assert seen[:32] == [2] * 20 + [1] * 6 + [2] * 6
    assert set(seen[32:]) == {chosen}
    assert clf.history_[0]["thread_probe"] == step_seconds
    assert all("thread_probe" not in row for row in clf.history_[1:])
    assert [row["n_threads"] for row in clf.history_] == [chosen] * 8
    assert clf.n_threads_ == chosen
    assert torch.get_num_threads() == 2
    assert (
        f"steps of {step_seconds[1] * 1e3:.2f} ms at 1, {step_seconds[2] * 1e3:.2f} ms at 2 "
        f"threads; training with {chosen}" in capsys.readouterr().out
    )


def test_a_fit_too_short_to_pay_for_the_probe_trains_at_the_limit(two_threads, data, monkeypatch):
    X, y = data
    monkeypatch.setattr(threads, "REFERENCE_EPOCHS", 1)  # count only the fit's own epochs
    monkeypatch.setattr(threads, "thread_limit", lambda: 2)
    monkeypatch.setattr(threads, "CLOCK", fake_clock({1: 1.0, 2: 3.0}))
    # 7 epochs of 50 steps: 350 < 600 planned steps.
    clf = MLPClassifier(max_epochs=7, batch_size=8, validation_fraction=0.0).fit(X, y)
    assert [row["n_threads"] for row in clf.history_] == [2] * 7
    assert all("thread_probe" not in row for row in clf.history_)


def test_short_calls_on_one_net_probe_once_they_have_trained_enough(two_threads, data, monkeypatch):
    X, y = data
    monkeypatch.setattr(threads, "REFERENCE_EPOCHS", 1)  # count only the fit's own epochs
    monkeypatch.setattr(threads, "thread_limit", lambda: 2)
    monkeypatch.setattr(threads, "CLOCK", fake_clock({1: 1.0, 2: 3.0}))
    clf = MLPClassifier(
        max_epochs=1,
        batch_size=8,
        validation_fraction=0.0,
        warm_start=True,
        callbacks=[RecordThreads()],
    )
    for _ in range(14):  # 14 calls of one epoch, 50 steps each
        clf.fit(X, y)
        assert torch.get_num_threads() == 2
    counts = [row["n_threads"] for row in clf.history_]
    # 600 steps (12 epochs) at the limit; the probe starts after the last step of epoch 12
    # (its first candidate, 1, is set then) and ends in epoch 13, choosing 1.
    assert counts == [2] * 11 + [1, 1, 1]
    assert [i for i, row in enumerate(clf.history_) if "thread_probe" in row] == [12]
    assert clf.n_threads_ == 1


def test_one_epoch_of_enough_steps_probes_at_once(two_threads, data, monkeypatch):
    X, y = data
    monkeypatch.setattr(threads, "thread_limit", lambda: 2)
    monkeypatch.setattr(threads, "CLOCK", fake_clock({1: 3.0, 2: 1.0}))
    # 50 steps per epoch: 20 epochs would hold 1000 steps, enough for a probe of 12.
    clf = MLPClassifier(max_epochs=1, batch_size=8, validation_fraction=0.0).fit(X, y)
    assert clf.history_[0]["thread_probe"] == {1: 3.0, 2: 1.0}
    assert clf.n_threads_ == 2


def test_make_tuner_only_for_auto_on_a_cpu_with_a_choice(two_threads, monkeypatch):
    monkeypatch.setattr(threads, "thread_limit", lambda: 4)
    cpu = torch.device("cpu")
    # A probe of 3 candidates takes 18 steps: it pays in 20 epochs of 45 steps, 900; then it
    # starts once the fit's first steps are trained, else after 900 steps.
    assert make_tuner("auto", cpu, 32, 45, 1).candidates == [1, 2, 4]
    assert make_tuner("auto", cpu, 32, 45, 1).wait_steps == threads.SETTLE_STEPS
    assert make_tuner("auto", cpu, 32, 30, 30).wait_steps == threads.SETTLE_STEPS
    assert make_tuner("auto", cpu, 32, 44, 20).wait_steps == 900
    assert make_tuner(2, cpu, 32, 100, 100) is None
    assert make_tuner("auto", torch.device("cuda"), 32, 100, 100) is None
    monkeypatch.setattr(threads, "thread_limit", lambda: 1)
    assert make_tuner("auto", cpu, 32, 100, 100) is None
    assert candidate_counts(8) == [1, 2, 4, 8]


def _probe_once(tuner: ThreadTuner) -> None:
    for _ in range(ThreadTuner.probe_steps(len(tuner.candidates))):
        tuner.end(tuner.begin(), 32)


def test_the_tuner_probes_again_when_the_step_time_drifts(two_threads):
    costs = {1: 1.0, 2: 3.0}
    tuner = ThreadTuner([1, 2], batch_size=32, clock=fake_clock(costs))
    probe = ThreadTuner.probe_steps(2)
    _probe_once(tuner)
    assert (tuner.count, tuner.probes) == (1, [{1: 1.0, 2: 3.0}])
    costs[1] = 9.0  # other work starts: one thread became 9x slower, two threads 3x
    # No new probe before 50 probes' worth of steps since the last one, however slow the steps.
    for _ in range(50 * probe - 1):
        tuner.end(tuner.begin(), 32)
        tuner.end(tuner.begin(), 5)  # partial batches are not timed
    assert len(tuner.probes) == 1 and tuner.count == 1
    for _ in range(32):  # the next drift window ends past the gap
        tuner.end(tuner.begin(), 32)
        if tuner.probing:
            break
    assert tuner.probing
    _probe_once(tuner)
    assert tuner.probes[-1] == {1: 9.0, 2: 3.0}
    assert tuner.count == 2 and torch.get_num_threads() == 2


def test_a_tie_goes_to_fewer_threads_then_to_the_count_already_chosen(two_threads):
    costs = {1: 1.05, 2: 1.0}  # 2 threads 5 % faster: a tie
    tuner = ThreadTuner([1, 2], batch_size=32, clock=fake_clock(costs))
    _probe_once(tuner)
    assert (tuner.count, tuner.chosen) == (1, 1)
    costs.update({1: 2.0, 2: 1.0})  # 2 threads clearly faster: they win
    tuner._start_probe()
    _probe_once(tuner)
    assert tuner.count == 2
    costs.update({1: 0.95, 2: 1.0})  # a tie again: the count already chosen stays
    tuner._start_probe()
    _probe_once(tuner)
    assert tuner.probes[-1] == pytest.approx({1: 0.95, 2: 1.0})
    assert tuner.count == 2 and torch.get_num_threads() == 2


def test_a_steady_step_time_is_not_probed_again(two_threads):
    tuner = ThreadTuner([1, 2], batch_size=4, clock=fake_clock({1: 1.0, 2: 2.0}))
    for _ in range(5000):
        tuner.end(tuner.begin(), 4)
    assert len(tuner.probes) == 1 and not tuner.probing


def test_an_mlp_with_a_fixed_count_is_repeatable(two_threads, data):
    X, y = data
    fits = [MLPClassifier(max_epochs=3, n_threads=2, random_state=0).fit(X, y) for _ in range(2)]
    np.testing.assert_array_equal(fits[0].predict_proba(X), fits[1].predict_proba(X))


def test_a_cnn_with_a_fixed_count_is_repeatable(two_threads):
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(64, 1, 12, 12)).astype(np.float32)
    y = rng.randint(0, 3, 64)
    fits = [CNNClassifier(max_epochs=2, n_threads=2, random_state=0).fit(X, y) for _ in range(2)]
    np.testing.assert_array_equal(fits[0].predict_proba(X), fits[1].predict_proba(X))


# -- StackedSearchCV ---------------------------------------------------------------------------


def _stack_threads(estimator, X, y):
    """Scores a stacked member by its thread counts: each epoch's, and the count it ended with."""
    counts = {row["n_threads"] for row in estimator.history_}
    return 10 * estimator.n_threads_ + (counts.pop() if len(counts) == 1 else 0)


def _stack_threads_and_probe(estimator, X, y):
    probes = [row["thread_probe"] for row in estimator.history_ if "thread_probe" in row]
    return {
        "threads": _stack_threads(estimator, X, y),
        "probe": float(probes == [{1: 1.0, 2: 3.0}]),
    }


@pytest.mark.parametrize("n_threads", [1, 2])
def test_stacked_search_trains_at_an_int_n_threads_and_restores_the_callers(n_threads, data):
    X, y = data
    torch.set_num_threads(3 - n_threads)
    try:
        base = MLPClassifier(max_epochs=2, batch_size=16, n_threads=n_threads, random_state=0)
        search = StackedSearchCV(
            base, {"learning_rate": [1e-3, 1e-2]}, cv=2, scoring=_stack_threads, refit=False
        ).fit(X, y)
        assert torch.get_num_threads() == 3 - n_threads
    finally:
        torch.set_num_threads(1)
    assert set(search.cv_results_["split0_test_score"]) == {11 * n_threads}


def test_stacked_search_auto_chooses_the_faster_count(two_threads, data, monkeypatch):
    X, y = data
    monkeypatch.setattr(threads, "thread_limit", lambda: 2)
    monkeypatch.setattr(threads, "CLOCK", fake_clock({1: 1.0, 2: 3.0}))
    # 200 rows per fold, batch 4: 50 steps per epoch, enough to probe at once.
    base = MLPClassifier(max_epochs=3, batch_size=4, validation_fraction=0.0, random_state=0)
    search = StackedSearchCV(
        base,
        {"learning_rate": [1e-3, 1e-2]},
        cv=2,
        scoring=_stack_threads_and_probe,
        refit=False,
    ).fit(X, y)
    assert torch.get_num_threads() == 2
    for split in range(2):
        assert set(search.cv_results_[f"split{split}_test_threads"]) == {11}
        assert set(search.cv_results_[f"split{split}_test_probe"]) == {1.0}


# -- deciding before the first step ------------------------------------------------------------


def test_beside_busy_processes_a_short_fit_starts_at_the_free_cores(data, monkeypatch):
    X, y = data
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        monkeypatch.setattr(threads, "thread_limit", lambda: 2)
        monkeypatch.setattr(threads, "busy_cores", lambda samples=5: 2.0)  # 2 processes spin
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
        clf = MLPClassifier(max_epochs=2, batch_size=64, callbacks=[RecordThreads()]).fit(X, y)
        assert set(_recorded(clf)) == {1}
        monkeypatch.setattr(threads, "busy_cores", lambda samples=5: 0.0)  # they stopped
        clf = MLPClassifier(max_epochs=2, batch_size=64, callbacks=[RecordThreads()]).fit(X, y)
        assert set(_recorded(clf)) == {2}
        assert torch.get_num_threads() == 2  # the caller's count, restored
    finally:
        torch.set_num_threads(before)


def test_a_probed_count_is_reused_by_fits_of_the_same_shape_only(two_threads, data, monkeypatch):
    X, y = data
    monkeypatch.setattr(threads, "thread_limit", lambda: 2)
    monkeypatch.setattr(threads, "CLOCK", fake_clock({1: 1.0, 2: 3.0}))
    long = MLPClassifier(max_epochs=8, batch_size=8, validation_fraction=0.0, random_state=0)
    long.fit(X, y)  # long enough to probe: 1 thread is faster
    assert long.history_[0]["thread_probe"] == {1: 1.0, 2: 3.0}
    # Fits too short to probe (200 rows: 25 steps an epoch, 500 in 20 epochs).
    short = dict(max_epochs=1, batch_size=8, validation_fraction=0.0, callbacks=[RecordThreads()])
    same = MLPClassifier(**short).fit(X[:200], y[:200])
    assert set(_recorded(same)) == {1}  # from the first step, without a probe
    assert "thread_probe" not in same.history_[0]
    other = MLPClassifier(hidden_layer_sizes=(7,), **short).fit(X[:200], y[:200])
    assert set(_recorded(other)) == {2}  # another shape: the prior of an idle machine


class _RemoteBackend(ParallelBackendBase):
    """A backend whose workers are not this machine's (as Dask's or Ray's)."""

    def effective_n_jobs(self, n_jobs):
        return 16


def test_free_workers_caps_local_backends_and_leaves_remote_ones(monkeypatch):
    monkeypatch.setattr(threads, "busy_cores", lambda samples=5: 3.0)
    assert threads.free_workers(-1, cores=4) == 1
    assert threads.free_workers(8, cores=4) == 1
    with parallel_config(backend="threading"):
        assert threads.free_workers(2, cores=8) == 2
    register_parallel_backend("remote-for-test", _RemoteBackend)
    with parallel_config(backend="remote-for-test"):
        assert threads.free_workers(-1, cores=4) == -1


def test_this_processs_own_spinning_threads_are_not_other_work(tmp_path, monkeypatch):
    # 3 threads run on the machine; 2 of them are this process's (one an OpenMP thread still
    # spinning after an operation), so one thread of other work runs.
    stat = tmp_path / "stat"
    stat.write_text("cpu  1 2 3\nprocs_running 3\nprocs_blocked 0\n")
    tasks = tmp_path / "task"
    for tid, state in [(10, "R"), (11, "R"), (12, "S")]:
        (tasks / str(tid)).mkdir(parents=True)
        (tasks / str(tid) / "stat").write_text(f"{tid} (python (worker)) {state} 1 2 3\n")
    monkeypatch.setattr(machine, "_PROC_STAT", str(stat))
    monkeypatch.setattr(machine, "_PROC_TASKS", str(tasks))
    assert machine.own_running_threads() == 2
    assert machine.busy_cores() == 1.0
    assert threads.prior_thread_count(2, cores=2) == 1
    stat.write_text("procs_running 2\n")  # only this process's threads run
    assert threads.prior_thread_count(2, cores=2) == 2
