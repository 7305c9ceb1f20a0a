"""Verdicts: is a model's bias beyond its null control?

A probe declares the figure that measures its bias (``Probe.bias``): for TOR, the share
of queries whose arg-max is the first-named object among those whose arg-max is a caption
object; for IOR and I2TOR, the share of images whose top ground-truth object is the large
one. A model's figure is compared with the same figure of each of its controls (the
random-weight twin of its architecture, TOR's order-blind "sum" embedding) measured on the
same data: the difference in percentage points with Newcombe's hybrid score interval for
two independent proportions (method 10 of Newcombe 1998) and a two-sided two-proportion
z-test. The model's and the control's queries are the same, so treating them as
independent makes the interval wider and the test more cautious than a paired analysis.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

from cliposcope.encoders.specs import canonical_spec
from cliposcope.probes.presentation import p_value
from cliposcope.probes.registry import find_probe
from cliposcope.probes.stats import (
    Z95,
    Proportion,
    newcombe_difference_interval,
    two_proportion_test,
)
from cliposcope.results import ProbeResult

CONTROL_NAMES = {"random-init": "random-weight", "sum": "order-blind sum"}


@dataclass(frozen=True)
class BiasFigure:
    """A probe's bias figure: a share (``count`` of ``total``, e.g. first-object preference
    612 of 1,190) or another estimate with its standard error (a difference of two shares,
    a mean attention share)."""

    bias: str
    figure: str
    estimate: float
    standard_error: float | None = None
    count: int | None = None
    total: int | None = None

    @classmethod
    def share(cls, bias: str, figure: str, count: int, total: int) -> BiasFigure:
        return cls(bias, figure, count / total if total else math.nan, None, count, total)

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

    def to_dict(self) -> dict:
        if self.is_share:
            return Proportion(self.count, self.total).to_dict()
        half = Z95 * self.error
        return {
            "estimate": self.estimate,
            "ci95": [self.estimate - half, self.estimate + half],
            "standard_error": self.error,
        }


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
    return json.dumps([result.probe, provenance, settings], sort_keys=True, default=str)


@dataclass(frozen=True)
class Verdict:
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

    @property
    def beyond_control(self) -> bool:
        return self.ci95[0] > 0

    @property
    def sentence(self) -> str:
        control = CONTROL_NAMES.get(self.control, self.control)
        low, high = self.ci95
        numbers = (
            f"{100 * self.difference:+.1f} points ({100 * low:+.1f} to {100 * high:+.1f}), "
            f"p = {p_value(self.p_value)}"
        )
        if low > 0:
            return f"{self.bias} beyond its {control} control: {numbers}"
        if high < 0:
            return (
                f"{self.bias} not beyond its {control} control, which shows more of it: {numbers}"
            )
        return f"{self.bias} not beyond its {control} control: {numbers}"

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
            "beyond_control": self.beyond_control,
            "sentence": self.sentence,
        }


def compare(model: BiasFigure, control: BiasFigure) -> tuple[float, tuple[float, float], float]:
    """Difference, 95% interval and p-value: Newcombe's interval and the pooled
    two-proportion z-test for two shares; otherwise the Wald interval and z-test on the
    two standard errors."""
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


def bias_figure(result: ProbeResult) -> BiasFigure | None:
    """The result's bias figure, or None: its probe declares none, it has none (e.g. IOR
    without a large object), or the file does not hold the figures in their usual shape
    (an older or hand-edited result: left out, never a crash)."""
    probe = find_probe(result.probe)
    if probe is None or probe.bias is None:
        return None
    try:
        figure = probe.bias(result)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        return None
    return figure if figure is not None and figure.measured else None


def verdicts(results: Sequence[ProbeResult]) -> list[Verdict]:
    """Every model-versus-control verdict the results allow, in the results' order: one
    per model, control and data, from the newest run where several measured the same
    (copies of a result count once)."""
    found: dict[tuple[str, str, str, str], Verdict] = {}
    newest: dict[tuple[str, str, str, str], str] = {}
    for result in results:
        figure = bias_figure(result) if result.role == "model" else None
        if figure is None:
            continue
        peers = [r for r in results if r.probe == result.probe]
        for control in _controls_of(result, peers):
            other = bias_figure(control)
            if other is None:
                continue
            difference, interval, p = compare(figure, other)
            place = (result.probe, result.label, control.role, data_key(result))
            made = str((result.run or {}).get("ended_utc") or "")
            if place in found and made < newest[place]:
                continue
            newest[place] = made
            found[place] = Verdict(
                result.probe,
                result.label,
                control.role.removeprefix("null:"),
                control.model.get("spec", "?"),
                figure.bias,
                figure.figure,
                figure.to_dict(),
                other.to_dict(),
                difference,
                interval,
                p,
                data_key(result),
            )
    return list(found.values())


def render_verdicts(found: Sequence[Verdict]) -> str:
    if not found:
        return ""
    lines = ["Verdicts: model minus control on the same data (95% CI, test)"]
    lines += [f"- {v.model} ({v.probe}): {v.sentence}" for v in found]
    return "\n".join(lines)
