"""skdeep.load on files that were damaged or forged: refused, by a ValueError naming the file."""

import functools
import json
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from skdeep import CNNClassifier, MLPClassifier, MLPRegressor, load
from skdeep.core._base import BaseNetwork

TINY = {"max_epochs": 1, "device": "cpu", "random_state": 0}


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    return rng.rand(40, 16).astype(np.float32), np.arange(40) % 3


@pytest.fixture(scope="module")
def saved(data, tmp_path_factory):
    X, y = data
    clf = MLPClassifier(hidden_layer_sizes=(8,), **TINY).fit(X, y)
    return clf, clf.save(tmp_path_factory.mktemp("model") / "model.skdeep")


def rewrite(source: Path, target: Path, edit_manifest=None, members=None) -> Path:
    """A copy of ``source`` with its manifest edited and members replaced."""
    with zipfile.ZipFile(source) as archive:
        contents = {name: archive.read(name) for name in archive.namelist()}
    if edit_manifest is not None:
        manifest = json.loads(contents["skdeep.json"])
        edit_manifest(manifest)
        contents["skdeep.json"] = json.dumps(manifest).encode()
    contents.update(members or {})
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in contents.items():
            archive.writestr(name, content)
    return target


def refused(path: Path, message: str) -> None:
    with pytest.raises(ValueError, match=message) as error:
        load(path)
    assert str(path) in str(error.value)


@pytest.mark.parametrize(
    "fitted, message",
    [
        ({"predict_proba": 1}, r"sets attributes \['predict_proba'\] that MLPClassifier does"),
        ({"net_": 1}, r"sets attributes \['net_'\]"),
        ({"n_outputs_": 3}, r"sets attributes \['n_outputs_'\]"),  # a regressor's
        ({"classes_": {"__ndarray__": [1, 1, 2], "dtype": "<i8", "shape": [3]}}, "classes_ is"),
        ({"classes_": [0, 1, 2]}, "classes_ is not valid"),
        # Unsorted: predictions index classes_ by position, so this order would relabel them.
        ({"classes_": {"__ndarray__": [0, 2, 1], "dtype": "<i8", "shape": [3]}}, "classes_ is"),
        ({"classes_": {"__ndarray__": ["b", "a"], "dtype": "<U1", "shape": [2]}}, "classes_ is"),
        ({"n_features_in_": True}, "n_features_in_ is not valid"),
        ({"n_features_in_": -3}, "n_features_in_ is not valid"),
        ({"_seed": "zero"}, "_seed is not valid"),
        ({"classes_": {"__ndarray__": [0, 1], "dtype": "V100000000", "shape": [2]}}, r"dtype \|V"),
    ],
)
def test_a_file_sets_only_the_fitted_attributes_its_class_declares(
    saved, tmp_path, fitted, message
):
    _, path = saved
    forged = rewrite(path, tmp_path / "forged.skdeep", lambda m: m["fitted"].update(fitted))
    refused(forged, message)


def test_the_fitted_attributes_must_be_present(saved, tmp_path):
    _, path = saved
    forged = rewrite(path, tmp_path / "forged.skdeep", lambda m: m["fitted"].pop("classes_"))
    refused(forged, r"lacks the fitted attributes \['classes_'\]")


@pytest.mark.parametrize(
    "params, message",
    [
        ({"optimizer": "foo"}, "parameters are invalid: The 'optimizer' parameter"),
        ({"dropout": 7.0}, "parameters are invalid: The 'dropout' parameter"),
        ({"hidden_layer_sizes": {"__tuple__": [0]}}, "hidden_layer_sizes must hold positive"),
        ({"batch_size": True}, "batch_size must be an integer"),
    ],
)
def test_parameters_are_validated(saved, tmp_path, params, message):
    _, path = saved
    forged = rewrite(path, tmp_path / "forged.skdeep", lambda m: m["params"].update(params))
    refused(forged, message)


