"""Run every example script: the claims of Goodfellow, Bengio & Courville (2016), ch. 8,
measured, with one figure each.

    python examples/run_all.py --out docs/figures [--quick] [--only momentum,cliffs]
                               [--backend numba] [--seed 0]

Runs the scripts listed in ``optkit.lab.claims.CLAIMS`` one after the other in this
process (each saves its PNG into ``--out``), then prints one line per script: its
verdict and how long it took. The exit status is 0 when every script ran (a claim
that does not hold is a result, reported as such), 1 when a script failed.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
import traceback

from optkit.lab.claims import CLAIMS, DEMOS

HERE = os.path.dirname(os.path.abspath(__file__))


def load(script: str):
    """Import an example script by its file name (examples/ is not a package)."""
    path = os.path.join(HERE, script)
    spec = importlib.util.spec_from_file_location(f"optkit_example_{script[:-3]}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def listed_and_present() -> list[str]:
    """The claim scripts; a script in examples/ that is neither a claim nor a demo
    (``optkit.lab.claims.DEMOS``) is an error."""
    listed = [c.script for c in CLAIMS]
    present = {
        f for f in os.listdir(HERE)
        if f.endswith(".py") and not f.startswith("_") and f != os.path.basename(__file__)
        and f not in DEMOS
    }  # fmt: skip
    missing = [s for s in listed if s not in present]
    unlisted = sorted(present - set(listed))
    if missing or unlisted:
        raise SystemExit(
            f"examples and optkit.lab.claims.CLAIMS disagree: missing files {missing}, "
            f"unlisted scripts {unlisted}"
        )
    return listed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="figures", help="folder for the figures")
    parser.add_argument("--quick", action="store_true", help="the reduced size of each")
    parser.add_argument("--only", help="comma-separated script names (without .py)")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    scripts = listed_and_present()
    if args.only:
        wanted = [w.strip().removesuffix(".py") + ".py" for w in args.only.split(",")]
        unknown = [w for w in wanted if w not in scripts]
        if unknown:
            parser.error(
                f"--only: unknown script {unknown[0]!r}; known: {', '.join(scripts)}"
            )
        scripts = [s for s in scripts if s in wanted]
    sys.path.insert(0, HERE)  # the scripts import _harness
    common = ["--out", args.out, "--backend", args.backend, "--seed", str(args.seed)]
    common += ["--quick"] if args.quick else []
    summary, failed = [], []
    for script in scripts:
        print(f"\n=== {script} {' '.join(common)}", flush=True)
        start = time.perf_counter()
        try:
            result = load(script).main(common)
        except Exception:
            traceback.print_exc()
            failed.append(script)
            summary.append((script, "failed", time.perf_counter() - start))
            continue
        summary.append((script, result["verdict"], time.perf_counter() - start))
    print("\n=== summary")
    for script, verdict, seconds in summary:
        print(f"{script:<26} {seconds:6.1f} s  {verdict}")
    holding = sum(v.startswith("claim holds: yes") for _, v, _ in summary)
    print(f"{holding} of {len(summary)} claims hold; figures in {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
