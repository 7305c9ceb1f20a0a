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
    if value == 0:
        return "<1e-300"  # below double precision
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


def _image_retrieval_rows(results: Sequence[ProbeResult]) -> tuple[list[str], list[list[str]]]:
    labels = sorted({label for r in results for label in r.metrics["per_role_among_truth"]},
                    key=lambda label: (label != "large", label))  # fmt: skip
    n = max(r.settings["n"] for r in results)
    headers = ["Model"] + [f"{label} %" for label in labels]
    headers += [f"{ORDINALS[k]} Obj %" for k in range(n)] + ["Top-n acc %"]
    rows = []
    for result in results:
        m = result.metrics
        by_role = [percent(m["per_role_among_truth"].get(label)) for label in labels]
        by_position = [percent(f) for f in m["per_position_among_truth"]]
        by_position += ["-"] * (n - len(by_position))
        rows.append([result.label, *by_role, *by_position, percent(m["topn_accuracy"])])
    return headers, rows


def _matching_rows(results: Sequence[ProbeResult]) -> tuple[list[str], list[list[str]]]:
    headers = ["Model", "Biased pos", "Scenario 1 %", "Scenario 2 %", "S1 split-mean %",
               "S2 split-mean %"]  # fmt: skip
    rows = []
    for result in results:
        m = result.metrics
        rows.append([
            result.label, str(result.settings["biased_position"]),
            percent(m["scenario_1"]["plain"]), percent(m["scenario_2"]["plain"]),
            percent(m["scenario_1"]["split_mean"]), percent(m["scenario_2"]["split_mean"]),
        ])  # fmt: skip
    return headers, rows


def _attention_rows(results: Sequence[ProbeResult]) -> tuple[list[str], list[list[str]]]:
    labels = sorted({label for r in results for label in r.metrics["mean_share_by_role"]},
                    key=lambda label: (label != "large", label))  # fmt: skip
    headers = ["Model", "Layer"] + [f"{label} %" for label in labels]
    headers += [f"{label} per area" for label in labels]
    rows = []
    for result in results:
        shares = result.metrics["mean_share_by_role"]
        ratios = result.metrics["share_per_unit_area_by_role"]
        rows.append(
            [result.label, str(result.settings["layer"])]
            + [percent(shares.get(label)) for label in labels]
            + [f"{ratios[label]['estimate']:.2f}" if label in ratios else "-" for label in labels]
        )
    return headers, rows


def _ioc_rows(results: Sequence[ProbeResult]) -> tuple[list[str], list[list[str]]]:
    labels = sorted({label for r in results for label in r.metrics["per_role_test_accuracy"]},
                    key=lambda label: (label != "large", label))  # fmt: skip
    n = max(r.settings["n"] for r in results)
    headers = ["Model"] + [f"{ORDINALS[k]} Obj acc %" for k in range(n)]
    headers += [f"{label} acc %" for label in labels] + ["Chance %"]
    rows = []
    for result in results:
        m = result.metrics
        rows.append(
            [result.label]
            + [percent(f) for f in m["per_position_test_accuracy"]]
            + [percent(m["per_role_test_accuracy"].get(label)) for label in labels]
            + [f"{100 * m['chance']:.1f}"]
        )
    return headers, rows


BUILDERS = {
    "tor": _tor_rows,
    "toc": _toc_rows,
    "size-first": _size_first_rows,
    "ior": _image_retrieval_rows,
    "i2tor": _image_retrieval_rows,
    "matching": _matching_rows,
    "attention": _attention_rows,
    "ioc": _ioc_rows,
}
TITLES = {
    "tor": "TOR: which caption position the embedding retrieves (95% CI)",
    "toc": "TOC: held-out accuracy of a linear probe per position (95% CI)",
    "size-first": "Size-first TOR: first-object accuracy by size of the first object (95% CI)",
    "ior": "IOR: which ground-truth object the image embedding retrieves first, among its "
    "objects (95% CI)",
    "i2tor": "I2TOR: the same with object names through the text encoder as gallery (95% CI)",
    "matching": "Image-text matching: share of (image, distractor) pairs ranked right (95% CI)",
    "attention": "CLS attention: mean share of patch attention on each object (95% CI)",
    "ioc": "IOC: held-out accuracy of linear heads on image embeddings (95% CI)",
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
