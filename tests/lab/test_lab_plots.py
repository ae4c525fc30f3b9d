"""Plots are produced headless (Agg) without error and show what they should."""

from __future__ import annotations

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import optkit as ok  # noqa: E402
from optkit import problems  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_landscape_in_two_dimensions_with_trajectories(tmp_path):
    p = problems.himmelblau()
    trace = ok.lab.run(p, "adam", steps=50, lr=0.1, x0="random", seed=range(3), record="x")
    ax = ok.lab.plot_landscape(p, trace)
    assert len(ax.get_lines()) == 3 * 3 + 1  # path, start, end per run; the minima
    minima = ax.get_lines()[-1]
    np.testing.assert_allclose(np.c_[minima.get_xdata(), minima.get_ydata()], p.minima)
    path = ax.get_lines()[0]
    np.testing.assert_array_equal(path.get_xdata(), trace["x"][:, 0, 0])
    assert ax.get_xlim() == tuple(p.bounds[0][:1]) + tuple(p.bounds[1][:1])
    ax.figure.savefig(tmp_path / "landscape.png")
    assert (tmp_path / "landscape.png").stat().st_size > 1000


def test_landscape_slice_in_more_dimensions_follows_the_extreme_eigenvectors():
    q = problems.quadratic(dim=6, kappa=100.0)
    trace = ok.lab.run(q, "sgd", steps=30, lr=[0.005, 0.015], record=("loss", "x"))
    ax = ok.lab.plot_landscape(q, [trace])
    assert "λ_max = 100" in ax.get_xlabel() and "λ_min = 1" in ax.get_ylabel()
    path = ax.get_lines()[0]
    u = q.eigenvectors()[:, -1]
    np.testing.assert_allclose(
        np.abs(path.get_xdata()), np.abs(trace["x"][:, 0] @ u), atol=1e-6
    )


def test_landscape_without_recorded_iterates_draws_final_points():
    p = problems.rosenbrock(2)
    trace = ok.lab.run(p, "sgd", steps=5, lr=1e-3, record="loss")
    ax = ok.lab.plot_landscape(p, trace, bounds=((-3, -1), (3, 4)), log=False)
    assert ax.get_xlim() == (-3.0, 3.0)
    assert len(ax.get_lines()[0].get_xdata()) == 1


def test_curves_one_line_per_run_log_scale_and_excess():
    trace = ok.lab.run("rosenbrock", "adam", steps=100, lr=[1e-3, 1e-2, 1e-1])
    ax = ok.lab.plot_curves(trace, y="excess")
    assert len(ax.get_lines()) == 3 and ax.get_yscale() == "log"
    np.testing.assert_array_equal(ax.get_lines()[2].get_ydata(), trace.excess()[:, 2])
    assert ax.get_legend() is not None
    many = ok.lab.run("rastrigin", "sgd", steps=20, lr=np.geomspace(1e-4, 1e-2, 50))
    ax = ok.lab.plot_curves([many, trace], y="grad_norm", max_runs=12, log=False)
    assert len(ax.get_lines()) == 12 + 3 and ax.get_legend() is None
    styblinski = ok.lab.run("styblinski_tang", "sgd", steps=20, lr=0.01)  # negative losses
    ax = ok.lab.plot_curves(styblinski, y="loss")
    assert ax.get_yscale() == "linear"


def test_plots_refuse_what_is_not_a_trace():
    with pytest.raises(TypeError, match="Trace"):
        ok.lab.plot_curves([np.zeros(3)])
