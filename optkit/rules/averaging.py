"""The averaging step of Polyak averaging (tail mean and EMA)."""

from optkit.rules._rule import rule


@rule()
def weighted_mean(p, g, *, a, b):
    r"""One averaging step, :math:`\bar\theta \leftarrow a\,\bar\theta + b\,\theta`.

    Here ``p`` is the average (updated in place) and ``g`` the current iterate: EMA
    uses ``a = d, b = 1 - d``; the tail mean of ``k`` iterates ``a = 1 - 1/k, b = 1/k``.
    """
    return (a * p + b * g,)
