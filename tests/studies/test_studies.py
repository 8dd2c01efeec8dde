"""skdeep.studies and ``skdeep study``: variants, seeds, failures, and the report on disk."""

import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits

from skdeep import CNNClassifier, MLPClassifier
from skdeep.cli import main
from skdeep.studies import STUDIES, run_study
from skdeep.studies._figure import log_scale_if_wide
from skdeep.studies._reading import MEASURES


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:300] / 16, y[:300]


@pytest.mark.parametrize("name", list(STUDIES))
def test_every_variant_is_a_valid_setting_of_its_network(name):
    study = STUDIES[name]
    variants = study.variants(64, 10)
    assert len({v.label for v in variants}) == len(variants) >= 3
    for variant in variants:
        network = CNNClassifier() if variant.network == "cnn" else MLPClassifier()
        network.set_params(**{**study.base, **variant.params})._validate_params()


@pytest.mark.parametrize("name", list(STUDIES))
def test_every_expectation_names_variants_of_its_study_and_known_measures(name):
    study = STUDIES[name]
    labels = {v.label for v in study.variants(28 * 28, 10)}
    assert set(study.columns) <= set(MEASURES)
    for expectation in study.expectations:
        rule = expectation.rule
        named = [getattr(rule, f, None) for f in ("a", "b", "variant")]
        assert {n for n in named if isinstance(n, str)} <= labels, expectation.text
        assert getattr(rule, "measure", "test_accuracy") in MEASURES


def test_studies_cover_the_course():
    assert len(STUDIES) == 14
    assert {"activation", "batch-norm", "dropout", "epochs", "architecture"} <= set(STUDIES)
    dropout = [v.params["dropout"] for v in STUDIES["dropout"].variants(784, 10)]
    assert dropout == [0.0, 0.1, 0.2, 0.5]
    depths = {len(v.params["hidden_layer_sizes"]) for v in STUDIES["activation"].variants(784, 10)}
    assert depths == {1, 3, 6}
    networks = [v.network for v in STUDIES["architecture"].variants(784, 10)]
    assert networks == ["mlp", "mlp", "mlp", "cnn"]


def test_depth_study_counts_parameters_and_matches_the_deep_net_in_size(digits):
    X, y = digits
    result = run_study("depth", X, y, seeds=1, max_epochs=1, progress="quiet")
    params = result.frame["n_params_mean"]
    assert params["0 x 64"] == 64 * 10 + 10
    assert params["1 x 64"] == 64 * 64 + 64 + 64 * 10 + 10
    assert abs(params["1 x same size as 5 x 64"] - params["5 x 64"]) / params["5 x 64"] < 0.05


@pytest.fixture(scope="module")
def optimizer_study(digits):
    X, y = digits
    return run_study("optimizer", X, y, seeds=2, max_epochs=3, progress="quiet")


def test_runs_cover_every_variant_and_seed_and_summaries_match(optimizer_study):
    result = optimizer_study
    assert len(result.runs) == 5 * 2
    assert set(result.curves["epoch"]) == {1, 2, 3}
    adam = result.runs[result.runs["variant"] == "adam"]
    for measure in ("test_accuracy", "train_accuracy", "best_epoch", "epoch_time"):
        assert result.frame.loc["adam", f"{measure}_mean"] == pytest.approx(adam[measure].mean())
        assert result.frame.loc["adam", f"{measure}_std"] == pytest.approx(
            adam[measure].std(ddof=0)
        )
    assert (result.frame["failed_runs"] == 0).all()
    assert [v.expectation for v in result.verdicts] == [
        e.text for e in STUDIES["optimizer"].expectations
    ]


def test_run_measures_come_from_its_history_and_scores(optimizer_study):
    result = optimizer_study
    run = result.runs.iloc[3]
    curve = result.curves[
        (result.curves["variant"] == run["variant"]) & (result.curves["seed"] == run["seed"])
    ]
    assert run["best_epoch"] == curve.loc[curve["valid_loss"].idxmin(), "epoch"]
    assert run["best_valid_loss"] == pytest.approx(curve["valid_loss"].min())
    assert run["max_valid_loss"] == pytest.approx(curve["valid_loss"].max())
    assert run["final_valid_loss"] == pytest.approx(curve["valid_loss"].iloc[-1])
    assert run["accuracy_gap"] == pytest.approx(run["train_accuracy"] - run["test_accuracy"])
    grads = result.gradients[
        (result.gradients["variant"] == run["variant"]) & (result.gradients["seed"] == run["seed"])
    ]
    assert list(grads["position"]) == [0, 1, 2]  # two hidden layers and the output
    assert run["grad_ratio"] == pytest.approx(
        grads["grad_norm"].iloc[0] / grads["grad_norm"].iloc[-1]
    )


def test_a_warm_up_fit_runs_before_the_timed_runs(monkeypatch):
    X, y = load_digits(return_X_y=True)
    calls = []
    original = MLPClassifier.fit

    def fit(self, X, y, **kwargs):
        calls.append((len(y), self.max_epochs))
        return original(self, X, y, **kwargs)

    monkeypatch.setattr(MLPClassifier, "fit", fit)
    run_study("width", X, y, seeds=1, max_epochs=2, progress="quiet")
    assert calls[0] == (256, 1)
    assert calls[1:] == [(1437, 2)] * 6  # 80% of 1797, minus nothing: validation is inside


