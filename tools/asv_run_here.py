"""Run a selection of the asv suite in this process and write asv result files.

For a machine without asv or without a git checkout (a GPU host that gets a copy of
the working tree): it needs only ``asv_runner`` (pure Python, no dependencies; the
package asv itself uses to time benchmarks) and writes the files ``asv run`` would::

    python tools/asv_run_here.py --machine gpu-h200 --commit $(git rev-parse HEAD) \
        -b "\\('(cupy|torch-cuda[a-z-]*|roofline-cuda)'" --budget 150

* ``asv_bench/results/<machine>/machine.json`` (CPU, cores, RAM, GPU);
* ``asv_bench/results/<machine>/<commit[:8]>-existing-py<X.Y>.json`` (merged with
  an existing file of that name, so several runs add up);
* ``asv_bench/results/benchmarks.json`` when there is none (the suite as found here).

Files are written after each benchmark, so a run cut short keeps what it measured.

``-b`` selects like ``asv run -b``: a regular expression matched against
``name(param, ...)`` of each parameter combination (or ``name``). ``peakmem_``
benchmarks are left out: in one process the peak resident memory is the whole run's.
Timings follow asv's own rules (asv_runner's timers and statistics). ``--budget``
stops before the next parameter combination once that many seconds have passed.
Exit status 0, or 2 when asv_runner is missing.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # optkit from this working tree

COLUMNS = ["result", "params", "version", "started_at", "duration", "stats_ci_99_a",
           "stats_ci_99_b", "stats_q_25", "stats_q_75", "stats_number", "stats_repeat"]  # fmt: skip


def parse_args(argv=None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--machine", default=None, help="default: gpu-<name> or the host")
    parser.add_argument("--commit", default=os.environ.get("OPTKIT_COMMIT", ""))
    parser.add_argument("-b", "--bench", action="append", default=[], metavar="REGEX")
    parser.add_argument("--results", type=Path, default=ROOT / "asv_bench" / "results")
    parser.add_argument(
        "--benchmarks", type=Path, default=ROOT / "asv_bench" / "benchmarks"
    )
    parser.add_argument("--budget", type=float, default=float("inf"), help="seconds")
    args = parser.parse_args(argv)
    if args.commit and not re.fullmatch(r"[0-9a-f]{7,40}", args.commit):
        parser.error(f"--commit must be a hexadecimal git hash, got {args.commit!r}")
    args.commit = args.commit or "0" * 40
    if not args.budget > 0:
        parser.error("--budget must be > 0")
    return args


def default_machine() -> str:
    """``gpu-<first GPU's name>`` where there is one, else the host name."""
    from optkit.bench.machine import gpu_lines

    line = gpu_lines()[0]
    if line.startswith("GPU 0: "):
        name = line[len("GPU 0: ") :].split(",")[0]
        return "gpu-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", platform.node()) or "unknown"


def machine_info(name: str) -> dict:
    """asv's machine.json fields, plus the first GPU."""
    from optkit.bench.machine import gpu_lines

    try:
        pages, page = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        ram = f"{pages * page / 2**30:.0f} GiB"
    except (ValueError, OSError, AttributeError):
        ram = ""
    return {"arch": platform.machine(), "cpu": platform.processor() or platform.machine(),
            "gpu": gpu_lines()[0], "machine": name, "num_cpu": str(os.cpu_count()),
            "os": platform.system(), "ram": ram, "version": 1}  # fmt: skip


def selected(benchmark, patterns: list[str]) -> list[int] | None:
    """Parameter indices selected by ``patterns`` (asv's rule); None: not selected."""
    if not benchmark.params:
        hit = not patterns or any(re.search(p, benchmark.name) for p in patterns)
        return [0] if hit else None
    chosen = [
        i for i, combo in enumerate(itertools.product(*benchmark.params))
        if not patterns or any(re.search(p, f"{benchmark.name}({', '.join(combo)})")
                               for p in patterns)
    ]  # fmt: skip
    return chosen or None


