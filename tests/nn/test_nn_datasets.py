"""Offline datasets: every loader works without a network, splits are seeded,
stratified and disjoint, and standardisation sees the training rows only."""

from __future__ import annotations

import random
import sys

import numpy as np
import pytest

import optkit as ok
from optkit.datasets import split_indices, standardize

pytest.importorskip("sklearn")
EXPECTED = {  # rows, features, classes
    "digits": (1797, 64, 10),
    "breast_cancer": (569, 30, 2),
    "wine": (178, 13, 3),
    "mnist1d": (5000, 40, 10),
}


@pytest.mark.parametrize("name", ok.datasets.names())
def test_every_dataset_loads_offline(name):
    if name == "mnist1d":
        pytest.importorskip("mnist1d")
    ds = ok.datasets.load(name)
    rows, features, classes = EXPECTED[name]
    parts = (ds.train, ds.validation, ds.test)
    assert sum(len(p) for p in parts) == rows
    assert ds.num_features == features and ds.num_classes == classes
    for part in parts:
        assert part.x.dtype == np.float32 and part.y.dtype == np.int64
        assert part.x.flags.c_contiguous and np.isfinite(part.x).all()
        assert set(np.unique(part.y)) == set(range(classes))  # stratified: every class
    np.testing.assert_allclose(ds.train.x.mean(axis=0), 0.0, atol=1e-5)
    spread = ds.train.x.std(axis=0)
    assert np.all((np.abs(spread - 1) < 1e-4) | (spread == 0))
    x, y = ds.test  # a split unpacks
    assert len(x) == len(y) == len(ds.test)


def test_standardisation_is_fitted_on_the_training_split_only():
    ds = ok.datasets.wine(seed=1)
    raw = ok.datasets.wine(seed=1, standardized=False, dtype="float64")
    np.testing.assert_allclose(ds.mean, raw.train.x.mean(axis=0))
    np.testing.assert_allclose(
        ds.test.x, (raw.test.x - ds.mean) / ds.scale, rtol=1e-5, atol=1e-5
    )
    assert abs(float(ds.test.x.mean())) > 1e-4  # the test rows were not used
    _, scale, _, b = standardize(np.array([[1.0, 5.0], [3.0, 5.0]]), np.array([[2.0, 6.0]]))
    assert scale.tolist() == [1.0, 1.0] and b.tolist() == [[0.0, 1.0]]  # constant column


def test_splits_are_seeded_disjoint_and_proportional():
    y = np.repeat(np.arange(4), [50, 30, 15, 5])
    a = split_indices(y, (0.6, 0.2, 0.2), seed=7)
    b = split_indices(y, (0.6, 0.2, 0.2), seed=7)
    c = split_indices(y, (0.6, 0.2, 0.2), seed=8)
    for pa, pb in zip(a, b):
        np.testing.assert_array_equal(pa, pb)
    assert not np.array_equal(a[0], c[0])
    every = np.concatenate(a)
    assert sorted(every.tolist()) == list(range(len(y)))
    assert [len(p) for p in a] == [60, 20, 20]
    assert np.bincount(y[a[1]]).tolist() == [10, 6, 3, 1]
    with pytest.raises(ValueError, match="sum to 1"):
        split_indices(y, (0.5, 0.2))
    with pytest.raises(ValueError, match="unknown dataset 'cifar'"):
        ok.datasets.load("cifar")


def test_mnist1d_keeps_the_global_random_state_and_is_deterministic():
    pytest.importorskip("mnist1d")
    before = np.random.get_state(), random.getstate()  # noqa: NPY002
    a = ok.datasets.mnist1d(num_samples=500)
    after = np.random.get_state(), random.getstate()  # noqa: NPY002
    assert after[1] == before[1] and after[0][0] == before[0][0]
    np.testing.assert_array_equal(after[0][1], before[0][1])  # the global state kept
    assert after[0][2:] == before[0][2:]
    b = ok.datasets.mnist1d(num_samples=500)
    np.testing.assert_array_equal(a.train.x, b.train.x)
    assert len(a.train) + len(a.validation) == 400 and len(a.test) == 100
    assert abs(len(a.validation) - 80) <= 5  # 20 % of each class, rounded
    other = ok.datasets.mnist1d(num_samples=500, data_seed=1)
    assert not np.array_equal(a.test.x, other.test.x)


def test_missing_scikit_learn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(ImportError, match=r"optkit\[nn\]"):
        ok.datasets.digits()
    monkeypatch.setitem(sys.modules, "mnist1d", None)
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)
    with pytest.raises(ImportError, match=r"optkit\[nn\]"):
        ok.datasets.mnist1d()
