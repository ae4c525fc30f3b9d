"""Where a model's parameters live: one trainable FlatParams, one for frozen ones.

:class:`~optkit.nn.Sequential` calls :func:`rehome` whenever the set of frozen
parameters changes. Every parameter's current value is copied into a new
trainable :class:`~optkit.FlatParams` (one buffer per dtype: what the optimizer
steps) or into a frozen one (never handed to an optimizer, so momentum, weight
decay or a stale state can never move it), and each layer is bound to its views.
The previous trainable buffers are made read-only where the library allows it
(NumPy), so that an optimizer created before the change fails loudly instead of
stepping memory that no layer reads any more.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from optkit.nn._layer import Layer
from optkit.params import FlatParams

__all__ = ["Homes", "matching", "rehome"]


@dataclass
class Homes:
    """The arrays a model's layers are bound to."""

    params: FlatParams | None  # trainable: the optimizer's
    grads: FlatParams | None  # same layout, written by backward
    frozen: FlatParams | None  # frozen values (no gradient, never stepped)
    first_trainable: int  # index of the first layer with a trainable parameter


def matching(names: list[str], prefix: str) -> list[str]:
    """The parameter names that ``prefix`` selects: equal, or below it at a dot."""
    if prefix == "":
        return list(names)
    stem = prefix[:-1] if prefix.endswith(".") else prefix
    return [n for n in names if n == stem or n.startswith(stem + ".")]


def _accepts_mapping(layer: Any) -> bool:
    from optkit.nn.batch_norm import BatchNorm

    return isinstance(layer, (Layer, BatchNorm))


def _plan(layers: Mapping[str, Any], frozen: frozenset[str]):
    """Current values by name and each layer's parameter names; checks first."""
    values: dict[str, Any] = {}
    names_of: dict[str, list[str]] = {}
    for lname, layer in layers.items():
        own = layer.parameters(f"{lname}.")
        names_of[lname] = list(own)
        values.update(own)
        kept = [n for n in own if n not in frozen]
        if 0 < len(kept) < len(own) and not _accepts_mapping(layer):
            raise ValueError(
                f"cannot freeze part of layer {lname!r} ({type(layer).__name__} binds "
                f"to one FlatParams): freeze all of {lname + '.'!r} or none"
            )
    return values, names_of


def rehome(layers: Mapping[str, Any], frozen: frozenset[str], old: Homes | None) -> Homes:
    """Copy every parameter into new homes and bind the layers to them."""
    values, names_of = _plan(layers, frozen)
    trainable = {n: a for n, a in values.items() if n not in frozen}
    fixed = {n: a for n, a in values.items() if n in frozen}
    params = FlatParams(trainable) if trainable else None
    grads = params.zeros_like() if params is not None else None
    frozen_flat = FlatParams(fixed) if fixed else None
    first = len(layers)
    for index, (lname, layer) in enumerate(layers.items()):
        names = names_of[lname]
        if not names:
            continue
        kept = [n for n in names if n not in frozen]
        if kept and index < first:
            first = index
        _bind(layer, f"{lname}.", names, kept, params, grads, frozen_flat)
    if old is not None and old.params is not None:
        _retire(old.params)
    return Homes(params, grads, frozen_flat, first)


def _bind(layer, prefix, names, kept, params, grads, frozen_flat) -> None:
    own_protocol = isinstance(layer, Layer)  # a missing gradient view = frozen
    if len(kept) == len(names):
        layer.bind(params, prefix, grads=grads)
    elif not kept:
        layer.bind(frozen_flat, prefix, grads={} if own_protocol else None)
    else:
        views = {n: params[n] if n in kept else frozen_flat[n] for n in names}
        grad_views = {n: grads[n] for n in kept}
        if not own_protocol:  # e.g. BatchNorm writes both; frozen ones go to scratch
            xp_zeros = _zeros_like
            grad_views.update({n: xp_zeros(frozen_flat[n]) for n in names if n not in kept})
        layer.bind(views, prefix, grads=grad_views)


def _zeros_like(a: Any) -> Any:
    from optkit._host import zeros_like

    return zeros_like(a)


def _retire(flat: FlatParams) -> None:
    """Make a replaced FlatParams' buffers read-only where the library can."""
    for buffer in flat.buffers.values():
        flags = getattr(buffer, "flags", None)
        if flags is not None and hasattr(flags, "writeable"):
            try:
                flags.writeable = False
            except ValueError:  # e.g. a view of memory the buffer does not own
                pass
