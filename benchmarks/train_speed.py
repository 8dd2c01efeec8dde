"""Training speed side by side in one process: a hand-written PyTorch loop, skdeep, skorch, sklearn.

Runs on MNIST (or a stand-in built from scikit-learn's digits when MNIST is absent), with the
same seed for everyone:

- ``mlp_b32`` / ``mlp_b256``: MLP 784-128-10, Adam 1e-3, batch 32 / 256;
- ``lenet_b128``: LeNet-5 (skdeep's ``CNNClassifier(padding="valid")``), Adam 1e-3, batch 128.

Contenders (one epoch each in turn, the order rotating every epoch, so that all of them see the
same machine load):

- ``hand``: the reference, an idiomatic hand-written loop over pre-loaded tensors (``X[idx]``,
  ``torch.optim.Adam`` with its default implementation, mean cross-entropy);
- ``hand_tuned``: the same loop with ``index_select``, ``Adam(fused=True)`` stepped and its
  gradients reset without the Python around torch's kernels (``skdeep.core._direct_step``), and
  denormal floats flushed to zero, which is what skdeep does inside; the gap between it and
  ``skdeep`` is the cost of the wrapper;
- ``skdeep``: the estimator, with ``n_threads="auto"``; ``skdeep_1``: with ``n_threads=1``;
  ``skdeep_default``: with ``n_threads`` fixed at torch's default count (what ``hand`` uses);
- ``skorch``: ``skorch.NeuralNetClassifier`` with its defaults (DataLoader, callbacks), Adam 1e-3,
  shuffled batches (skorch's default does not shuffle), no validation split, no printing;
- ``sklearn``: ``sklearn.neural_network.MLPClassifier`` (CPU only, MLP only), ``alpha=0``.

Each model is built from the same module class (``skdeep.modules.MLP`` / ``CNN``, plain torch
modules) and every torch contender starts from the same weights, so only the training
machinery and the shuffling differ. Recorded per contender: seconds per epoch (median over the
epochs after the first, a warm-up, and the best of them), the ratio to ``hand``, test accuracy
after the same epochs, peak RSS (of the whole process, while that contender ran) and peak CUDA
memory, and predict throughput (best of 7 calls); for skdeep also ``module(X)`` under
``torch.inference_mode`` on the same fitted module, the raw inference its ``predict`` is
compared with. skdeep's and skorch's epochs are timed from their
``on_epoch_begin`` to their ``on_epoch_end`` (a callback), so the per-``fit``-call set-up of the
epoch-by-epoch driving here (input validation) is reported apart, as ``call_overhead_s``;
sklearn's times are whole ``fit`` calls (``warm_start``, one iteration each) and include it.

Usage::

    python benchmarks/train_speed.py --quick             # under a minute on 2 idle cores
    python benchmarks/train_speed.py --epochs 5 --out results.json
    python benchmarks/train_speed.py --device cuda
    python benchmarks/train_speed.py --busy 2 --subset 20000 --epochs 3   # beside 2 busy processes

``--busy N`` starts N CPU-bound helper processes for the whole run (each stops by itself
after ``--busy-seconds``, or as soon as this process is gone) and stops them at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import Callback

from skdeep import CNNClassifier, MLPClassifier
from skdeep.core._direct_step import step, zero_grads
from skdeep.datasets import get_data_home, load_mnist
from skdeep.modules import CNN, MLP
from skdeep.utils.denormals import flushed_denormals
from skdeep.utils.threads import torch_threads

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {
    "mlp_b32": {"model": "mlp", "batch_size": 32},
    "mlp_b256": {"model": "mlp", "batch_size": 256},
    "lenet_b128": {"model": "lenet", "batch_size": 128},
}
CONTENDERS = ("hand", "hand_tuned", "skdeep", "skdeep_1", "skdeep_default", "skorch", "sklearn")
SKDEEP_THREADS = {
    "skdeep": "auto",
    "skdeep_1": 1,
    "skdeep_default": torch.get_num_threads(),
}
TARGETS = {"mlp_b32": 0.80, "mlp_b256": 0.90, "lenet_b128": 1.00}
PREDICT_TARGET = 1.10
ACCURACY_POINTS = 0.3
LEARNING_RATE = 1e-3


# -- measuring --------------------------------------------------------------------------------


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM) of this process; False where impossible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_rss_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _raw_inference(name: str, state, model: str, X_test: np.ndarray, device: torch.device):
    """For skdeep, ``module(X)`` in the batches its predict uses, at the count predict uses."""
    if name not in SKDEEP_THREADS:
        return None
    estimator = state.estimator
    module = estimator.net_.module_.eval()
    shape = (-1, 784) if model == "mlp" else (-1, 1, 28, 28)
    X_t = torch.from_numpy(X_test).reshape(shape).to(device)
    batch = 1024 if device.type == "cpu" else len(X_t)

    def raw():
        with torch.inference_mode(), torch_threads(estimator.n_threads_):
            return torch.cat([module(X_t[i : i + batch]) for i in range(0, len(X_t), batch)])

    return raw


def _best_times(
    fns: list[Callable[[], object] | None], device: torch.device, repeat: int = 7
) -> list[float | None]:
    """The fastest of ``repeat`` runs of each function, run in turn so that they share the
    disturbances of other processes (None for a missing function)."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, fn_times in zip(fns, times, strict=True):
            if fn is None:
                continue
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            fn_times.append(time.perf_counter() - start)
    return [min(t) if t else None for t in times]


