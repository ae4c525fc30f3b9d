"""Parameter structures: one array, a list, a dict of named arrays, or a FlatParams.

:class:`FlatParams` keeps named arrays in one contiguous buffer per dtype and hands
out views, so that an optimizer makes one kernel call per dtype whatever the number
of named arrays.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import array_api_compat

from optkit._host import device as array_device
from optkit._host import namespace

__all__ = ["FlatParams", "ParamTree", "check_float_array"]


def _library(x: Any) -> str:
    return type(x).__module__.split(".")[0]


def check_float_array(name: str, x: Any) -> None:
    """Raise ``TypeError`` unless ``x`` is an array of a real floating dtype."""
    if not array_api_compat.is_array_api_obj(x) or isinstance(x, (int, float)):
        raise TypeError(f"parameter {name!r} is a {type(x).__name__}, not an array")
    xp = namespace(x)
    if not xp.isdtype(x.dtype, "real floating"):
        raise TypeError(
            f"parameter {name!r} has dtype {x.dtype}; optimizers need real floating "
            f"parameters (float16, float32 or float64)"
        )


class FlatParams:
    """Named arrays stored in one contiguous buffer per dtype, exposed as views.

    Parameters
    ----------
    arrays : mapping of str to array
        Initial values. They are **copied** into new buffers: the arrays you pass
        never move when an optimizer steps this FlatParams; read and write the
        views ``fp[name]`` instead (or adopt memory you own with
        :meth:`from_buffers`). All arrays must come from one array library (and
        device).

    Attributes
    ----------
    buffers : dict
        ``{dtype name: 1-D buffer}``; every named view lives in one of them.
    adopted : bool
        True when the buffers were adopted by :meth:`from_buffers` (not copies).

    Examples
    --------
    >>> import numpy as np, optkit as ok
    >>> fp = ok.FlatParams({"w": np.ones((2, 3), np.float32), "b": np.zeros(3, np.float32)})
    >>> fp["w"].shape, fp.buffers["float32"].shape
    ((2, 3), (9,))
    >>> grads = fp.zeros_like()
    >>> grads["w"][...] = 1.0
    >>> opt = ok.SGD(fp, lr=0.5, backend="numpy")
    >>> opt.step(grads)
    True
    >>> float(fp["w"][0, 0]), float(fp["b"][0])
    (0.5, 0.0)
    >>> fp
    FlatParams(2 arrays; float32: 9; copies of the given arrays: use fp[name])
    """

    adopted = False

    def __init__(self, arrays: Mapping[str, Any]):
        if not isinstance(arrays, Mapping) or not arrays:
            raise TypeError("FlatParams needs a non-empty mapping of name -> array")
        for name, a in arrays.items():
            check_float_array(name, a)
        first = next(iter(arrays.values()))
        xp = namespace(first)
        self._xp = xp
        self._layout: dict[str, tuple[str, int, tuple[int, ...]]] = {}
        sizes: dict[str, int] = {}
        dtypes: dict[str, Any] = {}
        for name, a in arrays.items():
            if _library(a) != _library(first):
                raise TypeError(
                    f"FlatParams: {name!r} is a {_library(a)} array but the first is "
                    f"{_library(first)}; use one array library"
                )
            key = dtype_name(a.dtype)
            dtypes[key] = a.dtype
            size = _size(a.shape)
            self._layout[name] = (key, sizes.get(key, 0), tuple(a.shape))
            sizes[key] = sizes.get(key, 0) + size
        device = array_device(first)
        self.buffers = {
            key: xp.zeros((sizes[key],), dtype=dtypes[key], device=device) for key in sizes
        }
        self._views = {}
        for name, a in arrays.items():
            view = self._make_view(name)
            view[...] = a
            self._views[name] = view

    @classmethod
    def from_buffers(
        cls, buffers: Mapping[str, Any], layout: Mapping[str, Any]
    ) -> FlatParams:
        """Adopt existing 1-D contiguous buffers, without copying: the views alias them.

        Parameters
        ----------
        buffers : mapping of dtype name to 1-D array
            ``{"float32": buf, ...}``: C-contiguous, real floating, of one array
            library; the name must be the buffer's dtype name.
        layout : mapping of str to (dtype name, offset, shape), or to shape
            Where each named view lives, as in :attr:`layout` (so
            ``FlatParams.from_buffers(fp.buffers, fp.layout)`` shares ``fp``'s
            memory). With one buffer, a shape alone packs the views in order.
            Views may not overlap; elements outside every view are still updated
            by an optimizer stepping the buffer.

        Returns
        -------
        FlatParams
            Its ``buffers`` are the given arrays (``adopted`` is True).

        Examples
        --------
        >>> import numpy as np, optkit as ok
        >>> theta = np.ones(7)                     # memory the model already reads
        >>> fp = ok.FlatParams.from_buffers({"float64": theta}, {"w": (2, 3), "b": (1,)})
        >>> _ = ok.SGD(fp, lr=0.5, backend="numpy").step(fp.zeros_like())
        >>> fp["b"] is not theta and np.shares_memory(fp["b"], theta)
        True
        >>> fp
        FlatParams(2 arrays; float64: 7; adopted buffers)
        """
        from optkit._flat_adopt import adopt

        out = object.__new__(cls)
        out._xp, out._layout, out.buffers = adopt(buffers, layout)
        out._views = {name: out._make_view(name) for name in out._layout}
        out.adopted = True
        return out

    def __getstate__(self) -> dict[str, Any]:
        """Pickle/deepcopy the buffers and layout; the namespace and the views (which
        would each be copied on their own) are rebuilt on load."""
        state = dict(self.__dict__)
        del state["_xp"], state["_views"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._xp = namespace(next(iter(self.buffers.values())))
        self._views = {name: self._make_view(name) for name in self._layout}

    def _make_view(self, name: str):
        key, offset, shape = self._layout[name]
        flat = self.buffers[key][offset : offset + _size(shape)]
        return self._xp.reshape(flat, shape)

    def __getitem__(self, name: str):
        try:
            return self._views[name]
        except KeyError:
            raise KeyError(f"FlatParams has no array named {name!r}") from None

    def __iter__(self):
        return iter(self._views)

    def __len__(self) -> int:
        return len(self._views)

    def keys(self):
        """Names of the arrays, in insertion order."""
        return self._views.keys()

    def items(self):
        """``(name, view)`` pairs."""
        return self._views.items()

    @property
    def layout(self) -> dict[str, tuple[str, int, tuple[int, ...]]]:
        """``{name: (dtype name, offset, shape)}``: where each view lives."""
        return dict(self._layout)

    def zeros_like(self) -> FlatParams:
        """A FlatParams of the same layout filled with zeros (e.g. for gradients)."""
        out = object.__new__(FlatParams)
        out._xp = self._xp
        out._layout = dict(self._layout)
        out.buffers = {k: self._xp.zeros_like(b) for k, b in self.buffers.items()}
        out._views = {name: out._make_view(name) for name in self._layout}
        return out

    def same_layout(self, other: FlatParams) -> bool:
        """True when ``other`` has the same names, dtypes, offsets and shapes."""
        return isinstance(other, FlatParams) and other._layout == self._layout

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}: {b.shape[0]}" for k, b in self.buffers.items())
        kind = (
            "adopted buffers"
            if self.adopted
            else "copies of the given arrays: use fp[name]"
        )
        return f"FlatParams({len(self)} arrays; {sizes}; {kind})"


def _size(shape) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


def dtype_name(dtype: Any) -> str:
    """A library-neutral dtype name: ``"float32"`` for NumPy, CuPy, torch, strict..."""
    name = getattr(dtype, "name", None) or str(dtype)
    return name.rsplit(".", 1)[-1]  # "torch.float32", "array_api_strict.float32"


@dataclass
class ParamTree:
    """How one parameter group was given, so that gradients can mirror it.

    ``arrays`` are the arrays the kernels update (a FlatParams contributes its
    buffers, named ``flat:<dtype>``); ``names`` label them in errors and state.
    """

    kind: str  # "array" | "list" | "dict" | "flat"
    names: list[str]
    arrays: list[Any]
    keys: list[Any]  # list indices / dict keys / dtype names, as given
    flat: FlatParams | None = None
    gather_buffer: FlatParams | None = None  # gradients given as a dict, gathered here

    @classmethod
    def build(cls, params: Any, prefix: str = "") -> ParamTree:
        """Normalize one group's ``params`` (array, sequence, mapping or FlatParams)."""
        if isinstance(params, FlatParams):
            keys = list(params.buffers)
            names = [f"{prefix}flat:{k}" for k in keys]
            return cls("flat", names, [params.buffers[k] for k in keys], keys, params)
        if isinstance(params, Mapping):
            if not params:
                raise ValueError("got an empty dict of parameters")
            keys = list(params)
            names = [str(k) for k in keys]  # dict names are global, never prefixed
            arrays = [params[k] for k in keys]
            kind = "dict"
        elif isinstance(params, Sequence) and not isinstance(params, str):
            if len(params) == 0:
                raise ValueError("got an empty list of parameters")
            keys = list(range(len(params)))
            names = [f"{prefix}{i}" for i in keys]
            arrays = list(params)
            kind = "list"
        else:
            keys, names, arrays, kind = (
                [None],
                [prefix.rstrip(".") or "param"],
                [params],
                "array",
            )
        for n, a in zip(names, arrays):
            check_float_array(n, a)
        return cls(kind, names, arrays, keys)

    def match(self, grads: Any) -> list[Any]:
        """The gradient arrays aligned with ``arrays``; raise naming what does not fit."""
        kind = self.kind
        if kind == "flat":
            if isinstance(grads, FlatParams):
                if not self.flat.same_layout(grads):
                    raise ValueError(
                        "gradient FlatParams has a different layout from the parameters' "
                        "(names, dtypes or shapes differ); build it with .zeros_like()"
                    )
                return [grads.buffers[k] for k in self.keys]
            if isinstance(grads, Mapping):
                return self._gather_flat(grads)
            raise TypeError(
                f"parameters are a FlatParams; gradients must be a FlatParams of the same "
                f"layout or a dict of its names, got {type(grads).__name__}"
            )
        if kind == "dict":
            if not isinstance(grads, Mapping):
                raise TypeError(
                    f"parameters are a dict; gradients must be a dict, got "
                    f"{type(grads).__name__}"
                )
            missing = [k for k in self.keys if k not in grads]
            extra = [k for k in grads if k not in set(self.keys)]
            if missing or extra:
                raise ValueError(
                    f"gradients do not match parameters: missing "
                    f"{missing}, unexpected {extra}"
                )
            return [grads[k] for k in self.keys]
        if kind == "list":
            if isinstance(grads, Mapping) or not isinstance(grads, Sequence):
                raise TypeError(
                    f"parameters are a list; gradients must be a list, got "
                    f"{type(grads).__name__}"
                )
            if len(grads) != len(self.arrays):
                raise ValueError(
                    f"got {len(grads)} gradients for {len(self.arrays)} parameters"
                )
            return list(grads)
        return [grads]

    def _gather_flat(self, grads: Mapping) -> list[Any]:
        flat = self.flat
        missing = [k for k in flat.keys() if k not in grads]
        extra = [k for k in grads if k not in flat._layout]
        if missing or extra:
            raise ValueError(
                f"gradients do not match FlatParams: missing {missing}, unexpected {extra}"
            )
        out = self.gather_buffer
        if out is None:  # one buffer, reused: every view is overwritten each step
            out = self.gather_buffer = flat.zeros_like()
        for name in flat.keys():
            g, target = grads[name], out[name]
            check_grad(name, flat[name], g)
            target[...] = g
        return [out.buffers[k] for k in self.keys]


