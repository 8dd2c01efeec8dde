"""Where ``predict``'s time goes beside the raw ``module(X)``: milliseconds, piece by piece.

One process, an MLP fitted for one epoch, 10,000 rows; every variant runs once per round in
turn (so that they share the disturbances of other processes), over ``--rounds`` rounds:

- ``raw``: ``module(X)`` under ``torch.inference_mode`` in predict's batches of 1,024 rows, at
  predict's thread count, on a tensor already made, the batches' outputs concatenated;
- ``outputs_unchecked``: skdeep's batched forward (``SkdeepNet.predict_outputs``) without
  the finiteness check of the input;
- ``outputs_checked``: the same with the check predict makes (one unit of the first layer);
- ``validate``: scikit-learn's ``validate_data`` as predict calls it;
- ``predict``: the estimator's ``predict`` (all of the above, the outputs' check, the labels).

Each line gives the fastest round and the median over rounds of the ratio to ``raw`` in the
same round, the figure least moved by a busy machine.

Usage::

    python benchmarks/predict_overhead.py
    python benchmarks/predict_overhead.py --hidden 1024,1024 --rounds 60
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch

from skdeep import MLPClassifier
from skdeep.core._net import CPU_PREDICT_BATCH_SIZE
from skdeep.utils.threads import torch_threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--features", type=int, default=784)
    parser.add_argument("--hidden", default="128", help="comma-separated widths")
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    X = rng.random((args.rows, args.features), dtype=np.float32)
    y = rng.integers(0, 10, args.rows)
    hidden = tuple(int(w) for w in args.hidden.split(","))
    clf = MLPClassifier(hidden_layer_sizes=hidden, max_epochs=1, random_state=0).fit(X, y)
    net, module = clf.net_, clf.net_.module_.eval()
    X_t = torch.from_numpy(X)
    threads = clf.n_threads_
    batch = CPU_PREDICT_BATCH_SIZE

    def raw():
        with torch.inference_mode(), torch_threads(threads):
            return torch.cat([module(X_t[i : i + batch]) for i in range(0, len(X_t), batch)])

    variants = {
        "raw": raw,
        "outputs_unchecked": lambda: net.predict_outputs(X_t, batch, threads),
        "outputs_checked": lambda: net.predict_outputs(X_t, batch, threads, check=lambda b: None),
        "validate": lambda: clf._validate_X(X, reset=False, ensure_all_finite=False),
        "predict": lambda: clf.predict(X),
    }
    for fn in variants.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    load = ", ".join(f"{v:.2f}" for v in _load_average())
    print(
        f"{args.rows} rows, MLP {args.features}-{'-'.join(map(str, hidden))}-10, "
        f"{threads} torch threads, {args.rounds} rounds, load average {load}"
    )
    for name, values in times.items():
        ratios = [t / r for t, r in zip(values, times["raw"], strict=True)]
        print(
            f"{name:<20} fastest {1000 * min(values):7.3f} ms   "
            f"median x raw {statistics.median(ratios):6.3f}"
        )


def _load_average() -> tuple[float, ...]:
    try:
        return os.getloadavg()
    except OSError:
        return ()


if __name__ == "__main__":
    main()
