"""What ``augmentation`` adds to a training epoch, side by side in one process.

Each configuration trains the same network on the same MNIST rows without augmentation, with
skdeep's ``augmentation="standard"`` (torch's ``affine_grid`` + ``grid_sample``), and, when
kornia is installed, with kornia's ``RandomAffine`` (the same ranges, per-image parameters) in
its place. One epoch of each variant in turn, the order rotating every repeat, so that all see
the same machine load; each fit's first epoch is a warm-up and not timed. The ratios are those
of each repeat's epochs (then their median), in wall time (skorch's ``dur``) and in the CPU
time of the training thread (one torch thread by default). On a busy machine both vary from
fit to fit by more than augmentation costs; the ``share`` column does not: the CPU time spent
inside the augmentation calls, as a fraction of the same epoch's CPU time. On a CPU only (a
GPU's kernels run asynchronously, so the share would mean nothing there).

Usage::

    python benchmarks/augmentation_cost.py                     # 10,000 MNIST rows, 5 repeats
    python benchmarks/augmentation_cost.py --subset 60000 --repeats 3
    python benchmarks/augmentation_cost.py --configs lenet_b32 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import Callback
from train_speed import load_data  # the same MNIST, or its digits stand-in

from skdeep import CNNClassifier, MLPClassifier
from skdeep.core import check_augmentation
from skdeep.datasets import get_data_home

IMAGE = (1, 28, 28)
CONFIGS = {
    # LeNet-5 (CNNClassifier's default layers, padding="valid") and the MLP 784-128-10.
    "lenet_b32": (CNNClassifier, {"padding": "valid", "batch_size": 32}),
    "lenet_b128": (CNNClassifier, {"padding": "valid", "batch_size": 128}),
    "mlp_b32": (MLPClassifier, {"hidden_layer_sizes": (128,), "input_shape": IMAGE}),
}


def kornia_augmentation(ranges: dict[str, float]):
    """kornia's ``RandomAffine`` with skdeep's ranges, on flat rows or images; None without it."""
    try:
        import kornia.augmentation as K
    except ImportError:
        return None
    _, height, width = IMAGE
    augment = K.RandomAffine(
        degrees=ranges["rotation"],
        translate=(ranges["shift"] / width, ranges["shift"] / height),
        scale=(1 - ranges["scale"], 1 + ranges["scale"]),
        p=1.0,
        same_on_batch=False,
    )

    def apply(X: torch.Tensor) -> torch.Tensor:
        return augment(X.reshape(len(X), *IMAGE)).reshape(X.shape)

    apply.describe = lambda: "kornia.augmentation.RandomAffine"  # type: ignore[attr-defined]
    return apply


# CPU seconds spent inside the augmentation since the epoch began (reset by EpochCPUTime).
AUGMENT_CPU_S = [0.0]


class Timed:
    """An augmentation that adds the CPU time of each call to ``AUGMENT_CPU_S``."""

    def __init__(self, augment) -> None:
        self.augment = augment

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        start = time.thread_time()
        out = self.augment(X)
        AUGMENT_CPU_S[0] += time.thread_time() - start
        return out


def variants(cls) -> dict:
    """Estimator classes for each variant: none, skdeep's, kornia's (when installed)."""
    ranges = check_augmentation("standard")

    class WithSkdeep(cls):
        def _augmentation(self):
            augment = super()._augmentation()
            return None if augment is None else Timed(augment)

    found = {"none": (cls, None), "skdeep": (WithSkdeep, "standard")}
    if kornia_augmentation(ranges) is not None:

        class WithKornia(cls):
            def _augmentation(self):
                if self.augmentation is None:
                    return None
                return Timed(kornia_augmentation(ranges))

        found["kornia"] = (WithKornia, "standard")
    for variant_cls, _ in found.values():
        variant_cls.__name__ = cls.__name__
    return found


class EpochCPUTime(Callback):
    """Records each epoch's CPU time of the training thread in the history, as ``cpu_s``.

    With one torch thread the whole step runs in the calling thread. The part of it spent
    inside the augmentation is recorded as ``augment_cpu_s``.
    """

    def on_epoch_begin(self, net, **kwargs):
        AUGMENT_CPU_S[0] = 0.0
        self.start = time.thread_time()

    def on_epoch_end(self, net, **kwargs):
        net.history.record("cpu_s", time.thread_time() - self.start)
        net.history.record("augment_cpu_s", AUGMENT_CPU_S[0])


def epoch_seconds(cls, params: dict, augmentation, X, y) -> tuple[float, ...]:
    """Wall, CPU and augmentation CPU seconds of a fit's second epoch (the first warms up)."""
    clf = cls(
        **params,
        augmentation=augmentation,
        max_epochs=2,
        validation_fraction=0.0,
        n_threads=torch.get_num_threads(),
        callbacks=[EpochCPUTime()],
        device="cpu",
        random_state=0,
    ).fit(X, y)
    last = clf.history_[-1]
    return float(last["dur"]), float(last["cpu_s"]), float(last["augment_cpu_s"])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(get_data_home()), help="folder of the MNIST files")
    parser.add_argument("--subset", type=int, default=10000, help="first N training images")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch's CPU threads (default 1: steadier on a shared machine)",
    )
    parser.add_argument("--out", help="write the results as JSON")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    X, y, _, _, source = load_data(Path(args.data))
    X, y = X[: args.subset], y[: args.subset]
    load_before = os.getloadavg()
    print(
        f"{source}: {len(X)} rows; CPU, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {os.cpu_count()} CPUs, load average "
        + ", ".join(f"{v:.2f}" for v in load_before)
    )
    results: dict = {"source": source, "rows": len(X), "load_before": load_before, "configs": {}}
    print(
        f"{'config':<11} {'variant':<7} {'wall s':>7} {'ratio':>6} {'best':>6}   "
        f"{'cpu s':>6} {'ratio':>6} {'best':>6}   {'share':>5}   (ratios to none; share: of"
        " the epoch's CPU time inside the augmentation; medians over repeats)"
    )
    for config in args.configs.split(","):
        cls, params = CONFIGS[config]
        found = variants(cls)
        names = list(found)
        times = {n: {"wall": [], "cpu": [], "share": []} for n in names}
        for repeat in range(args.repeats):
            order = names[repeat % len(names) :] + names[: repeat % len(names)]
            for name in order:
                variant_cls, augmentation = found[name]
                wall, cpu, augment = epoch_seconds(variant_cls, params, augmentation, X, y)
                times[name]["wall"].append(wall)
                times[name]["cpu"].append(cpu)
                times[name]["share"].append(augment / cpu)
        rows = {}
        for name in names:
            row = rows[name] = {}
            for clock in ("wall", "cpu"):
                mine, base = times[name][clock], times["none"][clock]
                ratios = [t / b for t, b in zip(mine, base, strict=True)]
                row[clock] = {
                    "epoch_s": mine,
                    "median_epoch_s": statistics.median(mine),
                    "median_ratio": statistics.median(ratios),
                    "best_ratio": min(mine) / min(base),
                }
            row["augment_share"] = times[name]["share"]
            row["median_augment_share"] = share = statistics.median(times[name]["share"])
            wall, cpu = row["wall"], row["cpu"]
            print(
                f"{config:<11} {name:<7} {wall['median_epoch_s']:>7.3f} "
                f"{wall['median_ratio']:>6.3f} {wall['best_ratio']:>6.3f}   "
                f"{cpu['median_epoch_s']:>6.3f} {cpu['median_ratio']:>6.3f} "
                f"{cpu['best_ratio']:>6.3f}   {share:>5.1%}",
                flush=True,
            )
        results["configs"][config] = rows
    results["load_after"] = os.getloadavg()
    print("load average after: " + ", ".join(f"{v:.2f}" for v in results["load_after"]))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
