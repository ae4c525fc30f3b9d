r"""A deep linear chain :math:`y = W^N u`: exploding and vanishing gradients."""

from __future__ import annotations

from typing import Any

import numpy as np

from optkit.problems._base import Problem, generators, positive_int, real

__all__ = ["DeepLinear", "deep_linear"]

_INITS = ("orthogonal", "symmetric", "gaussian")


def _matvec(xp, w, h):
    """Rows ``W_k h_k`` as an element-wise product summed along the last axis."""
    return xp.sum(w * h[..., None, :], axis=-1)


def _rmatvec(xp, w, d):
    """Rows ``W_kᵀ d_k``."""
    return xp.sum(xp.permute_dims(w, (0, 2, 1)) * d[..., None, :], axis=-1)


def _outer(a, b):
    return a[:, :, None] * b[:, None, :]


class DeepLinear(Problem):
    """``½‖W_N ⋯ W_1 u − u‖²``; see :func:`deep_linear`."""

    name = "deep_linear"

    def __init__(
        self,
        depth=10,
        width=4,
        spectral_radius=1.1,
        tied=True,
        init="orthogonal",
        seed=0,
        noise=0.0,
    ):
        self.depth = positive_int("depth", depth)
        self.width = positive_int("width", width)
        self.spectral_radius = real("spectral_radius", spectral_radius, minimum=0.0)
        if not isinstance(tied, bool):
            raise TypeError(f"tied={tied!r}: expected True or False")
        if init not in _INITS:
            raise ValueError(f"unknown init={init!r}: expected one of {_INITS}")
        seed = positive_int("seed", seed, minimum=0)
        self.tied, self.init = tied, init
        self.layers = 1 if tied else self.depth
        rng = np.random.default_rng(seed)
        u = rng.standard_normal(self.width)
        self.input = u / np.linalg.norm(u)
        self.input.flags.writeable = False
        eye = np.tile(np.eye(self.width).reshape(-1), self.layers)
        super().__init__(
            self.layers * self.width**2,
            self.random_start(rng),
            x_star=eye,
            f_star=0.0,
            bounds=(-2.0, 2.0),
            noise=noise,
            params={
                "depth": self.depth,
                "width": self.width,
                "spectral_radius": self.spectral_radius,
                "tied": tied,
                "init": init,
                "seed": seed,
                "noise": float(noise),
            },
        )

    # ----------------------------------------------------------------- starts
    def random_start(self, rng: Any) -> np.ndarray:
        """Weights drawn by ``init`` and scaled to ``spectral_radius`` (each layer)."""
        if not isinstance(rng, np.random.Generator):
            return np.stack([self.random_start(r) for r in generators(rng, None)])
        return np.concatenate([self._draw(rng).reshape(-1) for _ in range(self.layers)])

    def _draw(self, rng: np.random.Generator) -> np.ndarray:
        w, rho = self.width, self.spectral_radius
        g = rng.standard_normal((w, w))
        if self.init == "orthogonal":
            q, r = np.linalg.qr(g)
            return rho * q * np.sign(np.diag(r))
        if self.init == "symmetric":
            q, _ = np.linalg.qr(g)
            lam = rng.uniform(-rho, rho, w)
            lam[0] = rho
            return (q * lam) @ q.T
        radius = np.max(np.abs(np.linalg.eigvals(g)))
        return g * (rho / radius)

    # ----------------------------------------------------------------- the chain
    def _weights(self, xp, x):
        return xp.reshape(x, (x.shape[0], self.layers, self.width, self.width))

    def _layer(self, weights, j):
        return weights[:, 0 if self.tied else j, ...]

    def _forward(self, xp, x):
        """Activations ``h_0 = u, ..., h_N``, each ``(K, width)``."""
        weights = self._weights(xp, x)
        u = self.constant(xp, "input", self.input, x)
        hs = [xp.broadcast_to(u[None, :], (x.shape[0], self.width))]
        for j in range(self.depth):
            hs.append(_matvec(xp, self._layer(weights, j), hs[-1]))
        return weights, hs

    def _backward(self, xp, weights, hs):
        """Adjoints ``δ_j = ∂f/∂h_j`` for ``j = 0..N``."""
        deltas = [hs[-1] - self.constant(xp, "input", self.input, hs[-1])]
        for j in range(self.depth - 1, -1, -1):
            deltas.append(_rmatvec(xp, self._layer(weights, j), deltas[-1]))
        return deltas[::-1]

    def _gather(self, xp, per_layer):
        """Per-layer gradient blocks ``(K, w, w)`` into the flat ``(K, dim)`` layout."""
        if self.tied:
            total = per_layer[0]
            for block in per_layer[1:]:
                total = total + block
            blocks = [total]
        else:
            blocks = per_layer
        flat = [xp.reshape(b, (b.shape[0], self.width**2)) for b in blocks]
        return flat[0] if len(flat) == 1 else xp.concat(flat, axis=-1)

    def _value(self, xp, x):
        _, hs = self._forward(xp, x)
        r = hs[-1] - self.constant(xp, "input", self.input, x)
        return 0.5 * xp.sum(r * r, axis=-1)

    def _value_and_grad(self, xp, x):
        weights, hs = self._forward(xp, x)
        deltas = self._backward(xp, weights, hs)
        f = 0.5 * xp.sum(deltas[-1] * deltas[-1], axis=-1)
        grads = [_outer(deltas[j + 1], hs[j]) for j in range(self.depth)]
        return f, self._gather(xp, grads)

    def _hvp(self, xp, x, v):
        weights, hs = self._forward(xp, x)
        deltas = self._backward(xp, weights, hs)
        dirs = self._weights(xp, v)
        dh = [0 * hs[0]]  # forward tangents: d h_j = V_j h_{j-1} + W_j d h_{j-1}
        for j in range(self.depth):
            w, d = self._layer(weights, j), self._layer(dirs, j)
            dh.append(_matvec(xp, d, hs[j]) + _matvec(xp, w, dh[-1]))
        dd = [dh[-1]]  # backward tangents: d δ_{j-1} = V_jᵀ δ_j + W_jᵀ d δ_j
        for j in range(self.depth - 1, -1, -1):
            w, d = self._layer(weights, j), self._layer(dirs, j)
            dd.append(_rmatvec(xp, d, deltas[j + 1]) + _rmatvec(xp, w, dd[-1]))
        dd = dd[::-1]
        blocks = [
            _outer(dd[j + 1], hs[j]) + _outer(deltas[j + 1], dh[j])
            for j in range(self.depth)
        ]
        return self._gather(xp, blocks)

    # ----------------------------------------------------------------- per depth
    def forward_norms(self, x: Any) -> Any:
        """``‖h_j‖ = ‖W_j ⋯ W_1 u‖`` for ``j = 0..N``: shape ``(N + 1,)`` or ``(K, N + 1)``."""
        xp, points, single = self._points(x)
        _, hs = self._forward(xp, points)
        norms = xp.stack([xp.sqrt(xp.sum(h * h, axis=-1)) for h in hs], axis=-1)
        return norms[0] if single else norms

    def backward_norms(self, x: Any) -> Any:
        """``‖∂f/∂h_j‖`` for ``j = 0..N`` (the gradient reaching depth j)."""
        xp, points, single = self._points(x)
        weights, hs = self._forward(xp, points)
        deltas = self._backward(xp, weights, hs)
        norms = xp.stack([xp.sqrt(xp.sum(d * d, axis=-1)) for d in deltas], axis=-1)
        return norms[0] if single else norms

    def layer_grad_norms(self, x: Any) -> Any:
        """``‖∂f/∂W_j‖_F`` for ``j = 1..N`` (each use of W when tied)."""
        xp, points, single = self._points(x)
        weights, hs = self._forward(xp, points)
        deltas = self._backward(xp, weights, hs)
        norms = [
            xp.sqrt(xp.sum(deltas[j + 1] ** 2, axis=-1) * xp.sum(hs[j] ** 2, axis=-1))
            for j in range(self.depth)
        ]
        norms = xp.stack(norms, axis=-1)
        return norms[0] if single else norms


