"""A private, self-healing disk cache for optkit's generated Numba modules.

Generated kernel modules live in real files so that Numba's ``cache=True`` can keep
their machine code between processes. This module decides where those files go,
writes them safely, loads them, and repairs the cache when it is damaged.

API for the code generator
--------------------------
``cache_dir() -> Path | None``
    The folder for generated modules, or ``None``: compile in memory. The user's
    cache (``$OPTKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/optkit/numba`` or
    ``~/.cache/optkit/numba``); else ``optkit-<uid>/numba`` in the shared temporary
    folder, made with mode 0700; else ``None`` (one ``KernelCacheWarning``).
``write_module(name, text) -> Path | None``
    ``<cache_dir>/<name>.py`` holding ``text``, written atomically (a temporary file
    unique per process and thread, then ``os.replace``). ``None`` (one warning, no
    temporary left behind) when the folder turns out unwritable or full.
``load_module(name, text) -> ModuleType``
    Write (if needed) and execute the module. ``text`` must pass ``cache=_CACHE``
    to ``numba.njit``: ``_CACHE`` is True when the module runs from a cache file,
    False when it is compiled in memory. No ``.pyc`` is written.
``KernelModule(name, text)``
    ``load_module`` plus repair: ``.module`` is the loaded module; call
    ``.recover(exc, call)`` from an ``except`` around the first calls of its
    functions. ``recover`` purges the module's Numba cache entries (``.nbi``/``.nbc``),
    rewrites the file, reloads and retries ``call(module)`` once; if that fails, it
    compiles in memory and retries; if that fails too the error is genuine and is
    raised. A recovery that succeeds warns once.
``parallel_lock()``
    A context manager to hold around every call of a ``parallel=True`` function: a
    real lock under Numba's ``workqueue`` threading layer (which aborts the process
    when two threads launch parallel work at once), a no-op under ``omp``/``tbb``.

Checks on a folder before it is used: it is a folder owned by the current user and
writable by nobody else; the temporary-folder fallback must moreover be a real folder
(not a symbolic link) without any permission bits for group or others. Writability
is tested by really writing (and removing) a uniquely named probe file, so a
read-only folder or a full disk is detected even when an old probe file exists.
"""

from __future__ import annotations

import contextlib
import linecache
import os
import stat
import sys
import tempfile
import threading
import types
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from optkit.errors import KernelCacheWarning

__all__ = ["KernelModule", "cache_dir", "load_module", "parallel_lock", "write_module"]

_lock = threading.RLock()
_decided: dict[str, Path | None] = {}  # configured root -> usable folder or None
_broken: set[str] = set()  # folders that failed a write after passing the checks
_warned: set[str] = set()  # warning kinds already given in this process
_parallel: Any = None


# ----------------------------------------------------------------- warnings
def _warn_once(kind: str, message: str) -> None:
    with _lock:
        if kind in _warned:
            return
        _warned.add(kind)
    warnings.warn(message, KernelCacheWarning, stacklevel=3)


# ----------------------------------------------------------------- the folder
def _user_root() -> Path:
    root = os.environ.get("OPTKIT_CACHE_DIR")
    if root:
        return Path(root) / "numba"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "optkit" / "numba"


def _fallback_root() -> Path:
    return Path(tempfile.gettempdir()) / f"optkit-{os.getuid()}"


def _private(path: Path, strict: bool) -> str | None:
    """Why ``path`` must not hold code we execute, or None when it may.

    A folder owned by us, not writable by group or others; ``strict`` (the shared
    temporary folder): moreover not a symbolic link, no group/other bits at all.
    """
    try:
        info = os.lstat(path) if strict else os.stat(path)
    except OSError as exc:
        return f"cannot inspect it ({exc.strerror or exc})"
    if stat.S_ISLNK(info.st_mode):
        return "it is a symbolic link"
    if not stat.S_ISDIR(info.st_mode):
        return "it is not a folder"
    if info.st_uid != os.getuid():
        return f"it is owned by uid {info.st_uid}, not by this user ({os.getuid()})"
    bits = stat.S_IMODE(info.st_mode)
    if bits & (0o077 if strict else 0o022):
        return f"its mode {bits:#o} lets other users in (0700 expected)"
    return None


