"""The ``problem`` key of a spec: tables of parameters, lists sweep, each built once."""

from __future__ import annotations

import itertools
from typing import Any

from optkit.sweep._catalog import canonical, problem_parameters, suggest
from optkit.sweep.errors import SpecError

__all__ = ["check_problems", "configurations"]


def _axis(key: str, value: Any) -> list[Any]:
    """A parameter's values: a list sweeps it (a list-valued parameter is written as
    a list of lists), anything else is one value."""
    values = value if isinstance(value, list) else [value]
    if not values:
        raise SpecError(key, "the list is empty: give at least one value")
    seen = set()
    for v in values:
        text = canonical(v)
        if text in seen:
            raise SpecError(key, f"the value {v!r} appears twice")
        seen.add(text)
    return values


def _table(key: str, table: Any) -> dict[str, list[Any]]:
    if not isinstance(table, dict):
        raise SpecError(
            key, f"expected a table such as {{ name = 'quadratic' }}, got {table!r}"
        )
    if "name" not in table:
        raise SpecError(f"{key}.name", "missing: which problem (optkit.problems.names())")
    accepted = problem_parameters(key, table["name"])
    axes = {"name": [table["name"]]}
    for param, value in table.items():
        if param == "name":
            continue
        if param not in accepted:
            raise SpecError(
                f"{key}.{param}",
                f"problem {table['name']!r} has no parameter {param!r}"
                f"{suggest(param, accepted)}; its parameters: {', '.join(accepted)}",
            )
        axes[param] = _axis(f"{key}.{param}", value)
    return axes


def configurations(axes: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of a problem table's values, in the order written."""
    keys = list(axes)
    return [dict(zip(keys, combo)) for combo in itertools.product(*axes.values())]


def check_problems(value: Any, metric_kind: str) -> tuple[list[dict], dict[str, tuple]]:
    """Check the ``problem`` key and build every configuration once.

    Returns the tables (parameter -> values) and, per canonical configuration,
    ``(dim, f_star)``.
    """
    import optkit as ok

    tables = value if isinstance(value, list) else [value]
    if not tables:
        raise SpecError("problem", "the list of problems is empty")
    keys = (
        [f"problem[{i}]" for i in range(len(tables))]
        if isinstance(value, list)
        else ["problem"]
    )
    axes = [_table(key, table) for key, table in zip(keys, tables)]
    info: dict[str, tuple[int, float | None]] = {}
    for key, table in zip(keys, axes):
        for config in configurations(table):
            text = canonical(config)
            if text in info:
                raise SpecError(key, f"the problem {config} appears twice")
            try:
                problem = ok.problems.make(**config)
            except Exception as exc:  # the factory's own message names the parameter
                raise SpecError(key, f"cannot build {config}: {exc}") from None
            if metric_kind == "steps_to" and problem.f_star is None:
                raise SpecError(
                    "metric",
                    f"steps_to needs the minimum value, which problem {config} does not "
                    f"know; use final_loss or best_loss",
                )
            info[text] = (int(problem.dim), problem.f_star)
    return axes, info
