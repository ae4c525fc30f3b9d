"""The ``optkit`` command: ``optkit info`` (backends, GPUs), ``optkit bench``
(benchmarks: see :mod:`optkit.bench.cli`), ``optkit --version``.

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
            if entry["threading_layer"] == "omp":
                print(
                    f"  {'':<10} OpenMP wait policy {entry['omp_wait_policy']} "
                    f"(OMP_WAIT_POLICY to change)"
                )
        if not entry["available"]:
            _print_install_hint(name)
    _print_gpus()
    from optkit._backend import get_backend

    print(f"  selected default: {get_backend()!r} (OPTKIT_BACKEND / ok.set_backend)")
    return 0


def _print_install_hint(name: str) -> None:
    from optkit.bench.machine import install_hint

    hint = install_hint(name)
    if hint:
        print(f"  {'':<10} install: {hint}")


def _print_gpus() -> None:
    from optkit.bench.machine import gpu_lines

    for line in gpu_lines():
        print(f"  {line}")


#: Largest ``--size`` accepted (2^34 parameters: 64 GiB of float32 per array).
MAX_SIZE = 1 << 34


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
                        f"size {text!r} is larger than the maximum 2^34: it must be "
                        f"between 1 and 2^34"
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
        raise argparse.ArgumentTypeError(f"size must be between 1 and 2^34, got {text!r}")
    return value


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
    from optkit.bench.cli import add_bench_parser

    add_bench_parser(sub)
    from optkit._cli_lab import add_commands  # optkit race, optkit lab list

    add_commands(sub)
    from optkit.sweep.cli import add_parser as add_sweep_parser  # optkit sweep ...

    add_sweep_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``optkit`` console script."""
    from optkit.bench.cli import route

    parser = build_parser()
    # a usage error exits with status 2, no traceback
    args = parser.parse_args(route(sys.argv[1:] if argv is None else list(argv)))
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
