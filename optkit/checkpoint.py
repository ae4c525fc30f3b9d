"""Checkpoints: atomic, pickle-free ``.npz`` files with a JSON description.

A checkpoint is one NumPy ``.npz`` archive (the path is used as given; no suffix is
added). Every array of the saved objects is one entry (``a0``, ``a1``, ...); the
entry ``__optkit__`` holds UTF-8 JSON with the format version, the optkit and NumPy
versions, and the whole plain-data tree of the saved objects (names,
hyperparameters, counters, strings, numbers), in which each array is replaced by a
reference ``{"__ndarray__": "a3"}`` and described by its path, dtype and shape.

Writing is atomic: the archive goes to a temporary file in the destination's
folder, is flushed and ``fsync``-ed, then ``os.replace``-d over the destination,
and the folder is ``fsync``-ed; a crash at any point leaves either the old file or
the new one, never a mix, and the temporary file is removed. Reading uses
``np.load(..., allow_pickle=False)``: nothing is ever unpickled.

Encoding of the tree (JSON can hold neither tuples, non-string keys, NaN nor the
dtype of a NumPy scalar, so those get tagged objects):

========================================  ========================================
value                                     stored as
========================================  ========================================
array (any library; copied to NumPy)      ``{"__ndarray__": key}`` + npz entry
NumPy scalar (``np.float32(1.5)``)        ``{"__scalar__": key}`` + 0-d npz entry
tuple                                     ``{"__tuple__": [...]}``
non-finite float                          ``{"__float__": "nan" | "inf" | "-inf"}``
dict with a non-str or ``__`` key         ``{"__items__": [[key, value], ...]}``
object with ``state_dict()``              its ``state_dict()``
FlatParams                                dict of its named views
========================================  ========================================
"""

from __future__ import annotations

import json
import math
import os
import struct
import zipfile
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from optkit import _tempfiles
from optkit._host import to_numpy
from optkit._version import __version__
from optkit.errors import CheckpointError
from optkit.params import FlatParams

__all__ = ["CheckpointError", "load_checkpoint", "save_checkpoint"]

FORMAT = "optkit.checkpoint/1"
_META = "__optkit__"


# ----------------------------------------------------------------------- encoding
class _Encoder:
    """Turns objects into JSON-able data, collecting arrays into ``self.arrays``."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self.table: dict[str, dict[str, Any]] = {}

    def array(self, value: Any, path: str, tag: str) -> dict[str, str]:
        host = np.asarray(value) if isinstance(value, np.generic) else to_numpy(value)
        if host.dtype.hasobject:
            raise TypeError(f"{path}: object arrays cannot be stored without pickle")
        key = f"a{len(self.arrays)}"
        self.arrays[key] = host
        self.table[key] = {"path": path, "dtype": host.dtype.str, "shape": list(host.shape)}
        return {tag: key}

    def encode(self, value: Any, path: str) -> Any:
        if isinstance(value, np.generic):  # before float: np.float64 is a float
            return self.array(value, path, "__scalar__")
        if value is None or isinstance(value, (bool, int, str)):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else {"__float__": repr(value)}
        if hasattr(value, "state_dict") and callable(value.state_dict):
            return self.encode(value.state_dict(), path)
        if isinstance(value, FlatParams):
            return self.encode(dict(value.items()), path)
        if hasattr(value, "shape") and hasattr(value, "dtype"):
            return self.array(value, path, "__ndarray__")
        if isinstance(value, tuple):
            return {
                "__tuple__": [self.encode(v, f"{path}/{i}") for i, v in enumerate(value)]
            }
        if isinstance(value, list):
            return [self.encode(v, f"{path}/{i}") for i, v in enumerate(value)]
        if isinstance(value, Mapping):
            plain = all(isinstance(k, str) and not k.startswith("__") for k in value)
            if plain:
                return {k: self.encode(v, f"{path}/{k}") for k, v in value.items()}
            return {
                "__items__": [
                    [self.encode(k, f"{path}/<key>"), self.encode(v, f"{path}/{k}")]
                    for k, v in value.items()
                ]
            }
        raise TypeError(
            f"{path}: cannot store a {type(value).__module__}.{type(value).__name__} "
            f"(arrays, numbers, strings, None, lists, tuples, dicts and objects with "
            f"state_dict() can be stored)"
        )


def _decode(value: Any, arrays: Mapping[str, Any]) -> Any:
    """Inverse of :meth:`_Encoder.encode` (``arrays`` maps keys to loaded arrays)."""
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((tag, inner),) = value.items()
        if tag in ("__ndarray__", "__scalar__"):
            if inner not in arrays:
                raise CheckpointError(
                    "", f"the tree refers to an undescribed entry {inner!r}"
                )
            return arrays[inner] if tag == "__ndarray__" else arrays[inner][()]
        if tag == "__tuple__":
            return tuple(_decode(v, arrays) for v in inner)
        if tag == "__float__":
            return float(inner)
        if tag == "__items__":
            return {_hashable(_decode(k, arrays)): _decode(v, arrays) for k, v in inner}
    return {k: _decode(v, arrays) for k, v in value.items()}


def _hashable(key: Any) -> Any:
    return key.item() if isinstance(key, np.generic) else key


# ----------------------------------------------------------------------- writing
def _fsync_folder(folder: str) -> None:
    """Make the rename durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_archive(file: Any, arrays: Mapping[str, np.ndarray], meta: str) -> None:
    """The npz content: every array, then the JSON description as bytes."""
    np.savez(file, **arrays, **{_META: np.frombuffer(meta.encode(), dtype=np.uint8)})


