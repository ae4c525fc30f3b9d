"""``optkit.lab.run``: a population equals its runs taken alone (bit for bit), and
every option (schedules, clipping, averaging, non-finite policy, records) does what
it says."""

from __future__ import annotations

import array_api_strict as xps
import numpy as np
import pytest
from _lab_cases import HAS_SKLEARN

import optkit as ok
from optkit import problems

#: optimizer name -> per-run hyperparameters of a population of three.
POPULATIONS = {
    "sgd": dict(lr=[1e-3, 3e-3, 1e-2]),
    "momentum": dict(lr=[1e-3, 3e-3, 1e-2], momentum=[0.5, 0.9, 0.99]),
    "nesterov": dict(lr=[1e-3, 3e-3, 1e-2]),
    "heavy_ball": dict(lr=[1e-3, 3e-3, 1e-2], momentum=[0.0, 0.5, 0.9]),
    "adagrad": dict(lr=[0.1, 0.3, 0.5], lr_decay=[0.0, 1e-3, 1e-2]),
    "rmsprop": dict(lr=[1e-3, 1e-2, 3e-2], alpha=[0.9, 0.99, 0.5]),
    "adam": dict(lr=[1e-3, 1e-2, 3e-2], betas=([0.8, 0.9, 0.95], [0.99, 0.999, 0.9999])),
    "amsgrad": dict(lr=[1e-3, 1e-2, 3e-2], eps=[1e-8, 1e-6, 1e-4]),
    "adamw": dict(lr=[1e-3, 1e-2, 3e-2], weight_decay=[0.0, 0.01, 0.1]),
    "nadam": dict(lr=[1e-3, 1e-2, 3e-2], betas=([0.8, 0.9, 0.95], 0.999)),
    "delta_bar_delta": dict(lr=[1e-4, 1e-3, 1e-2], kappa=[1e-5, 1e-4, 1e-3]),
}

PROBLEMS = {
    "rosenbrock": (lambda: problems.rosenbrock(3), False),
    "noisy-quadratic": (lambda: problems.quadratic(dim=6, kappa=50.0, noise=0.1), True),
    "deep_linear": (lambda: problems.deep_linear(depth=4, width=3), False),
}
if HAS_SKLEARN:
    PROBLEMS["logistic"] = (lambda: problems.logistic_regression(batch_size=8), True)


def _alone(kwargs, k):
    """Run k's hyperparameters as one-element sequences."""
    out = {}
    for key, value in kwargs.items():
        if isinstance(value, tuple):
            out[key] = tuple([v[k]] if isinstance(v, list) else v for v in value)
        else:
            out[key] = [value[k]]
    return out


def _same_bits(a, b):
    return a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("problem_id", list(PROBLEMS))
def test_population_equals_separate_runs_bitwise(problem_id, backend):
    make, stochastic = PROBLEMS[problem_id]
    problem = make()
    record = ("loss", "grad_norm", "x")
    for name, kwargs in POPULATIONS.items():
        common = dict(
            steps=25, backend=backend, x0="random", stochastic=stochastic, record=record
        )
        together = ok.lab.run(problem, name, seed=[11, 12, 13], **common, **kwargs)
        for k in range(3):
            alone = ok.lab.run(problem, name, seed=[11 + k], **common, **_alone(kwargs, k))
            for quantity in record:
                assert _same_bits(together[quantity][:, k], alone[quantity][:, 0]), (
                    name,
                    k,
                )
            assert _same_bits(together.x_final[k], alone.x_final[0])


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_population_equals_runs_with_plain_numbers_when_only_lr_varies(backend):
    rates = [1e-3, 1e-2, 5e-2]
    for name in ("sgd", "momentum", "adam", "rmsprop", "nadam"):
        together = ok.lab.run("rosenbrock", name, steps=40, lr=rates, backend=backend)
        for k, lr in enumerate(rates):
            alone = ok.lab.run("rosenbrock", name, steps=40, lr=lr, backend=backend)
            assert _same_bits(together["loss"][:, k], alone["loss"][:, 0]), (name, lr)


