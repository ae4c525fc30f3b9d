r"""Gradient clipping as maps and reductions (Pascanu, Mikolov & Bengio, 2013).

The norm is a float64 sum of squares. For float16/float32 input every square is exact
and safe in float64; for float64 input, when that sum overflowed or may have
underflowed, :func:`blue_sums` recomputes it in one pass with three accumulators
(Blue, 1978; the scaling constants of LAPACK's ``dnrm2`` since 3.10, Anderson,
2017, ACM TOMS Algorithm 978), so that 1e200 and 1e-200 are safe.
"""

from optkit.rules._rule import elementwise, reduction
from optkit.rules.math import abs, clip, where


@elementwise(outputs=("y",))
def clip_value(x, *, threshold):
    r""":math:`y = \min(\max(x, -c), c)`; NaN stays NaN."""
    return (clip(x, -threshold, threshold),)


@elementwise(outputs=("y",))
def scale(x, *, factor):
    r""":math:`y = x \cdot f`."""
    return (x * factor,)


@reduction(outputs=("sum_sq",), compute="float64")
def sum_of_squares(x):
    r""":math:`\sum x^2` (float64)."""
    return (x * x,)


@reduction(outputs=("big", "medium", "small"), compute="float64")
def blue_sums(x, *, big, small, big_scale, small_scale):
    r"""Blue's three sums: :math:`\sum (s_b x)^2` over :math:`|x| > t_b`,
    :math:`\sum x^2` over the others, :math:`\sum (s_s x)^2` over :math:`|x| < t_s`."""
    a = abs(x)
    is_big = a > big
    is_small = a < small
    b = a * big_scale
    s = a * small_scale
    medium = where(is_big | is_small, 0.0, a * a)
    return where(is_big, b * b, 0.0), medium, where(is_small, s * s, 0.0)