def _probe(folder: Path) -> str | None:
    """Really write a uniquely named file (then remove it); why not, or None."""
    fd, name = -1, None
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".probe-", suffix=".tmp")
        os.write(fd, b"optkit")
        return None
    except OSError as exc:
        return f"it is not writable ({exc.strerror or exc})"
    finally:
        if fd >= 0:
            os.close(fd)
        if name is not None:
            with contextlib.suppress(OSError):
                os.unlink(name)


def _prepare(path: Path, strict: bool, parents: bool) -> str | None:
    """Create ``path`` (mode 0700) if missing, then check it; why not, or None."""
    try:
        if parents:
            path.parent.mkdir(parents=True, exist_ok=True)
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        return f"it cannot be created ({exc.strerror or exc})"
    return _private(path, strict) or _probe(path)


def _choose(user: Path) -> Path | None:
    why = _prepare(user, strict=False, parents=True)
    if why is None:
        return user
    shared = _fallback_root()
    folder = shared / "numba"
    why_shared = _prepare(shared, strict=True, parents=False) or _prepare(
        folder, strict=True, parents=False
    )
    if why_shared is None:
        _warn_once(
            "folder",
            f"optkit kernel cache {str(user)!r} is not usable ({why}); using "
            f"{str(folder)!r} instead (set OPTKIT_CACHE_DIR to a private folder)",
        )
        return folder
    _warn_once(
        "folder",
        f"optkit kernel cache {str(user)!r} is not usable ({why}) and the fallback "
        f"{str(shared)!r} is refused ({why_shared}); Numba kernels are compiled in "
        f"memory in this process (set OPTKIT_CACHE_DIR to a private folder)",
    )
    return None


def cache_dir() -> Path | None:
    """The folder for generated modules, or None (compile in memory); see the module
    docstring. Decided once per process for each configured location."""
    user = _user_root()
    key = str(user)
    with _lock:
        if key not in _decided:
            _decided[key] = _choose(user)
        folder = _decided[key]
    if folder is not None and str(folder) in _broken:
        return None
    return folder


# ----------------------------------------------------------------- files
def _mark_broken(folder: Path, why: str) -> None:
    with _lock:
        _broken.add(str(folder))
    _warn_once(
        "write",
        f"cannot write to the optkit kernel cache {str(folder)!r} ({why}); Numba "
        f"kernels are compiled in memory in this process from now on",
    )


def write_module(name: str, text: str, *, force: bool = False) -> Path | None:
    """Write ``text`` to ``<cache_dir>/<name>.py`` atomically; see the module docstring.

    An existing file with the same content is kept (Numba's cache keys on its
    timestamp); one with other content is damaged: it is replaced, its Numba
    entries purged, and a warning given. ``force`` rewrites it in any case.
    """
    folder = cache_dir()
    if folder is None:
        return None
    path = folder / f"{name}.py"
    data = text.encode()
    try:
        current = path.read_bytes()
    except OSError:
        current = None
    if current == data and not force:
        return path
    if current is not None and current != data:
        _warn_once(
            "damaged",
            f"optkit kernel cache entry {str(path)!r} was damaged; it was discarded and "
            f"is rebuilt (later repairs in this process are not reported)",
        )
        purge(name, folder)
    fd, tmp = -1, None
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        _mark_broken(folder, exc.strerror or str(exc))
        return None
    finally:
        if fd >= 0:
            os.close(fd)
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return path


