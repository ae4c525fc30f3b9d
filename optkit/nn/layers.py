r"""Layers with explicit forward and backward: ``Linear``, activations, ``Dropout``.

Each follows the layer protocol of :mod:`optkit.nn._layer` and torch's semantics
(weight layout, default initialisation, names). The forward keeps what the
backward needs (Linear: its input; activations: their output; Dropout: its mask);
the backward returns the input's gradient and writes the parameters' gradients
into the views bound by ``bind`` (overwriting them).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from optkit.nn import _ops
from optkit.nn import init as nn_init
from optkit.nn._layer import Layer, array_module

__all__ = ["Dropout", "Linear", "ReLU", "Sigmoid", "Tanh"]


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name}={value!r} must be a positive integer")
    return int(value)


def _float_dtype(dtype: Any) -> np.dtype:
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"dtype must be a float dtype, got {dt}")
    return dt


class Linear(Layer):
    r"""Affine map :math:`y = x W^\top + b` with torch's layout and initialisation.

    Parameters
    ----------
    in_features, out_features : int
    bias : bool, default True
    dtype : dtype, default "float32"
    rng : numpy.random.Generator, optional
        Source of the initial values; or ``seed=``. Neither: fresh entropy.
    seed : int, optional
    backend : str, optional
        ``"cupy"`` creates the arrays on the GPU; the others run on NumPy arrays.

    Attributes
    ----------
    weight : array (out_features, in_features)
    bias : array (out_features,) or None
    grad_weight, grad_bias : array or None
        Set by :meth:`backward` (the bound gradient views inside a model).

    Notes
    -----
    Initialisation as torch's ``nn.Linear``: :math:`W \sim U(-1/\sqrt{n}, 1/\sqrt{n})`
    (Kaiming-uniform with :math:`a=\sqrt5`) and :math:`b \sim U(-1/\sqrt{n},
    1/\sqrt{n})`, :math:`n` = ``in_features``. Backward, with the input viewed as
    :math:`X` of shape (N, in):

    .. math::
        \partial W = \partial Y^\top X, \quad \partial b = \textstyle\sum_n \partial Y_n,
        \quad \partial X = \partial Y\, W

    Examples
    --------
    >>> import numpy as np
    >>> from optkit.nn import Linear
    >>> layer = Linear(3, 2, seed=0, dtype="float64")
    >>> layer.weight.shape, bool(np.abs(layer.weight).max() <= 3**-0.5)
    ((2, 3), True)
    >>> x = np.ones((4, 3))
    >>> dx = layer.backward(np.ones((4, 2))) if layer(x) is not None else None
    >>> layer.grad_bias.tolist(), dx.shape
    ([4.0, 4.0], (4, 3))
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        dtype: Any = "float32",
        rng: np.random.Generator | None = None,
        seed: int | None = None,
        backend: str | None = None,
    ):
        super().__init__(backend)
        self.in_features = _positive_int("in_features", in_features)
        self.out_features = _positive_int("out_features", out_features)
        self.dtype = _float_dtype(dtype)
        self._param_names = ("weight", "bias") if bias else ("weight",)
        gen = nn_init.generator(rng, seed)
        weight = np.empty((self.out_features, self.in_features))
        nn_init.kaiming_uniform_(weight, a=math.sqrt(5), rng=gen)
        xp = array_module(backend)
        self.weight = xp.asarray(weight.astype(self.dtype))
        self.bias = None
        if bias:
            bound = 1 / math.sqrt(self.in_features)
            values = gen.uniform(-bound, bound, self.out_features).astype(self.dtype)
            self.bias = xp.asarray(values)
        self.grad_weight: Any | None = None
        self.grad_bias: Any | None = None
        self._cache: tuple | None = None

    def check_input(self, x: Any) -> None:
        """Raise naming the mismatch unless ``x`` is ``(..., in_features)`` of the
        weight's dtype."""
        if x.ndim < 1 or int(x.shape[-1]) != self.in_features:
            raise ValueError(
                f"{self!r} got input of shape {tuple(x.shape)}: the last axis must have "
                f"{self.in_features} features"
            )
        if x.dtype != self.weight.dtype:
            raise TypeError(
                f"{self!r} got input of dtype {x.dtype} but its weight is "
                f"{self.weight.dtype}; convert the input or build the layer with "
                f"dtype={x.dtype}"
            )

    def forward(self, x: Any) -> Any:
        """:math:`x W^\\top + b` over the last axis of ``x``."""
        self.check_input(x)
        be = self._backend(x)
        xp = be.xp
        x2 = x if x.ndim == 2 else xp.reshape(x, (-1, self.in_features))
        y = xp.matmul(x2, self.weight.T)
        if self.bias is not None:
            y += self.bias
        self._cache = (be, x2, tuple(x.shape))
        if x.ndim == 2:
            return y
        return xp.reshape(y, (*tuple(x.shape)[:-1], self.out_features))

    def backward(self, dy: Any, *, input_grad: bool = True) -> Any:
        """Gradients of the last forward; ``input_grad=False`` skips :math:`\\partial X`."""
        if self._cache is None:
            raise RuntimeError("Linear.backward called before forward")
        be, x2, shape = self._cache
        xp = be.xp
        expected = (*shape[:-1], self.out_features)
        if tuple(dy.shape) != expected or dy.dtype != x2.dtype:
            raise ValueError(
                f"{self!r}.backward got dy {dy.dtype} {tuple(dy.shape)}, expected "
                f"{x2.dtype} {expected}"
            )
        dy2 = dy if dy.ndim == 2 else xp.reshape(dy, (-1, self.out_features))
        compute, view = self._grad_target("weight")
        self.grad_weight = None
        if compute:
            if view is None:
                self.grad_weight = xp.matmul(dy2.T, x2)
            else:
                self.grad_weight = _ops.matmul_into(xp, dy2.T, x2, view)
        self.grad_bias = None
        if self.bias is not None:
            compute, view = self._grad_target("bias")
            if compute:
                total = xp.sum(dy2, axis=0)
                if view is not None:
                    view[...] = total
                    total = view
                self.grad_bias = total
        if not input_grad:
            return None
        dx = xp.matmul(dy2, self.weight)
        return dx if len(shape) == 2 else xp.reshape(dx, shape)

    def __repr__(self) -> str:
        return (
            f"Linear(in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None})"
        )


