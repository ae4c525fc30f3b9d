"""The performance targets as ratios measured in one process (``optkit bench targets``).

Every figure is a ratio of contenders timed **interleaved** (one batch each per
round), so load from other processes hits all of them alike: ``value`` is the median
of the per-round ratios, ``best`` the ratio of each contender's fastest round.
Absolute times on a shared machine are not comparable from run to run; these ratios
are. Contenders: optkit on ``backend`` (``numba``, or ``cupy`` on a GPU), the torch
peer on the same device and threads, and a roofline loop with the same memory
traffic (see :mod:`optkit.bench.roofline`). Only optkit's public API is timed.
"""

from __future__ import annotations

import operator
import statistics
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field

from optkit.bench import timing, workloads
from optkit.bench.machine import is_gpu, peer_of, roofline_of
from optkit.bench.steps import make_step

__all__ = [
    "DESCRIPTIONS",
    "GOALS",
    "GROUPS",
    "Sizes",
    "Target",
    "format_targets",
    "goal_text",
    "measure",
]

#: key -> (comparison, goal, unit). Keys not listed are informative (no goal); those
#: ending in ``_roofline_fraction`` are fractions of a roofline.
GOALS: dict[str, tuple[str, float, str]] = {
    "adam_roofline_fraction": (">=", 0.85, "of roofline"),
    "adam_vs_torch_fused": ("<=", 1.0, "x"),
    "finite_check_overhead": ("<=", 0.15, "fraction"),
    "numpy_over_fast": (">=", 5.0, "x"),
    "batch_norm_speedup_2d": (">=", 1.5, "x faster"),
    "batch_norm_speedup_nchw": (">=", 1.5, "x faster"),
    "batch_norm_speedup_channels_last": (">=", 1.5, "x faster"),
    "layer_norm_speedup": (">=", 1.2, "x faster"),
    "clip_speedup": (">=", 1.3, "x faster"),
    "small_step_us_raise": ("<=", 10.0, "us"),
    "small_step_us_propagate": ("<=", 10.0, "us"),
    "many_tensors_speedup": (">=", 1.5, "x faster"),
}


#: key -> what the figure is, in a few words (reports, the asv dashboard).
DESCRIPTIONS = {
    "adam_roofline_fraction": "Adam 2^24 float32 propagate: fraction of r4w3 roofline",
    "adam_vs_torch_fused": "Adam 2^24 float32 propagate: time / torch fused time",
    "finite_check_overhead": "nonfinite='raise' extra step time over 'propagate'",
    "numpy_over_fast": "Adam 2^24 float32: NumPy path time / fast backend time",
    "batch_norm_speedup_2d": "BatchNorm fwd+bwd (8192, 1024): speed-up over torch",
    "batch_norm_speedup_nchw": "BatchNorm fwd+bwd NCHW (64, 64, 56, 56): speed-up over torch",
    "batch_norm_speedup_channels_last": "BatchNorm fwd+bwd channels-last: speed-up over torch",
    "layer_norm_speedup": "LayerNorm fwd+bwd (8192, 1024): speed-up over torch",
    "clip_speedup": "global-norm clip 2^24 over the limit: speed-up over torch",
    "clip_norm_only_speedup": "global-norm clip 2^24 under the limit: speed-up over torch",
    "small_step_us_raise": "Adam opt.step at 4,096 params (raise), microseconds",
    "small_step_us_propagate": "Adam opt.step at 4,096 params (propagate), microseconds",
    "many_tensors_speedup": "Adam, 200 tensors in one FlatParams (propagate): speed-up "
    "over torch fused",
    "many_tensors_speedup_raise": "Adam, 200 tensors in one FlatParams (raise): speed-up "
    "over torch fused",
}


def _goal(key: str) -> tuple[str, float, str]:
    if key in GOALS:
        return GOALS[key]
    return "", 0.0, "of roofline" if key.endswith("_roofline_fraction") else "x faster"


