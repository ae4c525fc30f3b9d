"""The ``optkit bench`` command: ``step`` (the default), ``targets`` and ``report``.

``optkit bench [step] [OPTIMIZER]`` times one optimizer step on every backend and
peer here; ``optkit bench targets`` measures the performance targets as ratios in
one process; ``optkit bench report`` turns asv result files into an offline HTML
report. Option values are checked and bad ones end in a usage message, not a
traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

__all__ = ["add_bench_parser", "route"]

SUBCOMMANDS = ("step", "targets", "report")


def bounded(kind: type, low: float, high: float):
    """An argparse type: a ``kind`` number in ``[low, high]``."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a {kind.__name__}: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be in [{low}, {high}], got {text}")
        return value

    return parse


def route(argv: list[str]) -> list[str]:
    """``bench`` without a subcommand means ``bench step`` (``optkit bench adam``).

    Examples
    --------
    >>> route(["bench", "adam"]), route(["bench", "report", "--out", "r"])
    (['bench', 'step', 'adam'], ['bench', 'report', '--out', 'r'])
    >>> route(["bench", "--help"]), route(["info"])
    (['bench', '--help'], ['info'])
    """
    if "bench" not in argv:
        return argv
    i = argv.index("bench")
    rest = argv[i + 1 :]
    if rest and (rest[0] in SUBCOMMANDS or rest[0] in ("-h", "--help")):
        return argv
    return [*argv[: i + 1], "step", *rest]


def _step_parser(sub) -> None:
    from optkit.bench.steps import STEP_BACKENDS
    from optkit.optim.registry import ALGORITHMS

    step = sub.add_parser(
        "step",
        help="time one optimizer step on every backend here (the default)",
        description="Time per step, GB/s and fraction of a same-process roofline (a "
        "loop with the same memory traffic) for each backend and torch peer that can "
        "run here; one line per backend as it finishes.",
    )
    step.add_argument(
        "optimizer", nargs="?", default="adam", choices=list(ALGORITHMS), metavar="OPTIMIZER",
        help=f"one of {', '.join(ALGORITHMS)} (default adam)",
    )  # fmt: skip
    from optkit.cli import _size

    step.add_argument(
        "--size", type=_size, default=2**24, help="parameters, e.g. 2^20 (default 2^24)"
    )
    step.add_argument(
        "--backend", action="append", choices=STEP_BACKENDS, metavar="BACKEND",
        help=f"repeat to choose several of {', '.join(STEP_BACKENDS)} "
        "(default: every one available here)",
    )  # fmt: skip
    step.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    step.add_argument(
        "--min-time", type=bounded(float, 0.001, 60.0), default=0.2,
        help="seconds per timing batch, 0.001 to 60 (default 0.2)",
    )  # fmt: skip
    step.add_argument("--repeat", type=bounded(int, 1, 100), default=5)
    step.add_argument("--json", action="store_true", help="print JSON instead of a table")
    step.add_argument("--plot", metavar="PNG", help="also save a bar chart here")
    step.set_defaults(func=run_step)


def _targets_parser(sub) -> None:
    from optkit.bench.targets import GROUPS

    targets = sub.add_parser(
        "targets",
        help="the performance targets as ratios measured in one process",
        description="Adam at 2^24 vs the roofline and torch fused, the finite check's "
        "cost, BatchNorm / LayerNorm / clipping vs torch, host overhead: contenders "
        "timed interleaved, median of per-round ratios. About half a minute on 2 cores.",
    )
    targets.add_argument("--backend", default="numba", choices=["numba", "cupy", "numpy"])
    targets.add_argument("--rounds", type=bounded(int, 1, 200), default=15)
    targets.add_argument("--only", action="append", choices=list(GROUPS), metavar="GROUP",
                         help=f"repeat to choose; one of {', '.join(GROUPS)}")  # fmt: skip
    targets.add_argument("--json", action="store_true", help="print JSON instead")
    targets.set_defaults(func=run_targets)


def _report_parser(sub) -> None:
    report = sub.add_parser(
        "report",
        help="an offline HTML report from asv result files",
        description="Read asv result files (every machine under --results) and write "
        "index.html with inline CSS and PNG charts into --out.",
    )
    report.add_argument("--results", type=Path, default=None,
                        help="asv results folder (default: asv_bench/results here or above)")  # fmt: skip
    report.add_argument("--out", type=Path, default=Path("bench-report"))
    report.add_argument("--machine", action="append", help="only these machines")
    report.set_defaults(func=run_report)


