r"""Adam and AMSGrad (Kingma & Ba, 2015; Reddi, Kale & Kumar, 2018), torch conventions.

The host computes, once per step t (counted from 1), the bias corrections
:math:`c_1 = 1-\beta_1^t`, :math:`c_2 = 1-\beta_2^t` and passes
``step_size`` = :math:`\epsilon / c_1` and ``rc2`` = :math:`1/\sqrt{c_2}`. Weight
decay is either L2 (``l2`` = wd, added to the gradient: Adam) or decoupled
(``shrink`` = :math:`1 - \epsilon\,\mathrm{wd}` multiplies θ: AdamW, Loshchilov &
Hutter, 2019); the unused one is 0 (resp. 1). The lecture's δ = 1e-6 is ``eps``;
torch's default is 1e-8, added to :math:`\sqrt{\hat v}` outside the root.
"""

from optkit.rules._rule import rule
from optkit.rules.math import maximum, sqrt


@rule(state=("m", "v"))
def adam(p, g, m, v, *, step_size, beta1, beta2, rc2, eps, s, l2, shrink):
    r"""Adam (lecture Algorithm 8.7).

    .. math::
        m \leftarrow \beta_1 m + (1-\beta_1) g,\quad
        v \leftarrow \beta_2 v + (1-\beta_2) g^2,\quad
        \theta \leftarrow \theta - \frac{\epsilon}{c_1}\,
            \frac{m}{\sqrt{v}/\sqrt{c_2} + \delta}
    """
    g = s * g + l2 * p
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    return p * shrink - step_size * m / (sqrt(v) * rc2 + eps), m, v


@rule(state=("m", "v", "vmax"))
def amsgrad(p, g, m, v, vmax, *, step_size, beta1, beta2, rc2, eps, s, l2, shrink):
    r"""AMSGrad: Adam with :math:`\hat v_{max} \leftarrow \max(\hat v_{max}, v)` in the
    denominator, as ``torch.optim.Adam(amsgrad=True)``."""
    g = s * g + l2 * p
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    vmax = maximum(vmax, v)
    return p * shrink - step_size * m / (sqrt(vmax) * rc2 + eps), m, v, vmax
