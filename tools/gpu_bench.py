"""GPU benchmark of optkit's CuPy backend: Adam and SGD steps vs HBM bandwidth and torch.

Run it on a machine with an NVIDIA GPU (normally through ``tools/gpu_check.sh``)::

    python tools/gpu_bench.py [--out DIR] [--min-exp 20] [--max-exp 28] [--budget 150]

It measures, with ``cupyx.profiler.benchmark`` (CUDA events; never a bare host
clock), float32 steps of Adam and SGD with momentum at 2^min-exp ... 2^max-exp
parameters:

* ``step``: the whole ``opt.step(g)`` call (``nonfinite="propagate"``, as torch);
* ``kernel``: the generated ElementwiseKernel alone, hyperparameters pre-cast (this
  reaches into optkit's executor; where its internals have changed the column is
  left empty and a note says why);
* ``torch``: ``torch.optim.Adam`` / ``SGD`` with ``fused=True`` on CUDA, same data;
* ``r4w3``/``r3w2``: an ElementwiseKernel with the same memory traffic and trivial
  math, the same-process roofline.

Effective bandwidth counts each array read or written once (Adam 28 bytes per
float32 parameter, SGD-momentum 20); "frac" is GB/s over ``--peak-tbs`` (4.8 TB/s,
H200 HBM3e); "vs torch" is torch's time over optkit's (> 1: optkit is faster).
Then 200 tensors of 4K-64K parameters: one FlatParams step vs torch fused Adam
over the 200 tensors. The GPU target: at >= 2^26, step frac >= 0.80 and vs torch
>= 0.95.

Writes ``gpu_bench.json`` and ``gpu_bench.txt`` into ``--out`` (default ``$OUT`` or
``./gpu-results``). Without a usable GPU it says why, writes a JSON with the reason
and exits with status 2. It stops measuring (and says so) after ``--budget``
seconds, so that the GPU check stays within its time limit.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # optkit from this working tree

#: Bytes moved per float32 parameter by one fused step (read once, write once).
BYTES_PER_PARAM = {"adam": 28, "sgd_momentum": 20}
TARGET_MIN_EXP, TARGET_FRACTION, TARGET_VS_TORCH = 26, 0.80, 0.95


def parse_args(argv=None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.environ.get("OUT", "gpu-results"))
    parser.add_argument("--min-exp", type=int, default=20)
    parser.add_argument("--max-exp", type=int, default=28)
    parser.add_argument("--peak-tbs", type=float, default=4.8)
    parser.add_argument("--budget", type=float, default=150.0, help="seconds")
    parser.add_argument("--max-duration", type=float, default=0.4, help="per timing, s")
    parser.add_argument("--block-sizes", default="128,256,512")
    parser.add_argument("--tensors", type=int, default=200)
    parser.add_argument("--no-torch", action="store_true")
    args = parser.parse_args(argv)
    if not 10 <= args.min_exp <= args.max_exp <= 31:
        parser.error("need 10 <= --min-exp <= --max-exp <= 31")
    args.block_sizes = [int(b) for b in str(args.block_sizes).split(",") if b]
    return args


def gpu_status() -> tuple[bool, str]:
    """(usable, reason): CuPy importable and at least one CUDA device."""
    try:
        import cupy
    except Exception as exc:  # not installed, or a broken install
        return False, f"CuPy is not importable ({type(exc).__name__}: {exc})"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        return False, f"no CUDA device ({type(exc).__name__}: {exc})"
    return (count > 0, "" if count else "CuPy sees no CUDA device")


def effective_gbs(n: int, bytes_per_param: int, seconds: float | None) -> float | None:
    """Effective bandwidth in GB/s (1e9 bytes) of one step over ``n`` parameters."""
    if not seconds:
        return None
    return n * bytes_per_param / seconds / 1e9


def _ms(x):
    return "-" if x is None else f"{x * 1e3:.3f}"


def _num(x, fmt):
    return "-" if x is None else format(x, fmt)


def format_row(row: dict) -> str:
    """One line of the table: a rule at one size."""
    return (
        f"{row['rule']:<13}{'2^' + str(row['exp']):>6}{_ms(row.get('step_s')):>10}"
        f"{_num(row.get('step_gbs'), '.0f'):>8}{_num(row.get('step_frac'), '.3f'):>7}"
        f"{_num(row.get('kernel_frac'), '.3f'):>8}{_num(row.get('roof_frac'), '.3f'):>7}"
        f"{_ms(row.get('torch_s')):>10}{_num(row.get('vs_torch'), '.3f'):>9}"
    )


def format_table(report: dict) -> str:
    """A short text table of a report made by :func:`main` (also for tests)."""
    peak = report["peak_tbs"]
    lines = [
        f"optkit CuPy benchmark on {report.get('device', '?')} "
        f"(peak {peak} TB/s; frac = GB/s / peak; vs torch = torch ms / optkit ms)",
        f"{'rule':<13}{'n':>6}{'step ms':>10}{'GB/s':>8}{'frac':>7}{'kernel':>8}"
        f"{'roof':>7}{'torch ms':>10}{'vs torch':>9}",
    ]
    lines += [format_row(row) for row in report["single"]]
    many = report.get("many")
    if many:
        lines.append(
            f"{many['tensors']} tensors ({many['params']} params) Adam: FlatParams "
            f"{_ms(many.get('step_s'))} ms, torch fused {_ms(many.get('torch_s'))} ms, "
            f"vs torch {_num(many.get('vs_torch'), '.2f')}"
        )
    for bs, frac in report.get("block_sizes", {}).items():
        lines.append(f"block size {bs}: Adam kernel frac {_num(frac, '.3f')}")
    target = report.get("target")
    if target:
        verdict = {True: "PASS", False: "FAIL"}.get(target["pass"], "n/a")
        lines.append(
            f"GPU target (Adam >= 2^{TARGET_MIN_EXP}): {verdict} - {target['detail']}"
        )
    for note in report.get("notes", []):
        lines.append(f"note: {note}")
    return "\n".join(lines)


def target_verdict(rows: list[dict]) -> dict:
    """The GPU target from the Adam rows at >= 2^26 (None when nothing was measured)."""
    big = [r for r in rows if r["rule"] == "adam" and r["exp"] >= TARGET_MIN_EXP]
    big = [r for r in big if r.get("step_frac") is not None]
    if not big:
        return {"pass": None, "detail": f"no Adam size >= 2^{TARGET_MIN_EXP} was measured"}
    frac = min(r["step_frac"] for r in big)
    ratios = [r["vs_torch"] for r in big if r.get("vs_torch") is not None]
    ok = frac >= TARGET_FRACTION and (not ratios or min(ratios) >= TARGET_VS_TORCH)
    detail = f"min frac {frac:.3f} (>= {TARGET_FRACTION})"
    detail += f", min vs torch {min(ratios):.3f} (>= {TARGET_VS_TORCH})" if ratios else ""
    return {"pass": ok, "detail": detail + ("" if ratios else ", torch not measured")}


# ----------------------------------------------------------------------- measuring
class Clock:
    """GPU timings within a wall-clock budget."""

    def __init__(self, budget: float, max_duration: float):
        self.start, self.budget, self.max_duration = time.monotonic(), budget, max_duration

    def left(self) -> float:
        return self.budget - (time.monotonic() - self.start)

    def time(self, fn) -> float:
        """Median GPU seconds per call of ``fn`` (cupyx.profiler.benchmark)."""
        from cupyx.profiler import benchmark

        result = benchmark(fn, n_repeat=2000, n_warmup=5, max_duration=self.max_duration)
        return float(np.median(result.gpu_times[0]))


def _torch_cuda():
    try:
        import torch
    except Exception as exc:
        return None, f"torch is not importable ({exc})"
    if not torch.cuda.is_available():
        return None, "torch has no CUDA"
    return torch, ""


def _roofline(cupy, reads: int):
    """An ElementwiseKernel reading ``reads`` arrays and writing ``reads - 1``."""
    outs = ", ".join(f"T o{k}" for k in range(reads - 1))
    body = " ".join(f"o{k} = o{k} + g;" for k in range(reads - 1))
    return cupy.ElementwiseKernel(
        "T g", outs, body, f"optkit_roof_r{reads}", no_return=True
    )


def bench_single(rule: str, exp: int, clock: Clock, torch, args) -> dict:
    """One float32 tensor of 2^exp parameters: optkit step and kernel, roofline, torch."""
    import cupy

    import optkit as ok

    n = 1 << exp
    rng = cupy.random.default_rng(exp)
    p = rng.standard_normal(n, dtype=cupy.float32)
    g = rng.standard_normal(n, dtype=cupy.float32)
    if torch is not None:  # the same data, in torch's own memory, before any step
        tp = torch.from_dlpack(p).clone().requires_grad_()
        tp.grad = torch.from_dlpack(g).clone()
    if rule == "adam":
        opt = ok.Adam(p, lr=1e-3, backend="cupy", nonfinite="propagate")
    else:
        opt = ok.SGD(p, lr=1e-3, momentum=0.9, backend="cupy", nonfinite="propagate")
    row = {"rule": rule, "exp": exp, "n": n}
    bpp = BYTES_PER_PARAM[rule]
    row["step_s"] = clock.time(lambda: opt.step(g))
    try:
        row["kernel_s"] = clock.time(_kernel_alone(opt, p, g))
    except Exception as exc:  # the executor's internals changed: keep the rest
        row["kernel_note"] = f"kernel alone not timed: {type(exc).__name__}: {exc}"
    states = [cupy.zeros_like(p) for _ in range(bpp // 8 - 1)]  # adam: m, v
    roof = _roofline(cupy, bpp // 8 + 1)  # adam: r4w3, sgd momentum: r3w2
    row["roof_s"] = clock.time(lambda: roof(g, *states, p))
    for key in ("step", "kernel", "roof"):
        gbs = effective_gbs(n, bpp, row.get(f"{key}_s"))
        row[f"{key}_gbs"] = gbs
        row[f"{key}_frac"] = None if gbs is None else gbs / (args.peak_tbs * 1e3)
    if torch is not None:
        if rule == "adam":
            topt = torch.optim.Adam([tp], lr=1e-3, fused=True)
        else:
            topt = torch.optim.SGD([tp], lr=1e-3, momentum=0.9, fused=True)
        row["torch_s"] = clock.time(topt.step)
        row["vs_torch"] = row["torch_s"] / row["step_s"]
    return row


def _kernel_alone(opt, p, g):
    """The generated kernel of ``opt`` with its host values computed once (internal
    API: the executor's ``update`` without the optimizer's checks)."""
    from optkit._exec import host_values

    values = {k: opt.param_groups[0][k] for k in opt.defaults}
    update_rule = opt.rule_for(values)
    states = tuple(opt.state["param"][s] for s in update_rule.state)
    group_state = dict(opt.group_state[0])
    host = opt.host_hypers(values, group_state.get("step", 0) + 1, group_state)
    lifted = host_values(update_rule, host)
    update = opt._backends[0].executor.update
    return lambda: update(update_rule, p, g, states, lifted)


def _release(torch) -> None:
    """Give cached device memory back between sizes (called after each benchmark)."""
    import cupy

    cupy.get_default_memory_pool().free_all_blocks()
    if torch is not None:
        torch.cuda.empty_cache()


def bench_many(count: int, clock: Clock, torch) -> dict:
    """``count`` tensors of 4K-64K float32: one FlatParams vs torch fused Adam."""
    import cupy

    import optkit as ok

    rng = np.random.default_rng(0)
    sizes = rng.integers(4096, 65537, size=count)
    host = {
        f"t{k}": rng.standard_normal(int(s), dtype=np.float32) for k, s in enumerate(sizes)
    }
    flat = ok.FlatParams({k: cupy.asarray(v) for k, v in host.items()})
    grads = flat.zeros_like()
    for k, v in host.items():
        grads[k][...] = cupy.asarray(v)
    opt = ok.Adam(flat, lr=1e-3, nonfinite="propagate")
    out = {"tensors": count, "params": int(sizes.sum())}
    out["step_s"] = clock.time(lambda: opt.step(grads))
    if torch is not None:
        tensors = [
            torch.as_tensor(v, device="cuda").requires_grad_() for v in host.values()
        ]
        for t, v in zip(tensors, host.values()):
            t.grad = torch.as_tensor(v, device="cuda")
        topt = torch.optim.Adam(tensors, lr=1e-3, fused=True)
        out["torch_s"] = clock.time(topt.step)
        out["vs_torch"] = out["torch_s"] / out["step_s"]
    return out


def bench_block_sizes(exp: int, sizes: list[int], clock: Clock, args) -> dict:
    """Adam kernel frac at 2^exp for each block size (sets the executor's internal
    ``BLOCK_SIZE``; empty where the executor has none)."""
    from optkit._exec import cupy as cupy_exec

    if not hasattr(cupy_exec, "BLOCK_SIZE"):
        return {}
    default, out = cupy_exec.BLOCK_SIZE, {}
    try:
        for bs in sizes:
            cupy_exec.BLOCK_SIZE = bs
            out[str(bs)] = bench_single("adam", exp, clock, None, args)["kernel_frac"]
            _release(None)
    finally:
        cupy_exec.BLOCK_SIZE = default
    return out


def _environment() -> dict:
    import cupy

    props = cupy.cuda.runtime.getDeviceProperties(0)
    name = props["name"]
    return {
        "device": name.decode() if isinstance(name, bytes) else str(name),
        "cupy": cupy.__version__,
        "cuda_runtime": cupy.cuda.runtime.runtimeGetVersion(),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }


def _write(out: Path, report: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_bench.json").write_text(json.dumps(report, indent=2))
    if report.get("status") == "ok":
        (out / "gpu_bench.txt").write_text(format_table(report) + "\n")


def main(argv=None) -> int:
    """Run the benchmark; 0 when measured, 2 without a GPU."""
    args = parse_args(argv)
    out = Path(args.out)
    usable, reason = gpu_status()
    if not usable:
        print(
            f"gpu_bench: nothing measured: {reason}. Run this on a machine with an "
            f"NVIDIA GPU and CuPy (see tools/gpu_check.sh)."
        )
        _write(out, {"status": "no-gpu", "reason": reason})
        return 2
    torch, why = (None, "--no-torch") if args.no_torch else _torch_cuda()
    report = {"status": "ok", "peak_tbs": args.peak_tbs, **_environment(), "notes": []}
    if torch is None:
        report["notes"].append(f"torch not measured: {why}")
    else:
        report["torch"] = torch.__version__
    clock = Clock(args.budget, args.max_duration)
    report["single"] = []
    print("\n".join(format_table(report).splitlines()[:2]), flush=True)  # header
    for exp in range(args.min_exp, args.max_exp + 1):
        for rule in ("adam", "sgd_momentum"):
            if clock.left() <= 0:
                report["notes"].append(f"budget spent: stopped before {rule} 2^{exp}")
                break
            report["single"].append(bench_single(rule, exp, clock, torch, args))
            note = report["single"][-1].get("kernel_note")
            if note and note not in report["notes"]:
                report["notes"].append(note)
            _release(torch)
            print(format_row(report["single"][-1]), flush=True)
    if clock.left() > 0:
        report["many"] = bench_many(args.tensors, clock, torch)
    if clock.left() > 0 and args.block_sizes:
        exp = min(args.max_exp, TARGET_MIN_EXP)
        report["block_sizes"] = bench_block_sizes(exp, args.block_sizes, clock, args)
    report["target"] = target_verdict(report["single"])
    _write(out, report)
    print(format_table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
