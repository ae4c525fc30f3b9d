"""RMSProp (Tieleman & Hinton, 2012), torch conventions (``torch.optim.RMSprop``).

torch puts eps outside the root; the book, Keras and optax put it inside
(``eps_in_sqrt``). The centered variant (Graves, 2013) subtracts the squared mean
gradient :math:`\\bar g^2`; with ``momentum`` the normalized step feeds a buffer.
"""

from optkit.rules._rule import rule
from optkit.rules._shared import effective_gradient
from optkit.rules.math import lerp, sqrt


@rule(state=("v", "gbar", "buf"), flags=("centered", "momentum", "eps_in_sqrt"))
def rmsprop(p, g, v, gbar, buf, *, lr, sign, weight_decay, alpha, eps, mu, centered=False,
            momentum=False, eps_in_sqrt=False):  # fmt: skip
    r"""RMSProp (Goodfellow et al., 2016, Algorithms 8.5 and 8.6).

    .. math::
        v \leftarrow \alpha v + (1-\alpha) g^2, \qquad
        \bar g \leftarrow \alpha \bar g + (1-\alpha) g \ \text{(centered)}, \qquad
        d = \sqrt{v - \bar g^2} + \delta \ \text{(or } \sqrt{v - \bar g^2 + \delta}),

    then :math:`\theta \leftarrow \theta - \epsilon\, g/d`, or with momentum
    :math:`b \leftarrow \mu b + g/d,\ \theta \leftarrow \theta - \epsilon b`.
    """
    g = effective_gradient(p, g, sign, weight_decay)
    v = alpha * v + (1 - alpha) * g * g
    mean_square = v
    if centered:
        gbar = lerp(gbar, g, 1 - alpha)  # alpha gbar + (1 - alpha) g, as torch
        mean_square = v - gbar * gbar
    denom = sqrt(mean_square + eps) if eps_in_sqrt else sqrt(mean_square) + eps
    step = g / denom
    if momentum:
        buf = mu * buf + step
        step = buf
    return p - lr * step, v, gbar, buf
