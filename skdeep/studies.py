"""The hyper-parameter studies: one question each, several variants, several seeds."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ._progress import Progress
from .estimators import CNNClassifier, MLPClassifier
from .modules import MLP, count_params
from .report import markdown_table, pyplot

Variants = list[tuple[str, dict]]


@dataclass(frozen=True)
class Study:
    """A question about training, the variants that answer it, and what we expect beforehand.

    Parameters
    ----------
    name : str
    question : str
    expectation : str
        What the literature and experience predict, written before running.
    variants : callable
        ``variants(n_features, n_classes) -> [(label, estimator parameters), ...]``.
    network : {"mlp", "cnn"}, default="mlp"
    """

    name: str
    question: str
    expectation: str
    variants: Callable[[int, int], Variants]
    network: str = "mlp"


def _depth_variants(n_features: int, n_classes: int) -> Variants:
    variants = [(f"{depth} x 64", {"hidden_layer_sizes": (64,) * depth}) for depth in range(6)]
    deepest = count_params(MLP(n_features, n_classes, (64,) * 5))
    # The one-hidden-layer width with about as many parameters as the deepest net.
    width = round((deepest - n_classes) / (n_features + 1 + n_classes))
    variants.append((f"1 x {width} (same size as 5 x 64)", {"hidden_layer_sizes": (width,)}))
    return variants


def _init_variants(n_features: int, n_classes: int) -> Variants:
    return [
        (f"{activation} / {init}", {"activation": activation, "kernel_initializer": init})
        for activation in ("relu", "tanh")
        for init in (
            "glorot_uniform",
            "glorot_normal",
            "he_uniform",
            "he_normal",
            "random_uniform",
            "random_normal",
        )
    ]


STUDIES: dict[str, Study] = {
    study.name: study
    for study in [
        Study(
            "depth",
            "How deep should the network be?",
            "Depth helps little on small image data once one hidden layer is present; a "
            "one-layer net of the same size should be as good as the deepest one.",
            _depth_variants,
        ),
        Study(
            "width",
            "How wide should one hidden layer be?",
            "Accuracy rises with width and saturates; time grows with the parameter count.",
            lambda n, k: [
                (f"{w} units", {"hidden_layer_sizes": (w,)}) for w in (16, 32, 64, 128, 256, 512)
            ],
        ),
        Study(
            "init",
            "Which weight initialisation for ReLU and for tanh?",
            "He initialisation suits ReLU and Glorot suits tanh; the small fixed-scale random "
            "initialisations start slower. With Adam and a few layers the gaps stay small.",
            _init_variants,
        ),
        Study(
            "regularization",
            "What do L1, L2 and dropout change?",
            "Light L2 or dropout narrows the gap between training and validation loss and can "
            "help slightly; strong L1 or L2 underfits.",
            lambda n, k: (
                [("none", {})]
                + [(f"L1 {s:g}", {"l1": s}) for s in (1e-5, 1e-4, 1e-3)]
                + [(f"L2 {s:g}", {"l2": s}) for s in (1e-4, 1e-3, 1e-2)]
                + [(f"dropout {r:g}", {"dropout": r}) for r in (0.2, 0.5)]
            ),
        ),
        Study(
            "learning-rate",
            "Which learning rate, from too small to divergent?",
            "With Adam, 1e-3 to 1e-2 train well; 1e-5 is too slow to converge in the epochs "
            "given; 1 diverges or stalls.",
            lambda n, k: [
                (f"lr {lr:g}", {"learning_rate": lr}) for lr in (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
            ],
        ),
        Study(
            "lr-schedule",
            "Does a learning-rate schedule help?",
            "Decay and cycling end training at a lower rate, which lowers the final loss a "
            "little compared with a constant rate.",
            lambda n, k: [
                ("constant", {}),
                ("exponential decay", {"lr_schedule": "exponential"}),
                ("cyclic", {"lr_schedule": "cyclic"}),
            ],
        ),
        Study(
            "batch-size",
            "How does batch size trade accuracy against time and memory?",
            "Larger batches train faster per epoch but make fewer updates, so accuracy after the "
            "same epochs falls unless the learning rate grows with the batch (the sqrt rule).",
            lambda n, k: [
                (
                    f"{b}{' + sqrt lr' if rule else ''}",
                    {"batch_size": b, **({"batch_size_scaling": rule} if rule else {})},
                )
                for b in (16, 64, 256, 1024)
                for rule in (None, "sqrt")
            ],
        ),
        Study(
            "optimizer",
            "Which optimizer?",
            "Adam and NAdam converge fastest at their usual rate; plain SGD is slowest; momentum "
            "closes most of the gap. Each optimizer runs at its customary learning rate.",
            lambda n, k: [
                ("sgd", {"optimizer": "sgd", "momentum": 0.0, "learning_rate": 1e-2}),
                ("sgd + momentum", {"optimizer": "sgd", "momentum": 0.9, "learning_rate": 1e-2}),
                ("rmsprop", {"optimizer": "rmsprop", "momentum": 0.0, "learning_rate": 1e-3}),
                ("adam", {"optimizer": "adam", "learning_rate": 1e-3}),
                ("nadam", {"optimizer": "nadam", "learning_rate": 2e-3}),
            ],
        ),
        Study(
            "cnn-architecture",
            "Which convolution filters and kernel sizes?",
            "More filters help until the data runs out; 3x3 kernels match 5x5 with fewer "
            "parameters.",
            lambda n, k: [
                ("LeNet-5 (6, 16) 5x5", {}),
                ("(6, 16) 3x3", {"kernel_sizes": (3, 3)}),
                ("(16, 32) 3x3", {"filters": (16, 32), "kernel_sizes": (3, 3)}),
                ("(32, 64) 3x3", {"filters": (32, 64), "kernel_sizes": (3, 3)}),
                ("one block (32,) 5x5", {"filters": (32,), "kernel_sizes": (5,)}),
            ],
            network="cnn",
        ),
    ]
}


@dataclass
class StudyResult:
    """What a study found.

    Attributes
    ----------
    study : Study
    frame : DataFrame
        One row per variant: mean and std over seeds of the test accuracy, fit seconds,
        seconds per epoch, peak memory where recorded, parameter count, failed runs.
    runs : DataFrame
        One row per variant and seed.
    curves : DataFrame
        One row per variant, seed and epoch: the training history.
    seeds, max_epochs, n_train, n_test : int
    """

    study: Study
    frame: pd.DataFrame
    runs: pd.DataFrame
    curves: pd.DataFrame
    seeds: int
    max_epochs: int
    n_train: int
    n_test: int
    notes: list[str] = field(default_factory=list)

    def to_markdown(self, floatfmt: str = ".4f") -> str:
        """Return the table as Markdown, missing values left blank."""
        return markdown_table(self.frame, floatfmt)

    def plot(self):
        """Plot validation loss per epoch (mean over seeds) and test accuracy per variant.

        Returns
        -------
        matplotlib.figure.Figure
        """
        plt = pyplot()
        from matplotlib.ticker import MaxNLocator

        fig, (curve_ax, score_ax) = plt.subplots(1, 2, figsize=(12, 0.3 * len(self.frame) + 3))
        palette = plt.get_cmap("tab10" if len(self.frame) <= 10 else "tab20")
        colours = {v: palette(i % palette.N) for i, v in enumerate(self.frame.index)}
        metric = "valid_loss" if "valid_loss" in self.curves else "train_loss"
        if not self.curves.empty:
            mean = self.curves.groupby(["variant", "epoch"], sort=False)[metric].mean()
            for variant in mean.index.unique(level=0):
                curve = mean.loc[variant]
                curve_ax.plot(curve.index, curve.to_numpy(), color=colours[variant])
        curve_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        curve_ax.set_xlabel("epoch")
        curve_ax.set_ylabel(f"{metric} (mean over {self.seeds} seeds)")
        curve_ax.set_yscale("log")
        # One colour per variant in both panels; the right panel's labels name them.
        for position, (variant, row) in enumerate(self.frame.iloc[::-1].iterrows()):
            score_ax.errorbar(
                row["test_accuracy_mean"],
                position,
                xerr=row["test_accuracy_std"],
                fmt="o",
                capsize=3,
                color=colours[variant],
            )
        score_ax.set_yticks(range(len(self.frame)), self.frame.index[::-1])
        for label in score_ax.get_yticklabels():
            label.set_color(colours[label.get_text()])
        score_ax.set_xlabel(f"test accuracy (mean ± std over {self.seeds} seeds)")
        score_ax.grid(axis="x", alpha=0.3)
        fig.suptitle(self.study.question)
        fig.tight_layout()
        return fig


def _base_estimator(network: str, device: str, max_epochs: int):
    if network == "cnn":
        return CNNClassifier(device=device, max_epochs=max_epochs)
    return make_pipeline(StandardScaler(), MLPClassifier(device=device, max_epochs=max_epochs))


def _set_network_params(estimator, params: dict):
    network = estimator[-1] if hasattr(estimator, "steps") else estimator
    network.set_params(**params)
    return network


def run_study(
    name: str,
    X,
    y,
    *,
    seeds: int = 3,
    max_epochs: int = 20,
    test_size: float = 0.2,
    device: str = "auto",
    random_state: int = 0,
    progress: str = "auto",
) -> StudyResult:
    """Run the study ``name`` (a key of ``STUDIES``) on ``(X, y)``.

    Every variant trains ``seeds`` times (seeds 0, 1, ...) on the same stratified training
    split and is scored on the same held-out test split. Networks keep their defaults except
    for the study's parameters; the MLP sees standardised features, the CNN pixels as given.
    A run that fails (a divergent loss, say) is recorded as failed and the study goes on.

    Parameters
    ----------
    name : str
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    seeds : int, default=3
    max_epochs : int, default=20
    test_size : float, default=0.2
    device : str, default="auto"
    random_state : int, default=0
        Seeds the train/test split.
    progress : {"auto", "bar", "lines", "quiet"}, default="auto"

    Returns
    -------
    StudyResult

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> result = run_study("width", X[:200], y[:200], seeds=1, max_epochs=2, progress="quiet")
    >>> result.frame["n_params"].tolist()[:2]
    [1210, 2410]
    """
    if name not in STUDIES:
        raise ValueError(f"Unknown study {name!r}; choose among {list(STUDIES)}.")
    if seeds < 1 or max_epochs < 1:
        raise ValueError("seeds and max_epochs must be at least 1.")
    study = STUDIES[name]
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, random_state=random_state, stratify=y
    )
    variants = study.variants(np.asarray(X).reshape(len(y), -1).shape[1], len(np.unique(y)))
    base = _base_estimator(study.network, device, max_epochs)
    tracker = Progress(len(variants) * seeds, f"study {name}", mode=progress)
    runs, curves, notes = [], [], []
    for label, params in variants:
        for seed in range(seeds):
            estimator = clone(base)
            network = _set_network_params(estimator, {**params, "random_state": seed})
            run = {"variant": label, "seed": seed}
            start = time.perf_counter()
            try:
                estimator.fit(X_train, y_train)
            except Exception as error:  # noqa: BLE001 - a failed run is a result of the study
                notes.append(f"{label}, seed {seed}: {type(error).__name__}: {error}")
                runs.append({**run, "status": "failed", "fit_time": time.perf_counter() - start})
                tracker.update(f"{label} seed {seed}: failed")
                continue
            history = network.history_frame().reset_index()
            run.update(
                status="complete",
                test_accuracy=estimator.score(X_test, y_test),
                fit_time=time.perf_counter() - start,
                epoch_time=float(history["dur"].median()),
                n_params=network.count_params(),
            )
            if "peak_rss_mb" in history:
                run["peak_rss_mb"] = float(history["peak_rss_mb"].max())
            runs.append(run)
            keep = [
                c for c in ("epoch", "train_loss", "valid_loss", "valid_acc", "lr") if c in history
            ]
            curves.append(history[keep].assign(variant=label, seed=seed))
            tracker.update(f"{label} seed {seed}: accuracy {run['test_accuracy']:.4f}")
    tracker.close()
    runs_frame = pd.DataFrame(runs)
    return StudyResult(
        study=study,
        frame=_summarise(runs_frame, [label for label, _ in variants]),
        runs=runs_frame,
        curves=pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(),
        seeds=seeds,
        max_epochs=max_epochs,
        n_train=len(y_train),
        n_test=len(y_test),
        notes=notes,
    )


def _summarise(runs: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    complete = runs[runs["status"] == "complete"]
    numeric = [
        c for c in ("test_accuracy", "fit_time", "epoch_time", "peak_rss_mb") if c in complete
    ]
    grouped = complete.groupby("variant")[numeric]
    frame = pd.DataFrame(index=pd.Index(order, name="variant"))
    for column in numeric:
        frame[f"{column}_mean"] = grouped.mean()[column]
        if column == "test_accuracy":
            frame[f"{column}_std"] = grouped.std(ddof=0)[column]
    if "n_params" in complete:
        frame["n_params"] = complete.groupby("variant")["n_params"].first().astype("Int64")
    frame["failed_runs"] = runs.groupby("variant")["status"].apply(
        lambda s: int((s == "failed").sum())
    )
    return frame
