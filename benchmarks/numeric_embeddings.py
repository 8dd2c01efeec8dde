"""Test R² of an MLPRegressor on California housing with and without numeric embeddings.

One shuffled 80/20 split of the 20,640 districts; each variant is the network of a comparison
(``skdeep.baselines.with_network_preprocessing``: median imputation, standard scaling,
one-hot ``ocean_proximity``, standardised targets) around ``MLPRegressor(numeric_embedding=...)``
with everything else the same, trained for a fixed number of epochs from each seed, the learning
rate falling along a cosine to 0 (so that the last epoch's weights are not one noisy step of a
constant rate). It prints
the test R² of every variant and seed, their means and the seconds each fit took, with the
machine and its load average; ``--out`` writes the same as JSON.

Usage::

    SKDEEP_DATA=<folder holding california-housing/housing.csv.gz> \\
        python benchmarks/numeric_embeddings.py                  # 3 variants x 3 seeds
    python benchmarks/numeric_embeddings.py --epochs 5 --seeds 0  # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split

from skdeep import MLPRegressor
from skdeep.baselines import with_network_preprocessing
from skdeep.datasets import load_california_housing

VARIANTS = (None, "periodic", "piecewise_linear")


def _machine() -> str:
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible, "
        f"torch threads {__import__('torch').get_num_threads()}"
    )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30, help="epochs per fit (default 30)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("--batch-size", type=int, default=256, help="default 256")
    parser.add_argument("--out", type=Path, help="write the results as JSON")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]

    X, y = load_california_housing()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
    load_before = os.getloadavg()
    print(f"California housing: {len(X_train)} training and {len(X_test)} test rows")
    print(f"machine: {_machine()}; load average before: {load_before[0]:.2f}")
    rows = []
    for variant in VARIANTS:
        for seed in seeds:
            network = MLPRegressor(
                hidden_layer_sizes=(256, 256),
                numeric_embedding=variant,
                batch_size=args.batch_size,
                max_epochs=args.epochs,
                learning_rate=1e-3,
                lr_schedule="cosine",
                random_state=seed,
                device="cpu",
            )
            model = with_network_preprocessing(network, "regression", X_train)
            start = time.perf_counter()
            model.fit(X_train, y_train)
            seconds = time.perf_counter() - start
            r2 = float(r2_score(y_test, model.predict(X_test)))
            n_params = model.regressor_[-1].count_params()
            rows.append(
                {"variant": str(variant), "seed": seed, "r2": r2, "seconds": seconds,
                 "params": n_params}
            )
            print(f"{variant!s:>17} seed {seed}: R² {r2:.4f}  {seconds:6.1f} s  {n_params} params")
    load_after = os.getloadavg()
    summary = {}
    print(f"\n{'numeric_embedding':>17}  mean R²  (min, max)   mean s")
    for variant in VARIANTS:
        mine = [r for r in rows if r["variant"] == str(variant)]
        scores = [r["r2"] for r in mine]
        mean_s = float(np.mean([r["seconds"] for r in mine]))
        summary[str(variant)] = {"mean_r2": float(np.mean(scores)), "mean_seconds": mean_s}
        print(
            f"{variant!s:>17}  {np.mean(scores):.4f}   ({min(scores):.4f}, {max(scores):.4f})"
            f"  {mean_s:6.1f}"
        )
    print(f"load average after: {load_after[0]:.2f}")
    result = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "seeds": seeds,
        "machine": _machine(),
        "load_average": {"before": load_before, "after": load_after},
        "runs": rows,
        "summary": summary,
    }
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
