"""Record torch BatchNorm results into ``tests/data/batchnorm_goldens.npz``.

Usage::

    python tools/make_batchnorm_goldens.py            # needs torch (CPU build)

For each case of :data:`CASES` a ``torch.nn.BatchNorm1d``/``BatchNorm2d`` in float64
with non-trivial γ, β runs ``batches`` training steps (forward, then backward of a
given ``dy``) and one eval step; the file keeps the inputs, every output, every
gradient and the running statistics after each step, so that
``tests/test_batch_norm_goldens.py`` checks parity without torch. Keys are
``<case>/<field>``; per-step fields are stacked along a first axis of length
``batches + 1`` (the last step runs in eval mode): ``x``, ``dy``, ``y``, ``dx``,
``dweight``, ``dbias`` (with ``affine``), ``running_mean``, ``running_var``,
``num_batches_tracked`` (with ``track_running_stats``; values after the step);
``weight`` and ``bias`` are the initial γ, β. ``configs`` and ``meta`` are JSON
strings. Shapes are tiny: the file stays around 50 kB.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "batchnorm_goldens.npz"

#: name -> configuration (module kind, input shape, BatchNorm keywords, batches).
CASES = {
    "bn1d_2d": {"module": "1d", "shape": [8, 5], "momentum": 0.1, "batches": 3},
    "bn1d_3d": {"module": "1d", "shape": [5, 4, 3], "momentum": 0.3, "batches": 3},
    "bn2d": {"module": "2d", "shape": [4, 3, 2, 3], "momentum": 0.1, "batches": 3},
    "bn2d_cumulative": {
        "module": "2d",
        "shape": [3, 3, 2, 3],
        "momentum": None,
        "batches": 4,
    },
    "bn1d_no_affine": {"module": "1d", "shape": [6, 4], "affine": False, "batches": 2},
    "bn2d_no_tracking": {
        "module": "2d",
        "shape": [3, 2, 3, 3],
        "track_running_stats": False,
        "batches": 2,
    },
    "bn1d_eps": {
        "module": "1d",
        "shape": [7, 3],
        "eps": 1e-2,
        "momentum": 0.5,
        "batches": 2,
    },
    "bn1d_two_rows": {"module": "1d", "shape": [2, 3], "batches": 2},
}


def batch(rng: np.random.Generator, shape: list[int]) -> np.ndarray:
    """Channel c has mean ~ 3c − 2 and standard deviation ~ 1 + c/2 (axis 1)."""
    channels = shape[1]
    view = [1, channels] + [1] * (len(shape) - 2)
    mean = (3.0 * np.arange(channels) - 2.0).reshape(view)
    std = (1.0 + 0.5 * np.arange(channels)).reshape(view)
    return rng.standard_normal(shape) * std + mean


def record(torch, name: str, config: dict, seed: int) -> dict[str, np.ndarray]:
    """Run one case in torch, float64; return its arrays keyed ``<name>/<field>``."""
    rng = np.random.default_rng(seed)
    cls = torch.nn.BatchNorm1d if config["module"] == "1d" else torch.nn.BatchNorm2d
    keywords = {
        k: config[k]
        for k in ("eps", "momentum", "affine", "track_running_stats")
        if k in config
    }
    shape, channels = config["shape"], config["shape"][1]
    module = cls(channels, dtype=torch.float64, **keywords)
    out: dict[str, list] = {}
    if module.affine:
        with torch.no_grad():
            module.weight.copy_(torch.from_numpy(rng.uniform(0.5, 1.5, channels)))
            module.bias.copy_(torch.from_numpy(rng.standard_normal(channels)))
        out["weight"] = module.weight.detach().numpy().copy()
        out["bias"] = module.bias.detach().numpy().copy()
    for step in range(config["batches"] + 1):  # the last step runs in eval mode
        module.train(step < config["batches"])
        x = torch.from_numpy(batch(rng, shape)).requires_grad_(True)
        dy = torch.from_numpy(rng.standard_normal(shape))
        if module.affine:
            module.weight.grad = module.bias.grad = None
        y = module(x)
        y.backward(dy)
        fields = {"x": x.detach(), "dy": dy, "y": y.detach(), "dx": x.grad}
        if module.affine:
            fields.update(dweight=module.weight.grad, dbias=module.bias.grad)
        if module.track_running_stats:
            fields.update(
                running_mean=module.running_mean,
                running_var=module.running_var,
                num_batches_tracked=module.num_batches_tracked,
            )
        for key, value in fields.items():
            out.setdefault(key, []).append(value.numpy().copy())
    return {f"{name}/{k}": np.array(v) for k, v in out.items()}


def main() -> None:
    import torch

    torch.manual_seed(0)
    arrays: dict[str, np.ndarray] = {}
    for seed, (name, config) in enumerate(CASES.items()):
        arrays.update(record(torch, name, config, seed))
    arrays["configs"] = np.array(json.dumps(CASES))
    meta = {"torch": torch.__version__, "numpy": np.__version__, "dtype": "float64"}
    arrays["meta"] = np.array(json.dumps(meta))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.1f} kB, {len(arrays)} arrays)")


if __name__ == "__main__":
    main()
