"""``RMSprop`` (torch.optim.RMSprop semantics, plus the book's eps-in-sqrt form)."""

from __future__ import annotations

from typing import Any

from optkit import rules
from optkit.optim import _validate as V
from optkit.optim.optimizer import Optimizer, gradient_sign


class RMSprop(Optimizer):
    r"""RMSProp: divide by a running root-mean-square of recent gradients.

    Parameters
    ----------
    params : array, list, dict, FlatParams or list of group dicts
    lr : float, array or schedule, default 1e-2
    alpha : float, default 0.99
        Decay ρ of the squared-gradient average (Goodfellow et al. (2016) and Keras use 0.9).
    eps : float, default 1e-8
        δ; outside the square root (torch) unless ``eps_in_sqrt``.
    weight_decay : float, default 0
    momentum : float, default 0
        Lecture Algorithm 8.6 when > 0 (torch's form, ε outside the buffer).
    centered : bool, default False
        Subtract the squared running mean gradient (Graves, 2013).
    maximize : bool, default False
    eps_in_sqrt : bool, default False
        :math:`\sqrt{v + \delta}` as in Goodfellow et al. (2016), optax and Keras.
    backend : str, optional
    nonfinite : {"raise", "skip", "propagate"}, default "raise"
        What a NaN/inf gradient does: raise (nothing modified), skip the step, or
        apply it as torch does (see :meth:`optkit.Optimizer.step`).

    Notes
    -----
    .. math::
        v \leftarrow \rho v + (1-\rho) g^2, \qquad
        \theta \leftarrow \theta - \frac{\epsilon}{\sqrt{v} + \delta} g

    References
    ----------
    Tieleman & Hinton (2012), Lecture 6.5 of "Neural Networks for Machine Learning".

    Examples
    --------
    >>> import numpy as np, optkit as ok
    >>> w = np.array([1.0])
    >>> opt = ok.RMSprop(w, lr=0.01, alpha=0.9, eps_in_sqrt=True, backend="numpy")
    >>> _ = opt.step(np.array([2.0]))     # v = 0.1 * 4 = 0.4
    >>> round(float(w[0]), 6)             # 1 - 0.01 * 2 / sqrt(0.4 + 1e-8)
    0.968377
    """

    checks = {
        "lr": V.non_negative,
        "alpha": V.unit_interval,
        "eps": V.non_negative,
        "weight_decay": V.non_negative,
        "momentum": V.non_negative,
        "centered": V.flag,
        "maximize": V.flag,
        "eps_in_sqrt": V.flag,
    }

    def __init__(
        self,
        params: Any,
        lr: Any = 1e-2,
        alpha: Any = 0.99,
        eps: Any = 1e-8,
        weight_decay: Any = 0.0,
        momentum: Any = 0.0,
        centered: bool = False,
        *,
        maximize: bool = False,
        eps_in_sqrt: bool = False,
        backend: str | None = None,
        nonfinite: str = "raise",
    ):
        super().__init__(
            params,
            dict(
                lr=lr,
                alpha=alpha,
                eps=eps,
                weight_decay=weight_decay,
                momentum=momentum,
                centered=centered,
                maximize=maximize,
                eps_in_sqrt=eps_in_sqrt,
            ),
            backend=backend,
            nonfinite=nonfinite,
        )

    @staticmethod
    def _has_momentum(values) -> bool:
        mu = values["momentum"]
        return V.is_array(mu) or float(mu) != 0.0

    def rule_for(self, values):
        return rules.rmsprop.with_flags(
            centered=values["centered"],
            momentum=self._has_momentum(values),
            eps_in_sqrt=values["eps_in_sqrt"],
        )

    def host_hypers(self, values, t, group_state):
        return dict(
            lr=values["lr"],
            sign=gradient_sign(values),
            weight_decay=values["weight_decay"],
            alpha=values["alpha"],
            eps=values["eps"],
            mu=values["momentum"],
        )
