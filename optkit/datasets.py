"""Datasets that need no download: scikit-learn's bundled sets and MNIST-1D.

Every loader returns a :class:`Dataset` with a seeded, stratified
train/validation/test split and (by default) features standardised with the
training split's mean and standard deviation only, so nothing about the validation
or test rows leaks into the inputs.

=================  ======  ========  =======  =========================================
name               rows    features  classes  source
=================  ======  ========  =======  =========================================
``digits``         1,797   64        10       8×8 handwritten digits (scikit-learn)
``breast_cancer``  569     30        2        Wisconsin diagnostic (scikit-learn)
``wine``           178     13        3        wine cultivars (scikit-learn)
``mnist1d``        5,000   40        10       MNIST-1D, generated from its templates
=================  ======  ========  =======  =========================================

scikit-learn and the ``mnist1d`` package come with the ``nn`` extra
(``pip install 'optkit[nn]'``). MNIST-1D (Greydanus & Kobak, 2020) is generated
locally by the package's ``make_dataset`` from the ten published 1-D templates
(padding, scaling, translation, correlated and i.i.d. noise, shear), never
downloaded; its test set is kept, and the validation rows come out of its
training set. The package seeds NumPy's global generator: the loader saves and
restores that state, so calling it changes no other randomness.

References
----------
Alpaydin, E. & Kaynak, C. (1998), UCI optical recognition of handwritten digits;
Wolberg, W. H., Street, W. N. & Mangasarian, O. L. (1995), UCI breast cancer
Wisconsin (diagnostic); Aeberhard, S. & Forina, M. (1991), UCI wine; Greydanus, S.
& Kobak, D. (2020), Scaling down deep learning with MNIST-1D, arXiv:2011.14439.

Examples
--------
>>> import optkit as ok
>>> ds = ok.datasets.load("wine", seed=0)
>>> ds.num_features, ds.num_classes, [len(s) for s in (ds.train, ds.validation, ds.test)]
(13, 3, [106, 36, 36])
>>> abs(float(ds.train.x.mean())) < 1e-6
True
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "Dataset",
    "Split",
    "breast_cancer",
    "digits",
    "load",
    "mnist1d",
    "names",
    "split_indices",
    "standardize",
    "wine",
]

_EXTRA = "pip install 'optkit[nn]'"


@dataclass(frozen=True)
class Split:
    """Inputs ``x`` (N, features) and integer labels ``y`` (N,); unpacks as ``x, y``."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def __iter__(self):
        return iter((self.x, self.y))


@dataclass(frozen=True)
class Dataset:
    """A classification dataset split three ways.

    Attributes
    ----------
    name : str
    train, validation, test : Split
    num_classes : int
    mean, scale : array (features,) or None
        The standardisation fitted on ``train`` (``x = (raw - mean) / scale``).
    """

    name: str
    train: Split
    validation: Split
    test: Split
    num_classes: int
    mean: np.ndarray | None = None
    scale: np.ndarray | None = None

    @property
    def num_features(self) -> int:
        """Width of one input row."""
        return int(self.train.x.shape[1])


def split_indices(
    y: np.ndarray, fractions: Sequence[float], seed: int = 0, stratify: bool = True
) -> tuple[np.ndarray, ...]:
    """Row indices of a seeded split into ``len(fractions)`` parts (class-stratified).

    Each class's rows are shuffled and cut in the given proportions (rounded; the
    first part takes the remainder), then each part is shuffled.

    Examples
    --------
    >>> import numpy as np
    >>> from optkit.datasets import split_indices
    >>> parts = split_indices(np.array([0] * 6 + [1] * 4), (0.5, 0.5), seed=0)
    >>> [len(p) for p in parts], sorted(np.concatenate(parts).tolist()) == list(range(10))
    ([5, 5], True)
    """
    fractions = [float(f) for f in fractions]
    if not fractions or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"fractions={fractions!r} must be >= 0 and sum to 1")
    rng = np.random.default_rng(seed)
    y = np.asarray(y)
    groups = (
        [np.flatnonzero(y == c) for c in np.unique(y)] if stratify else [np.arange(len(y))]
    )
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    for rows in groups:
        rows = rng.permutation(rows)
        counts = [round(f * len(rows)) for f in fractions[1:]]
        counts.insert(0, len(rows) - sum(counts))
        if counts[0] < 0:
            raise ValueError(f"fractions={fractions!r} leave no rows for the first part")
        for k, bounds in enumerate(np.split(rows, np.cumsum(counts)[:-1])):
            parts[k].append(bounds)
    return tuple(rng.permutation(np.concatenate(p)) for p in parts)