def save_checkpoint(path: str | os.PathLike, /, **objects: Any) -> None:
    """Write ``objects`` to ``path`` atomically, as ``.npz`` arrays + JSON metadata.

    Parameters
    ----------
    path : str or path-like
        Destination file (used as given). An existing file is replaced atomically.
    **objects
        What to store, by name: arrays of any library (stored as NumPy), NumPy
        scalars, numbers, strings, ``None``, lists, tuples and dicts of these,
        :class:`~optkit.FlatParams` (as a dict of its views), and anything with a
        ``state_dict()`` method (optimizers, :class:`~optkit.averaging.PolyakAverage`,
        schedules), which is stored as its state dict.

    Raises
    ------
    TypeError
        A value that cannot be stored without pickle (the message gives its path,
        e.g. ``opt/state/w/m``); nothing is written.

    Notes
    -----
    Temporary file in the same folder → write → flush → ``fsync`` →
    ``os.replace`` → ``fsync`` of the folder. On any error (including
    ``KeyboardInterrupt``) the temporary file is removed and the previous
    checkpoint, if any, is left as it was. The temporary name is short whatever the
    target's length; it has the target's mode from the start (an existing file's
    mode, else ``0o666`` less the umask, which is never changed). Temporary files of
    the same target left by a killed writer are removed by the next save.

    Examples
    --------
    >>> import os, tempfile, numpy as np, optkit as ok
    >>> from optkit.checkpoint import save_checkpoint, load_checkpoint
    >>> w = np.ones(3, np.float32)
    >>> opt = ok.SGD(w, lr=0.1, momentum=0.9)
    >>> _ = opt.step(np.ones(3, np.float32))
    >>> folder = tempfile.mkdtemp()
    >>> save_checkpoint(os.path.join(folder, "run.npz"), w=w, opt=opt, epoch=3)
    >>> sorted(load_checkpoint(os.path.join(folder, "run.npz")))
    ['epoch', 'opt', 'w']
    """
    encoder = _Encoder()
    tree = {name: encoder.encode(value, name) for name, value in objects.items()}
    meta = json.dumps(
        {
            "format": FORMAT,
            "optkit_version": __version__,
            "numpy_version": np.__version__,
            "objects": {n: type(v).__qualname__ for n, v in objects.items()},
            "arrays": encoder.table,
            "tree": tree,
        },
        allow_nan=False,
    )
    target = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(target)
    _tempfiles.remove_stale(target)
    _tempfiles.write_atomically(
        target, lambda file: _write_archive(file, encoder.arrays, meta)
    )
    _fsync_folder(folder)


