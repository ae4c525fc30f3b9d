"""The sweep's optional dependencies: a clear message naming the extra to install."""

from __future__ import annotations

import importlib
import sys
from typing import Any

__all__ = ["parse_toml", "require"]

#: What ``pip install 'optkit[sweep]'`` brings (import names).
SWEEP_MODULES = ("distributed", "pandas", "pyarrow")


def require(*modules: str, extra: str = "sweep", what: str = "optkit sweep") -> None:
    """Import ``modules`` (default: the ``sweep`` extra's); raise ``ImportError``
    naming the extra to install when one is missing."""
    missing = []
    for name in modules or SWEEP_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ImportError(
            f"{what} needs {', '.join(missing)}, which is not installed: "
            f"pip install 'optkit[{extra}]'"
        )


def parse_toml(text: str) -> dict[str, Any]:
    """Parse TOML text (``tomllib``, or ``tomli`` before Python 3.11)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - depends on the interpreter
        try:
            import tomli as tomllib
        except ImportError as exc:
            raise ImportError(
                "reading TOML on Python 3.10 needs tomli: pip install 'optkit[sweep]'"
            ) from exc
    return tomllib.loads(text)
