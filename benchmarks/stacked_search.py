"""A 64-candidate grid search three ways, in one process: skorch, skdeep, skdeep stacked.

The grid is 4 learning rates x 4 L2 penalties x 4 seeds of an MLP 784-128-10 (Adam, batch 256)
on MNIST with 3-fold cross-validation, searched by

- ``skorch``: GridSearchCV over ``skorch.NeuralNetClassifier`` with its defaults (its own
  validation split, DataLoader batches; the L2 penalty as Adam's ``weight_decay``);
- ``skdeep``: GridSearchCV over ``skdeep.MLPClassifier``, one candidate-fold after another on
  skdeep's fast single-model path;
- ``stacked``: ``skdeep.search.StackedSearchCV`` over the same estimator and grid, every
  candidate-fold of the grid trained together as one stacked model.

It prints the seconds of each search, the ratios, and how far each candidate's mean CV score
under StackedSearchCV lies from its score under GridSearchCV (skdeep); ``--out`` writes JSON.
The targets (issue 8) are for a GPU: stacked >= 20x faster than skorch and >= 4x faster than
skdeep, each candidate within 0.5 points. On a CPU the stacked step does the same arithmetic as
the separate ones, so expect little gain there.

Usage::

    python benchmarks/stacked_search.py                      # CPU: 10,000 samples, 2 epochs
    python benchmarks/stacked_search.py --device cuda --max-samples 60000 --epochs 3
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from train_speed import load_data  # the same MNIST, or its digits stand-in

from skdeep import MLPClassifier
from skdeep.datasets import get_data_home
from skdeep.modules import MLP
from skdeep.search import StackedSearchCV

REPO = Path(__file__).resolve().parents[1]
LEARNING_RATES = [3e-4, 1e-3, 3e-3, 1e-2]
L2_PENALTIES = [0.0, 1e-5, 1e-4, 1e-3]
SEEDS = [0, 1, 2, 3]
TARGETS = {"skorch": 20.0, "skdeep": 4.0}
SCORE_POINTS = 0.5


class SeededMLP(MLP):
    """MLP 784-128-10 whose initial weights are drawn from ``seed`` (skorch has no seed)."""

    def __init__(self, seed: int = 0) -> None:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            super().__init__(784, 10, (128,))


def searches(args) -> dict:
    """The three searches, unfitted, over the same grid and folds."""
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    common = {"batch_size": args.batch_size, "max_epochs": args.epochs, "device": args.device}
    skdeep_grid = {
        "learning_rate": LEARNING_RATES,
        "l2": L2_PENALTIES,
        "random_state": SEEDS,
    }
    network = MLPClassifier(hidden_layer_sizes=(128,), **common)
    found = {
        "skdeep": GridSearchCV(network, skdeep_grid, cv=cv),
        "stacked": StackedSearchCV(network, skdeep_grid, cv=cv, max_stack=args.max_stack),
    }
    from skorch import NeuralNetClassifier

    skorch_net = NeuralNetClassifier(
        SeededMLP,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        iterator_train__shuffle=True,
        verbose=0,
        **{k: v for k, v in common.items() if k != "max_epochs"},
        max_epochs=args.epochs,
    )
    skorch_grid = {
        "lr": LEARNING_RATES,
        "optimizer__weight_decay": L2_PENALTIES,
        "module__seed": SEEDS,
    }
    found["skorch"] = GridSearchCV(skorch_net, skorch_grid, cv=cv)
    return {name: found[name] for name in args.contenders}


def main(argv=None) -> dict:
    default_data = str(get_data_home())  # $SKDEEP_DATA, else ~/skdeep_data
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data",
        default=default_data,
        help="folder of the MNIST files (default: the data home, $SKDEEP_DATA or ~/skdeep_data)",
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--max-samples", type=int, default=10000, help="first N training images")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--max-stack", type=int, default=None, help="StackedSearchCV max_stack")
    parser.add_argument("--contenders", default="stacked,skdeep,skorch", help="comma-separated")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    args.contenders = [c for c in args.contenders.split(",") if c]
    X, y, _, _, source = load_data(Path(args.data))
    X, y = X[: args.max_samples], y[: args.max_samples]
    source = f"{source}, first {len(X)} training images"
    print(
        f"{source}; 64 candidates x 3 folds, {args.epochs} epochs, batch {args.batch_size}, "
        f"device {args.device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{platform.processor() or platform.machine()}"
    )
    results: dict = {"source": source, "args": vars(args), "seconds": {}}
    # Warm-up: torch's first optimizer and first vmapped gradient import and set up modules
    # (about 5 s on a CPU) that the first timed search would otherwise pay for alone.
    for search in searches(args).values():
        search.set_params(param_grid={k: v[:1] for k, v in search.param_grid.items()})
        search.fit(X[:300], y[:300])
    fitted = {}
    cuda = args.device.startswith("cuda")
    results["peak_cuda_mb"] = {}
    for name, search in searches(args).items():
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        began = time.perf_counter()
        search.fit(X, y)
        if cuda:
            torch.cuda.synchronize()
            results["peak_cuda_mb"][name] = torch.cuda.max_memory_allocated() / 2**20
        results["seconds"][name] = time.perf_counter() - began
        fitted[name] = search
        memory = f"   peak CUDA {results['peak_cuda_mb'][name]:.0f} MB" if cuda else ""
        print(
            f"{name:>8}: {results['seconds'][name]:8.1f} s   best mean CV accuracy "
            f"{search.best_score_:.4f}{memory}"
        )
    seconds = results["seconds"]
    if "stacked" in seconds:
        for peer, target in TARGETS.items():
            if peer in seconds:
                speedup = seconds[peer] / seconds["stacked"]
                results[f"speedup_vs_{peer}"] = speedup
                print(f"stacked vs {peer}: {speedup:.2f}x faster (GPU target >= {target:g}x)")
    if {"stacked", "skdeep"} <= fitted.keys():
        gap = 100 * np.abs(
            fitted["stacked"].cv_results_["mean_test_score"]
            - fitted["skdeep"].cv_results_["mean_test_score"]
        )
        results["max_score_gap_points"] = float(gap.max())
        print(
            f"largest gap between a candidate's stacked and one-at-a-time CV score: "
            f"{gap.max():.3f} points (target <= {SCORE_POINTS})"
        )
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
