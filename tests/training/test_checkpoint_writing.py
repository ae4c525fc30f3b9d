"""Writing checkpoints: short temporary names, file modes without touching the
umask, and cleanup of temporary files left by killed writers."""

from __future__ import annotations

import os

import numpy as np
import pytest

from optkit import checkpoint
from optkit.checkpoint import load_checkpoint, save_checkpoint


def files_in(folder) -> list[str]:
    return sorted(os.listdir(folder))


@pytest.mark.parametrize("length", [250, 255])
def test_longest_legal_file_names(tmp_path, monkeypatch, length):
    path = tmp_path / ("c" * (length - 4) + ".npz")
    created = []
    real = checkpoint._tempfiles.create

    def spy(target):
        fd, tmp = real(target)
        created.append(os.path.basename(tmp))
        return fd, tmp

    monkeypatch.setattr(checkpoint._tempfiles, "create", spy)
    save_checkpoint(path, w=np.arange(3.0))
    assert files_in(tmp_path) == [path.name]
    np.testing.assert_array_equal(load_checkpoint(path)["w"], np.arange(3.0))
    (temporary,) = created
    assert len(temporary.encode()) <= 100 and temporary.endswith(".tmp")


def _with_umask(mask: int, fn):
    old = os.umask(mask)
    try:
        return fn()
    finally:
        os.umask(old)


@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_umask_is_respected_and_never_changed(tmp_path, monkeypatch, mask):
    path = tmp_path / "c.npz"

    def forbidden(*args):
        raise AssertionError("save_checkpoint changed the process umask")

    def save():
        monkeypatch.setattr(os, "umask", forbidden)
        try:
            save_checkpoint(path, w=np.ones(2))
        finally:
            monkeypatch.undo()

    _with_umask(mask, save)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~mask
    os.chmod(path, 0o640)  # an existing file keeps its mode
    _with_umask(mask, save)
    assert os.stat(path).st_mode & 0o777 == 0o640


def test_temporary_file_is_never_more_open_than_the_target(tmp_path, monkeypatch):
    path = tmp_path / "secret.npz"
    save_checkpoint(path, w=np.ones(2))
    os.chmod(path, 0o600)
    modes = []
    real = checkpoint._write_archive

    def spy(file, arrays, meta):
        modes.append(os.fstat(file.fileno()).st_mode & 0o777)
        return real(file, arrays, meta)

    monkeypatch.setattr(checkpoint, "_write_archive", spy)
    _with_umask(0o000, lambda: save_checkpoint(path, w=np.zeros(2)))
    assert modes == [0o600]
    assert os.stat(path).st_mode & 0o777 == 0o600


# ------------------------------------------------------------------ stale temporaries
_KILLED_WRITER = """
import os, sys
from optkit import _tempfiles
fd, tmp = _tempfiles.create(sys.argv[1])
os.write(fd, b"x" * 100000)  # then killed before cleaning up
print(tmp)
os._exit(9)
"""


def test_temporaries_of_killed_writers_are_removed_by_the_next_save(tmp_path):
    import subprocess
    import sys
    import time

    from optkit import _tempfiles

    target = str(tmp_path / "run.npz")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", _KILLED_WRITER, target],
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 9, out.stderr
    orphan = os.path.basename(out.stdout.strip())
    stem = _tempfiles._stem("run.npz")
    here = _tempfiles._host()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        keep = {
            f"{stem}-{here}-{sleeper.pid}-0123abcd.tmp",  # a live writer
            f"{stem}-ffffff-999999-0123abcd.tmp",  # another host, recent
            f"{_tempfiles._stem('other.npz')}-{here}-999999-0123abcd.tmp",  # other target
            ".run.npz.notours.tmp",
        }
        old = f"{stem}-ffffff-999998-0123abcd.tmp"  # another host, hours old
        for name in [*keep, old]:
            (tmp_path / name).write_bytes(b"partial")
        hours_ago = time.time() - 2 * _tempfiles.STALE_SECONDS
        os.utime(tmp_path / old, (hours_ago, hours_ago))
        assert orphan in files_in(tmp_path)
        save_checkpoint(target, w=np.ones(2))
        assert set(files_in(tmp_path)) == keep | {"run.npz"}
    finally:
        sleeper.kill()
        sleeper.wait()
