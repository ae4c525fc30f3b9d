"""The reference path under ``array_api_strict``: standard-only code, arrays stay in
their library. (Equivalence with NumPy, populations and state round trips run on
every backend through the ``backend`` fixture; these are strict-specific.)"""

from __future__ import annotations

import array_api_strict as xps
import numpy as np
import pytest

import optkit as ok


def test_numpy_grads_for_strict_params_raise_naming_both():
    w = xps.ones(3, dtype=xps.float64)
    opt = ok.Adam({"w": w}, lr=0.1)
    with pytest.raises(TypeError, match=r"(?=.*'w')(?=.*numpy)(?=.*array_api_strict)"):
        opt.step({"w": np.ones(3)})
    assert bool(xps.all(w == 1.0))


def test_flat_params_under_array_api_strict_use_plain_dtype_names():
    """Buffers and state are named by dtype ("float64"), whatever the array library,
    so that names match the NumPy backend's and checkpoints move between them."""
    src = {"w": xps.ones((2, 3), dtype=xps.float64), "b": xps.zeros(3, dtype=xps.float64)}
    fp = ok.FlatParams(src)
    opt = ok.Adam(fp, lr=0.1)
    g = fp.zeros_like()
    for k in g.buffers:
        g.buffers[k][...] = xps.ones(9, dtype=xps.float64)
    opt.step(g)
    np.testing.assert_allclose(np.asarray(fp["w"]), 0.9)  # views see the update
    np.testing.assert_allclose(np.asarray(fp["b"]), -0.1)
    numpy_fp = ok.FlatParams({"w": np.ones((2, 3)), "b": np.zeros(3)})
    assert list(fp.buffers) == list(numpy_fp.buffers) == ["float64"]
    assert set(opt.state) == {"flat:float64"}
