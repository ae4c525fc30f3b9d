"""``optkit race`` and ``optkit lab list``: the optimization lab on the command line.

Registered by :func:`add_commands` from :mod:`optkit.cli`. Every argument is bounded
and checked before any work; a bad one is a usage error (exit status 2, no
traceback) that names it.
"""

from __future__ import annotations

import argparse
import inspect
import math
import os
import re
import sys
from typing import Any

__all__ = ["add_commands"]

MAX_STEPS = 10**7
MAX_DIM = 10**5
MAX_STARTS = 10**4
MAX_LRS = 64
#: Largest population (rates × starts) times dimension: 2·10⁷ numbers (160 MB).
MAX_NUMBERS = 2 * 10**7
BACKENDS = ("auto", "numpy", "numba", "cupy", "array_api")
FIGURE_SUFFIXES = (".png", ".pdf", ".svg")


def _bounded_int(name: str, low: int, high: int):
    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text[:40]!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"{name} must be in [{low}, {high}], got {value}"
            )
        return value

    return parse


def _tolerance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text[:40]!r}") from None
    if not (math.isfinite(value) and value > 0):  # also refuses nan
        raise argparse.ArgumentTypeError(f"tol must be a finite number > 0, got {text!r}")
    return value


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give at least one optimizer name")
    if len(names) > 64:
        raise argparse.ArgumentTypeError(f"at most 64 optimizers, got {len(names)}")
    return names


def add_commands(sub: Any) -> None:
    """Add ``race`` and ``lab`` to the ``optkit`` command's subparsers."""
    race = sub.add_parser(
        "race",
        help="race every optimizer on one problem (populations of rates and starts)",
        description="Every optimizer of the registry (or --optimizers) runs as one "
        "population of learning rates x starts on a problem of optkit.problems; "
        "each is ranked by its median final loss at its best rate.",
    )
    race.add_argument(
        "--problem", default="rosenbrock", help="problem name (optkit lab list)"
    )
    race.add_argument("--dim", type=_bounded_int("dim", 1, MAX_DIM),
                      help=f"dimension, for problems that take one (≤ {MAX_DIM})")  # fmt: skip
    race.add_argument("--optimizers", type=_names, metavar="A,B,C",
                      help="comma-separated registry names (default: all)")  # fmt: skip
    race.add_argument("--steps", type=_bounded_int("steps", 1, MAX_STEPS), default=5000,
                      help=f"steps per run, in [1, {MAX_STEPS}] (default 5000)")  # fmt: skip
    race.add_argument("--starts", type=_bounded_int("starts", 1, MAX_STARTS), default=8,
                      help="the standard start plus random ones (default 8)")  # fmt: skip
    race.add_argument("--lrs", type=_bounded_int("lrs", 1, MAX_LRS), default=16,
                      help="learning rates per optimizer, 1e-2…1e3 x the tuned one; "
                      "1: the tuned one only (default 16)")  # fmt: skip
    race.add_argument("--seed", type=_bounded_int("seed", 0, 2**32 - 1), default=0)
    race.add_argument("--tol", type=_tolerance, default=1e-3,
                      help="loss gap counted as reached (default 1e-3)")  # fmt: skip
    race.add_argument("--backend", choices=BACKENDS, default="auto")
    race.add_argument("--plot", metavar="FILE", help="save the figure (.png, .pdf, .svg)")
    race.set_defaults(func=_race, parser=race)
    lab = sub.add_parser("lab", help="the optimization lab: problems and the book's claims")
    commands = lab.add_subparsers(dest="lab_command", metavar="COMMAND")
    listing = commands.add_parser(
        "list", help="list the problems and the claims measured by the examples"
    )
    listing.set_defaults(func=_lab_list)
    lab.set_defaults(func=_lab_help, parser=lab)


def _problem(args: argparse.Namespace):
    """Build the problem from --problem/--dim, or exit with a usage error."""
    from optkit import problems

    parser = args.parser
    if args.problem not in problems.PROBLEMS:
        parser.error(
            f"argument --problem: unknown problem {args.problem!r}; choose from "
            f"{', '.join(problems.names())}"
        )
    params = {}
    if args.dim is not None:
        factory = problems.PROBLEMS[args.problem]
        if "dim" not in inspect.signature(factory).parameters:
            parser.error(f"argument --dim: problem {args.problem!r} has a fixed dimension")
        params["dim"] = args.dim
    try:
        return problems.make(args.problem, **params)
    except (TypeError, ValueError) as exc:
        parser.error(f"argument --dim: {exc}")
    except ImportError as exc:
        print(f"optkit: error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


def _check_race(args: argparse.Namespace, problem: Any) -> None:
    from optkit.optim.registry import ALGORITHMS

    parser = args.parser
    unknown = [n for n in args.optimizers or () if n not in ALGORITHMS]
    if unknown:
        parser.error(
            f"argument --optimizers: unknown optimizer {unknown[0]!r}; choose from "
            f"{', '.join(ALGORITHMS)}"
        )
    numbers = args.lrs * args.starts * problem.dim
    if numbers > MAX_NUMBERS:
        parser.error(
            f"--lrs x --starts x dim = {numbers:,} numbers per population is more than "
            f"{MAX_NUMBERS:,}; use fewer rates, starts or dimensions"
        )
    if args.plot:
        folder = os.path.dirname(os.path.abspath(args.plot))
        if os.path.splitext(args.plot)[1].lower() not in FIGURE_SUFFIXES:
            parser.error(
                f"argument --plot: {args.plot!r} must end in {', '.join(FIGURE_SUFFIXES)}"
            )
        if not os.path.isdir(folder):
            parser.error(f"argument --plot: folder {folder!r} does not exist")
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            parser.error("argument --plot: needs matplotlib (pip install 'optkit[plot]')")


def _race(args: argparse.Namespace) -> int:
    problem = _problem(args)
    _check_race(args, problem)
    from optkit.lab import race

    result = race(
        problem, args.optimizers, args.steps, starts=args.starts, lrs=args.lrs,
        seed=args.seed, tol=args.tol, backend=args.backend,
    )  # fmt: skip
    print(result.table())
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        plt.close(result.plot(args.plot))
        print(f"figure: {args.plot}")
    return 0


def _lab_help(args: argparse.Namespace) -> int:
    args.parser.print_help()
    return 2


def _lab_list(args: argparse.Namespace) -> int:
    from optkit import problems
    from optkit.lab.claims import CLAIMS

    print("problems (optkit.problems.make(name, **params); optkit race --problem NAME):")
    for name in problems.names():
        factory = problems.PROBLEMS[name]
        params = ", ".join(
            f"{k}={p.default!r}" for k, p in inspect.signature(factory).parameters.items()
        )
        print(f"  {name:<20} {_summary(inspect.getdoc(factory) or '')}")
        print(f"  {'':<20} ({params})")
    print()
    print("claims of Goodfellow, Bengio & Courville (2016), ch. 8, one example each "
          "(python examples/SCRIPT [--quick]; all: python examples/run_all.py):")  # fmt: skip
    for c in CLAIMS:
        print(f"  {c.script:<26} {c.section:<8} {c.claim}")
        print(f"  {'':<26} {'':<8} holds when: {c.holds_when}")
    return 0


def _summary(doc: str) -> str:
    """The first paragraph of a docstring as plain text (reST roles and markup removed)."""
    text = " ".join(doc.split("\n\n")[0].split())
    text = re.sub(r":math:`([^`]*)`", r"\1", text).replace("``", "")
    return text.replace("\\approx ", "~").replace("\\", "")
