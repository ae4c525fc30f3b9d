"""The ``optkit`` command: ``optkit info`` (backends), ``optkit --version``.

Also reachable as ``python -m optkit``.
"""

from __future__ import annotations

import argparse
import platform
import sys

from optkit import __version__
from optkit._backend import backends


def _info(args: argparse.Namespace) -> int:
    import numpy as np

    print(
        f"optkit {__version__}  (Python {platform.python_version()}, "
        f"{platform.machine()}, numpy {np.__version__})"
    )
    for name, entry in backends().items():
        state = "available" if entry["available"] else "unavailable"
        version = entry.get("version") or "-"
        print(f"  {name:<10} {state:<12} version {version}")
        if entry.get("reason"):
            print(f"  {'':<10} why: {entry['reason']}")
        if name == "numba" and entry["available"]:
            print(
                f"  {'':<10} threads {entry['threads']}, threading layer "
                f"{entry['threading_layer']!r} (NUMBA_NUM_THREADS to change)"
            )
        if name == "cupy":
            for i, device in enumerate(entry.get("devices", [])):
                print(f"  {'':<10} GPU {i}: {device}")
    from optkit._backend import get_backend

    print(f"  selected default: {get_backend()!r} (OPTKIT_BACKEND / ok.set_backend)")
    return 0


def _size(text: str) -> int:
    """Parse a parameter count: ``16777216``, ``2^24``, ``2**24`` or ``1e6``."""
    try:
        for sep in ("^", "**"):
            if sep in text:
                base, exp = text.split(sep)
                value = int(base) ** int(exp)
                break
        else:
            value = int(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 2^24)") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"size must be >= 1, got {value}")
    return value


def _bench(args: argparse.Namespace) -> int:
    from optkit import benchmark

    backends = tuple(args.backend) if args.backend else benchmark.CHOICES
    print(
        f"timing {args.optimizer} on {', '.join(backends)} (median of batches; "
        f"GPU work synchronized) ...",
        flush=True,
    )
    roof, rows = benchmark.run_table(
        args.optimizer, args.size, args.dtype, backends, min_time=args.min_time
    )
    print(benchmark.format_table(args.optimizer, args.size, args.dtype, roof, rows))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``optkit`` command."""
    parser = argparse.ArgumentParser(
        prog="optkit", description="optkit: optimizers on NumPy, Numba and CuPy."
    )
    parser.add_argument("--version", action="version", version=f"optkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    info = sub.add_parser(
        "info", help="list backends: availability, versions, threads, GPUs"
    )
    info.set_defaults(func=_info)
    from optkit.benchmark import CHOICES, OPTIMIZERS

    bench = sub.add_parser(
        "bench",
        help="time one optimizer step on every backend and peer (no asv)",
        description="Time per step, GB/s and fraction of a same-process roofline "
        "kernel with the same memory traffic, for each available backend and peer.",
    )
    bench.add_argument("optimizer", nargs="?", default="adam", choices=sorted(OPTIMIZERS))
    bench.add_argument(
        "--size", type=_size, default=1 << 24, help="number of parameters (default 2^24)"
    )
    bench.add_argument(
        "--backend",
        action="append",
        choices=CHOICES,
        help="repeat to choose several (default: all)",
    )
    bench.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    bench.add_argument(
        "--min-time", type=float, default=0.2, help="seconds per timing batch (default 0.2)"
    )
    bench.set_defaults(func=_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``optkit`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