def test_the_reader_table_names_its_columns_in_words(optimizer_study):
    table = optimizer_study.table()
    assert list(table.columns) == ["test accuracy", "best validation loss", "seconds per epoch"]
    mean = optimizer_study.frame.loc["adam", "test_accuracy_mean"]
    std = optimizer_study.frame.loc["adam", "test_accuracy_std"]
    assert table.loc["adam", "test accuracy"] == f"{mean:.3f} ± {std:.3f}"
    assert "failed runs" not in table


def test_the_figure_has_a_legend_and_the_panels_its_reading_names(digits):
    X, y = digits
    result = run_study("init", X, y, seeds=1, max_epochs=1, progress="quiet")
    figure = result.plot()
    [legend] = figure.legends
    assert [t.get_text() for t in legend.get_texts()] == list(result.frame.index)
    titles = {ax.get_title() for ax in figure.axes if ax.get_visible()}
    assert "gradient norms per layer" in titles
    assert "seconds per epoch and memory" not in titles


def test_log_scale_only_over_a_wide_span_with_labelled_ticks():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    narrow, wide = Figure().subplots(1, 2)
    narrow.plot([1, 2], [0.3, 0.5])
    log_scale_if_wide(narrow, [0.3, 0.5])
    assert narrow.get_yscale() == "linear"
    wide.plot([1, 2], [0.3, 4e4])
    log_scale_if_wide(wide, [0.3, 4e4])
    assert wide.get_yscale() == "log"
    wide.figure.canvas.draw()
    labels = [t.get_text() for t in wide.get_yticklabels() if t.get_text()]
    assert "1" in labels and "10,000" in labels


def test_a_failing_run_is_recorded_and_the_study_goes_on(digits, monkeypatch):
    X, y = digits
    original = MLPClassifier.fit

    def fit(self, X, y, **kwargs):
        if self.learning_rate == 1.0:
            raise FloatingPointError("loss became NaN")
        return original(self, X, y, **kwargs)

    monkeypatch.setattr(MLPClassifier, "fit", fit)
    result = run_study("learning-rate", X, y, seeds=1, max_epochs=1, progress="quiet")
    assert result.frame.loc["lr 1", "failed_runs"] == 1
    assert np.isnan(result.frame.loc["lr 1", "test_accuracy_mean"])
    assert result.frame["test_accuracy_mean"].notna().sum() == 5
    assert "lr 1, seed 0: FloatingPointError" in result.notes[0]
    assert result.table().loc["lr 1", "failed runs"] == "1"
    [collapse] = [v for v in result.verdicts if v.expectation == "lr 1 collapses or blows up."]
    assert collapse.outcome == "borne out" and "seed 0 failed" in collapse.evidence


def test_unknown_study_is_refused(digits):
    X, y = digits
    with pytest.raises(ValueError, match="Unknown study 'colour'"):
        run_study("colour", X, y)


def test_a_regression_target_is_refused_before_anything_trains(digits, monkeypatch):
    X, _ = digits
    monkeypatch.setattr(MLPClassifier, "fit", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(ValueError, match="this target is a regression target"):
        run_study("width", X, X[:, 10] + 0.5 * X[:, 20])
    # House prices in whole dollars: floats with whole values are not classes.
    prices = np.round(X[:, 10] * 1e4 + X[:, 20] * 137) + 15000.0
    with pytest.raises(ValueError, match=r"regression target \(numbers, \d+ distinct values\)"):
        run_study("depth", X, prices)


def test_study_command_writes_its_report(tmp_path, capsys):
    out = tmp_path / "width"
    argv = ["study", "width", "--max-samples", "300", "--epochs", "2", "--out", str(out)]
    assert main([*argv, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [v["variant"] for v in summary["variants"]][:2] == ["16 units", "32 units"]
    assert [v["expectation"] for v in summary["verdicts"]] == [
        e.text for e in STUDIES["width"].expectations
    ]
    for name in ("report.md", "results.csv", "runs.csv", "curves.csv", "gradients.csv"):
        assert (out / name).stat().st_size > 0
    report = (out / "report.md").read_text()
    for heading in ("## Design", "## Expected beforehand", "## Reading", "## Limits"):
        assert heading in report
    assert "2 seeds per variant" in report
    assert "1. Accuracy rises from 16 to 256 units." in report
    assert report.count("(figure: ") == len(STUDIES["width"].expectations)
    assert re.search(r"\| test accuracy +\| seconds per epoch +\| +parameters \|", report)
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 6 * 2
    curves = pd.read_csv(out / "curves.csv")
    assert len(curves) == 6 * 2 * 2


def test_study_list_prints_each_question_variants_and_time(capsys):
    assert main(["study", "--list"]) == 0
    text = capsys.readouterr().out
    for study in STUDIES.values():
        assert f"{study.name}: {study.question}" in text
    assert "dropout 0; dropout 0.1; dropout 0.2; dropout 0.5" in text
    assert text.count(" min on 2 busy CPU cores") == 14


def test_study_command_refuses_a_regression_csv_in_one_line(tmp_path):
    csv = tmp_path / "houses.csv"
    rng = np.random.default_rng(0)
    pd.DataFrame({"rooms": rng.random(50), "price": rng.random(50) * 1e5}).to_csv(csv)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "skdeep.cli",
            "study",
            "width",
            "--dataset",
            str(csv),
            "--target",
            "price",
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("skdeep study: error: skdeep study trains classifiers")
    assert "regression" in line
