"""The layer protocol and the base class of optkit's own layers.

A layer is any object with these members (``docs/nn.md`` has the long form);
:class:`~optkit.nn.Sequential` relies on nothing else, so layers written outside
optkit (``BatchNorm``, ``LayerNorm``, a user's own) plug in:

``forward(x) -> y``
    Compute the output; remember what :meth:`backward` needs.
``backward(dy) -> dx``
    Gradient with respect to the last forward's input; write the parameters'
    gradients into the views bound by :meth:`bind` (overwrite, never accumulate).
``parameters(prefix="") -> dict``
    ``{prefix + name: array}`` of the trainable arrays, torch's names.
``bind(params, prefix="", *, grads=None) -> layer``
    Adopt ``params[prefix + name]`` (a view of a :class:`~optkit.FlatParams`) as
    the parameter ``name``; with ``grads``, :meth:`backward` writes there.
``train(mode=True)``, ``eval()``, attribute ``training``
``state_dict() -> dict``, ``load_state_dict(state)``
    Host NumPy copies with torch's local names (parameters, then buffers); loading
    writes in place, so bindings survive.
``buffers(prefix="") -> dict`` (optional)
    Non-trainable state (running statistics). Without it, a model reads the
    ``state_dict`` keys that are not parameters as attributes of the layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from optkit._backend import Backend, resolve_backend
from optkit.params import check_saved

__all__ = ["Layer", "array_module", "to_host"]


def array_module(backend: str | None):
    """NumPy, or CuPy (imported here) when ``backend`` is ``"cupy"``: where new
    parameter arrays are created."""
    if backend is not None and backend.lower() == "cupy":
        import cupy

        return cupy
    return np


def to_host(a: Any) -> np.ndarray:
    """A NumPy copy of an array of NumPy, CuPy or any DLPack library."""
    from optkit._host import to_numpy

    return to_numpy(a)


def _checked_view(label: str, key: str, view: Any, own: Any) -> Any:
    """``view`` if it has ``own``'s shape and dtype, else ``ValueError`` naming ``key``."""
    if tuple(view.shape) != tuple(own.shape) or view.dtype != own.dtype:
        raise ValueError(
            f"{label}[{key!r}] is {view.dtype} {tuple(view.shape)}, expected "
            f"{own.dtype} {tuple(own.shape)}"
        )
    return view


class Layer:
    """Base class of optkit's layers: modes, backend resolution, state dicts.

    Subclasses set ``_param_names`` (their trainable arrays, as attributes) and
    implement :meth:`forward` and :meth:`backward`.

    Parameters
    ----------
    backend : str, optional
        ``"numpy"``, ``"numba"``, ``"cupy"``, ``"array_api"`` or ``"auto"``;
        resolved once per input array type.
    """

    _param_names: tuple[str, ...] = ()

    def __init__(self, backend: str | None = None):
        self.training = True
        self._requested_backend = backend
        self._resolved: tuple[type, Backend] | None = None
        self._grads: Mapping[str, Any] | None = None

    # ------------------------------------------------------------------ modes
    def train(self, mode: bool = True) -> Layer:
        """Training mode (Dropout drops, BatchNorm uses batch statistics)."""
        self.training = bool(mode)
        return self

    def eval(self) -> Layer:
        """Evaluation mode."""
        return self.train(False)

    def _backend(self, x: Any) -> Backend:
        if self._resolved is None or self._resolved[0] is not type(x):
            self._resolved = (type(x), resolve_backend(self._requested_backend, x))
        return self._resolved[1]

    # ------------------------------------------------------------------ parameters
    def parameters(self, prefix: str = "") -> dict[str, Any]:
        """``{prefix + name: array}`` for the trainable arrays (torch's names)."""
        return {f"{prefix}{n}": getattr(self, n) for n in self._param_names}

    def buffers(self, prefix: str = "") -> dict[str, Any]:
        """Non-trainable state arrays (none for these layers)."""
        return {}

    def bind(
        self,
        params: Mapping[str, Any],
        prefix: str = "",
        *,
        grads: Mapping[str, Any] | None = None,
    ) -> Layer:
        """Use ``params[prefix + name]`` as parameter ``name`` (a FlatParams or a dict).

        With ``grads`` given, :meth:`backward` writes the gradient of ``name`` into
        ``grads[prefix + name]``, and computes none for a name that ``grads`` lacks
        (a frozen parameter). Without ``grads``, gradients go to ``grad_<name>``
        attributes. The FlatParams' values are kept: build it from
        :meth:`parameters` to start from this layer's values.
        """
        views, grad_views = {}, {}
        grad_names = set(grads.keys()) if grads is not None else set()
        for name in self._param_names:
            key = f"{prefix}{name}"
            own = getattr(self, name)
            views[name] = _checked_view("params", key, params[key], own)
            if key in grad_names:
                grad_views[name] = _checked_view("grads", key, grads[key], own)
        for name, view in views.items():
            setattr(self, name, view)
        self._grads = None if grads is None else grad_views
        return self

    def _grad_target(self, name: str) -> tuple[bool, Any]:
        """(whether to compute the gradient of ``name``, the bound view or None)."""
        if self._grads is None:
            return True, None
        view = self._grads.get(name)
        return view is not None, view

    # ------------------------------------------------------------------ compute
    def forward(self, x: Any) -> Any:
        """The layer's output for ``x``."""
        raise NotImplementedError

    def backward(self, dy: Any) -> Any:
        """The gradient with respect to the last forward's input."""
        raise NotImplementedError

    def __call__(self, x: Any) -> Any:
        return self.forward(x)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, np.ndarray]:
        """Host NumPy copies of the parameters and buffers (torch's local names)."""
        arrays = {**self.parameters(), **self.buffers()}
        return {name: to_host(a) for name, a in arrays.items()}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Copy values in place (bindings stay); keys, shapes and dtypes must match."""
        own = {**self.parameters(), **self.buffers()}
        missing = sorted(set(own) - set(state_dict))
        unexpected = sorted(set(state_dict) - set(own))
        if missing or unexpected:
            raise KeyError(
                f"{type(self).__name__}.load_state_dict: missing keys {missing}, "
                f"unexpected keys {unexpected}"
            )
        values = {name: np.asarray(to_host(state_dict[name])) for name in own}
        for name, target in own.items():
            check_saved(f"state_dict[{name!r}]", values[name], target)
        from optkit._host import from_numpy

        for name, target in own.items():
            target[...] = from_numpy(values[name], target)
