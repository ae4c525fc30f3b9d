"""``optkit sweep run | status | show | plot``: sweeps from a shell.

Registered on the ``optkit`` command by :func:`add_parser`; needs the ``sweep``
extra only when a subcommand runs (``optkit --help`` works without it).
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_parser", "main"]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def add_parser(subparsers) -> None:
    """Add ``sweep`` and its subcommands to the ``optkit`` command's subparsers."""
    sweep = subparsers.add_parser(
        "sweep",
        help="hyperparameter sweeps on Dask: run, status, show, plot",
        description="Grids and random searches over hyperparameters, problem parameters "
        "and seeds, batched into population runs on Dask; resumable (rerun the same "
        "command). Needs pip install 'optkit[sweep]'.",
    )
    sub = sweep.add_subparsers(dest="sweep_command", metavar="SUBCOMMAND", required=True)
    run = sub.add_parser("run", help="run (or resume) a sweep from a TOML spec")
    run.add_argument("spec", help="the spec, a TOML file")
    run.add_argument("--out", required=True, help="results folder (rerun to resume)")
    where = run.add_mutually_exclusive_group()
    where.add_argument("--scheduler", help="a Dask scheduler address, tcp://host:8786")
    where.add_argument(
        "--workers",
        type=_positive,
        help="worker processes of the local cluster (default: cores)",
    )
    run.add_argument(
        "--force-new-spec", action="store_true", help="adopt a changed spec in --out"
    )
    run.add_argument(
        "--retry-failed", action="store_true", help="compute failed cells again"
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    status = sub.add_parser("status", help="done / failed / pending cells of a sweep")
    status.add_argument("dir", help="the sweep's results folder")
    show = sub.add_parser("show", help="the best cells as a table")
    show.add_argument("dir", help="the sweep's results folder")
    show.add_argument("--best", type=_positive, default=10, help="how many (default 10)")
    show.add_argument(
        "--sort", default="metric", help="column to rank by (default: metric)"
    )
    show.add_argument("--failed", action="store_true", help="list failed cells instead")
    plot = sub.add_parser("plot", help="heatmap (--x and --y) or line plot (--x) PNG")
    plot.add_argument("dir", help="the sweep's results folder")
    plot.add_argument("--x", required=True, help="column on the x axis")
    plot.add_argument("--y", help="column on the y axis (a heatmap)")
    plot.add_argument("--by", help="one line (or heatmap panel) per value of this column")
    plot.add_argument("--value", default="metric", help="what to show (default: metric)")
    plot.add_argument("--out", help="the PNG (default: DIR/plot-X[-Y][-BY].png)")
    sweep.set_defaults(func=main)


def _run(args) -> int:
    from optkit import sweep

    progress = False if args.no_progress else None
    try:
        table = sweep.run(
            args.spec,
            args.out,
            scheduler=args.scheduler,
            workers=args.workers,
            force_new_spec=args.force_new_spec,
            retry_failed=args.retry_failed,
            progress=progress,
        )
    except KeyboardInterrupt:
        try:
            info = sweep.status(args.out)
            saved = (
                f"{info['done'] + info['failed']} of {info['cells']} cells are saved in "
            )
            saved += f"{info['folder']}: "
        except (OSError, ValueError):  # interrupted before the folder was set up
            saved = ""
        print(
            f"optkit sweep: interrupted; {saved}rerun the same command to resume",
            file=sys.stderr,
        )
        return 130
    done = int((table["status"] == "done").sum())
    print(
        f"{table.attrs['name']}: {len(table)} cells, {done} done, {len(table) - done} "
        f"failed; results in {table.attrs['out']}"
    )
    if done:
        print(sweep._report.best(table, 1).to_string(index=False))
    return 0


def _show(args) -> int:
    import pandas as pd

    from optkit import sweep

    table = sweep.results(args.dir)
    if args.failed:
        failed = table[table["status"] == "failed"]
        columns = [*sweep._report.varying_columns(table), "error"]
        shown = failed[list(dict.fromkeys(columns))].head(args.best)
    else:
        if args.sort not in table.columns:
            raise KeyError(f"no column {args.sort!r} to sort by")
        shown = sweep._report.best(table, args.best, by=args.sort)
    with pd.option_context("display.width", 200, "display.max_columns", 50):
        print(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


def _plot(args) -> int:
    import os

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from optkit import sweep

    parts = [p for p in (args.x, args.y, args.by) if p]
    out = args.out or os.path.join(args.dir, f"plot-{'-'.join(parts)}.png")
    fig = sweep.plot(args.dir, args.x, args.y, by=args.by, value=args.value, out=out)
    plt.close(fig)
    print(out)
    return 0


def main(args: argparse.Namespace) -> int:
    """Run ``optkit sweep <subcommand>``; errors are one line on stderr, status 1."""
    from optkit.sweep import _deps
    from optkit.sweep.errors import SpecChangedError, SpecError, SweepAborted

    try:
        _deps.require()
        if args.sweep_command == "plot":
            _deps.require("matplotlib", extra="plot", what="optkit sweep plot")
        action = {"run": _run, "status": _status, "show": _show, "plot": _plot}
        return action[args.sweep_command](args)
    except (
        ImportError,
        SpecError,
        SpecChangedError,
        SweepAborted,
        OSError,
        KeyError,
    ) as exc:
        text = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"optkit sweep: error: {text}", file=sys.stderr)
        return 1


def _status(args) -> int:
    from optkit import sweep

    print(sweep._report.format_status(sweep.status(args.dir)))
    return 0
