"""Where does the parallel (``prange``) Numba loop start to beat the serial one?

Run ``python tools/bench_parallel_threshold.py``: times the generated serial and
parallel Adam loops (float32) from 2^10 to 2^22 elements and prints the ratio.
``optkit._exec.numba.PARALLEL_THRESHOLD`` is set from this measurement.
"""

from __future__ import annotations

import statistics
import timeit

import numpy as np

from optkit import rules
from optkit._exec import numba as executor


def main() -> None:
    serial, parallel = executor.kernel_for(rules.adam, frozenset()).loops
    print(f"{'n':>10}{'serial us':>12}{'parallel us':>13}{'serial/parallel':>17}")
    for log2 in range(10, 23, 2):
        n = 1 << log2
        arrays = [np.ones(n, np.float32) for _ in range(4)]
        scalars = np.array([1e-3, 0.9, 0.999, 1.0, 1e-8, 1.0, 0.0, 1.0], np.float32)
        number = max(1, (1 << 20) // n)
        times = {}
        for name, loop in (("serial", serial), ("parallel", parallel)):
            loop(*arrays, scalars)
            runs = timeit.repeat(
                lambda loop=loop, a=arrays, s=scalars: loop(*a, s), number=number, repeat=7
            )
            times[name] = statistics.median(runs) / number * 1e6
        print(
            f"{n:>10}{times['serial']:>12.2f}{times['parallel']:>13.2f}"
            f"{times['serial'] / times['parallel']:>17.2f}"
        )


if __name__ == "__main__":
    main()