def goal_text(key: str) -> str:
    """The goal of target ``key`` as text (``'>= 0.85'``, ``'<= +15%'``; '-' if none).

    Examples
    --------
    >>> goal_text("adam_roofline_fraction"), goal_text("finite_check_overhead")
    ('>= 0.85', '<= 15%')
    """
    op, goal, unit = _goal(key)
    if not op:
        return "-"
    return f"{op} {goal:.0%}" if unit == "fraction" else f"{op} {goal:g}"


@dataclass(frozen=True)
class Sizes:
    """Problem sizes of the targets (smaller ones only for tests)."""

    adam: int = 2**24
    batch_norm: tuple[tuple[str, tuple[int, ...], int], ...] = (
        ("(8192, 1024)", (8192, 1024), 1),
        ("NCHW (64, 64, 56, 56)", (64, 64, 56, 56), 1),
        ("channels-last (64, 56, 56, 64)", (64, 56, 56, 64), -1),
    )
    layer_norm: tuple[int, ...] = (8192, 1024)
    clip: int = 2**24
    small: int = 4096
    tensors: int = 200
    numpy_rounds: int = 5


@dataclass
class Target:
    """One measured ratio; its goal and unit come from :data:`GOALS` by ``key``."""

    key: str
    label: str
    value: float | None
    detail: str = ""
    times_ms: dict[str, float] = field(default_factory=dict)
    best: float | None = None

    @property
    def unit(self) -> str:
        """How the value reads: ``x``, ``x faster``, ``of roofline``, ``fraction``, ``us``."""
        return _goal(self.key)[2]

    @property
    def holds(self) -> bool | None:
        """Whether the goal is met (None when not measured or without a goal)."""
        op, goal, _ = _goal(self.key)
        if self.value is None or not op:
            return None
        return {">=": operator.ge, "<=": operator.le}[op](self.value, goal)

    def as_dict(self) -> dict:
        """A JSON-ready dict (with ``unit``, ``goal`` and ``holds``)."""
        return {**asdict(self), "unit": self.unit, "goal": goal_text(self.key),
                "holds": self.holds}  # fmt: skip


@dataclass(frozen=True)
class _Ratio:
    """How to read one target from interleaved times: ``numerator / denominator + offset``."""

    key: str
    label: str
    numerator: str
    denominator: str
    offset: float = 0.0


def _evaluate(
    contenders: dict[str, Callable], ratios: list[_Ratio], rounds: int, missing: dict
) -> list[Target]:
    """Time ``contenders`` interleaved and read every ratio (``missing``: name -> why)."""
    times = timing.interleaved(contenders, rounds)
    ms = {name: statistics.median(t) * 1e3 for name, t in times.items()}
    out = []
    for r in ratios:
        absent = [missing[n] for n in (r.numerator, r.denominator) if n not in times]
        if absent:
            out.append(Target(r.key, r.label, None, absent[0], ms))
            continue
        num, den = times[r.numerator], times[r.denominator]
        value = timing.median_ratio(num, den) + r.offset
        best = timing.best_ratio(num, den) + r.offset
        out.append(Target(r.key, r.label, value, "", ms, best))
    return out


def _add(
    contenders: dict, missing: dict, name: str, factory: Callable[[], Callable]
) -> None:
    """Add contender ``name`` or record why it cannot run here."""
    try:
        contenders[name] = factory()
    except NotImplementedError as exc:
        missing[name] = str(exc)


def _log2(n: int) -> str:
    return f"2^{n.bit_length() - 1}" if n & (n - 1) == 0 else f"{n:,}"


def adam_targets(backend: str, sizes: Sizes, rounds: int) -> list[Target]:
    """Adam float32: roofline fraction and time vs torch fused (``propagate``), and the
    cost of the default finite check (``raise`` over ``propagate``)."""
    n, peer, roof = sizes.adam, peer_of(backend), roofline_of(backend)
    where = f"Adam {_log2(n)} float32"
    contenders, missing = {}, {}
    for policy in ("propagate", "raise"):
        contenders[policy] = make_step("adam", backend, n, nonfinite=policy)
    _add(contenders, missing, roof, lambda: make_step("adam", roof, n))
    _add(contenders, missing, peer, lambda: make_step("adam", peer, n))
    ratios = [
        _Ratio("adam_roofline_fraction", f"{where} propagate: fraction of r4w3 roofline",
               roof, "propagate"),
        _Ratio("adam_vs_torch_fused", f"{where} propagate: time / {peer} time",
               "propagate", peer),
        _Ratio("finite_check_overhead", f"{where}: raise over propagate, extra step time",
               "raise", "propagate", -1.0),
    ]  # fmt: skip
    return _evaluate(contenders, ratios, rounds, missing)


