"""What the CNN of ``skdeep compare``'s digits default costs, and where a step's time goes.

1. The default CNN (LeNet-5 sizes, early stopping) in 5-fold cross-validation on digits at
   batch 32 (the default), 64 and 128: accuracy, epochs and seconds per fold.
2. One training step of the same network on a batch of 32 8x8 images, in a bare torch loop,
   with torch's profiler: the operators that take the most time.

Usage::

    python benchmarks/cnn_digits.py
    python benchmarks/cnn_digits.py --batch-sizes 32 --no-profile
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import StratifiedKFold, cross_validate

from skdeep import CNNClassifier


def cross_validated(X, y, batch_sizes: list[int]) -> None:
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    print("batch  accuracy         epochs/fold  s/fold  ms/step")
    for batch_size in batch_sizes:
        result = cross_validate(
            CNNClassifier(batch_size=batch_size, early_stopping=True, random_state=0),
            X,
            y,
            cv=folds,
            return_estimator=True,
        )
        epochs = [len(e.history_) for e in result["estimator"]]
        steps = [n * np.ceil(len(X) * 0.8 * 0.9 / batch_size) for n in epochs]
        ms_per_step = 1000 * np.mean(result["fit_time"] / np.array(steps))
        scores = result["test_score"]
        print(
            f"{batch_size:>5}  {scores.mean():.4f} ± {scores.std():.4f}  "
            f"{np.mean(epochs):>11.1f}  {result['fit_time'].mean():>6.2f}  {ms_per_step:>7.2f}",
            flush=True,
        )


def profiled_step(X, y) -> None:
    module = CNNClassifier(max_epochs=1, random_state=0).fit(X[:64], y[:64]).net_.module_.train()
    xb, yb = torch.from_numpy(X[:32]).reshape(-1, 1, 8, 8), torch.from_numpy(y[:32])
    optimizer = torch.optim.Adam(module.parameters(), fused=True)

    def step() -> None:
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(module(xb), yb).backward()
        optimizer.step()

    for _ in range(50):
        step()
    start = time.perf_counter()
    for _ in range(200):
        step()
    print(f"\nbare torch loop, batch 32: {1000 * (time.perf_counter() - start) / 200:.2f} ms/step")
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
        for _ in range(50):
            step()
    print(profile.key_averages().table(sort_by="self_cpu_time_total", row_limit=8))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-sizes", default="32,64,128", help="comma-separated")
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args()
    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"digits {X.shape}, torch threads {torch.get_num_threads()}, load average {load}")
    cross_validated(X, y, [int(b) for b in args.batch_sizes.split(",")])
    if not args.no_profile:
        profiled_step(X, y)


if __name__ == "__main__":
    main()