def run_one(benchmark, index: int, cache) -> tuple:
    """(value, stats or None) of one parameter combination; NaN when skipped."""
    from asv_runner.statistics import compute_stats

    if benchmark.params:
        benchmark.set_param_idx(index)
    benchmark.set_cache(cache)
    if benchmark.do_setup():
        return math.nan, None
    try:
        result = benchmark.do_run()
    except NotImplementedError:
        result = math.nan
    finally:
        benchmark.do_teardown()
    if isinstance(result, dict) and "samples" in result:
        value, stats = compute_stats(result["samples"], result["number"])
        return value, stats
    return (math.nan if result is None else result), None


def _row(benchmark, values: list, stats: list, started: float, duration: float) -> list:
    def stat(key):
        column = [s.get(key) if s else None for s in stats]
        return None if all(v is None for v in column) else column

    return [values, benchmark.params, benchmark.version, int(started * 1000), duration,
            stat("ci_99_a"), stat("ci_99_b"), stat("q_25"), stat("q_75"), stat("number"),
            stat("repeat")]  # fmt: skip


def write_results(args, machine: str, rows: dict, listing: list[dict]) -> Path:
    """Write (merge) the result file, machine.json and, if absent, benchmarks.json."""
    folder = args.results / machine
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "machine.json").write_text(json.dumps(machine_info(machine), indent=4))
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    env_name = f"existing-py{python}"
    path = folder / f"{args.commit[:8]}-{env_name}.json"
    data = json.loads(path.read_text()) if path.is_file() else {
        "commit_hash": args.commit, "env_name": env_name, "date": int(time.time() * 1000),
        "params": {"machine": machine, "python": python}, "python": python,
        "requirements": {}, "env_vars": {}, "result_columns": COLUMNS, "results": {},
        "durations": {}, "version": 2,
    }  # fmt: skip
    for name, row in rows.items():
        old = data["results"].get(name)
        if old and old[1] == row[1] and old[0] is not None:  # keep earlier combinations
            row[0] = [
                new if not _missing(new) else prev for new, prev in zip(row[0], old[0])
            ]
        data["results"][name] = row
    path.write_text(json.dumps(data, indent=1, allow_nan=True))
    suite = args.results / "benchmarks.json"
    if not suite.is_file():
        suite.write_text(
            json.dumps({**{b["name"]: b for b in listing}, "version": 2}, indent=1)
        )
    return path


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def main(argv=None) -> int:
    """Run the selection; write the files; print one line per benchmark."""
    args = parse_args(argv)
    try:
        from asv_runner._aux import update_sys_path
        from asv_runner.discovery import disc_benchmarks
    except ImportError:
        print("asv_run_here: needs asv_runner (pip install asv_runner)")
        return 2
    machine = args.machine or default_machine()
    root = str(args.benchmarks.resolve())
    update_sys_path(root)
    benchmarks = list(disc_benchmarks(root))
    listing = [{k: v for k, v in b.__dict__.items() if not k.startswith("_")
                and isinstance(v, (str, int, float, list, dict, bool))} for b in benchmarks]  # fmt: skip
    start, rows, caches = time.monotonic(), {}, {}
    path = None
    for benchmark in benchmarks:
        chosen = selected(benchmark, args.bench)
        if chosen is None or benchmark.type == "peakmem":
            continue
        if time.monotonic() - start > args.budget:
            print(f"budget of {args.budget:g} s spent: stopped before {benchmark.name}")
            break
        key = benchmark.setup_cache_key
        if key is not None and key not in caches:
            caches[key] = benchmark.do_setup_cache()
        size = len(list(itertools.product(*benchmark.params))) if benchmark.params else 1
        values, stats, began, done = [None] * size, [None] * size, time.time(), 0
        for index in chosen:
            if time.monotonic() - start > args.budget:
                print(f"budget of {args.budget:g} s spent: stopped within {benchmark.name}")
                break
            values[index], stats[index] = run_one(benchmark, index, caches.get(key))
            done += not _missing(values[index])
        rows[benchmark.name] = _row(benchmark, values, stats, began, time.time() - began)
        path = write_results(args, machine, {benchmark.name: rows[benchmark.name]}, listing)
        print(f"{benchmark.name}: {done} of {len(chosen)} measured", flush=True)
    if path is None:
        path = write_results(args, machine, {}, listing)
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
