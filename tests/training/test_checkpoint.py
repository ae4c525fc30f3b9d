"""Checkpoints: resume bitwise, across backends, atomic, no pickle."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
from _support.corruptions import DAMAGES

import optkit as ok
from optkit import checkpoint
from optkit.averaging import PolyakAverage
from optkit.checkpoint import load_checkpoint, save_checkpoint


def make_run(cpu_backend: str, dtype=np.float32, seed: int = 0):
    """Params (dict), an Adam with a schedule-free config, and an EMA of the iterates."""
    rng = np.random.default_rng(seed)
    params = {
        "w": rng.standard_normal((4, 3)).astype(dtype),
        "b": rng.standard_normal(3).astype(np.float64),
    }
    opt = ok.Adam(params, lr=1e-2, betas=(0.8, 0.99), amsgrad=True, backend=cpu_backend)
    avg = PolyakAverage(params, "window", window=3, optimizer=opt, backend=cpu_backend)
    return params, opt, avg


def grads_at(params: dict, t: int) -> dict:
    """A gradient that depends on the parameters and the step (deterministic)."""
    return {k: (2 * v - np.cos(t + v)).astype(v.dtype) for k, v in params.items()}


def train(params, opt, avg, steps: range) -> None:
    for t in steps:
        opt.step(grads_at(params, t))
        avg.update()


def files_in(folder) -> list[str]:
    return sorted(os.listdir(folder))


# ------------------------------------------------------------------ resume
def test_save_load_continue_is_bitwise(cpu_backend, tmp_path):
    path = tmp_path / "run.npz"
    params, opt, avg = make_run(cpu_backend)
    train(params, opt, avg, range(5))
    save_checkpoint(path, params=params, opt=opt, avg=avg, step=5, note="half way")
    train(params, opt, avg, range(5, 12))

    ckpt = load_checkpoint(path)
    assert ckpt["step"] == 5 and ckpt["note"] == "half way"
    params2, opt2, avg2 = make_run(cpu_backend, seed=99)  # different initial values
    for k in params2:
        params2[k][...] = ckpt["params"][k]
    opt2.load_state_dict(ckpt["opt"])
    avg2.load_state_dict(ckpt["avg"])
    train(params2, opt2, avg2, range(ckpt["step"], 12))

    for k in params:
        np.testing.assert_array_equal(params2[k], params[k], strict=True)
        np.testing.assert_array_equal(avg2.average[k], avg.average[k], strict=True)
    state, state2 = opt.state_dict(), opt2.state_dict()
    assert state2["step"] == state["step"] == 12
    for name in state["state"]:
        for key, value in state["state"][name].items():
            np.testing.assert_array_equal(state2["state"][name][key], value, strict=True)


# ------------------------------------------------------------------ across backends
@pytest.mark.parametrize(("saver", "loader"), [("numba", "numpy"), ("numpy", "numba")])
def test_checkpoint_moves_between_backends(saver, loader, tmp_path):
    path = tmp_path / "run.npz"
    params, opt, avg = make_run(saver)
    train(params, opt, avg, range(4))
    save_checkpoint(path, params=params, opt=opt, avg=avg)
    ckpt = load_checkpoint(path, backend=loader)
    assert list(ckpt["params"]) == ["w", "b"]
    assert (
        ckpt["params"]["w"].dtype == np.float32 and ckpt["params"]["b"].dtype == np.float64
    )
    assert ckpt["opt"]["param_groups"][0]["names"] == ["w", "b"]
    assert ckpt["opt"]["param_groups"][0]["betas"] == (0.8, 0.99)
    for name, state in ckpt["opt"]["state"].items():
        for value in state.values():
            assert value.dtype == params[name].dtype

    params2, opt2, avg2 = make_run(loader, seed=5)
    for k in params2:
        params2[k][...] = ckpt["params"][k]
    opt2.load_state_dict(ckpt["opt"])
    avg2.load_state_dict(ckpt["avg"])
    assert opt2.backend == loader and opt2.step_count == 4
    train(params, opt, avg, range(4, 8))
    train(params2, opt2, avg2, range(4, 8))
    for k in params:
        assert params2[k].dtype == params[k].dtype
        np.testing.assert_allclose(params2[k], params[k], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(avg2.average[k], avg.average[k], rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ atomic, no pickle
def test_crash_while_writing_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, w=np.arange(3.0), step=1)
    calls = {"n": 0}
    real = np.lib.format.write_array

    def crash_after_first_array(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk on fire")
        return real(*args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", crash_after_first_array)
    with pytest.raises(OSError, match="disk on fire"):
        save_checkpoint(path, w=np.zeros(1000), v=np.ones(1000), step=2)
    assert calls["n"] == 2  # it crashed in the middle, with a partial temp file
    monkeypatch.undo()
    assert files_in(tmp_path) == ["ckpt.npz"]
    ckpt = load_checkpoint(path)
    assert ckpt["step"] == 1
    np.testing.assert_array_equal(ckpt["w"], np.arange(3.0))


@pytest.mark.parametrize("where", ["fsync", "replace"])
@pytest.mark.parametrize("error", [OSError, KeyboardInterrupt])
def test_crash_at_fsync_or_replace(tmp_path, monkeypatch, where, error):
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, step=1)

    def fail(*args, **kwargs):
        raise error("simulated")

    monkeypatch.setattr(checkpoint.os, where, fail)
    with pytest.raises(error):
        save_checkpoint(path, step=2)
    monkeypatch.undo()
    assert files_in(tmp_path) == ["ckpt.npz"]
    assert load_checkpoint(path)["step"] == 1


def test_unstorable_value_writes_nothing(tmp_path):
    path = tmp_path / "ckpt.npz"
    with pytest.raises(TypeError, match="opt/extra/fn"):
        save_checkpoint(path, opt={"extra": {"fn": lambda t: t}})
    with pytest.raises(TypeError, match="x: object arrays"):
        save_checkpoint(path, x=np.array([None, 1], dtype=object))
    assert files_in(tmp_path) == []


def test_write_is_fsynced_and_replaced(tmp_path, monkeypatch):
    synced, replaced = [], []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(
        checkpoint.os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd)
    )
    monkeypatch.setattr(
        checkpoint.os,
        "replace",
        lambda src, dst: replaced.append((src, dst)) or real_replace(src, dst),
    )
    save_checkpoint(tmp_path / "c.npz", x=np.ones(2))
    assert len(synced) == 2  # the file, then the folder
    ((src, dst),) = replaced
    assert os.path.dirname(src) == str(tmp_path) and dst == str(tmp_path / "c.npz")


def test_loading_never_unpickles(tmp_path, monkeypatch):
    path = tmp_path / "good.npz"
    save_checkpoint(path, w=np.ones(2), meta={"k": (1, 2)})

    def no_pickle(*args, **kwargs):
        raise AssertionError("pickle was used")

    monkeypatch.setattr(pickle, "load", no_pickle)
    monkeypatch.setattr(pickle, "loads", no_pickle)
    assert load_checkpoint(path)["meta"] == {"k": (1, 2)}

    # a file whose entry is a pickled object array, described like a real checkpoint
    evil = tmp_path / "evil.npz"
    meta = {
        "format": checkpoint.FORMAT,
        "arrays": {"a0": {"path": "x", "dtype": "|O", "shape": [2]}},
        "tree": {"x": {"__ndarray__": "a0"}},
    }
    with open(evil, "wb") as f:
        np.savez(
            f,
            a0=np.array([None, {}], dtype=object),
            __optkit__=np.frombuffer(json.dumps(meta).encode(), np.uint8),
        )
    with pytest.raises(ValueError, match="'x' cannot be loaded without pickle"):
        load_checkpoint(evil)
    raw = tmp_path / "raw.pkl"
    raw.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ValueError, match="not an optkit checkpoint"):
        load_checkpoint(raw)


def test_foreign_or_tampered_files_are_refused(tmp_path):
    plain = tmp_path / "plain.npz"
    np.savez(plain, x=np.ones(2))
    with pytest.raises(ValueError, match="no __optkit__"):
        load_checkpoint(plain)
    npy = tmp_path / "x.npy"
    np.save(npy, np.ones(2))
    with pytest.raises(ValueError, match=r"not an \.npz"):
        load_checkpoint(npy)
    path = tmp_path / "c.npz"
    save_checkpoint(path, w=np.ones(3, np.float32))
    with np.load(path) as z:
        entries = dict(z)
    meta = json.loads(entries["__optkit__"].tobytes())
    meta["arrays"]["a0"]["dtype"] = "<f8"
    entries["__optkit__"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(path, **entries)
    with pytest.raises(ValueError, match="entry 'w' is <f4"):
        load_checkpoint(path)
    meta["format"] = "optkit.checkpoint/99"
    entries["__optkit__"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(path, **entries)
    with pytest.raises(ValueError, match="unsupported checkpoint format"):
        load_checkpoint(path)


# ------------------------------------------------------------------ the tree
def test_values_round_trip_with_types_kept(tmp_path):
    path = tmp_path / "all.npz"
    base = np.arange(12.0).reshape(3, 4)
    fp = ok.FlatParams({"w": np.ones((2, 2), np.float32), "b": np.zeros(2, np.float32)})
    values = {
        "ints": [1, -(2**70), True, None],
        "floats": (0.1, float("nan"), float("inf"), -float("inf"), -0.0),
        "scalars": [np.float32(1.5), np.int64(7), np.float64(0.25), np.bool_(True)],
        "arrays": {
            "f16": np.ones(3, np.float16),
            "i8": np.arange(4, dtype=np.int8),
            "zero_d": np.array(2.5, np.float32),
            "empty": np.zeros((0, 3)),
            "view": base[:, ::2],
            "fortran": np.asfortranarray(base),
        },
        "keys": {1: "one", (2, 3): "tuple", "__tag__": "dunder", "plain": "x"},
        "text": "héllo",
    }
    save_checkpoint(path, flat=fp, **values)
    got = load_checkpoint(path)
    assert got["ints"] == [1, -(2**70), True, None] and type(got["ints"][2]) is bool
    f = got["floats"]
    assert (
        isinstance(f, tuple)
        and f[0] == 0.1
        and np.isnan(f[1])
        and f[2:4] == (np.inf, -np.inf)
    )
    assert str(f[4]) == "-0.0"
    for a, b in zip(got["scalars"], values["scalars"]):
        assert type(a) is type(b) and a == b
    for name, want in values["arrays"].items():
        np.testing.assert_array_equal(got["arrays"][name], want, strict=True)
    assert got["keys"] == values["keys"] and got["text"] == "héllo"
    assert set(got["flat"]) == {"w", "b"} and got["flat"]["w"].dtype == np.float32


def test_metadata_describes_everything(tmp_path):
    path = tmp_path / "c.npz"
    w = np.ones((2, 3), np.float32)
    opt = ok.SGD({"w": w}, lr=0.1, momentum=0.9, backend="numpy")
    opt.step({"w": np.ones((2, 3), np.float32)})
    save_checkpoint(path, opt=opt, w=w)
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(z["__optkit__"].tobytes())
    assert (
        meta["format"] == "optkit.checkpoint/1" and meta["optkit_version"] == ok.__version__
    )
    assert meta["objects"] == {"opt": "SGD", "w": "ndarray"}
    paths = {v["path"]: v for v in meta["arrays"].values()}
    assert paths["opt/state/w/buf"] == {
        "path": "opt/state/w/buf",
        "dtype": "<f4",
        "shape": [2, 3],
    }
    assert meta["tree"]["opt"]["param_groups"][0]["lr"] == 0.1


def test_overwrite_and_bad_backend(tmp_path):
    path = tmp_path / "c.npz"
    save_checkpoint(path, step=1)
    save_checkpoint(path, step=2)
    assert load_checkpoint(path)["step"] == 2 and files_in(tmp_path) == ["c.npz"]
    with pytest.raises(ValueError, match="unknown backend 'tpu'"):
        load_checkpoint(path, backend="tpu")


def test_arrays_of_other_libraries_are_stored_as_numpy(tmp_path):
    xp = pytest.importorskip("array_api_strict")
    path = tmp_path / "c.npz"
    p = xp.asarray([1.0, 2.0], dtype=xp.float32)
    avg = PolyakAverage(p, "ema", decay=0.5)
    avg.update()
    save_checkpoint(path, p=p, avg=avg)
    got = load_checkpoint(path)
    assert got["p"].dtype == np.float32 and got["p"].tolist() == [1.0, 2.0]
    other = PolyakAverage(xp.zeros(2, dtype=xp.float32), "ema", decay=0.5)
    other.load_state_dict(got["avg"])
    assert np.asarray(other.average).tolist() == [1.0, 2.0]


@pytest.mark.gpu
def test_load_onto_cupy(tmp_path):
    import cupy

    path = tmp_path / "c.npz"
    w = cupy.ones(3, dtype=cupy.float32)
    opt = ok.Adam(w, lr=0.1)
    opt.step(cupy.ones(3, dtype=cupy.float32))
    save_checkpoint(path, w=w, opt=opt)
    got = load_checkpoint(path, backend="cupy")
    assert isinstance(got["w"], cupy.ndarray) and got["w"].dtype == cupy.float32
    host = load_checkpoint(path)
    assert isinstance(host["w"], np.ndarray)
    w2 = cupy.asarray(host["w"])
    opt2 = ok.Adam(w2, lr=0.1)
    opt2.load_state_dict(host["opt"])
    opt.step(cupy.ones(3, dtype=cupy.float32))
    opt2.step(cupy.ones(3, dtype=cupy.float32))
    assert bool((w == w2).all())


# ------------------------------------------------------------------ damaged files
def _good_checkpoint(path) -> dict:
    w = np.arange(50, dtype=np.float32)
    opt = ok.Adam(w, lr=0.1)
    opt.step(np.ones(50, np.float32))
    save_checkpoint(path, w=w, opt=opt, epoch=3)
    return load_checkpoint(path)


@pytest.mark.parametrize("kind", list(DAMAGES))
def test_damaged_checkpoint_raises_one_checkpoint_error(tmp_path, kind):
    path = tmp_path / "run.npz"
    _good_checkpoint(path)
    damage, pattern = DAMAGES[kind]
    damage(path)
    with pytest.raises(ok.CheckpointError, match=pattern) as info:
        load_checkpoint(path)
    assert isinstance(info.value, ValueError)
    assert info.value.path == str(path) and str(path) in str(info.value)


def test_every_truncation_and_byte_flip_is_caught_or_harmless(tmp_path):
    path = tmp_path / "run.npz"
    good = _good_checkpoint(path)
    data = path.read_bytes()
    rng = np.random.default_rng(5)
    damaged = [data[:n] for n in range(0, len(data), max(1, len(data) // 60))]
    for offset in rng.integers(0, len(data), 80):
        flipped = bytearray(data)
        flipped[offset] ^= 0xFF
        damaged.append(bytes(flipped))
    errors = 0
    for content in damaged:
        path.write_bytes(content)
        try:
            got = load_checkpoint(path)
        except ok.CheckpointError:
            errors += 1
            continue
        np.testing.assert_array_equal(got["w"], good["w"])  # a flip in unused header
        assert got["epoch"] == good["epoch"]
    assert errors >= 60


def test_missing_file_is_not_a_checkpoint_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "nope.npz")
    assert issubclass(ok.CheckpointError, ValueError)
    assert ok.errors.CheckpointError is ok.CheckpointError


def test_load_checkpoint_backend_name_is_case_insensitive(tmp_path):
    path = tmp_path / "c.npz"
    ok.save_checkpoint(path, w=np.arange(3.0))
    np.testing.assert_array_equal(ok.load_checkpoint(path, backend="NumPy")["w"], [0, 1, 2])
    with pytest.raises(ValueError, match="unknown backend"):
        ok.load_checkpoint(path, backend="tpu")