class EpochClock(Callback):
    """Record the seconds from ``on_epoch_begin`` to ``on_epoch_end`` as ``bench_epoch_s``."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = device

    def on_epoch_begin(self, net, **kwargs) -> None:
        _sync(torch.device(self.device))
        self.start_ = time.perf_counter()

    def on_epoch_end(self, net, **kwargs) -> None:
        _sync(torch.device(self.device))
        net.history.record("bench_epoch_s", time.perf_counter() - self.start_)


# -- background load ---------------------------------------------------------------------------

# A CPU-bound loop that ends after its time limit, or as soon as its parent process is gone.
_BUSY_LOOP = """
import os, sys, time
deadline, parent = time.monotonic() + float(sys.argv[1]), int(sys.argv[2])
while time.monotonic() < deadline and os.getppid() == parent:
    x = 0
    for i in range(200_000):
        x += i * i
"""


class BusyProcesses:
    """``count`` CPU-bound helper processes, each bounded in time; stopped on exit."""

    def __init__(self, count: int, seconds: float) -> None:
        self.count, self.seconds = count, seconds
        self.processes: list[subprocess.Popen] = []

    def __enter__(self) -> BusyProcesses:
        for _ in range(self.count):
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, "-c", _BUSY_LOOP, str(self.seconds), str(os.getpid())]
                )
            )
        return self

    def __exit__(self, *exc) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# -- data -------------------------------------------------------------------------------------


def load_data(data_home: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """MNIST as float32 in [0, 1], shape (n, 784); or the digits stand-in, with a note."""
    try:
        X, y = load_mnist(data_home, subset="train")
        X_test, y_test = load_mnist(data_home, subset="test")
        source = f"MNIST from {os.path.relpath(data_home)}"
    except (FileNotFoundError, OSError) as error:
        from sklearn.datasets import load_digits

        reason = str(error).splitlines()[0]
        print(
            f"note: MNIST not found ({reason}); using scikit-learn's digits upscaled to 28x28 "
            "and tiled to MNIST's size as a stand-in: timings are comparable, accuracies are not.",
            file=sys.stderr,
        )
        digits = load_digits()
        images = np.kron(digits.images / 16.0, np.ones((3, 3)))  # 8x8 -> 24x24
        images = np.pad(images, ((0, 0), (2, 2), (2, 2))) * 255  # -> 28x28
        X = np.resize(images[:1400], (60000, 28, 28))
        y = np.resize(digits.target[:1400], 60000)
        X_test = np.resize(images[1400:], (10000, 28, 28))
        y_test = np.resize(digits.target[1400:], 10000)
        source = "digits stand-in (MNIST absent)"

    def prepare(images: np.ndarray) -> np.ndarray:
        return (images.reshape(len(images), -1) / np.float32(255)).astype(np.float32, copy=False)

    return prepare(X), y.astype(np.int64), prepare(X_test), y_test.astype(np.int64), source


# -- contenders -------------------------------------------------------------------------------


def build_module(model: str) -> torch.nn.Module:
    if model == "mlp":
        return MLP(784, 10, (128,))
    return CNN((1, 28, 28), 10, padding="valid")


def initial_state(model: str, seed: int) -> dict[str, torch.Tensor]:
    """The weights every torch contender starts from, so that accuracies compare fairly."""
    torch.manual_seed(seed)
    return build_module(model).state_dict()


class StartFrom(Callback):
    """Load given weights into the module before the first epoch (for skdeep's estimator)."""

    def __init__(self, state: dict[str, torch.Tensor]) -> None:
        self.state = state

    def on_train_begin(self, net, **kwargs) -> None:
        if len(net.history) == 0:
            net.module_.load_state_dict(self.state)


class HandLoop:
    """A hand-written training loop over tensors pre-loaded on the device."""

    def __init__(
        self, model, batch_size, X, y, state, device, tuned: bool, flush=None, direct=None
    ) -> None:
        self.device = device
        self.module = build_module(model)
        self.module.load_state_dict(state)
        self.module.to(device)
        self.shape = (-1, 784) if model == "mlp" else (-1, 1, 28, 28)
        self.X = torch.from_numpy(X).reshape(self.shape).to(device)
        self.y = torch.from_numpy(y).to(device)
        self.batch_size = batch_size
        self.tuned = tuned
        self.flush = tuned if flush is None else flush  # denormals flushed to zero
        self.direct = tuned if direct is None else direct  # skdeep.core._direct_step
        self.optimizer = torch.optim.Adam(
            self.module.parameters(), lr=LEARNING_RATE, fused=True if tuned else None
        )

    def epoch(self) -> float:
        _sync(self.device)
        start = time.perf_counter()
        self.module.train()
        X, y, size = self.X, self.y, self.batch_size
        order = torch.randperm(len(X), device=self.device)
        with flushed_denormals(self.device) if self.flush else contextlib.nullcontext():
            for first in range(0, len(X), size):
                idx = order[first : first + size]
                if self.tuned:
                    Xb, yb = X.index_select(0, idx), y.index_select(0, idx)
                else:
                    Xb, yb = X[idx], y[idx]
                if self.direct:
                    zero_grads(self.optimizer)
                else:
                    self.optimizer.zero_grad()
                loss = torch.nn.functional.cross_entropy(self.module(Xb), yb)
                loss.backward()
                if self.direct:
                    step(self.optimizer)
                else:
                    self.optimizer.step()
        _sync(self.device)
        return time.perf_counter() - start

    def predict(self, X: np.ndarray) -> np.ndarray:
        self.module.eval()
        with torch.inference_mode():
            Xt = torch.from_numpy(X).reshape(self.shape).to(self.device)
            return self.module(Xt).argmax(dim=1).cpu().numpy()


class SkorchEpochs:
    """An estimator driven one epoch per call; its epoch time read from :class:`EpochClock`."""

    def __init__(self, estimator, X, y, shape) -> None:
        self.estimator = estimator
        self.X, self.y, self.shape = X, y, shape

    def _net(self):
        return getattr(self.estimator, "net_", self.estimator)

    def epoch(self) -> tuple[float, float]:
        start = time.perf_counter()
        self.estimator.fit(self.X.reshape(self.shape), self.y)
        _sync(torch.device(self._net().device))
        call = time.perf_counter() - start
        return self._net().history[-1, "bench_epoch_s"], call

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.estimator.predict(X.reshape(self.shape))


class SklearnEpochs:
    def __init__(self, batch_size, seed) -> None:
        from sklearn.neural_network import MLPClassifier as SklearnMLP

        self.estimator = SklearnMLP(
            hidden_layer_sizes=(128,),
            batch_size=batch_size,
            learning_rate_init=LEARNING_RATE,
            alpha=0.0,
            max_iter=1,
            warm_start=True,
            random_state=seed,
        )

    def epoch(self, X, y) -> float:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning after each single iteration
            self.estimator.fit(X, y)
        return time.perf_counter() - start

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.estimator.predict(X)


def make_contender(name, model, batch_size, X, y, seed, device):
    """Return ``(run_epoch, predict, state)`` for a contender, or None where it does not apply.

    ``run_epoch()`` trains one more epoch and returns ``(epoch seconds, call seconds or None)``.
    """
    shape = (-1, 784) if model == "mlp" else (-1, 1, 28, 28)
    start = initial_state(model, seed)
    if name in ("hand", "hand_tuned"):
        loop = HandLoop(model, batch_size, X, y, start, device, tuned=name == "hand_tuned")
        return (lambda: (loop.epoch(), None)), loop.predict, loop
    if name in SKDEEP_THREADS:
        common = {
            "batch_size": batch_size,
            "learning_rate": LEARNING_RATE,
            "max_epochs": 1,
            "validation_fraction": 0.0,
            "warm_start": True,
            "random_state": seed,
            "device": str(device),
            "callbacks": [StartFrom(start), EpochClock(str(device))],
            "n_threads": SKDEEP_THREADS[name],
        }
        if model == "mlp":
            estimator = MLPClassifier(hidden_layer_sizes=(128,), **common)
        else:
            estimator = CNNClassifier(padding="valid", **common)
        driver = SkorchEpochs(estimator, X, y, (-1, 784))
        return driver.epoch, driver.predict, driver
    if name == "skorch":
        from skorch import NeuralNetClassifier

        module = build_module(model)
        module.load_state_dict(start)
        net = NeuralNetClassifier(
            module=module,
            criterion=torch.nn.CrossEntropyLoss,
            optimizer=torch.optim.Adam,
            lr=LEARNING_RATE,
            batch_size=batch_size,
            max_epochs=1,
            train_split=None,
            warm_start=True,
            iterator_train__shuffle=True,
            callbacks=[EpochClock(str(device))],
            device=str(device),
            verbose=0,
        )
        driver = SkorchEpochs(net, X, y, shape)
        return driver.epoch, driver.predict, driver
    if name == "sklearn":
        if model != "mlp" or device.type != "cpu":
            return None
        sk = SklearnEpochs(batch_size, seed)
        return (lambda: (sk.epoch(X, y), None)), sk.predict, sk
    raise ValueError(f"unknown contender {name!r}")


# -- one configuration ------------------------------------------------------------------------


def run_config(config_name, X, y, X_test, y_test, args, device) -> list[dict]:
    model, batch_size = CONFIGS[config_name]["model"], CONFIGS[config_name]["batch_size"]
    contenders = {}
    for name in args.contenders:
        made = make_contender(name, model, batch_size, X, y, args.seed, device)
        if made is not None:
            contenders[name] = made
    names = list(contenders)
    stats = {
        name: {"epoch_s": [], "call_s": [], "peak_rss_mb": 0.0, "peak_cuda_mb": None}
        for name in names
    }
    for epoch in range(args.epochs):
        shift = epoch % len(names)
        for name in names[shift:] + names[:shift]:
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            _reset_peak_rss()
            epoch_s, call_s = contenders[name][0]()
            record = stats[name]
            record["epoch_s"].append(epoch_s)
            record["call_s"].append(call_s if call_s is not None else epoch_s)
            record["peak_rss_mb"] = max(record["peak_rss_mb"], _peak_rss_mb())
            if device.type == "cuda":
                cuda_mb = torch.cuda.max_memory_allocated(device) / 2**20
                record["peak_cuda_mb"] = max(record["peak_cuda_mb"] or 0.0, cuda_mb)
    rows = []
    for name in names:
        _, predict, state = contenders[name]
        record = stats[name]
        timed = record["epoch_s"][1:] or record["epoch_s"]
        accuracy = float(np.mean(predict(X_test) == y_test))
        raw = _raw_inference(name, state, model, X_test, device)
        predict_s, raw_s = _best_times([lambda p=predict: p(X_test), raw], device, repeat=25)
        row = {
            "config": config_name,
            "model": model,
            "batch_size": batch_size,
            "contender": name,
            "epoch_s": record["epoch_s"],
            "median_epoch_s": statistics.median(timed),
            "min_epoch_s": min(timed),
            "call_overhead_s": statistics.median(
                c - e for c, e in zip(record["call_s"][1:], record["epoch_s"][1:], strict=True)
            )
            if len(record["epoch_s"]) > 1
            else None,
            "test_accuracy": accuracy,
            "peak_rss_mb": record["peak_rss_mb"],
            "peak_cuda_mb": record["peak_cuda_mb"],
            "predict_s": predict_s,
            "predict_samples_per_s": len(X_test) / predict_s,
        }
        if name in SKDEEP_THREADS:
            estimator = state.estimator
            row["n_threads"] = [r["n_threads"] for r in estimator.history_]
            row["thread_probes"] = [
                {str(k): v for k, v in r["thread_probe"].items()}
                for r in estimator.history_
                if "thread_probe" in r
            ]
            row["predict_raw_s"] = raw_s
            row["predict_ratio_to_raw"] = predict_s / raw_s
        rows.append(row)
    reference = next((r for r in rows if r["contender"] == "hand"), None)
    for row in rows:
        if reference is not None:
            row["ratio_to_hand"] = row["median_epoch_s"] / reference["median_epoch_s"]
            row["ratio_to_hand_best"] = row["min_epoch_s"] / reference["min_epoch_s"]
            row["accuracy_minus_hand_points"] = 100 * (
                row["test_accuracy"] - reference["test_accuracy"]
            )
    return rows


def median_over_repeats(rows: list[dict]) -> list[dict]:
    """One row per config and contender: the median of its repeats' times and ratios, and the
    worst ratio to the hand loop (``ratio_to_hand_max``) of any interleaved pair."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["config"], row["contender"]), []).append(row)
    merged = []
    for runs in groups.values():
        row = dict(runs[0])
        for key in ("median_epoch_s", "min_epoch_s", "ratio_to_hand", "ratio_to_hand_best"):
            if key in row:
                row[key] = statistics.median(r[key] for r in runs)
        if "ratio_to_hand" in row:
            row["ratio_to_hand_max"] = max(r["ratio_to_hand"] for r in runs)
            row["ratio_to_hand_each"] = [r["ratio_to_hand"] for r in runs]
        row["repeats"] = len(runs)
        row.pop("repeat", None)
        merged.append(row)
    return merged


# -- report -----------------------------------------------------------------------------------


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(rows: list[dict]) -> None:
    header = (
        f"{'config':<11} {'contender':<11} {'s/epoch':>8} {'x hand':>7} {'(best)':>7} "
        f"{'test acc':>8} {'peak RSS MB':>11} {'CUDA MB':>8} {'predict/s':>10} {'x raw':>6} "
        f"{'threads':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['config']:<11} {r['contender']:<11} {r['median_epoch_s']:>8.3f} "
            f"{_fmt(r.get('ratio_to_hand'), '.2f'):>7} "
            f"{_fmt(r.get('ratio_to_hand_best'), '.2f'):>7} {100 * r['test_accuracy']:>7.2f}% "
            f"{r['peak_rss_mb']:>11.0f} {_fmt(r['peak_cuda_mb'], '.0f'):>8} "
            f"{r['predict_samples_per_s']:>10.0f} {_fmt(r.get('predict_ratio_to_raw'), '.2f'):>6} "
            f"{_threads_column(r):>7}"
        )


def _threads_column(row: dict) -> str:
    """skdeep's thread counts over the epochs, e.g. ``1`` or ``2>1``; ``-`` for the others."""
    counts = row.get("n_threads")
    if not counts:
        return "-"
    changes = [counts[0], *(b for a, b in zip(counts, counts[1:], strict=False) if a != b)]
    return ">".join(map(str, changes))


def _check(target: str, value: float, met: bool) -> dict:
    return {"target": target, "value": value, "met": bool(met)}


def check_targets(rows: list[dict], train_bytes: int, full_data: bool, busy: int = 0) -> list[dict]:
    """The issue's targets for skdeep, each with the measured value and whether it is met.

    The memory target is about a fit on all of MNIST: it is checked only without ``--subset``.
    """
    checks = []
    rss_limit = (2 * train_bytes) / 2**20 + 500
    by_contender = {(r["config"], r["contender"]): r for r in rows}
    for r in rows:
        if r["contender"] != "skdeep":
            continue
        fixed = [
            by_contender[(r["config"], name)]["median_epoch_s"]
            for name in ("skdeep_1", "skdeep_default")
            if (r["config"], name) in by_contender
        ]
        if fixed:
            ratio = r["median_epoch_s"] / min(fixed)
            target = f"{r['config']}: auto s/epoch <= 1.03 x the best fixed count"
            checks.append(_check(target, ratio, ratio <= 1.03))
        if busy and "ratio_to_hand" in r:
            limit = 0.5 if busy <= 2 else 0.3
            target = f"{r['config']}: auto s/epoch <= {limit} x hand beside {busy} busy processes"
            checks.append(_check(target, r["ratio_to_hand"], r["ratio_to_hand"] <= limit))
        config = r["config"]
        if "ratio_to_hand" in r and config in TARGETS and not busy:
            limit, ratio = TARGETS[config], r["ratio_to_hand"]
            checks.append(_check(f"{config}: s/epoch <= {limit:.2f} x hand", ratio, ratio <= limit))
        ratio = r["predict_ratio_to_raw"]
        target = f"{config}: predict <= {PREDICT_TARGET:.2f} x raw module(X)"
        checks.append(_check(target, ratio, ratio <= PREDICT_TARGET))
        if "accuracy_minus_hand_points" in r:
            diff = r["accuracy_minus_hand_points"]
            target = f"{config}: test accuracy within {ACCURACY_POINTS} points of hand"
            checks.append(_check(target, diff, abs(diff) <= ACCURACY_POINTS))
        if full_data:
            rss = r["peak_rss_mb"]
            target = f"{config}: peak RSS <= 2 x train array + 500 MB ({rss_limit:.0f} MB)"
            checks.append(_check(target, rss, rss <= rss_limit))
    return checks


def parse_args(argv=None) -> argparse.Namespace:
    default_data = str(get_data_home())  # $SKDEEP_DATA, else ~/skdeep_data
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data",
        default=default_data,
        help="folder of the MNIST files (default: the data home, $SKDEEP_DATA or ~/skdeep_data)",
    )
    parser.add_argument("--epochs", type=int, default=5, help="epochs, the first a warm-up")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--subset", type=int, default=None, help="use the first N training samples")
    parser.add_argument("--test-subset", type=int, default=None, help="use N test samples")
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated")
    parser.add_argument("--contenders", default=",".join(CONTENDERS), help="comma-separated")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="4 epochs, 4,000 samples, 2,000 test: a couple of minutes on 2 cores",
    )
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    parser.add_argument(
        "--busy", type=int, default=0, help="run beside N CPU-bound helper processes"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="run every config this many times, interleaved, and report the medians and the "
        "worst ratio of each contender (3 or more beside busy processes, where one pair is "
        "a lottery)",
    )
    parser.add_argument(
        "--busy-seconds",
        type=float,
        default=1800.0,
        help="each helper stops by itself after this long (default %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs = min(args.epochs, 4)
        args.subset = args.subset or 4000
        args.test_subset = args.test_subset or 2000
    args.configs = [c for c in args.configs.split(",") if c]
    args.contenders = [c for c in args.contenders.split(",") if c]
    unknown = (set(args.configs) - set(CONFIGS)) | (set(args.contenders) - set(CONTENDERS))
    if unknown:
        parser.error(f"unknown configs or contenders: {sorted(unknown)}")
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch is a warm-up")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    device = torch.device(args.device)
    X, y, X_test, y_test, source = load_data(Path(args.data))
    # Copies, so that the full arrays are freed and do not count in the memory figures.
    if args.subset:
        X, y = X[: args.subset].copy(), y[: args.subset].copy()
    if args.test_subset:
        X_test, y_test = X_test[: args.test_subset].copy(), y_test[: args.test_subset].copy()
    machine = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": str(device),
        "cuda_device": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "load_average_before": os.getloadavg(),
    }
    print(
        f"data: {source}; train {X.shape}, test {X_test.shape}; epochs {args.epochs} "
        f"(first is warm-up); torch threads {machine['torch_threads']}; device {device}; "
        f"load average {machine['load_average_before'][0]:.2f}"
    )
    rss_before = _peak_rss_mb()
    rows = []
    with BusyProcesses(args.busy, args.busy_seconds):
        if args.busy:
            time.sleep(1.0)  # let the helpers get going
            print(f"beside {args.busy} busy processes")
        for repeat in range(args.repeats):
            for config in args.configs:
                for row in run_config(config, X, y, X_test, y_test, args, device):
                    rows.append({**row, "repeat": repeat})
        machine["load_average_after"] = os.getloadavg()
    if args.repeats > 1:
        rows = median_over_repeats(rows)
    print_table(rows)
    if args.repeats > 1:
        print(f"medians of {args.repeats} interleaved repeats; each pair's ratio to hand:")
        for row in rows:
            if "ratio_to_hand_each" in row and row["contender"] != "hand":
                each = ", ".join(f"{r:.2f}" for r in row["ratio_to_hand_each"])
                print(
                    f"  {row['config']:<11} {row['contender']:<15} {each} "
                    f"(worst {row['ratio_to_hand_max']:.2f})"
                )
    print(f"load average after: {machine['load_average_after'][0]:.2f}")
    checks = check_targets(rows, X.nbytes, full_data=not args.subset, busy=args.busy)
    for check in checks:
        print(f"{'MET ' if check['met'] else 'MISS'} {check['target']}: {check['value']:.3f}")
    results = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "data": source,
        "n_train": len(X),
        "n_test": len(X_test),
        "epochs": args.epochs,
        "busy_processes": args.busy,
        "train_array_mb": X.nbytes / 2**20,
        "rss_after_loading_mb": rss_before,
        "machine": machine,
        "rows": rows,
        "targets": checks,
    }
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))
        print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
