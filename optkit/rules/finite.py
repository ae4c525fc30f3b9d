"""The all-finite check of the gradients, as a count reduction."""

from optkit.rules._rule import reduction


@reduction(outputs=("nonfinite",), count=True)
def nonfinite(x):
    """Counts NaN and ±inf: ``x - x`` is NaN exactly for those (0 for finite x).

    An integer count vectorizes without fast-math, so the check costs one read of x.
    """
    return ((x - x) != 0,)
