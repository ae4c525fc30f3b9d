"""The optimizers of :mod:`optkit.torch`, and :func:`wrap` for any optkit optimizer."""

from __future__ import annotations

import inspect
import sys
from typing import Any

import optkit as ok
from optkit.torch._base import _OWN, TorchOptimizer

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "DeltaBarDelta", "NAdam", "RMSprop", "wrap"]


def torch_state_names(core_class: type) -> dict[str, str]:
    """optkit state name -> torch state name for ``core_class``, from the registry of
    algorithms (every algorithm run by that class); empty for classes torch lacks."""
    from optkit.optim.registry import ALGORITHMS

    names: dict[str, str] = {}
    for algorithm in ALGORITHMS.values():
        if algorithm.cls is core_class:
            names.update(algorithm.torch_state)
    return names


def _signature(core_class: type) -> inspect.Signature:
    """``(params, <the optkit hyperparameters>, *, nonfinite, backend, foreach, fused,
    capturable, differentiable)``."""
    P = inspect.Parameter
    sig = inspect.signature(core_class.__init__)
    hypers = [p for p in sig.parameters.values() if p.name not in _OWN]
    torch_kw = [
        P("nonfinite", P.KEYWORD_ONLY, default="raise"),
        P("backend", P.KEYWORD_ONLY, default=None),
        P("foreach", P.KEYWORD_ONLY, default=None),
        P("fused", P.KEYWORD_ONLY, default=None),
        P("capturable", P.KEYWORD_ONLY, default=False),
        P("differentiable", P.KEYWORD_ONLY, default=False),
    ]
    return inspect.Signature([P("params", P.POSITIONAL_OR_KEYWORD), *hypers, *torch_kw])


_COMMON_DOC = """

    Parameters
    ----------
    params : iterable of tensors or of group dicts
        As for ``torch.optim``: ``model.parameters()``, ``model.named_parameters()``
        or ``[{{"params": ..., "lr": ...}}, ...]``.
    {hypers}
        As for :class:`optkit.{core}` (numbers, flags, schedules ``t -> value``, 0-d
        tensors, or tensors broadcastable to every parameter of the group).
    nonfinite : {{"raise", "skip", "propagate"}}, default "raise"
        A NaN/inf gradient raises :class:`optkit.NonFiniteGradientError` (nothing
        updated), skips the step, or is applied as torch applies it.
    backend : {{None, "numba", "numpy", "cupy"}}
        The executor (default: Numba for CPU tensors, CuPy for CUDA tensors).
    foreach, fused : ignored
        optkit's kernels are always fused (one pass over parameter, gradient and
        state); kept in the groups for torch's state dicts.
    capturable, differentiable : False
        True raises ``NotImplementedError``.

    Notes
    -----
    The update is the rule of :class:`optkit.{core}` (see its equations). State
    lives in tensors with torch's names; ``state_dict()`` is torch's format, plus
    an ``"optkit"`` entry (applied-step count, skipped steps, schedule states).

    Examples
    --------
    >>> import torch, optkit as ok
    >>> torch.manual_seed(0)                          # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> model = torch.nn.Linear(4, 1)
    >>> opt = ok.torch.{name}(model.parameters(){example})
    >>> loss = model(torch.ones(2, 4)).pow(2).mean()
    >>> loss.backward()
    >>> opt.step()
    >>> opt.zero_grad()
    >>> bool(model(torch.ones(2, 4)).pow(2).mean() < loss)
    True
    """


