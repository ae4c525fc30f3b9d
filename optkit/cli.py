"""The ``optkit`` command: ``optkit info`` (backends, GPUs), ``optkit bench``
(benchmarks: see :mod:`optkit.bench.cli`), ``optkit --version``.

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


def _size(text: str) -> int:
    """Parse a parameter count in [1, 2^34]: ``16777216``, ``2^24``, ``2**24``, ``1e6``."""
    try:
        for sep in ("^", "**"):
            if sep in text:
                base, exp = (int(part) for part in text.split(sep))
                value = base**exp if abs(base) <= 2**34 and 0 <= exp <= 64 else 0
                break
        else:
            value = int(float(text))
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 2^24)") from None
    if not 1 <= value <= 2**34:
        raise argparse.ArgumentTypeError(f"size must be between 1 and 2^34, got {text}")
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
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``optkit`` console script."""
    from optkit.bench.cli import route

    parser = build_parser()
    args = parser.parse_args(route(sys.argv[1:] if argv is None else list(argv)))
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
