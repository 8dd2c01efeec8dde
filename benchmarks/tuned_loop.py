"""What each part of the tuned hand loop saves a training step: the loop with and without it.

Copies of ``train_speed.py``'s tuned hand loop (``index_select``, fused Adam) train
MLP 784-128-10 on MNIST at batch 32 and one thread from the same weights, one epoch each in
turn: ``tuned``, with everything a skdeep fit does on a CPU; ``no_flush``, without denormal
floats flushed to zero (:mod:`skdeep.utils.denormals`); ``no_direct_step``, with torch's
``Optimizer.step`` and ``zero_grad`` instead of :mod:`skdeep.core._direct_step`. Prints each
loop's median and fastest epoch, the ratio of ``tuned`` to each of the others, and the share
of the first layer's Adam state that is denormal in the loop that does not flush.

Usage::

    python benchmarks/tuned_loop.py              # MNIST from $SKDEEP_DATA or ../shared/data
    python benchmarks/tuned_loop.py --epochs 9 --threads 2
"""

from __future__ import annotations

import argparse
import os
import statistics

import numpy as np
import torch
from train_speed import HandLoop, initial_state

from skdeep.datasets import get_data_home, load_mnist
from skdeep.utils.threads import torch_threads

LOOPS = {  # name: (flush, direct step)
    "tuned": (True, True),
    "no_flush": (False, True),
    "no_direct_step": (True, False),
}


def denormal_share(loop: HandLoop) -> float:
    """The share of the first layer's Adam means (``exp_avg``) that is denormal."""
    state = loop.optimizer.state[loop.module[0].weight]["exp_avg"].abs()
    return float(((state > 0) & (state < torch.finfo(torch.float32).tiny)).float().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(get_data_home()))
    parser.add_argument("--epochs", type=int, default=7, help="per loop; the first is a warm-up")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    images, labels = load_mnist(args.data)
    X = np.ascontiguousarray(images.reshape(len(images), -1) / np.float32(255))
    y = labels.astype(np.int64)
    start = initial_state("mlp", seed=0)
    cpu = torch.device("cpu")
    loops = {
        name: HandLoop("mlp", args.batch_size, X, y, start, cpu, True, flush=flush, direct=direct)
        for name, (flush, direct) in LOOPS.items()
    }
    times: dict[str, list[float]] = {name: [] for name in loops}
    with torch_threads(args.threads):
        for _ in range(args.epochs):
            for name, loop in loops.items():
                times[name].append(loop.epoch())
    print(
        f"MLP 784-128-10, {len(X)} rows, batch {args.batch_size}, {args.threads} thread(s), "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    medians = {name: statistics.median(t[1:]) for name, t in times.items()}
    for name, t in times.items():
        print(f"{name:<15} median {medians[name]:.3f} s/epoch, fastest {min(t[1:]):.3f}")
    for name in list(LOOPS)[1:]:
        print(f"tuned / {name}: {medians['tuned'] / medians[name]:.3f} (medians)")
    share = denormal_share(loops["no_flush"])
    print(f"first layer's exp_avg denormal without flushing: {share:.1%}")


if __name__ == "__main__":
    main()
