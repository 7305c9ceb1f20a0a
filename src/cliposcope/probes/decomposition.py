"""Where a bias comes from: a model's bias figure split, against its random-weight control,
into what the architecture gives before any training and what training added.

- **architecture**: control minus chance, the bias an untrained tower of the same
  architecture already shows (chance: what a tower blind to the bias gives, e.g. 1/n for
  the first-object preference);
- **learned**: model minus control, paired query by query (the verdict's comparison);
- **total**: model minus chance.

architecture + learned = total exactly (the estimates; each interval is its own). The
architecture and total intervals are the figures' own 95% intervals shifted by chance.
Each probe reading of the bias is decomposed: the probe's main one and those it adds under
other protocols (``Probe.bias_readings``), e.g. TOR under the paper's gallery and under
the position-matched gallery that no caption shares a prefix with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cliposcope.probes.registry import find_probe
from cliposcope.probes.stats import Proportion
from cliposcope.probes.verdicts import (
    BiasFigure,
    Verdict,
    bias_figure,
    data_key,
    judge,
    main_reading,
    model_control_pairs,
)
from cliposcope.results import ProbeResult

RANDOM_INIT = "null:random-init"


@dataclass(frozen=True)
class Part:
    estimate: float
    ci95: tuple[float, float]

    def to_dict(self) -> dict:
        return {"estimate": self.estimate, "ci95": list(self.ci95)}

    def shown(self) -> str:
        low, high = self.ci95
        return f"{100 * self.estimate:+.1f} ({100 * low:+.1f} to {100 * high:+.1f})"


@dataclass(frozen=True)
class Decomposition:
    probe: str
    model: str
    control_spec: str
    protocol: str
    bias: str
    chance: float
    model_share: float
    control_share: float
    architecture: Part
    learned: Part
    total: Part
    learned_method: str
    data: str  # the model's data_key

    def to_dict(self) -> dict:
        return {
            "probe": self.probe,
            "model": self.model,
            "control_spec": self.control_spec,
            "protocol": self.protocol,
            "bias": self.bias,
            "chance": self.chance,
            "model_share": self.model_share,
            "control_share": self.control_share,
            "architecture": self.architecture.to_dict(),
            "learned": self.learned.to_dict(),
            "total": self.total.to_dict(),
            "learned_method": self.learned_method,
        }


def above_chance(figure: BiasFigure) -> Part:
    """The figure minus its chance, with its own 95% interval shifted by chance (Wilson's
    for a share)."""
    if figure.is_share:
        low, high = Proportion(figure.count, figure.total).ci95
    else:
        low, high = figure.to_dict()["ci95"]
    return Part(figure.estimate - figure.chance, (low - figure.chance, high - figure.chance))


def decompositions(
    results: Sequence[ProbeResult], judged: Sequence[Verdict] | None = None
) -> list[Decomposition]:
    """One row per model with a random-weight control, per reading of its bias that has a
    known chance, in the results' order. ``judged``: the verdicts already made on these
    results (their main readings are not judged, nor warned about, again)."""
    made = {(v.probe, v.model, v.control_spec, v.data): v for v in judged or ()}
    rows = []
    for result, control in model_control_pairs(results):
        if control.role != RANDOM_INIT:
            continue
        probe = find_probe(result.probe)
        readings = {probe.bias_protocol: None, **probe.bias_readings}
        note = probe.protocol_note(result) if probe.protocol_note is not None else ""
        for protocol, reading in readings.items():
            mine = bias_figure(result, reading)
            theirs = bias_figure(control, reading)
            if mine is None or theirs is None or mine.chance is None:
                continue
            place = (result.probe, result.label, control.model.get("spec", "?"), data_key(result))
            verdict = made.get(place) if reading is None else None
            if verdict is None:
                verdict = judge(result, mine, control, theirs, reading or main_reading(probe))
            rows.append(
                Decomposition(
                    probe=result.probe,
                    model=result.label,
                    control_spec=str(control.model.get("spec", "?")),
                    protocol=f"{protocol}, {note}" if note else protocol,
                    bias=mine.bias,
                    chance=mine.chance,
                    model_share=mine.estimate,
                    control_share=theirs.estimate,
                    architecture=above_chance(theirs),
                    learned=Part(verdict.difference, tuple(verdict.ci95)),
                    total=above_chance(mine),
                    learned_method=verdict.method,
                    data=verdict.data,
                )
            )
    return rows


def decomposition_rows(found: Sequence[Decomposition]) -> tuple[list[str], list[list[str]]]:
    headers = ["Model", "Probe", "Protocol", "Model %", "Control %", "Chance %"]
    headers += ["Architecture (control - chance)", "Learned (model - control)"]
    headers += ["Total (model - chance)"]
    rows = [
        [
            d.model,
            d.probe,
            d.protocol,
            f"{100 * d.model_share:.1f}",
            f"{100 * d.control_share:.1f}",
            f"{100 * d.chance:.1f}",
            d.architecture.shown(),
            d.learned.shown(),
            d.total.shown(),
        ]
        for d in found
    ]
    return headers, rows
