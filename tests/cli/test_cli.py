"""The skdeep command: its exit statuses, the files it writes and never deletes, its options."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from skdeep import __version__
from skdeep.cli import load_dataset, main
from skdeep.utils.files import MANIFEST

REPO = Path(__file__).resolve().parents[2]
QUICK = ["--max-samples", "120", "--cv", "2", "--quiet"]


def run_cli(*args, cwd, env=None):
    """The command as a user runs it: a fresh process, in ``cwd``."""
    environment = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "skdeep.cli", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"skdeep {__version__}"


def test_compare_writes_the_report_and_prints_the_table(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        ["compare", *QUICK, "--max-samples", "240", "--epochs", "2"]
        + ["--models", "mlp,cnn,logistic", "--out", str(out)]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "240 samples, 64 features, 10 classes" in printed
    header = printed.splitlines()[3]
    for column in ("accuracy", "balanced accuracy", "fit s per fold", "p vs best, Holm"):
        assert column in header
    results = pd.read_csv(out / "results.csv", index_col="model")
    assert set(results.index) == {"MLP", "CNN", "LogisticRegression"}
    assert results["accuracy_mean"].between(0, 1).all()
    assert (out / "comparison.png").stat().st_size > 0
    assert "skdeep compare --max-samples 120" in (out / "report.md").read_text()
    manifest = json.loads((out / MANIFEST).read_text())["files"]
    assert sorted(manifest) == sorted(p.name for p in out.iterdir() if p.name != MANIFEST)
    # A second run into the same folder is refused, and changes nothing.
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert main(["compare", "--out", str(out), "--quiet"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_force_replaces_only_a_previous_skdeep_report(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["compare", *QUICK, "--models", "logistic,knn", "--out", "run"]
    assert main(args) == 0
    (tmp_path / "run" / "fold_scores.csv").write_text("stale")
    assert main([*args, "--force"]) == 0
    assert (tmp_path / "run" / "fold_scores.csv").read_text() != "stale"
    # A file skdeep did not write: --force refuses the folder and leaves everything as it was.
    (tmp_path / "run" / "my_notes.txt").write_text("mine")
    report = (tmp_path / "run" / "report.md").read_text()
    capsys.readouterr()
    assert main([*args, "--force"]) == 2
    error = capsys.readouterr().err
    assert "my_notes.txt" in error and "did not write" in error
    assert (tmp_path / "run" / "my_notes.txt").read_text() == "mine"
    assert (tmp_path / "run" / "report.md").read_text() == report


def test_a_folder_without_manifest_is_never_replaced(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(b"\xff\xd8")
    assert main(["compare", *QUICK, "--out", "photos", "--force"]) == 2
    assert "skdeep did not write" in capsys.readouterr().err
    assert [p.name for p in folder.iterdir()] == ["holiday.jpg"]


def test_the_parent_folder_is_refused_and_kept_even_with_force(tmp_path):
    scratch = tmp_path / "parent" / "scratch"
    scratch.mkdir(parents=True)
    (tmp_path / "parent" / "precious.txt").write_text("keep")
    result = run_cli("compare", *QUICK, "--out", "..", "--force", cwd=scratch)
    assert result.returncode == 2
    assert ".. is a folder above the current one" in result.stderr
    assert (tmp_path / "parent" / "precious.txt").read_text() == "keep"
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize(
    ("out", "reason"),
    [
        (".", "the current folder"),
        ("/", "the root of the file system"),
        ("HOME", "your home folder"),
    ],
)
def test_dangerous_output_folders_are_refused(tmp_path, monkeypatch, capsys, out, reason):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    out = str(home) if out == "HOME" else out
    assert main(["compare", *QUICK, "--out", out, "--force"]) == 2
    assert reason in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["home"] and list(home.iterdir()) == []


def test_a_bad_option_exits_2_before_training_and_creates_nothing(tmp_path):
    result = run_cli("compare", "--scoring", "nosuch_scorer", cwd=tmp_path)
    assert result.returncode == 2
    assert "argument --scoring: 'nosuch_scorer' is neither a scikit-learn scorer" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--epochs", "0"], "argument --epochs: must be at least 1, got 0"),
        (["--device", "tpu"], "argument --device: device='tpu' is not a device"),
        (["--cv", "1"], "argument --cv: must be at least 2, got 1"),
        (["--models", "xgboost"], "argument --models: unknown models ['xgboost']"),
        (["--models", ","], "argument --models: give at least one model name"),
        (["--scoring", "acuracy"], "Did you mean accuracy"),
        (["--scoring", "accuracy,best_valid_loss"], "'best_valid_loss' reads a validation split"),
        (["--random-state", "-1"], "argument --random-state: must be at least 0"),
        (["--max-samples", "zero"], "argument --max-samples: expected a whole number"),
    ],
)
def test_options_are_checked_by_argparse(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "imagenet"], "--dataset 'imagenet': unknown dataset"),
        (["--dataset", "missing.csv.gz"], "--dataset missing.csv.gz: no such file"),
        (["--target", "label"], "--target applies to a CSV file"),
        (["--download"], "--download fetches only mnist, fashion-mnist, california"),
        (["--dataset", "adult", "--download"], "adult has no known download source"),
        (["--data-home", "nowhere"], "--data-home nowhere is not a folder"),
        (["--models", "ridge"], "--models: ridge cannot do classification on this data"),
        (["--max-samples", "30", "--cv", "5"], "--cv 5: class"),
        (["--max-samples", "5"], "--max-samples 5:"),
    ],
)
def test_options_checked_against_the_data_exit_2_and_create_nothing(
    tmp_path, monkeypatch, capsys, args, message
):
    monkeypatch.chdir(tmp_path)
    assert main(["compare", "--quiet", *args]) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_study_checks_the_shared_options(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit):
        main(["study", "depth", "--epochs", "0"])
    assert "argument --epochs: must be at least 1" in capsys.readouterr().err
    assert main(["study", "depth", "--out", "..", "--quiet"]) == 2
    assert "a folder above the current one" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_missing_data_names_the_options_that_find_or_fetch_it(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    assert main(["compare", "--dataset", "mnist", "--data-home", "empty", "--quiet"]) == 2
    error = capsys.readouterr().err
    for hint in ("MNIST data not found", "--data-home DIR", "SKDEEP_DATA", "--download"):
        assert hint in error
    assert [p.name for p in tmp_path.iterdir()] == ["empty"]


def test_download_reaches_the_loader(tmp_path, monkeypatch):
    import skdeep.datasets as datasets

    calls = []

    def fake_loader(data_home=None, *, download=False, verify=True):
        calls.append((data_home, download))
        raise FileNotFoundError("California housing data not found.")

    monkeypatch.setattr(datasets, "load_california_housing", fake_loader)
    monkeypatch.chdir(tmp_path)
    assert main(["compare", "--dataset", "california", "--download", "--data-home", "d"]) == 2
    assert calls == [("d", True)]


def test_a_model_failing_on_every_fold_exits_1_and_the_report_says_failed(tmp_path):
    # skdeep's history scorer cannot score a classical model: it fails on every fold.
    result = run_cli(
        "compare", *QUICK, "--epochs", "2", "--models", "mlp,logistic",
        "--scoring", "accuracy_per_second,accuracy", "--out", "run", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "error: LogisticRegression failed on every fold: TypeError:" in result.stderr
    table_row = next(line for line in result.stdout.splitlines() if "LogisticRegression" in line)
    assert "failed: TypeError: Pipeline holds no fitted skdeep network" in table_row
    report = (tmp_path / "run" / "report.md").read_text()
    assert "**LogisticRegression failed** on every fold" in report
    assert "Not shown different" not in report


def test_models_means_exactly_those_models(tmp_path):
    out = str(tmp_path / "o")
    assert main(["compare", *QUICK, "--epochs", "1", "--models", "mlp", "--out", out]) == 0
    assert pd.read_csv(tmp_path / "o" / "results.csv")["model"].tolist() == ["MLP"]


def test_compare_on_a_compressed_csv_with_json_output(tmp_path, monkeypatch, capsys):
    frame = pd.DataFrame(
        {
            "x1": range(60),
            "x2": [i % 7 for i in range(60)],
            "colour": ["red", "blue", None] * 20,
            "price": [float(i * 1000 + (i % 7) * 50) for i in range(60)],
        }
    )
    frame.to_csv(tmp_path / "housing.csv.gz", index=False)
    monkeypatch.chdir(tmp_path)
    args = ["compare", "--dataset", "housing.csv.gz", "--cv", "2", "--models", "ridge"]
    assert main([*args, "--quiet"]) == 2
    assert "add --target COLUMN" in capsys.readouterr().err
    assert main([*args, "--target", "price", "--out", "o", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["task"] == "regression" and summary["failed"] == []
    assert [m["model"] for m in summary["models"]] == ["Ridge"]
    report = (tmp_path / "o" / "report.md").read_text()
    rmse = -summary["models"][0]["neg_root_mean_squared_error_mean"]
    assert f"{rmse:,.0f} ±" in report and "RMSE" in report


def test_a_csv_without_target_lists_its_columns(tmp_path, monkeypatch, capsys):
    pd.DataFrame({"a": [1, 2], "label": ["x", "y"]}).to_csv(tmp_path / "t.csv", index=False)
    monkeypatch.chdir(tmp_path)
    assert main(["compare", "--dataset", "t.csv"]) == 2
    error = capsys.readouterr().err
    assert "add --target COLUMN" in error and "['a', 'label']" in error
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]


def test_load_dataset_subsamples_with_stratification():
    data = load_dataset("digits", max_samples=200)
    assert data.X.shape == (200, 64) and data.X.max() <= 1.0
    assert pd.Series(data.y).value_counts().min() >= 19


def test_the_help_names_every_option(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "--help"])
    assert exit_info.value.code == 0
    help_text = capsys.readouterr().out
    for option in ("--dataset", "--download", "--data-home", "--force", "--scoring", "--models"):
        assert option in help_text


@pytest.mark.slow
def test_default_compare_on_digits_finishes(tmp_path):
    """The README's main job, whole: every default model on digits, 5 folds."""
    out = tmp_path / "run"
    assert main(["compare", "--out", str(out), "--quiet"]) == 0
    results = pd.read_csv(out / "results.csv", index_col="model")
    assert len(results) == 7
    # The networks' recipes put both at least level with the best classical model there.
    svc = results.loc["SVC (RBF)", "accuracy_mean"]
    assert results.loc["MLP", "accuracy_mean"] >= svc
    assert results.loc["CNN", "accuracy_mean"] >= svc


