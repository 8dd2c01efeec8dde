"""The skdeep command, run in-process and as the installed console script."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from skdeep.cli import load_dataset, main


def test_compare_writes_the_report_and_prints_the_table(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        [
            "compare",
            "--max-samples",
            "240",
            "--cv",
            "2",
            "--epochs",
            "2",
            "--models",
            "mlp,cnn,logistic",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "240 samples, 64 features, 10 classes" in printed
    for model in ("MLP", "CNN", "LogisticRegression"):
        assert model in printed
    results = pd.read_csv(out / "results.csv", index_col="model")
    assert set(results.index) == {"MLP", "CNN", "LogisticRegression"}
    assert results["accuracy_mean"].between(0, 1).all()
    assert (out / "comparison.png").stat().st_size > 0
    assert "skdeep compare --max-samples 240" in (out / "report.md").read_text()
    # A second run into the same folder is refused.
    assert main(["compare", "--out", str(out), "--quiet"]) == 2
    assert "not empty" in capsys.readouterr().err


def test_compare_on_a_csv_with_json_output(tmp_path, capsys):
    csv = tmp_path / "table.csv"
    frame = pd.DataFrame(
        {
            "x1": range(60),
            "x2": [i % 7 for i in range(60)],
            "colour": ["red", "blue", None] * 20,
            "label": ["yes", "no"] * 30,
        }
    )
    frame.to_csv(csv, index=False)
    code = main(
        [
            "compare",
            "--dataset",
            str(csv),
            "--target",
            "label",
            "--cv",
            "2",
            "--models",
            "logistic,random_forest",
            "--out",
            str(tmp_path / "o"),
            "--json",
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["task"] == "classification"
    assert {m["model"] for m in summary["models"]} == {"LogisticRegression", "RandomForest"}
    assert main(["compare", "--dataset", str(csv), "--out", str(tmp_path / "p")]) == 2
    assert "--target" in capsys.readouterr().err


def test_unknown_dataset_and_model_are_refused(tmp_path, capsys):
    assert main(["compare", "--dataset", "imagenet", "--out", str(tmp_path / "a")]) == 2
    assert "Unknown dataset 'imagenet'" in capsys.readouterr().err
    assert main(["compare", "--models", "xgboost", "--out", str(tmp_path / "b")]) == 2
    assert "Unknown classification models ['xgboost']" in capsys.readouterr().err


def test_load_dataset_subsamples_with_stratification():
    data = load_dataset("digits", max_samples=200)
    assert data.X.shape == (200, 64) and data.X.max() <= 1.0
    assert pd.Series(data.y).value_counts().min() >= 19


def test_the_console_script_is_installed():
    result = subprocess.run(
        [sys.executable, "-m", "skdeep.cli", "compare", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--dataset" in result.stdout


@pytest.mark.slow
def test_default_compare_on_digits_finishes(tmp_path):
    """The README's main job, whole: every default model on digits, 5 folds."""
    out = tmp_path / "run"
    assert main(["compare", "--out", str(out), "--quiet"]) == 0
    results = pd.read_csv(out / "results.csv", index_col="model")
    assert len(results) == 7
    assert results.loc["MLP", "accuracy_mean"] > 0.95
    assert results.loc["CNN", "accuracy_mean"] > 0.95
