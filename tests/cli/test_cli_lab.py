"""``optkit race`` and ``optkit lab list``: output, figure, bounded arguments."""

from __future__ import annotations

import subprocess
import sys

import pytest

from optkit import cli, problems
from optkit.lab.claims import CLAIMS


def test_lab_list_names_every_problem_and_claim(capsys):
    assert cli.main(["lab", "list"]) == 0
    out = capsys.readouterr().out
    for name in problems.names():
        assert f"  {name} " in out
    for claim in CLAIMS:
        assert claim.script in out and claim.section in out


def test_lab_alone_prints_its_help(capsys):
    assert cli.main(["lab"]) == 2
    assert "list" in capsys.readouterr().out


def test_race_prints_a_ranked_table_and_saves_the_figure(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    figure = tmp_path / "race.png"
    code = cli.main(["race", "--problem", "quadratic", "--dim", "4", "--steps", "300",
                     "--starts", "2", "--lrs", "4", "--optimizers", "sgd,adam",
                     "--plot", str(figure)])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("quadratic(dim=4") and "300 steps, 2 start(s)" in lines[0]
    ranked = [line.split()[0] for line in lines[2:4]]
    assert ranked == ["1", "2"]
    assert {"SGD", "Adam"} == {line.split()[1] for line in lines[2:4]}
    assert f"figure: {figure}" in out and figure.read_bytes()[:4] == b"\x89PNG"


BAD = [
    (["--problem", "nope"], "unknown problem 'nope'"),
    (["--problem", "beale", "--dim", "3"], "problem 'beale' has a fixed dimension"),
    (["--dim", "1"], "argument --dim: dim=1: must be >= 2"),
    (["--dim", "0"], "dim must be in [1, 100000]"),
    (["--dim", "10**9"], "not an integer"),
    (["--steps", "0"], "steps must be in [1, 10000000]"),
    (["--steps", "1e9"], "not an integer"),
    (["--starts", "10001"], "starts must be in [1, 10000]"),
    (["--lrs", "65"], "lrs must be in [1, 64]"),
    (["--seed", "-1"], "seed must be in"),
    (["--tol", "nan"], "tol must be a finite number > 0"),
    (["--tol", "-1"], "tol must be a finite number > 0"),
    (["--optimizers", "adam,lbfgs"], "unknown optimizer 'lbfgs'"),
    (["--optimizers", ","], "give at least one optimizer name"),
    (["--backend", "tpu"], "invalid choice: 'tpu'"),
    (["--plot", "out.txt"], "must end in .png, .pdf, .svg"),
    (["--plot", "/no/such/folder/out.png"], "does not exist"),
    (["--problem", "quadratic", "--dim", "100000", "--starts", "100"], "is more than"),
]


@pytest.mark.parametrize(("args", "message"), BAD)
def test_bad_arguments_are_usage_errors(args, message, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["race", *args])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_usage_error_in_a_real_process_has_no_traceback():
    done = subprocess.run(
        [sys.executable, "-m", "optkit", "race", "--problem", "nope"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert "unknown problem 'nope'" in done.stderr and "Traceback" not in done.stderr
