"""The paper's model zoo as data, and the model lists a run takes.

The zoo is read from the shipped published figures (data.published): every model the
paper's tables name, the spec string that most probably loads it (a labelled best guess;
none where no public weights exist, e.g. NegCLIP) and the tables it appears in. Named sets
of specs follow from it: ``@paper`` (every zoo model with a spec) and ``@paper-table1`` to
``@paper-table6``. ``--model`` also takes ``@FILE``: a text file of specs, one per line
(``#`` starts a comment), as a sweep's list. Each zoo model's published figures, by its
spec (``zoo_figures``), are what the leaderboard shows beside the measured ones.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cliposcope.data.published import PublishedFigure, published_figures
from cliposcope.errors import CliposcopeError

FOOTNOTE = re.compile(r"\s*\[\d+\]$")
MAX_LIST_BYTES = 1024 * 1024
MAX_SPEC_CHARS = 1000


@dataclass(frozen=True)
class ZooModel:
    name: str  # as the paper names it, without its citation marker
    spec: str | None  # None: no public weights
    note: str
    tables: tuple[str, ...]


def paper_name(figure: PublishedFigure) -> str:
    """The model of a published figure as the zoo names it: without its citation marker."""
    return FOOTNOTE.sub("", figure.model_in_paper)


@functools.cache
def paper_zoo() -> tuple[ZooModel, ...]:
    """Every model of the paper's tables, in the order the tables first name them."""
    found: dict[str, dict] = {}
    for figure in published_figures():
        name = paper_name(figure)
        entry = found.setdefault(
            name, {"spec": figure.spec, "note": figure.spec_note, "tables": []}
        )
        if figure.table not in entry["tables"]:
            entry["tables"].append(figure.table)
    return tuple(
        ZooModel(name, entry["spec"], entry["note"], tuple(entry["tables"]))
        for name, entry in found.items()
    )


@functools.cache
def zoo_figures() -> dict[str, tuple[PublishedFigure, ...]]:
    """The paper's published figures of each zoo model with a spec, by that spec: every
    figure of every paper model it loads (Table 5's "CLIP" shares the spec of "CLIP
    openAI"), in the order of the paper's tables. A model with no public weights has none
    here: no spec can match it."""
    specs = {model.name: model.spec for model in paper_zoo() if model.spec is not None}
    found: dict[str, list[PublishedFigure]] = {}
    for figure in published_figures():
        spec = specs.get(paper_name(figure))
        if spec is not None:
            found.setdefault(spec, []).append(figure)
    return {spec: tuple(figures) for spec, figures in found.items()}


@functools.cache
def model_sets() -> dict[str, tuple[str, ...]]:
    """Named sets of specs: ``paper`` and one per table of the paper."""
    loadable = [model for model in paper_zoo() if model.spec is not None]
    sets = {"paper": tuple(dict.fromkeys(model.spec for model in loadable))}
    tables = sorted({table for model in loadable for table in model.tables})
    for table in tables:
        key = "paper-" + table.lower().replace(" ", "")
        sets[key] = tuple(dict.fromkeys(model.spec for model in loadable if table in model.tables))
    return sets


def expand_models(values: Sequence[str]) -> list[str]:
    """The specs that ``--model`` values name: a spec as it is, ``@SET`` a named set,
    ``@FILE`` the specs of a file; in order, each once."""
    specs: list[str] = []
    for value in values:
        if not value.startswith("@"):
            specs.append(value)
        elif value[1:] in model_sets():
            specs += model_sets()[value[1:]]
        else:
            specs += read_model_list(value[1:])
    return list(dict.fromkeys(specs))


def read_model_list(path: str) -> list[str]:
    """A models file: one spec per line, blank lines and ``#`` comments skipped."""
    file = Path(path)
    sets = ", ".join(f"@{name}" for name in model_sets())
    if not file.is_file():
        raise CliposcopeError(
            f"--model @{path} is neither a named set nor a file",
            hint=f"named sets: {sets}; or @FILE with one spec per line",
        )
    if file.stat().st_size > MAX_LIST_BYTES:
        raise CliposcopeError(f"--model @{path} is larger than 1 MiB", hint="one spec per line")
    try:
        text = file.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise CliposcopeError(
            f"--model @{path} is not UTF-8 text", hint="one spec per line"
        ) from None
    specs = []
    for number, line in enumerate(text.splitlines(), start=1):
        spec = line.split("#", 1)[0].strip()
        if not spec:
            continue
        if len(spec) > MAX_SPEC_CHARS or spec.startswith("@"):
            raise CliposcopeError(
                f"--model @{path} line {number} is not a model spec",
                hint="one spec per line, e.g. openclip:ViT-B-32/openai (no @ lists inside)",
            )
        specs.append(spec)
    if not specs:
        raise CliposcopeError(f"--model @{path} names no model", hint="one spec per line")
    return specs
