"""How a probe's results are shown: table cells (terminal, CSV and report alike), charts
as data, and report sections. Probes declare these; the report layer draws them."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

ProbeResults = Sequence[Any]  # of results.ProbeResult

ORDINALS = ("First", "Second", "Third", "Fourth", "Fifth", "Sixth", "Seventh", "Eighth")


def percent(figure: dict | None) -> str:
    """'47.2 (45.8-48.6)': a proportion with its 95% interval, in percent."""
    if not figure or figure.get("estimate") is None or math.isnan(figure["estimate"]):
        return "-"
    low, high = figure["ci95"]
    if low is None:
        return f"{100 * figure['estimate']:.1f}"
    return f"{100 * figure['estimate']:.1f} ({100 * low:.1f}-{100 * high:.1f})"


def p_value(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    if value == 0:
        return "<1e-300"  # below double precision
    return f"{value:.1e}" if value < 1e-3 else f"{value:.3f}"


def position_headers(n: int, suffix: str = "Obj %") -> list[str]:
    return [f"{ORDINALS[k]} {suffix}" for k in range(n)]


def padded(cells: list[str], n: int) -> list[str]:
    return cells + ["-"] * (n - len(cells))


NO_SIZE_ROLE = "unknown"  # scenes whose objects carry no size role (official layout)


def large_first(labels: Iterable[str]) -> list[str]:
    """Size-role labels with 'large' first, then the rest in order ('small 1', 'small 2');
    objects without a size role get no column."""
    return sorted(set(labels) - {NO_SIZE_ROLE}, key=lambda label: (label != "large", label))


def role_bars(figures: dict[str, dict]) -> list[tuple[str, dict]]:
    """One bar per size role, 'large' first."""
    return [(label, figures[label]) for label in large_first(figures)]


def one_in_n(results: ProbeResults) -> float:
    """What a model keeping every one of n objects alike gives: 1/n (n from the results)."""
    return 1 / max((r.settings["n"] for r in results), default=3)


@dataclass(frozen=True)
class BarChart:
    """What a report plot shows, as data: bars with 95% intervals per model.

    ``groups`` = {model label: [(bar label, figure dict with estimate/ci95), ...]};
    ``reference`` draws a dashed line (chance, or what a model without the bias gives).
    """

    title: str
    groups: dict[str, list[tuple[str, dict]]]
    reference: float | None = None


@dataclass(frozen=True)
class FigureDefinition:
    """What one figure of a probe's results is: ``label``, the name the table, the report,
    the verdicts and the export all give it, and ``definition``, one line on what it
    counts over what."""

    label: str
    definition: str

    @property
    def line(self) -> str:
        return f"{self.label}: {self.definition}"


@dataclass(frozen=True)
class ReportSection:
    """A probe's section of the HTML report: heading, an optional chart of its results,
    and optional saved images (e.g. attention overlays) found under the results folder."""

    heading: str
    chart: Callable[[ProbeResults], BarChart] | None = None
    images: str | None = None  # glob below the results folder


def paper_scene_data(result: Any) -> str | None:
    """Which of the paper's image datasets a scene probe's result was measured on: the
    official ComCO layout, or COCO images; None for generated scenes."""
    layout = (result.provenance.get("scene_origin") or {}).get("layout")
    return {"official": "comco-images", "coco": "coco-images"}.get(layout)
