"""The ``optkit`` command: ``optkit info`` (backends), ``optkit --version``.

Also reachable as ``python -m optkit``.
"""

from __future__ import annotations

import argparse
import math
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


#: Largest ``--size`` accepted (2^34 parameters: 64 GiB of float32 per array).
MAX_SIZE = 1 << 34
#: Range of ``--min-time`` in seconds.
MIN_TIME_RANGE = (1e-3, 60.0)


def _size(text: str) -> int:
    """Parse a parameter count in [1, 2^34]: ``16777216``, ``2^24``, ``2**24`` or ``1e6``.

    The bound is checked before any power is computed, so ``9^99999999`` is refused
    at once instead of being evaluated.
    """
    text = text.strip()
    try:
        for sep in ("**", "^"):
            if sep in text:
                base_text, exp_text = text.split(sep)
                base, exp = int(base_text), int(exp_text)
                if base < 1 or exp < 0:
                    raise argparse.ArgumentTypeError(f"size {text!r} must be >= 1")
                if base > 1 and exp * math.log2(base) > math.log2(MAX_SIZE) + 1e-9:
                    raise argparse.ArgumentTypeError(
                        f"size {text!r} is larger than the maximum 2^34"
                    )
                value = base**exp
                break
        else:
            number = float(text)
            if not math.isfinite(number) or number != int(number):
                raise ValueError(text)
            value = int(number)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 2^24)") from None
    if not 1 <= value <= MAX_SIZE:
        raise argparse.ArgumentTypeError(f"size must be in [1, 2^34], got {text!r}")
    return value


def _min_time(text: str) -> float:
    """Seconds per timing batch: a finite number in [0.001, 60]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    low, high = MIN_TIME_RANGE
    if not low <= value <= high:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(
            f"min-time must be in [{low}, {high}], got {text!r}"
        )
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
    from optkit.sweep.cli import add_parser as add_sweep_parser  # optkit sweep ...

    add_sweep_parser(sub)
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
        "--size",
        type=_size,
        default=1 << 24,
        help="number of parameters, in [1, 2^34] (default 2^24)",
    )
    bench.add_argument(
        "--backend",
        action="append",
        choices=CHOICES,
        help="repeat to choose several (default: all)",
    )
    bench.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    bench.add_argument(
        "--min-time",
        type=_min_time,
        default=0.2,
        help="seconds per timing batch, in [0.001, 60] (default 0.2)",
    )
    bench.set_defaults(func=_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``optkit`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)  # a usage error exits with status 2, no traceback
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except MemoryError:
        print(
            f"optkit: error: not enough memory for this run (--size "
            f"{getattr(args, 'size', '?')}); try a smaller --size",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print("optkit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
