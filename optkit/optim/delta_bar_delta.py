"""``DeltaBarDelta`` (Jacobs, 1988): per-weight learning rates adapted by sign agreement."""

from __future__ import annotations

from typing import Any

from optkit import rules
from optkit._host import namespace, zeros_like
from optkit.optim import _validate as V
from optkit.optim.optimizer import Optimizer, gradient_sign


def _initial_rate(name: str, value: Any) -> None:
    """``lr`` is only the starting per-weight rate: a number or array, never a schedule."""
    V.number_or_array(name, value)
    V.non_negative(name, value)


class DeltaBarDelta(Optimizer):
    r"""Delta-bar-delta: each weight keeps its own rate a, grown while its gradient
    keeps its sign and cut when the sign flips (Goodfellow et al., 2016, §8.5).

    Parameters
    ----------
    params : array, list, dict, FlatParams or list of group dicts
    lr : float or array, default 1e-2
        Initial per-weight rate :math:`a_0` (state ``rate`` starts here); the rate
        then adapts by itself, so a schedule is refused.
    kappa : float, default 1e-3
        κ, additive increase while :math:`\bar\delta_{t-1} g > 0`.
    phi : float, default 0.1
        φ ∈ [0, 1), multiplicative decrease while :math:`\bar\delta_{t-1} g < 0`.
    theta : float, default 0.7
        θ ∈ [0, 1), weight of the past in :math:`\bar\delta`.
    weight_decay : float, default 0
    maximize : bool, default False
    backend : str, optional
    nonfinite : {"raise", "skip", "propagate"}, default "raise"
        What a NaN/inf gradient does: raise (nothing modified), skip the step, or
        apply it as torch does (see :meth:`optkit.Optimizer.step`).

    Notes
    -----
    .. math::
        a \leftarrow a + \kappa \;[\bar\delta_{t-1} g > 0],\quad
        a \leftarrow (1-\phi)\, a \;[\bar\delta_{t-1} g < 0],\quad
        \bar\delta_t = (1-\theta) g + \theta\bar\delta_{t-1},\quad
        w \leftarrow w - a \odot g

    κ, φ, θ defaults are within the ranges Jacobs explored; tune them per problem.

    References
    ----------
    Jacobs, R. A. (1988). Increased rates of convergence through learning rate
    adaptation. Neural Networks 1(4), 295–307.

    Examples
    --------
    >>> import numpy as np, optkit as ok
    >>> w = np.array([1.0])
    >>> opt = ok.DeltaBarDelta(w, lr=0.1, kappa=0.05, backend="numpy")
    >>> for _ in range(2):
    ...     _ = opt.step(np.array([1.0]))  # same sign twice: rate grows on step 2
    >>> opt.state["param"]["rate"].tolist(), w.tolist()
    ([0.15000000000000002], [0.75])
    """

    checks = {
        "lr": _initial_rate,
        "kappa": V.non_negative,
        "phi": V.unit_interval,
        "theta": V.unit_interval,
        "weight_decay": V.non_negative,
        "maximize": V.flag,
    }

    def __init__(
        self,
        params: Any,
        lr: Any = 1e-2,
        kappa: Any = 1e-3,
        phi: Any = 0.1,
        theta: Any = 0.7,
        weight_decay: Any = 0.0,
        *,
        maximize: bool = False,
        backend: str | None = None,
        nonfinite: str = "raise",
    ):
        super().__init__(
            params,
            dict(
                lr=lr,
                kappa=kappa,
                phi=phi,
                theta=theta,
                weight_decay=weight_decay,
                maximize=maximize,
            ),
            backend=backend,
            nonfinite=nonfinite,
        )

    def rule_for(self, values):
        return rules.delta_bar_delta

    def host_hypers(self, values, t, group_state):
        return dict(
            kappa=values["kappa"],
            phi=values["phi"],
            theta=values["theta"],
            sign=gradient_sign(values),
            weight_decay=values["weight_decay"],
        )

    def init_state(self, name, param, values):
        xp = namespace(param)
        state = zeros_like(param)
        if name == "rate":
            lr = values["lr"]
            state[...] = xp.asarray(lr, dtype=param.dtype) if V.is_array(lr) else lr
        return state
