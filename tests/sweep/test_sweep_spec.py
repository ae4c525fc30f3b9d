"""Sweep specs: every kind of mistake named by its key, nothing written; expansion,
random draws, cell ids and batches."""

from __future__ import annotations

import numpy as np
import pytest
from _sweep_cases import ROOT, adam_spec, needs_dask

import optkit as ok
from optkit import cli, sweep
from optkit.sweep._deps import parse_toml
from optkit.sweep._toml import dumps

BASE = {"problem": {"name": "rosenbrock"}, "optimizer": "adam", "steps": 10}

# (change to BASE, the key named, words of the message)
MISTAKES = [
    ({"optimiser": "adam"}, "optimiser", "unknown key (did you mean 'optimizer'?)"),
    (
        {"optimizer": "adamm"},
        "optimizer",
        "unknown optimizer 'adamm' (did you mean 'adam'?)",
    ),
    ({"optimizer": 3}, "optimizer", "unknown optimizer 3"),
    ({"grid": {"learning_rate": [0.1]}}, "grid.learning_rate", "has no hyperparameter"),
    (
        {"optimizer": "nadam", "grid": {"momentum": [0.9]}},
        "grid.momentum",
        "(did you mean 'momentum_decay'?)",
    ),
    ({"grid": {"betas": [0.9, 0.99]}}, "grid.betas", "betas is a pair: set betas[0]"),
    ({"optimizer": "nesterov", "grid": {"nesterov": [False]}}, "grid.nesterov", "fixes"),
    ({"grid": {}}, "grid", "the grid is empty"),
    ({"grid": {"lr": []}}, "grid.lr", "the list is empty"),
    ({"grid": {"lr": {"logspace": [-3, 0, 0]}}}, "grid.lr.logspace", "the axis is empty"),
    ({"grid": {"lr": {"logspace": [-3, 0]}}}, "grid.lr.logspace", "[start, stop, num]"),
    (
        {"grid": {"lr": {"linspace": [0, 1, 2.5]}}},
        "grid.lr.linspace",
        "num must be an integer",
    ),
    ({"grid": {"lr": {"range": [0, 1, 2]}}}, "grid.lr", "exactly one of logspace"),
    ({"grid": {"lr": ["fast"]}}, "grid.lr[0]", "'fast' is not a number"),
    ({"grid": {"lr": [0.1, 0.1]}}, "grid.lr", "appears twice"),
    ({"grid": {"amsgrad": [1, 0]}}, "grid.amsgrad[0]", "is not a boolean"),
    ({"grid": "lr"}, "grid", "expected a table"),
    ({"random": {"lr": {"loguniform": [1e-4, 1]}}}, "random.samples", "missing"),
    ({"random": {"samples": 0, "lr": 0.1}}, "random.samples", "must be >= 1"),
    ({"random": {"samples": 5}}, "random", "no hyperparameter to draw"),
    (
        {"random": {"samples": 5, "lr": {"loguniform": [0, 1]}}},
        "random.lr.loguniform",
        "positive",
    ),
    ({"random": {"samples": 5, "lr": {"uniform": [1, 0]}}}, "random.lr.uniform", "above"),
    ({"random": {"samples": 5, "lr": [0.1, 0.2]}}, "random.lr", "not a list"),
    ({"random": {"samples": 5, "eps": {"gauss": [0, 1]}}}, "random.eps", "exactly one of"),
    (
        {"grid": {"lr": [0.1]}, "random": {"samples": 2, "lr": {"uniform": [0, 1]}}},
        "random.lr",
        "also in [grid]",
    ),
    ({"problem": {"name": "rosenbrok"}}, "problem.name", "unknown problem 'rosenbrok'"),
    ({"problem": {"dim": 2}}, "problem.name", "missing"),
    ({"problem": "rosenbrock"}, "problem", "expected a table"),
    ({"problem": []}, "problem", "the list of problems is empty"),
    (
        {"problem": {"name": "rosenbrock", "dims": 3}},
        "problem.dims",
        "(did you mean 'dim'?)",
    ),
    ({"problem": {"name": "rosenbrock", "dim": []}}, "problem.dim", "the list is empty"),
    ({"problem": {"name": "quadratic", "kappa": [10, -1]}}, "problem", "cannot build"),
    ({"problem": [{"name": "beale"}, {"name": "beale"}]}, "problem[1]", "appears twice"),
    (
        {"problem": {"name": "logistic_regression"}, "metric": "steps_to:1e-3"},
        None,
        "",
    ),  # it knows its minimum: accepted
    ({"steps": 0}, "steps", "must be >= 1"),
    ({"steps": 10.0}, "steps", "expected an integer"),
    ({"steps": True}, "steps", "expected an integer"),
    ({"every": "2"}, "every", "expected an integer"),
    ({"seeds": 0}, "seeds", "must be >= 1"),
    ({"seeds": []}, "seeds", "the list is empty"),
    ({"seeds": [1, 1]}, "seeds", "appears twice"),
    ({"seeds": [0, -1]}, "seeds[1]", "must be >= 0"),
    ({"metric": "loss"}, "metric", "unknown metric 'loss'"),
    ({"metric": "steps_to:small"}, "metric", "tolerance must be a number"),
    ({"x0": "zeros"}, "x0", "expected one of standard, random"),
    ({"backend": "torch"}, "backend", "expected one of auto"),
    ({"nonfinite": "skip"}, "nonfinite", "expected one of stop"),
    ({"stochastic": "yes"}, "stochastic", "expected true or false"),
    ({"batch_size": 0}, "batch_size", "must be >= 1"),
    ({"batch_memory": "lots"}, "batch_memory", "expected bytes"),
    ({"name": ""}, "name", "non-empty string"),
]


