"""optkit.torch tests: torch on one thread (tiny models; two OpenMP runtimes, torch's
and Numba's, spinning on two shared cores slow each other down)."""

import pytest


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
