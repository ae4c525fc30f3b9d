r"""``LayerNorm``: a stateful layer around :func:`optkit.nn.functional.layer_norm`."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from optkit._host import from_numpy, to_numpy
from optkit.nn.functional.layer_norm import LayerNormCache, layer_norm, layer_norm_backward
from optkit.params import FlatParams, check_saved

__all__ = ["LayerNorm"]


class LayerNorm:
    r"""Layer normalization with torch's ``torch.nn.LayerNorm`` semantics.

    Parameters
    ----------
    normalized_shape : int or tuple of int
        The trailing shape normalized over.
    eps : float, default 1e-5
    elementwise_affine : bool, default True
        Learn γ (``weight``, ones) and β (``bias``, zeros) of ``normalized_shape``.
    bias : bool, default True
        With ``elementwise_affine``: learn β too.
    dtype : dtype, default "float32"
        dtype of γ and β.
    backend : str, optional
        Resolved from the input on every call (``"numba"`` for NumPy by default).

    Attributes
    ----------
    weight, bias : array or None
    grad_weight, grad_bias : array or None
        Set by :meth:`backward`.

    Notes
    -----
    :math:`y = \gamma\,(x - \mu)/\sqrt{\sigma^2 + \epsilon} + \beta` over the trailing
    axes of each sample (biased variance). No running statistics: training and eval
    compute the same thing.

    References
    ----------
    Ba, J. L., Kiros, J. R. & Hinton, G. E. (2016). Layer normalization.

    Examples
    --------
    >>> import numpy as np
    >>> from optkit.nn import LayerNorm
    >>> ln = LayerNorm(4, backend="numpy")
    >>> y = ln(np.arange(8.0, dtype=np.float32).reshape(2, 4))
    >>> np.round(y[0].astype(float), 3).tolist()
    [-1.342, -0.447, 0.447, 1.342]
    >>> dx = ln.backward(np.ones((2, 4), np.float32))
    >>> ln.grad_bias.tolist()
    [2.0, 2.0, 2.0, 2.0]
    """

    def __init__(
        self,
        normalized_shape: Any,
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        dtype: Any = "float32",
        backend: str | None = None,
    ):
        if isinstance(normalized_shape, numbers.Integral):
            normalized_shape = (normalized_shape,)
        shape = tuple(int(s) for s in normalized_shape)
        if not shape or any(s < 1 for s in shape):
            raise ValueError(
                f"normalized_shape={normalized_shape!r} must be positive sizes"
            )
        if not eps >= 0:
            raise ValueError(f"eps={eps} must be >= 0")
        self.normalized_shape, self.eps = shape, float(eps)
        self.elementwise_affine, self.dtype = bool(elementwise_affine), np.dtype(dtype)
        self._backend = backend
        self.weight = np.ones(shape, self.dtype) if elementwise_affine else None
        self.bias = np.zeros(shape, self.dtype) if elementwise_affine and bias else None
        self.grad_weight: Any | None = None
        self.grad_bias: Any | None = None
        self.training = True
        self._cache: LayerNormCache | None = None
        self._grads: FlatParams | None = None
        self._prefix = ""

    def parameters(self, prefix: str = "") -> dict[str, Any]:
        """``{prefix + "weight": γ, prefix + "bias": β}`` (those that exist)."""
        return {f"{prefix}{k}": v for k, v in (("weight", self.weight), ("bias", self.bias))
                if v is not None}  # fmt: skip

    def bind(
        self, params: FlatParams, prefix: str = "", *, grads: FlatParams | None = None
    ):
        """Use the views ``prefix + "weight"``/``"bias"`` of ``params`` as γ and β (an
        optimizer stepping ``params`` then updates this layer); with ``grads``,
        :meth:`backward` writes the gradients into its views."""
        for role in ("weight", "bias"):
            if getattr(self, role) is not None:
                view = params[f"{prefix}{role}"]
                if tuple(view.shape) != self.normalized_shape:
                    raise ValueError(
                        f"params[{prefix + role!r}] has shape {tuple(view.shape)}, "
                        f"expected {self.normalized_shape}"
                    )
                setattr(self, role, view)
        self._grads, self._prefix = grads, prefix
        return self

    def train(self, mode: bool = True) -> LayerNorm:
        """Training mode (LayerNorm behaves the same in both modes)."""
        self.training = bool(mode)
        return self

    def eval(self) -> LayerNorm:
        return self.train(False)

    def __getstate__(self) -> dict[str, Any]:
        """Pickle/deepcopy without the forward cache (it holds a resolved backend);
        call forward again before backward."""
        state = dict(self.__dict__)
        state["_cache"] = None
        return state

    def forward(self, x: Any) -> Any:
        """Normalize ``x`` over its trailing ``normalized_shape`` axes."""
        y, self._cache = layer_norm(x, self.normalized_shape, self.weight, self.bias,
                                    self.eps, backend=self._backend)  # fmt: skip
        return y

    __call__ = forward

    def backward(self, dy: Any) -> Any:
        """Gradient with respect to the last forward's input; sets ``grad_weight/bias``."""
        if self._cache is None:
            raise RuntimeError("LayerNorm.backward called before forward")
        dx, dweight, dbias = layer_norm_backward(dy, self._cache)
        if self._grads is not None:
            for role, value in (("weight", dweight), ("bias", dbias)):
                if value is not None:
                    target = self._grads[f"{self._prefix}{role}"]
                    target[...] = value
        self.grad_weight, self.grad_bias = dweight, dbias
        return dx

    def state_dict(self) -> dict[str, np.ndarray]:
        """Host copies of γ and β under torch's keys."""
        return {k: to_numpy(v) for k, v in self.parameters().items()}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Copy γ and β in place; keys, shapes and dtypes are checked first."""
        own = self.parameters()
        if set(state_dict) != set(own):
            raise ValueError(
                f"LayerNorm.load_state_dict: keys {sorted(state_dict)}, expected {sorted(own)}"
            )
        for name, target in own.items():
            check_saved(
                f"state_dict[{name!r}]", np.asarray(to_numpy(state_dict[name])), target
            )
        for name, target in own.items():
            target[...] = from_numpy(to_numpy(state_dict[name]), target)

    def __repr__(self) -> str:
        return (
            f"LayerNorm({self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}, dtype={self.dtype.name})"
        )
