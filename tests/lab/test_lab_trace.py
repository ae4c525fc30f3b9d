"""``Trace``: steps_to, final, best, selection, tables, and the file round trip."""

from __future__ import annotations

import os

import numpy as np
import pytest

import optkit as ok
from optkit import schedules as S
from optkit.lab import Trace


def _trace(loss, steps, f_star=0.0):
    loss = np.asarray(loss, dtype=np.float64)
    runs = loss.shape[1]
    return Trace(
        steps=steps,
        records={"loss": loss},
        hyperparameters={"lr": np.linspace(0.1, 0.3, runs)},
        options={"every": 10},
        seeds=np.arange(runs),
        diverged=np.full(runs, -1),
        x_final=np.zeros((runs, 2)),
        problem={"name": "toy"},
        optimizer="sgd",
        f_star=f_star,
    )


def test_steps_to_is_the_first_recorded_step_at_or_below_tol():
    loss = np.array(
        [
            [5.0, 5.0, 5.0, np.nan],
            [1.0, 0.5, 5.0, np.nan],
            [0.25, 0.5, 5.0, 0.0],
            [0.5, 0.125, 5.0, 0.0],
        ]
    )
    trace = _trace(loss + 1.0, steps=[0, 10, 20, 25], f_star=1.0)  # excess = loss
    np.testing.assert_array_equal(trace.steps_to(0.25), [20, 25, -1, 20])
    np.testing.assert_array_equal(trace.steps_to(1.0), [10, 10, -1, 20])  # <=, not <
    np.testing.assert_array_equal(trace.steps_to(10.0), [0, 0, 0, 20])  # NaN never counts
    assert trace.steps_to(0.25).dtype == np.int64
    np.testing.assert_array_equal(trace.steps_to(1.25, f_star=0.0), [20, 25, -1, 20])
    np.testing.assert_array_equal(trace.steps_to(0.25, f_star=0.0), [-1, -1, -1, -1])
    with pytest.raises(ValueError, match="tol"):
        trace.steps_to(float("nan"))
    unknown = _trace(loss, steps=[0, 10, 20, 25], f_star=None)
    unknown.f_star = None
    with pytest.raises(ValueError, match="no known f_star"):
        unknown.steps_to(0.1)


def test_final_best_excess_select_and_label():
    loss = np.array([[3.0, np.nan], [1.0, np.nan], [2.0, np.nan]])
    trace = _trace(loss, steps=[0, 1, 2])
    np.testing.assert_array_equal(trace.final(), [2.0, np.nan])
    np.testing.assert_array_equal(trace.best(), [1.0, np.nan])
    np.testing.assert_array_equal(trace.excess(f_star=1.0)[:, 0], [2.0, 0.0, 1.0])
    one = trace.select([1])
    assert one.runs == 1 and one["loss"].shape == (3, 1)
    np.testing.assert_array_equal(one.hyperparameters["lr"], [0.3])
    assert trace.label(1) == "sgd lr=0.3"
    with pytest.raises(KeyError, match="'x' was not recorded; recorded: loss"):
        trace["x"]


def _full_trace():
    return ok.lab.run(
        "rosenbrock",
        "adam",
        steps=30,
        every=7,
        x0="random",
        seed=[3, 4, 5],
        lr=[S.constant(0.01), S.exponential(0.1, 0.99), S.linear(0.05, 0.0, 30)],
        betas=([0.8, 0.9, 0.95], 0.999),
        clip=("norm", 10.0),
        average=("ema", 0.9),
        record=("loss", "grad_norm", "curvature", "x", "lr", "step_norm"),
    )


def test_save_and_load_round_trip(tmp_path):
    trace = _full_trace()
    path = tmp_path / "run.npz"
    trace.save(path)
    back = Trace.load(path)
    assert back.names == trace.names
    for name in trace.names:
        assert back[name].dtype == trace[name].dtype
        np.testing.assert_array_equal(back[name], trace[name])
    for field in ("steps", "seeds", "diverged", "x_final", "x_average"):
        np.testing.assert_array_equal(getattr(back, field), getattr(trace, field))
    assert back.hyperparameters.keys() == trace.hyperparameters.keys()
    assert back.hyperparameters["lr"] == trace.hyperparameters["lr"]  # schedules as text
    np.testing.assert_array_equal(
        back.hyperparameters["betas"], trace.hyperparameters["betas"]
    )
    assert back.options == trace.options
    assert (back.problem, back.optimizer, back.f_star) == (trace.problem, "adam", 0.0)
    assert back.wall_time == trace.wall_time
    assert repr(back) == repr(trace)
    with np.load(path, allow_pickle=False) as archive:  # plain arrays, no objects
        assert all(archive[k].dtype != object for k in archive.files)


def test_save_is_atomic(tmp_path, monkeypatch):
    trace = _trace([[1.0]], steps=[0])
    path = tmp_path / "run.npz"
    trace.save(path)
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        _trace([[2.0]], steps=[0]).save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["run.npz"]  # the temporary file is gone


def test_load_refuses_other_files(tmp_path):
    np.savez(tmp_path / "plain.npz", a=np.zeros(2))
    with pytest.raises(ValueError, match="not an optkit trace"):
        Trace.load(tmp_path / "plain.npz")


def test_to_frame_has_one_row_per_record_and_run():
    pd = pytest.importorskip("pandas")
    trace = _full_trace()
    frame = trace.to_frame()
    assert isinstance(frame, pd.DataFrame)
    assert len(frame) == len(trace.steps) * trace.runs
    for column in ("step", "run", "seed", "lr", "betas[0]", "betas[1]", "loss", "gTHg"):
        assert column in frame.columns
    row = frame[(frame.step == 14) & (frame.run == 2)].iloc[0]
    assert row.loss == trace["loss"][2, 2] and row["betas[0]"] == 0.95 and row.seed == 5
    assert "x[1]" in trace.to_frame(include_x=True).columns and "x[1]" not in frame.columns
