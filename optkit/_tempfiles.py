"""Temporary files for atomic replacement of a target file, and their cleanup.

A temporary file lives next to its target (so ``os.replace`` is atomic) under a short
name, whatever the target's length (a legal 250-byte file name still leaves room):

    .<first 24 bytes of the target name>~<hash of the name>-<host>-<pid>-<random>.tmp

The hash ties the file to its target, the host and process id to its writer. A writer
killed before it could remove its temporary file leaves it behind; the next write of
the same target removes such files when their writer is gone (same host, process no
longer running) or when they are older than :data:`STALE_SECONDS` (any host).

The file is created with the mode the target will have: the target's current mode
when it exists, else what ``open()`` gives (``0o666`` less the umask, applied by the
kernel); the process umask is never changed. :func:`write_atomically` writes a target
through such a file: a crash leaves the old content or the new one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import socket
import stat
import time
from collections.abc import Callable
from typing import IO, Any

#: A temporary file of a dead writer on another host is removed after this long.
STALE_SECONDS = 3600.0


def _host() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]


def _stem(base: str) -> str:
    """The part of a temporary name that identifies the target ``base``."""
    digest = hashlib.sha256(base.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    short = base.encode("utf-8", "surrogateescape")[:24].decode("utf-8", "ignore")
    return f".{short}~{digest}"


def create(target: str) -> tuple[int, str]:
    """Create a new temporary file for ``target``; return ``(fd, path)``.

    Its mode is final from the start: ``target``'s mode if it exists (the file is
    created no more permissive than that, then set to it exactly), else
    ``0o666 & ~umask`` as for any new file.
    """
    folder, base = os.path.split(target)
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = None
    for _ in range(100):
        name = f"{_stem(base)}-{_host()}-{os.getpid()}-{secrets.token_hex(4)}.tmp"
        path = os.path.join(folder, name)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(path, flags, 0o666 if mode is None else mode)
        except FileExistsError:
            continue
        if mode is not None:
            try:
                os.fchmod(fd, mode)
            except BaseException:
                os.close(fd)
                os.unlink(path)
                raise
        return fd, path
    raise FileExistsError(f"could not create a temporary file next to {target!r}")


def write_atomically(target: str, write: Callable[[IO[bytes]], Any]) -> None:
    """Write ``target`` through ``write(file)`` into a temporary file of :func:`create`,
    flush and ``fsync`` it, then rename it over ``target`` (``os.replace``).

    On any error (of ``write`` included) the temporary file is removed, ``target`` is
    left as it was and the error propagates. The folder itself is not ``fsync``-ed.
    """
    fd, tmp = create(target)
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _writer_gone(host: str, pid: int, age: float) -> bool:
    if age > STALE_SECONDS:
        return True
    if host != _host() or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, owned by someone else
        return False
    return False


def remove_stale(target: str) -> list[str]:
    """Remove temporary files of ``target`` left by writers that are gone; their names.

    Only regular files whose name matches this module's pattern for ``target`` are
    considered; errors (a file already removed, a read-only folder) are ignored.
    """
    folder, base = os.path.split(target)
    pattern = re.compile(
        re.escape(_stem(base)) + r"-([0-9a-f]{6})-([0-9]+)-[0-9a-f]{8}\.tmp\Z"
    )
    removed = []
    try:
        names = os.listdir(folder or ".")
    except OSError:
        return removed
    now = time.time()
    for name in names:
        match = pattern.match(name)
        if match is None:
            continue
        path = os.path.join(folder, name)
        with contextlib.suppress(OSError):
            info = os.lstat(path)
            if not stat.S_ISREG(info.st_mode):
                continue
            host, pid = match.group(1), int(match.group(2))
            if _writer_gone(host, pid, now - info.st_mtime):
                os.unlink(path)
                removed.append(name)
    return removed