def _spec(change):
    spec = {**BASE, **change}
    return {k: v for k, v in spec.items() if not (k == "problem" and v is None)}


def test_base_spec_is_valid():
    spec = sweep.load_spec(BASE)
    assert (spec.optimizer, spec.steps, spec.seeds, spec.metric) == (
        "adam",
        10,
        [0],
        "final_loss",
    )
    assert len(sweep.expand(spec)) == 1


@pytest.mark.parametrize(("change", "key", "words"), MISTAKES)
def test_each_mistake_names_its_key(change, key, words):
    if key is None:
        sweep.load_spec(_spec(change))
        return
    with pytest.raises(sweep.SpecError) as info:
        sweep.load_spec(_spec(change))
    assert info.value.key == key
    assert words in str(info.value)


def test_missing_required_keys():
    for key in ("problem", "optimizer", "steps"):
        spec = {k: v for k, v in BASE.items() if k != key}
        with pytest.raises(sweep.SpecError, match=f"'{key}': missing"):
            sweep.load_spec(spec)


@needs_dask
@pytest.mark.parametrize("change", [m[0] for m in MISTAKES if m[1] is not None][::4])
def test_a_bad_spec_writes_nothing(tmp_path, change, capsys):
    path = tmp_path / "spec.toml"
    path.write_text(dumps(_spec(change)))
    out = tmp_path / "out"
    with pytest.raises(sweep.SpecError):
        sweep.run(_spec(change), out)
    assert cli.main(["sweep", "run", str(path), "--out", str(out)]) == 1
    assert "optkit sweep: error: spec key" in capsys.readouterr().err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.toml"]


def test_toml_files_and_text(tmp_path):
    path = tmp_path / "momentum.toml"
    path.write_text('problem = { name = "beale" }\noptimizer = "momentum"\nsteps = 5\n')
    spec = sweep.load_spec(path)
    assert spec.name == "momentum" and spec.toml() == path.read_text()
    with pytest.raises(sweep.SpecError, match="not valid TOML"):
        sweep.parse_spec("optimizer = ")
    with pytest.raises(sweep.SpecError, match="cannot read"):
        sweep.load_spec(tmp_path / "missing.toml")


def test_example_spec_is_valid_and_at_scale():
    spec = sweep.load_spec(ROOT / "examples" / "sweep_momentum_kappa.toml")
    cells = sweep.expand(spec)
    assert len(cells) >= 200
    assert {c.problem["kappa"] for c in cells} == {10, 100, 1000, 10000}


def test_toml_writer_round_trips():
    spec = adam_spec(problem=[{"name": "saddle", "eigenvalues": [[1.0, -1.0]]}])
    spec["grid"]["lr"] = {"logspace": [-3, 0, 4]}
    spec["random"] = {
        "samples": 3,
        "eps": {"loguniform": [1e-9, 1e-6]},
        "weight_decay": 0.0,
    }
    spec["metric"] = "steps_to:1e-6"
    assert parse_toml(dumps(spec)) == spec
    assert sweep.load_spec(spec).hash == sweep.parse_spec(dumps(spec)).hash


def test_python_specs_take_numpy_values():
    spec = sweep.load_spec(
        {**BASE, "grid": {"lr": np.geomspace(1e-3, 1e-1, 3)}, "seeds": np.int64(2)}
    )
    assert spec.grid["lr"] == [0.001, 0.01, 0.1] and spec.seeds == [0, 1]


