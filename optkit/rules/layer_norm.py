r"""Layer normalization (Ba, Kiros & Hinton, 2016) as maps and reductions over rows.

The input is viewed as ``(N, D, 1)``: one row per sample (statistics per row, the
row parameters ``mean`` and ``invstd``), the normalized features along the row (the
channel parameters ``weight`` γ and ``bias`` β, one per feature).
"""

from optkit.rules._rule import elementwise, reduction


@reduction(outputs=("sum_dev", "sum_sq_dev"), row=("shift",), compute="float64")
def row_moments(x, *, shift):
    r""":math:`\sum_d (x - k)` and :math:`\sum_d (x - k)^2` per row (float64)."""
    d = x - shift
    return d, d * d


@elementwise(outputs=("y",), row=("mean", "invstd"), channel=("weight", "bias"),
             compute="float64")  # fmt: skip
def normalize(x, *, mean, invstd, weight, bias):
    r""":math:`y = \gamma_d\,(x - \mu_n)\,\sigma_n^{-1} + \beta_d`."""
    return ((x - mean) * invstd * weight + bias,)


@reduction(outputs=("sum_gy", "sum_gy_xhat"), row=("mean", "invstd"), channel=("weight",),
           compute="float64")  # fmt: skip
def row_gradient_sums(dy, x, *, mean, invstd, weight):
    r""":math:`\sum_d \gamma_d\,dy` and :math:`\sum_d \gamma_d\,dy\,\hat x` per row."""
    gy = dy * weight
    return gy, gy * ((x - mean) * invstd)


@reduction(outputs=("sum_dy_xhat", "sum_dy"), row=("mean", "invstd"), compute="float64")
def parameter_gradient_sums(dy, x, *, mean, invstd):
    r""":math:`d\gamma = \sum_n dy\,\hat x` and :math:`d\beta = \sum_n dy` per feature."""
    return dy * ((x - mean) * invstd), dy


@elementwise(outputs=("dx",), row=("mean", "invstd", "c1", "c2"), channel=("weight",),
             compute="float64")  # fmt: skip
def input_gradient(dy, x, *, mean, invstd, c1, c2, weight):
    r""":math:`dx = \sigma^{-1}\,(\gamma\,dy - c_1 - \hat x\,c_2)` with the row means
    :math:`c_1 = \overline{\gamma\,dy}` and :math:`c_2 = \overline{\gamma\,dy\,\hat x}`."""
    xhat = (x - mean) * invstd
    return (invstd * (dy * weight - c1 - xhat * c2),)
