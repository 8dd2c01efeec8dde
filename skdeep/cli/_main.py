"""The ``skdeep`` command: ``skdeep compare``, ``skdeep study`` and ``skdeep tune``.

Each subcommand is added to the parser by its own ``_add_<name>_command`` function (listed in
``SUBCOMMANDS``) and runs as ``args.run(args)``. Every option is checked before anything
trains or is written: argparse ``type=`` converters (``skdeep.cli._options``), then the
checks that need the data. Exit status: 0 done; 1 a report was written but a model failed on
every fold; 2 bad options, data or output folder (nothing written).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from .._version import __version__
from ..datasets import DOWNLOADABLE, NAMED_DATASETS
from ..utils.formatting import format_seconds
from ..utils.interrupt import SigintWatch
from ._data import Dataset, check_data_options, load_dataset
from ._options import (
    check_folds,
    check_models,
    device_type,
    fold_count,
    models_type,
    non_negative_int,
    positive_int,
    scoring_type,
)

__all__ = ["build_parser", "main"]

EXIT_MODEL_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a process ended by Ctrl-C


def _output_folder(args: argparse.Namespace, label: str) -> Path:
    """The output folder, checked (never created) before any data is loaded."""
    from ..utils.files import check_output_dir

    stamp = time.strftime("%Y%m%d-%H%M%S")
    stem = Path(args.dataset).name.split(".")[0]
    out = Path(args.out) if args.out else Path(f"skdeep-out/{label}-{stem}-{stamp}")
    return check_output_dir(out, force=args.force)


def _checked_options(args: argparse.Namespace, label: str) -> Path:
    """The output folder, after the data options: checked from the options and the CSV header
    alone, before torch or any estimator is imported; nothing is created."""
    check_data_options(
        args.dataset, target=args.target, download=args.download, data_home=args.data_home
    )
    return _output_folder(args, label)


def _data(args: argparse.Namespace) -> Dataset:
    """The data of a command, loaded and described."""
    return load_dataset(
        args.dataset,
        target=args.target,
        data_home=args.data_home,
        max_samples=args.max_samples,
        random_state=args.random_state,
        download=args.download,
    )


def _progress_mode(args: argparse.Namespace) -> str:
    return "quiet" if args.quiet or args.json else "auto"


def _command_line(args: argparse.Namespace) -> str:
    return shlex.join(["skdeep", *args.argv])


def _print_json(summary: dict, out: Path, **more) -> None:
    """Print a command's JSON summary (``--json``): its own keys, the output folder, ``more``."""
    print(json.dumps({**summary, "out": str(out), **more}, indent=2, default=str))


def _report_failures(command: str, failures: dict[str, str]) -> int:
    for name, error in failures.items():
        print(f"skdeep {command}: error: {name} failed on every fold: {error}", file=sys.stderr)
    return EXIT_MODEL_FAILED if failures else 0


def _compare(args: argparse.Namespace) -> int:
    out = _checked_options(args, "compare")
    from ..baselines import default_models
    from ..compare import compare, comparison_summary, write_comparison_report
    from ..utils.tasks import infer_task

    data = _data(args)
    task = infer_task(data.y)
    names = check_models(args.models, task, data.images)
    check_folds(args.cv, data.y, task)
    models = default_models(
        task,
        data.X,
        names,
        random_state=args.random_state,
        device=args.device,
        max_epochs=args.epochs,
        n_threads="auto" if args.threads is None else args.threads,
    )
    result = compare(
        models,
        data.X,
        data.y,
        cv=args.cv,
        scoring=args.scoring,
        baselines=False,  # --models means exactly those models
        random_state=args.random_state,
        progress=_progress_mode(args),
    )
    files = write_comparison_report(
        result,
        out,
        title=f"skdeep compare: {data.name}",
        description=data.description,
        command=_command_line(args),
        force=args.force,
        unit=data.unit,
    )
    failures = {name: str(result.frame.loc[name, "error"]) for name in result.failed}
    if args.json:
        summary = {**comparison_summary(result), "failed": list(failures)}
        _print_json(summary, out, files=[str(f) for f in files])
    else:
        for line in data.description:
            print(line)
        print(result.table(data.unit).to_string())
        best = "none, every model failed" if result.best is None else result.best
        print(
            f"\nbest: {best}; report, table and figure in {out}/ "
            f"({format_seconds(result.elapsed)})"
        )
    return _report_failures("compare", failures)


def _list_studies() -> int:
    from ..studies import STUDIES

    for study in STUDIES.values():
        labels = [variant.label for variant in study.variants(28 * 28, 10)]
        print(f"{study.name}: {study.question}")
        print(f"  variants ({len(labels)}): {'; '.join(labels)}")
        print(
            f"  {study.max_epochs} epochs; about {study.minutes:g} min on 2 busy CPU cores for "
            "5,000 MNIST images and 2 seeds (scales with data, seeds and epochs)"
        )
    return 0