def numpy_target(backend: str, sizes: Sizes, rounds: int) -> list[Target]:
    """Adam float32: the NumPy reference path's time over the fast backend's."""
    n = sizes.adam
    contenders = {
        "numpy": make_step("adam", "numpy", n),
        backend: make_step("adam", backend, n),
    }
    ratio = _Ratio("numpy_over_fast", f"Adam {_log2(n)} float32: numpy time / {backend} time",
                   "numpy", backend)  # fmt: skip
    return _evaluate(contenders, [ratio], min(rounds, sizes.numpy_rounds), {})


def _versus_peer(
    key: str, label: str, factory: Callable[[str], Callable], backend: str, rounds: int
) -> list[Target]:
    """optkit on ``backend`` vs its torch peer (``peer time / optkit time``), and the
    fraction of the roofline (``key + '_roofline_fraction'``)."""
    peer, roof = peer_of(backend, optimizer=False), roofline_of(backend)
    contenders, missing = {backend: factory(backend)}, {}
    _add(contenders, missing, peer, lambda: factory(peer))
    _add(contenders, missing, roof, lambda: factory(roof))
    ratios = [
        _Ratio(key, f"{label}: {peer} time / {backend} time", peer, backend),
        _Ratio(f"{key}_roofline_fraction", f"{label}: fraction of roofline", roof, backend),
    ]
    return _evaluate(contenders, ratios, rounds, missing)


def batch_norm_targets(backend: str, sizes: Sizes, rounds: int) -> list[Target]:
    """BatchNorm float32 forward plus backward vs torch, per layout (roofline: four
    copies of ``x``, the least traffic forward plus backward can have)."""
    out = []
    for label, shape, axis in sizes.batch_norm:
        layout = "channels_last" if axis != 1 else "nchw" if len(shape) == 4 else "2d"
        out += _versus_peer(
            f"batch_norm_speedup_{layout}", f"BatchNorm fwd+bwd {label} float32",
            lambda b, shape=shape, axis=axis: workloads.batch_norm_step(b, shape, axis),
            backend, rounds,
        )  # fmt: skip
    return out


def layer_norm_targets(backend: str, sizes: Sizes, rounds: int) -> list[Target]:
    """LayerNorm float32 forward plus backward vs torch (where optkit has LayerNorm)."""
    shape = sizes.layer_norm
    label = f"LayerNorm fwd+bwd {tuple(shape)} float32"
    try:
        workloads.layer_norm_step(backend, (2, 2))
    except NotImplementedError as exc:
        peer = peer_of(backend, optimizer=False)
        return [Target("layer_norm_speedup", f"{label}: {peer} time / {backend} time",
                       None, str(exc))]  # fmt: skip
    return _versus_peer(
        "layer_norm_speedup", label,
        lambda b: workloads.layer_norm_step(b, shape), backend, rounds,
    )  # fmt: skip


def clip_targets(backend: str, sizes: Sizes, rounds: int) -> list[Target]:
    """Clipping one float32 tensor by its global norm vs ``clip_grad_norm_``: every
    call over the limit (norm and scaling), and under it (the norm alone)."""
    n, out = sizes.clip, []
    for scale, key, what in (
        (True, "clip_speedup", "over the limit"),
        (False, "clip_norm_only_speedup", "under the limit (norm only)"),
    ):
        out += _versus_peer(
            key, f"global-norm clip {_log2(n)} float32, {what}",
            lambda b, scale=scale: workloads.clip_step(b, n, tensors=1, scale=scale),
            backend, rounds,
        )  # fmt: skip
    return out


