"""``NAdam`` (torch.optim.NAdam semantics)."""

from __future__ import annotations

from typing import Any

from optkit import rules
from optkit.optim import _validate as V
from optkit.optim._host_math import real_power
from optkit.optim._state import unit_closed
from optkit.optim.adam import adam_host_hypers
from optkit.optim.optimizer import Optimizer


class NAdam(Optimizer):
    r"""Adam with Nesterov momentum and Dozat's momentum schedule.

    Parameters
    ----------
    params : array, list, dict, FlatParams or list of group dicts
    lr : float, array or schedule, default 2e-3
    betas : pair, default (0.9, 0.999)
    eps : float, default 1e-8
    weight_decay : float, default 0
    momentum_decay : float, default 4e-3
        ψ in :math:`\mu_t = \beta_1 (1 - \tfrac12\, 0.96^{t\psi})`.
    maximize : bool, default False
    decoupled_weight_decay : bool, default False
    backend : str, optional
    nonfinite : {"raise", "skip", "propagate"}, default "raise"
        What a NaN/inf gradient does: raise (nothing modified), skip the step, or
        apply it as torch does (see :meth:`optkit.Optimizer.step`).

    Notes
    -----
    With :math:`\Pi_t = \prod_{i \le t} \mu_i`:

    .. math::
        \theta \leftarrow \theta - \epsilon \left(
        \frac{1-\mu_t}{1-\Pi_t} g + \frac{\mu_{t+1}}{1 - \Pi_t \mu_{t+1}} m \right)
        \Big/ \left(\sqrt{v / (1-\beta_2^t)} + \delta\right)

    The running product :math:`\Pi_t` is per group (``group_state["mu_product"]``).

    References
    ----------
    Dozat (2016), "Incorporating Nesterov Momentum into Adam", ICLR workshop.

    Examples
    --------
    >>> import numpy as np, optkit as ok
    >>> w = np.array([1.0])
    >>> opt = ok.NAdam(w, lr=0.1, backend="numpy")
    >>> _ = opt.step(np.array([5.0]))
    >>> bool(w[0] < 1.0)
    True
    """

    checks = {
        "lr": V.non_negative,
        "betas": V.betas_pair,
        "eps": V.non_negative,
        "weight_decay": V.non_negative,
        "momentum_decay": V.non_negative,
        "maximize": V.flag,
        "decoupled_weight_decay": V.flag,
    }
    group_state_checks = {"mu_product": unit_closed}

    def __init__(
        self,
        params: Any,
        lr: Any = 2e-3,
        betas: tuple = (0.9, 0.999),
        eps: Any = 1e-8,
        weight_decay: Any = 0.0,
        momentum_decay: Any = 4e-3,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
        backend: str | None = None,
        nonfinite: str = "raise",
    ):
        super().__init__(
            params,
            dict(
                lr=lr,
                betas=tuple(betas) if isinstance(betas, list) else betas,
                eps=eps,
                weight_decay=weight_decay,
                momentum_decay=momentum_decay,
                maximize=maximize,
                decoupled_weight_decay=decoupled_weight_decay,
            ),
            backend=backend,
            nonfinite=nonfinite,
        )

    def rule_for(self, values):
        return rules.nadam

    def host_hypers(self, values, t, group_state):
        out = adam_host_hypers(values, t)
        beta1, beta2 = values["betas"]
        lr, psi = values["lr"], values["momentum_decay"]
        mu = beta1 * (1.0 - 0.5 * real_power(0.96, t * psi))
        mu_next = beta1 * (1.0 - 0.5 * real_power(0.96, (t + 1) * psi))
        product = group_state.get("mu_product", 1.0) * mu
        group_state["mu_product"] = product
        out["grad_coef"] = lr * (1.0 - mu) / (1.0 - product)
        out["momentum_coef"] = lr * mu_next / (1.0 - product * mu_next)
        out["bc2"] = 1 - real_power(beta2, t)
        return out
