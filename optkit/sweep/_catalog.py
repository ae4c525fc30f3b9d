"""What a spec may name: the optimizers' hyperparameters and the problems' parameters."""

from __future__ import annotations

import difflib
import inspect
import json
from typing import Any

from optkit.sweep.errors import SpecError

__all__ = ["canonical", "hyperparameters", "known_optimizers", "problem_parameters"]

#: Constructor arguments that ``ok.lab.run`` controls itself.
_RESERVED = ("self", "params", "backend", "nonfinite")


def canonical(data: Any) -> str:
    """Canonical JSON (sorted keys, no spaces): equal data, equal text, equal hashes."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=True)


def suggest(word: str, choices: list[str]) -> str:
    """``" (did you mean 'lr'?)"`` when a close match exists, else ``""``."""
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def known_optimizers() -> dict[str, tuple[type, dict[str, Any], dict[str, Any]]]:
    """``ok.lab.OPTIMIZERS``: name -> (class, fixed options, changed defaults)."""
    import optkit as ok

    return ok.lab.OPTIMIZERS


def hyperparameters(optimizer: str) -> dict[str, Any]:
    """The hyperparameters a spec may set for ``optimizer`` and their defaults.

    A pair such as Adam's ``betas`` appears as ``betas[0]`` and ``betas[1]``;
    options that the optimizer's name fixes (``nesterov`` for ``"nesterov"``) are
    left out. A bool default marks a flag.
    """
    cls, fixed, name_defaults = known_optimizers()[optimizer]
    catalog: dict[str, Any] = {}
    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        if name in _RESERVED or name in fixed or parameter.kind is parameter.VAR_KEYWORD:
            continue
        default = name_defaults.get(name, parameter.default)
        if isinstance(default, tuple):
            for i, part in enumerate(default):
                catalog[f"{name}[{i}]"] = float(part)
        else:
            catalog[name] = default
    return catalog


def check_hyperparameter(key: str, name: str, optimizer: str, catalog: dict) -> None:
    """Raise :class:`SpecError` unless ``name`` is one of ``optimizer``'s settings."""
    if name in catalog:
        return
    _cls, fixed, _ = known_optimizers()[optimizer]
    if name in fixed:
        raise SpecError(
            key,
            f"optimizer {optimizer!r} fixes {name}={fixed[name]!r}; choose another "
            f"optimizer name to set it",
        )
    if f"{name}[0]" in catalog:
        raise SpecError(key, f"{name} is a pair: set {name}[0] and/or {name}[1]")
    raise SpecError(
        key,
        f"optimizer {optimizer!r} has no hyperparameter {name!r}"
        f"{suggest(name, list(catalog))}; its hyperparameters: {', '.join(catalog)}",
    )


def problem_parameters(key: str, name: Any) -> list[str]:
    """The parameters of the problem ``name`` (SpecError if there is no such problem)."""
    from optkit import problems

    if not isinstance(name, str):
        raise SpecError(f"{key}.name", f"expected a problem name, got {name!r}")
    if name not in problems.PROBLEMS:
        raise SpecError(
            f"{key}.name",
            f"unknown problem {name!r}{suggest(name, problems.names())}; known: "
            f"{', '.join(problems.names())}",
        )
    return list(inspect.signature(problems.PROBLEMS[name]).parameters)
