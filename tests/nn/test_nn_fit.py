"""``ok.fit``: history, schedules, averaging, clipping, callbacks, checkpoints."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest

import optkit as ok
from optkit import schedules as S
from optkit.nn import BatchNorm, Dropout, History, Linear, ReLU, Sequential
from optkit.nn._fit_support import progress_bar
from optkit.nn.callbacks import EarlyStopping


def blobs(n=120, seed=0):
    """Three Gaussian blobs in 4-D: a quick, learnable classification task."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centres = np.array([[2, 0, 0, 0], [0, 2, 0, 0], [0, 0, 2, 0]], np.float32)
    x = centres[y] + rng.standard_normal((n, 4)).astype(np.float32)
    return x, y


def net(seed=0, dropout=0.0):
    layers = [Linear(4, 16, seed=seed), BatchNorm(16), ReLU()]
    if dropout:
        layers.append(Dropout(dropout, seed=seed + 1))
    return Sequential(*layers, Linear(16, 3, seed=seed + 2))


def test_fit_learns_and_records_every_column():
    x, y = blobs()
    xv, yv = blobs(60, seed=1)
    model = net()
    opt = ok.Adam(model.parameters(), lr=0.01)
    history = ok.fit(model, opt, (x, y), 8, 16, validation=(xv, yv), progress=False)
    assert len(history) == 8 and history["epoch"].tolist() == list(range(1, 9))
    assert history["steps"][-1] == 8 * 8 == opt.step_count
    assert (
        history["val_accuracy"][-1] > 0.8
        and history["train_loss"][-1] < history["train_loss"][0]
    )
    assert np.all(history["lr"] == 0.01) and np.all(history["time"] > 0)
    assert np.all(history["grad_norm"] > 0) and np.isnan(history["avg_val_loss"]).all()
    assert model.training  # left in training mode
    manual = ok.nn.cross_entropy(model.predict(xv), yv)
    assert history["val_loss"][-1] == pytest.approx(manual, rel=1e-6)


def test_regression_targets_get_no_accuracy_and_grad_norm_can_be_off():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    t = (x @ np.ones((4, 1), np.float32)).astype(np.float32)
    model = Sequential(Linear(4, 8, seed=0), ReLU(), Linear(8, 1, seed=1))
    opt = ok.SGD(model.parameters(), lr=0.05)
    history = ok.fit(
        model, opt, (x, t), 5, 8, loss=ok.nn.mse, progress=False, grad_norm=False
    )
    assert (
        np.isnan(history["train_accuracy"]).all() and np.isnan(history["grad_norm"]).all()
    )
    assert history["train_loss"][-1] < history["train_loss"][0]


def test_reduce_on_plateau_observes_the_validation_loss():
    x, y = blobs()
    plateau = S.ReduceOnPlateau(0.05, factor=0.5, patience=0)
    model = net()
    opt = ok.SGD(model.parameters(), lr=S.join([S.constant(0.05), plateau], [1]))
    history = ok.fit(model, opt, (x, y), 6, 30, validation=blobs(40, 3), progress=False)
    assert plateau.observations == 6
    assert plateau.best == pytest.approx(np.min(history["val_loss"]))
    assert opt.param_groups[0]["lr"](0) == plateau.value  # the same object drives lr
    reductions = sum(
        1 for a, b in zip(history["val_loss"][:-1], history["val_loss"][1:]) if b >= a
    )
    assert plateau.value == pytest.approx(0.05 * 0.5**reductions)


def test_schedule_on_epoch_reads_the_epoch_count():
    x, y = blobs()
    schedule = S.step(0.1, step_size=1, gamma=0.5)
    a = net()
    opt = ok.SGD(a.parameters(), lr=schedule)
    history = ok.fit(
        a, opt, (x, y), 3, 20, schedule_on="epoch", shuffle=False, progress=False
    )
    assert history["lr"].tolist() == [0.1, 0.05, 0.025]
    assert opt.param_groups[0]["lr"] is schedule  # restored after fit
    b = net()
    for lr in (0.1, 0.05, 0.025):  # the same as three epochs at constant rates
        ok.fit(
            b, ok.SGD(b.parameters(), lr=lr), (x, y), 1, 20, shuffle=False, progress=False
        )
    for key, value in a.state_dict().items():
        np.testing.assert_array_equal(value, b.state_dict()[key])