def add_bench_parser(sub) -> argparse.ArgumentParser:
    """Add ``bench`` and its subcommands to the ``optkit`` subparsers ``sub``."""
    bench = sub.add_parser(
        "bench",
        help="benchmarks: step (default), targets, report",
        description="optkit bench [step] [OPTIMIZER] | targets | report",
    )
    inner = bench.add_subparsers(dest="bench_command", metavar="{step,targets,report}")
    _step_parser(inner)
    _targets_parser(inner)
    _report_parser(inner)
    return bench


def _fail(message: str, status: int = 2) -> int:
    print(f"optkit bench: error: {message}", file=sys.stderr)
    return status


def run_step(args: argparse.Namespace) -> int:
    """``optkit bench step``: the table, one row per backend as it finishes."""
    from optkit.bench import table, timing

    here, missing = table.available_backends()
    wanted = tuple(args.backend) if args.backend else tuple(here)
    absent = [b for b in wanted if b in missing]
    if absent:
        return _fail("; ".join(f"{b} is not available here: {missing[b]}" for b in absent))
    out = sys.stdout
    if not args.json:
        print(f"backends here: {', '.join(wanted)}", file=out)
        for name, why in missing.items():
            if not name.startswith("roofline"):  # absent with its backend
                print(f"  missing {name}: {why}", file=out)
        print(table.format_header(args.optimizer, args.size, args.dtype), flush=True)
    rows = []
    stream = table.run_rows(
        args.optimizer, args.size, args.dtype, wanted, args.min_time, args.repeat
    )
    try:
        for backend in _ordered(wanted):
            with timing.Spinner(f"timing {backend}"):
                row = next(stream)
            rows.append(row)
            if not args.json:
                print(table.format_row(row), flush=True)
    except MemoryError:
        return _fail(f"not enough memory for {args.size:,} {args.dtype} parameters", 1)
    if args.json:
        print(table.rows_json(args.optimizer, args.size, args.dtype, rows, missing=missing))
    if args.plot:
        table.plot_rows(args.optimizer, args.size, args.dtype, rows, args.plot)
        if not args.json:
            print(f"chart: {args.plot}")
    return 0


def _ordered(backends: tuple[str, ...]) -> list[str]:
    """The order :func:`optkit.bench.table.run_rows` yields rows in."""
    roofs = [b for b in backends if b.startswith("roofline")]
    return roofs + [b for b in backends if not b.startswith("roofline")]


def _machine_line() -> str:
    from optkit import __version__
    from optkit._exec.numba_threads import thread_count

    line = (
        f"optkit {__version__}, Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"{thread_count()} Numba threads"
    )
    if hasattr(os, "getloadavg"):
        load = os.getloadavg()[0]
        line += f", load average {load:.1f}"
        if load > 0.5 * (os.cpu_count() or 1):
            line += " (other processes compete for the CPUs: expect noisier ratios)"
    return line


def run_targets(args: argparse.Namespace) -> int:
    """``optkit bench targets``: print each group's ratios as it finishes."""
    from optkit.bench import targets, timing
    from optkit.bench.machine import missing_message

    message = missing_message(args.backend)
    if message:
        return _fail(f"{args.backend} is not available here: {message}")
    if not args.json:
        print(_machine_line())
        print(f"ratios of contenders timed interleaved in this process: median of "
              f"{args.rounds} per-round ratios (best: each one's fastest round)", flush=True)  # fmt: skip
    found = []
    with timing.CpuSteal() as steal:
        groups = targets.measure(args.backend, rounds=args.rounds,
                                 groups=tuple(args.only) if args.only else None)  # fmt: skip
        header = True
        while True:
            with timing.Spinner("measuring"):
                group = next(groups, None)
            if group is None:
                break
            found += group[1]
            if not args.json:
                print(targets.format_targets(group[1], header), flush=True)
                header = False
    if args.json:
        print(json.dumps({"targets": [t.as_dict() for t in found],
                          "cpu_steal": steal.fraction}, indent=2))  # fmt: skip
    elif steal.fraction is not None:
        print(f"CPU time taken by other virtual machines meanwhile: {steal.fraction:.1%}")
    return 0


def find_results(start: Path) -> Path | None:
    """``asv_bench/results`` in ``start`` or a folder above it."""
    for folder in (start, *start.parents):
        candidate = folder / "asv_bench" / "results"
        if candidate.is_dir():
            return candidate
    return None


def run_report(args: argparse.Namespace) -> int:
    """``optkit bench report``: write the offline report."""
    from optkit.bench.report import write_report

    results = args.results or find_results(Path.cwd())
    if results is None or not results.is_dir():
        where = results or "asv_bench/results (here or above)"
        return _fail(f"no asv results folder at {where}; run asv or pass --results DIR")
    try:
        index = write_report(results, args.out, machines=args.machine)
    except ValueError as exc:
        return _fail(str(exc), 1)
    print(f"report: {index}")
    return 0