def standardize(train: np.ndarray, *others: np.ndarray):
    """``(mean, scale, train', *others')`` with mean/std fitted on ``train`` only.

    Constant features get scale 1 (they become 0).
    """
    mean = train.mean(axis=0, dtype=np.float64)
    scale = train.std(axis=0, dtype=np.float64)
    scale[scale == 0] = 1.0
    out = [((a - mean) / scale) for a in (train, *others)]
    return (mean, scale, *out)


def _finish(name, x, y, parts, num_classes, standardized, dtype) -> Dataset:
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"dtype must be a float dtype, got {dtype}")
    xs = [np.asarray(x[p], dtype=np.float64) for p in parts]
    mean = scale = None
    if standardized:
        mean, scale, *xs = standardize(*xs)
    splits = [Split(np.ascontiguousarray(a, dtype=dtype), np.asarray(y[p], np.int64)) for a, p in zip(xs, parts)]  # fmt: skip
    return Dataset(name, *splits, num_classes=num_classes, mean=mean, scale=scale)


def _sklearn(loader_name: str):
    try:
        from sklearn import datasets as sk
    except ImportError:
        raise ImportError(
            f"optkit.datasets.{loader_name.removeprefix('load_')} needs scikit-learn: "
            f"{_EXTRA}"
        ) from None
    bunch = getattr(sk, loader_name)()
    return np.asarray(bunch.data, np.float64), np.asarray(bunch.target, np.int64)


def _bundled(name, loader, split, seed, standardized, dtype) -> Dataset:
    x, y = _sklearn(loader)
    parts = split_indices(y, split, seed)
    return _finish(name, x, y, parts, int(y.max()) + 1, standardized, dtype)


def digits(*, split=(0.6, 0.2, 0.2), seed=0, standardized=True, dtype="float32") -> Dataset:
    """scikit-learn's 1,797 8×8 digits (64 features, 10 classes)."""
    return _bundled("digits", "load_digits", split, seed, standardized, dtype)


def breast_cancer(*, split=(0.6, 0.2, 0.2), seed=0, standardized=True, dtype="float32"):
    """Wisconsin diagnostic breast cancer (569 rows, 30 features, 2 classes)."""
    return _bundled("breast_cancer", "load_breast_cancer", split, seed, standardized, dtype)


def wine(*, split=(0.6, 0.2, 0.2), seed=0, standardized=True, dtype="float32") -> Dataset:
    """Wine recognition (178 rows, 13 features, 3 classes)."""
    return _bundled("wine", "load_wine", split, seed, standardized, dtype)


def mnist1d(
    *,
    num_samples: int = 5000,
    validation: float = 0.2,
    seed: int = 0,
    data_seed: int = 42,
    standardized: bool = True,
    dtype: Any = "float32",
) -> Dataset:
    """MNIST-1D: 40-point 1-D signals of 10 classes, generated locally.

    ``data_seed`` drives the generator (42 gives the published default set);
    ``num_samples`` rows are split 80/20 into train and test by the package, then
    a ``validation`` fraction of the training rows is held out (seeded by
    ``seed``, stratified).
    """
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError:
        raise ImportError(
            f"optkit.datasets.mnist1d needs the mnist1d package: {_EXTRA}"
        ) from None
    args = get_dataset_args()
    args.num_samples, args.seed = int(num_samples), int(data_seed)
    saved = np.random.get_state(), random.getstate()  # noqa: NPY002 (restored)
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(saved[0])  # noqa: NPY002 (the package seeds it)
        random.setstate(saved[1])
    x = np.concatenate([data["x"], data["x_test"]])
    y = np.concatenate([data["y"], data["y_test"]]).astype(np.int64)
    n_train = len(data["y"])
    train, val = split_indices(y[:n_train], (1 - validation, validation), seed)
    test = np.arange(n_train, len(y))
    return _finish("mnist1d", x, y, (train, val, test), 10, standardized, dtype)


_LOADERS = {
    "digits": digits,
    "breast_cancer": breast_cancer,
    "wine": wine,
    "mnist1d": mnist1d,
}


def names() -> list[str]:
    """The dataset names :func:`load` knows."""
    return list(_LOADERS)


def load(name: str, **options: Any) -> Dataset:
    """Load dataset ``name`` (see :func:`names`) with the loader's keyword options."""
    try:
        loader = _LOADERS[name]
    except KeyError:
        raise ValueError(
            f"unknown dataset {name!r}; known: {', '.join(_LOADERS)}"
        ) from None
    return loader(**options)