def _plain_numbers(kwargs, k):
    """Run k's hyperparameters as plain Python numbers (pairs: a tuple of numbers)."""
    out = {}
    for key, value in kwargs.items():
        if isinstance(value, tuple):
            out[key] = tuple(v[k] if isinstance(v, list) else v for v in value)
        else:
            out[key] = value[k]
    return out


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_population_equals_runs_with_plain_numbers_for_every_hyperparameter(backend):
    # The core computes powers (Adam's and NAdam's bias corrections) with the same
    # arithmetic for numbers and arrays, so no hyperparameter needs the sequence form.
    common = dict(steps=40, backend=backend, x0="random", record=("loss", "x"))
    for name, kwargs in POPULATIONS.items():
        together = ok.lab.run("rosenbrock", name, seed=[5, 6, 7], **common, **kwargs)
        for k in range(3):
            alone = ok.lab.run(
                "rosenbrock", name, seed=[5 + k], **common, **_plain_numbers(kwargs, k)
            )
            assert _same_bits(together["x"][:, k], alone["x"][:, 0]), (name, k)
            assert _same_bits(together.x_final[k], alone.x_final[0]), (name, k)


def test_gradient_descent_is_the_textbook_iteration():
    q = problems.quadratic(dim=5, kappa=20.0)
    trace = ok.lab.run(q, "sgd", steps=30, lr=0.05, backend="numpy", record=("x", "loss"))
    x = q.x0.copy()
    for t in range(30):
        np.testing.assert_array_equal(trace["x"][t, 0], x)
        x = x - 0.05 * q.grad(x)
    np.testing.assert_array_equal(trace.x_final[0], x)
    np.testing.assert_array_equal(trace["loss"][:, 0], q.value(trace["x"][:, 0]))


def test_optimizer_class_equals_its_name_and_fixed_options_are_recorded():
    by_name = ok.lab.run("beale", "amsgrad", steps=20, lr=[0.01, 0.1])
    by_class = ok.lab.run("beale", ok.Adam, steps=20, lr=[0.01, 0.1], amsgrad=True)
    np.testing.assert_array_equal(by_name["loss"], by_class["loss"])
    assert by_name.options["amsgrad"] is True and by_class.optimizer == "adam"
    nesterov = ok.lab.run("beale", "nesterov", steps=5, lr=0.01)
    assert nesterov.options["nesterov"] is True
    np.testing.assert_array_equal(nesterov.hyperparameters["momentum"], [0.9])


def test_seeds_random_starts_and_runs():
    p = problems.himmelblau()
    trace = ok.lab.run(p, "sgd", steps=3, x0="random", seed=7, runs=4, lr=1e-3, record="x")
    np.testing.assert_array_equal(trace.seeds, [7, 8, 9, 10])
    for k, s in enumerate(trace.seeds):
        np.testing.assert_array_equal(
            trace["x"][0, k], p.random_start(np.random.default_rng(s))
        )
    again = ok.lab.run(p, "sgd", steps=3, x0="random", seed=[9], lr=1e-3, record="x")
    np.testing.assert_array_equal(again["x"][:, 0], trace["x"][:, 2])
    given = np.array([[0.5, 0.5], [-1.0, 2.0]])
    kept = given.copy()
    trace = ok.lab.run(p, "sgd", steps=3, x0=given, lr=1e-3, record="x")
    np.testing.assert_array_equal(trace["x"][0], kept)
    np.testing.assert_array_equal(given, kept)  # never modified
    assert ok.lab.run(p, "sgd", steps=1, x0=np.zeros(2), runs=3).runs == 3


def test_hyperparameters_per_run_are_recorded():
    trace = ok.lab.run(
        "rosenbrock", "adam", steps=2, lr=[0.1, 0.2], betas=(0.9, [0.99, 0.999])
    )
    np.testing.assert_array_equal(trace.hyperparameters["lr"], [0.1, 0.2])
    np.testing.assert_array_equal(
        trace.hyperparameters["betas"], [[0.9, 0.99], [0.9, 0.999]]
    )
    np.testing.assert_array_equal(trace.hyperparameters["eps"], [1e-8, 1e-8])
    assert trace.label(1) == "adam lr=0.2 betas=(0.9, 0.999)"


