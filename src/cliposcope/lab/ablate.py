"""`cliposcope lab ablate`: where the first-object bias comes from, causally.

A grid of toy CLIPs: text-tower variants (encoders.text_variants) x caption-order
policies x seeds. Each cell trains from its own seed (lab.train, checkpoints from the
untrained weights on), and every checkpoint is measured with TOR, under the paper's
gallery and the position-matched one that no caption shares a prefix with, and IOR on
held-out scenes. Each (variant, seed) also measures a random-weight control of the same
architecture (another seed), linked to every checkpoint of that cell as its random-init
control, so `cliposcope report`, `export` and the verdicts read the grid as ordinary
results. Everything is resumable: a finished run and a saved measurement are reused.

OUT/ holds ablate.json (the settings; a rerun must give the same), runs/ (one lab run per
cell), eval-scenes/ and results/: the ordinary result files, with ablation.json (the
figures per cell and checkpoint, which `cliposcope report OUT/results` draws as its
training progression) and ablation.png (that plot). With TensorBoard on, tensorboard/
holds one event folder per cell: its training loss and learning rate per step, and per
checkpoint its figures (bias/<probe>/<figure>) beside its control's (control/...).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cliposcope.atomic import atomic_write_bytes, atomic_write_json
from cliposcope.data.vocab import Vocabulary
from cliposcope.encoders import load_encoder
from cliposcope.encoders.text_variants import text_variant
from cliposcope.errors import CliposcopeError, check_range, read_json
from cliposcope.lab.pool import PoolSpec, check_policy
from cliposcope.lab.progression import evaluation_scenes
from cliposcope.lab.tensorboard_log import ScalarLog
from cliposcope.lab.train import ARCH, TrainSettings, checkpoint_spec, train
from cliposcope.plotting import figure_png, pyplot
from cliposcope.probes.registry import run_probe
from cliposcope.probes.tor import TorSettings
from cliposcope.results import ProbeResult, ResultFolder, result_filename

log = logging.getLogger(__name__)

CONTROL_SEED_OFFSET = 1000  # the control's weights never equal a cell's untrained ones
FIGURES = {
    "tor_first": "TOR first-object preference, paper gallery",
    "tor_first_matched": "TOR first-object preference, position-matched gallery",
    "ior_large": "IOR large-object share",
}


def variant_options(name: str) -> str:
    return text_variant(name).options


@dataclass(frozen=True)
class AblateSettings:
    variants: tuple[str, ...] = ("causal", "bidirectional")
    policies: tuple[str, ...] = ("largest-first", "random")
    seeds: int = 3
    samples: int = 6_400
    batch_size: int = 64
    checkpoint_every: int = 3_200
    evaluation_scenes: int = 90
    pool: PoolSpec = field(default_factory=lambda: PoolSpec(scenes_per_count=(300,) * 4))
    heldout: PoolSpec = field(default_factory=lambda: TrainSettings().heldout)

    def __post_init__(self):
        if not self.variants or not self.policies:
            raise CliposcopeError("the grid is empty", hint="give at least one variant and policy")
        for name in self.variants:
            variant_options(name)
        for policy in self.policies:
            check_policy(policy)
        for axis in (self.variants, self.policies):
            if len(set(axis)) != len(axis):
                raise CliposcopeError(f"{', '.join(axis)} repeats a value", hint="give each once")
        check_range("--seeds", self.seeds, 1, 100, hint="1 to 100 seeds per cell")
        check_range("--evaluation-scenes", self.evaluation_scenes, 10, 10_000)
        self.train_settings("causal", "random", 0)  # the training options, checked now

    def train_settings(self, variant: str, policy: str, seed: int) -> TrainSettings:
        return TrainSettings(
            policy=policy,
            samples=self.samples,
            batch_size=self.batch_size,
            checkpoint_every=self.checkpoint_every,
            seed=seed,
            pool=self.pool,
            heldout=self.heldout,
            text=text_variant(variant),
            checkpoint_at_start=True,
        )

    def cells(self) -> list[tuple[str, str, int]]:
        return [
            (variant, policy, seed)
            for variant in self.variants
            for policy in self.policies
            for seed in range(self.seeds)
        ]

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))


def cell_name(variant: str, policy: str, seed: int) -> str:
    safe = lambda text: text.replace("=", "-").replace("&", "+").replace(":", "-")  # noqa: E731
    return f"{safe(variant)}__{safe(policy)}__seed{seed}"


def ablate(
    settings: AblateSettings,
    out: str | Path,
    *,
    progress: bool = False,
    say: Callable[[str], None] = lambda line: None,
    tensorboard: Path | None = None,
) -> dict:
    """Train and measure every cell (resuming what is done); the ablation summary.

    With a ``tensorboard`` folder, each cell writes TensorBoard scalars into its own
    subfolder (named as its run): training curves as it trains, and its figures at each
    checkpoint, all of them again on every rerun (measured or read back)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    recorded = out / "ablate.json"
    if recorded.is_file():
        hint = "resume with the same options, or use a new --out"
        if read_json(recorded, hint=hint) != settings.to_dict():
            raise CliposcopeError(
                f"{out} holds an ablation with other settings",
                hint="resume with the same options, or use a new --out",
            )
    else:
        atomic_write_json(recorded, settings.to_dict())
    scenes = evaluation_scenes(out / "eval-scenes", settings.pool, settings.evaluation_scenes)
    words = Vocabulary("lab", settings.pool.vocabulary)
    tor = TorSettings(words, n=3, gallery="position-matched")
    results_dir = out / "results"
    results_dir.mkdir(exist_ok=True)
    saved = ResultFolder(results_dir)

    def measure(spec: str, role: str, controls: dict | None) -> list[ProbeResult]:
        encoder = load_encoder(spec)
        measured = []
        for probe, data, probe_settings in (("tor", None, tor), ("ior", scenes, None)):
            result = run_probe(probe, encoder, data, probe_settings, role=role, reuse=saved)
            if result.source_path is None:  # measured now, not read back
                if controls:
                    result.provenance["controls"] = controls
                result.save(results_dir / result_filename(result))
            measured.append(result)
        return measured

    cells = settings.cells()
    summary: dict = {"settings": settings.to_dict(), "figures": FIGURES, "cells": []}
    controls_done: dict[tuple[str, int], dict] = {}
    for number, (variant, policy, seed) in enumerate(cells, start=1):
        name = cell_name(variant, policy, seed)
        options = variant_options(variant)
        say(f"cell {number}/{len(cells)}: {name}: training")
        run_dir = out / "runs" / name
        cell_scalars = tensorboard / name if tensorboard is not None else None
        train(
            settings.train_settings(variant, policy, seed),
            run_dir,
            progress=progress,
            tensorboard=cell_scalars,
        )
        control = f"openclip:{ARCH}?seed={CONTROL_SEED_OFFSET + seed}"
        control += f"&{options}" if options else ""
        if (variant, seed) not in controls_done:
            say(f"cell {number}/{len(cells)}: {name}: random-weight control {control}")
            controls_done[(variant, seed)] = figures_of(measure(control, "null:random-init", None))
        points = []
        checkpoints = sorted((run_dir / "checkpoints").glob("samples_*.pt"))
        with ScalarLog(cell_scalars, replacing=FIGURES_LOG_SUFFIX) as figures_log:
            for index, checkpoint in enumerate(checkpoints, start=1):
                say(f"cell {number}/{len(cells)}: {name}: checkpoint {index}/{len(checkpoints)}")
                spec = checkpoint_spec(run_dir, checkpoint)
                measured = measure(spec, "model", {"random-init": control})
                samples = int(checkpoint.stem.split("_")[1])
                points.append({"samples": samples, "model": spec, **figures_of(measured)})
                log_checkpoint_figures(
                    figures_log,
                    points[-1],
                    controls_done[(variant, seed)],
                    step=samples // settings.batch_size,
                )
        summary["cells"].append(
            {
                "variant": variant,
                "options": options,
                "policy": policy,
                "seed": seed,
                "control": {"model": control, **controls_done[(variant, seed)]},
                "checkpoints": points,
            }
        )
    atomic_write_json(results_dir / SUMMARY_NAME, summary)
    figure = figure_png(progression_figure(summary), dpi=110)
    atomic_write_bytes(results_dir / "ablation.png", figure)
    return summary


