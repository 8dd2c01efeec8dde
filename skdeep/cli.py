"""The ``skdeep`` command."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def _demo(args: argparse.Namespace) -> int:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import cross_validate
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from . import CNNClassifier, MLPClassifier

    X, y = load_digits(return_X_y=True)
    models = {
        "MLPClassifier": make_pipeline(
            StandardScaler(), MLPClassifier(random_state=args.random_state, device=args.device)
        ),
        "CNNClassifier": make_pipeline(
            StandardScaler(), CNNClassifier(random_state=args.random_state, device=args.device)
        ),
    }
    print(
        f"digits: {X.shape[0]} samples, {X.shape[1]} features, {len(set(y))} classes; "
        f"{args.cv}-fold cross-validation"
    )
    print(f"{'model':<16}{'accuracy':>10}{'std':>8}{'fit s':>8}")
    for name, model in models.items():
        scores = cross_validate(model, X, y, cv=args.cv)
        accuracy = scores["test_score"]
        print(
            f"{name:<16}{accuracy.mean():>10.4f}{accuracy.std():>8.4f}"
            f"{scores['fit_time'].mean():>8.2f}",
            flush=True,
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the ``skdeep`` command."""
    parser = argparse.ArgumentParser(
        prog="skdeep", description="PyTorch networks as scikit-learn estimators."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="cross-validate the MLP and CNN classifiers on scikit-learn's digits"
    )
    demo.add_argument("--cv", type=int, default=5, help="number of folds (default 5)")
    demo.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    demo.add_argument("--random-state", type=int, default=0)
    demo.set_defaults(run=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``skdeep`` command with ``argv`` (the process arguments when None)."""
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    raise SystemExit(main())