def name_class(spec, manifest):
    manifest["estimator"] = spec


def test_the_class_is_checked_before_anything_is_imported(saved, tmp_path):
    _, path = saved
    for module, name in [("skdeep.cli", "main"), ("os", "system"), ("skdeep.custom", "x")]:
        spec = {"module": module, "name": name}
        forged = rewrite(path, tmp_path / f"{name}.skdeep", functools.partial(name_class, spec))
        refused(forged, f"holds a {module}.{name}, which is not an estimator")
    # In a fresh interpreter: loading the forged file imports no module of the file's choosing.
    script = (
        "import sys, skdeep\n"
        "from skdeep import *  # what the package holds, imported on first use\n"
        "before = set(sys.modules)\n"
        "try:\n    skdeep.load(sys.argv[1])\nexcept ValueError:\n    pass\n"
        "print(sorted(m for m in set(sys.modules) - before if m.startswith('skdeep')))\n"
    )
    forged = rewrite(
        path, tmp_path / "cli.skdeep", lambda m: m.update(estimator={"module": "skdeep.cli"})
    )
    env_path = str(Path(__file__).parents[2])
    out = subprocess.run(
        [sys.executable, "-c", script, str(forged)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_a_huge_compressed_member_is_refused_without_being_read(saved, tmp_path):
    _, path = saved
    bomb = bytes(300 * 2**20)  # 300 MB of zeros: about 300 KB compressed
    forged = rewrite(path, tmp_path / "bomb.skdeep", members={"module.pt": bomb})
    del bomb
    assert forged.stat().st_size < 2 * 2**20
    tracemalloc.start()
    try:
        refused(forged, r"module.pt holds 314572800 bytes, more than \d+ expected")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20


def test_an_architecture_larger_than_its_weights_is_refused_before_allocating(
    saved, tmp_path, monkeypatch
):
    _, path = saved

    def huge(manifest):
        manifest["params"]["hidden_layer_sizes"] = {"__tuple__": [16000, 16000]}

    forged = rewrite(path, tmp_path / "huge.skdeep", huge)
    assert forged.stat().st_size < 100_000

    def never(*args, **kwargs):
        raise AssertionError("the network was built")

    monkeypatch.setattr(BaseNetwork, "_build_net", never)
    refused(forged, r"describe a network of 1025344012 bytes of weights, but its module.pt")


def test_every_flipped_bit_is_refused_or_harmless(saved, data, tmp_path):
    clf, path = saved
    X, _ = data
    original = path.read_bytes()
    expected = clf.predict_proba(X)
    rng = np.random.RandomState(0)
    outcomes = {"refused": 0, "harmless": 0}
    for bit in rng.choice(len(original) * 8, size=150, replace=False):
        damaged = bytearray(original)
        damaged[bit // 8] ^= 1 << (bit % 8)
        target = tmp_path / "flipped.skdeep"
        target.write_bytes(bytes(damaged))
        try:
            loaded = load(target)
        except ValueError as error:
            assert str(target) in str(error)
            outcomes["refused"] += 1
            continue
        np.testing.assert_array_equal(loaded.predict_proba(X), expected)
        outcomes["harmless"] += 1
    assert outcomes["refused"] > 100  # the CRCs of the zip catch flips inside members


@pytest.mark.parametrize(
    "content",
    [b"", b"PK\x03\x04" + bytes(100), b"\x00" * 1000, b"not a model"],
    ids=["empty", "zip header only", "zeros", "text"],
)
def test_garbage_is_a_value_error_naming_the_file(tmp_path, content):
    target = tmp_path / "garbage.skdeep"
    target.write_bytes(content)
    refused(target, "not a model file written by skdeep's save")


@pytest.mark.parametrize("member", ["module.pt", "optimizer.pt", "criterion.pt"])
def test_a_garbage_state_member_is_a_value_error_naming_the_file(saved, tmp_path, member):
    _, path = saved
    forged = rewrite(path, tmp_path / "member.skdeep", members={member: b"\x80\x04garbage"})
    refused(forged, "damaged or was edited|module.pt holds only 9 bytes")


@pytest.mark.parametrize(
    "make",
    [
        lambda: MLPRegressor(hidden_layer_sizes=(4,), **TINY),
        lambda: CNNClassifier(filters=(2,), kernel_sizes=(3,), dense_units=(3,), **TINY),
    ],
    ids=["MLPRegressor", "CNNClassifier"],
)
def test_genuine_files_of_every_estimator_still_load(data, tmp_path, make):
    X, y = data
    estimator = make().fit(X, y)
    loaded = load(estimator.save(tmp_path / "model.skdeep"))
    np.testing.assert_array_equal(loaded.predict(X), estimator.predict(X))


@pytest.fixture(scope="module")
def saved_with_bins(data, tmp_path_factory):
    pytest.importorskip("rtdl_num_embeddings")
    X, y = data
    reg = MLPRegressor(
        hidden_layer_sizes=(8,), numeric_embedding="piecewise_linear", n_bins=8, **TINY
    ).fit(X, y.astype(np.float32))
    return reg, reg.save(tmp_path_factory.mktemp("bins") / "model.skdeep")


def _edges(values, dtype="<f4"):
    return {"__ndarray__": list(values), "dtype": dtype, "shape": [len(values)]}


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda bins: bins.pop(), r"not a list of n_features_in_=16 arrays"),
        (lambda bins: bins.__setitem__(3, _edges([2.0, 1.0])), "feature 3 are not two or more"),
        (lambda bins: bins.__setitem__(0, _edges([1.0])), "feature 0 are not two or more"),
        (lambda bins: bins.__setitem__(1, _edges([0, 1], "<i8")), "feature 1 are not a 1-D"),
        (lambda bins: bins.__setitem__(2, [0.0, 1.0]), "feature 2 are not a 1-D"),
        (
            lambda bins: bins.__setitem__(2, _edges([0.0, {"__float__": "inf"}])),
            "feature 2 are not two or more increasing finite",
        ),
    ],
)
def test_forged_embedding_bins_are_refused(saved_with_bins, tmp_path, edit, message):
    _, path = saved_with_bins
    forged = rewrite(
        path, tmp_path / "bins.skdeep", lambda m: edit(m["fitted"]["embedding_bins_"])
    )
    refused(forged, "embedding_bins_ is not valid: .*" + message)