def test_help_version_and_option_errors_answer_before_torch_is_imported(tmp_path):
    """A newcomer's first commands answer at once: torch (seconds to import) is not loaded.

    Nor are scikit-learn's estimators: a bad dataset, file or column is refused from the
    options and the CSV header alone.
    """
    table = tmp_path / "table.csv"
    table.write_text("x,y\n1,2\n3,4\n")
    code = f"TABLE = {str(table)!r}\n" + """
import contextlib, io, sys
from skdeep.cli import main
for args in (
    ["--version"], ["--help"], ["study", "--help"], ["compare", "--epochs", "0"],
    ["study", "--list"], ["compare", "--dataset", "nope"], ["tune", "--dataset", "gone.csv"],
    ["compare", "--dataset", TABLE], ["study", "depth", "--dataset", TABLE, "--target", "z"],
):
    code = None
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            code = main(args)
        except SystemExit as exit:
            code = exit.code
    print(args[-1], code)
print("torch or estimators imported:", "torch" in sys.modules or "sklearn.ensemble" in sys.modules)
import skdeep
skdeep.MLPClassifier
print("torch imported:", "torch" in sys.modules)
"""
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    seconds = time.perf_counter() - start
    assert result.returncode == 0, result.stderr
    # Nine refusals and answers in one process, well under a second each when idle; the
    # bound is generous for a loaded machine (importing torch alone takes seconds there).
    assert seconds < 30, seconds
    assert result.stdout.split("\n") == [
        "--version 0",
        "--help 0",
        "--help 0",
        "0 2",
        "--list 0",
        "nope 2",
        "gone.csv 2",
        f"{table} 2",
        "z 2",
        "torch or estimators imported: False",
        "torch imported: True",
        "",
    ]