def test_polyak_average_is_evaluated_beside_the_last_iterate():
    x, y = blobs()
    val = blobs(50, seed=4)
    model = net()
    opt = ok.SGD(model.parameters(), lr=0.2, momentum=0.9)
    avg = ok.PolyakAverage(model.parameters(), "window", window=10, optimizer=opt)
    history = ok.fit(model, opt, (x, y), 4, 10, validation=val, average=avg, progress=False)
    assert np.isfinite(history["avg_val_loss"]).all()
    with avg.swapped():
        expected = ok.nn.cross_entropy(
            model.predict(val.x if hasattr(val, "x") else val[0]), val[1]
        )
    assert history["avg_val_loss"][-1] == pytest.approx(expected, rel=1e-6)
    assert history["avg_val_loss"][-1] != history["val_loss"][-1]


def test_clipping_bounds_the_step():
    x, y = blobs(32)
    model = net()
    before = model.parameters().buffers["float32"].copy()
    opt = ok.SGD(model.parameters(), lr=1.0)
    history = ok.fit(model, opt, (x, y), 1, 32, clip=1e-3, progress=False)
    moved = np.linalg.norm(model.parameters().buffers["float32"] - before)
    assert history["grad_norm"][0] > 1e-3 and moved <= 1e-3 * (1 + 1e-5)
    seen = []
    ok.fit(model, opt, (x, y), 1, 16, clip=lambda g: seen.append(g), progress=False)
    assert len(seen) == 2
    with pytest.raises(ValueError, match="clip=-1"):
        ok.fit(model, opt, (x, y), 1, 16, clip=-1, progress=False)


def test_callbacks_and_early_stopping():
    x, y = blobs()
    model = Sequential(Linear(4, 16, seed=0), ReLU(), Linear(16, 3, seed=1))
    opt = ok.SGD(model.parameters(), lr=0.0)  # nothing moves, nothing improves
    stop = EarlyStopping(patience=2, restore_best=True)
    calls = []

    def spy(history, m, o):
        calls.append((len(history), m is model, o is opt))

    history = ok.fit(model, opt, (x, y), 50, 30, validation=blobs(30, 5),
                     callbacks=[spy, stop], progress=False)  # fmt: skip
    assert len(history) == 4 and calls[-1] == (4, True, True)
    with pytest.raises(ValueError, match="does not record"):
        ok.fit(model, opt, (x, y), 1, 30, callbacks=[EarlyStopping()], progress=False)


def run_pieces(tmp_path, epochs, resume=False, every=1):
    """A run with every source of state: BatchNorm, Dropout, Adam + plateau, average."""
    x, y = blobs(100)
    model = net(dropout=0.3)
    plateau = S.ReduceOnPlateau(0.02, factor=0.5, patience=0)
    opt = ok.Adam(model.parameters(), lr=S.join([S.linear(0.0, 0.02, 5), plateau], [5]))
    avg = ok.PolyakAverage(model.parameters(), "window", window=7, optimizer=opt)
    history = ok.fit(
        model, opt, (x, y), epochs, 16, validation=blobs(40, 6), average=avg, seed=3,
        checkpoint_every=every, checkpoint_path=tmp_path / "run.npz", resume=resume,
        progress=False,
    )  # fmt: skip
    return model, opt, avg, history


