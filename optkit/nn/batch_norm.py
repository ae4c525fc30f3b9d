r"""``BatchNorm``: a stateful layer around :func:`optkit.nn.functional.batch_norm`.

It owns γ (``weight``), β (``bias``), the running statistics and
``num_batches_tracked``, remembers the last forward for :meth:`BatchNorm.backward`,
and can keep γ and β inside a :class:`~optkit.params.FlatParams` so that one
optimizer step updates them together with the rest of a model.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from optkit._backend import Backend, resolve_backend
from optkit.nn.functional.batch_norm import BatchNormCache, batch_norm_backward, forward
from optkit.params import FlatParams, check_saved

__all__ = ["BatchNorm"]


class BatchNorm:
    r"""Batch normalization layer with torch's ``BatchNorm1d/2d/3d`` semantics.

    Parameters
    ----------
    num_features : int
        C, the number of channels.
    eps : float, default 1e-5
        Added to the variance.
    momentum : float or None, default 0.1
        Weight of the new batch in the running statistics; ``None`` gives the
        cumulative average over ``num_batches_tracked`` batches.
    affine : bool, default True
        Learn γ (``weight``, initialized to 1) and β (``bias``, initialized to 0).
    track_running_stats : bool, default True
        Keep running statistics and use them in eval mode. Without them the layer
        normalizes with the batch's statistics in both modes (as torch does).
    axis : int, default 1
        The channel axis of the input (1: ``(N, C, *spatial)``; -1: channels-last).
    dtype : str or dtype, default "float32"
        dtype of the parameters and running statistics. Inputs may be another float
        dtype (float16 input with float32 parameters keeps a float16 output).
    backend : str, optional
        ``"numpy"``, ``"numba"``, ``"cupy"``, ``"array_api"`` or ``"auto"``; resolved
        once, on the first forward. ``"cupy"`` creates the arrays on the GPU.
    params : FlatParams, optional
        Keep ``weight`` and ``bias`` as the views ``prefix + "weight"`` and
        ``prefix + "bias"`` of this FlatParams (see :meth:`bind`).
    grads : FlatParams, optional
        With ``params``: :meth:`backward` writes the gradients into the same-named
        views of ``grads`` (e.g. ``params.zeros_like()``).
    prefix : str, default ""
        Name prefix of the views in ``params`` and ``grads``.

    Attributes
    ----------
    weight, bias : array (C,) or None
    running_mean, running_var : array (C,) or None
    num_batches_tracked : 0-d int64 array or None
        Incremented in place by each training forward.
    grad_weight, grad_bias : array (C,) or None
        Set by :meth:`backward` (overwritten, not accumulated).
    training : bool

    Notes
    -----
    Training: :math:`y = \gamma (x-\mu)/\sqrt{\sigma^2+\epsilon} + \beta` with the
    batch's mean and biased variance per channel; running statistics move by
    :math:`r \leftarrow (1-m)\,r + m\,b` with the unbiased batch variance. Eval: the
    running statistics replace the batch's. See :func:`optkit.nn.functional.batch_norm`.

    A forward that raises (e.g. one value per channel in training) modifies
    nothing; torch's modules increment ``num_batches_tracked`` before raising.

    References
    ----------
    Ioffe, S. & Szegedy, C. (2015). Batch normalization. ICML.

    Examples
    --------
    >>> import numpy as np, optkit as ok
    >>> from optkit.nn import BatchNorm
    >>> bn = BatchNorm(2, backend="numpy")
    >>> flat = ok.FlatParams(bn.parameters("bn."))
    >>> grads = flat.zeros_like()
    >>> _ = bn.bind(flat, "bn.", grads=grads)
    >>> x = np.array([[1.0, 4.0], [3.0, 8.0]], np.float32)
    >>> y = bn.forward(x)
    >>> dx = bn.backward(np.array([[1.0, 0.0], [2.0, 0.0]], np.float32))
    >>> grads["bn.bias"].tolist()
    [3.0, 0.0]
    >>> _ = ok.SGD(flat, lr=0.5, backend="numpy").step(grads)
    >>> bn.bias, bn.running_mean
    (array([-1.5,  0. ], dtype=float32), array([0.2, 0.6], dtype=float32))
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        axis: int = 1,
        dtype: Any = "float32",
        backend: str | None = None,
        *,
        params: FlatParams | None = None,
        grads: FlatParams | None = None,
        prefix: str = "",
    ):
        _validate(num_features, eps, momentum)
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.momentum = None if momentum is None else float(momentum)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        self.axis = int(axis)
        self.training = True
        self._requested_backend = backend
        self._resolved: tuple[type, Backend] | None = None
        self._cache: BatchNormCache | None = None
        self._grads: FlatParams | None = None
        self._prefix = ""
        xp = _array_module(backend)
        self.dtype = np.dtype(dtype)
        if self.dtype.kind != "f":
            raise TypeError(f"BatchNorm dtype must be a float dtype, got {self.dtype}")
        c, dt = self.num_features, self.dtype
        self.weight = xp.ones(c, dtype=dt) if affine else None
        self.bias = xp.zeros(c, dtype=dt) if affine else None
        tracking = self.track_running_stats
        self.running_mean = xp.zeros(c, dtype=dt) if tracking else None
        self.running_var = xp.ones(c, dtype=dt) if tracking else None
        self.num_batches_tracked = xp.zeros((), dtype=np.int64) if tracking else None
        self.grad_weight: Any | None = None
        self.grad_bias: Any | None = None
        if params is not None:
            self.bind(params, prefix, grads=grads)

    # ------------------------------------------------------------------ parameters
    def parameters(self, prefix: str = "") -> dict[str, Any]:
        """``{prefix + "weight": γ, prefix + "bias": β}`` (empty without ``affine``)."""
        if not self.affine:
            return {}
        return {f"{prefix}weight": self.weight, f"{prefix}bias": self.bias}

    def buffers(self, prefix: str = "") -> dict[str, Any]:
        """The running statistics and ``num_batches_tracked`` (empty without them)."""
        if not self.track_running_stats:
            return {}
        names = ("running_mean", "running_var", "num_batches_tracked")
        return {f"{prefix}{name}": getattr(self, name) for name in names}

    def bind(
        self,
        params: FlatParams | Mapping[str, Any],
        prefix: str = "",
        *,
        grads: FlatParams | Mapping[str, Any] | None = None,
    ) -> BatchNorm:
        """Use the views ``prefix + "weight"``/``"bias"`` of ``params`` as γ and β.

        The FlatParams' values are kept (build it from :meth:`parameters` to start
        from this layer's values), so an optimizer stepping ``params`` updates this
        layer in place. With ``grads``, :meth:`backward` writes into its views.
        A plain mapping of views works too (a model whose γ and β live in different
        FlatParams, e.g. when one of them is frozen).
        """
        if not self.affine:
            raise ValueError("BatchNorm(affine=False) has no weight or bias to bind")
        views = {}
        for role in ("weight", "bias"):
            name = f"{prefix}{role}"
            for label, flat in (("params", params), ("grads", grads)):
                if flat is None:
                    continue
                if not isinstance(flat, (FlatParams, Mapping)):
                    raise TypeError(
                        f"{label} must be a FlatParams (or a mapping of views), got "
                        f"{type(flat).__name__}"
                    )
                view = flat[name]
                if tuple(view.shape) != (self.num_features,):
                    raise ValueError(
                        f"{label}[{name!r}] has shape {tuple(view.shape)}, expected "
                        f"({self.num_features},)"
                    )
            views[role] = params[name]
        self.weight, self.bias = views["weight"], views["bias"]
        self._grads, self._prefix = grads, prefix
        self._resolved = None
        return self

    # ------------------------------------------------------------------ modes
    def train(self, mode: bool = True) -> BatchNorm:
        """Training mode (batch statistics, running statistics updated)."""
        self.training = bool(mode)
        return self

    def eval(self) -> BatchNorm:
        """Eval mode (running statistics normalize, nothing is updated)."""
        return self.train(False)

    def __getstate__(self) -> dict[str, Any]:
        """Pickle/deepcopy without the resolved backend (a module), resolved again on
        the next call, and without the forward cache (call forward again before
        backward)."""
        state = dict(self.__dict__)
        state["_resolved"] = state["_cache"] = None
        return state

    # ------------------------------------------------------------------ compute
    def _backend(self, x: Any) -> Backend:
        """Resolve the backend once per input array type."""
        if self._resolved is None or self._resolved[0] is not type(x):
            self._resolved = (type(x), resolve_backend(self._requested_backend, x))
        return self._resolved[1]

    def forward(self, x: Any) -> Any:
        """Normalize ``x`` (and, in training, update the running statistics)."""
        tracking = self.track_running_stats
        y, self._cache = forward(
            self._backend(x),
            x,
            self.weight,
            self.bias,
            self.running_mean if tracking else None,
            self.running_var if tracking else None,
            training=self.training or not tracking,
            momentum=self.momentum,
            eps=self.eps,
            axis=self.axis,
            num_batches_tracked=self.num_batches_tracked if self.training else None,
        )
        return y

    __call__ = forward

    def backward(self, dy: Any) -> Any:
        """Gradient with respect to the last forward's input; sets ``grad_weight/bias``."""
        if self._cache is None:
            raise RuntimeError("BatchNorm.backward called before forward")
        dx, dweight, dbias = batch_norm_backward(dy, self._cache)
        if self._grads is not None and self.affine:
            gw = self._grads[f"{self._prefix}weight"]
            gb = self._grads[f"{self._prefix}bias"]
            gw[...] = dweight
            gb[...] = dbias
            dweight, dbias = gw, gb
        self.grad_weight, self.grad_bias = dweight, dbias
        return dx

    # ------------------------------------------------------------------ state
    def _state_arrays(self) -> dict[str, Any]:
        names = ("weight", "bias") if self.affine else ()
        if self.track_running_stats:
            names += ("running_mean", "running_var", "num_batches_tracked")
        return {name: getattr(self, name) for name in names}

    def state_dict(self) -> dict[str, np.ndarray]:
        """Host NumPy copies of the parameters and buffers (torch's key names)."""
        return {name: _to_host(a) for name, a in self._state_arrays().items()}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Copy values in place (bindings to a FlatParams stay): all or nothing.

        Checked before anything is written: the keys (torch's names), and for each
        value its type, shape and dtype; γ, β and the running statistics must be
        finite, ``running_var >= 0`` and ``num_batches_tracked >= 0``. Raises
        ``ValueError`` (``TypeError`` for a type or dtype) naming the key.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"BatchNorm.load_state_dict needs a dict, got {type(state_dict).__name__}"
            )
        own = self._state_arrays()
        missing = sorted(set(own) - set(state_dict))
        unexpected = sorted(set(state_dict) - set(own), key=str)
        if missing or unexpected:
            raise ValueError(
                f"BatchNorm.load_state_dict: missing keys {missing}, unexpected keys "
                f"{unexpected}"
            )
        values = {name: _checked(name, state_dict[name], t) for name, t in own.items()}
        for name, target in own.items():
            if isinstance(target, np.ndarray) and not target.flags.writeable:
                raise ValueError(f"{name}: the layer's array is read-only; nothing loaded")
        for name, target in own.items():
            xp = _array_module("cupy" if _is_cupy(target) else None)
            target[...] = xp.asarray(values[name], dtype=target.dtype)

    def __repr__(self) -> str:
        return (
            f"BatchNorm({self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, track_running_stats={self.track_running_stats}, "
            f"axis={self.axis}, dtype={self.dtype.name})"
        )


