"""The Numba kernel cache: private folders, atomic thread-safe writes, damaged entries
rebuilt, unwritable folders falling back with one warning, and the workqueue lock."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from _support.configs import ONE_PER_RULE

import optkit as ok
from optkit._exec import numba as numba_exec
from optkit._exec import numba_cache
from optkit.errors import KernelCacheWarning

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """No kernel loaded in this process, no cache decision taken, and a private
    stand-in for the shared temporary folder (``tmp_path / "shared"``)."""
    numba_exec.clear_kernels()
    numba_cache._reset_for_tests()
    shared = tmp_path / "shared"
    shared.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(shared))
    yield tmp_path
    numba_exec.clear_kernels()
    numba_cache._reset_for_tests()


def _sgd_step() -> np.ndarray:
    """One SGD-momentum step on the numba backend: 1 - 0.5 * 1 = 0.5 everywhere."""
    w = np.ones(5)
    ok.SGD(w, lr=0.5, momentum=0.9, backend="numba").step(np.ones(5))
    return w


def _listing(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"<dir>"
        for p in sorted(folder.rglob("*"))
    }


def _cache_warnings(record) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, KernelCacheWarning)]


# --------------------------------------------------------------------------- threads
def _cold_compile_in_threads(folder: Path, monkeypatch, threads: int = 4) -> None:
    monkeypatch.setenv("OPTKIT_CACHE_DIR", str(folder))
    numba_exec.clear_kernels()
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []
    results: dict[tuple[int, str], np.ndarray] = {}

    def work(index: int) -> None:
        try:
            barrier.wait()
            for config in ONE_PER_RULE:
                w = np.full(3, 1.0 + index)
                config.make(w, backend="numba").step(np.full(3, 0.25))
                results[index, config.name] = w
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert errors == []
    for config in ONE_PER_RULE:  # every thread computed what the NumPy path computes
        for index in range(threads):
            expected = np.full(3, 1.0 + index)
            config.make(expected, backend="numpy").step(np.full(3, 0.25))
            np.testing.assert_allclose(results[index, config.name], expected, rtol=1e-12)
    names = [p.name for p in (folder / "numba").iterdir()]
    assert not [n for n in names if n.endswith(".tmp")], names
    # one module per rule, plus the finite-check reduction every step runs first
    assert len([n for n in names if n.endswith(".py")]) == len(ONE_PER_RULE) + 1


@pytest.mark.parametrize("repetition", range(2))
def test_threads_cold_compiling_every_rule(repetition, fresh, monkeypatch):
    _cold_compile_in_threads(fresh / f"cache{repetition}", monkeypatch)


@pytest.mark.slow
def test_threads_cold_compiling_every_rule_20_times(fresh, monkeypatch):
    for repetition in range(20):
        _cold_compile_in_threads(fresh / f"cache{repetition}", monkeypatch)


def test_concurrent_writes_use_unique_temporaries(fresh, monkeypatch):
    """4 threads writing the same module at once, 20 times: no collision on the
    temporary name (it was unique per process only), no temporary left behind."""
    monkeypatch.setenv("OPTKIT_CACHE_DIR", str(fresh / "cache"))
    folder = numba_cache.cache_dir()
    text = "# generated\nVALUE = 1\n" * 200

    def write(name: str, barrier: threading.Barrier, errors: list) -> None:
        try:
            barrier.wait()
            for _ in range(5):
                numba_cache.write_module(name, text, force=True)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    for repetition in range(20):
        barrier, errors = threading.Barrier(4), []
        args = (f"mod{repetition}", barrier, errors)
        pool = [threading.Thread(target=write, args=args) for _ in range(4)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        assert errors == []
        assert (folder / f"mod{repetition}.py").read_text() == text
    assert {p.name for p in folder.iterdir()} == {f"mod{i}.py" for i in range(20)}


# --------------------------------------------------------------------------- folders
def _unusable_primary(tmp_path: Path, monkeypatch) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("OPTKIT_CACHE_DIR", str(blocker))


def test_fallback_folder_is_created_private_and_used(fresh, monkeypatch):
    _unusable_primary(fresh, monkeypatch)
    with pytest.warns(KernelCacheWarning, match="not-a-folder") as record:
        np.testing.assert_array_equal(_sgd_step(), 0.5)
    assert len(_cache_warnings(record)) == 1
    shared = fresh / "shared" / f"optkit-{os.getuid()}"
    for folder in (shared, shared / "numba"):
        assert os.stat(folder).st_mode & 0o777 == 0o700
    assert [p.suffix for p in (shared / "numba").glob("optkit_sgd_*")] == [".py"]


def _planted_name(fresh: Path, monkeypatch) -> str:
    """The file name the SGD-momentum kernel module gets (learnt in a private cache)."""
    monkeypatch.setenv("OPTKIT_CACHE_DIR", str(fresh / "learn"))
    _sgd_step()
    (name,) = [p.name for p in (fresh / "learn" / "numba").glob("optkit_sgd_*.py")]
    numba_exec.clear_kernels()
    numba_cache._reset_for_tests()
    return name


@pytest.mark.parametrize("plant", ["foreign_owner", "mode_0777", "mode_0750", "symlink"])
def test_planted_fallback_folder_is_not_used(plant, fresh, monkeypatch):
    """A fallback folder that someone else could have prepared is refused: the kernels
    are compiled in memory and nothing planted there runs or changes."""
    name = _planted_name(fresh, monkeypatch)
    uid = os.getuid() + 4242 if plant == "foreign_owner" else os.getuid()
    planted = fresh / "shared" / f"optkit-{uid}"
    target = fresh / "elsewhere" if plant == "symlink" else planted
    (target / "numba").mkdir(parents=True)
    marker = fresh / "planted-code-ran"
    (target / "numba" / name).write_text(f"open({str(marker)!r}, 'w').close()\n")
    if plant == "symlink":
        os.chmod(target, 0o700)
        planted.symlink_to(target)
    else:
        os.chmod(planted, {"mode_0777": 0o777, "mode_0750": 0o750}.get(plant, 0o700))
    if plant == "foreign_owner":  # we are now someone else: the folder is foreign
        monkeypatch.setattr(os, "getuid", lambda: uid)
    before = _listing(target)
    _unusable_primary(fresh, monkeypatch)
    reason = {
        "foreign_owner": "owned by uid",
        "mode_0777": "mode 0o777",
        "mode_0750": "mode 0o750",
        "symlink": "symbolic link",
    }[plant]
    with pytest.warns(KernelCacheWarning, match=reason) as record:
        assert numba_cache.cache_dir() is None
        np.testing.assert_array_equal(_sgd_step(), 0.5)
    assert len(_cache_warnings(record)) == 1
    assert "compiled in memory" in _cache_warnings(record)[0]
    assert not marker.exists()
    assert _listing(target) == before


def _refuse_writes_in(folder: Path, monkeypatch, code: int) -> None:
    """Make creating files in ``folder`` fail as on a read-only or full file system."""
    real = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and Path(dir) == folder:
            raise OSError(code, os.strerror(code), str(folder))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)


@pytest.mark.parametrize("fallback", ["usable", "refused"])
def test_read_only_cache_falls_back_with_one_warning(fallback, fresh, monkeypatch):
    """The old probe file exists, but nothing can be written: detected, not used."""
    primary = fresh / "cache" / "numba"
    primary.mkdir(parents=True, mode=0o700)
    (primary / ".writable").touch()
    before = _listing(primary)
    monkeypatch.setenv("OPTKIT_CACHE_DIR", str(fresh / "cache"))
    _refuse_writes_in(primary, monkeypatch, errno.EROFS)
    if fallback == "refused":
        _refuse_writes_in(
            fresh / "shared" / f"optkit-{os.getuid()}", monkeypatch, errno.EROFS
        )
    with pytest.warns(KernelCacheWarning, match="not writable") as record:
        np.testing.assert_array_equal(_sgd_step(), 0.5)
    (message,) = _cache_warnings(record)
    assert str(primary) in message
    assert ("compiled in memory" in message) == (fallback == "refused")
    assert _listing(primary) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_cache_by_permissions(fresh, monkeypatch):
    primary = fresh / "cache" / "numba"
    primary.mkdir(parents=True, mode=0o700)
    (primary / ".writable").touch()
    os.chmod(primary, 0o500)
    monkeypatch.setenv("OPTKIT_CACHE_DIR", str(fresh / "cache"))
    try:
        with pytest.warns(KernelCacheWarning, match="not writable"):
            np.testing.assert_array_equal(_sgd_step(), 0.5)
    finally:
        os.chmod(primary, 0o700)
    assert sorted(p.name for p in primary.iterdir()) == [".writable"]


def test_full_disk_falls_back_in_memory_without_stray_files(fresh, monkeypatch):
    monkeypatch.setenv("OPTKIT_CACHE_DIR", str(fresh / "cache"))
    folder = numba_cache.cache_dir()  # the probe passed; then the disk fills up
    real_write = os.write

    def write(fd, data):
        if b"Generated by optkit" in bytes(data[:200]):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    with pytest.warns(KernelCacheWarning, match="No space left") as record:
        np.testing.assert_array_equal(_sgd_step(), 0.5)
        w = np.ones(4)
        ok.Adam(w, lr=0.1, backend="numba").step(np.ones(4))  # a second module: silent
    assert len(_cache_warnings(record)) == 1
    assert list(folder.iterdir()) == []
    np.testing.assert_allclose(w, 0.9)


# --------------------------------------------------------------------------- damage
_RUN = textwrap.dedent(
    """
    import json, warnings, numpy as np, optkit as ok
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        w = np.ones(5)
        ok.SGD(w, lr=0.5, momentum=0.9, backend="numba").step(np.ones(5))
    print(json.dumps({"w": w.tolist(), "warnings": [str(r.message) for r in record]}))
    """
)


def _run(cache: Path) -> dict:
    env = {**os.environ, "OPTKIT_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", _RUN], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def _damage(folder: Path, kind: str) -> Path:
    pattern = {
        "py": "optkit_sgd_*.py",
        "index": "__pycache__/optkit_sgd_*.serial-*.nbi",
    }.get(kind, "__pycache__/optkit_sgd_*.serial-*.nbc")
    (path,) = folder.glob(pattern)
    data = path.read_bytes()
    damaged = {
        "py": data + b"\nraise SystemExit('planted')\n",
        "index": b"\x80\x04garbage" + data[-50:],
        "data_truncated": data[: len(data) // 3],
        "data_empty": b"",
    }[kind]
    path.write_bytes(damaged)
    return path


@pytest.mark.parametrize("kind", ["py", "index", "data_truncated", "data_empty"])
def test_damaged_cache_entry_is_rebuilt_with_one_warning(kind, tmp_path):
    cache = tmp_path / "cache"
    first = _run(cache)
    assert first == {"w": [0.5] * 5, "warnings": []}
    path = _damage(cache / "numba", kind)
    damaged = path.read_bytes()
    repaired = _run(cache)
    assert repaired["w"] == [0.5] * 5
    assert len(repaired["warnings"]) == 1, repaired["warnings"]
    assert "damaged" in repaired["warnings"][0] or "discarded" in repaired["warnings"][0]
    assert path.read_bytes() != damaged  # rebuilt on disk, and used silently next time
    assert _run(cache) == {"w": [0.5] * 5, "warnings": []}


def test_a_genuine_compile_error_is_raised_not_hidden(fresh, monkeypatch):
    monkeypatch.setenv("OPTKIT_CACHE_DIR", str(fresh / "cache"))
    text = "import numba\n@numba.njit(cache=_CACHE)\ndef bad(x):\n    return x + 'a'\n"
    module = numba_cache.KernelModule("optkit_test_genuine_error", text)
    from numba.core.errors import TypingError

    with pytest.raises(TypingError):
        try:
            module.module.bad(1.0)
        except Exception as exc:
            module.recover(exc, lambda m: m.bad(1.0))


# --------------------------------------------------------------------------- workqueue
def test_parallel_lock_only_under_workqueue(monkeypatch):
    for layer, locks in (("workqueue", True), ("unknown", True), ("omp", False)):
        monkeypatch.setattr(numba_cache, "_parallel", None)
        monkeypatch.setattr(numba_cache, "threading_layer", lambda layer=layer: layer)
        lock = numba_cache.parallel_lock()
        assert hasattr(lock, "acquire") == locks, layer
        assert numba_cache.parallel_lock() is lock
    monkeypatch.setattr(numba_cache, "_parallel", None)


_TWO_THREADS = textwrap.dedent(
    """
    import threading, numpy as np, optkit as ok
    from optkit._exec import numba_cache
    n = 1 << 17
    out = {}
    def work(i):
        w = np.ones(n, np.float32)
        opt = ok.Adam(w, lr=0.01, backend="numba")
        for _ in range(60):
            opt.step(np.full(n, 0.5 + i, np.float32))
        out[i] = float(w[0])
    pool = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    [t.start() for t in pool]
    [t.join() for t in pool]
    print(numba_cache.threading_layer(), out[0] == out[1], out[0] < 1.0)
    """
)


def test_two_threads_stepping_under_workqueue_do_not_abort(tmp_path):
    env = {
        **os.environ,
        "NUMBA_THREADING_LAYER": "workqueue",
        "OPTKIT_CACHE_DIR": str(tmp_path),
        "PYTHONPATH": str(ROOT),
    }
    out = subprocess.run(
        [sys.executable, "-c", _TWO_THREADS],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["workqueue", "True", "True"]
