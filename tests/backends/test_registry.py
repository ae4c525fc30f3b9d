"""Backend discovery and selection."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import array_api_compat
import array_api_strict as xps
import numpy as np
import pytest

import optkit as ok
from optkit import _backend


@pytest.fixture(autouse=True)
def clean_selection(monkeypatch):
    """No global choice and no environment variable unless a test sets them."""
    monkeypatch.delenv("OPTKIT_BACKEND", raising=False)
    monkeypatch.setattr(_backend, "_global_choice", None)
    yield


# --------------------------------------------------------------------------- discovery
def test_backends_report():
    info = ok.backends()
    assert set(info) == {"numpy", "numba", "cupy", "array_api"}
    for name, entry in info.items():
        assert {"available", "version", "reason"} <= set(entry), name
        assert isinstance(entry["available"], bool)
        assert isinstance(entry["reason"], str)
        assert entry["available"] or entry["reason"], f"{name}: unavailable without reason"
    assert info["numpy"] == {"available": True, "version": np.__version__, "reason": ""}
    import numba

    assert info["numba"]["available"] is True
    assert info["numba"]["version"] == numba.__version__
    assert info["numba"]["threads"] == numba.get_num_threads() >= 1
    assert isinstance(info["numba"]["threading_layer"], str)
    assert info["array_api"]["available"] is True
    assert info["array_api"]["version"] == array_api_compat.__version__
    assert isinstance(info["cupy"]["devices"], list)
    if not info["cupy"]["available"]:
        assert info["cupy"]["devices"] == [] or info["cupy"]["reason"]


def test_backends_reports_missing_cupy(monkeypatch):
    real = _backend.importlib.util.find_spec
    monkeypatch.setattr(
        _backend.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "cupy" else real(name, *a),
    )
    entry = ok.backends()["cupy"]
    assert entry["available"] is False
    assert "not installed" in entry["reason"]


# --------------------------------------------------------------------------- selection
def test_default_is_auto():
    assert ok.get_backend() == "auto"


def test_set_backend_and_reset():
    ok.set_backend("numba")
    assert ok.get_backend() == "numba"
    ok.set_backend("NumPy")  # names are case-insensitive
    assert ok.get_backend() == "numpy"
    ok.set_backend(None)
    assert ok.get_backend() == "auto"


def test_use_backend_nests_and_restores():
    ok.set_backend("numba")
    with ok.use_backend("numpy"):
        assert ok.get_backend() == "numpy"
        with ok.use_backend("array_api"):
            assert ok.get_backend() == "array_api"
        assert ok.get_backend() == "numpy"
    assert ok.get_backend() == "numba"


def test_use_backend_restores_on_exception():
    with pytest.raises(RuntimeError, match="boom"), ok.use_backend("numpy"):
        assert ok.get_backend() == "numpy"
        raise RuntimeError("boom")
    assert ok.get_backend() == "auto"
    with ok.use_backend("numba"):
        with pytest.raises(KeyError), ok.use_backend("numpy"):
            raise KeyError("x")
        assert ok.get_backend() == "numba"


def test_environment_variable(monkeypatch):
    monkeypatch.setenv("OPTKIT_BACKEND", "numpy")
    assert ok.get_backend() == "numpy"
    assert ok.SGD(np.ones(2), lr=0.1).backend == "numpy"
    ok.set_backend("numba")  # more specific than the environment
    assert ok.get_backend() == "numba"
    with ok.use_backend("array_api"):  # more specific still
        assert ok.get_backend() == "array_api"
    ok.set_backend(None)
    assert ok.get_backend() == "numpy"


def test_bad_environment_variable_names_value(monkeypatch):
    monkeypatch.setenv("OPTKIT_BACKEND", "jax")
    with pytest.raises(ValueError, match="'jax'"):
        ok.get_backend()


def test_argument_beats_context_and_is_resolved_once():
    w = np.ones(3)
    with ok.use_backend("numpy"):
        inside = ok.SGD(w, lr=0.1)
        explicit = ok.SGD(w, lr=0.1, backend="numba")
    assert inside.backend == "numpy"  # kept after the context exits
    assert explicit.backend == "numba"
    with ok.use_backend("numba"):
        assert inside.backend == "numpy"
        inside.step(np.ones(3))
    np.testing.assert_allclose(w, 0.9)


def test_auto_picks_numba_for_numpy_arrays():
    assert ok.Adam(np.ones(3)).backend == "numba"
    assert ok.Adam(np.ones(3), backend="auto").backend == "numba"


def test_auto_falls_back_to_numpy_without_numba(monkeypatch):
    monkeypatch.setattr(_backend, "_numba_available", lambda: False)
    assert ok.Adam(np.ones(3)).backend == "numpy"
    with pytest.raises(ImportError, match="numba"):
        ok.Adam(np.ones(3), backend="numba")


def test_auto_picks_array_api_for_other_namespaces():
    assert ok.Adam(xps.ones(3, dtype=xps.float64)).backend == "array_api"


def test_cupy_with_numpy_arrays_names_both():
    with pytest.raises(TypeError, match=r"(?=.*cupy)(?=.*numpy)"):
        ok.SGD(np.ones(3), lr=0.1, backend="cupy")


@pytest.mark.parametrize("name", ["numpy", "numba", "cupy"])
def test_wrong_library_for_backend_names_both(name):
    with pytest.raises(TypeError, match=rf"(?=.*{name})(?=.*array_api_strict)"):
        ok.SGD(xps.ones(3, dtype=xps.float64), lr=0.1, backend=name)


@pytest.mark.parametrize("where", ["set_backend", "use_backend", "argument"])
def test_unknown_backend_name(where):
    with pytest.raises(ValueError, match=r"'tensorflow'.*numpy.*numba"):
        if where == "set_backend":
            ok.set_backend("tensorflow")
        elif where == "use_backend":
            with ok.use_backend("tensorflow"):
                pass
        else:
            ok.SGD(np.ones(2), lr=0.1, backend="tensorflow")
    assert ok.get_backend() == "auto"


# --------------------------------------------------------------------------- lazy imports
def _modules_after(code: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "OPTKIT_BACKEND"}
    script = code + (
        "\nimport json, sys\n"
        "print(json.dumps({m: m in sys.modules for m in ('numba', 'cupy', 'optkit')}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_optkit_imports_neither_numba_nor_cupy():
    loaded = _modules_after("import optkit")
    assert loaded == {"numba": False, "cupy": False, "optkit": True}


def test_numpy_backend_never_imports_numba():
    loaded = _modules_after(
        "import numpy as np, optkit as ok\n"
        "w = np.ones(5)\n"
        "for cls in (ok.SGD, ok.Adagrad, ok.RMSprop, ok.Adam, ok.NAdam, ok.DeltaBarDelta):\n"
        "    opt = cls(w, backend='numpy')\n"
        "    opt.step(np.ones(5))\n"
        "assert (w != 1).all()\n"
    )
    assert loaded == {"numba": False, "cupy": False, "optkit": True}
