"""Read asv result files (any number of machines) into flat records.

An asv results folder holds ``benchmarks.json`` (names, parameters, units) and one
folder per machine with ``machine.json`` and one JSON file per (commit,
environment). Each benchmark's values are stored for the Cartesian product of its
parameters; a value of ``NaN`` or ``null`` means skipped or failed and is dropped
here. Quick-subset benchmarks (``quick.*``) read as their full-suite namesakes
(``quick.OptimizerStep.time_step`` is the ``OptimizerStep.time_step`` kernel). When
several files of a machine hold the same point, the newest wins.
"""

from __future__ import annotations

import ast
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Machine", "Record", "load_results"]


@dataclass(frozen=True)
class Record:
    """One measured point: ``kernel`` is ``Class.method`` (module dropped)."""

    machine: str
    kernel: str
    params: tuple[tuple[str, str], ...]
    value: float
    unit: str
    commit: str
    date: int
    benchmark: str

    def param(self, name: str, default: str = "") -> str:
        """The value of parameter ``name`` (as text, quotes removed)."""
        return dict(self.params).get(name, default)


@dataclass
class Machine:
    """A machine's description (``machine.json``) and the commits it measured."""

    name: str
    info: dict[str, Any]
    commits: dict[str, int] = field(default_factory=dict)  # commit -> date (ms)

    def describe(self) -> str:
        """One line: CPU, cores, RAM (as asv recorded them)."""
        parts = [self.info.get("cpu", ""), f"{self.info.get('num_cpu', '?')} CPUs",
                 self.info.get("ram", ""), self.info.get("os", "")]  # fmt: skip
        return ", ".join(str(p) for p in parts if p)


def _unquote(text: str) -> str:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
    return value if isinstance(value, str) else text


def _kernel(benchmark: str) -> str:
    parts = benchmark.split(".")
    return ".".join(parts[-2:]) if len(parts) >= 2 else benchmark


def _meta(results_dir: Path) -> tuple[dict[str, dict], dict[str, dict]]:
    """benchmarks.json by full name and by kernel name (``Class.method``)."""
    path = results_dir / "benchmarks.json"
    data = json.loads(path.read_text()) if path.is_file() else {}
    by_name = {k: v for k, v in data.items() if isinstance(v, dict)}
    by_kernel = {_kernel(k): v for k, v in by_name.items() if not k.startswith("quick.")}
    return by_name, by_kernel


def _param_names(params: list[list[str]], info: dict) -> list[str] | None:
    """Names of a result's parameter lists: those of benchmarks.json, matched by their
    values (a result written before parameters were reordered still reads right), or
    None when they cannot be matched."""
    names, known = info.get("param_names"), info.get("params")
    if not params:
        return []
    if not names or not known:
        return None
    if [list(p) for p in params] == [list(k) for k in known]:
        return list(names)
    by_values = {frozenset(k): n for n, k in zip(names, known)}
    matched = [by_values.get(frozenset(p)) for p in params]
    return None if None in matched or len(set(matched)) < len(matched) else matched


def _file_records(path: Path, machine: str, meta: tuple[dict, dict]) -> list[Record]:
    data = json.loads(path.read_text())
    columns = data.get("result_columns", ["result", "params"])
    commit, date = data.get("commit_hash", "?"), int(data.get("date") or 0)
    out = []
    for benchmark, row in data.get("results", {}).items():
        cells = dict(zip(columns, row))
        values, params = cells.get("result"), cells.get("params") or []
        info = meta[0].get(benchmark) or meta[1].get(_kernel(benchmark), {})
        names = _param_names(params, info)
        if values is None or names is None:
            continue
        unit = info.get("unit", "seconds")
        combos = itertools.product(*params) if params else [()]
        for combo, value in zip(combos, values):
            if value is None or not math.isfinite(float(value)):
                continue
            out.append(Record(
                machine, _kernel(benchmark),
                tuple((n, _unquote(v)) for n, v in zip(names, combo)),
                float(value), unit, commit, date, benchmark,
            ))  # fmt: skip
    return out


def load_results(
    results_dir: Path | str, machines: list[str] | None = None
) -> tuple[list[Record], dict[str, Machine]]:
    """Every finite measured point under ``results_dir``, newest per point and machine.

    Raises ``ValueError`` when the folder holds no result file (of ``machines``).
    """
    results_dir = Path(results_dir)
    meta = _meta(results_dir)
    newest: dict[tuple, Record] = {}
    found: dict[str, Machine] = {}
    for folder in sorted(p for p in results_dir.iterdir() if p.is_dir()):
        if machines and folder.name not in machines:
            continue
        info_path = folder / "machine.json"
        info = json.loads(info_path.read_text()) if info_path.is_file() else {}
        machine = Machine(folder.name, info)
        for path in sorted(folder.glob("*.json")):
            if path.name == "machine.json":
                continue
            for record in _file_records(path, folder.name, meta):
                machine.commits[record.commit] = record.date
                key = (record.machine, record.kernel, record.params)
                if key not in newest or record.date >= newest[key].date:
                    newest[key] = record
        if machine.commits:
            found[folder.name] = machine
    if not found:
        which = f" for machines {machines}" if machines else ""
        raise ValueError(f"no asv result files under {results_dir}{which}")
    return list(newest.values()), found
