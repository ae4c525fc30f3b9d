r"""Delta-bar-delta (Jacobs, 1988): a learning rate per weight, adapted by sign agreement.

No mainstream library ships it; this follows Jacobs' paper and Goodfellow et al.
(2016, §8.5): the rate grows additively by κ while the current gradient agrees in
sign with the exponential average of past gradients :math:`\bar\delta`, and shrinks
multiplicatively by (1 − φ) when they disagree.
"""

from optkit.rules._rule import rule
from optkit.rules._shared import effective_gradient
from optkit.rules.math import where


@rule(state=("rate", "dbar"))
def delta_bar_delta(p, g, rate, dbar, *, kappa, phi, theta, sign, weight_decay):
    r"""Delta-bar-delta step.

    .. math::
        a \leftarrow \begin{cases} a + \kappa & \bar\delta_{t-1} g > 0\\
        a (1-\phi) & \bar\delta_{t-1} g < 0\\ a & \text{otherwise}\end{cases},\quad
        \bar\delta_t = (1-\theta) g + \theta \bar\delta_{t-1},\quad
        \theta_w \leftarrow \theta_w - a\, g
    """
    g = effective_gradient(p, g, sign, weight_decay)
    agree = dbar * g
    rate = where(agree > 0, rate + kappa, where(agree < 0, rate * (1 - phi), rate))
    dbar = (1 - theta) * g + theta * dbar
    return p - rate * g, rate, dbar
