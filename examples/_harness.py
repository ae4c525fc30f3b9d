"""What every example script shares: its command line, its verdict line, its figure.

Each script in ``examples/`` measures one claim of Goodfellow, Bengio & Courville
(2016), *Deep Learning*, ch. 8, and follows one shape:

* ``main(argv=None) -> dict`` parses :func:`parser` arguments, runs the measurement,
  prints a small table and the verdict line, saves one PNG figure, and returns the
  measurements (``"holds"``: bool, ``"verdict"``: the verdict line, ``"figure"``:
  the path written or ``None``, plus the script's own numbers);
* ``--backend``, ``--seed``, ``--out DIR`` and ``--quick`` (a reduced size that still
  tests the claim in a few seconds) on every script;
* the verdict line reads ``claim holds: yes (measured ... vs expected ...)`` or
  ``claim holds: no (...)`` — a claim that does not hold is reported, never bent.

The test suite imports each script and calls ``main([... "--quick"])``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any

#: Resolution of the saved figures: small PNGs (the README's thumbnails stay ≤ ~100 KB).
DPI = 90

__all__ = [
    "finish",
    "fit_line",
    "loglog_slope",
    "parser",
    "pyplot",
    "save_figure",
    "table",
    "verdict",
]


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every example takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--backend",
        default="auto",
        choices=["auto", "numpy", "numba", "cupy", "array_api"],
        help="optkit backend (default: auto)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--out", default=".", help="folder for the figure (default: the current one)"
    )
    p.add_argument(
        "--quick", action="store_true", help="a reduced size that still tests the claim"
    )
    return p


def verdict(holds: bool, measured: str, expected: str) -> str:
    """The verdict line: ``claim holds: yes (measured ... vs expected ...)``."""
    return f"claim holds: {'yes' if holds else 'no'} (measured {measured} vs expected {expected})"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table: numbers in ``%.4g``, columns right-aligned."""

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    cells = [[cell(v) for v in row] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
        for i, h in enumerate(headers)
    ]
    lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    return "\n".join(lines)


def save_figure(fig: Any, out: str, name: str) -> str:
    """Save a matplotlib figure as ``out/name`` (PNG) and close it; the path."""
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, name)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    _palette(path)
    return path


def _palette(path: str) -> None:
    """Re-save a PNG with a 256-colour palette (a third of the size; plots lose
    nothing visible). Skipped when Pillow, matplotlib's own image library, is absent."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with matplotlib
        return
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256)
    small.save(path, optimize=True)


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the headless Agg backend, or ``None`` if missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def finish(
    holds: bool, measured: str, expected: str, figure: str | None, **numbers: Any
) -> dict[str, Any]:
    """Print the verdict line (and where the figure went); the result dict of ``main``."""
    line = verdict(holds, measured, expected)
    print(line)
    if figure:
        print(f"figure: {figure}")
    else:
        print("no figure: matplotlib is not installed (pip install 'optkit[plot]')")
    return {"holds": bool(holds), "verdict": line, "figure": figure, **numbers}


def fit_line(x: Any, y: Any) -> tuple[float, float]:
    """Least-squares ``(slope, intercept)`` of ``y`` against ``x``."""
    import numpy as np

    slope, intercept = np.polyfit(np.asarray(x, dtype=float), np.asarray(y, dtype=float), 1)
    return float(slope), float(intercept)


def loglog_slope(x: Any, y: Any) -> float:
    """The fitted slope of ``log y`` against ``log x`` (a power law's exponent)."""
    import numpy as np

    return fit_line(np.log(np.asarray(x, dtype=float)), np.log(np.asarray(y, dtype=float)))[
        0
    ]
