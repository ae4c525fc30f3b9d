"""What the benchmark report shows: kernels, their charts' data, the summary lines.

Pure data shaping over :class:`optkit.bench.asv_results.Record` (no HTML, no
matplotlib), so it is tested on its own. Ratios pair points of the same machine
and parameters: ``time / peer time`` (the torch peer on the same device) and
``roofline time / time`` (the fraction of attainable bandwidth).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field

from optkit.bench.asv_results import Record
from optkit.bench.machine import peer_of, roofline_of
from optkit.optim.registry import ALGORITHMS

__all__ = ["SECTIONS", "Kernel", "View", "format_value", "kernel_view", "summary"]

OPTKIT_BACKENDS = ("numpy", "numba", "cupy")
SUMMARY_BACKENDS = ("numba", "cupy")
DTYPE_ORDER = {"float32": 0, "float64": 1}


@dataclass(frozen=True)
class Kernel:
    """One chart: a benchmark (``Class.method``), the parameter on the x axis, the
    parameters held fixed, and which torch peer the ratios use."""

    benchmark: str
    title: str
    slug: str
    x: str
    fixed: tuple[tuple[str, str], ...] = ()
    optimizer_peer: bool = False
    note: str = ""


def _optimizer_kernels() -> list[Kernel]:
    return [
        Kernel("OptimizerStep.time_step", f"{a.label} step", f"step_{name}", "size",
               (("optimizer", name),), True)
        for name, a in ALGORITHMS.items()
    ]  # fmt: skip


SECTIONS: dict[str, list[Kernel]] = {
    "Optimizer steps": _optimizer_kernels(),
    "BatchNorm": [
        Kernel("BatchNorm.time_forward_backward", "BatchNorm forward + backward, by layout",
               "batch_norm_forward_backward", "shape",
               note="Training mode; channels on axis 1 ((N, C), NCHW) or last (N, H, W, C; "
               "torch: channels_last memory format). Roofline: four copies of x."),
        Kernel("BatchNorm.time_forward", "BatchNorm forward, by layout",
               "batch_norm_forward", "shape"),
    ],
    "LayerNorm": [
        Kernel("LayerNorm.time_forward_backward", "LayerNorm forward + backward",
               "layer_norm", "shape"),
    ],
    "Clipping": [
        Kernel("ClipByGlobalNorm.time_clip", "Global-norm clipping (over the limit)",
               "clip_by_global_norm", "size",
               note="8 arrays; torch: clip_grad_norm_. Roofline: a read pass and a "
               "scaling pass."),
    ],
    "Host overhead and many tensors": [
        Kernel("SmallStep.time_step", "Whole opt.step at 4,096 float32 parameters",
               "small_step", "optimizer", optimizer_peer=True),
        Kernel("ManyTensors.time_adam_step", "Adam over 200 tensors of 4K-64K elements",
               "many_tensors", "", optimizer_peer=True,
               note="optkit: one FlatParams; torch: the 200 tensors."),
    ],
    "Population": [
        Kernel("Population.time_population", "1,000 Rosenbrock problems, Adam",
               "population", "steps",
               note="optkit: one optimizer with an array lr; torch-loop: 1,000 torch "
               "optimizers stepped in a Python loop."),
    ],
}  # fmt: skip


@dataclass
class View:
    """A kernel's chart data and table."""

    panels: list[tuple[str, dict[str, dict[str, float]]]]
    groups: list[str]
    series: list[str]
    ylabel: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    left: int = 2


def size_label(text: str) -> str:
    """``'16777216'`` -> ``'2^24'``; other values unchanged.

    Examples
    --------
    >>> size_label("16777216"), size_label("1000"), size_label("(8, 4)")
    ('2^24', '1000', '(8, 4)')
    """
    if text.isdigit():
        n = int(text)
        if n > 1 and n & (n - 1) == 0:
            return f"2^{n.bit_length() - 1}"
    return text


def format_value(value: float, unit: str) -> str:
    """A measured value with its unit (times as ms/us, bytes as MB).

    Examples
    --------
    >>> format_value(0.0123, "seconds"), format_value(9.4e-6, "seconds")
    ('12.3 ms', '9.4 us')
    >>> format_value(3e8, "bytes"), format_value(0.891, "fraction")
    ('300 MB', '0.891')
    """
    if unit == "seconds":
        if value >= 1:
            return f"{value:.2f} s"
        return f"{value * 1e3:.3g} ms" if value >= 1e-3 else f"{value * 1e6:.3g} us"
    if unit == "bytes":
        return f"{value / 1e6:.0f} MB"
    return f"{value:.3g}"


