"""``Adam`` and ``AdamW`` (torch.optim.Adam / AdamW semantics, AMSGrad included)."""

from __future__ import annotations

from typing import Any

from optkit import rules
from optkit.optim import _validate as V
from optkit.optim._host_math import real_power
from optkit.optim.optimizer import Optimizer, gradient_sign


def adam_host_hypers(values: dict[str, Any], t: int) -> dict[str, Any]:
    """Moment decays, bias correction and weight-decay form shared by Adam and NAdam."""
    beta1, beta2 = values["betas"]
    lr, wd = values["lr"], values["weight_decay"]
    decoupled = values["decoupled_weight_decay"]
    return dict(
        beta1=beta1,
        beta2=beta2,
        eps=values["eps"],
        sign=gradient_sign(values),
        weight_decay=0.0 if decoupled else wd,
        shrink=1 - lr * wd if decoupled else 1.0,
    )


class Adam(Optimizer):
    r"""Adam: bias-corrected first and second moment estimates (Goodfellow et al., 2016, Algorithm 8.7).

    Parameters
    ----------
    params : array, list, dict, FlatParams or list of group dicts
    lr : float, array or schedule, default 1e-3
    betas : pair of (float, array or schedule), default (0.9, 0.999)
        ρ₁, ρ₂, each in [0, 1).
    eps : float, default 1e-8
        δ, added to :math:`\sqrt{\hat v}` (Goodfellow et al. (2016) suggests 1e-6).
    weight_decay : float, default 0
        L2 penalty added to the gradient (or decoupled, below).
    amsgrad : bool, default False
        Use the running maximum of v (Reddi et al., 2018).
    maximize : bool, default False
    decoupled_weight_decay : bool, default False
        AdamW: θ ← θ(1 − ε·wd) instead of adding wd·θ to the gradient.
    backend : str, optional
    nonfinite : {"raise", "skip", "propagate"}, default "raise"
        What a NaN/inf gradient does: raise (nothing modified), skip the step, or
        apply it as torch does (see :meth:`optkit.Optimizer.step`).

    Notes
    -----
    At step t (from 1):

    .. math::
        m \leftarrow \rho_1 m + (1-\rho_1) g,\quad
        v \leftarrow \rho_2 v + (1-\rho_2) g^2,\quad
        \theta \leftarrow \theta - \epsilon\,
        \frac{m / (1-\rho_1^t)}{\sqrt{v / (1-\rho_2^t)} + \delta}

    References
    ----------
    Kingma & Ba (2015), ICLR; Reddi, Kale & Kumar (2018), ICLR.

    Examples
    --------
    >>> import numpy as np, optkit as ok
    >>> w = np.array([1.0, -1.0])
    >>> opt = ok.Adam(w, lr=0.1, backend="numpy")
    >>> _ = opt.step(np.array([3.0, -0.2]))   # first step: about -lr * sign(g)
    >>> np.round(w, 6).tolist()
    [0.9, -0.9]
    """

    checks = {
        "lr": V.non_negative,
        "betas": V.betas_pair,
        "eps": V.non_negative,
        "weight_decay": V.non_negative,
        "amsgrad": V.flag,
        "maximize": V.flag,
        "decoupled_weight_decay": V.flag,
    }

    def __init__(
        self,
        params: Any,
        lr: Any = 1e-3,
        betas: tuple = (0.9, 0.999),
        eps: Any = 1e-8,
        weight_decay: Any = 0.0,
        amsgrad: bool = False,
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
                amsgrad=amsgrad,
                maximize=maximize,
                decoupled_weight_decay=decoupled_weight_decay,
            ),
            backend=backend,
            nonfinite=nonfinite,
        )

    def rule_for(self, values):
        return rules.adam.with_flags(amsgrad=values["amsgrad"])

    def host_hypers(self, values, t, group_state):
        beta1, beta2 = values["betas"]
        out = adam_host_hypers(values, t)
        out["step_size"] = values["lr"] / (1 - real_power(beta1, t))
        out["bc2"] = 1 - real_power(beta2, t)
        return out


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter, 2019); torch's AdamW.

    Same parameters as :class:`Adam`, with ``weight_decay=1e-2`` by default and
    ``decoupled_weight_decay`` always True: :math:`\theta \leftarrow
    \theta(1 - \epsilon\lambda)` before the Adam step.

    Examples
    --------
    >>> import numpy as np, optkit as ok
    >>> w = np.array([2.0])
    >>> opt = ok.AdamW(w, lr=0.1, weight_decay=0.5, backend="numpy")
    >>> _ = opt.step(np.array([0.0]))      # zero gradient: only the decay acts
    >>> float(w[0])                        # 2 * (1 - 0.1 * 0.5)
    1.9
    """

    def __init__(
        self,
        params: Any,
        lr: Any = 1e-3,
        betas: tuple = (0.9, 0.999),
        eps: Any = 1e-8,
        weight_decay: Any = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        backend: str | None = None,
        nonfinite: str = "raise",
    ):
        super().__init__(
            params,
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
            decoupled_weight_decay=True,
            backend=backend,
            nonfinite=nonfinite,
        )