SUMMARY_NAME = "ablation.json"
_FIGURE = {
    "type": ["object", "null"],
    "required": ["estimate", "ci95"],
    "properties": {
        "estimate": {"type": ["number", "null"]},
        "ci95": {"type": "array", "items": {"type": ["number", "null"]}, "maxItems": 2},
    },
}
_FIGURES = {key: _FIGURE for key in FIGURES}
SUMMARY_SCHEMA = {
    "type": "object",
    "required": ["cells"],
    "properties": {
        "cells": {
            "type": "array",
            "maxItems": 100_000,
            "items": {
                "type": "object",
                "required": ["variant", "policy", "seed", "control", "checkpoints"],
                "properties": {
                    "variant": {"type": "string", "maxLength": 200},
                    "policy": {"type": "string", "maxLength": 200},
                    "seed": {"type": "integer", "minimum": 0},
                    "control": {
                        "type": "object",
                        "required": list(FIGURES),
                        "properties": _FIGURES,
                    },
                    "checkpoints": {
                        "type": "array",
                        "maxItems": 10_000,
                        "items": {
                            "type": "object",
                            "required": ["samples", *FIGURES],
                            "properties": {
                                "samples": {"type": "integer", "minimum": 0},
                                **_FIGURES,
                            },
                        },
                    },
                },
            },
        }
    },
}