def test_checkpoint_resume_is_bit_exact(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    full_model, full_opt, full_avg, full_history = run_pieces(tmp_path / "a", 4)
    run_pieces(tmp_path / "b", 2)  # interrupted after epoch 2
    model, opt, avg, history = run_pieces(tmp_path / "b", 4, resume=True)
    assert _same_but_time(history, full_history)
    for key, value in full_model.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[key], value, err_msg=key)
    np.testing.assert_array_equal(
        avg.average.buffers["float32"], full_avg.average.buffers["float32"]
    )
    assert opt.step_count == full_opt.step_count
    for name, state in full_opt.state_dict()["state"].items():
        for k, v in state.items():
            np.testing.assert_array_equal(opt.state_dict()["state"][name][k], v)
    assert model.rng_state() == full_model.rng_state()
    assert opt.state_dict()["param_groups"] == full_opt.state_dict()["param_groups"]


def _same_but_time(a: History, b: History) -> bool:
    for key in a.records:
        if key != "time":
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    return True


def test_resume_errors_restore_everything(tmp_path):
    run_pieces(tmp_path, 1)
    model = net()  # no dropout: the checkpoint's rng states do not fit
    opt = ok.Adam(model.parameters(), lr=0.01)
    before = model.state_dict()
    with pytest.raises(ValueError, match="with an average"):
        ok.fit(model, opt, blobs(), 2, 16, resume=tmp_path / "run.npz", progress=False)
    with pytest.raises(KeyError):
        avg = ok.PolyakAverage(model.parameters(), "window", window=7, optimizer=opt)
        ok.fit(model, opt, blobs(), 2, 16, resume=tmp_path / "run.npz", average=avg,
               progress=False)  # fmt: skip
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])
    assert opt.step_count == 0


def test_bad_arguments_name_the_culprit():
    x, y = blobs()
    model = net()
    opt = ok.SGD(model.parameters(), lr=0.1)
    cases = [
        (dict(epochs=-1), ValueError, "epochs=-1"),
        (dict(batch_size=0), ValueError, "batch_size=0"),
        (dict(schedule_on="batch"), ValueError, "schedule_on='batch'"),
        (dict(checkpoint_every=2), ValueError, "checkpoint_path"),
        (dict(resume=True), ValueError, "checkpoint_path"),
        (dict(data=(x, y[:-1])), ValueError, "120 rows but y has 119"),
        (dict(data=x), TypeError, "pair"),
    ]
    for overrides, error, message in cases:
        args = dict(data=(x, y), epochs=1, batch_size=8, progress=False) | overrides
        data = args.pop("data")
        with pytest.raises(error, match=message):
            ok.fit(model, opt, data, **args)
    model.freeze("0")
    with pytest.raises(ValueError, match="after any freeze"):
        ok.fit(model, opt, (x, y), 1, 8, progress=False)
    assert opt.step_count == 0


def test_history_save_load_and_plot(tmp_path):
    history = History()
    history.append(epoch=1, train_loss=1.0, val_loss=0.9, lr=0.1)
    history.append(epoch=2, train_loss=0.5, val_loss=math.nan, lr=0.05)
    for name in ("h.json", "h.npz"):
        history.save(tmp_path / name)
        loaded = History.load(tmp_path / name)
        for key in history.records:
            np.testing.assert_array_equal(loaded[key], history[key])
    (tmp_path / "bad.json").write_text('{"format": "other"}')
    with pytest.raises(ValueError, match="not an optkit History"):
        History.load(tmp_path / "bad.json")
    with pytest.raises(KeyError, match="unknown History columns"):
        history.append(epoch=3, loss=1.0)
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    fig = history.plot(tmp_path / "h.png")
    assert (tmp_path / "h.png").stat().st_size > 0 and len(fig.axes) == 3
    import matplotlib.pyplot as plt

    plt.close(fig)


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_only_on_a_terminal(monkeypatch):
    pytest.importorskip("tqdm")
    assert progress_bar(False, 10) is None
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert progress_bar(True, 10) is None  # not a terminal
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    x, y = blobs(40)
    model = net()
    ok.fit(model, ok.SGD(model.parameters(), lr=0.1), (x, y), 2, 10, progress=True)
    shown = terminal.getvalue()
    assert "8/8" in shown and "loss" in shown
