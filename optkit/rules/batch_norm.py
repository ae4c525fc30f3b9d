r"""Batch normalization (Ioffe & Szegedy, 2015) as maps and reductions over ``(O, C, I)``.

The input is viewed with the channel in the middle: ``(N, C)`` channels-last data is
``(N·HW, C, 1)`` (rows), NCHW data is ``(N, C, HW)`` (runs). Statistics and sums are
per channel, over ``O`` and ``I``; the per-channel algebra between the passes
(mean, variance, the folded scale and offset, the backward coefficients) is O(C)
array code in :mod:`optkit.nn.functional`.

Forward: one pass of shifted sums (the shift ``k`` is the channel's first value, so
the float64 sums of :math:`x-k` and :math:`(x-k)^2` do not cancel the way
:math:`E[x^2]-E[x]^2` does; cf. Welford, 1962), then one pass
:math:`y = x\cdot\mathrm{scale} + \mathrm{offset}` with
:math:`\mathrm{scale} = \gamma/\sqrt{\sigma^2+\epsilon}` and
:math:`\mathrm{offset} = \beta - \mu\,\mathrm{scale}`.
Backward: one pass for :math:`\sum dy` and :math:`\sum dy\,(x-\mu)`, one for
:math:`dx = a\,dy + b\,x + e` with per-channel coefficients.
"""

from optkit.rules._rule import elementwise, reduction


@reduction(outputs=("sum_dev", "sum_sq_dev"), channel=("shift",), compute="float64")
def shifted_moments(x, *, shift):
    r""":math:`\sum (x - k)` and :math:`\sum (x - k)^2` per channel (float64)."""
    d = x - shift
    return d, d * d


@elementwise(outputs=("y",), channel=("scale", "offset"), compute="float64")
def scale_offset(x, *, scale, offset):
    r""":math:`y = x \cdot \mathrm{scale}_c + \mathrm{offset}_c` (the normalize pass)."""
    return (x * scale + offset,)


@reduction(outputs=("sum_dy", "sum_dy_dev"), channel=("mean",), compute="float64")
def gradient_sums(dy, x, *, mean):
    r""":math:`\sum dy` and :math:`\sum dy\,(x-\mu)` per channel (float64)."""
    return dy, dy * (x - mean)


@elementwise(outputs=("dx",), channel=("a", "b", "e"), compute="float64")
def input_gradient(dy, x, *, a, b, e):
    r""":math:`dx = a_c\,dy + b_c\,x + e_c`."""
    return (a * dy + b * x + e,)