def _matches(record: Record, kernel: Kernel) -> bool:
    return record.kernel == kernel.benchmark and all(
        record.param(k) == v for k, v in kernel.fixed
    )


def _key(record: Record, backend: str) -> tuple:
    """The index of ``record``'s point with another backend."""
    params = tuple((k, v) for k, v in record.params if k != "backend")
    return (record.machine, record.kernel, params, backend)


def _index(records: list[Record]) -> dict[tuple, Record]:
    return {_key(r, r.param("backend")): r for r in records}


def ratios(record: Record, index: dict[tuple, Record], optimizer_peer: bool) -> tuple:
    """(time / peer time, peer name, roofline time / time) with None where absent."""
    backend = record.param("backend")
    peer = "torch-loop" if record.kernel.startswith("Population") else peer_of(
        backend, optimizer_peer
    )  # fmt: skip
    peer_rec = index.get(_key(record, peer))
    roof_rec = index.get(_key(record, roofline_of(backend)))
    vs_peer = record.value / peer_rec.value if peer_rec and peer != backend else None
    of_roof = roof_rec.value / record.value if roof_rec else None
    return vs_peer, peer, of_roof


def ratio_text(vs_peer: float | None, peer: str) -> str:
    """A time ratio to a peer, with the speed-up when faster.

    Examples
    --------
    >>> ratio_text(1.0, "torch-fused"), ratio_text(0.4, "torch")
    ('1.00x torch-fused', '0.40x torch (2.5x faster)')
    >>> ratio_text(0.002, "torch-loop")
    '0.002x torch-loop (500x faster)'
    """
    if vs_peer is None:
        return "-"
    text = f"{vs_peer:.2f}" if vs_peer >= 0.095 else f"{vs_peer:.2g}"
    speedup = 1 / vs_peer
    faster = "" if vs_peer >= 1 else (
        f" ({speedup:.1f}x faster)" if speedup < 100 else f" ({speedup:.0f}x faster)")  # fmt: skip
    return f"{text}x {peer}{faster}"