def test_bins_whose_encoding_is_huge_are_refused_before_it_is_built(
    saved_with_bins, tmp_path, monkeypatch
):
    _, path = saved_with_bins

    def huge(manifest):
        bins = manifest["fitted"]["embedding_bins_"]
        bins[0] = _edges(np.arange(2**20 + 1, dtype=np.float32).tolist())

    forged = rewrite(path, tmp_path / "huge.skdeep", huge)

    def never(*args, **kwargs):
        raise AssertionError("the embedding was built")

    monkeypatch.setattr("skdeep.embeddings.make_numeric_embedding", never)
    refused(forged, "its encoding would hold more than 16777216 values")


def test_a_wide_embedding_is_sized_without_allocating_it(saved_with_bins, tmp_path):
    _, path = saved_with_bins
    # 16 features x 8 bins x 10^9 float32 values: 512 GB, which could not be allocated.
    forged = rewrite(
        path, tmp_path / "wide.skdeep", lambda m: m["params"].update(d_embedding=10**9)
    )
    refused(forged, r"describe a network of \d+ bytes of weights, but its module.pt")


def test_a_piecewise_linear_model_without_its_bins_is_refused(saved_with_bins, tmp_path):
    _, path = saved_with_bins
    forged = rewrite(
        path, tmp_path / "nobins.skdeep", lambda m: m["fitted"].pop("embedding_bins_")
    )
    refused(forged, "need the bin edges")