class _Activation(Layer):
    """An element-wise activation; keeps its output for the backward."""

    kind = ""

    def __init__(self, *, backend: str | None = None):
        super().__init__(backend)
        self._cache: tuple | None = None

    def forward(self, x: Any) -> Any:
        be = self._backend(x)
        y = _ops.activation_forward(be, self.kind, x)
        self._cache = (be, y)
        return y

    def backward(self, dy: Any) -> Any:
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        be, y = self._cache
        if tuple(dy.shape) != tuple(y.shape) or dy.dtype != y.dtype:
            raise ValueError(
                f"{type(self).__name__}.backward got dy {dy.dtype} {tuple(dy.shape)}, "
                f"expected {y.dtype} {tuple(y.shape)}"
            )
        return _ops.activation_backward(be, self.kind, dy, y)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ReLU(_Activation):
    r""":math:`\max(x, 0)`; backward :math:`dy\,[y > 0]`.

    Examples
    --------
    >>> import numpy as np
    >>> from optkit.nn import ReLU
    >>> relu = ReLU()
    >>> relu(np.array([-1.0, 2.0])).tolist(), relu.backward(np.ones(2)).tolist()
    ([0.0, 2.0], [0.0, 1.0])
    """

    kind = "relu"


class Tanh(_Activation):
    r""":math:`\tanh x`; backward :math:`dy\,(1 - y^2)`."""

    kind = "tanh"


class Sigmoid(_Activation):
    r""":math:`1/(1 + e^{-x})`; backward :math:`dy\,y(1 - y)`."""

    kind = "sigmoid"


class Dropout(Layer):
    r"""Zero each element with probability ``p`` in training; scale the rest by
    :math:`1/(1-p)` (inverted dropout, as torch). Identity in eval mode.

    Parameters
    ----------
    p : float, default 0.5
        Drop probability in [0, 1].
    rng : numpy.random.Generator, optional
        Source of the masks (drawn on the host); or ``seed=``.
    seed : int, optional

    Attributes
    ----------
    rng : numpy.random.Generator
        Its ``bit_generator.state`` is what a checkpoint keeps.

    References
    ----------
    Srivastava, N. et al. (2014). Dropout. JMLR 15.

    Examples
    --------
    >>> import numpy as np
    >>> from optkit.nn import Dropout
    >>> drop = Dropout(0.5, seed=0)
    >>> y = drop(np.ones(8))
    >>> sorted(set(y.tolist())) in ([0.0, 2.0], [2.0], [0.0])
    True
    >>> drop.eval()(np.ones(3)).tolist()
    [1.0, 1.0, 1.0]
    """

    def __init__(
        self, p: float = 0.5, *, rng: np.random.Generator | None = None, seed=None
    ):
        super().__init__(None)
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p <= 1:
            raise ValueError(f"dropout probability p={p!r} must be in [0, 1]")
        self.p = float(p)
        self.rng = nn_init.generator(rng, seed)
        self._mask: Any | None = None

    def forward(self, x: Any) -> Any:
        if not self.training or self.p == 0.0:
            self._mask = None
            return x
        from optkit._host import from_numpy
        from optkit.params import dtype_name

        keep = self.rng.random(tuple(x.shape)) >= self.p
        scale = 0.0 if self.p == 1.0 else 1.0 / (1.0 - self.p)
        mask = (keep * scale).astype(np.dtype(dtype_name(x.dtype)))
        self._mask = from_numpy(mask, x)
        return x * self._mask

    def backward(self, dy: Any) -> Any:
        return dy if self._mask is None else dy * self._mask

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"
