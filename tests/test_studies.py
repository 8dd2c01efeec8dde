"""skdeep.studies and ``skdeep study``: variants, seeds, failures, and the report on disk."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits

from skdeep import CNNClassifier, MLPClassifier
from skdeep.cli import main
from skdeep.studies import STUDIES, run_study


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:300], y[:300]


@pytest.mark.parametrize("name", list(STUDIES))
def test_every_variant_is_a_valid_setting_of_its_network(name):
    study = STUDIES[name]
    variants = study.variants(64, 10)
    assert len({label for label, _ in variants}) == len(variants) >= 3
    network = CNNClassifier() if study.network == "cnn" else MLPClassifier()
    for _, params in variants:
        network.set_params(**params)._validate_params()


def test_depth_study_counts_parameters_and_matches_the_deep_net_in_size(digits):
    X, y = digits
    result = run_study("depth", X, y, seeds=1, max_epochs=1, progress="quiet")
    params = result.frame["n_params"]
    assert params["0 x 64"] == 64 * 10 + 10
    assert params["1 x 64"] == 64 * 64 + 64 + 64 * 10 + 10
    same_size = [v for v in params.index if "same size" in v][0]
    assert abs(params[same_size] - params["5 x 64"]) / params["5 x 64"] < 0.05


def test_runs_cover_every_variant_and_seed_and_summaries_match(digits):
    X, y = digits
    result = run_study("optimizer", X, y, seeds=2, max_epochs=2, progress="quiet")
    assert len(result.runs) == 5 * 2
    assert set(result.curves["epoch"]) == {1, 2}
    adam = result.runs[result.runs["variant"] == "adam"]["test_accuracy"]
    assert result.frame.loc["adam", "test_accuracy_mean"] == pytest.approx(adam.mean())
    assert result.frame.loc["adam", "test_accuracy_std"] == pytest.approx(adam.std(ddof=0))
    assert result.frame["test_accuracy_mean"].between(0, 1).all()
    assert (result.frame["failed_runs"] == 0).all()


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


def test_unknown_study_is_refused(digits):
    X, y = digits
    with pytest.raises(ValueError, match="Unknown study 'colour'"):
        run_study("colour", X, y)


def test_study_command_writes_its_report(tmp_path, capsys):
    out = tmp_path / "width"
    assert (
        main(
            [
                "study",
                "width",
                "--max-samples",
                "300",
                "--seeds",
                "2",
                "--epochs",
                "2",
                "--out",
                str(out),
                "--json",
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert [v["variant"] for v in summary["variants"]][:2] == ["16 units", "32 units"]
    for name in ("report.md", "results.csv", "runs.csv", "curves.csv", "study.png"):
        assert (out / name).stat().st_size > 0
    report = (out / "report.md").read_text()
    assert "## Expected beforehand" in report and "## Limits" in report
    assert "2 seeds per variant" in report
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 6 * 2
    curves = pd.read_csv(out / "curves.csv")
    assert len(curves) == 6 * 2 * 2
