"""Exceptions that optkit raises beyond the built-in ones."""

from __future__ import annotations

__all__ = ["CheckpointError", "KernelCacheWarning", "NonFiniteGradientError"]


class NonFiniteGradientError(FloatingPointError):
    """A gradient held NaN or infinity and the optimizer's ``nonfinite`` is ``"raise"``.

    Nothing was modified. Attributes ``name`` (the parameter), ``step`` (the
    applied-step count the update would have had, from 1) and ``count`` (how many
    non-finite values).

    Examples
    --------
    >>> import numpy as np, optkit as ok
    >>> w = np.ones(3)
    >>> try:
    ...     ok.SGD({"w": w}, lr=0.1).step({"w": np.array([1.0, np.nan, np.inf])})
    ... except ok.NonFiniteGradientError as err:
    ...     print(err.name, err.step, err.count, w.tolist())
    w 1 2 [1.0, 1.0, 1.0]
    """

    def __init__(self, name: str, step: int, count: int):
        self.name, self.step, self.count = name, step, count
        super().__init__(
            f"gradient for {name!r} has {count} non-finite value(s) (NaN or inf) at step "
            f"{step}; nothing was updated. Pass nonfinite='skip' to skip such steps or "
            f"'propagate' to apply them as torch does"
        )


class KernelCacheWarning(RuntimeWarning):
    """optkit's on-disk kernel cache could not be used as configured, or held a damaged
    entry; kernels were rebuilt or compiled in memory, and results are unaffected.

    Given once per process and cause. The message names the folder or entry and why.
    """


class CheckpointError(ValueError):
    """A checkpoint file is damaged, or is not an optkit checkpoint; nothing was loaded.

    Attributes ``path`` (the file) and ``reason`` (what is wrong, e.g. ``damaged
    (BadZipFile: Bad CRC-32 for file 'a0.npy')`` or ``entry 'w' is missing``).

    Examples
    --------
    >>> import os, tempfile, optkit as ok
    >>> path = os.path.join(tempfile.mkdtemp(), "run.npz")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(b"PK\x03\x04 not really a zip")
    >>> try:
    ...     ok.load_checkpoint(path)
    ... except ok.CheckpointError as err:
    ...     print(err.reason.split(" (")[0], err.path == path, isinstance(err, ValueError))
    damaged True True
    """

    def __init__(self, path: str, reason: str = ""):
        self.path, self.reason = path, reason
        super().__init__(f"checkpoint {path!r}: {reason}")

    def __reduce__(self):
        return (type(self), (self.path, self.reason))