def wrap(core_class: type, name: str | None = None, **attributes: Any) -> type:
    """A ``torch.optim.Optimizer`` subclass running ``core_class``'s rule on tensors.

    Parameters
    ----------
    core_class : subclass of optkit.Optimizer
        Any optkit optimizer, built-in or your own (see :class:`optkit.Optimizer`).
    name : str, optional
        The class name (default: ``core_class.__name__``). To pickle the optimizer,
        bind the class to this name in the module that calls ``wrap``.
    **attributes
        Class attributes: ``state_names`` (optkit -> torch state names; default from
        the registry of algorithms), ``host_state_init``, ``eager_state``.

    Returns
    -------
    type
        Constructed as ``cls(params, <hyperparameters of core_class>, *, nonfinite,
        backend, foreach, fused, capturable, differentiable)``.

    Examples
    --------
    >>> import numpy as np, torch, optkit as ok
    >>> from optkit.rules import rule
    >>> from optkit.rules.math import sign
    >>> @rule(state=())
    ... def sign_descent(p, g, *, lr):
    ...     return (p - lr * sign(g),)
    >>> class SignSGD(ok.Optimizer):
    ...     def __init__(self, params, lr=0.01, *, backend=None, nonfinite="raise"):
    ...         super().__init__(params, dict(lr=lr), backend=backend, nonfinite=nonfinite)
    ...     def rule_for(self, values):
    ...         return sign_descent
    ...     def host_hypers(self, values, t, group_state):
    ...         return dict(lr=values["lr"])
    >>> TorchSignSGD = ok.torch.wrap(SignSGD, "TorchSignSGD")
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -1.0]))
    >>> w.grad = torch.tensor([3.0, -0.5])
    >>> TorchSignSGD([w], lr=0.25).step()
    >>> w.tolist()
    [0.75, -0.75]
    """
    if not (isinstance(core_class, type) and issubclass(core_class, ok.Optimizer)):
        raise TypeError(f"wrap() takes an optkit.Optimizer subclass, got {core_class!r}")
    unknown = set(attributes) - {"state_names", "host_state_init", "eager_state"}
    if unknown:
        raise TypeError(f"wrap(): unknown class attributes {sorted(unknown)}")
    name = name or core_class.__name__
    body = {
        "core_class": core_class,
        "state_names": torch_state_names(core_class),
        "__doc__": f"{core_class.__name__} (optkit) as a torch.optim.Optimizer.",
        "__signature__": _signature(core_class),
        "__module__": sys._getframe(1).f_globals.get("__name__", __name__),
        "__qualname__": name,
        **attributes,
    }
    return type(name, (TorchOptimizer,), body)


def _builtin(core_class: type, summary: str, example: str = "", **attributes) -> type:
    cls = wrap(core_class, **attributes)
    cls.__module__ = __name__
    hypers = ", ".join(
        p for p in inspect.signature(core_class.__init__).parameters if p not in _OWN
    )
    cls.__doc__ = summary + _COMMON_DOC.format(
        hypers=hypers, core=core_class.__name__, name=core_class.__name__, example=example
    )
    return cls


SGD = _builtin(
    ok.SGD,
    "``torch.optim.SGD`` run by optkit: plain, heavy-ball or Nesterov momentum.",
    ", lr=0.1, momentum=ok.schedules.linear(0.5, 0.9, steps=100)",
)
Adagrad = _builtin(
    ok.Adagrad, "``torch.optim.Adagrad`` run by optkit.", ", lr=0.1", eager_state=True
)
RMSprop = _builtin(ok.RMSprop, "``torch.optim.RMSprop`` run by optkit.", ", lr=0.01")
Adam = _builtin(
    ok.Adam, "``torch.optim.Adam`` run by optkit (AMSGrad included).", ", lr=0.1"
)
AdamW = _builtin(ok.AdamW, "``torch.optim.AdamW`` run by optkit.", ", lr=0.1")
NAdam = _builtin(
    ok.NAdam,
    "``torch.optim.NAdam`` run by optkit (``mu_product`` kept per parameter, as torch).",
    ", lr=0.1",
    host_state_init={"mu_product": 1.0},
)
DeltaBarDelta = _builtin(
    ok.DeltaBarDelta,
    "Delta-bar-delta (Jacobs, 1988): a learning rate per weight, for torch models.",
    ", lr=0.05, kappa=0.01",
)
