"""examples/torch_digits.py runs in --quick mode and its claim holds."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")

pytestmark = pytest.mark.torch

SCRIPT = pathlib.Path(__file__).parents[2] / "examples" / "torch_digits.py"


def _load():
    spec = importlib.util.spec_from_file_location("torch_digits_example", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_run_tests_the_claim(tmp_path, capsys):
    result = _load().main(["--quick", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert result["holds"] is True
    assert "claim holds: yes (measured" in out and result["verdict"] in out
    assert len(result["losses"]["torch.optim.SGD"]) == 3
    for label, losses in result["losses"].items():
        assert losses[-1] < losses[0], label  # every run trains
    if result["figure"] is not None:
        assert pathlib.Path(result["figure"]).stat().st_size > 10_000
