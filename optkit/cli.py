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