def _study(args: argparse.Namespace) -> int:
    if args.list:
        return _list_studies()
    if args.name is None:
        raise ValueError("name a study to run (see skdeep study --list).")
    out = _checked_options(args, f"study-{args.name}")
    from ..studies import run_study, write_study_report
    from ..utils.reports import json_records

    data = _data(args)
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
    result.dataset = data.name
    write_study_report(
        result, out, description=data.description, command=_command_line(args), force=args.force
    )
    if args.json:
        variants = json_records(result.frame)
        verdicts = [vars(verdict) for verdict in result.verdicts]
        _print_json({"study": args.name}, out, variants=variants, verdicts=verdicts)
        return 0
    print(result.study.question)
    print(result.table().to_string())
    print()
    for verdict in result.verdicts:
        print(f"{verdict.outcome}: {verdict.expectation} {verdict.evidence}")
    print(f"\nreport, tables and figure in {out}/")
    return 0


def _tune(args: argparse.Namespace) -> int:
    check_data_options(
        args.dataset, target=args.target, download=args.download, data_home=args.data_home
    )
    from ..search.tuning import tune

    result = tune(
        args.dataset,
        args.model,
        budget=args.budget if args.budget is not None or args.trials is not None else "10m",
        n_trials=args.trials,
        storage=args.storage,
        out=args.out,
        target=args.target,
        data_home=args.data_home,
        download=args.download,
        max_samples=args.max_samples,
        max_epochs=args.epochs,
        device=args.device,
        random_state=args.random_state,
        progress=_progress_mode(args),
        command=_command_line(args),
        workers=args.workers,
    )
    summary = result.summary
    if summary.get("warning"):
        print(f"skdeep tune: warning: {summary['warning']}", file=sys.stderr)
    if args.json:
        _print_json(summary, result.out)
        return 0
    metric = "accuracy" if "test_accuracy" in summary else "r2"
    print(
        f"\nbest: trial {summary['best_trial']} {summary['best_params']}\n"
        f"test {metric} of the best, refitted on all training rows: "
        f"{summary[f'test_{metric}']:.4f}"
    )
    ensemble = summary.get("ensemble")
    if ensemble:
        print(
            f"test {metric} of the ensemble of trials {ensemble['trials']}: "
            f"{ensemble[f'test_{metric}']:.4f}; best_estimator: the {summary['best_estimator']} "
            "(the better on the selection rows)"
        )
    baseline = summary.get("baseline")
    if baseline:
        print(
            f"reference on the same split: {baseline['model']} test {metric} "
            f"{baseline[f'test_{metric}']:.4f}"
        )
    print(f"report in {result.out}/ ({format_seconds(summary['seconds'])})")
    return 0


def _add_common_arguments(
    parser: argparse.ArgumentParser,
    out_help: str = "output folder (default skdeep-out/COMMAND-DATASET-TIME)",
    replaces_reports: bool = True,
) -> None:
    """The options every subcommand that loads data and writes a report shares.

    A command whose folder is never replaced (``tune`` resumes it) has no ``--force``.
    """
    data = parser.add_argument_group("data")
    data.add_argument(
        "--dataset",
        default="digits",
        help=f"{', '.join(NAMED_DATASETS)}, or the path of a CSV file (.csv, .csv.gz ...); "
        "default digits",
    )
    data.add_argument("--target", help="the column to predict, for a CSV file")
    data.add_argument(
        "--max-samples", type=positive_int, help="use a random subset of this many samples"
    )
    data.add_argument(
        "--data-home",
        help="folder of the dataset files (default: $SKDEEP_DATA, else ~/skdeep_data)",
    )
    data.add_argument(
        "--download",
        action="store_true",
        help=f"fetch missing dataset files ({', '.join(DOWNLOADABLE)}) into the data home",
    )
    output = parser.add_argument_group("output")
    output.add_argument("--out", help=out_help)
    if replaces_reports:
        output.add_argument(
            "--force",
            action="store_true",
            help="replace a previous skdeep report in --out (a folder holding other files is "
            "always refused)",
        )
    output.add_argument("--quiet", action="store_true", help="no progress output")
    output.add_argument("--json", action="store_true", help="print a JSON summary instead")
    parser.add_argument(
        "--device",
        default="auto",
        type=device_type,
        help="auto, cpu, cuda, cuda:N or mps (default auto)",
    )
    parser.add_argument(
        "--random-state",
        type=non_negative_int,
        default=0,
        help="seed of the folds or splits, the networks and the searches: the same seed gives "
        "the same run (default 0)",
    )