@pytest.mark.parametrize(
    "command, first",
    [
        (["compare", "--models", "cnn,mlp", "--epochs", "300"], "compare ["),
        (["study", "width", "--epochs", "300"], "study width ["),
        (["tune", "--budget", "5m"], "dataset:"),
    ],
)
def test_ctrl_c_stops_a_run_at_once_exits_130_and_reports_nothing(tmp_path, command, first):
    process = subprocess.Popen(
        [sys.executable, "-m", "skdeep.cli", *command, "--out", "run"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"},
        stderr=subprocess.PIPE,
        text=True,
        # As from a terminal, even where this test run was started with SIGINT ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    first_line = process.stderr.readline()  # the data is loaded; training starts
    assert first_line.startswith(first), first_line
    time.sleep(2)
    process.send_signal(signal.SIGINT)
    try:
        rest = process.communicate(timeout=60)[1]
    finally:
        process.kill()
    assert process.returncode == 130, rest[-2000:]
    assert rest.strip().splitlines()[-1] == (
        f"skdeep {command[0]}: interrupted (Ctrl-C); no fit cut short was scored and no "
        "report was written."
    )
    assert "Traceback" not in rest
    assert not (tmp_path / "run" / "report.md").exists()


def test_the_help_and_the_docs_give_the_recipes_epochs(capsys):
    from skdeep.baselines import NETWORK_RECIPES

    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    epochs = {name: recipe["max_epochs"] for name, recipe in NETWORK_RECIPES.items()}
    assert epochs["mlp_classification"] == epochs["mlp_regression"]
    default = (
        f"(default {epochs['mlp_classification']} for the MLP, "
        f"{epochs['cnn_classification']} for the CNN)"
    )
    assert "--epochs EPOCHS epochs of the networks" in help_text
    assert default in help_text
    guide = " ".join((REPO / "docs" / "compare.md").read_text().split())
    assert f"sets their epochs {default}" in guide
