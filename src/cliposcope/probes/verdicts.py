"""Verdicts: is a model's bias beyond its null control?

A probe declares the figure that measures its bias (``Probe.bias``): for TOR, the share
of queries whose arg-max is the first-named object among those whose arg-max is a caption
object; for IOR and I2TOR, the share of images whose top ground-truth object is the large
one. A model's figure is compared with the same figure of each of its controls (the
random-weight twin of its architecture, TOR's order-blind "sum" embedding) measured on the
same data.

The model and its control answer the same queries, so the comparison is paired, query by
query, from the per-query records (``Probe.bias_per_query`` gives each query's share of
the figure as a numerator and a denominator; the figure is their ratio of sums):

* a plain share (every query counts once, as a hit or not) with no clusters: the paired
  difference with Newcombe's score interval for paired proportions and the exact McNemar
  test;
* a conditional share (a denominator that differs between model and control, as TOR's),
  a mean, or a difference of shares: a paired bootstrap over the shared queries, or over
  their clusters where the probe declares them (the scene of a matching pair, the image
  of a real caption); the replicates and the seed are recorded.

Where a result has no per-query records (``--no-records``, results before format 2) the
two figures are compared as independent samples (Newcombe's interval for independent
proportions and a two-proportion z-test, or a Wald interval on two standard errors), and
the verdict says so. A family of verdicts gets Holm's adjusted p-values, and the words
"beyond its control" rest on the adjusted one. docs/statistics.md gives the reasons.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from cliposcope.encoders.specs import canonical_spec
from cliposcope.errors import CliposcopeError
from cliposcope.probes.presentation import p_value
from cliposcope.probes.registry import find_probe
from cliposcope.probes.resampling import DEFAULT_REPLICATES, holm, paired_ratio_difference
from cliposcope.probes.stats import (
    Z95,
    Proportion,
    newcombe_difference_interval,
    paired_difference,
    paired_table,
    two_proportion_test,
)
from cliposcope.results import ProbeResult

log = logging.getLogger(__name__)

CONTROL_NAMES = {"random-init": "random-weight", "sum": "order-blind sum"}
ALPHA = 0.05
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class BiasFigure:
    """A probe's bias figure: a share (``count`` of ``total``, e.g. first-object preference
    612 of 1,190) or another estimate with its standard error (a difference of two shares,
    a mean attention share). ``signed``: the figure is itself a difference (shown in
    points, not as a percentage)."""

    bias: str
    figure: str
    estimate: float
    standard_error: float | None = None
    count: int | None = None
    total: int | None = None
    signed: bool = False
    chance: float | None = None  # what a tower blind to the bias gives, where known

    @classmethod
    def share(
        cls, bias: str, figure: str, count: int, total: int, chance: float | None = None
    ) -> BiasFigure:
        estimate = count / total if total else math.nan
        return cls(bias, figure, estimate, None, count, total, chance=chance)

    @property
    def is_share(self) -> bool:
        return self.count is not None and self.total is not None

    @property
    def measured(self) -> bool:
        if self.is_share:
            return bool(self.total)
        return math.isfinite(self.estimate) and math.isfinite(self.standard_error or math.nan)

    @property
    def error(self) -> float:
        if self.is_share:
            p = self.estimate
            return math.sqrt(p * (1 - p) / self.total)
        return float(self.standard_error)

    def shown(self) -> str:
        """The estimate as the verdicts print it: a percentage, or points for a difference."""
        if self.signed:
            return f"{100 * self.estimate:+.1f} points"
        return f"{100 * self.estimate:.1f}%"

    def to_dict(self) -> dict:
        if self.is_share:
            return Proportion(self.count, self.total).to_dict()
        half = Z95 * self.error
        return {
            "estimate": self.estimate,
            "ci95": [self.estimate - half, self.estimate + half],
            "standard_error": self.error,
        }


@dataclass(frozen=True)
class QueryFigure:
    """A bias figure query by query: query i adds ``numerator[i]`` to the figure's
    numerator and ``denominator[i]`` to its denominator, and the figure is their ratio of
    sums (a plain share: 1 or 0 over 1; a conditional share: over 1 only where the
    condition holds, else 0 over 0; a mean: the value over 1; a difference of two shares on
    the same query: their difference over 1). ``ids`` pair each query with the control's
    same query; ``clusters`` name the units sampled independently where queries are not
    (None: every query is its own)."""

    ids: Sequence
    numerator: np.ndarray
    denominator: np.ndarray
    clusters: Sequence | None = None

    @classmethod
    def of(
        cls,
        ids: Sequence,
        numerator: Sequence[float],
        denominator: Sequence[float] | None = None,
        clusters: Sequence | None = None,
    ) -> QueryFigure:
        """Columns as float arrays (denominator 1 per query when not given); clusters that
        are all distinct are no clusters."""
        numerator = np.asarray(numerator, dtype=np.float64)
        if denominator is None:
            denominator = np.ones_like(numerator)
        denominator = np.asarray(denominator, dtype=np.float64)
        if clusters is not None and len(set(clusters)) == len(clusters):
            clusters = None
        if not len(ids) == len(numerator) == len(denominator):
            raise ValueError("per-query columns differ in length")
        return cls(list(ids), numerator, denominator, None if clusters is None else list(clusters))

    @property
    def estimate(self) -> float:
        total = self.denominator.sum()
        return float(self.numerator.sum() / total) if total else math.nan

    @property
    def plain_share(self) -> bool:
        """Every query counts once, as a hit (1) or not (0)."""
        return bool(
            np.all(self.denominator == 1) and np.all((self.numerator == 0) | (self.numerator == 1))
        )

    def aligned_with(self, other: QueryFigure) -> QueryFigure | None:
        """This figure's queries in the order of ``other``'s (None where they are not the
        same queries): the same ids in the same order, or unique ids that agree as sets."""
        if list(self.ids) == list(other.ids):
            return replace(self, clusters=other.clusters)
        try:
            where = {query: index for index, query in enumerate(self.ids)}
            other_ids = set(other.ids)
        except TypeError:  # ids that are not hashable (a tampered records file)
            return None
        if len(where) != len(self.ids) or len(other_ids) != len(other.ids):
            return None
        if where.keys() != other_ids:
            return None
        order = [where[query] for query in other.ids]
        return QueryFigure(
            list(other.ids), self.numerator[order], self.denominator[order], other.clusters
        )


@dataclass(frozen=True)
class Comparison:
    """Model minus control: the difference, its 95% interval and two-sided p-value, the
    method's short name and what the method rests on (``design``: units resampled, their
    number, clusters and design effect, bootstrap replicates and seed, the paired table)."""

    difference: float
    ci95: tuple[float, float]
    p_value: float
    method: str
    design: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "difference": self.difference,
            "ci95": list(self.ci95),
            "p_value": self.p_value,
            "method": self.method,
        }


def compare_paired(model: QueryFigure, control: QueryFigure) -> Comparison:
    """The paired comparison of two per-query figures on the same queries (``control``
    aligned with ``model``): Newcombe's paired interval and the exact McNemar test for two
    plain shares without clusters; otherwise a paired bootstrap over queries, or over
    clusters of queries."""
    clusters = model.clusters
    if clusters is None and model.plain_share and control.plain_share:
        table = paired_table(model.numerator.astype(bool), control.numerator.astype(bool))
        found = paired_difference(*table)
        return Comparison(
            found["estimate"],
            tuple(found["ci95"]),
            found["p_value"],
            "paired Newcombe interval, exact McNemar test",
            {"unit": "query", "units": found["total"], "table": list(table)},
        )
    found = paired_ratio_difference(
        model.numerator,
        model.denominator,
        control.numerator,
        control.denominator,
        clusters=clusters,
        replicates=DEFAULT_REPLICATES,
        seed=BOOTSTRAP_SEED,
    )
    design = {
        "unit": "query" if clusters is None else "cluster",
        "units": found.units,
        "queries": len(model.ids),
        "replicates": found.replicates,
        "seed": found.seed,
    }
    if clusters is not None:
        design["design_effect"] = found.design_effect
    name = "paired bootstrap" if clusters is None else "paired cluster bootstrap"
    return Comparison(
        found.difference, found.ci95, found.p_value, f"{name} (percentile), bootstrap test", design
    )


def compare(model: BiasFigure, control: BiasFigure) -> tuple[float, tuple[float, float], float]:
    """Difference, 95% interval and p-value as if the two figures came from independent
    samples: Newcombe's interval and the pooled two-proportion z-test for two shares;
    otherwise the Wald interval and z-test on the two standard errors. The fallback where
    per-query records are missing, and the reference the paired interval is shown beside."""
    difference = model.estimate - control.estimate
    if model.is_share and control.is_share:
        a, b = Proportion(model.count, model.total), Proportion(control.count, control.total)
        return difference, newcombe_difference_interval(a, b), two_proportion_test(a, b)
    spread = math.hypot(model.error, control.error)
    if spread == 0:
        return difference, (difference, difference), 1.0 if difference == 0 else 0.0
    half = Z95 * spread
    return (
        difference,
        (difference - half, difference + half),
        math.erfc(abs(difference / spread) / math.sqrt(2)),
    )


def compare_unpaired(model: BiasFigure, control: BiasFigure) -> Comparison:
    difference, interval, p = compare(model, control)
    method = (
        "unpaired Newcombe interval, two-proportion z-test"
        if model.is_share and control.is_share
        else "unpaired Wald interval, z-test"
    )
    return Comparison(difference, interval, p, method)


@dataclass(frozen=True)
class BiasReading:
    """One way to read a probe's bias from a result: the figure (``bias``), the same query
    by query (``per_query``) from the record columns ``columns``. A probe's main reading
    is its ``bias``/``bias_per_query``; ``Probe.bias_readings`` adds others, such as TOR's
    under the position-matched gallery."""

    bias: Callable[[ProbeResult], BiasFigure | None]
    per_query: Callable[[Mapping[str, list]], QueryFigure | None] | None
    columns: tuple[str, ...]


def main_reading(probe) -> BiasReading | None:
    if probe is None or probe.bias is None:
        return None
    return BiasReading(probe.bias, probe.bias_per_query, probe.bias_columns)


def query_figure(
    result: ProbeResult, figure: BiasFigure, reading: BiasReading | None = None
) -> tuple[QueryFigure | None, str]:
    """The result's bias figure (in the probe's main reading unless another is given)
    query by query, or None and why not (no per-query records, a probe that gives none,
    records that do not add up to the result's figure)."""
    reading = reading or main_reading(find_probe(result.probe))
    if reading is None or reading.per_query is None:
        return None, "its probe gives no per-query figure"
    try:
        columns = result.record_columns(reading.columns)
    except CliposcopeError as error:
        return None, error.message
    try:
        found = reading.per_query(columns)
    except (KeyError, IndexError, TypeError, ValueError) as error:
        return None, f"its per-query records are not in their usual shape ({error})"
    if found is None:
        return None, "its records hold no query of the figure"
    if not math.isclose(found.estimate, figure.estimate, rel_tol=1e-9, abs_tol=1e-12):
        return None, (
            f"its per-query records give {found.estimate!r}, its figures {figure.estimate!r}"
        )
    return found, ""


def data_key(result: ProbeResult) -> str:
    """What must agree for two results to be compared: probe, data and scoring rules, as
    the probe declares them (its data fingerprints and data-defining settings). A control's
    own setting (e.g. TOR's caption embedding) is not among them."""
    probe = find_probe(result.probe)
    fingerprints = probe.data_fingerprints if probe is not None else ()
    rules = probe.data_settings if probe is not None else ()
    provenance = {key: result.provenance.get(key) for key in fingerprints}
    settings = {key: result.settings.get(key) for key in rules}
    if "legacy_quirks" in settings:  # absent in old results
        settings["legacy_quirks"] = bool(settings["legacy_quirks"])
    if "caption_prefix" in settings:  # absent before captions could have a prefix
        settings["caption_prefix"] = settings["caption_prefix"] or ""
    return json.dumps([result.probe, provenance, settings], sort_keys=True, default=str)


@dataclass(frozen=True)
class Verdict:
    """Model minus control on one bias figure and one data. ``p_adjusted`` is Holm's
    adjustment over the ``family`` of verdicts it was reported with, and decides the words;
    ``unpaired`` holds the independent-samples comparison on the same figures, for
    reference, where the verdict itself is paired."""

    probe: str
    model: str
    control: str  # its name, e.g. "random-init"
    control_spec: str
    bias: str
    figure: str
    model_figure: dict
    control_figure: dict
    difference: float
    ci95: tuple[float, float]
    p_value: float
    data: str  # data_key of the two results
    method: str = ""
    design: dict = field(default_factory=dict)
    unpaired: dict | None = None
    p_adjusted: float | None = None
    family: int = 1
    shown: tuple[str, str] = ("", "")  # the model's and the control's figure, as printed

    @property
    def decisive_p(self) -> float:
        return self.p_value if self.p_adjusted is None else self.p_adjusted

    @property
    def beyond_control(self) -> bool:
        return self.difference > 0 and self.decisive_p < ALPHA

    @property
    def below_control(self) -> bool:
        return self.difference < 0 and self.decisive_p < ALPHA

    @property
    def sentence(self) -> str:
        control = CONTROL_NAMES.get(self.control, self.control)
        low, high = self.ci95
        figures = f"{self.shown[0]} against {self.shown[1]}, " if all(self.shown) else ""
        numbers = (
            f"{figures}{100 * self.difference:+.1f} points "
            f"(95% CI {100 * low:+.1f} to {100 * high:+.1f}, {self.method.split(',')[0]}), "
            f"p {self.p_shown(self.p_value)}"
        )
        if self.p_adjusted is not None and self.family > 1:
            numbers += f", Holm-adjusted p {self.p_shown(self.p_adjusted)} over {self.family}"
        if self.beyond_control:
            return f"{self.bias} beyond its {control} control: {numbers}"
        if self.below_control:
            return (
                f"{self.bias} not beyond its {control} control, which shows more of it: {numbers}"
            )
        return f"{self.bias} not beyond its {control} control: {numbers}"

    def p_shown(self, value: float) -> str:
        """'= 0.031', or '<= 5.0e-04' where a bootstrap test reached its floor 1/(B+1)."""
        replicates = self.design.get("replicates")
        if replicates and value <= 1 / (replicates + 1) * (1 + 1e-9):
            return f"<= {p_value(1 / (replicates + 1))}"
        return f"= {p_value(value)}"

    def to_dict(self) -> dict:
        return {
            "probe": self.probe,
            "model": self.model,
            "control": self.control,
            "control_spec": self.control_spec,
            "bias": self.bias,
            "figure": self.figure,
            "model_figure": self.model_figure,
            "control_figure": self.control_figure,
            "difference": self.difference,
            "ci95": list(self.ci95),
            "p_value": self.p_value,
            "p_holm": self.p_adjusted,
            "family": self.family,
            "method": self.method,
            "design": self.design,
            "unpaired": self.unpaired,
            "beyond_control": self.beyond_control,
            "sentence": self.sentence,
        }


def _controls_of(result: ProbeResult, candidates: Sequence[ProbeResult]) -> list[ProbeResult]:
    """The control results measured for this model on the same data: those its run
    recorded (``provenance["controls"]``: control name -> spec), or, for results without
    that record, every control of the same data when the model is the only one there."""
    key = data_key(result)
    same_data = [c for c in candidates if c.role.startswith("null:") and data_key(c) == key]
    recorded = result.provenance.get("controls")
    if isinstance(recorded, dict):
        return [
            c
            for c in same_data
            if canonical_spec(recorded.get(c.role.removeprefix("null:")))
            == canonical_spec(c.model.get("spec"))
        ]
    models = [c for c in candidates if c.role == "model" and data_key(c) == key]
    return same_data if len(models) == 1 else []


def bias_figure(result: ProbeResult, reading: BiasReading | None = None) -> BiasFigure | None:
    """The result's bias figure (in the probe's main reading unless another is given), or
    None: its probe declares none, it has none (e.g. IOR without a large object), or the
    file does not hold the figures in their usual shape (an older or hand-edited result:
    left out, never a crash)."""
    reading = reading or main_reading(find_probe(result.probe))
    if reading is None:
        return None
    try:
        figure = reading.bias(result)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        return None
    return figure if figure is not None and figure.measured else None


def same_weights(model: ProbeResult, control: ProbeResult) -> bool:
    """A control whose weights hash is its model's measures nothing against it."""
    mine, theirs = model.model.get("weights_hash"), control.model.get("weights_hash")
    known = isinstance(mine, str) and mine not in ("", "none")  # "none": a model without weights
    return known and mine == theirs and control.role == "null:random-init"


def judge(
    result: ProbeResult,
    figure: BiasFigure,
    control: ProbeResult,
    other: BiasFigure,
    reading: BiasReading | None = None,
) -> Verdict:
    """One model-versus-control verdict, paired where both hold per-query records."""
    unpaired = compare_unpaired(figure, other)
    comparison, reason = unpaired, ""
    mine, why_not_mine = query_figure(result, figure, reading)
    theirs, why_not_theirs = query_figure(control, other, reading)
    if mine is not None and theirs is not None:
        aligned = theirs.aligned_with(mine)
        if aligned is not None:
            comparison = compare_paired(mine, aligned)
        else:
            reason = "the two results' per-query records hold different queries"
    else:
        reason = why_not_mine or why_not_theirs
    if reason:
        log.warning("%s (%s): compared unpaired: %s", result.label, result.probe, reason)
    design = dict(comparison.design)
    if reason:
        design["unpaired_because"] = reason
    return Verdict(
        result.probe,
        result.label,
        control.role.removeprefix("null:"),
        control.model.get("spec", "?"),
        figure.bias,
        figure.figure,
        figure.to_dict(),
        other.to_dict(),
        comparison.difference,
        comparison.ci95,
        comparison.p_value,
        data_key(result),
        method=comparison.method,
        design=design,
        unpaired=None if comparison is unpaired else unpaired.to_dict(),
        shown=(figure.shown(), other.shown()),
    )


def verdicts(results: Sequence[ProbeResult]) -> list[Verdict]:
    """Every model-versus-control verdict the results allow, in the results' order: one
    per model, control and data, from the newest run where several measured the same
    (copies of a result count once), with Holm's adjusted p-values over them all. A
    random-weight control with its model's very weights is left out, with a warning."""
    judged = [
        judge(result, bias_figure(result), control, bias_figure(control))
        for result, control in model_control_pairs(results)
    ]
    adjusted = holm([v.p_value if math.isfinite(v.p_value) else 1.0 for v in judged])
    return [
        replace(v, p_adjusted=p, family=len(judged)) for v, p in zip(judged, adjusted, strict=True)
    ]


def model_control_pairs(results: Sequence[ProbeResult]) -> list[tuple[ProbeResult, ProbeResult]]:
    """Each model result with each control result it can be judged against, once per
    model, control and data (the newest run's where several measured the same)."""
    found: dict[tuple[str, str, str, str], tuple[ProbeResult, ProbeResult]] = {}
    newest: dict[tuple[str, str, str, str], str] = {}
    for result in results:
        figure = bias_figure(result) if result.role == "model" else None
        if figure is None:
            continue
        peers = [r for r in results if r.probe == result.probe]
        for control in _controls_of(result, peers):
            if bias_figure(control) is None:
                continue
            if same_weights(result, control):
                log.warning(
                    "%s (%s): its random-init control %s has the model's own weights; "
                    "no verdict (rerun; cliposcope now gives such a control another seed)",
                    result.label,
                    result.probe,
                    control.model.get("spec", "?"),
                )
                continue
            place = (result.probe, result.label, control.role, data_key(result))
            made = str((result.run or {}).get("ended_utc") or "")
            if place in found and made < newest[place]:
                continue
            newest[place] = made
            found[place] = (result, control)
    return list(found.values())


def render_verdicts(found: Sequence[Verdict]) -> str:
    if not found:
        return ""
    lines = [
        "Verdicts: model minus control on the same data (95% CI; "
        f"'beyond' when Holm's adjusted p over these {len(found)} is below {ALPHA})"
    ]
    lines += [f"- {v.model} ({v.probe}): {v.sentence}" for v in found]
    return "\n".join(lines)
