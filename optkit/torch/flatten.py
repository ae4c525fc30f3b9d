"""``flatten_``: a model's parameters and gradients in one contiguous buffer per dtype.

torch's recurrent layers keep their weights in one buffer (``_flat_weights``) so
that cuDNN makes one call; :func:`flatten_` does the same for any model, so that an
optkit optimizer updates all of a group's parameters of one dtype with one kernel
call per step, however many tensors the model has.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.weak import WeakIdKeyDictionary

__all__ = ["GRAD_HOMES", "Flattened", "flatten_"]

#: parameter -> (its gradient's home: a view of a gradient buffer, that buffer).
GRAD_HOMES: WeakIdKeyDictionary = WeakIdKeyDictionary()


@dataclass
class Flattened:
    """What :func:`flatten_` made.

    Attributes
    ----------
    params, grads : dict of str to 1-D tensor
        One parameter buffer and one gradient buffer per dtype (keyed ``"float32"``,
        or ``"cuda:0/float32"`` when the model spans devices).
    layout : dict of str to (key, offset, shape)
        Where each named parameter lives.
    """

    params: dict[str, Any]
    grads: dict[str, Any]
    layout: dict[str, tuple[str, int, tuple[int, ...]]]

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}: {b.numel()}" for k, b in self.params.items())
        return f"Flattened({len(self.layout)} parameters; {sizes})"


def flatten_(model: Any) -> Flattened:
    """Re-home ``model``'s trainable parameters and their gradients into one contiguous
    buffer per device and dtype, in place (``p.data`` and ``p.grad`` become views).

    Parameters
    ----------
    model : torch.nn.Module or iterable of (name, Parameter)
        Parameters with ``requires_grad=False`` are left where they are.

    Returns
    -------
    Flattened
        The buffers and where each parameter lives in them.

    Notes
    -----
    Every trainable parameter gets a gradient (zeros when it had none), so that
    ``backward`` accumulates into the buffer in place. An optkit optimizer's
    ``zero_grad`` then zeroes these gradients in place (whatever ``set_to_none``
    says), so a parameter that receives no gradient in an iteration is stepped with
    a zero gradient, as with ``set_to_none=False`` in torch. A gradient that left its
    buffer (``model.zero_grad()`` sets it to None, ``backward`` then allocates a new
    one) is copied back by the optimizer's next step. Parameters keep their shapes
    but become C-contiguous (a ``channels_last`` weight loses that format). Flatten
    after moving the model to its device (``model.to`` re-allocates parameters).

    Examples
    --------
    >>> import torch, optkit as ok
    >>> model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    >>> flat = ok.torch.flatten_(model)
    >>> flat
    Flattened(4 parameters; float32: 26)
    >>> w = model[0].weight
    >>> w.data_ptr() == flat.params["float32"].data_ptr()
    True
    """
    named = _trainable(model)
    keyed: dict[tuple, list] = {}
    for name, p in named:
        keyed.setdefault((p.device, p.dtype), []).append((name, p))
    several = len({d for d, _ in keyed}) > 1
    out = Flattened({}, {}, {})
    with torch.no_grad():
        for (device, dtype), members in keyed.items():
            key = str(dtype).rsplit(".", 1)[-1]
            _home(f"{device}/{key}" if several else key, members, out)
    return out


def _home(key: str, members: list, out: Flattened) -> None:
    """One parameter buffer and one gradient buffer for ``members``; each parameter
    and gradient becomes a view of them."""
    first = members[0][1]
    total = sum(p.numel() for _, p in members)
    buffer = torch.empty(total, dtype=first.dtype, device=first.device)
    grads = torch.zeros(total, dtype=first.dtype, device=first.device)
    offset = 0
    for name, p in members:
        n = p.numel()
        view = buffer[offset : offset + n].view(p.shape)
        view.copy_(p.detach())
        home = grads[offset : offset + n].view(p.shape)
        if p.grad is not None:
            home.copy_(p.grad)
        p.data = view
        p.grad = home
        GRAD_HOMES[p] = (home, grads)
        out.layout[name] = (key, offset, tuple(p.shape))
        offset += n
    out.params[key], out.grads[key] = buffer, grads


def _trainable(model: Any) -> list[tuple[str, Any]]:
    if isinstance(model, torch.nn.Module):
        named = list(model.named_parameters())
    else:
        named = list(model)
        if not all(isinstance(x, tuple) and len(x) == 2 for x in named):
            raise TypeError(
                "flatten_ takes a torch.nn.Module or (name, parameter) pairs, "
                "e.g. model.named_parameters()"
            )
    named = [(n, p) for n, p in named if p.requires_grad]
    if not named:
        raise ValueError("flatten_: the model has no trainable parameter")
    for name, p in named:
        if not isinstance(p, torch.Tensor) or p.layout != torch.strided:
            raise TypeError(f"flatten_: parameter {name!r} is not a dense tensor")
    return named
