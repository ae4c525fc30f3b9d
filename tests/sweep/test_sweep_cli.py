"""``optkit sweep status | show | plot`` on a finished sweep, and the message that
names the extra to install when Dask, pandas or pyarrow is missing."""

from __future__ import annotations

import sys

import pytest
from _sweep_cases import adam_spec, needs_dask

import optkit as ok
from optkit import cli, sweep

pytestmark = needs_dask

SPEC = {
    "name": "momentum-grid",
    "problem": {"name": "quadratic", "dim": 8, "kappa": [10, 100], "rotate": False},
    "optimizer": "momentum",
    "steps": 300,
    "seeds": [0, 1],
    "x0": "random",
    "metric": "steps_to:1e-6",
    "grid": {
        "lr": {"logspace": [-2, 0, 5]},
        "momentum": [0.0, 0.5, 0.9],
        "nesterov": [False],
    },
}


@pytest.fixture(scope="module")
def finished(client, tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "out"
    return out, sweep.run(SPEC, out, client, progress=False)


def test_table_columns(finished):
    _out, table = finished
    assert len(table) == 2 * 5 * 3 * 2
    assert list(table.columns[:2]) == ["cell", "status"] and table.columns[-1] == "error"
    for column in ("problem", "dim", "kappa", "rotate", "optimizer", "lr", "momentum",
                   "dampening", "nesterov", "seed", "metric", "steps_to", "final_loss",
                   "best_loss", "auc", "diverged", "steps", "wall_time", "backend",
                   "optkit_version", "worker", "batch"):  # fmt: skip
        assert column in table.columns, column
    assert (table["optkit_version"] == ok.__version__).all()
    assert table.attrs["metric"] == "steps_to:1e-6"
    never = table["steps_to"] < 0
    assert never.any() and (~never).any()
    assert (table.loc[never, "metric"] == float("inf")).all()
    assert (table.loc[~never, "metric"] == table.loc[~never, "steps_to"]).all()
    assert (table["best_loss"] <= table["final_loss"]).all()


def test_status_show_and_plot_commands(finished, capsys, tmp_path):
    out, table = finished
    assert cli.main(["sweep", "status", str(out)]) == 0
    text = capsys.readouterr().out
    assert "60: 60 done, 0 failed, 0 pending" in text and "steps_to:1e-6" in text
    assert cli.main(["sweep", "show", str(out), "--best", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and lines[0].split()[:4] == ["kappa", "lr", "momentum", "seed"]
    best = table[table["status"] == "done"].sort_values(["metric", "final_loss"]).iloc[0]
    assert lines[1].split()[4] == f"{best['metric']:.4g}"
    assert cli.main(["sweep", "show", str(out), "--sort", "auc", "--best", "1"]) == 0
    assert f"{table['auc'].min():.4g}" in capsys.readouterr().out
    figure = tmp_path / "heat.png"
    assert cli.main(["sweep", "plot", str(out), "--x", "lr", "--y", "momentum",
                     "--by", "kappa", "--out", str(figure)]) == 0  # fmt: skip
    assert figure.stat().st_size > 10_000
    assert cli.main(["sweep", "plot", str(out), "--x", "kappa", "--by", "momentum"]) == 0
    assert (out / "plot-kappa-momentum.png").exists()
    assert cli.main(["sweep", "plot", str(out), "--x", "learning_rate"]) == 1
    assert "no column 'learning_rate'" in capsys.readouterr().err


def test_plot_reduces_seeds_then_tunes_the_rest(finished):
    _out, table = finished
    reduced, tuned = sweep._plot.reduce_table(table, ["kappa", "momentum"])
    assert tuned == ["lr"] and len(reduced) == 6
    done = table[table["status"] == "done"]
    for _, row in reduced.iterrows():
        part = done[(done["kappa"] == row["kappa"]) & (done["momentum"] == row["momentum"])]
        assert row["metric"] == part.groupby("lr")["metric"].median().min()


def test_status_of_a_folder_that_is_not_a_sweep(tmp_path, capsys):
    assert cli.main(["sweep", "status", str(tmp_path)]) == 1
    assert "is not a sweep folder" in capsys.readouterr().err


@pytest.mark.parametrize("module", ["distributed", "pandas", "pyarrow"])
def test_missing_extra_names_it(module, monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    with pytest.raises(ImportError, match=r"pip install 'optkit\[sweep\]'"):
        ok.sweep.run(adam_spec(), tmp_path / "out")
    spec = tmp_path / "spec.toml"
    spec.write_text('problem = { name = "beale" }\noptimizer = "sgd"\nsteps = 3\n')
    assert cli.main(["sweep", "run", str(spec), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert f"optkit sweep needs {module}" in err and "pip install 'optkit[sweep]'" in err
    assert not (tmp_path / "out").exists()


def test_plot_without_matplotlib_names_the_plot_extra(finished, monkeypatch, capsys):
    out, _table = finished
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert cli.main(["sweep", "plot", str(out), "--x", "lr"]) == 1
    assert "pip install 'optkit[plot]'" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys):
    for argv in (["sweep"], ["sweep", "run", "spec.toml"], ["sweep", "run", "s", "--out", "o",
                 "--workers", "0"], ["sweep", "run", "s", "--out", "o", "--workers", "2",
                 "--scheduler", "tcp://h:1"]):  # fmt: skip
        with pytest.raises(SystemExit) as info:
            cli.main(argv)
        assert info.value.code == 2
    capsys.readouterr()


def test_progress_bar_shows_cells_and_best_so_far(client, tmp_path, capsys):
    spec = {
        **SPEC,
        "name": "bar",
        "problem": {**SPEC["problem"], "kappa": 10},
        "steps": 100,
    }
    table = sweep.run(spec, tmp_path / "out", client, progress=True)
    err = capsys.readouterr().err
    assert "sweep 'bar': 30 cells, 0 already finished; 30 to run in" in err
    best = table["metric"].min()
    assert f"best steps_to:1e-6={best:.4g}" in err and "30/30" in err
    row = table.loc[table["metric"].idxmin()]
    assert f"lr={row['lr']:.3g} momentum={row['momentum']:.3g}" in err


def test_dashboard_link_only_when_served():
    from optkit.sweep.driver import _dashboard

    class FakeClient:
        dashboard_link = "http://127.0.0.1:8787/status"

        def __init__(self, services):
            self.services = services

        def scheduler_info(self):
            return {"services": self.services}

    assert _dashboard(FakeClient({"dashboard": 8787})) == FakeClient.dashboard_link
    assert _dashboard(FakeClient({})) is None


def test_show_failed_lists_errors(client, tmp_path, capsys):
    spec = {**SPEC, "name": "bad", "problem": {**SPEC["problem"], "kappa": 10}, "steps": 20}
    spec["grid"] = {"lr": [-0.5, 0.1], "momentum": [0.9]}
    sweep.run(spec, tmp_path / "out", client, progress=False)
    assert cli.main(["sweep", "show", str(tmp_path / "out"), "--failed"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and "ValueError: invalid lr" in lines[1]