def _add_compare_command(commands) -> None:
    compare = commands.add_parser(
        "compare",
        help="cross-validate networks and classical baselines on the same folds",
        description="Cross-validate networks and classical baselines on the same folds; print "
        "the table, write report.md, results.csv and the figure. Exit status 1 when a model "
        "failed on every fold, 2 for bad options.",
    )
    _add_common_arguments(compare)
    compare.add_argument(
        "--models",
        type=models_type,
        help="comma-separated, exactly the models trained: mlp, cnn, logistic, ridge, "
        "random_forest, hist_gradient_boosting, svc, knn (default: all that fit the task)",
    )
    compare.add_argument("--cv", type=fold_count, default=5, help="number of folds (default 5)")
    compare.add_argument(
        "--scoring",
        type=scoring_type,
        help="comma-separated scorer names, scikit-learn's or skdeep's; the first ranks the "
        "models (default accuracy,balanced_accuracy or r2,neg_root_mean_squared_error)",
    )
    compare.add_argument(
        "--epochs",
        type=positive_int,
        help="epochs of the networks, over which their one-cycle learning rate rises and "
        "falls (default 40 for the MLP, 15 for the CNN)",
    )
    compare.add_argument(
        "--threads",
        type=positive_int,
        help="CPU threads of the networks; by default chosen by timing, which makes a CNN's "
        "scores vary in the last digits from run to run: give a number (1 beside other work) "
        "for runs that repeat exactly",
    )
    compare.set_defaults(run=_compare)


def _add_study_command(commands) -> None:
    from ..studies import STUDIES

    study = commands.add_parser(
        "study",
        help="run a hyper-parameter study and write its report",
        description="Train the variants of one study over several seeds; print the table, "
        "write report.md, the CSV files and the figure.",
    )
    study.add_argument("name", nargs="?", choices=list(STUDIES), help="the study to run")
    study.add_argument(
        "--list", action="store_true", help="print each study's question, variants and time"
    )
    _add_common_arguments(study)
    study.add_argument(
        "--seeds", type=positive_int, default=2, help="repetitions per variant (default 2)"
    )
    study.add_argument(
        "--epochs", type=positive_int, help="epochs per run (default: the study's own, see --list)"
    )
    study.set_defaults(run=_study)


def _add_tune_command(commands) -> None:
    tune = commands.add_parser(
        "tune",
        help="search a network's hyper-parameters within a time budget, then test the best once",
        description="Optuna search (strong first trials, then TPE, median pruning by epoch) "
        "of one network on a validation split of the training rows; the best is refitted on "
        "all of them and scored once on the test rows, beside the ensemble of the run's three "
        "best trials. Writes report.md, summary.json, "
        "trials.csv, figures and TensorBoard logs. Rerun with the same --out (or --storage) to "
        "resume the study and add trials.",
    )
    _add_common_arguments(
        tune,
        out_help="output folder (default skdeep-out/tune-DATASET-MODEL-TIME); a folder holding "
        "a tune run of the same dataset and model is resumed, never replaced",
        replaces_reports=False,
    )
    tune.add_argument("--model", default="mlp", help="mlp, deep-mlp or cnn (default mlp)")
    tune.add_argument(
        "--budget",
        help="wall time for the search and the refit: 90s, 10m, 1h, 1h30m (default 10m "
        "unless --trials is given)",
    )
    tune.add_argument(
        "--trials", type=positive_int, help="trials to add in this run (default: until --budget)"
    )
    tune.add_argument(
        "--storage",
        help="Optuna storage: a database URL or a SQLite file (default study.db in --out)",
    )
    tune.add_argument(
        "--epochs", type=positive_int, help="most epochs per trial (default: the model's)"
    )
    tune.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        help="processes training trials at once on the storage, each with its share of the "
        "cores (default 1)",
    )
    tune.set_defaults(run=_tune)


SUBCOMMANDS: tuple[Callable, ...] = (_add_compare_command, _add_study_command, _add_tune_command)


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the ``skdeep`` command."""
    parser = argparse.ArgumentParser(
        prog="skdeep", description="PyTorch networks as scikit-learn estimators."
    )
    parser.add_argument("--version", action="version", version=f"skdeep {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for add_command in SUBCOMMANDS:
        add_command(commands)
    return parser


def _one_line_warning(command: str):
    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"skdeep {command}: {category.__name__}: {message}", file=file or sys.stderr)

    return show


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``skdeep`` command with ``argv`` (the process arguments when None)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    # Ctrl-C can land inside a library that turns it into its own error (Optuna committing a
    # trial to its database): whatever ends the run after it is an interruption.
    with SigintWatch() as ctrl_c:
        try:
            with warnings.catch_warnings():
                # A warning is news for the user of a command, not a pointer into skdeep's code.
                warnings.showwarning = _one_line_warning(args.command)
                return args.run(args)
        except BaseException as error:
            if not (ctrl_c.received or isinstance(error, KeyboardInterrupt)):
                if isinstance(error, (FileExistsError, FileNotFoundError, ValueError, ImportError)):
                    print(f"skdeep {args.command}: error: {error}", file=sys.stderr)
                    return EXIT_BAD_INPUT
                raise
    print(
        f"skdeep {args.command}: interrupted (Ctrl-C); no fit cut short was scored and no "
        "report was written.",
        file=sys.stderr,
    )
    return EXIT_INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())
