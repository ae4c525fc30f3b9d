"""Record ``torch.optim`` trajectories as goldens for optkit's parity and precision tests.

Re-run from the repository root (needs torch, CPU build is enough)::

    python tools/make_torch_goldens.py

It overwrites ``tests/data/torch_goldens.npz``; ``tests/test_torch_parity.py``
reads it, so the parity check runs where torch is not installed. The output is
deterministic: fixed seed, float64 (parameters and, via the default dtype, torch's
scalar state such as NAdam's ``mu_product``), torch's single-tensor
(``foreach=False``) code path, one thread.

The problem: ``n = 8`` parameters with a gradient that depends on them,

    g(x) = Aᵀ(A x − b) + c · sin(x),     A ∈ R^{12×8}, b ∈ R^12, c = 0.1,

``A``, ``b`` and the starting point ``x0`` drawn from ``numpy.random.default_rng(SEED)``.
Each config runs ``STEPS`` steps from ``x0``. The configurations are the registry's
variants that torch has (``optkit.optim.registry.VARIANTS``).

Layout of the ``.npz`` (all plain arrays, loadable with ``allow_pickle=False``):

- ``problem/A``, ``problem/b``, ``problem/x0``, ``problem/c``: the problem above;
- ``<config_id>/params``: float64, shape ``(STEPS + 1, n)``; row 0 is ``x0``, row k
  the parameters after k steps;
- ``<config_id>/float64_60`` and ``<config_id>/float32_60``: 60-step trajectories of
  torch in float64 and in float32 (gradient computed in the run's dtype): how far
  torch's own float32 lands from float64 bounds optkit's float32 error;
- ``configs``: a JSON string, ``{config_id: {"optimizer": name, "kwargs": {...}}}``
  where ``name`` is the class name in both ``torch.optim`` and ``optkit`` and
  ``kwargs`` are passed unchanged to both (``betas`` as a list);
- ``meta``: a JSON string with the seed, steps and the torch version used.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

SEED = 20240613
N = 8
M = 12
STEPS = 30
SIN_COEF = 0.1
OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "torch_goldens.npz"

#: Steps of the float32-accuracy trajectories (float64 and float32 runs of torch).
PRECISION_STEPS = 60


def _configs() -> dict[str, tuple[str, dict]]:
    """Every registry variant that torch has: id -> (class name, kwargs)."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from optkit.optim.registry import VARIANTS

    out = {}
    for v in VARIANTS:
        if v.torch:
            kwargs = {
                k: list(x) if isinstance(x, tuple) else x for k, x in v.kwargs.items()
            }
            out[v.name] = (v.cls_name, kwargs)
    return out


CONFIGS = _configs()


def make_problem() -> dict[str, np.ndarray]:
    """``A``, ``b``, ``x0`` (float64) and the sine coefficient ``c``."""
    rng = np.random.default_rng(SEED)
    A = rng.normal(size=(M, N)) / np.sqrt(M)
    b = rng.normal(size=M)
    x0 = rng.normal(size=N)
    return {"A": A, "b": b, "x0": x0, "c": np.float64(SIN_COEF)}


def gradient(problem: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """g(x) = Aᵀ(Ax − b) + c·sin(x), in ``x``'s dtype."""
    A = problem["A"].astype(x.dtype)
    b = problem["b"].astype(x.dtype)
    c = x.dtype.type(problem["c"])
    return A.T @ (A @ x - b) + c * np.sin(x)


def torch_trajectory(
    problem: dict[str, np.ndarray], name: str, kwargs: dict, steps: int, dtype=np.float64
) -> np.ndarray:
    """Parameters after 0..steps steps of ``torch.optim.<name>(**kwargs)``."""
    import torch

    kwargs = dict(kwargs)
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    previous = torch.get_default_dtype()
    # torch keeps scalar state (NAdam's mu_product, the step counts) in the default
    # dtype; float32 there caps NAdam's agreement at ~1e-7. Float64 runs use float64.
    torch.set_default_dtype(torch.float64 if dtype == np.float64 else torch.float32)
    try:
        x = torch.tensor(problem["x0"].astype(dtype))
        opt = getattr(torch.optim, name)([x], foreach=False, **kwargs)
        rows = [x.numpy().copy()]
        for _ in range(steps):
            x.grad = torch.from_numpy(gradient(problem, x.numpy().copy()))
            opt.step()
            rows.append(x.numpy().copy())
    finally:
        torch.set_default_dtype(previous)
    return np.stack(rows)


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Like ``np.savez_compressed``, but byte-for-byte reproducible (fixed timestamps,
    sorted names), so re-running the script on the same torch leaves git clean."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key in sorted(arrays):
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w") as fh:
                np.lib.format.write_array(fh, np.asarray(arrays[key]), allow_pickle=False)
    tmp.replace(path)


def main() -> None:
    import torch

    torch.set_num_threads(1)
    problem = make_problem()
    arrays: dict[str, np.ndarray] = {
        f"problem/{k}": np.asarray(v) for k, v in problem.items()
    }
    for config_id, (name, kwargs) in CONFIGS.items():
        traj = torch_trajectory(problem, name, kwargs, STEPS)
        if not np.all(np.isfinite(traj)):
            raise RuntimeError(f"{config_id}: trajectory is not finite")
        arrays[f"{config_id}/params"] = traj
        for dtype in (np.float64, np.float32):
            long = torch_trajectory(problem, name, kwargs, PRECISION_STEPS, dtype)
            arrays[f"{config_id}/{np.dtype(dtype).name}_{PRECISION_STEPS}"] = long
    # Sanity: variants must actually change the trajectory (else the config is useless).
    for variant, base in [
        ("adam_amsgrad", None),
        ("adamw_amsgrad", "adamw"),
        ("sgd_dampening", "sgd_momentum"),
        ("rmsprop_centered", "rmsprop"),
    ]:
        if base is None:
            name, kwargs = CONFIGS[variant]
            kwargs = {k: v for k, v in kwargs.items() if k != "amsgrad"}
            other = torch_trajectory(problem, name, kwargs, STEPS)
        else:
            other = arrays[f"{base}/params"]
        if np.allclose(arrays[f"{variant}/params"], other, rtol=1e-9, atol=0):
            raise RuntimeError(f"{variant} does not differ from its base config")
    arrays["configs"] = np.asarray(
        json.dumps(
            {cid: {"optimizer": n, "kwargs": kw} for cid, (n, kw) in CONFIGS.items()},
            sort_keys=True,
        )
    )
    arrays["meta"] = np.asarray(
        json.dumps(
            {
                "seed": SEED,
                "steps": STEPS,
                "torch": torch.__version__,
                "script": "tools/make_torch_goldens.py",
            },
            sort_keys=True,
        )
    )
    write_npz(OUT, arrays)
    print(
        f"wrote {len(CONFIGS)} configs x {STEPS} steps to {OUT} ({OUT.stat().st_size} bytes)"
    )


if __name__ == "__main__":
    main()
