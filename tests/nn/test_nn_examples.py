"""The network examples run with --quick; each reports its verdict consistently
(and the claims that hold here are asserted to hold)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

pytest.importorskip("sklearn")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(
        f"example_{name}", EXAMPLES / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(name: str, tmp_path, capsys) -> dict:
    result = load(name).main(["--quick", "--out", str(tmp_path)])
    printed = capsys.readouterr().out
    assert result["verdict"] in printed
    assert result["verdict"].startswith(
        f"claim holds: {'yes' if result['holds'] else 'no'}"
    )
    if result["figure"] is not None:
        assert Path(result["figure"]).stat().st_size > 1000
    return result


def test_batchnorm_makes_the_deep_sigmoid_net_trainable(tmp_path, capsys):
    result = run("batchnorm_deep_net", tmp_path, capsys)
    plain, bn = result["plain"], result["batchnorm"]
    assert len(bn["tests"]) == len(plain["tests"]) == 5
    assert result["holds"], result["verdict"]
    assert bn["reached"] == 5 and bn["median_epochs"] < plain["median_epochs"]
    assert bn["test"] >= plain["test"]


def test_greedy_pretraining_reports_what_it_measured(tmp_path, capsys):
    """The honest outcome may go either way; the verdict must follow the numbers."""
    result = run("greedy_pretraining", tmp_path, capsys)
    arms = result["results"]
    base = arms["random init"]["tests"]
    assert len(arms) == 4 and all(len(a["tests"]) == 5 for a in arms.values())
    for name, arm in arms.items():
        assert all(0.0 <= t <= 1.0 for t in arm["tests"])
        if name == "random init":
            continue
        diffs = [t - b for t, b in zip(arm["tests"], base)]
        assert arm["gain"] == pytest.approx(sum(diffs) / 5)
        assert arm["helps"] == (arm["gain"] > 2 * arm["se"])
    forms = (arms["(a) layer-wise"], arms["(b) simple task"])
    assert result["holds"] == all(f["helps"] for f in forms)
    assert result["config"]["budget"] == 4 * 3 + 10


def test_polyak_average_beats_the_last_iterate_at_the_noise_floor(tmp_path, capsys):
    result = run("polyak_on_digits", tmp_path, capsys)
    floor = result["ratios"]["noise floor"]
    assert len(floor) == 5 and all(math.isfinite(r) for r in floor)
    assert result["holds"] == all(r < 1 for r in floor)
    assert result["holds"], result["verdict"]
