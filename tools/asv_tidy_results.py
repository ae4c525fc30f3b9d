"""Make ``asv run --python=same`` result files fit to commit: no local paths.

asv names the environment of ``--python=same`` after the interpreter's absolute path
(``<hash>-existing-py_home_me_venv_bin_python3.11.json``, with the path again in
the file). This renames each such file to ``<hash>-existing-py<X.Y>.json`` and keeps
only the Python version inside, merging into an existing file of that name (the
newer file's benchmarks win). asv reads the results as before::

    python tools/asv_tidy_results.py asv_bench/results
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path


def tidy_file(path: Path) -> Path | None:
    """Rename and clean one result file; returns the new path (None: nothing to do)."""
    data = json.loads(path.read_text())
    env = str(data.get("env_name", ""))
    if not env.startswith("existing-py_"):
        return None
    found = re.search(r"(\d+\.\d+)$", str(data.get("python", "")))
    version = found.group(1) if found else f"{sys.version_info[0]}.{sys.version_info[1]}"
    data["env_name"] = f"existing-py{version}"
    data["python"] = version
    data.setdefault("params", {})["python"] = version
    target = path.with_name(f"{str(data['commit_hash'])[:8]}-{data['env_name']}.json")
    if target.is_file():
        old = json.loads(target.read_text())
        if old.get("result_columns") == data.get("result_columns"):
            data["results"] = {**old.get("results", {}), **data["results"]}
    target.write_text(json.dumps(data, separators=(",", ":"), allow_nan=True))
    path.unlink()
    return target


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="the asv results folder")
    args = parser.parse_args(argv)
    if not args.results.is_dir():
        parser.error(f"not a folder: {args.results}")
    for path in sorted(args.results.glob("*/*.json")):
        if path.name != "machine.json":
            target = tidy_file(path)
            if target is not None:
                print(f"{path.name} -> {target.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
