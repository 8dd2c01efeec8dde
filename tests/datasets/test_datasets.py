"""Tests for skdeep.datasets: IDX parsing, checksums, data home, downloads and real data."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import struct
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skdeep.datasets import (
    _fetch,
    get_data_home,
    load_adult,
    load_california_housing,
    load_fashion_mnist,
    load_mnist,
)
from skdeep.datasets import _loaders as datasets

IDX_LOADERS = [(load_mnist, "mnist"), (load_fashion_mnist, "fashion-mnist")]
TRAIN_IMAGES, TRAIN_LABELS = "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"
TEST_IMAGES, TEST_LABELS = "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"
MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_gz(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data))
    return path


def write_idx_pair(
    folder: Path, part: str = "train", n: int = 4, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    names = (TRAIN_IMAGES, TRAIN_LABELS) if part == "train" else (TEST_IMAGES, TEST_LABELS)
    write_gz(folder / names[0], idx_bytes(images))
    write_gz(folder / names[1], idx_bytes(labels))
    return images, labels


def sha256_of_gz(path: Path) -> str:
    return hashlib.sha256(gzip.decompress(path.read_bytes())).hexdigest()


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


class FakeWeb:
    def __init__(self) -> None:
        self.pages: dict[str, bytes] = {}
        self.requested: list[str] = []
        self.before_reply = None

    def urlopen(self, url: str, timeout: float | None = None) -> io.BytesIO:
        self.requested.append(url)
        if url not in self.pages:
            raise urllib.error.URLError("no route to host")
        if self.before_reply is not None:
            self.before_reply()
        return io.BytesIO(self.pages[url])


@pytest.fixture
def web(monkeypatch: pytest.MonkeyPatch) -> FakeWeb:
    fake = FakeWeb()
    monkeypatch.setattr(urllib.request, "urlopen", fake.urlopen)
    return fake


# Data home


def test_data_home_argument_wins_over_env(monkeypatch, tmp_path):
    monkeypatch.setenv("SKDEEP_DATA", str(tmp_path / "env"))
    assert get_data_home(tmp_path / "arg") == tmp_path / "arg"
    assert get_data_home(str(tmp_path / "arg")) == tmp_path / "arg"


def test_data_home_env_wins_over_home(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SKDEEP_DATA", str(tmp_path / "env"))
    assert get_data_home() == tmp_path / "env"


@pytest.mark.parametrize("env", [None, ""])
def test_data_home_defaults_to_skdeep_data_in_home(monkeypatch, tmp_path, env):
    monkeypatch.setenv("HOME", str(tmp_path))
    if env is None:
        monkeypatch.delenv("SKDEEP_DATA", raising=False)
    else:
        monkeypatch.setenv("SKDEEP_DATA", env)
    assert get_data_home() == tmp_path / "skdeep_data"
    assert not (tmp_path / "skdeep_data").exists()


def test_data_home_expands_user(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert get_data_home("~/data") == tmp_path / "data"


def test_loader_reads_from_env_data_home(monkeypatch, tmp_path):
    images, labels = write_idx_pair(tmp_path / "mnist")
    monkeypatch.setenv("SKDEEP_DATA", str(tmp_path))
    X, y = load_mnist(verify=False)
    np.testing.assert_array_equal(X, images)
    np.testing.assert_array_equal(y, labels)


# IDX parsing


@pytest.mark.parametrize(("loader", "folder"), IDX_LOADERS)
@pytest.mark.parametrize("subset", ["train", "test", "all"])
def test_idx_round_trip(tmp_path, loader, folder, subset):
    train = write_idx_pair(tmp_path / folder, "train", n=5, seed=1)
    test = write_idx_pair(tmp_path / folder, "test", n=3, seed=2)
    parts = {"train": [train], "test": [test], "all": [train, test]}[subset]

    X, y = loader(tmp_path, subset=subset, verify=False)

    assert X.dtype == np.uint8 and y.dtype == np.int64
    np.testing.assert_array_equal(X, np.concatenate([images for images, _ in parts]))
    np.testing.assert_array_equal(y, np.concatenate([labels for _, labels in parts]))
    assert X.flags.writeable and y.flags.writeable


def test_idx_files_directly_in_data_home(tmp_path):
    images, labels = write_idx_pair(tmp_path)
    X, y = load_mnist(tmp_path, verify=False)
    np.testing.assert_array_equal(X, images)
    np.testing.assert_array_equal(y, labels)


@pytest.mark.parametrize("shape", [(0,), (7,), (2, 3, 4), (1, 2, 1, 5)])
def test_parse_idx_round_trip(shape):
    array = np.arange(np.prod(shape), dtype=np.uint8).reshape(shape)
    parsed = _fetch.parse_idx(idx_bytes(array), "x.idx")
    assert parsed.shape == shape and parsed.dtype == np.uint8
    np.testing.assert_array_equal(parsed, array)


def _malformed(good: bytes) -> dict[str, bytes]:
    return {
        "wrong magic": b"\x01" + good[1:],
        "float type code": good[:2] + b"\x0d" + good[3:],
        "truncated data": good[:-1],
        "trailing bytes": good + b"\x00",
        "truncated header": good[:9],
        "too short": good[:2],
    }


@pytest.mark.parametrize("case", list(_malformed(b"")))
def test_malformed_idx_rejected_naming_the_file(tmp_path, case):
    write_idx_pair(tmp_path / "mnist", n=2)
    path = tmp_path / "mnist" / TRAIN_IMAGES
    good = gzip.decompress(path.read_bytes())
    write_gz(path, _malformed(good)[case])
    with pytest.raises(ValueError, match=re.escape(str(path))):
        load_mnist(tmp_path, verify=False)


@pytest.mark.parametrize(
    "content", [lambda gz: gz[: len(gz) // 2], lambda gz: b"not a gzip file"], ids=["cut", "raw"]
)
def test_broken_gzip_rejected_naming_the_file(tmp_path, content):
    write_idx_pair(tmp_path / "mnist", n=2)
    path = tmp_path / "mnist" / TRAIN_LABELS
    path.write_bytes(content(path.read_bytes()))
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*gzip"):
        load_mnist(tmp_path, verify=False)


def test_image_and_label_counts_must_agree(tmp_path):
    write_idx_pair(tmp_path / "mnist", n=3)
    write_gz(tmp_path / "mnist" / TRAIN_LABELS, idx_bytes(np.zeros(2, dtype=np.uint8)))
    with pytest.raises(ValueError, match="do not fit together"):
        load_mnist(tmp_path, verify=False)


def test_checksum_mismatch_names_file_and_both_hashes(tmp_path):
    write_idx_pair(tmp_path / "mnist")
    path = tmp_path / "mnist" / TRAIN_IMAGES
    expected = datasets._MNIST.sha256[TRAIN_IMAGES]
    with pytest.raises(ValueError, match="Checksum mismatch") as info:
        load_mnist(tmp_path)
    message = str(info.value)
    assert str(path) in message
    assert expected in message
    assert sha256_of_gz(path) in message


def test_fashion_mnist_verify_checks_shapes(tmp_path):
    write_idx_pair(tmp_path / "fashion-mnist", n=2)
    with pytest.raises(ValueError, match=re.escape("expected (60000, 28, 28)")):
        load_fashion_mnist(tmp_path)
    assert load_fashion_mnist(tmp_path, verify=False)[0].shape == (2, 28, 28)


@pytest.mark.parametrize("loader", [load_mnist, load_fashion_mnist, load_adult])
def test_unknown_subset_rejected(tmp_path, loader):
    with pytest.raises(ValueError, match="subset must be 'train', 'test' or 'all'"):
        loader(tmp_path, subset="valid")


# Missing files


def test_missing_files_message_lists_paths_and_how_to_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("SKDEEP_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(subset="test")
    message = str(info.value)
    for name in (TEST_IMAGES, TEST_LABELS):
        assert str(tmp_path / "mnist" / name) in message
    assert TRAIN_IMAGES not in message
    for hint in ("data_home", "SKDEEP_DATA", "~/skdeep_data", "download=True"):
        assert hint in message


def test_missing_housing_message(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=True") as info:
        load_california_housing(tmp_path)
    assert str(tmp_path / "california-housing" / "housing.csv.gz") in str(info.value)


def test_missing_adult_has_no_download_source(tmp_path, web):
    with pytest.raises(FileNotFoundError, match="No download source") as info:
        load_adult(tmp_path, subset="all", download=True)
    assert str(tmp_path / "adult" / "adult-test.csv.gz") in str(info.value)
    assert web.requested == []


# Downloads (no network: urllib is replaced by a fake)


def test_download_fetches_only_missing_files_and_keeps_existing(tmp_path, web):
    folder = tmp_path / "mnist"
    images, _ = write_idx_pair(folder, n=3)
    (folder / TRAIN_LABELS).unlink()
    kept = (folder / TRAIN_IMAGES).read_bytes()
    labels = np.array([1, 2, 3], dtype=np.uint8)
    web.pages[MNIST_URL + TRAIN_LABELS] = gzip.compress(idx_bytes(labels))

    X, y = load_mnist(tmp_path, download=True, verify=False)

    assert web.requested == [MNIST_URL + TRAIN_LABELS]
    assert (folder / TRAIN_IMAGES).read_bytes() == kept
    assert (folder / TRAIN_LABELS).read_bytes() == web.pages[MNIST_URL + TRAIN_LABELS]
    assert files_under(tmp_path) == sorted(["mnist/" + TRAIN_IMAGES, "mnist/" + TRAIN_LABELS])
    np.testing.assert_array_equal(X, images)
    np.testing.assert_array_equal(y, labels)


def test_download_with_all_files_present_makes_no_request(tmp_path, web):
    write_idx_pair(tmp_path / "mnist")
    load_mnist(tmp_path, download=True, verify=False)
    assert web.requested == []


def test_download_never_overwrites_a_file_that_appears_meanwhile(tmp_path, web):
    dest = tmp_path / "mnist" / TRAIN_LABELS
    images, _ = write_idx_pair(tmp_path / "mnist", n=2)
    dest.unlink()
    theirs = np.array([7, 7], dtype=np.uint8)
    web.pages[MNIST_URL + TRAIN_LABELS] = gzip.compress(idx_bytes(np.array([1, 1], np.uint8)))
    web.before_reply = lambda: write_gz(dest, idx_bytes(theirs))

    _, y = load_mnist(tmp_path, download=True, verify=False)

    np.testing.assert_array_equal(y, theirs)
    assert len(files_under(tmp_path)) == 2


def test_download_verified_against_known_checksums(monkeypatch, tmp_path, web):
    served = tmp_path / "served"
    write_idx_pair(served, n=4)
    for name in (TRAIN_IMAGES, TRAIN_LABELS):
        web.pages[MNIST_URL + name] = (served / name).read_bytes()
        monkeypatch.setitem(datasets._MNIST.sha256, name, sha256_of_gz(served / name))
    monkeypatch.setitem(datasets._IDX_SAMPLES, "train", 4)

    X, y = load_mnist(tmp_path / "home", download=True)

    assert X.shape == (4, 28, 28) and y.shape == (4,)
    assert len(web.requested) == 2


def test_download_with_wrong_checksum_is_discarded(tmp_path, web):
    url = MNIST_URL + TRAIN_IMAGES
    web.pages[url] = gzip.compress(idx_bytes(np.zeros((1, 28, 28), np.uint8)))
    with pytest.raises(ValueError, match="Checksum mismatch") as info:
        load_mnist(tmp_path, download=True)
    assert url in str(info.value)
    assert datasets._MNIST.sha256[TRAIN_IMAGES] in str(info.value)
    assert files_under(tmp_path) == []


def test_download_failure_says_where_to_put_the_files(tmp_path, web):
    with pytest.raises(OSError, match="download of .* failed") as info:
        load_mnist(tmp_path, subset="test", download=True)
    assert not isinstance(info.value, FileNotFoundError)
    message = str(info.value)
    assert str(tmp_path / "mnist" / TEST_IMAGES) in message
    assert "SKDEEP_DATA" in message
    assert web.requested == [MNIST_URL + TEST_IMAGES]
    assert files_under(tmp_path) == []


def test_fashion_mnist_download_checks_md5(monkeypatch, tmp_path, web):
    base = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
    served = tmp_path / "served"
    write_idx_pair(served, part="test", n=2)
    for name in (TEST_IMAGES, TEST_LABELS):
        web.pages[base + name] = (served / name).read_bytes()
    with pytest.raises(ValueError, match="expected md5 bef4ecab320f06d8554ea6380940ec79"):
        load_fashion_mnist(tmp_path / "home", subset="test", download=True)
    assert files_under(tmp_path / "home") == []

    for name in (TEST_IMAGES, TEST_LABELS):
        digest = hashlib.md5(web.pages[base + name]).hexdigest()
        monkeypatch.setitem(datasets._FASHION_MNIST.md5, name, digest)
    monkeypatch.setitem(datasets._IDX_SAMPLES, "test", 2)
    X, _ = load_fashion_mnist(tmp_path / "home", subset="test", download=True)
    assert X.shape == (2, 28, 28)
    assert files_under(tmp_path / "home") == sorted(
        ["fashion-mnist/" + TEST_IMAGES, "fashion-mnist/" + TEST_LABELS]
    )


HOUSING_CSV = (
    b"longitude,latitude,housing_median_age,total_rooms,total_bedrooms,population,"
    b"households,median_income,median_house_value,ocean_proximity\n"
    b"-122.23,37.88,41.0,880.0,129.0,322.0,126.0,8.3252,452600.0,NEAR BAY\n"
    b"-122.22,37.86,21.0,7099.0,,2401.0,1138.0,8.3014,358500.0,ISLAND\n"
)


def test_housing_download_is_stored_gzipped(monkeypatch, tmp_path, web):
    web.pages[datasets._HOUSING_URL] = HOUSING_CSV
    digest = hashlib.sha256(HOUSING_CSV).hexdigest()
    monkeypatch.setitem(datasets._HOUSING.sha256, "housing.csv.gz", digest)

    X, y = load_california_housing(tmp_path, download=True)

    stored = tmp_path / "california-housing" / "housing.csv.gz"
    assert gzip.decompress(stored.read_bytes()) == HOUSING_CSV
    assert X.shape == (2, 9) and y.tolist() == [452600.0, 358500.0]


# CSV tables


def test_housing_from_small_csv(tmp_path):
    write_gz(tmp_path / "california-housing" / "housing.csv.gz", HOUSING_CSV)
    X, y = load_california_housing(tmp_path, verify=False)
    assert "median_house_value" not in X.columns and X.shape == (2, 9)
    assert y.name == "median_house_value" and y.dtype == np.float64
    assert int(X["total_bedrooms"].isna().sum()) == 1
    assert X["ocean_proximity"].tolist() == ["NEAR BAY", "ISLAND"]


def test_housing_checksum_mismatch(tmp_path):
    path = write_gz(tmp_path / "california-housing" / "housing.csv.gz", HOUSING_CSV)
    with pytest.raises(ValueError, match=re.escape(str(path))):
        load_california_housing(tmp_path)


ADULT_HEADER = "age,workclass,fnlwgt,education,income\n"


def test_adult_from_small_csv(tmp_path):
    write_gz(
        tmp_path / "adult" / "adult.csv.gz",
        (ADULT_HEADER + "39,State-gov,77516,Bachelors,<=50K\n50,,83311,HS-grad,>50K\n").encode(),
    )
    write_gz(
        tmp_path / "adult" / "adult-test.csv.gz",
        (ADULT_HEADER + "25,Private,226802,11th,>50K.\n").encode(),
    )
    X, y = load_adult(tmp_path, subset="all", verify=False)
    assert list(X.columns) == ["age", "workclass", "fnlwgt", "education"]
    assert X.index.tolist() == [0, 1, 2]
    assert y.tolist() == ["<=50K", ">50K", ">50K"]
    assert pd.isna(X.loc[1, "workclass"])
    assert load_adult(tmp_path, subset="test", verify=False)[1].tolist() == [">50K"]


def test_csv_without_target_column_rejected(tmp_path):
    path = write_gz(tmp_path / "adult" / "adult.csv.gz", b"age,workclass\n39,State-gov\n")
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*'income'"):
        load_adult(tmp_path, verify=False)


# Real data (skipped when the files are not available)


def real_data_home(*files: str) -> Path:
    candidates = [Path(os.environ["SKDEEP_DATA"])] if os.environ.get("SKDEEP_DATA") else []
    candidates.append(SHARED_DATA)
    for home in candidates:
        if all((home / name).is_file() for name in files):
            return home
    pytest.skip(f"real data files {files} not found under {[str(c) for c in candidates]}")


@pytest.fixture(scope="module")
def mnist_home() -> Path:
    return real_data_home(*("mnist/" + name for name in datasets._IDX_NAMES))


@pytest.fixture(scope="module")
def mnist_train(mnist_home) -> tuple[np.ndarray, np.ndarray]:
    return load_mnist(mnist_home)


def test_real_mnist_train(mnist_train):
    X, y = mnist_train
    assert X.shape == (60000, 28, 28) and X.dtype == np.uint8
    assert y.tolist()[:10] == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    counts = np.bincount(y, minlength=10)
    assert counts[0] == 5923 and counts[1] == 6742
    assert counts.sum() == 60000


def test_real_mnist_test_and_all(mnist_home, mnist_train):
    X, y = load_mnist(mnist_home, subset="test")
    assert X.shape == (10000, 28, 28)
    assert y.tolist()[:10] == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    X_all, y_all = load_mnist(mnist_home, subset="all")
    np.testing.assert_array_equal(X_all[:60000], mnist_train[0])
    np.testing.assert_array_equal(X_all[60000:], X)
    np.testing.assert_array_equal(y_all, np.concatenate([mnist_train[1], y]))


def test_real_fashion_mnist():
    home = real_data_home(*("fashion-mnist/" + name for name in datasets._IDX_NAMES))
    X, y = load_fashion_mnist(home, subset="all")
    assert X.shape == (70000, 28, 28)
    assert np.bincount(y).tolist() == [7000] * 10


def test_real_california_housing():
    X, y = load_california_housing(real_data_home("california-housing/housing.csv.gz"))
    assert X.shape == (20640, 9)
    assert int(X["total_bedrooms"].isna().sum()) == 207
    assert int(X.isna().sum().sum()) == 207
    assert y.dtype == np.float64 and y.mean() == pytest.approx(206855.8169, abs=1e-3)
    assert int((X["ocean_proximity"] == "ISLAND").sum()) == 5


def test_real_adult():
    home = real_data_home("adult/adult.csv.gz", "adult/adult-test.csv.gz")
    X, y = load_adult(home)
    assert X.shape == (32561, 14) and "income" not in X.columns
    assert int((y == ">50K").sum()) == 7841
    assert int(X.isna().sum().sum()) == 4262
    X_test, y_test = load_adult(home, subset="test")
    assert X_test.shape == (16281, 14)
    assert set(y_test) == {"<=50K", ">50K"}
    assert int((y_test == ">50K").sum()) == 3846
