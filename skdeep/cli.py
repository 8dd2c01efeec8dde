"""The ``skdeep`` command: ``skdeep compare`` and ``skdeep study``."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

DATASETS = ("digits", "mnist", "fashion-mnist", "california")


@dataclass
class Dataset:
    """Data loaded for a command, with the lines that describe it in a report."""

    name: str
    X: object
    y: object
    description: list[str]
    images: bool


def _subsample(X, y, max_samples: int | None, random_state: int, stratify: bool):
    if max_samples is None or max_samples >= len(y):
        return X, y, None
    from sklearn.model_selection import train_test_split

    X, _, y, _ = train_test_split(
        X,
        y,
        train_size=max_samples,
        random_state=random_state,
        stratify=y if stratify else None,
    )
    return X, y, max_samples


def load_dataset(
    name: str,
    *,
    target: str | None = None,
    data_home: str | None = None,
    max_samples: int | None = None,
    random_state: int = 0,
) -> Dataset:
    """Load a dataset by name (see ``DATASETS``) or from a CSV path, ready for a comparison.

    Images are scaled to [0, 1] and flattened. ``max_samples`` draws a stratified (for
    classes) random subset.

    Parameters
    ----------
    name : str
        ``"digits"``, ``"mnist"``, ``"fashion-mnist"``, ``"california"`` or a ``.csv`` path.
    target : str, default=None
        Target column of a CSV file.
    data_home : str, default=None
        Where the downloaded datasets live (see :func:`skdeep.datasets.get_data_home`).
    max_samples : int, default=None
    random_state : int, default=0

    Returns
    -------
    Dataset

    Examples
    --------
    >>> data = load_dataset("digits", max_samples=100)
    >>> data.X.shape, data.images
    ((100, 64), True)
    """
    from . import datasets

    images = name in ("digits", "mnist", "fashion-mnist")
    if name == "digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        X = X / 16.0
        source = "digits (scikit-learn, embedded): 8x8 images of handwritten digits"
    elif name in ("mnist", "fashion-mnist"):
        loader = datasets.load_mnist if name == "mnist" else datasets.load_fashion_mnist
        X, y = loader(data_home, subset="train")
        X = X.reshape(len(X), -1).astype(np.float32) / 255.0
        source = f"{name} training set: 28x28 images"
    elif name == "california":
        X, y = datasets.load_california_housing(data_home)
        source = "California housing (1990 census), median house value in USD"
    elif name.endswith(".csv"):
        if target is None:
            raise ValueError("A CSV dataset needs --target COLUMN naming the column to predict.")
        frame = pd.read_csv(name)
        if target not in frame.columns:
            raise ValueError(
                f"{name} has no column {target!r}; its columns: {list(frame.columns)}."
            )
        frame = frame.dropna(subset=[target])
        X, y = frame.drop(columns=target), frame[target].to_numpy()
        source = f"{Path(name).name}, target column {target!r}"
    else:
        raise ValueError(
            f"Unknown dataset {name!r}; choose among {list(DATASETS)} or give a .csv path."
        )
    from .compare import infer_task

    task = infer_task(y)
    X, y, subset = _subsample(X, y, max_samples, random_state, task == "classification")
    n_features = X.shape[1]
    summary = f"{len(y)} samples, {n_features} features, " + (
        f"{len(np.unique(y))} classes" if task == "classification" else "regression"
    )
    description = [f"dataset: {source}", summary]
    if subset is not None:
        description.append(
            f"a random {'stratified ' * (task == 'classification')}subset of "
            f"{subset} samples (--max-samples)"
        )
    if isinstance(X, pd.DataFrame):
        other = X.select_dtypes(exclude=["number", "bool"]).columns.tolist()
        missing = int(X.isna().to_numpy().sum())
        if other or missing:
            description.append(
                f"non-numeric columns {other} one-hot encoded; {missing} missing values imputed"
            )
    return Dataset(name, X, y, description, images)


def _print_table(result) -> None:
    metric = result.scoring[0]
    frame = result.frame
    table = pd.DataFrame(
        {
            metric: [
                f"{m:.4f} ± {s:.4f}"
                for m, s in zip(frame[f"{metric}_mean"], frame[f"{metric}_std"], strict=True)
            ],
            **{s: frame[f"{s}_mean"].map("{:.4f}".format) for s in result.scoring[1:]},
            "fit s": frame["fit_time"].map("{:.2f}".format),
            "predict s": frame["predict_time"].map("{:.3f}".format),
            "params": frame["n_params"].map(lambda n: "" if pd.isna(n) else f"{n:,}"),
            "p vs best": frame["p_vs_best"].map(lambda p: "" if pd.isna(p) else f"{p:.3f}"),
        },
        index=frame.index,
    )
    print(table.to_string())


def _output_and_data(args: argparse.Namespace, label: str) -> tuple[Path, Dataset]:
    """The output folder (checked before any loading) and the data of a command."""
    from .report import prepare_output_dir

    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = Path(args.out or f"skdeep-out/{label}-{Path(args.dataset).stem}-{stamp}")
    out = prepare_output_dir(out, force=args.force)
    data = load_dataset(
        args.dataset,
        target=args.target,
        data_home=args.data_home,
        max_samples=args.max_samples,
        random_state=args.random_state,
    )
    return out, data


def _progress_mode(args: argparse.Namespace) -> str:
    return "quiet" if args.quiet or args.json else "auto"


def _command_line(args: argparse.Namespace) -> str:
    return shlex.join(["skdeep", *args.argv])


def _compare(args: argparse.Namespace) -> int:
    from .baselines import CLASSIFICATION_MODELS, default_models
    from .compare import compare, infer_task
    from .report import comparison_summary, write_comparison_report

    out, data = _output_and_data(args, "compare")
    task = infer_task(data.y)
    if args.models:
        names = [n.strip() for n in args.models.split(",") if n.strip()]
    elif task == "classification":
        names = list(CLASSIFICATION_MODELS)
        if data.images:
            names.insert(1, "cnn")
    else:
        names = None
    models = default_models(
        task,
        data.X,
        names,
        random_state=args.random_state,
        device=args.device,
        max_epochs=args.epochs,
    )
    scoring = args.scoring.split(",") if args.scoring else None
    result = compare(
        models,
        data.X,
        data.y,
        cv=args.cv,
        scoring=scoring,
        random_state=args.random_state,
        progress=_progress_mode(args),
    )
    files = write_comparison_report(
        result,
        out,
        title=f"skdeep compare: {data.name}",
        description=data.description,
        command=_command_line(args),
    )
    if args.json:
        print(
            json.dumps(
                {**comparison_summary(result), "out": str(out), "files": [str(f) for f in files]},
                indent=2,
            )
        )
        return 0
    for line in data.description:
        print(line)
    _print_table(result)
    print(f"\nbest: {result.best}; report, table and figure in {out}/ ({result.elapsed:.0f} s)")
    return 0


def _study(args: argparse.Namespace) -> int:
    from .report import json_records, write_study_report
    from .studies import run_study

    out, data = _output_and_data(args, f"study-{args.name}")
    result = run_study(
        args.name,
        data.X,
        data.y,
        seeds=args.seeds,
        max_epochs=args.epochs,
        device=args.device,
        random_state=args.random_state,
        progress=_progress_mode(args),
    )
    write_study_report(result, out, description=data.description, command=_command_line(args))
    if args.json:
        print(
            json.dumps(
                {
                    "study": args.name,
                    "out": str(out),
                    "variants": json_records(result.frame),
                },
                indent=2,
            )
        )
        return 0
    print(result.study.question)
    print(result.frame.to_string(float_format="{:.4f}".format))
    print(f"\nreport, tables and figure in {out}/")
    return 0


def _add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset",
        default="digits",
        help=f"{', '.join(DATASETS)}, or a path to a .csv file (default digits)",
    )
    parser.add_argument("--target", help="target column of a .csv dataset")
    parser.add_argument("--max-samples", type=int, help="use a random subset of this many samples")
    parser.add_argument(
        "--data-home", help="folder of the datasets (default $SKDEEP_DATA or ~/skdeep_data)"
    )
    parser.add_argument("--out", help="output folder (default skdeep-out/COMMAND-...-TIME)")
    parser.add_argument("--force", action="store_true", help="replace a non-empty --out folder")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.add_argument("--json", action="store_true", help="print a JSON summary instead")


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the ``skdeep`` command."""
    from .studies import STUDIES

    parser = argparse.ArgumentParser(
        prog="skdeep", description="PyTorch networks as scikit-learn estimators."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    compare = commands.add_parser(
        "compare",
        help="cross-validate networks and classical baselines on the same folds",
        description="Cross-validate networks and classical baselines on the same folds; print "
        "the table, write report.md, results.csv and the figures.",
    )
    _add_common_arguments(compare)
    compare.add_argument(
        "--models",
        help="comma-separated: mlp, cnn, logistic, ridge, "
        "random_forest, hist_gradient_boosting, svc, knn (default: all that fit)",
    )
    compare.add_argument("--cv", type=int, default=5, help="number of folds (default 5)")
    compare.add_argument(
        "--scoring", help="comma-separated scikit-learn scorer names; the first ranks the models"
    )
    compare.add_argument("--epochs", type=int, help="epochs of the networks (default: theirs)")
    compare.set_defaults(run=_compare)

    study = commands.add_parser(
        "study",
        help="run a hyper-parameter study and write its report",
        description="Train the variants of one study over several seeds; print the table, "
        "write report.md, the CSV files and the figure.",
    )
    study.add_argument("name", choices=list(STUDIES), help="the study to run")
    _add_common_arguments(study)
    study.add_argument("--seeds", type=int, default=3, help="repetitions per variant (default 3)")
    study.add_argument("--epochs", type=int, default=20, help="epochs per run (default 20)")
    study.set_defaults(run=_study)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``skdeep`` command with ``argv`` (the process arguments when None)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv
    try:
        return args.run(args)
    except (FileExistsError, FileNotFoundError, ValueError) as error:
        print(f"skdeep {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