def check_saved(label: str, value: Any, target: Any) -> None:
    """Raise ``ValueError`` (shape) or ``TypeError`` (dtype) naming ``label`` unless a
    saved array fits the array it will be loaded into (dtype compared by name, so a
    NumPy copy of a CuPy or strict array fits)."""
    if tuple(value.shape) != tuple(target.shape):
        raise ValueError(
            f"{label} has shape {tuple(value.shape)}, expected {tuple(target.shape)}"
        )
    if dtype_name(value.dtype) != dtype_name(target.dtype):
        raise TypeError(
            f"{label} has dtype {value.dtype}, expected {dtype_name(target.dtype)} "
            f"(convert it explicitly; nothing was loaded)"
        )


def check_grad(name: str, p: Any, g: Any) -> None:
    """Raise ``TypeError``/``ValueError`` naming ``name`` unless ``g`` mirrors ``p``."""
    if type(g) is not type(p):
        raise TypeError(
            f"gradient for {name!r} is a {type(g).__module__}.{type(g).__name__} but the "
            f"parameter is a {type(p).__module__}.{type(p).__name__}"
        )
    if tuple(g.shape) != tuple(p.shape):
        raise ValueError(
            f"gradient for {name!r} has shape {tuple(g.shape)}, parameter "
            f"has {tuple(p.shape)}"
        )
    if g.dtype != p.dtype:
        raise TypeError(
            f"gradient for {name!r} has dtype {g.dtype}, parameter has {p.dtype}"
        )