def kernel_view(kernel: Kernel, records: list[Record], many_machines: bool) -> View | None:
    """Bars (panels by dtype, groups by ``kernel.x``, series by backend) and a table."""
    points = [r for r in records if _matches(r, kernel)]
    if not points:
        return None
    index = _index([r for r in records if r.kernel == kernel.benchmark])
    order = {b: i for i, b in enumerate(
        ("numpy", "numba", "cupy", "torch", "torch-fused", "torch-foreach", "torch-loop",
         "torch-cuda", "torch-cuda-fused", "roofline", "roofline-cuda"))}  # fmt: skip
    points.sort(key=lambda r: (r.machine, order.get(r.param("backend"), 99),
                               _numeric(r.param(kernel.x)), DTYPE_ORDER.get(r.param("dtype"), 9)))  # fmt: skip
    label = (lambda r: f"{r.param('backend')} @ {r.machine}") if many_machines else (
        lambda r: r.param("backend"))  # fmt: skip
    series = list(dict.fromkeys(label(r) for r in points))
    groups = list(dict.fromkeys(size_label(r.param(kernel.x)) or "-" for r in points))
    panel_values: dict[str, dict[str, dict[str, float]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    header = ["backend"] + (["machine"] if many_machines else [])
    header += [kernel.x or "", "dtype", "time", "vs torch (time ratio)", "of roofline"]
    rows = []
    for r in points:
        group = size_label(r.param(kernel.x)) or "-"
        panel_values[r.param("dtype") or ""][label(r)][group] = r.value
        vs_peer, peer, of_roof = ratios(r, index, kernel.optimizer_peer)
        rows.append([r.param("backend")] + ([r.machine] if many_machines else []) + [
            group, r.param("dtype") or "-", format_value(r.value, r.unit),
            ratio_text(vs_peer, peer), "-" if of_roof is None else f"{of_roof:.2f}",
        ])  # fmt: skip
    panels = [(dtype or kernel.title, panel_values[dtype])
              for dtype in sorted(panel_values, key=lambda d: DTYPE_ORDER.get(d, 9))]  # fmt: skip
    return View(panels, groups, series, "time per call (s)", header, rows,
                2 if many_machines else 1)  # fmt: skip


def _numeric(text: str) -> tuple:
    """Sort key: numbers by value, shapes like ``'(64, 8) NCHW'`` by element count."""
    if text.isdigit():
        return (0, int(text), "")
    dims = re.match(r"\(([\d, ]+)\)", text)
    if dims:
        return (0, math.prod(int(d) for d in dims.group(1).split(",") if d.strip()), text)
    return (1, 0, text)


@dataclass(frozen=True)
class SummaryLine:
    machine: str
    what: str
    sentence: str


def _largest(points: list[Record], x: str) -> list[Record]:
    top = max(_numeric(r.param(x)) for r in points)
    return [r for r in points if _numeric(r.param(x)) == top]


def summary(records: list[Record]) -> list[SummaryLine]:
    """One line per (machine, fast backend, headline kernel): Adam at its largest size,
    BatchNorm per layout, clipping, many tensors, the small step, the population."""
    index = _index(records)
    lines = []
    picks = [
        ("Adam step", "OptimizerStep.time_step", (("optimizer", "adam"),), "size", True),
        ("BatchNorm fwd+bwd", "BatchNorm.time_forward_backward", (), "", False),
        ("LayerNorm fwd+bwd", "LayerNorm.time_forward_backward", (), "", False),
        ("global-norm clip", "ClipByGlobalNorm.time_clip", (), "size", False),
        ("Adam, 200 tensors", "ManyTensors.time_adam_step", (), "", True),
        ("Adam opt.step, 4,096 params", "SmallStep.time_step", (("optimizer", "adam"),), "", True),
        ("population", "Population.time_population", (), "", False),
    ]  # fmt: skip
    for what, bench, fixed, largest, opt_peer in picks:
        for backend in SUMMARY_BACKENDS:
            points = [r for r in records if r.kernel == bench and r.param("backend") == backend
                      and r.param("dtype", "float32") == "float32"
                      and all(r.param(k) == v for k, v in fixed)]  # fmt: skip
            for machine in sorted({r.machine for r in points}):
                mine = [r for r in points if r.machine == machine]
                for r in _largest(mine, largest) if largest else mine:
                    lines.append(
                        SummaryLine(machine, what, _sentence(what, r, index, opt_peer))
                    )
    return lines


def _sentence(what: str, r: Record, index: dict, optimizer_peer: bool) -> str:
    """'numba Adam step at 2^24 float32: 9.1 ms, 1.00x torch-fused time, 0.89 of
    roofline'."""
    vs_peer, peer, of_roof = ratios(r, index, optimizer_peer)
    where = [size_label(v) if k in ("size", "shape", "dtype") else f"{v} {k}"
             for k, v in r.params if k not in ("backend", "optimizer")]  # fmt: skip
    head = f"{r.param('backend')} {what}" + (f" at {' '.join(where)}" if where else "")
    parts = [format_value(r.value, r.unit)]
    if vs_peer is not None:
        parts.append(ratio_text(vs_peer, peer).replace(f"x {peer}", f"x {peer} time", 1))
    if of_roof is not None:
        parts.append(f"{of_roof:.2f} of roofline")
    return f"{head}: {', '.join(parts)}"


@dataclass(frozen=True)
class TargetRow:
    machine: str
    backend: str
    what: str
    value: str
    goal: str
    holds: bool | None


def target_rows(records: list[Record]) -> list[TargetRow]:
    """The ``Targets.track_*`` points with their goals."""
    from optkit.bench import targets

    rows = []
    for r in sorted(records, key=lambda r: (r.machine, r.param("backend"), r.kernel)):
        if not r.kernel.startswith(("Targets.track_", "TargetsGpu.track_")):
            continue
        key = r.kernel.split(".track_", 1)[1]
        target = targets.Target(key, targets.DESCRIPTIONS.get(key, key), r.value)
        rows.append(TargetRow(r.machine, r.param("backend"), target.label,
                              targets.format_value(r.value, target.unit),
                              targets.goal_text(key), target.holds))  # fmt: skip
    return rows
