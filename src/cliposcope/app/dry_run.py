"""What a `cliposcope run` would do, before doing it: each probe run on each model and
control with the queries it scores and the texts and images it encodes (probes.cost), the
model loads, an estimated time from a short calibration of each model on the chosen
device, and what the run would write. `--dry-run` prints it and writes nothing; a run
over probes.cost.LARGE_RUN_QUERIES states its size before starting.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cliposcope.app.runs import RANDOM_INIT, EncoderOptions, Measurement
from cliposcope.probes.cost import LARGE_RUN_QUERIES, NO_WORK, Work, work_of
from cliposcope.terminal import terminal_text

CALIBRATION_TEXTS = 64
CALIBRATION_IMAGES = 16
CALIBRATION_CAPTION = "a photo of a cat and a dog and a bicycle"


@dataclass(frozen=True)
class PlannedRun:
    """One probe on one data unit, for one model in one role ("model", "null:sum", ...)."""

    probe: str
    spec: str  # what runs: the model, or its control
    role: str
    work: Work | None  # None: the probe's size is not known before it runs
    model: str = ""  # the model it belongs to (its own spec, or the controlled model's)

    @property
    def label(self) -> str:
        return f"{self.probe} on {self.spec} ({self.role})"


@dataclass(frozen=True)
class Rates:
    """Texts and images a model encodes per second, measured here."""

    texts_per_s: float
    images_per_s: float | None
    device: str

    def seconds(self, work: Work) -> float:
        seconds = work.texts / self.texts_per_s
        if work.images and self.images_per_s:
            seconds += work.images / self.images_per_s
        return seconds


def planned_runs(measurement: Measurement) -> list[PlannedRun]:
    """Every probe run the measurement makes, in its order (a random-init control counted
    once per model: models of one architecture share it in the real run)."""
    roles = ["model", *(f"null:{null}" for null in dict.fromkeys(measurement.nulls))]
    specs = measurement.models or ("(no model)",)
    runs = []
    for spec in specs:
        for role in roles:
            control = role.removeprefix("null:") if role != "model" else None
            for unit in measurement.units:
                for probe, settings, data in _probe_runs(measurement, unit):
                    if control not in (None, RANDOM_INIT):
                        settings = probe.controls[control](settings)
                    shown = f"{RANDOM_INIT} twin of {spec}" if control == RANDOM_INIT else spec
                    work = work_of(probe, settings, data)
                    runs.append(PlannedRun(probe.name, shown, role, work, spec))
    return runs


def _probe_runs(measurement: Measurement, unit: Any) -> Iterator[tuple[Any, Any, Any]]:
    from cliposcope.probes.battery import battery_probes
    from cliposcope.probes.registry import get_probe

    if measurement.probe is not None:
        yield measurement.probe, measurement.settings, unit
        return
    battery = measurement.settings
    for name in battery.probes or battery_probes():
        probe = get_probe(name)
        if probe.battery.opt_in and not getattr(battery, probe.battery.opt_in):
            continue
        settings = probe.battery.settings(battery, unit)
        if settings is not None:
            yield probe, settings, unit if probe.data is not None else None


def model_loads(measurement: Measurement) -> int:
    """At most: models of one architecture share their random-init control."""
    controls = RANDOM_INIT in measurement.nulls
    return len(measurement.models) * (2 if controls else 1)


def calibrate(options: EncoderOptions, spec: str) -> Rates:
    """Encode a few texts (and images) after a warm-up, without the cache, and time them."""
    from PIL import Image

    local = dataclasses.replace(options, cache=False, engine="local", ray=None)
    encoder = local.open(spec)
    captions = [f"{CALIBRATION_CAPTION} {i}" for i in range(CALIBRATION_TEXTS)]
    encoder.encode_text(captions[:8])
    started = time.perf_counter()
    encoder.encode_text(captions)
    texts_per_s = CALIBRATION_TEXTS / max(time.perf_counter() - started, 1e-6)
    images_per_s = None
    if encoder.info.has_image_tower:
        images = [Image.new("RGB", (224, 224), (i * 13 % 255, 90, 160)) for i in range(16)]
        encoder.encode_images(images[:2])
        started = time.perf_counter()
        encoder.encode_images(images)
        images_per_s = CALIBRATION_IMAGES / max(time.perf_counter() - started, 1e-6)
    return Rates(texts_per_s, images_per_s, local.load_options().device)


def total_work(runs: Sequence[PlannedRun]) -> Work:
    total = NO_WORK
    for run in runs:
        total = total + (run.work or NO_WORK)
    return total


def describe_plan(
    measurement: Measurement,
    runs: Sequence[PlannedRun],
    rates: dict[str, Rates],
    writes: Sequence[Path],
) -> str:
    """The dry run's report: a line per probe run, the totals, the estimate, the outputs."""
    lines = ["dry run: nothing computed, nothing written", ""]
    width = max((len(run.label) for run in runs), default=0)
    for run in runs:
        lines.append(f"  {terminal_text(run.label):<{width}}  {_work_line(run.work)}")
    total = total_work(runs)
    unknown = sum(run.work is None for run in runs)
    loads = model_loads(measurement)
    lines += [
        "",
        f"total: {_work_line(total)}; {'at most ' * (loads > 1)}{loads} model "
        f"load{'s' * (loads != 1)}" + (f"; {unknown} run(s) of unknown size" if unknown else ""),
    ]
    if rates:
        for spec, rate in rates.items():
            lines.append(
                f"calibrated {terminal_text(spec)} on {rate.device}: "
                f"{rate.texts_per_s:,.0f} texts/s"
                + (f", {rate.images_per_s:,.0f} images/s" if rate.images_per_s else "")
            )
        lines.append(
            f"estimated time: {estimate_line(runs, rates)} (embeddings already in the cache are "
            "not encoded again; scoring adds little)"
        )
    lines.append("would write: " + ", ".join(terminal_text(str(path)) for path in writes))
    return "\n".join(lines)


