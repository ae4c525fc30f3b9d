r"""Adam and AMSGrad (Kingma & Ba, 2015; Reddi, Kale & Kumar, 2018), torch conventions.

The host computes, once per step t (counted from 1), ``step_size`` =
:math:`\epsilon / (1-\beta_1^t)` and ``bc2`` = :math:`1-\beta_2^t`. Weight
decay is either L2 (``weight_decay`` added to the gradient: Adam) or decoupled
(``shrink`` = :math:`1 - \epsilon\,\lambda` multiplies θ: AdamW, Loshchilov & Hutter,
2019); the unused one is 0 (resp. 1). The book's δ = 1e-6 is ``eps``; torch's default
is 1e-8, added to :math:`\sqrt{\hat v}` outside the root.
"""

from optkit.rules._rule import rule
from optkit.rules._shared import effective_gradient
from optkit.rules.math import lerp, maximum, sqrt


@rule(state=("m", "v", "vmax"), flags=("amsgrad",))
def adam(p, g, m, v, vmax, *, step_size, beta1, beta2, bc2, eps, sign, weight_decay,
         shrink, amsgrad=False):  # fmt: skip
    r"""Adam (Goodfellow et al., 2016, Algorithm 8.7); AMSGrad when flagged.

    .. math::
        m \leftarrow \beta_1 m + (1-\beta_1) g,\quad
        v \leftarrow \beta_2 v + (1-\beta_2) g^2,\quad
        \theta \leftarrow \theta - \frac{\epsilon}{c_1}\,
            \frac{m}{\sqrt{v}/\sqrt{c_2} + \delta}

    AMSGrad uses :math:`v_{max} \leftarrow \max(v_{max}, v)` in the denominator, as
    ``torch.optim.Adam(amsgrad=True)``.
    """
    g = effective_gradient(p, g, sign, weight_decay)
    m = lerp(m, g, 1 - beta1)  # beta1 m + (1 - beta1) g, rounded as torch does
    v = beta2 * v + (1 - beta2) * g * g
    second = v
    if amsgrad:
        vmax = maximum(vmax, v)
        second = vmax
    denom = sqrt(second) / sqrt(bc2) + eps
    return p * shrink - step_size * (m / denom), m, v, vmax
