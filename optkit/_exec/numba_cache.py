"""The folder of generated Numba modules, and loading them.

:func:`load_generated` writes a generated module's text into the cache folder
(``$OPTKIT_CACHE_DIR`` or the user's cache directory) and imports it; Numba keeps its
compiled code beside it (``cache=True``). :func:`call` calls one of its loops.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

__all__ = ["cache_dir", "call", "load_generated"]


def cache_dir() -> Path:
    """Folder of generated kernel modules (``$OPTKIT_CACHE_DIR`` or the user cache)."""
    root = os.environ.get("OPTKIT_CACHE_DIR")
    if root:
        base = Path(root)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg) if xdg else Path.home() / ".cache") / "optkit"
    path = base / "numba"
    path.mkdir(parents=True, exist_ok=True)
    return path


def load_generated(name: str, text: str) -> Any:
    """Write ``text`` as module ``name`` into the cache folder (atomically) and import it."""
    path = cache_dir() / f"{name}.py"
    if not path.exists() or path.read_text() != text:
        fd, tmp = tempfile.mkstemp(
            prefix=f".{name}.{os.getpid()}.{threading.get_ident()}.", dir=path.parent
        )
        with os.fdopen(fd, "w") as file:
            file.write(text)
        os.replace(tmp, path)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def call(module: Any, function: str, args: tuple) -> Any:
    """``module.<function>(*args)``."""
    return getattr(module, function)(*args)


def call_function(module: Any, function: Any, args: tuple) -> Any:
    """``function(*args)`` for a loop of ``module`` already looked up."""
    return function(*args)
