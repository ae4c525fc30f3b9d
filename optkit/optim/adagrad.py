"""``Adagrad`` (torch.optim.Adagrad semantics)."""

from __future__ import annotations

from typing import Any

from optkit import rules
from optkit._host import namespace, zeros_like
from optkit.optim import _validate as V
from optkit.optim.optimizer import Optimizer, gradient_sign


class Adagrad(Optimizer):
    r"""AdaGrad: per-coordinate rates shrinking with the accumulated squared gradient.

    Parameters
    ----------
    params : array, list, dict, FlatParams or list of group dicts
    lr : float, array or schedule, default 1e-2
    lr_decay : float, default 0
        d in :math:`\epsilon_t = \epsilon / (1 + (t-1) d)`.
    weight_decay : float, default 0
        L2 penalty added to the gradient.
    initial_accumulator_value : float, default 0
        Starting value of the accumulator r (optax/Keras use 0.1).
    eps : float, default 1e-10
        δ, added outside the square root (torch convention).
    maximize : bool, default False
    backend : str, optional
    nonfinite : {"raise", "skip", "propagate"}, default "raise"
        What a NaN/inf gradient does: raise (nothing modified), skip the step, or
        apply it as torch does (see :meth:`optkit.Optimizer.step`).

    Notes
    -----
    Lecture Algorithm 8.4, torch's placement of δ:

    .. math::
        r \leftarrow r + g \odot g, \qquad
        \theta \leftarrow \theta - \frac{\epsilon_t}{\delta + \sqrt{r}} \odot g

    References
    ----------
    Duchi, Hazan & Singer (2011), JMLR 12.

    Examples
    --------
    >>> import numpy as np, optkit as ok
    >>> w = np.array([1.0, -1.0])
    >>> opt = ok.Adagrad(w, lr=0.5, backend="numpy")
    >>> _ = opt.step(np.array([4.0, -0.1]))   # first step: about -lr * sign(g)
    >>> np.round(w, 6).tolist()
    [0.5, -0.5]
    """

    checks = {
        "lr": V.non_negative,
        "lr_decay": V.non_negative,
        "weight_decay": V.non_negative,
        "initial_accumulator_value": V.non_negative,
        "eps": V.non_negative,
        "maximize": V.flag,
    }

    def __init__(
        self,
        params: Any,
        lr: Any = 1e-2,
        lr_decay: Any = 0.0,
        weight_decay: Any = 0.0,
        initial_accumulator_value: Any = 0.0,
        eps: Any = 1e-10,
        *,
        maximize: bool = False,
        backend: str | None = None,
        nonfinite: str = "raise",
    ):
        super().__init__(
            params,
            dict(
                lr=lr,
                lr_decay=lr_decay,
                weight_decay=weight_decay,
                initial_accumulator_value=initial_accumulator_value,
                eps=eps,
                maximize=maximize,
            ),
            backend=backend,
            nonfinite=nonfinite,
        )

    def rule_for(self, values):
        return rules.adagrad

    def host_hypers(self, values, t, group_state):
        return dict(
            lr=values["lr"] / (1 + (t - 1) * values["lr_decay"]),
            sign=gradient_sign(values),
            weight_decay=values["weight_decay"],
            eps=values["eps"],
        )

    def init_state(self, name, param, values):
        xp = namespace(param)
        start = values["initial_accumulator_value"]
        state = zeros_like(param)
        state[...] = xp.asarray(start, dtype=param.dtype) if V.is_array(start) else start
        return state
