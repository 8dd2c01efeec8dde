"""The networks of ``skdeep compare`` on digits: their recipes against the plain defaults.

Each variant is cross-validated on the comparison's own folds (5 stratified shuffled folds of
scikit-learn's digits, pixels in [0, 1], ``random_state=0``) with the comparison's
preprocessing (``skdeep.baselines.with_network_preprocessing``), from each seed. It prints the
mean accuracy, the worst fold and the seconds per fold of every variant and seed, beside SVC
(RBF), the best classical model there, with the machine's load average.

The variants:

- ``default``: the estimator's defaults with early stopping on a 10 % validation split (what
  the comparison trained before it had recipes);
- ``recipe``: ``skdeep.baselines.NETWORK_RECIPES`` (AdamW 3e-3, a one-cycle learning rate,
  label smoothing 0.05, every training row, fixed epochs);
- ``recipe+shift``: the recipe with random shifts of up to 1 pixel of the training images
  (``augmentation={"shift": 1}``; the MLP gets ``input_shape=(8, 8)`` for it).

``--california`` also cross-validates the regression MLP (``default`` and ``recipe``) on the
20,640 districts of California housing, read from the data home (``SKDEEP_DATA``), in 5
shuffled folds: R² and seconds per fold.

Usage::

    python benchmarks/compare_recipes.py                    # MLP and CNN, seeds 0 and 1
    python benchmarks/compare_recipes.py --networks cnn --seeds 0
    SKDEEP_DATA=<data home> python benchmarks/compare_recipes.py --networks none --california
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from skdeep import CNNClassifier, MLPClassifier, MLPRegressor
from skdeep.baselines import NETWORK_RECIPES, with_network_preprocessing
from skdeep.datasets import load_california_housing


def variants(network: str) -> dict[str, dict]:
    recipe = NETWORK_RECIPES[f"{network}_classification"]
    shape = {"input_shape": (8, 8)} if network == "mlp" else {}
    return {
        "default": {"early_stopping": True},
        "recipe": dict(recipe),
        "recipe+shift": {**recipe, **shape, "augmentation": {"shift": 1}},
    }


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--networks", default="mlp,cnn", help="comma-separated, or none (default mlp,cnn)"
    )
    parser.add_argument("--california", action="store_true", help="also the regression MLP")
    parser.add_argument("--seeds", default="0,1", help="comma-separated seeds (default 0,1)")
    parser.add_argument("--out", help="also write the rows as JSON to this file")
    args = parser.parse_args(argv)

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"digits {X.shape}, 5 folds, load average {load}")
    print(f"{'network':<8} {'variant':<13} {'seed':>4}  accuracy  worst fold  s/fold")
    rows = []

    def run(network: str, variant: str, seed: int | str, model) -> None:
        start = time.perf_counter()
        scores = cross_val_score(model, X, y, cv=folds)
        seconds = (time.perf_counter() - start) / 5
        rows.append(
            {"network": network, "variant": variant, "seed": seed,
             "accuracy": float(scores.mean()), "worst_fold": float(scores.min()),
             "seconds_per_fold": seconds}
        )  # fmt: skip
        print(
            f"{network:<8} {variant:<13} {seed:>4}  {scores.mean():.4f}    {scores.min():.4f}"
            f"  {seconds:>6.2f}",
            flush=True,
        )

    run("SVC", "(RBF)", "-", make_pipeline(StandardScaler(), SVC()))
    for network in [] if args.networks == "none" else args.networks.split(","):
        estimator = {"mlp": MLPClassifier, "cnn": CNNClassifier}[network]
        for variant, params in variants(network).items():
            for seed in (int(s) for s in args.seeds.split(",")):
                model = estimator(random_state=seed, **params)
                run(network, variant, seed, with_network_preprocessing(model, "classification", X))
    if args.california:
        houses, prices = load_california_housing()
        districts = KFold(5, shuffle=True, random_state=0)
        for variant, params in {
            "default": {"early_stopping": True},
            "recipe": NETWORK_RECIPES["mlp_regression"],
        }.items():
            model = with_network_preprocessing(
                MLPRegressor(random_state=0, **params), "regression", houses
            )
            start = time.perf_counter()
            r2 = cross_val_score(model, houses, prices, cv=districts)
            seconds = (time.perf_counter() - start) / 5
            rows.append({"network": "mlp_regression", "variant": variant, "seed": 0,
                         "r2": float(r2.mean()), "seconds_per_fold": seconds})  # fmt: skip
            print(f"California MLP {variant:<8} R² {r2.mean():.4f}  {seconds:.2f} s/fold")
    summary = {}
    for row in rows:
        if "accuracy" not in row:
            continue
        summary.setdefault((row["network"], row["variant"]), []).append(row["accuracy"])
    print("\nmean over seeds: " + "; ".join(
        f"{network} {variant} {np.mean(acc):.4f}" for (network, variant), acc in summary.items()
    ))  # fmt: skip
    if args.out:
        with open(args.out, "w") as file:
            json.dump(rows, file, indent=2)
    return rows


if __name__ == "__main__":
    main()
