"""Writing a sweep spec (plain data) as TOML: scalars first, then one table per dict.

Only what a spec holds is supported: strings, booleans, integers, floats (``inf``
and ``nan`` included), lists, and dicts (top-level dicts become ``[tables]``, nested
ones inline tables). ``tomllib.loads(dumps(spec)) == spec`` for every valid spec.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

__all__ = ["dumps"]

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(name: str) -> str:
    return name if _BARE_KEY.match(name) else json.dumps(name)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON's escapes are valid in TOML basic strings
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    raise TypeError(f"cannot write {value!r} ({type(value).__name__}) as TOML")


def dumps(spec: dict[str, Any]) -> str:
    """``spec`` as TOML text: top-level dicts as ``[tables]``, the rest as values."""
    lines = [f"{_key(k)} = {_value(v)}" for k, v in spec.items() if not isinstance(v, dict)]
    for key, table in spec.items():
        if isinstance(table, dict):
            lines += ["", f"[{_key(key)}]"]
            lines += [f"{_key(k)} = {_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"
