"""Every example script runs with ``--quick`` and its verdict agrees with its numbers.

The examples measure the claims of Goodfellow, Bengio & Courville (2016), ch. 8. A
claim that holds must keep holding (a regression that breaks it fails here); a claim
that does not hold as stated (``adaptive.py``: AdaGrad against RMSProp) must keep
failing for the documented reason only, and its script must say so. Each test also
recomputes the verdict from the measured numbers with the thresholds of the
script's docstring.
"""

from __future__ import annotations

import importlib.util
import math
import os
from pathlib import Path

import pytest

from optkit.lab.claims import CLAIMS, DEMOS

pytest.importorskip("matplotlib")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(script: str, tmp_path, monkeypatch, *extra: str) -> dict:
    monkeypatch.syspath_prepend(str(EXAMPLES))  # the scripts import _harness
    spec = importlib.util.spec_from_file_location(
        f"example_{script[:-3]}", EXAMPLES / script
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main(["--quick", "--out", str(tmp_path), *extra])
    prefix = "claim holds: yes (" if result["holds"] else "claim holds: no ("
    assert result["verdict"].startswith(prefix), result["verdict"]
    assert "measured" in result["verdict"] and "vs expected" in result["verdict"]
    figure = Path(result["figure"])
    assert figure.parent == tmp_path and figure.suffix == ".png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert figure.stat().st_size <= 200_000
    return result


def test_every_example_is_a_listed_claim():
    scripts = {p.name for p in EXAMPLES.glob("*.py")} - {"_harness.py", "run_all.py"}
    assert scripts - set(DEMOS) == {c.script for c in CLAIMS}
    assert set(DEMOS) <= scripts


def test_ill_conditioning(tmp_path, monkeypatch):
    r = run("ill_conditioning.py", tmp_path, monkeypatch)
    assert r["max_rel_err"] <= 1e-8 and r["flags_agree"]
    assert 0.9 <= r["slope"] <= 1.1
    assert r["steps"] == r["predicted_steps"]  # the closed form, step for step
    assert r["flagged"][:3] == [0.0, 0.0, 0.0] and r["flagged"][3] > 0.5  # α > 2/λmax
    assert r["holds"]


def test_momentum(tmp_path, monkeypatch):
    r = run("momentum.py", tmp_path, monkeypatch)
    assert 0.9 <= r["slope_gd"] <= 1.1 and 0.4 <= r["slope_hb"] <= 0.6
    assert r["rate_err_gd"] <= 0.05 and r["rate_err_hb"] <= 0.05
    assert all(h < g for h, g in zip(r["hb_steps"], r["gd_steps"]))
    assert r["holds"]


def test_nesterov(tmp_path, monkeypatch):
    r = run("nesterov.py", tmp_path, monkeypatch)
    assert -1.2 <= r["slope_gd"] <= -0.8 and -2.3 <= r["slope_nesterov"] <= -1.7
    assert r["advantage_noisy"] < r["advantage_exact"]  # reported: noise erodes it
    assert r["holds"]


def test_cooling(tmp_path, monkeypatch):
    pytest.importorskip("sklearn")  # a logistic regression on a bundled data set
    r = run("cooling.py", tmp_path, monkeypatch)
    for problem in ("quadratic", "logistic"):
        assert r[f"gain_{problem}"] >= 10
        assert 0.8 <= r[f"slope_{problem}"] <= 1.2
    assert r["holds"]


def test_adaptive_reports_the_part_that_does_not_hold(tmp_path, monkeypatch):
    r = run("adaptive.py", tmp_path, monkeypatch)
    assert r["gain_axis"] >= 5 and r["gain_rotated"] < 5
    assert -0.6 <= r["rate_slope"] <= -0.4
    # Documented outcome: at their best learning rates AdaGrad ends below RMSProp.
    assert r["adagrad_over_rmsprop"] < 3
    assert r["failed"] == ["AdaGrad ≥ 3x above RMSProp"]
    assert not r["holds"] and "fails: AdaGrad ≥ 3x above RMSProp" in r["verdict"]


def test_adam_bias_correction(tmp_path, monkeypatch):
    r = run("adam_bias_correction.py", tmp_path, monkeypatch)
    assert r["first_step_err"] <= 1e-6 and r["ratio_err"] <= 0.01
    assert r["peak_ratio"] > 2 and r["adam_drift"] <= 1e-10
    assert r["holds"]


def test_saddles(tmp_path, monkeypatch):
    r = run("saddles.py", tmp_path, monkeypatch)
    assert abs(r["gd_slope"] / r["gd_formula"] - 1) <= 0.05
    assert all(h < g for h, g in zip(r["hb_steps"], r["gd_steps"]))
    assert r["failed"] == [] and r["holds"]


def test_local_minima(tmp_path, monkeypatch):
    r = run("local_minima.py", tmp_path, monkeypatch)
    assert min(r["himmelblau_at_global"].values()) >= 0.99
    assert r["himmelblau_differs"] >= 0.05
    assert min(r["rastrigin_distinct"].values()) >= 10
    assert max(r["rastrigin_at_global"].values()) < 0.1
    assert r["failed"] == [] and r["holds"]


def test_cliffs(tmp_path, monkeypatch):
    r = run("cliffs.py", tmp_path, monkeypatch)
    assert r["cut_value"] >= 100 and r["cut_norm"] >= 100
    assert r["worst_final"]["value"] <= 1e-6 and r["worst_final"]["norm"] <= 1e-6
    assert r["jumps"]["none"] > 5  # the cliff did throw an unclipped run
    assert r["holds"]


def test_exploding_vanishing(tmp_path, monkeypatch):
    r = run("exploding_vanishing.py", tmp_path, monkeypatch)
    assert r["slope_error"] <= 0.02
    for rho, (forward, backward) in r["slopes"].items():
        assert math.isclose(forward, math.log(rho), abs_tol=0.02 * math.log(1.1))
        assert math.isclose(backward, math.log(rho), abs_tol=0.02 * math.log(1.1))
    losses = r["best_loss"]
    assert losses["ρ=1.1, clipped"] < losses["ρ=1.1"] and losses["ρ=1, orthogonal"] <= 1e-6
    assert r["holds"]


def test_polyak_averaging(tmp_path, monkeypatch):
    r = run("polyak_averaging.py", tmp_path, monkeypatch)
    assert r["same_last_iterates"]
    assert all(ratio >= n / 10 for n, ratio in r["ratios"].items())
    assert r["holds"]


def test_rosenbrock_race(tmp_path, monkeypatch):
    r = run("rosenbrock_race.py", tmp_path, monkeypatch)
    assert r["ranking"][-1] == "sgd"
    assert r["finals"]["sgd"] == max(r["finals"].values())
    assert r["holds"]


def test_run_all_runs_the_chosen_scripts(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(
        "example_run_all", EXAMPLES / "run_all.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    code = module.main(["--quick", "--only", "saddles,cliffs", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "2 of 2 claims hold" in out
    assert sorted(os.listdir(tmp_path)) == ["cliffs.png", "saddles.png"]
    with pytest.raises(SystemExit):
        module.main(["--only", "no_such_script", "--out", str(tmp_path)])