def test_schedules_shared_and_per_run():
    from optkit import schedules as S

    shared = ok.lab.run(
        "quadratic", "sgd", steps=20, lr=S.linear(0.1, 0.01, 10), record="lr"
    )
    np.testing.assert_allclose(
        shared["lr"][:, 0], [S.linear(0.1, 0.01, 10)(t) for t in range(21)]
    )
    per_run = [S.constant(0.05), S.exponential(0.1, 0.9)]
    trace = ok.lab.run("quadratic", "sgd", steps=20, lr=per_run, record=("lr", "loss"))
    np.testing.assert_allclose(trace["lr"][:, 1], [0.1 * 0.9**t for t in range(21)])
    constant = ok.lab.run("quadratic", "sgd", steps=20, lr=0.05, backend="numpy")
    np.testing.assert_array_equal(trace["loss"][:, 0], constant["loss"][:, 0])
    assert trace.hyperparameters["lr"] == [repr(s) for s in per_run]


def test_clipping_by_value_and_by_each_runs_norm():
    c = problems.cliff()
    start = np.array([[-1 - 15 / 16 * 0.1, 0.0], [-0.5, 0.2]])  # on the wall, in the valley
    free = ok.lab.run(c, "sgd", steps=1, x0=start, lr=0.1, record="step_norm")
    assert free["step_norm"][-1, 0] > 9.0
    for kind in ("value", "norm", "global_norm"):
        clipped = ok.lab.run(
            c, "sgd", steps=1, x0=start, lr=0.1, clip=(kind, 1.0), record="step_norm"
        )
        assert clipped["step_norm"][-1, 0] <= 0.1 * (np.sqrt(2) if kind == "value" else 1.0)
        np.testing.assert_array_equal(clipped["step_norm"][-1, 1], free["step_norm"][-1, 1])
        assert clipped.options["clip"] == [kind, 1.0]
    g = c.grad(start[0])
    by_norm = ok.lab.run(c, "sgd", steps=1, x0=start[:1], lr=0.1, clip=("norm", 2.0))
    np.testing.assert_allclose(
        by_norm.x_final[0], start[0] - 0.1 * 2.0 * g / np.linalg.norm(g)
    )
    per_run = ok.lab.run(
        c, "sgd", steps=1, x0=start, lr=0.1, clip=("norm", [1.0, 1e-3]), record="step_norm"
    )
    np.testing.assert_allclose(per_run["step_norm"][-1], [0.1, 1e-4])


