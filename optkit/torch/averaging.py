"""Polyak averaging of a torch model's parameters (:class:`optkit.PolyakAverage` on
zero-copy views of them)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch.autograd.graph import increment_version

import optkit as ok
from optkit.torch._devices import bridge_for, check_param, span

__all__ = ["PolyakAverage"]


def _named(model: Any) -> list[tuple[str, Any]]:
    if isinstance(model, torch.nn.Module):
        return list(model.named_parameters())
    items = list(model)
    if all(isinstance(x, tuple) and len(x) == 2 for x in items):
        return [(str(n), p) for n, p in items]
    return [(str(i), p) for i, p in enumerate(items)]


class PolyakAverage:
    r"""The average of a model's parameter iterates (Polyak averaging), for torch.

    Parameters
    ----------
    model : torch.nn.Module or iterable of tensors or of (name, tensor)
        Its parameters (on one device) are read in place at every :meth:`update`.
    mode : {"ema", "window", "tail"}, default "ema"
        As :class:`optkit.PolyakAverage`: exponential moving average with ``decay``,
        the exact mean of the last ``window`` iterates, or the mean of every iterate
        from step ``start`` on.
    window, start, decay, optimizer
        As :class:`optkit.PolyakAverage`; ``optimizer`` may be an :mod:`optkit.torch`
        optimizer (its ``step_count`` counts applied steps).

    Notes
    -----
    The average is kept by :class:`optkit.PolyakAverage` on NumPy (CPU) or CuPy
    (CUDA) views of the parameters; a model flattened by
    :func:`optkit.torch.flatten_` (before this object is made) is averaged with one
    kernel call. Buffers (BatchNorm's running statistics) are not averaged: recompute
    them for the averaged weights (``torch.optim.swa_utils.update_bn``) if needed.

    .. math:: \text{ema:}\ \bar\theta \leftarrow d\,\bar\theta + (1-d)\,\theta_t

    Examples
    --------
    >>> import torch, optkit as ok
    >>> model = torch.nn.Linear(2, 1, bias=False)
    >>> avg = ok.torch.PolyakAverage(model, "window", window=2)
    >>> for value in (1.0, 2.0, 4.0):
    ...     with torch.no_grad():
    ...         _ = model.weight.fill_(value)
    ...     _ = avg.update()
    >>> avg.average["weight"].tolist()
    [[3.0, 3.0]]
    >>> with avg.swapped():
    ...     model.weight.tolist()
    [[3.0, 3.0]]
    >>> model.weight.tolist()
    [[4.0, 4.0]]
    """

    def __init__(
        self,
        model: Any,
        mode: str = "ema",
        *,
        window: int | None = None,
        start: int | None = None,
        decay: float | None = None,
        optimizer: Any = None,
    ):
        named = _named(model)
        if not named:
            raise ValueError("PolyakAverage: the model has no parameters")
        for name, p in named:
            check_param(repr(name), p)
        devices = {p.device for _, p in named}
        if len(devices) > 1:
            raise ValueError(f"PolyakAverage: parameters on several devices {devices}")
        self._tensors = [p for _, p in named]
        self._names = [n for n, _ in named]
        self._config = dict(mode=mode, window=window, start=start, decay=decay)
        self._optimizer = optimizer
        self._build()

    def _build(self) -> None:
        self._bridge = bridge_for(self._tensors[0].device)
        with self._bridge.launch(self._tensors[0].device):
            self._core = ok.PolyakAverage(
                self._arrays(), **self._config, optimizer=self._optimizer
            )

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the tensors, settings and :meth:`state_dict`; the views are made
        again on load (a pickled view would be a copy)."""
        return {
            "tensors": self._tensors, "names": self._names, "config": self._config,
            "optimizer": self._optimizer, "state": self.state_dict(),
        }  # fmt: skip

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._tensors, self._names = state["tensors"], state["names"]
        self._config, self._optimizer = state["config"], state["optimizer"]
        self._build()
        self.load_state_dict(state["state"])

    def _arrays(self) -> Any:
        """One FlatParams over the parameters when they form one buffer, else a dict
        of views (both share the parameters' memory)."""
        bridge = self._bridge
        whole = span(self._tensors)
        if whole is not None:
            key = str(whole.dtype).rsplit(".", 1)[-1]
            layout = {n: tuple(p.shape) for n, p in zip(self._names, self._tensors)}
            return ok.FlatParams.from_buffers({key: bridge.array(whole)}, layout)
        return {n: bridge.array(p) for n, p in zip(self._names, self._tensors)}

    @property
    def count(self) -> int:
        """Number of iterates in the average."""
        return self._core.count

    def update(self) -> bool:
        """Fold the current parameters into the average (see
        :meth:`optkit.PolyakAverage.update`)."""
        with self._bridge.launch(self._tensors[0].device):
            return self._core.update()

    @property
    def average(self) -> dict[str, Any]:
        """``{name: tensor}``: the averaged parameters (views; do not modify)."""
        with self._bridge.launch(self._tensors[0].device):
            average = self._core.average
        return {n: self._bridge.tensor(average[n]) for n in self._names}

    @contextlib.contextmanager
    def swapped(self) -> Iterator[None]:
        """The averages in the model's parameters inside the block; the parameters are
        restored on exit (also on an exception)."""
        device = self._tensors[0].device
        with self._bridge.launch(device), self._core.swapped():
            increment_version(self._tensors)
            try:
                yield
            finally:
                increment_version(self._tensors)

    def state_dict(self) -> dict[str, Any]:
        """:meth:`optkit.PolyakAverage.state_dict` by parameter name, with tensors
        instead of NumPy arrays (``torch.save``/``torch.load(weights_only=True)``
        work; flattened or not, the model's dict has the same form)."""
        sd = self._core.state_dict()
        if self._flat():
            sd = _split(sd, self._names, self._tensors)
        return _map_arrays(sd, np.ndarray, torch.from_numpy)

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` output (checked first, all or nothing)."""
        sd = _map_arrays(state_dict, torch.Tensor, lambda t: t.detach().cpu().numpy())
        if self._flat():
            sd = _joined(sd, self._names, self._core._tree.names[0])
        with self._bridge.launch(self._tensors[0].device):
            self._core.load_state_dict(sd)

    def _flat(self) -> bool:
        return self._core._tree.kind == "flat"

    def __repr__(self) -> str:
        return repr(self._core).replace("PolyakAverage(", "optkit.torch.PolyakAverage(", 1)


def _map_arrays(value: Any, kind: type, convert: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _map_arrays(v, kind, convert) for k, v in value.items()}
    return convert(value) if isinstance(value, kind) else value


def _arrays_key(sd: Mapping[str, Any]) -> str:
    return "ring" if sd.get("mode") == "window" else "average"


def _split(sd: dict[str, Any], names: list[str], tensors: list[Any]) -> dict[str, Any]:
    """A flat average's state by parameter name (the last axis split into views)."""
    key = _arrays_key(sd)
    (flat,) = sd[key].values()
    arrays, offset = {}, 0
    for name, t in zip(names, tensors):
        n = t.numel()
        arrays[name] = flat[..., offset : offset + n].reshape((*flat.shape[:-1], *t.shape))
        offset += n
    return {**sd, "names": list(names), key: arrays}


def _joined(sd: Mapping[str, Any], names: list[str], flat_name: str) -> dict[str, Any]:
    """The inverse of :func:`_split` (entries are checked by the core's loader)."""
    key = _arrays_key(sd)
    arrays = sd.get(key)
    if not isinstance(arrays, Mapping) or list(arrays) != list(names):
        return dict(sd)  # let the core's loader name what is wrong
    lead = 1 if sd.get("mode") == "window" else 0
    parts = [np.asarray(a).reshape(*np.shape(a)[:lead], -1) for a in arrays.values()]
    return {**sd, "names": [flat_name], key: {flat_name: np.concatenate(parts, axis=-1)}}
