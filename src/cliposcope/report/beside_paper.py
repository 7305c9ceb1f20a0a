"""The paper's numbers beside ours: for a result whose model spec, probe, data and object
count match a row of the paper's tables (data.published), the published value, the
measured one with its 95% interval, their difference and whether the paper's value lies
in the measured interval. The row's spec is a best guess, and every comparison says so.

What counts as the paper's data: TOR on the 90 ComCO names joined by "and" in list order
(``--protocol paper --vocab comco``); tor-captions on COCO captions; I2TOR and matching on
COCO images, and IOR on COCO images with a gallery folder (``--coco-gallery dir``: the
paper's gallery is DomainNet images); any of the image probes on an official-layout folder,
assumed to be ComCO (Table 2 compares by size role, which an official folder does not
record, so it never matches). Matching compares only with the large object as the biased
one, as the paper does. Tables 3 and 4 do not state the object count; it is taken as 4
from the four positions they print.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cliposcope.data.published import PublishedFigure, published_figures
from cliposcope.encoders.specs import canonical_spec
from cliposcope.probes.presentation import percent
from cliposcope.probes.registry import find_probe
from cliposcope.report.table import shown_label
from cliposcope.results import ProbeResult

HUB_NAMED = ("st", "hf")  # families whose spec target is a hub repository name


def same_model(measured: str | None, published: str | None) -> bool:
    """The same spec, or a local copy of the published model: a folder named like it under
    the same family (``st:/models/all-mpnet-base-v2`` for ``st:all-mpnet-base-v2``)."""
    measured, published = canonical_spec(measured), canonical_spec(published)
    if measured is None or published is None:
        return False
    if measured == published:
        return True
    family, _, target = measured.partition(":")
    other_family, _, other_target = published.partition(":")
    if family not in HUB_NAMED:
        return False
    local = target.startswith(("/", "./", "../", "~")) and "?" not in target
    folder_name = target.rstrip("/").rsplit("/", 1)[-1]
    return family == other_family and local and folder_name == other_target.rsplit("/", 1)[-1]


def result_data(result: ProbeResult) -> str | None:
    """Which of the paper's datasets a result was measured on, if any: its probe says."""
    probe = find_probe(result.probe)
    if probe is None or probe.paper_data is None:
        return None
    try:
        return probe.paper_data(result)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        return None  # a result whose settings or provenance are not in their usual shape


def figure_at(metrics: dict, path: str) -> dict | None:
    """``per_position_conditional.0`` -> metrics["per_position_conditional"][0], etc."""
    node = metrics
    for part in path.split("."):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return None
    return node if isinstance(node, dict) and "estimate" in node else None


def is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


@dataclass(frozen=True)
class Comparison:
    result: str
    row: PublishedFigure
    measured: dict

    @property
    def difference(self) -> float:
        return self.measured["estimate"] - self.row.proportion

    @property
    def paper_in_ci(self) -> bool:
        low, high = self.measured["ci95"]
        return low is not None and low <= self.row.proportion <= high

    def to_dict(self) -> dict:
        return {
            "result": self.result,
            "table": self.row.table,
            "model_in_paper": self.row.model_in_paper,
            "spec_guess": self.row.spec,
            "spec_note": self.row.spec_note,
            "metric": self.row.metric,
            "paper": self.row.proportion,
            "measured": self.measured,
            "difference": self.difference,
            "paper_in_ci": self.paper_in_ci,
        }


def beside_paper(results: Sequence[ProbeResult]) -> list[Comparison]:
    """Every (result, published row) pair that measures the same thing."""
    found = []
    for result in results:
        if result.role != "model":
            continue
        data = result_data(result)
        if data is None:
            continue
        for row in published_figures():
            if (row.probe, row.data) != (result.probe, data):
                continue
            if not same_model(result.model.get("spec"), row.spec):
                continue
            if row.n is not None and row.n != result.settings.get("n"):
                continue
            measured = figure_at(result.metrics, row.figure)
            usable = (
                measured is not None
                and is_number(measured.get("estimate"))
                and is_number(measured.get("total"))
                and measured["total"] > 0
                and isinstance(measured.get("ci95"), list)
                and len(measured["ci95"]) == 2
                and all(map(is_number, measured["ci95"]))
            )
            if usable:  # an empty figure (0 of 0) has nothing to compare
                found.append(Comparison(shown_label(result), row, measured))
    return found


def comparison_rows(found: Sequence[Comparison]) -> tuple[list[str], list[list[str]]]:
    headers = [
        "Result",
        "Paper table",
        "Paper model (spec: best guess)",
        "Metric",
        "Paper %",
        "Measured %",
        "Difference, pts",
        "Paper in CI",
    ]
    rows = [
        [
            c.result,
            c.row.table,
            c.row.model_in_paper,
            c.row.metric.removesuffix(" (%)"),
            f"{c.row.value:.2f}",
            percent(c.measured),
            f"{100 * c.difference:+.1f}",
            "yes" if c.paper_in_ci else "no",
        ]
        for c in found
    ]
    return headers, rows