def test_polyak_window_average_is_the_mean_of_the_last_iterates():
    q = problems.quadratic(dim=3, kappa=5.0, noise=0.5)
    trace = ok.lab.run(
        q,
        "sgd",
        steps=40,
        lr=[0.05, 0.2],
        stochastic=True,
        seed=[1, 2],
        average=("window", 10),
        record=("loss", "x"),
    )
    np.testing.assert_allclose(trace.x_average, trace["x"][-10:].mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(trace["avg_x"][-1], trace.x_average)
    np.testing.assert_allclose(trace["avg_loss"][-1], q.value(trace.x_average))
    np.testing.assert_allclose(trace["avg_x"][3], trace["x"][:4].mean(axis=0), rtol=1e-12)
    assert trace.options["average"] == ["window", 10]


def test_a_diverging_run_stops_and_leaves_the_others_alone():
    rates = [0.01, 0.5, 0.05]  # 0.5 > 2/λ_max: overflows within 1,000 steps
    q = problems.quadratic(dim=4, kappa=10.0)
    trace = ok.lab.run(q, "sgd", steps=1000, lr=rates, record=("loss", "x"))
    assert trace.diverged[0] == -1 and trace.diverged[2] == -1 and trace.diverged[1] > 0
    stop = trace.diverged[1]
    np.testing.assert_array_equal(
        trace["x"][stop:, 1],
        np.broadcast_to(trace["x"][stop, 1], trace["x"][stop:, 1].shape),
    )
    assert not np.isfinite(trace["loss"][-1, 1])
    healthy = ok.lab.run(q, "sgd", steps=1000, lr=[0.01, 0.05], record=("loss", "x"))
    np.testing.assert_array_equal(trace["loss"][:, [0, 2]], healthy["loss"])
    with pytest.raises(ok.lab.NonFiniteRunError, match=r"run 1 \(sgd lr=0.5\).*step"):
        ok.lab.run(q, "sgd", steps=1000, lr=rates, nonfinite="raise")
    carried = ok.lab.run(q, "sgd", steps=1000, lr=rates, nonfinite="propagate")
    np.testing.assert_array_equal(carried["loss"][:, [0, 2]], healthy["loss"])
    assert np.isnan(carried["loss"][-1, 1]) and (carried.diverged == -1).all()


def test_curvature_records_predict_gradient_descent_and_cost_one_hvp(monkeypatch):
    q = problems.quadratic(dim=6, kappa=100.0)
    calls = []
    original = q.hvp
    monkeypatch.setattr(q, "hvp", lambda x, v: calls.append(1) or original(x, v))
    trace = ok.lab.run(
        q,
        "sgd",
        steps=50,
        lr=[0.005, 0.019, 0.021],
        every=1,
        record=("loss", "curvature", "lr"),
        backend="numpy",
    )
    assert len(calls) == len(trace.steps) == 51
    actual = np.diff(trace["loss"], axis=0)
    np.testing.assert_allclose(
        trace["predicted_change"][:-1], actual, rtol=1e-8, atol=1e-14
    )
    np.testing.assert_array_equal(trace["raises"][:-1], actual > 0)
    np.testing.assert_array_equal(trace["lr"][0], [0.005, 0.019, 0.021])
    g = q.grad(q.x0)
    assert trace["gTg"][0, 0] == pytest.approx(g @ g)
    assert trace["grad_norm" if "grad_norm" in trace else "gTg"].shape == (51, 3)


def test_every_and_the_final_record():
    trace = ok.lab.run(
        "rastrigin", "sgd", steps=25, every=10, lr=1e-3, record=("loss", "x")
    )
    np.testing.assert_array_equal(trace.steps, [0, 10, 20, 25])
    np.testing.assert_array_equal(trace["x"][-1], trace.x_final)
    zero = ok.lab.run("rastrigin", "sgd", steps=0, lr=1e-3)
    np.testing.assert_array_equal(zero.steps, [0])


def test_stochastic_runs_use_the_noisy_gradient():
    q = problems.quadratic(dim=3, noise=1.0)
    exact = ok.lab.run(q, "sgd", steps=5, lr=0.1, record="x")
    noisy = ok.lab.run(q, "sgd", steps=5, lr=0.1, record="x", stochastic=True, seed=3)
    again = ok.lab.run(q, "sgd", steps=5, lr=0.1, record="x", stochastic=True, seed=3)
    assert not np.array_equal(exact.x_final, noisy.x_final)
    np.testing.assert_array_equal(noisy.x_final, again.x_final)
    rng = np.random.default_rng(3)
    x = q.x0[None, :].copy()
    for _ in range(5):
        x = x - 0.1 * q.sample_grad(x, [rng])
    np.testing.assert_allclose(noisy.x_final, x, rtol=1e-14)


def test_array_api_strict_population():
    x0 = np.array([[-1.2, 1.0], [0.5, 0.5]])
    ref = ok.lab.run(
        "rosenbrock", "adam", steps=30, x0=x0, lr=[0.01, 0.05], backend="numpy"
    )
    strict = ok.lab.run(
        "rosenbrock",
        "adam",
        steps=30,
        x0=xps.asarray(x0),
        lr=[0.01, 0.05],
        record=("loss", "grad_norm", "curvature"),
    )
    assert strict.options["backend"] == "array_api"
    np.testing.assert_allclose(strict["loss"], ref["loss"], rtol=1e-12)
    assert isinstance(strict.x_final, np.ndarray)


def test_array_api_strict_population_with_every_option():
    from optkit import schedules as S

    q = problems.quadratic(dim=4, kappa=10.0, noise=0.2)
    x0 = np.tile(q.x0, (3, 1))
    options = dict(  # stochastic, per-run schedules and clip thresholds, averaging
        steps=100,
        stochastic=True,
        seed=[1, 2, 3],
        clip=("norm", [5.0, 1.0, 2.0]),
        average=("window", 5),
        lr=[S.constant(0.05), S.exponential(0.1, 0.99), 0.3],
        record=("loss", "grad_norm", "curvature", "x", "lr", "step_norm"),
    )
    options["lr"] = [options["lr"][0], options["lr"][1], S.constant(0.3)]  # 0.3 diverges
    ref = ok.lab.run(q, "momentum", x0=x0, backend="numpy", **options)
    strict = ok.lab.run(q, "momentum", x0=xps.asarray(x0), **options)
    for name in ref.names:
        np.testing.assert_allclose(
            strict[name], ref[name], rtol=1e-9, atol=1e-12, err_msg=name
        )
    np.testing.assert_allclose(strict.x_average, ref.x_average, rtol=1e-9)
    diverging = dict(steps=200, lr=[0.01, 10.0], record=("loss", "x"))  # 10 > 2/λ_max
    ref = ok.lab.run(q, "sgd", x0=x0[:2], backend="numpy", **diverging)
    strict = ok.lab.run(q, "sgd", x0=xps.asarray(x0[:2]), **diverging)
    assert ref.diverged[1] > 0 and strict.diverged.tolist() == ref.diverged.tolist()
    np.testing.assert_allclose(strict["x"], ref["x"], rtol=1e-9)


def test_progress_bar_only_for_long_runs(monkeypatch, capsys):
    pytest.importorskip("tqdm")
    from optkit.lab import _parts

    bar = _parts.Progress(1000, True, "test")
    clock = iter(np.arange(1.0, 100.0, 0.5))
    monkeypatch.setattr(_parts.time, "perf_counter", lambda: float(next(clock)))
    bar.start = 0.0
    bar.update(0)  # the clock starts at the first update (compiling excluded)
    bar.update(10)  # 0.5 s for 10 steps: 50 s projected, so a bar appears
    assert bar.bar is not None
    bar.close(1000)
    assert "1000/1000" in capsys.readouterr().err
    assert not _parts.Progress(1000, None, "test").active  # pytest's stderr: no terminal
    assert not _parts.Progress(1000, False, "test").active
    monkeypatch.undo()  # the real clock again
    ok.lab.run("beale", "sgd", steps=10, progress=True, lr=1e-3)
    assert capsys.readouterr().err == ""  # a short run shows nothing


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(optimizer="adamax"), ValueError, "unknown optimizer 'adamax'"),
        (dict(optimizer=np.ndarray), TypeError, "optimizer must be"),
        (dict(lrr=0.1), ValueError, "no hyperparameter 'lrr'"),
        (dict(optimizer="nesterov", nesterov=False), ValueError, "fixes nesterov=True"),
        (dict(optimizer="adam", amsgrad=[True, False]), TypeError, "amsgrad"),
        (
            dict(lr=[0.1, 0.2], x0=np.zeros((3, 2))),
            ValueError,
            "x0 has 3 runs but lr has 2",
        ),
        (dict(lr=[0.1, 0.2], seed=[1, 2, 3]), ValueError, "seed has 3 runs but lr has 2"),
        (dict(x0=np.zeros(3)), ValueError, r"x0 has shape \(3,\)"),
        (dict(x0="center"), ValueError, "x0='center'"),
        (dict(record=("loss", "hessian")), ValueError, "cannot record 'hessian'"),
        (dict(clip=("max", 1.0)), ValueError, "clip="),
        (dict(clip=("norm", -1.0)), ValueError, "clip threshold=-1.0"),
        (dict(average=("median", 3)), ValueError, "average mode 'median'"),
        (dict(average=("window", 0)), ValueError, "window=0"),
        (dict(nonfinite="skip"), ValueError, "nonfinite='skip'"),
        (dict(seed=-1), ValueError, "seed=-1"),
        (dict(steps=-1), ValueError, "steps=-1"),
        (dict(every=0), ValueError, "every=0"),
        (dict(lr=-0.1), ValueError, "lr=-0.1"),
        (dict(problem="nope"), ValueError, "unknown problem 'nope'"),
        (dict(betas=(0.9,)), ValueError, "betas"),
    ],
)
def test_bad_arguments_name_the_culprit(kwargs, error, message):
    args = dict(problem="beale", optimizer="sgd", steps=3)
    if "betas" in kwargs:
        args["optimizer"] = "adam"
    args.update(kwargs)
    with pytest.raises(error, match=message):
        ok.lab.run(**args)
