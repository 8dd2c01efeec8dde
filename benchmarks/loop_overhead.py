"""Where a skdeep training step's time goes: microseconds per step, piece by piece.

One process, MLP 784-128-10 (or a tiny 4-4-10 MLP with ``--tiny``, where almost all of a step is
overhead), batch 32, the same batches for everyone; every variant runs one epoch in turn and
the fastest epoch of each counts (the least disturbed by other processes); the minor page
faults per step are the mean over all its epochs:

- ``hand``: a hand-written loop, ``X[idx]``, ``torch.optim.Adam()`` (the reference);
- ``hand_tuned``: ``index_select``, ``Adam(fused=True)`` stepped and its gradients reset without
  the Python around torch's kernels (``skdeep.core._direct_step``), denormals flushed to zero;
- ``skdeep``: the estimator's net as it trains, at the hand loops' thread count;
- ``skdeep_stock_loop``: the same net with skorch's own per-batch machinery (no
  ``FastLoopMixin``) and a per-sample loss followed by a mean;
- ``skdeep_no_<name>``: the net without its default callback ``<name>`` (``--without``);
- ``skdeep_no_callbacks``: the net without any callback, i.e. skorch's loop alone.

Usage::

    python benchmarks/loop_overhead.py            # MNIST rows from --data, or random data
    python benchmarks/loop_overhead.py --tiny --without epoch_metrics,terminate_on_nan,valid_acc
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import time
from pathlib import Path

import numpy as np
import torch
from skorch import NeuralNet

import skdeep.core._base
from skdeep import MLPClassifier
from skdeep.core._direct_step import step, zero_grads
from skdeep.core._net import SkdeepNet
from skdeep.datasets import get_data_home, load_mnist
from skdeep.modules import MLP
from skdeep.utils.denormals import flushed_denormals

REPO = Path(__file__).resolve().parents[1]


class StockLoopNet(SkdeepNet):
    """SkdeepNet with skorch's per-batch machinery and a per-sample loss: the path before."""

    notify = NeuralNet.notify
    train_step = NeuralNet.train_step
    _zero_grad_optimizer = NeuralNet._zero_grad_optimizer
    _step_optimizer = NeuralNet._step_optimizer
    _set_training = NeuralNet._set_training
    infer = NeuralNet.infer
    initialize_history = NeuralNet.initialize_history
    run_single_epoch = NeuralNet.run_single_epoch

    def get_loss(self, y_pred, y_true, X=None, training=False):
        return self.criterion_(y_pred, y_true).mean()


def hand_epoch(X, y, batch_size, tuned: bool, hidden: tuple[int, ...]):
    torch.manual_seed(0)
    module = MLP(X.shape[1], 10, hidden)
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3, fused=True if tuned else None)

    def epoch() -> None:
        order = torch.randperm(len(X))
        with flushed_denormals() if tuned else contextlib.nullcontext():
            for first in range(0, len(X), batch_size):
                idx = order[first : first + batch_size]
                if tuned:
                    Xb, yb = X.index_select(0, idx), y.index_select(0, idx)
                else:
                    Xb, yb = X[idx], y[idx]
                (zero_grads if tuned else type(optimizer).zero_grad)(optimizer)
                torch.nn.functional.cross_entropy(module(Xb), yb).backward()
                (step if tuned else type(optimizer).step)(optimizer)

    return epoch


def skdeep_epoch(X, y, batch_size, hidden, stock: bool = False, without=None):
    """One epoch of skdeep's net; ``without``: names of callbacks to drop, or "all"."""
    net_class = skdeep.core._base.SkdeepNet
    skdeep.core._base.SkdeepNet = StockLoopNet if stock else SkdeepNet
    try:
        estimator = MLPClassifier(
            hidden_layer_sizes=hidden,
            batch_size=batch_size,
            max_epochs=1,
            validation_fraction=0.0,
            device="cpu",
            random_state=0,
            n_threads=torch.get_num_threads(),  # the hand loops' count: no thread policy here
        ).fit(X.numpy(), y.numpy())
    finally:
        skdeep.core._base.SkdeepNet = net_class
    net = estimator.net_
    if without is not None:
        net.callbacks_ = [
            (n, cb) for n, cb in net.callbacks_ if without != "all" and n not in without
        ]
    train, _ = estimator._datasets(X.numpy(), y.numpy(), None, torch.device("cpu"))
    return lambda: net.partial_fit(train, epochs=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_data = str(get_data_home())  # $SKDEEP_DATA, else ~/skdeep_data
    parser.add_argument("--data", default=default_data)
    parser.add_argument("--samples", type=int, default=6400)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=11)
    parser.add_argument("--tiny", action="store_true", help="a 4-4-10 MLP on random data")
    parser.add_argument(
        "--without",
        default="epoch_metrics",
        help="comma-separated default callbacks to time the net without, one variant each",
    )
    args = parser.parse_args()

    rng = np.random.RandomState(0)
    if args.tiny:
        X_np = rng.rand(args.samples, 4).astype(np.float32)
        y_np = (X_np[:, 0] * 10).astype(np.int64)
        hidden: tuple[int, ...] = (4,)
    else:
        try:
            images, y_np = load_mnist(args.data)
            X_np = images[: args.samples].reshape(args.samples, -1) / np.float32(255)
            y_np = y_np[: args.samples]
        except (FileNotFoundError, OSError):
            X_np = rng.rand(args.samples, 784).astype(np.float32)
            y_np = rng.randint(0, 10, args.samples)
        hidden = (128,)
    X, y = torch.from_numpy(np.ascontiguousarray(X_np)), torch.from_numpy(y_np)
    size = args.batch_size
    variants = {
        "hand": hand_epoch(X, y, size, tuned=False, hidden=hidden),
        "hand_tuned": hand_epoch(X, y, size, tuned=True, hidden=hidden),
        "skdeep": skdeep_epoch(X, y, size, hidden),
        "skdeep_stock_loop": skdeep_epoch(X, y, size, hidden, stock=True),
    }
    for name in filter(None, args.without.split(",")):
        variants[f"skdeep_no_{name}"] = skdeep_epoch(X, y, size, hidden, without=(name,))
    variants["skdeep_no_callbacks"] = skdeep_epoch(X, y, size, hidden, without="all")
    times: dict[str, list[float]] = {name: [] for name in variants}
    faults: dict[str, int] = dict.fromkeys(variants, 0)
    for _ in range(args.repeat):
        for name, epoch in variants.items():
            faults_before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            start = time.perf_counter()
            epoch()
            times[name].append(time.perf_counter() - start)
            faults[name] += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults_before
    steps = -(-len(X) // size)
    best = {name: min(values) / steps * 1e6 for name, values in times.items()}
    print(
        f"{len(X)} samples, batch {size}, {torch.get_num_threads()} torch threads, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    for name, us in best.items():
        print(
            f"{name:<28} {us:8.1f} us/step  {us / best['hand']:.3f} x hand  "
            f"{us - best['hand_tuned']:+7.1f} us vs hand_tuned  "
            f"{faults[name] / (steps * args.repeat):5.1f} page faults/step"
        )


if __name__ == "__main__":
    main()
