r"""Losses with their gradients: ``cross_entropy`` (from logits) and ``mse``.

A loss is a function ``loss(output, target, *, grad=False, **options)``: it returns
the loss as a Python float, or ``(loss, d_output)`` with ``grad=True`` — the form
:meth:`optkit.nn.Sequential.loss_and_grad` calls. Options are bound with
``functools.partial`` (``partial(cross_entropy, label_smoothing=0.1)``), and any
function of that form is a loss. Reductions are torch's (``"mean"`` by default).
"""

from __future__ import annotations

from typing import Any

from optkit._host import namespace

__all__ = ["accuracy", "cross_entropy", "mse"]

_REDUCTIONS = ("mean", "sum")


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction={reduction!r}: expected 'mean' or 'sum'")


def _targets(xp: Any, logits: Any, target: Any) -> Any:
    """Target distributions ``q`` (N, C) from class indices or probabilities."""
    n, classes = (int(s) for s in logits.shape)
    if xp.isdtype(target.dtype, "integral"):
        if tuple(target.shape) != (n,):
            raise ValueError(
                f"class-index target has shape {tuple(target.shape)}, expected ({n},)"
            )
        low, high = int(xp.min(target)), int(xp.max(target))
        if low < 0 or high >= classes:
            raise ValueError(
                f"target holds class {low if low < 0 else high}, outside [0, {classes})"
            )
        labels = xp.arange(classes, dtype=target.dtype)
        return xp.astype(xp.reshape(target, (n, 1)) == labels, logits.dtype)
    if xp.isdtype(target.dtype, "real floating") and tuple(target.shape) == (n, classes):
        return xp.astype(target, logits.dtype)
    raise ValueError(
        f"target must be class indices of shape ({n},) (an integer dtype) or class "
        f"probabilities of shape ({n}, {classes}); got {target.dtype} "
        f"{tuple(target.shape)}"
    )


def cross_entropy(
    logits: Any,
    target: Any,
    *,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
    grad: bool = False,
):
    r"""Cross-entropy of softmax(``logits``) against ``target`` (torch's
    ``F.cross_entropy``).

    Parameters
    ----------
    logits : array (N, C)
    target : integer array (N,) of class indices, or float array (N, C) of class
        probabilities.
    label_smoothing : float in [0, 1], default 0
        ε: the target becomes :math:`(1-\epsilon)\,q + \epsilon/C`.
    reduction : {"mean", "sum"}
        Mean over the N samples (torch's default) or sum.
    grad : bool
        Also return the gradient with respect to ``logits``.

    Returns
    -------
    float, or (float, array (N, C))

    Notes
    -----
    With the stable log-softmax :math:`\log p = z - m - \log\sum_k e^{z_k - m}`,
    :math:`m = \max_k z_k`:

    .. math::
        L = -\frac1N \sum_n \sum_k q_{nk} \log p_{nk}, \qquad
        \frac{\partial L}{\partial z_{nk}} = \frac1N\Big(p_{nk} \sum_j q_{nj}
        - q_{nk}\Big)

    Examples
    --------
    >>> import numpy as np
    >>> from optkit.nn import cross_entropy
    >>> logits = np.array([[2.0, 0.0], [0.0, 0.0]])
    >>> loss, dz = cross_entropy(logits, np.array([0, 1]), grad=True)
    >>> round(loss, 6), np.round(dz, 4).tolist()
    (0.410038, [[-0.0596, 0.0596], [0.25, -0.25]])
    """
    _check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing={label_smoothing!r} must be in [0, 1]")
    xp = namespace(logits)
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (N, C), got {tuple(logits.shape)}")
    q = _targets(xp, logits, target)
    n, classes = (int(s) for s in logits.shape)
    if label_smoothing:
        q = (1.0 - label_smoothing) * q + label_smoothing / classes
    shifted = logits - xp.max(logits, axis=1, keepdims=True)
    log_p = shifted - xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))
    scale = 1.0 / n if reduction == "mean" else 1.0
    value = -float(xp.sum(q * log_p)) * scale
    if not grad:
        return value
    mass = xp.sum(q, axis=1, keepdims=True)
    return value, (xp.exp(log_p) * mass - q) * scale


def mse(output: Any, target: Any, *, reduction: str = "mean", grad: bool = False):
    r"""Mean squared error (torch's ``F.mse_loss``).

    .. math:: L = \frac1M \sum (y - t)^2, \qquad \partial L/\partial y = 2(y - t)/M

    over the :math:`M` elements (``reduction="sum"``: no division). ``target`` must
    have ``output``'s shape.

    Examples
    --------
    >>> import numpy as np
    >>> from optkit.nn import mse
    >>> mse(np.array([1.0, 3.0]), np.array([0.0, 0.0]), grad=True)
    (5.0, array([1., 3.]))
    """
    _check_reduction(reduction)
    if tuple(output.shape) != tuple(target.shape):
        raise ValueError(
            f"mse: target shape {tuple(target.shape)} differs from output shape "
            f"{tuple(output.shape)} (reshape it; no broadcasting)"
        )
    xp = namespace(output)
    diff = output - xp.astype(target, output.dtype)
    scale = 1.0 / max(1, diff.size) if reduction == "mean" else 1.0
    value = float(xp.sum(diff * diff)) * scale
    if not grad:
        return value
    return value, diff * (2.0 * scale)


def accuracy(output: Any, target: Any) -> float:
    """Share of rows whose largest output is the target class (or the target
    distribution's largest entry).

    Examples
    --------
    >>> import numpy as np
    >>> from optkit.nn import accuracy
    >>> accuracy(np.array([[2.0, 1.0], [0.0, 3.0]]), np.array([0, 0]))
    0.5
    """
    xp = namespace(output)
    predicted = xp.argmax(output, axis=1)
    if not xp.isdtype(target.dtype, "integral"):
        target = xp.argmax(target, axis=1)
    return float(xp.mean(xp.astype(predicted == target, xp.float64)))