def deep_linear(
    depth: int = 10,
    width: int = 4,
    spectral_radius: float = 1.1,
    tied: bool = True,
    init: str = "orthogonal",
    seed: int = 0,
    noise: float = 0.0,
) -> DeepLinear:
    r"""A linear chain of ``depth`` layers that must learn the identity map.

    .. math::
        f(W) = \tfrac12 \lVert W_N \cdots W_1 u - u\rVert^2
        \quad (W_j = W \text{ for all } j \text{ when tied})

    for a fixed unit input :math:`u`. Through N tied layers the signal and the
    gradient scale like :math:`\rho^N` (ρ the spectral radius): they explode for
    ρ > 1 and vanish for ρ < 1 (Goodfellow et al. 2016, §8.2.5:
    :math:`W^N = V\Sigma^N V^{-1}`).

    Parameters
    ----------
    depth : int, default 10
        N.
    width : int, default 4
        Size of W (width x width).
    spectral_radius : float, default 1.1
        ρ of the start ``x0`` (and of :meth:`random_start` draws).
    tied : bool, default True
        One matrix used N times (``dim = width²``) or N matrices (``dim = N·width²``).
    init : {"orthogonal", "symmetric", "gaussian"}, default "orthogonal"
        Start: ρ·Q with Q orthogonal (then :math:`\lVert W^j u\rVert = \rho^j`
        exactly); a symmetric :math:`Q\,\mathrm{diag}(\lambda)Q^\top` with
        :math:`\lambda` uniform in [−ρ, ρ] and :math:`\lambda_1 = \rho`; or a Gaussian
        matrix scaled to spectral radius ρ (non-normal: transient growth).
    seed : int, default 0
        Seed of ``u`` and ``x0``.
    noise : float, default 0
        σ of the additive Gaussian noise of ``sample_grad``.

    Returns
    -------
    DeepLinear
        ``x_star`` = identity matrices (``f_star = 0`` exactly); the weights are
        flattened row-major, layer after layer. Per-depth diagnostics:
        :meth:`~DeepLinear.forward_norms`, :meth:`~DeepLinear.backward_norms`,
        :meth:`~DeepLinear.layer_grad_norms`.

    Notes
    -----
    With :math:`h_0 = u`, :math:`h_j = W_j h_{j-1}`, :math:`\delta_N = h_N - u`,
    :math:`\delta_{j-1} = W_j^\top\delta_j`: :math:`\partial f/\partial W_j =
    \delta_j h_{j-1}^\top` (summed over j when tied). The Hessian-vector product
    propagates tangents forward (:math:`\dot h_j = V_j h_{j-1} + W_j\dot h_{j-1}`)
    and backward (:math:`\dot\delta_{j-1} = V_j^\top\delta_j + W_j^\top\dot\delta_j`):
    :math:`\dot\delta_j h_{j-1}^\top + \delta_j\dot h_{j-1}^\top`.

    References
    ----------
    Goodfellow, Bengio & Courville (2016), *Deep Learning*, §8.2.5; Saxe, McClelland
    & Ganguli (2014), ICLR (deep linear networks, orthogonal initialization).

    Examples
    --------
    >>> import numpy as np
    >>> from optkit.problems import deep_linear
    >>> p = deep_linear(depth=20, width=4, spectral_radius=1.1)
    >>> norms = p.forward_norms(p.x0)
    >>> bool(np.allclose(norms, 1.1 ** np.arange(21)))
    True
    """
    return DeepLinear(depth, width, spectral_radius, tied, init, seed, noise)
