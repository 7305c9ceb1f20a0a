"""Terminal tables and CSV laid out like the paper's: rows = models and their controls,
columns = positions (First Obj, Second Obj, ...) with 95% intervals."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from cliposcope.atomic import atomic_write_bytes
from cliposcope.results import ProbeResult

ORDINALS = ("First", "Second", "Third", "Fourth", "Fifth", "Sixth", "Seventh", "Eighth")


def percent(figure: dict | None) -> str:
    if not figure or figure.get("estimate") is None:
        return "-"
    low, high = figure["ci95"]
    if low is None:
        return f"{100 * figure['estimate']:.1f}"
    return f"{100 * figure['estimate']:.1f} ({100 * low:.1f}-{100 * high:.1f})"


def p_value(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1e}" if value < 1e-3 else f"{value:.3f}"


def _tor_rows(results: Sequence[ProbeResult]) -> tuple[list[str], list[list[str]]]:
    n = max(r.settings["n"] for r in results)
    headers = ["Model", "Protocol", "Figure"] + [f"{ORDINALS[k]} Obj %" for k in range(n)]
    headers += ["Top-n acc %", "1st-pos x chance", "p (1st pos)"]
    rows = []
    for result in results:
        m = result.metrics
        paper = result.settings["protocol"] == "paper"
        key = "per_position_conditional" if paper else "per_position_unconditional"
        figure = "in correct top-n" if paper else "argmax share"
        positions = [percent(f) for f in m[key]] + ["-"] * (n - len(m[key]))
        bias = m["first_position_bias"]
        ratio = bias.get("ratio_to_expected")
        protocol = result.settings["protocol"] + (
            " (legacy)" if result.settings["legacy_quirks"] else ""
        )
        rows.append(
            [result.label, protocol, figure, *positions, percent(m["topn_accuracy"]),
             "-" if ratio is None else f"{ratio:.2f}", p_value(bias.get("p_value"))]
        )  # fmt: skip
    return headers, rows


def _toc_rows(results: Sequence[ProbeResult]) -> tuple[list[str], list[list[str]]]:
    n = max(r.settings["n"] for r in results)
    headers = ["Model", "Probed slot"] + [f"{ORDINALS[k]} Obj acc %" for k in range(n)]
    headers += ["Chance %"]
    rows = []
    for result in results:
        accuracies = [percent(f) for f in result.metrics["per_position_test_accuracy"]]
        chance = f"{100 * result.metrics['chance']:.1f}"
        rows.append([result.label, result.settings["target"], *accuracies, chance])
    return headers, rows


def _size_first_rows(results: Sequence[ProbeResult]) -> tuple[list[str], list[list[str]]]:
    headers = ["Model", "Large first: 1st obj %", "Small first: 1st obj %", "Diff (pts)", "p"]
    rows = []
    for result in results:
        m = result.metrics
        rows.append([
            result.label,
            percent(m["large_first"]["first_object_accuracy"]),
            percent(m["small_first"]["first_object_accuracy"]),
            f"{100 * m['difference_large_minus_small']:+.1f}",
            p_value(m["p_value"]),
        ])  # fmt: skip
    return headers, rows


BUILDERS = {"tor": _tor_rows, "toc": _toc_rows, "size-first": _size_first_rows}
TITLES = {
    "tor": "TOR: which caption position the embedding retrieves (95% CI)",
    "toc": "TOC: held-out accuracy of a linear probe per position (95% CI)",
    "size-first": "Size-first TOR: first-object accuracy by size of the first object (95% CI)",
}


def table_rows(results: Sequence[ProbeResult]) -> dict[str, tuple[list[str], list[list[str]]]]:
    """Headers and rows per probe, in the order the results were given."""
    grouped: dict[str, list[ProbeResult]] = {}
    for result in results:
        grouped.setdefault(result.probe, []).append(result)
    return {probe: BUILDERS[probe](items) for probe, items in grouped.items() if probe in BUILDERS}


def render(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def render_tables(results: Sequence[ProbeResult]) -> str:
    blocks = []
    for probe, (headers, rows) in table_rows(results).items():
        blocks.append(f"{TITLES[probe]}\n{render(headers, rows)}")
    return "\n\n".join(blocks)


def write_csv(path: str | Path, results: Sequence[ProbeResult]) -> None:
    """One CSV with a 'probe' column; a probe's own columns follow."""
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for probe, (headers, rows) in table_rows(results).items():
        writer.writerow(["probe", *headers])
        writer.writerows([probe, *row] for row in rows)
    atomic_write_bytes(path, buffer.getvalue().encode("utf-8"))