def _validate(num_features: Any, eps: Any, momentum: Any) -> None:
    if (
        not isinstance(num_features, numbers.Integral)
        or isinstance(num_features, bool)
        or num_features < 1
    ):
        raise ValueError(f"num_features={num_features!r} must be a positive integer")
    if not eps >= 0:
        raise ValueError(f"eps={eps} must be >= 0")
    if momentum is not None and not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum={momentum} must be in [0, 1] (or None)")


def _checked(name: str, value: Any, target: Any) -> np.ndarray:
    """A host copy of a saved value, after every check on it."""
    if not (hasattr(value, "shape") and hasattr(value, "dtype")):
        raise TypeError(f"{name} is a {type(value).__name__}, expected an array")
    if not isinstance(value, np.ndarray) and hasattr(value, "__dlpack__"):
        if not _is_cupy(value):  # e.g. a torch state_dict: CPU tensors
            value = np.from_dlpack(value.detach() if hasattr(value, "detach") else value)
    host = _to_host(value)
    check_saved(name, host, target)
    if name == "num_batches_tracked":
        if host < 0:
            raise ValueError(f"{name} is {host}: a count must be >= 0")
    elif not np.all(np.isfinite(host)):
        raise ValueError(f"{name} holds NaN or infinity")
    elif name == "running_var" and np.any(host < 0):
        raise ValueError(f"{name} holds a negative variance")
    return host


def _array_module(backend: str | None):
    """NumPy, or CuPy (imported here) when the backend is ``"cupy"``."""
    if backend == "cupy":
        import cupy

        return cupy
    return np


def _is_cupy(a: Any) -> bool:
    return type(a).__module__.split(".")[0] == "cupy"


def _to_host(a: Any) -> np.ndarray:
    if _is_cupy(a):
        return a.get()
    return np.array(a, copy=True)
