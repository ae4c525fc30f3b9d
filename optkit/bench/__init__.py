"""Benchmarks of optkit: what ``optkit bench`` runs and what the asv suite imports.

Modules (imported on use; torch is imported only by :mod:`optkit.bench.peers`, and
only when a torch peer is asked for):

* :mod:`~optkit.bench.steps` - one optimizer step of the registry's optimizers
  (:data:`optkit.optim.registry.ALGORITHMS`) on any backend, peer or roofline;
* :mod:`~optkit.bench.workloads` - BatchNorm, LayerNorm, clipping, many tensors,
  populations, as callables;
* :mod:`~optkit.bench.peers` - the same work done by torch;
* :mod:`~optkit.bench.roofline` - loops with a kernel's memory traffic;
* :mod:`~optkit.bench.timing` - interleaved timing, ratios, a spinner;
* :mod:`~optkit.bench.targets` - the performance targets (``optkit bench targets``);
* :mod:`~optkit.bench.table` - ``optkit bench`` (one step, every backend);
* :mod:`~optkit.bench.asv_results`, :mod:`~optkit.bench.report_data`,
  :mod:`~optkit.bench.report`, :mod:`~optkit.bench.charts` - ``optkit bench report``;
* :mod:`~optkit.bench.machine` - backends and GPUs here, install hints;
* :mod:`~optkit.bench.cli` - the ``optkit bench`` command line.

Examples
--------
>>> from optkit.bench.steps import bytes_per_step, make_step
>>> from optkit.bench.timing import time_call
>>> step = make_step("adam", "numpy", 4096)
>>> seconds = time_call(step, min_time=0.001, repeat=1)
>>> bytes_per_step("adam", 4096, 4) / seconds > 0      # effective bytes per second
True
"""
