"""``SGD``: plain, heavy-ball momentum and Nesterov (torch.optim.SGD semantics)."""

from __future__ import annotations

from typing import Any

from optkit import rules
from optkit.optim import _validate as V
from optkit.optim.optimizer import Optimizer, gradient_sign


class SGD(Optimizer):
    r"""Stochastic gradient descent with optional momentum (Goodfellow et al., 2016, §8.3).

    Parameters
    ----------
    params : array, list, dict, FlatParams or list of group dicts
        What to optimize; updated in place by :meth:`step`.
    lr : float, array or schedule, default 1e-3
        Learning rate ε.
    momentum : float, array or schedule, default 0
        μ; 0 selects plain SGD (no buffer). A schedule gives the book's momentum
        warm-up, e.g. 0.5 → 0.99.
    dampening : float, default 0
        τ: the new gradient enters the buffer with weight 1 − τ.
    weight_decay : float, default 0
        L2 penalty added to the gradient.
    nesterov : bool, default False
        Nesterov momentum (requires ``momentum > 0`` and ``dampening == 0``).
    maximize : bool, default False
        Ascend instead of descend.
    lecture_momentum : bool, default False
        Keep the book's velocity :math:`v \leftarrow \mu v - \epsilon g`,
        :math:`\theta \leftarrow \theta + v` (state ``v``) instead of torch's buffer
        (state ``buf``). Same iterates at constant ε; under a learning-rate schedule
        the old velocity keeps the old ε. No dampening or Nesterov with it.
    backend : str, optional
        ``"numpy"``, ``"numba"``, ``"cupy"``, ``"array_api"`` or ``"auto"``.
    nonfinite : {"raise", "skip", "propagate"}, default "raise"
        What a NaN/inf gradient does: raise (nothing modified), skip the step, or
        apply it as torch does (see :meth:`optkit.Optimizer.step`).

    Notes
    -----
    With :math:`g' = \pm g + \lambda\theta` and buffer ``b`` (torch conventions;
    on the first step ``b = g'``):

    .. math::
        b \leftarrow \mu b + (1-\tau) g', \qquad
        \theta \leftarrow \theta - \epsilon\,(g' + \mu b \text{ if Nesterov else } b)

    Goodfellow, Bengio & Courville (2016) writes momentum as :math:`v \leftarrow \alpha v - \epsilon g`,
    :math:`\theta \leftarrow \theta + v` (ε inside the velocity). Both give the same
    iterates while ε is constant (:math:`v = -\epsilon b`); under a changing ε they
    differ: here a new ε applies to the whole buffer at once. ``lecture_momentum=True``
    keeps the book's form.

    References
    ----------
    Polyak (1964); Sutskever, Martens, Dahl & Hinton (2013).

    Examples
    --------
    >>> import numpy as np, optkit as ok
    >>> w = np.array([1.0, -2.0])
    >>> opt = ok.SGD(w, lr=0.1, momentum=0.9, backend="numpy")
    >>> for _ in range(3):
    ...     _ = opt.step(2 * w)          # gradient of ||w||^2
    >>> np.round(w, 4).tolist()
    [0.062, -0.124]
    """

    checks = {
        "lr": V.non_negative,
        "momentum": V.non_negative,
        "dampening": V.non_negative,
        "weight_decay": V.non_negative,
        "nesterov": V.flag,
        "maximize": V.flag,
        "lecture_momentum": V.flag,
    }

    def __init__(
        self,
        params: Any,
        lr: Any = 1e-3,
        momentum: Any = 0.0,
        dampening: Any = 0.0,
        weight_decay: Any = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        lecture_momentum: bool = False,
        backend: str | None = None,
        nonfinite: str = "raise",
    ):
        super().__init__(
            params,
            dict(
                lr=lr,
                momentum=momentum,
                dampening=dampening,
                weight_decay=weight_decay,
                nesterov=nesterov,
                maximize=maximize,
                lecture_momentum=lecture_momentum,
            ),
            backend=backend,
            nonfinite=nonfinite,
        )

    def check_group(self, group: dict[str, Any]) -> None:
        """Nesterov needs momentum > 0 and no dampening; Goodfellow et al. (2016) form neither."""
        damp = V.first_value(group["dampening"])
        if group["lecture_momentum"] and (
            group["nesterov"] or not V.holds(damp, lambda v: v == 0)
        ):
            raise ValueError(
                f"lecture_momentum=True is the book's heavy-ball form: it takes no "
                f"nesterov and no dampening (got nesterov={group['nesterov']!r}, "
                f"dampening={damp!r})"
            )
        if not group["nesterov"]:
            return
        mu, damp = V.first_value(group["momentum"]), V.first_value(group["dampening"])
        if not (V.holds(mu, lambda v: v > 0) and V.holds(damp, lambda v: v == 0)):
            raise ValueError(
                f"nesterov=True requires momentum > 0 and dampening == 0 "
                f"(every element, for arrays; got momentum={mu!r}, dampening={damp!r})"
            )

    def rule_for(self, values: dict[str, Any]):
        if values["lecture_momentum"]:
            return rules.sgd_lecture
        momentum = values["nesterov"] or not self._momentum_is_zero(values)
        return rules.sgd.with_flags(momentum=momentum, nesterov=values["nesterov"])

    @staticmethod
    def _momentum_is_zero(values: dict[str, Any]) -> bool:
        """True when momentum is the plain number 0 (then no buffer is kept)."""
        mu = values["momentum"]
        return not V.is_array(mu) and float(mu) == 0.0

    def host_hypers(self, values, t, group_state):
        first = t == 1
        mu = values["momentum"]
        return dict(
            lr=values["lr"],
            sign=gradient_sign(values),
            weight_decay=values["weight_decay"],
            mu=mu,
            decay=0.0 if first else mu,
            damp=1.0 if first else 1.0 - values["dampening"],
        )
