"""SearchSpace: one declaration, turned into Optuna, scipy and grid forms."""

import numpy as np
import pytest
from scipy import stats

from skdeep.search import SearchSpace, loguniform_int

optuna = pytest.importorskip("optuna")

# Optuna warns about list choices, the form that SearchSpace gives it for tuples on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:Choices for a categorical distribution")

SPACE = {
    "learning_rate": ("log", 1e-5, 1e-1),
    "hidden_layer_sizes": [(128,), (256, 128)],
    "dropout": ("float", 0.0, 0.5),
    "batch_size": ("int", 16, 256, "log"),
    "max_epochs": ("int", 5, 20),
    "activation": ["relu", "gelu"],
}


def test_to_optuna_gives_the_declared_distributions():
    d = SearchSpace(SPACE).to_optuna()
    assert d["learning_rate"] == optuna.distributions.FloatDistribution(1e-5, 1e-1, log=True)
    assert d["dropout"] == optuna.distributions.FloatDistribution(0.0, 0.5)
    assert d["batch_size"] == optuna.distributions.IntDistribution(16, 256, log=True)
    assert d["max_epochs"] == optuna.distributions.IntDistribution(5, 20)
    assert d["hidden_layer_sizes"].choices == ([128], [256, 128])
    assert d["activation"].choices == ("relu", "gelu")


def test_to_sklearn_gives_scipy_distributions_with_the_same_bounds():
    d = SearchSpace(SPACE).to_sklearn()
    rng = np.random.RandomState(0)
    lr = d["learning_rate"].rvs(size=2000, random_state=rng)
    assert isinstance(d["learning_rate"].dist, type(stats.loguniform))
    assert 1e-5 <= lr.min() and lr.max() <= 1e-1
    # Log-uniform: about half the draws below the geometric middle.
    assert 0.45 < np.mean(lr < 10**-3) < 0.55
    epochs = d["max_epochs"].rvs(size=2000, random_state=rng)
    assert set(epochs) == set(range(5, 21))
    batch = d["batch_size"].rvs(size=4000, random_state=rng)
    assert batch.min() == 16 and batch.max() == 256
    assert 0.4 < np.mean(batch < 64) < 0.6  # 16..63 is half of [16, 256] in log-space
    dropout = d["dropout"].rvs(size=2000, random_state=rng)
    assert 0 <= dropout.min() and dropout.max() <= 0.5
    assert d["hidden_layer_sizes"] == [(128,), (256, 128)]


def test_loguniform_int_gives_a_python_int_without_size():
    value = loguniform_int(3, 9).rvs(random_state=0)
    assert isinstance(value, int) and 3 <= value <= 9


def test_to_grid_spaces_ranges_and_keeps_choices():
    grid = SearchSpace(SPACE).to_grid({"learning_rate": 5, "dropout": 2})
    np.testing.assert_allclose(grid["learning_rate"], [1e-5, 1e-4, 1e-3, 1e-2, 1e-1])
    assert grid["dropout"] == [0.0, 0.5]
    assert grid["batch_size"] == [16, 64, 256]
    assert grid["max_epochs"] == [5, 12, 20]
    assert grid["hidden_layer_sizes"] == [(128,), (256, 128)]
    assert SearchSpace(SPACE).grid_size({"learning_rate": 5, "dropout": 2}) == 5 * 2 * 3 * 3 * 2 * 2


def test_suggest_returns_the_declared_choices_and_respects_bounds():
    space = SearchSpace(SPACE)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        params = space.suggest(study.ask())
        assert params["hidden_layer_sizes"] in [(128,), (256, 128)]
        assert isinstance(params["hidden_layer_sizes"], tuple)
        assert 1e-5 <= params["learning_rate"] <= 1e-1
        assert isinstance(params["batch_size"], int) and 16 <= params["batch_size"] <= 256


def test_tuple_choices_survive_a_reopened_sqlite_study(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    space = SearchSpace({"hidden_layer_sizes": [(8,), (16, 8)]})
    for _ in range(2):  # the second pass reloads the distributions from the file
        study = optuna.create_study(storage=url, study_name="s", load_if_exists=True)
        study.optimize(lambda t: len(space.suggest(t)["hidden_layer_sizes"]), n_trials=2)
    study = optuna.load_study(study_name="s", storage=url)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4


def test_with_prefix_names_a_pipeline_step():
    space = SearchSpace({"dropout": ("float", 0.0, 0.5)}).with_prefix("mlpclassifier")
    assert list(space) == ["mlpclassifier__dropout"]
    assert space["mlpclassifier__dropout"].high == 0.5


@pytest.mark.parametrize(
    "spec, error, match",
    [
        (0.1, TypeError, "give a list of choices"),
        (("relu", "gelu"), TypeError, "give a list of choices"),
        ([], ValueError, "empty list"),
        (("float", 1.0, 0.1), ValueError, "low must be below high"),
        (("log", 0.0, 1.0), ValueError, "log scale needs low > 0"),
        (("int", 1.5, 4), TypeError, "must be integers"),
        (("float", 0.0), ValueError, "give a list of choices"),
    ],
)
def test_bad_entries_are_refused_with_a_message(spec, error, match):
    with pytest.raises(error, match=match):
        SearchSpace({"p": spec})


def test_to_grid_needs_two_values_per_range():
    with pytest.raises(ValueError, match="at least 2 values"):
        SearchSpace({"p": ("float", 0.0, 1.0)}).to_grid(1)


LAYERS = {"hidden_layer_sizes": ("layers", ("int", 1, 4), ("int", 32, 512, "log"))}


def test_layers_draws_the_courses_number_of_layers_times_units():
    space = SearchSpace(LAYERS)
    grid = space.to_grid(3)["hidden_layer_sizes"]
    assert grid[:3] == [(32,), (128,), (512,)] and grid[-1] == (512, 512, 512, 512)
    assert len(grid) == 9  # 1, 2 (rounded 2.5) and 4 layers x 3 widths
    draw = space.to_sklearn()["hidden_layer_sizes"]
    rng = np.random.RandomState(0)
    sizes = [draw.rvs(random_state=rng) for _ in range(200)]
    assert {len(s) for s in sizes} == {1, 2, 3, 4}
    assert all(len(set(s)) == 1 and 32 <= s[0] <= 512 for s in sizes)


def test_layers_in_an_optuna_study_are_two_parameters(quiet_optuna):
    import optuna

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    params = SearchSpace(LAYERS).suggest(trial)
    assert params["hidden_layer_sizes"] == (
        (trial.params["hidden_layer_sizes.units"],) * trial.params["hidden_layer_sizes.n_layers"]
    )
    with pytest.raises(ValueError, match="OptunaSearchCV's distributions cannot say"):
        SearchSpace(LAYERS).to_optuna()


@pytest.mark.parametrize(
    "spec",
    [("layers", ("int", 1, 4)), ("layers", ("float", 1.0, 4.0), ("int", 8, 16)),
     ("layers", ("int", 0, 2), ("int", 8, 16))],
)  # fmt: skip
def test_a_bad_layers_entry_says_how_to_write_it(spec):
    with pytest.raises(ValueError, match="layers"):
        SearchSpace({"hidden_layer_sizes": spec})
