"""Numba's pool starts with a passive OpenMP wait policy unless the user chose one, and
the environment is left as the user had it (each case in a fresh process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("numba")

PROBE = """
import json, os
import numpy as np
import optkit as ok
opt = ok.Adam([np.zeros(4, np.float32)], backend="numba")  # imports the executor
from optkit._exec.numba_threads import wait_policy
import numba
print(json.dumps({"policy": wait_policy(), "env": os.environ.get("OMP_WAIT_POLICY"),
                  "layer": numba.threading_layer()}))
"""


def _probe(**env: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    environ.update(env)
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=environ, capture_output=True, text=True,
        timeout=120, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_passive_by_default_and_the_environment_is_restored():
    seen = _probe()
    if seen["layer"] != "omp":
        pytest.skip(f"threading layer {seen['layer']!r}: no OpenMP wait policy")
    assert seen["policy"] == "PASSIVE (optkit's default)"
    assert seen["env"] is None  # other OpenMP runtimes see the user's environment


def test_the_users_choice_wins():
    seen = _probe(OMP_WAIT_POLICY="ACTIVE")
    assert seen["policy"] == "ACTIVE" and seen["env"] == "ACTIVE"


def test_info_reports_the_policy():
    from optkit._backend import backends

    entry = backends()["numba"]
    assert entry["omp_wait_policy"]
    assert entry["threads"] >= 1
