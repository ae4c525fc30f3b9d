"""Small helpers that several rules share (they obey the rule contract themselves)."""

from __future__ import annotations

__all__ = ["effective_gradient"]


def effective_gradient(p, g, sign, weight_decay):
    r"""The gradient a step follows: :math:`s\,g + \lambda\,\theta`.

    ``sign`` is ``s = -1`` when maximizing (gradient ascent), else 1; ``weight_decay``
    is the L2 coefficient λ (0 for none). torch applies both in this order.
    """
    return sign * g + weight_decay * p
