"""The paper's own numbers as data: every cell of Tables 1-6 of "CLIP Under the Microscope"
(assets/paper/published-figures.csv, built by tools/build_published_figures.py from the
transcription; ambiguities in assets/paper/NOTES.md).

Each row keeps the transcription (table, experiment, dataset, model as the paper names it,
metric, value, source) and adds the unit, the probe and data it corresponds to, the
object count where the paper states it, the figure in cliposcope's result metrics
(``per_position_conditional.0``, ``per_role_among_truth.large``, ``scenario_1.plain``),
and the model spec the row most probably measured. The paper names no architecture per
row, so every spec is a labelled best guess (``spec_note``); rows of models nobody can load
have no spec.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from cliposcope.errors import CliposcopeError

PROBES = ("tor", "tor-captions", "ior", "i2tor", "matching")
DATASETS = (
    "comco-names",
    "comco-images",
    "coco-captions",
    "coco-images",
    "coco-rewritten-captions",
)
COLUMNS = (
    "table",
    "experiment",
    "dataset",
    "model_in_paper",
    "metric",
    "value",
    "source",
    "unit",
    "probe",
    "data",
    "n",
    "figure",
    "spec",
    "spec_note",
)


@dataclass(frozen=True)
class PublishedFigure:
    table: str
    experiment: str
    dataset: str
    model_in_paper: str
    metric: str
    value: float  # in ``unit``
    source: str
    unit: str
    probe: str
    data: str
    n: int | None
    figure: str
    spec: str | None
    spec_note: str

    @property
    def proportion(self) -> float:
        return self.value / 100


def parse_row(row: dict, line: int) -> PublishedFigure:
    """One checked row; anything missing or out of range names its line."""

    def bad(problem: str) -> CliposcopeError:
        return CliposcopeError(
            f"published-figures.csv line {line}: {problem}",
            hint="rebuild it with tools/build_published_figures.py",
        )

    if set(COLUMNS) - set(row):
        raise bad(f"missing columns {sorted(set(COLUMNS) - set(row))}")
    if not row["source"].strip():
        raise bad("no source")
    if row["unit"] != "percent":
        raise bad(f"unit {row['unit']!r}, expected percent")
    try:
        value = float(row["value"])
    except ValueError:
        raise bad(f"value {row['value']!r} is not a number") from None
    if not (math.isfinite(value) and 0 <= value <= 100):
        raise bad(f"value {value} is not a percentage")
    if row["probe"] not in PROBES or row["data"] not in DATASETS:
        raise bad(f"probe {row['probe']!r} or data {row['data']!r} unknown")
    if not row["table"].startswith("Table ") or not row["figure"]:
        raise bad("no table or figure")
    n = int(row["n"]) if row["n"] else None
    return PublishedFigure(
        row["table"],
        row["experiment"],
        row["dataset"],
        row["model_in_paper"],
        row["metric"],
        value,
        row["source"],
        row["unit"],
        row["probe"],
        row["data"],
        n,
        row["figure"],
        row["spec"] or None,
        row["spec_note"],
    )


@lru_cache(maxsize=1)
def published_figures() -> tuple[PublishedFigure, ...]:
    text = (resources.files("cliposcope") / "assets" / "paper" / "published-figures.csv").read_text(
        encoding="utf-8"
    )
    reader = csv.DictReader(io.StringIO(text))
    return tuple(parse_row(row, line) for line, row in enumerate(reader, start=2))
