"""BatchNorm, LayerNorm and global-norm clipping: backend (first) x shape x dtype."""

from __future__ import annotations

from optkit.bench import workloads

from .common import DTYPES, KERNEL_BACKENDS, Settings

#: label -> (shape, channel axis)
BATCH_NORM_SHAPES = {
    "(8192, 1024)": ((8192, 1024), 1),
    "(64, 64, 56, 56) NCHW": ((64, 64, 56, 56), 1),
    "(64, 56, 56, 64) channels-last": ((64, 56, 56, 64), -1),
}
LAYER_NORM_SHAPES = {"(8192, 1024)": (8192, 1024), "(32, 197, 768)": (32, 197, 768)}


class _Pair:
    """Two callables built together; calling it calls both (for warming up)."""

    def __init__(self, first, second):
        self.pair = first, second

    def __call__(self):
        self.pair[0]()
        self.pair[1]()


class BatchNormSetup:
    """Builds ``self.forward`` and ``self.forward_backward`` (training mode, warm)."""

    shapes = BATCH_NORM_SHAPES

    def setup(self, backend, shape, dtype):
        dims, axis = self.shapes[shape]
        self.forward_backward, self.forward = self.reuse(
            (backend, shape, dtype),
            lambda: _Pair(workloads.batch_norm_step(backend, dims, axis, dtype),
                          workloads.batch_norm_step(backend, dims, axis, dtype, True)),
        ).pair  # fmt: skip


class BatchNorm(BatchNormSetup, Settings):
    """BatchNorm in training mode (running statistics updated), in both layouts:
    channels on axis 1 ((N, C) and NCHW) and channels-last (N, H, W, C; torch runs
    it as its ``channels_last`` memory format). ``roofline``: four copies of x
    (forward: two), the least traffic forward plus backward can have."""

    params = (KERNEL_BACKENDS, list(BATCH_NORM_SHAPES), DTYPES)
    param_names = ["backend", "shape", "dtype"]

    def time_forward(self, backend, shape, dtype):
        self.forward()

    def time_forward_backward(self, backend, shape, dtype):
        self.forward_backward()

    def peakmem_forward_backward(self, backend, shape, dtype):
        self.forward_backward()


class LayerNormSetup:
    """Builds ``self.forward_backward``; skipped where optkit has no LayerNorm."""

    shapes = LAYER_NORM_SHAPES

    def setup(self, backend, shape, dtype):
        self.forward_backward = workloads.layer_norm_step(
            backend, self.shapes[shape], dtype
        )
        self.forward_backward()


class LayerNorm(LayerNormSetup, Settings):
    """LayerNorm over the last axis with weight and bias, forward plus backward."""

    params = (KERNEL_BACKENDS, list(LAYER_NORM_SHAPES), DTYPES)
    param_names = ["backend", "shape", "dtype"]

    def time_forward_backward(self, backend, shape, dtype):
        self.forward_backward()


class ClipSetup:
    """Builds ``self.clip``: 8 arrays clipped by their global norm, over the limit."""

    def setup(self, backend, size, dtype):
        self.clip = self.reuse(
            (backend, size, dtype),
            lambda: workloads.clip_step(backend, size, dtype, tensors=8, scale=True),
        )


class ClipByGlobalNorm(ClipSetup, Settings):
    """8 arrays totalling ``size`` elements (1048576 = 2^20, 16777216 = 2^24), clipped
    by their global norm, every call over the limit (a norm pass and a scaling pass);
    torch: ``clip_grad_norm_``. ``roofline``: one read pass plus one scaling pass."""

    params = (KERNEL_BACKENDS, [2**20, 2**24], DTYPES)
    param_names = ["backend", "size", "dtype"]

    def time_clip(self, backend, size, dtype):
        self.clip()