def estimate_line(runs: Sequence[PlannedRun], rates: dict[str, Rates]) -> str:
    """``[at least ]about N min of encoding`` for the runs at the calibrated rates."""
    seconds = sum(
        rates[run.model].seconds(run.work)
        for run in runs
        if run.work is not None and run.model in rates
    )
    total = total_work(runs)
    floor = "at least " if total.floor or any(run.work is None for run in runs) else ""
    return f"{floor}{estimated_duration(seconds)} of encoding"


def is_large(runs: Sequence[PlannedRun]) -> bool:
    return total_work(runs).queries > LARGE_RUN_QUERIES


def size_notice(runs: Sequence[PlannedRun], rates: dict[str, Rates] | None = None) -> str:
    """The line a large run states before it starts: its size and, with the models'
    calibrated rates, its estimated time."""
    total = total_work(runs)
    estimate = f" (estimated {estimate_line(runs, rates)})" if rates else ""
    return (
        f"this run scores {total.queries:,} queries and encodes {total.texts:,} texts and "
        f"{total.images:,} images over {len(runs)} probe run(s){estimate}; --sample K draws "
        "fewer queries"
    )


def print_size_notice(runs: Sequence[PlannedRun], options: EncoderOptions | None) -> None:
    """For a large run only: calibrating each model costs a load and a few seconds, nothing
    against the hours such a run takes."""
    if not is_large(runs):
        return
    models = dict.fromkeys(run.model for run in runs if run.model)
    rates = {spec: calibrate(options, spec) for spec in models} if options is not None else None
    print(f"note: {size_notice(runs, rates)}", file=sys.stderr, flush=True)


def _work_line(work: Work | None) -> str:
    if work is None:
        return "size known once it runs"
    floor = " (at least)" if work.floor else ""
    return f"{work.queries:,} queries, {work.texts:,} texts, {work.images:,} images{floor}"


def estimated_duration(seconds: float) -> str:
    if seconds < 90:
        return f"about {max(seconds, 1):.0f} s"
    if seconds < 90 * 60:
        return f"about {seconds / 60:.0f} min"
    return f"about {seconds / 3600:.1f} h"