# ----------------------------------------------------------------------- reading
def load_checkpoint(path: str | os.PathLike, backend: str | None = None) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`; never unpickles.

    Parameters
    ----------
    path : str or path-like
        The checkpoint file.
    backend : str, optional
        Where arrays go: ``None``, ``"auto"``, ``"numpy"``, ``"numba"`` or
        ``"array_api"`` give NumPy arrays (optimizers and averages move state to
        their own library in ``load_state_dict``); ``"cupy"`` gives CuPy arrays.

    Returns
    -------
    dict
        ``{name: value}`` as saved; objects saved through ``state_dict()`` come back
        as their state dict: restore them with ``obj.load_state_dict(ckpt[name])``.
        dtypes, shapes, tuples, dict keys and NumPy scalar types are kept.

    Raises
    ------
    CheckpointError
        A ``ValueError`` naming the file and what is wrong: not an optkit checkpoint,
        an unknown format version, a damaged or truncated file (bad zip, CRC, npy
        header or JSON), an entry whose dtype or shape differs from the description,
        or an entry that would need pickle (object arrays are refused).
    OSError
        The file cannot be opened (missing, a folder, no permission).

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> from optkit.checkpoint import save_checkpoint, load_checkpoint
    >>> path = os.path.join(tempfile.mkdtemp(), "ckpt.npz")
    >>> save_checkpoint(path, w=np.arange(3.0, dtype=np.float32), betas=(0.9, 0.999))
    >>> ckpt = load_checkpoint(path)
    >>> ckpt["w"].dtype, ckpt["w"].tolist(), ckpt["betas"]
    (dtype('float32'), [0.0, 1.0, 2.0], (0.9, 0.999))
    """
    convert = _converter(backend)
    name = os.fspath(path)
    with open(name, "rb") as file:  # a missing or unreadable file: that OSError
        try:
            tree = _read(file)
        except CheckpointError as exc:
            raise CheckpointError(name, exc.reason) from None
        except _DAMAGE as exc:
            raise CheckpointError(name, f"damaged ({type(exc).__name__}: {exc})") from exc
    return _convert(tree, convert) if convert is not None else tree


#: What reading a damaged file raises (zip, npy, JSON and tree decoding errors).
_DAMAGE = (
    zipfile.BadZipFile,
    EOFError,
    OSError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    zlib.error,
    struct.error,
)


def _read(file: Any) -> Any:
    """The decoded tree of an open checkpoint file (errors name what is wrong)."""
    try:
        archive = np.load(file, allow_pickle=False)
    except ValueError as exc:  # a pickle file, or a .npy holding objects
        raise CheckpointError("", f"not an optkit checkpoint: {exc}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise CheckpointError("", "not an optkit checkpoint (not an .npz)")
    with archive:
        if _META not in archive.files:
            raise CheckpointError("", f"not an optkit checkpoint (no {_META})")
        try:
            meta = json.loads(_entry(archive, _META).tobytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CheckpointError("", f"its description is damaged ({exc})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise CheckpointError(
                "",
                f"unsupported checkpoint format "
                f"{meta.get('format') if isinstance(meta, dict) else meta!r}; "
                f"this optkit reads {FORMAT}",
            )
        for needed in ("arrays", "tree"):
            if needed not in meta:
                raise CheckpointError("", f"its description has no {needed!r}")
        table = meta["arrays"]
        extra = sorted(set(archive.files) - set(table) - {_META})
        if extra:
            raise CheckpointError("", f"undescribed entries {extra}")
        arrays = {}
        for key, info in table.items():
            array = _entry(archive, key, info["path"])
            if array.dtype.str != info["dtype"] or list(array.shape) != info["shape"]:
                raise CheckpointError(
                    "",
                    f"entry {info['path']!r} is {array.dtype.str} {list(array.shape)}, "
                    f"described as {info['dtype']} {info['shape']}",
                )
            arrays[key] = array
    return _decode(meta["tree"], arrays)


def _entry(archive: Any, key: str, path: str | None = None) -> np.ndarray:
    try:
        return archive[key]
    except KeyError:
        raise CheckpointError("", f"entry {path or key!r} is missing") from None
    except ValueError as exc:  # object arrays: numpy refuses without pickle
        raise CheckpointError(
            "", f"entry {path or key!r} cannot be loaded without pickle: {exc}"
        ) from None


def _converter(backend: str | None):
    from optkit._backend import _check_name

    if backend is None or _check_name(backend) != "cupy":
        return None
    import cupy

    return cupy.asarray


def _convert(value: Any, convert: Any) -> Any:
    if isinstance(value, np.ndarray):
        return convert(value)
    if isinstance(value, list):
        return [_convert(v, convert) for v in value]
    if isinstance(value, tuple):
        return tuple(_convert(v, convert) for v in value)
    if isinstance(value, dict):
        return {k: _convert(v, convert) for k, v in value.items()}
    return value
