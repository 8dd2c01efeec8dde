"""skdeep.studies._reading: each rule's three verdicts on synthetic result tables."""

import pandas as pd
import pytest

from skdeep.studies import summarise
from skdeep.studies._reading import (
    BORNE_OUT,
    CANNOT_TELL,
    NOT_BORNE_OUT,
    Collapses,
    Expectation,
    Higher,
    Lower,
    Measured,
    Similar,
    Turns,
    read_study,
)


def measured(runs: list[dict], n_classes: int = 10, max_epochs: int = 10) -> Measured:
    """Summarise per-seed rows (variant, seed, measures) as a study would."""
    frame = pd.DataFrame(runs)
    if "status" not in frame:
        frame["status"] = "complete"
    order = list(dict.fromkeys(frame["variant"]))
    return Measured(summarise(frame, order), frame, n_classes, max_epochs)


def two_variants(a: list[float], b: list[float], measure: str = "test_accuracy") -> Measured:
    rows = [{"variant": "a", "seed": i, measure: v} for i, v in enumerate(a)]
    rows += [{"variant": "b", "seed": i, measure: v} for i, v in enumerate(b)]
    return measured(rows)


@pytest.mark.parametrize(
    ("a", "b", "outcome"),
    [
        ([0.90, 0.92], [0.70, 0.72], BORNE_OUT),  # 0.2 apart, spread 0.02
        ([0.70, 0.72], [0.90, 0.92], NOT_BORNE_OUT),
        ([0.90, 0.94], [0.89, 0.93], CANNOT_TELL),  # 0.01 apart, spread 0.04
    ],
)
def test_higher_against_the_seeds_spread(a, b, outcome):
    verdict, evidence = Higher("test_accuracy", "a", "b").judge(two_variants(a, b))
    assert verdict == outcome
    assert evidence.startswith("test accuracy: a ")
    assert ("within the seeds' spread" in evidence) == (outcome == CANNOT_TELL)


def test_higher_by_a_margin_and_against_a_number():
    data = two_variants([0.90, 0.90], [0.86, 0.86])
    assert Higher("test_accuracy", "a", "b", by=0.02).judge(data)[0] == BORNE_OUT
    assert Higher("test_accuracy", "a", "b", by=0.05).judge(data)[0] == NOT_BORNE_OUT
    assert Higher("test_accuracy", "a", 0.5).judge(data)[0] == BORNE_OUT
    assert Lower("test_accuracy", "b", "a").judge(data)[0] == BORNE_OUT
    assert Lower("test_accuracy", "a", "b").judge(data)[0] == NOT_BORNE_OUT


@pytest.mark.parametrize(
    ("a", "b", "outcome"),
    [
        ([4.0, 4.0], [1.0, 1.0], BORNE_OUT),  # ratio 4 > 2
        ([1.5, 1.5], [1.0, 1.0], NOT_BORNE_OUT),  # ratio 1.5 < 2
        ([2.4, 1.6], [1.0, 1.0], CANNOT_TELL),  # bounds 1.6 to 2.4 straddle 2
    ],
)
def test_ratio_bounds_at_one_std(a, b, outcome):
    data = two_variants(a, b, "epoch_time")
    assert Higher("epoch_time", "a", "b", by=2, ratio=True).judge(data)[0] == outcome


@pytest.mark.parametrize(
    ("a", "b", "outcome"),
    [
        ([0.900, 0.910], [0.905, 0.915], BORNE_OUT),  # 0.005 apart, within 0.01
        ([0.90, 0.90], [0.80, 0.80], NOT_BORNE_OUT),  # 0.1 apart, no spread
        ([0.90, 0.94], [0.88, 0.90], CANNOT_TELL),  # 0.03 apart, spread 0.03
    ],
)
def test_similar(a, b, outcome):
    data = two_variants(a, b)
    assert Similar("test_accuracy", "a", "b", within=0.01).judge(data)[0] == outcome


def collapse_rows(runs):
    return measured(
        [
            {"variant": "lr 1", "seed": i, "best_valid_loss": 0.3, **run}
            for i, run in enumerate(runs)
        ]
    )


