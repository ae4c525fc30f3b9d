"""``optkit bench report``: asv results of any number of machines as one offline page.

``write_report(results_dir, out)`` writes ``out/index.html`` (inline CSS, no scripts,
nothing fetched from a network) and ``out/charts/*.png`` (matplotlib): a summary
table, the performance targets, then per kernel grouped bars of time per call by
backend and size, float32 and float64 side by side, and tables of the ratio to the
torch peer and to the roofline on the same machine and device.
"""

from __future__ import annotations

import datetime
import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from optkit.bench import charts, report_data
from optkit.bench.asv_results import Machine, Record, load_results
from optkit.bench.report_data import Kernel

__all__ = ["write_report"]

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 72em; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ddd; margin-top: 2em; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: right; }
th { background: #f4f4f4; } td.l, th.l { text-align: left; }
.good { color: #1b7a3a; } .bad { color: #b3261e; } .muted { color: #777; }
img { max-width: 100%; border: 1px solid #eee; }
.note { color: #555; font-size: 13px; max-width: 60em; }
"""


@dataclass
class _Page:
    """The HTML being built and the folder its charts go to."""

    out: Path
    parts: list[str]
    charts: list[str]

    def add(self, text: str) -> None:
        self.parts.append(text)

    def chart(self, name: str, draw: Callable[[str], None]) -> None:
        """Draw a PNG into charts/ and reference it (relative path)."""
        filename = re.sub(r"[^A-Za-z0-9_.-]+", "_", name) + ".png"
        draw(str(self.out / "charts" / filename))
        self.charts.append(filename)
        self.add(f'<p><img src="charts/{filename}" alt="{html.escape(name)}"></p>')


def _e(text: object) -> str:
    return html.escape(str(text))


def _table(header: list[str], rows: list[list[str]], left: int = 1) -> str:
    """An HTML table; the first ``left`` columns are left-aligned; cells are HTML."""
    cls = lambda i: ' class="l"' if i < left else ""  # noqa: E731
    head = "".join(f"<th{cls(i)}>{_e(h)}</th>" for i, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _machines_section(page: _Page, machines: dict[str, Machine]) -> None:
    rows = []
    for m in machines.values():
        commits = ", ".join(
            f"{c[:8]} ({datetime.datetime.fromtimestamp(d / 1000, datetime.UTC):%Y-%m-%d})"
            for c, d in sorted(m.commits.items(), key=lambda item: -item[1])
        )
        rows.append([_e(m.name), _e(m.describe()), _e(commits)])
    page.add(_table(["machine", "description", "commits measured (newest first)"], rows, 3))


def _summary_section(page: _Page, records: list[Record]) -> None:
    lines = report_data.summary(records)
    page.add("<h2>Summary</h2>")
    if not lines:
        page.add(
            '<p class="muted">No optkit backend was measured together with a peer.</p>'
        )
        return
    page.add('<p class="note">asv times each backend in its own process, one after '
             "another, so these ratios compare moments as well as backends: where the "
             "memory bandwidth drifts (a shared virtual machine) they can be off by tens "
             "of percent. The performance targets below time the contenders interleaved "
             "in one process.</p>")  # fmt: skip
    rows = [[_e(s.machine), _e(s.what), _e(s.sentence)] for s in lines]
    page.add(_table(["machine", "kernel", "result"], rows, 3))


def _targets_section(page: _Page, records: list[Record]) -> None:
    rows = report_data.target_rows(records)
    if not rows:
        return
    page.add("<h2>Performance targets</h2>")
    page.add('<p class="note">Ratios of contenders timed interleaved in one process '
             "(median of per-round ratios), as <code>optkit bench targets</code> prints "
             "them.</p>")  # fmt: skip
    cells = []
    for r in rows:
        css = {True: "good", False: "bad", None: "muted"}[r.holds]
        verdict = {True: "yes", False: "no", None: "-"}[r.holds]
        cells.append([_e(r.machine), _e(r.backend), _e(r.what), _e(r.value),
                      _e(r.goal), f'<span class="{css}">{verdict}</span>'])  # fmt: skip
    page.add(
        _table(["machine", "backend", "target", "measured", "goal", "holds"], cells, 3)
    )


def _kernel_section(page: _Page, kernel: Kernel, records: list[Record], many: bool) -> None:
    view = report_data.kernel_view(kernel, records, many)
    if view is None:
        return
    page.add(f"<h3>{_e(kernel.title)}</h3>")
    if kernel.note:
        page.add(f'<p class="note">{_e(kernel.note)}</p>')
    page.chart(kernel.slug, lambda path: charts.grouped_bars(
        view.panels, view.groups, view.series, path, ylabel=view.ylabel,
        title=kernel.title,
    ))  # fmt: skip
    page.add(_table(view.header, [[_e(c) for c in row] for row in view.rows], view.left))


def write_report(
    results_dir: Path | str, out: Path | str, machines: list[str] | None = None
) -> Path:
    """Write ``index.html`` and ``charts/*.png`` into ``out``; returns the index path.

    Raises ``ValueError`` when ``results_dir`` holds no asv result file.
    """
    records, found = load_results(results_dir, machines)
    out = Path(out)
    (out / "charts").mkdir(parents=True, exist_ok=True)
    page = _Page(out, [], [])
    page.add("<h1>optkit benchmarks</h1>")
    page.add('<p class="note">Time per call from asv (median of samples); ratios to the '
             "torch peer and to the roofline (a loop with the same memory traffic) are "
             "taken on the same machine and device. Lower bars are faster; the axis is "
             "logarithmic.</p>")  # fmt: skip
    _machines_section(page, found)
    _summary_section(page, records)
    _targets_section(page, records)
    many = len(found) > 1
    for section, kernels in report_data.SECTIONS.items():
        present = [k for k in kernels if any(r.kernel == k.benchmark for r in records)]
        if present:
            page.add(f"<h2>{_e(section)}</h2>")
        for kernel in present:
            _kernel_section(page, kernel, records, many)
    page.add(_other_section(records))
    index = out / "index.html"
    index.write_text(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>optkit benchmarks</title><style>{CSS}</style></head><body>"
        + "\n".join(page.parts) + "</body></html>\n"
    )  # fmt: skip
    return index


def _other_section(records: list[Record]) -> str:
    """Single values (cold start, ...) that no kernel section shows."""
    shown = {k.benchmark for ks in report_data.SECTIONS.values() for k in ks}
    rest = [
        r for r in records if r.kernel not in shown and not r.kernel.startswith("Targets.")
    ]
    if not rest:
        return ""
    rows = [[_e(r.machine), _e(r.kernel), _e(", ".join(f"{k}={v}" for k, v in r.params)),
             _e(report_data.format_value(r.value, r.unit))]
            for r in sorted(rest, key=lambda r: (r.kernel, r.machine, r.params))]  # fmt: skip
    return "<h2>Other measurements</h2>" + _table(
        ["machine", "benchmark", "parameters", "value"], rows, 3
    )