def test_cells_in_order_with_problem_sweeps_and_flags():
    spec = sweep.load_spec(
        {
            "problem": [{"name": "rosenbrock", "dim": [2, 3]}, {"name": "beale"}],
            "optimizer": "adam",
            "steps": 10,
            "seeds": [5, 7],
            "grid": {"lr": [0.1, 0.01], "amsgrad": [False, True]},
        }
    )
    cells = sweep.expand(spec)
    assert len(cells) == 3 * 4 * 2
    assert [c.index for c in cells] == list(range(24))
    assert cells[0].problem == {"name": "rosenbrock", "dim": 2}
    assert cells[-1].problem == {"name": "beale"}
    assert [c.seed for c in cells[:4]] == [5, 7, 5, 7]
    assert cells[2].hyperparameters == {"lr": 0.1, "amsgrad": True}
    assert len({c.id for c in cells}) == 24
    batches = sweep.plan_batches(spec, cells)
    # one population per problem configuration and flag value
    assert len(batches) == 6
    for batch in batches:
        assert (
            len({(str(c.problem), c.hyperparameters["amsgrad"]) for c in batch.cells}) == 1
        )
    assert sorted(c.id for b in batches for c in b.cells) == sorted(c.id for c in cells)


def test_cell_ids_follow_settings_not_cosmetics():
    ids = {c.id for c in sweep.expand(sweep.load_spec(adam_spec()))}
    renamed = adam_spec(name="other", batch_size=3, batch_memory="1GiB")
    assert {c.id for c in sweep.expand(sweep.load_spec(renamed))} == ids
    assert sweep.load_spec(renamed).hash == sweep.load_spec(adam_spec()).hash
    longer = {c.id for c in sweep.expand(sweep.load_spec(adam_spec(steps=151)))}
    assert not ids & longer
    grown = adam_spec()
    grown["grid"]["betas[0]"] = [0.5, 0.8, 0.9, 0.95]
    assert ids < {c.id for c in sweep.expand(sweep.load_spec(grown))}


def test_random_draws_are_seeded_prefix_stable_and_per_axis():
    def draws(random):
        spec = sweep.load_spec({**BASE, "random": random})
        return [c.hyperparameters for c in sweep.expand(spec)]

    base = {"seed": 3, "lr": {"loguniform": [1e-4, 1.0]}, "eps": {"uniform": [1e-8, 2e-8]}}
    first = draws({"samples": 50, **base})
    assert draws({"samples": 50, **base}) == first
    assert draws({"samples": 80, **base})[:50] == first
    assert all(1e-4 <= d["lr"] <= 1.0 and 1e-8 <= d["eps"] <= 2e-8 for d in first)
    logs = np.log10([d["lr"] for d in draws({"samples": 2000, **base})])
    assert abs(logs.mean() + 2) < 0.1  # log-uniform on [-4, 0]: mean -2
    more = draws({"samples": 50, **base, "amsgrad": {"choice": [True, False]}})
    assert [d["lr"] for d in more] == [d["lr"] for d in first]
    assert {d["amsgrad"] for d in more} == {True, False}
    other = draws({"samples": 50, **base, "seed": 4})
    assert [d["lr"] for d in other] != [d["lr"] for d in first]
    cells = sweep.expand(sweep.load_spec({**BASE, "random": {"samples": 4, **base}}))
    assert [c.sample for c in cells] == [0, 1, 2, 3]


def test_batches_respect_size_memory_and_spread():
    spec = sweep.load_spec(adam_spec(batch_size=None, seeds=100))  # 2 x 3000 cells
    cells = sweep.expand(spec)

    def sizes(spec, workers):
        return [len(b.cells) for b in sweep.plan_batches(spec, cells, workers)]

    assert sizes(spec, 1) == [1500] * 4  # 6000 cells / (4 batches per worker)
    assert sizes(spec, 4) == [375] * 16
    spread = sizes(spec, 1000)  # never cut below 64 cells to spread the work
    assert set(spread) == {63, 64} and len(spread) == 2 * 47
    assert sizes(sweep.load_spec(adam_spec(seeds=100, batch_size=1000)), 1) == [1000] * 6
    budget = 100 * sweep.cells.bytes_per_cell(3, spec.steps, spec.every)
    tight = sweep.load_spec(adam_spec(seeds=100, batch_size=None, batch_memory=budget))
    assert max(sizes(tight, 1)) <= 100
    batches = sweep.plan_batches(tight, cells)
    assert len({b.id for b in batches}) == len(batches)
    assert sorted(c.id for b in batches for c in b.cells) == sorted(c.id for c in cells)


def test_problem_parameters_that_shadow_columns_are_renamed():
    from optkit.sweep.worker import problem_column

    catalog = sweep.cells.Spec(
        {**BASE, "optimizer": "delta_bar_delta", "problem": {"name": "quadratic"}}
    ).catalog
    assert problem_column("kappa", catalog) == "problem.kappa"  # delta-bar-delta's kappa
    assert problem_column("seed", catalog) == "problem.seed"
    assert problem_column("dim", catalog) == "dim"


def test_spec_errors_are_value_errors_with_the_key_first():
    with pytest.raises(ValueError, match=r"^spec key 'steps': "):
        sweep.load_spec({**BASE, "steps": -1})
    assert isinstance(ok.sweep.SpecError("k", "m"), ValueError)