def overhead_targets(backend: str, sizes: Sizes, rounds: int) -> list[Target]:
    """Host overhead: the whole ``opt.step`` at 4,096 parameters, and one FlatParams of
    200 tensors vs the torch peer stepping the 200 tensors."""
    n = sizes.small
    steps = {p: make_step("adam", backend, n, nonfinite=p) for p in ("raise", "propagate")}
    times = timing.interleaved(steps, rounds)
    ms = {p: statistics.median(t) * 1e3 for p, t in times.items()}
    out = [
        Target(f"small_step_us_{p}", f"Adam opt.step at {n:,} float32 params ({p}), us",
               ms[p] * 1e3, "", ms, min(times[p]) * 1e6)
        for p in ("raise", "propagate")
    ]  # fmt: skip
    peer = peer_of(backend)
    contenders = {
        p: workloads.many_tensors_step(backend, sizes.tensors, nonfinite=p)
        for p in ("propagate", "raise")
    }
    missing: dict[str, str] = {}
    _add(
        contenders, missing, peer, lambda: workloads.many_tensors_step(peer, sizes.tensors)
    )
    label = f"Adam, {sizes.tensors} tensors of 4K-64K in one FlatParams"
    ratios = [  # torch has no finite check: the like-for-like target is 'propagate'
        _Ratio("many_tensors_speedup", f"{label} (propagate): {peer} / {backend} time",
               peer, "propagate"),
        _Ratio("many_tensors_speedup_raise", f"{label} (raise): {peer} / {backend} time",
               peer, "raise"),
    ]  # fmt: skip
    return out + _evaluate(contenders, ratios, rounds, missing)


#: name -> measuring function, in the order ``optkit bench targets`` runs them.
GROUPS: dict[str, Callable[[str, Sizes, int], list[Target]]] = {
    "adam": adam_targets,
    "numpy": numpy_target,
    "batch_norm": batch_norm_targets,
    "layer_norm": layer_norm_targets,
    "clip": clip_targets,
    "overhead": overhead_targets,
}


def measure(
    backend: str = "numba",
    sizes: Sizes | None = None,
    rounds: int = 15,
    groups: tuple[str, ...] | None = None,
) -> Iterator[tuple[str, list[Target]]]:
    """Measure the targets group by group; yields ``(group, targets)`` as each finishes.

    A group that cannot run here yields one target with ``value=None`` and the
    reason in ``detail``.
    """
    sizes = sizes or Sizes()
    for name in groups or tuple(GROUPS):
        if name == "numpy" and (is_gpu(backend) or backend == "numpy"):
            continue
        try:
            yield name, GROUPS[name](backend, sizes, rounds)
        except NotImplementedError as exc:
            yield name, [Target(name, f"{name} targets", None, str(exc))]


def format_value(value: float | None, unit: str) -> str:
    """A measured value as the tables show it.

    Examples
    --------
    >>> format_value(0.891, "of roofline"), format_value(0.33, "fraction")
    ('0.89', '+33%')
    >>> format_value(1.5, "x faster"), format_value(None, "x")
    ('1.50x', 'n/a')
    """
    if value is None:
        return "n/a"
    if unit == "fraction":
        return f"{value:+.0%}"
    if unit == "us":
        return f"{value:.2f} us"
    if unit == "of roofline":
        return f"{value:.2f}"
    return f"{value:.2f}x"


LABEL_WIDTH = 88


def format_targets(targets: list[Target], header: bool = True) -> str:
    """Rows ``label  measured  best  goal  holds`` (and why a target was not measured)."""
    width = max([len(t.label) for t in targets] + [LABEL_WIDTH])
    lines = []
    if header:
        lines.append(f"{'target':<{width}}  {'median':>9}  {'best':>9}  {'goal':>9}  holds")
    for t in targets:
        verdict = {True: "yes", False: "NO", None: "-"}[t.holds]
        best = "" if t.best is None else format_value(t.best, t.unit)
        lines.append(
            f"{t.label:<{width}}  {format_value(t.value, t.unit):>9}  {best:>9}  "
            f"{goal_text(t.key):>9}  {verdict}"
        )
        if t.value is None and t.detail:
            lines.append(f"    not measured: {t.detail}")
    return "\n".join(lines)
