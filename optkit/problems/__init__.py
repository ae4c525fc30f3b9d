"""Landscapes with exact derivatives: the testbeds of the optimization lab.

Every problem is a :class:`Problem` with ``dim``, a documented start ``x0``,
``x_star`` and ``f_star`` (where known), ``bounds``, and

* ``value(x)``, ``grad(x)``, ``value_and_grad(x)``, ``hvp(x, v)`` (exact, analytic)
  and ``hessian(x)`` (dense);
* **batched**: ``x`` of shape ``(K, dim)`` is K independent points and every method
  returns one result per row (``value`` gives ``(K,)``), bit for bit what each
  point gives alone;
* ``sample_grad(x, rng)``: an unbiased noisy gradient (additive Gaussian noise of
  standard deviation ``noise``, or a minibatch for data), drawn for row k from the
  k-th of a sequence of generators;
* any Array API namespace (NumPy, CuPy, array-api-strict), and a fused Numba kernel
  for the small problems (``value_and_grad(x, backend="numba")``).

========================  ==============================================================
problem                   what it shows
========================  ==============================================================
:func:`quadratic`         ill-conditioning (κ), and SGD noise with ``noise``
:func:`rosenbrock`        a curved narrow valley
:func:`beale`             plateaus and ridges
:func:`himmelblau`        four global minima
:func:`rastrigin`         many local minima
:func:`styblinski_tang`   a global and many local minima, separable
:func:`saddle`            a strict (``"quadratic"``) or degenerate (``"monkey"``) saddle
:func:`cliff`             a wall whose gradient throws a step far away
:func:`deep_linear`       exploding / vanishing gradients through N tied layers
:func:`logistic_regression`  a real convex problem with minibatch gradients
========================  ==============================================================

:func:`make` builds a problem from its name and parameters (``problem.spec``
round-trips), :func:`names` lists them.

Examples
--------
>>> import numpy as np
>>> from optkit import problems
>>> p = problems.make("rosenbrock", dim=2)
>>> x = np.array([[0.0, 0.0], [1.0, 1.0]])          # a population of two points
>>> p.value(x).tolist(), p.grad(x).tolist()
([1.0, 0.0], [[-2.0, 0.0], [0.0, 0.0]])
"""

from __future__ import annotations

from typing import Any

from optkit.problems._base import Problem
from optkit.problems.classic import rastrigin, rosenbrock, styblinski_tang
from optkit.problems.deep_linear import deep_linear
from optkit.problems.landscapes import cliff, saddle
from optkit.problems.logistic import logistic_regression
from optkit.problems.plane import beale, himmelblau
from optkit.problems.quadratic import quadratic

__all__ = [
    "PROBLEMS",
    "Problem",
    "beale",
    "cliff",
    "deep_linear",
    "himmelblau",
    "logistic_regression",
    "make",
    "names",
    "quadratic",
    "rastrigin",
    "rosenbrock",
    "saddle",
    "styblinski_tang",
]

#: name -> factory function; the factories' keyword arguments are the parameters.
PROBLEMS = {
    "quadratic": quadratic,
    "rosenbrock": rosenbrock,
    "beale": beale,
    "himmelblau": himmelblau,
    "rastrigin": rastrigin,
    "styblinski_tang": styblinski_tang,
    "saddle": saddle,
    "cliff": cliff,
    "deep_linear": deep_linear,
    "logistic_regression": logistic_regression,
}


def names() -> list[str]:
    """The registered problem names, sorted."""
    return sorted(PROBLEMS)


def make(name: str, **params: Any) -> Problem:
    """Build the problem ``name`` with ``params`` (``make(**problem.spec)`` rebuilds).

    Raises
    ------
    ValueError
        An unknown name (the message lists the known ones).
    TypeError
        A parameter the problem does not take (the message names it).

    Examples
    --------
    >>> from optkit import problems
    >>> q = problems.make("quadratic", dim=4, kappa=100.0, rotate=False)
    >>> problems.make(**q.spec).spec == q.spec
    True
    """
    factory = PROBLEMS.get(name)
    if factory is None:
        raise ValueError(f"unknown problem {name!r}; known: {', '.join(names())}")
    import inspect

    accepted = inspect.signature(factory).parameters
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise TypeError(
            f"problem {name!r} takes no parameter {unknown[0]!r}; "
            f"its parameters: {', '.join(accepted)}"
        )
    return factory(**params)
