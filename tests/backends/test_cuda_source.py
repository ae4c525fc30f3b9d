"""The generated CUDA sources compile with NVRTC, without a GPU.

Every update rule (every flag combination), every map and every reduction of optkit
is printed as CuPy kernel specs and wrapped in a complete translation unit with
CuPy's bindings; NVRTC (from the ``nvidia-cuda-nvrtc-cu12`` wheel) must compile each
for float32 and float64. Their numbers are checked by the "CUDA twin" backend of the
other tests, which compiles the same bodies with g++.
"""

from __future__ import annotations

import pytest
from _support.native import nvrtc, nvrtc_compile

from optkit._exec.cuda_source import (
    COMPILE_OPTIONS,
    elementwise_spec,
    nvrtc_source,
    reduction_specs,
)
from optkit._exec.trace import TraceError, trace
from optkit.rules import RULES, batch_norm, clipping, finite, layer_norm, variants
from optkit.rules import elementwise as map_rule

UPDATES = [v for r in RULES.values() for v in variants(r)]
MAPS = [batch_norm.scale_offset, batch_norm.input_gradient, layer_norm.normalize,
        layer_norm.input_gradient, clipping.clip_value, clipping.scale]  # fmt: skip
REDUCTIONS = [batch_norm.shifted_moments, batch_norm.gradient_sums, layer_norm.row_moments,
              layer_norm.row_gradient_sums, layer_norm.parameter_gradient_sums,
              clipping.sum_of_squares, clipping.blue_sums, finite.nonfinite]  # fmt: skip


@pytest.fixture(scope="module")
def compiler():
    lib, reason = nvrtc()
    if lib is None:
        pytest.skip(reason)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rule", UPDATES + MAPS, ids=lambda r: r.label)
def test_elementwise_kernels_compile(compiler, rule, dtype):
    source = nvrtc_source(elementwise_spec(rule), dtype)
    result = nvrtc_compile(source, options=COMPILE_OPTIONS)
    assert result.ok, f"{result.log}\n--- source ---\n{source}"
    assert ".entry" in result.ptx


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rule", REDUCTIONS, ids=lambda r: r.label)
def test_reduction_kernels_compile(compiler, rule, dtype):
    for spec in reduction_specs(rule):
        source = nvrtc_source(spec, dtype)
        result = nvrtc_compile(source, options=COMPILE_OPTIONS)
        assert result.ok, f"{result.log}\n--- source ---\n{source}"


def test_a_broken_body_fails_to_compile(compiler):
    """The check has teeth: a body with a type error is refused."""
    spec = elementwise_spec(clipping.scale)
    broken = nvrtc_source(spec, "float32").replace(
        "typedef T C;", "typedef T C; undefined_x;"
    )
    assert not nvrtc_compile(broken, options=COMPILE_OPTIONS).ok


def test_branching_on_data_is_refused_when_tracing():
    @map_rule(outputs=("y",))
    def branchy(x):
        return (x if x > 0 else -x,)

    with pytest.raises(TraceError, match="where"):
        trace(branchy)
