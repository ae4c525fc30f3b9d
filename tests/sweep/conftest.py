"""Fixtures of the sweep tests: worker processes import optkit from this checkout,
and a shared two-process LocalCluster."""

from __future__ import annotations

import os

import pytest
from _sweep_cases import ROOT, local_cluster


@pytest.fixture(scope="session", autouse=True)
def checkout_on_pythonpath():
    """Dask's worker processes (and CLI subprocesses) import this checkout's optkit."""
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *([old] if old else [])])
    yield
    if old is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = old


@pytest.fixture(scope="session")
def client(checkout_on_pythonpath):
    """Two worker processes shared by the tests that do not break them."""
    pytest.importorskip("distributed")
    cluster, dask_client = local_cluster()
    yield dask_client
    dask_client.close()
    cluster.close()
