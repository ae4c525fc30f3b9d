"""``ok.lab.race``: populations of rates x starts per optimizer, ranked; bad input named."""

from __future__ import annotations

import numpy as np
import pytest

import optkit as ok
from optkit.optim.registry import ALGORITHMS


def test_registry_rate_alone_equals_a_separate_run():
    result = ok.lab.race("rosenbrock", ["momentum", "adam"], steps=300, starts=3, lrs=1)
    assert [e.name for e in result.entries] == sorted(
        ["momentum", "adam"], key=lambda n: {e.name: e.final for e in result.entries}[n]
    )
    for e in result.entries:
        info = ALGORITHMS[e.name]
        assert e.lr == info.race["lr"]
        assert e.trace.runs == 3
        np.testing.assert_array_equal(e.trace["x"][0, 0], result.problem.x0)
        alone = ok.lab.run(result.problem, info.cls, 300, x0=result.problem.x0,
                           lr=[e.lr], **e.kwargs)  # fmt: skip
        assert alone.final()[0] == e.trace.final()[0]  # the first start, bit for bit
        finals = e.trace.excess()[-1]
        assert e.final == float(np.median(finals))
        assert e.reached == float(np.mean(finals <= result.tol))


def test_sweep_keeps_the_best_rate_and_starts_are_shared():
    result = ok.lab.race("quadratic", ["sgd"], steps=200, starts=4, lrs=6, seed=3)
    (entry,) = result.entries
    rates = ALGORITHMS["sgd"].race["lr"] * np.geomspace(1e-2, 1e3, 6)
    assert entry.lr in rates
    q = result.problem
    for lr in rates:  # no other rate of the sweep ends lower (median over the starts)
        trace = ok.lab.run(q, "sgd", 200, x0=result.starts, lr=[lr] * 4)
        finals = np.where(np.isfinite(trace.final()), trace.final(), np.inf)
        assert np.median(finals) >= entry.final
    rng_starts = q.random_start([np.random.default_rng(3 + k) for k in range(1, 4)])
    np.testing.assert_array_equal(result.starts[1:], rng_starts)
    assert "x" not in entry.trace or q.dim == 2


def test_table_and_plot(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    result = ok.lab.race(
        "himmelblau", ["sgd", "adam", "nesterov"], steps=100, starts=2, lrs=3
    )
    text = result.table()
    assert text.count("\n") == 4 and "Adam" in text and "SGD + Nesterov" in text
    path = tmp_path / "race.png"
    plt.close(result.plot(str(path)))
    assert path.read_bytes()[:4] == b"\x89PNG"
    many = ok.lab.race(ok.problems.quadratic(dim=5), ["sgd"], steps=50)
    plt.close(many.plot())  # no landscape in 5-D: a ranking instead


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        (dict(optimizers=["lbfgs"]), ValueError, "unknown optimizer 'lbfgs'"),
        (dict(optimizers=[]), ValueError, "at least one"),
        (dict(steps=0), ValueError, r"steps=0: must be in \[1, 10000000\]"),
        (dict(steps=1.5), TypeError, "steps=1.5"),
        (dict(starts=0), ValueError, "starts=0"),
        (dict(lrs=65), ValueError, "lrs=65"),
        (dict(tol=float("nan")), ValueError, "tol=nan"),
        (dict(tol=0.0), ValueError, "tol=0.0"),
        (dict(seed=-1), ValueError, "seed=-1"),
        (dict(problem="nowhere"), ValueError, "unknown problem 'nowhere'"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        ok.lab.race(**{"steps": 10, **kwargs})