def test_collapses_when_every_run_fails_stays_at_chance_or_blows_up():
    data = collapse_rows(
        [
            {"status": "failed"},
            {"status": "complete", "test_accuracy": 0.11, "max_valid_loss": 2.3},
            {"status": "complete", "test_accuracy": 0.92, "max_valid_loss": 4e4},
        ]
    )
    outcome, evidence = Collapses("lr 1").judge(data)
    assert outcome == BORNE_OUT
    assert "seed 0 failed" in evidence
    assert "seed 1 at 0.110 (chance 0.10)" in evidence
    assert "rose to 4e+04 from 0.3" in evidence


def test_collapses_not_borne_out_or_mixed():
    fine = {"status": "complete", "test_accuracy": 0.92, "max_valid_loss": 0.5}
    assert Collapses("lr 1").judge(collapse_rows([fine, fine]))[0] == NOT_BORNE_OUT
    mixed = collapse_rows([fine, {"status": "failed"}])
    outcome, evidence = Collapses("lr 1").judge(mixed)
    assert outcome == CANNOT_TELL
    assert "1 of 2 runs trained" in evidence


def turn_rows(finals):
    return measured(
        [
            {
                "variant": "long",
                "seed": i,
                "best_valid_loss": 0.2,
                "final_valid_loss": final,
                "best_epoch": 5,
                "epochs_run": 40,
            }
            for i, final in enumerate(finals)
        ]
    )


@pytest.mark.parametrize(
    ("finals", "outcome"),
    [([0.3, 0.25], BORNE_OUT), ([0.2, 0.205], NOT_BORNE_OUT), ([0.3, 0.2], CANNOT_TELL)],
)
def test_turns_when_validation_loss_ends_above_its_lowest(finals, outcome):
    verdict, evidence = Turns("long").judge(turn_rows(finals))
    assert verdict == outcome
    assert "lowest validation loss at epoch 5/5 of 40/40" in evidence


def test_equal_peak_memory_everywhere_cannot_tell():
    data = two_variants([733.5, 733.5], [733.5, 733.5], "peak_memory_mb")
    outcome, evidence = Higher("peak_memory_mb", "a", "b").judge(data)
    assert outcome == CANNOT_TELL
    assert "high-water mark" in evidence


def test_a_failed_variant_or_a_missing_one_cannot_tell():
    data = measured(
        [
            {"variant": "a", "seed": 0, "test_accuracy": 0.9},
            {"variant": "b", "seed": 0, "status": "failed"},
        ]
    )
    assert Higher("test_accuracy", "a", "b").judge(data)[0] == CANNOT_TELL
    [verdict] = read_study([Expectation("x.", Higher("test_accuracy", "a", "nosuch"))], data)
    assert verdict.outcome == CANNOT_TELL
    assert "no variant 'nosuch'" in verdict.evidence
    assert verdict.to_markdown().endswith("no variant 'nosuch' (figure: test accuracy).")


def test_lower_keeps_the_reason_it_cannot_tell():
    data = measured(
        [
            {"variant": "a", "seed": 0, "status": "complete", "test_accuracy": 0.9},
            {"variant": "b", "seed": 0, "status": "failed"},
        ]
    )
    outcome, evidence = Lower("test_accuracy", "b", "a").judge(data)
    assert outcome == CANNOT_TELL
    assert evidence.startswith("test accuracy: b n/a against a 0.900")
    assert evidence.endswith("(not measured: a variant failed or lacks it)")


def test_verdict_names_its_figure():
    data = two_variants([0.9, 0.9], [0.5, 0.5], "grad_ratio")
    [verdict] = read_study([Expectation("Vanishes.", Lower("grad_ratio", "b", "a"))], data)
    assert verdict.figure == "gradient norms per layer"
    assert verdict.to_markdown().startswith("- **Borne out**: Vanishes. first / last layer")
    assert verdict.to_markdown().endswith("(figure: gradient norms per layer).")
