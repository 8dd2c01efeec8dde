"""One ``CNNClassifier`` fit with the recipe of a careful hand-written torch script, against it.

Both train the same network on all 60,000 MNIST training images and score it once on the
10,000 test images: 32 and 64 filters of 3x3 with batch norm, max pooling, 128 dense units
with batch norm, dropout 0.3; batches of 128; AdamW (torch's defaults) with a one-cycle
learning rate peaking at 3e-3, stepped per batch; label smoothing 0.05; a random shift of up
to 2 pixels of each training image at each epoch (a bilinear warp); 6 epochs. The script is a
plain loop over tensors in memory; skdeep is ``CNNClassifier`` with those parameters. It
prints each one's wall time of the fit, test accuracy and the ratio of the times, with the
machine's load average. ``--repeats N`` interleaves N pairs (script, skdeep, script, ...).

Usage::

    SKDEEP_DATA=<data home> python benchmarks/mnist_recipe.py            # about 8 minutes idle
    SKDEEP_DATA=<data home> python benchmarks/mnist_recipe.py --subset 6000 --epochs 2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from skdeep import CNNClassifier
from skdeep.datasets import load_mnist

BATCH = 128
PEAK_RATE = 3e-3
SMOOTHING = 0.05
SHIFT = 2.0


def recipe(epochs: int, seed: int) -> dict:
    """The ``CNNClassifier`` parameters of the script's recipe."""
    return {
        "filters": (32, 64),
        "kernel_sizes": (3, 3),
        "batch_norm": True,
        "dense_units": 128,
        "dropout": 0.3,
        "batch_size": BATCH,
        "optimizer": "adamw",
        "learning_rate": PEAK_RATE,
        "lr_schedule": "one_cycle",
        "label_smoothing": SMOOTHING,
        "augmentation": {"shift": SHIFT},
        "max_epochs": epochs,
        "validation_fraction": 0.0,
        "random_state": seed,
        "device": "cpu",
    }


def script_network() -> nn.Module:
    def block(inputs: int, outputs: int) -> list[nn.Module]:
        return [
            nn.Conv2d(inputs, outputs, 3, padding="same"),
            nn.BatchNorm2d(outputs),
            nn.ReLU(),
            nn.MaxPool2d(2),
        ]

    return nn.Sequential(
        *block(1, 32),
        *block(32, 64),
        nn.Flatten(),
        nn.Linear(64 * 7 * 7, 128),
        nn.BatchNorm1d(128),
        nn.ReLU(),
        nn.Dropout(0.3),
        nn.Linear(128, 10),
    )


def shifted(images: torch.Tensor) -> torch.Tensor:
    """Each image moved by its own random shift of up to ``SHIFT`` pixels in x and y."""
    n, _, height, width = images.shape
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    shift = (torch.rand(n, 2) * 2 - 1) * SHIFT
    theta[:, 0, 2] = shift[:, 0] * 2 / width
    theta[:, 1, 2] = shift[:, 1] * 2 / height
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, align_corners=False)


def fit_script(X, y, X_test, y_test, epochs: int, seed: int) -> tuple[float, float]:
    start = time.perf_counter()
    torch.manual_seed(seed)
    images = torch.from_numpy(X).reshape(-1, 1, 28, 28)
    labels = torch.from_numpy(y)
    network = script_network()
    optimizer = torch.optim.AdamW(network.parameters(), lr=PEAK_RATE)
    steps_per_epoch = math.ceil(len(labels) / BATCH)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=PEAK_RATE, total_steps=epochs * steps_per_epoch
    )
    loss_function = nn.CrossEntropyLoss(label_smoothing=SMOOTHING)
    for _ in range(epochs):
        network.train()
        order = torch.randperm(len(labels))
        for first in range(0, len(labels), BATCH):
            rows = order[first : first + BATCH]
            loss = loss_function(network(shifted(images[rows])), labels[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    seconds = time.perf_counter() - start
    network.eval()
    with torch.no_grad():
        test = torch.from_numpy(X_test).reshape(-1, 1, 28, 28)
        predicted = torch.cat([network(part).argmax(1) for part in test.split(1000)])
    return seconds, float((predicted.numpy() == y_test).mean())


def fit_skdeep(X, y, X_test, y_test, epochs: int, seed: int) -> tuple[float, float]:
    start = time.perf_counter()
    model = CNNClassifier(**recipe(epochs, seed)).fit(X, y)
    seconds = time.perf_counter() - start
    return seconds, float(model.score(X_test, y_test))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--subset", type=int, default=None, help="the first N training images")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args()

    X, y = load_mnist(subset="train")
    X_test, y_test = load_mnist(subset="test")
    X, X_test = (a.reshape(len(a), -1).astype(np.float32) / 255.0 for a in (X, X_test))
    y, y_test = np.asarray(y, dtype=np.int64), np.asarray(y_test, dtype=np.int64)
    if args.subset:
        X, y = X[: args.subset], y[: args.subset]
    print(
        f"MNIST: {len(y)} training and {len(y_test)} test images, {args.epochs} epochs, "
        f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.2f}"
    )
    runs = {"script": [], "skdeep": []}
    for repeat in range(args.repeats):
        for name, fit in (("script", fit_script), ("skdeep", fit_skdeep)):
            seconds, accuracy = fit(X, y, X_test, y_test, args.epochs, args.seed + repeat)
            runs[name].append({"seconds": seconds, "test_accuracy": accuracy})
            print(f"{name:7s} repeat {repeat}: {seconds:7.1f} s, test accuracy {accuracy:.4f}")
    ratios = [
        s["seconds"] / h["seconds"] for s, h in zip(runs["skdeep"], runs["script"], strict=True)
    ]
    print(
        f"skdeep / script time: {', '.join(f'{r:.2f}' for r in ratios)} "
        f"(median {statistics.median(ratios):.2f}); load average after {os.getloadavg()[0]:.2f}"
    )
    if args.out:
        with open(args.out, "w") as file:
            json.dump({"args": vars(args), "runs": runs, "ratios": ratios}, file, indent=2)


if __name__ == "__main__":
    main()