def read_summary(path: Path) -> dict:
    """An ablation summary from a results folder, checked against SUMMARY_SCHEMA (it may
    come from anywhere, like the results beside it)."""
    from jsonschema import Draft202012Validator

    from cliposcope.results import schema_problem

    hint = "it is written by `cliposcope lab ablate`; rerun it or remove the file"
    record = read_json(path, hint=hint)
    problem = schema_problem(record, Draft202012Validator(SUMMARY_SCHEMA))
    if problem is not None:
        raise CliposcopeError(f"{path} is not an ablation summary: {problem}", hint=hint)
    return record


FIGURES_LOG_SUFFIX = ".figures"


def log_checkpoint_figures(scalars: ScalarLog, point: dict, control: dict, step: int) -> None:
    """A checkpoint's figures as bias/<probe>/<figure> (tor_first_matched is
    bias/tor/first_matched) and its control's as control/<probe>/<figure>, at its step."""
    for key in FIGURES:
        probe, _, figure = key.partition("_")
        for prefix, figures in (("bias", point), ("control", control)):
            scalars.scalar(f"{prefix}/{probe}/{figure}", (figures[key] or {}).get("estimate"), step)


def figures_of(results: list[ProbeResult]) -> dict:
    tor, ior = results
    return {
        "tor_first": tor.metrics["first_position_bias"],
        "tor_first_matched": tor.metrics["position_matched_first_object"],
        "ior_large": ior.metrics["per_role_among_truth"].get("large"),
    }


def mean_estimate(figures: list[dict | None]) -> float:
    values = [f["estimate"] for f in figures if f and f.get("estimate") is not None]
    return sum(values) / len(values) if values else float("nan")


def progression_lines(summary: dict) -> dict[tuple[str, str], dict]:
    """Per (variant, policy): samples and, per figure, the mean over seeds at each
    checkpoint, with the mean of its random-weight controls."""
    lines: dict[tuple[str, str], dict] = {}
    for cell in summary["cells"]:
        line = lines.setdefault((cell["variant"], cell["policy"]), {"cells": []})
        line["cells"].append(cell)
    for line in lines.values():
        cells = line.pop("cells")
        steps = sorted({p["samples"] for cell in cells for p in cell["checkpoints"]})
        line["samples"] = steps
        for key in FIGURES:
            line[key] = [
                mean_estimate(
                    [p[key] for c in cells for p in c["checkpoints"] if p["samples"] == s]
                )
                for s in steps
            ]
            line[f"{key}_control"] = mean_estimate([c["control"][key] for c in cells])
    return lines


def progression_figure(summary: dict):
    """Each figure against training samples, one line per variant and policy (mean over
    seeds), the controls dotted, chance dashed."""
    lines = progression_lines(summary)
    figure, axes = pyplot().subplots(1, len(FIGURES), figsize=(5 * len(FIGURES), 4))
    colours = pyplot().rcParams["axes.prop_cycle"].by_key()["color"]
    for number, ((variant, policy), line) in enumerate(sorted(lines.items())):
        colour = colours[number % len(colours)]
        for axis, key in zip(axes, FIGURES, strict=True):
            thousands = [s / 1000 for s in line["samples"]]
            axis.plot(thousands, line[key], marker="o", color=colour, label=f"{variant}, {policy}")
            axis.axhline(line[f"{key}_control"], color=colour, linestyle=":", linewidth=1)
    for axis, title in zip(axes, FIGURES.values(), strict=True):
        axis.axhline(1 / 3, color="gray", linestyle="--", linewidth=1, label="chance (1/3)")
        axis.set_title(title, fontsize=9)
        axis.set_xlabel("training samples seen (thousands)")
        axis.set_ylim(0, 1)
    axes[0].legend(fontsize=7)
    figure.tight_layout()
    return figure


def summary_rows(summary: dict) -> tuple[list[str], list[list[str]]]:
    """Per variant and policy, means over seeds: the control, the untrained checkpoint and
    the last one, for each figure."""
    headers = ["Variant", "Policy"]
    for label in ("TOR paper", "TOR matched", "IOR large"):
        headers += [f"{label}: control", "step 0", "trained"]
    rows = []
    for (variant, policy), line in progression_lines(summary).items():
        row = [variant, policy]
        for key in FIGURES:
            values = (line[f"{key}_control"], line[key][0], line[key][-1])
            row += [f"{100 * value:.1f}" for value in values]
        rows.append(row)
    return headers, rows