def purge(name: str, folder: Path | None = None, extra: tuple = ()) -> int:
    """Remove Numba's cache entries (``.nbi``/``.nbc``) of module ``name``; how many.

    Looks in ``folder/__pycache__`` (Numba's in-tree location) and in ``extra``.
    """
    folder = folder if folder is not None else cache_dir()
    places = {Path(p) for p in extra}
    if folder is not None:
        places.add(folder / "__pycache__")
    removed = 0
    for place in places:
        try:
            entries = list(place.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith(f"{name}.") and entry.suffix in (".nbi", ".nbc"):
                with contextlib.suppress(OSError):
                    entry.unlink()
                    removed += 1
    return removed


def _execute(name: str, text: str, path: Path | None) -> types.ModuleType:
    """Run ``text`` as module ``name`` (from ``path`` when given, else in memory)."""
    module = types.ModuleType(name)
    filename = str(path) if path is not None else f"<optkit generated {name}>"
    module.__file__ = filename
    module._CACHE = path is not None
    if path is None:  # tracebacks and Numba's error messages can show the source
        linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    code = compile(text, filename, "exec", dont_inherit=True)
    sys.modules[name] = module
    exec(code, module.__dict__)
    return module


def load_module(name: str, text: str, *, in_memory: bool = False) -> types.ModuleType:
    """Execute generated module ``text`` as ``name``; from a cache file when one can
    be written (``_CACHE = True``), else in memory (``_CACHE = False``)."""
    path = None if in_memory else write_module(name, text)
    if path is not None:
        try:
            return _execute(name, text, path)
        except Exception as exc:  # e.g. Numba finds no usable place for its cache
            _warn_once(
                "load",
                f"optkit kernel module {name!r} cannot use the kernel cache ({exc}); "
                f"it is compiled in memory",
            )
    return _execute(name, text, None)


# ----------------------------------------------------------------- repair
def _numba_cache_paths(module: types.ModuleType) -> tuple:
    """Where Numba keeps the entries of this module's functions (private API, guarded)."""
    caches = [getattr(value, "_cache", None) for value in vars(module).values()]
    return tuple(p for c in caches if isinstance(p := getattr(c, "_cache_path", None), str))


class KernelModule:
    """A generated module loaded through the cache, able to repair itself.

    Parameters
    ----------
    name : str
        Module name; also the file name (``<name>.py``) and the prefix of Numba's
        cache entries. It must change whenever ``text`` does (hash it).
    text : str
        The module source (uses ``cache=_CACHE`` in its ``numba.njit`` calls).

    Examples
    --------
    >>> import hashlib
    >>> text = "import numba\\n@numba.njit(cache=_CACHE)\\ndef twice(x):\\n    return 2 * x\\n"
    >>> name = "optkit_doc_" + hashlib.sha256(text.encode()).hexdigest()[:12]
    >>> kernels = KernelModule(name, text)
    >>> try:
    ...     y = kernels.module.twice(21)
    ... except Exception as exc:
    ...     y = kernels.recover(exc, lambda m: m.twice(21))
    >>> y
    42
    """

    def __init__(self, name: str, text: str):
        self.name, self.text = name, text
        self.module = load_module(name, text)
        self._repair_lock = threading.Lock()

    def recover(self, exc: BaseException, call: Callable[[types.ModuleType], Any]) -> Any:
        """``call(module)`` after ``exc`` was raised by a first call: rebuild the
        cache entry and retry once, then in memory; raise if the error persists."""
        with self._repair_lock:
            if not self.module._CACHE:
                raise exc
            purge(self.name, cache_dir(), _numba_cache_paths(self.module))
            path = write_module(self.name, self.text, force=True)
            if path is not None:
                try:
                    self.module = _execute(self.name, self.text, path)
                    result = call(self.module)
                except Exception as again:
                    exc = again
                else:
                    _warn_once(
                        "damaged",
                        f"optkit kernel cache entry {self.name!r} could not be loaded "
                        f"({type(exc).__name__}: {exc}); it was discarded and rebuilt "
                        f"(later repairs in this process are not reported)",
                    )
                    return result
                purge(self.name, cache_dir(), _numba_cache_paths(self.module))
            self.module = _execute(self.name, self.text, None)
            result = call(self.module)  # a failure here is genuine: it propagates
            _warn_once(
                "load",
                f"optkit kernel module {self.name!r} cannot use the kernel cache "
                f"({type(exc).__name__}: {exc}); it is compiled in memory",
            )
            return result


# ----------------------------------------------------------------- threads
def threading_layer() -> str:
    """Numba's threading layer (``"omp"``, ``"tbb"``, ``"workqueue"``); starts its
    threads if they were not running yet. ``"unknown"`` if Numba cannot tell."""
    try:
        import numba

        from optkit._exec.numba_threads import start_threads

        start_threads()
        return str(numba.threading_layer())
    except Exception:  # a Numba without these internals: assume the worst
        return "unknown"


def parallel_lock() -> Any:
    """A context manager for ``parallel=True`` calls: a lock under ``workqueue`` (not
    thread-safe: concurrent launches abort the process), a no-op otherwise."""
    global _parallel
    lock = _parallel
    if lock is None:
        with _lock:
            if _parallel is None:
                layer = threading_layer()
                safe = layer in ("omp", "tbb")
                _parallel = contextlib.nullcontext() if safe else threading.Lock()
            lock = _parallel
    return lock


def _reset_for_tests() -> None:
    """Forget every decision and warning (tests that change the environment)."""
    global _parallel
    with _lock:
        _decided.clear()
        _broken.clear()
        _warned.clear()
        _parallel = None
