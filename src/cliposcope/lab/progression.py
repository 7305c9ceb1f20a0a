"""`cliposcope lab progression`: the biases at every checkpoint of one or more runs.

Each checkpoint is loaded through the ordinary encoder path (``openclip:cliposcope-toy/
PATH``) and probed on a fixed evaluation set: TOR (balanced, every order of every 3-object
combination of the run's vocabulary) for the first-object share, IOR on generated 3-object
scenes for the large-object share.
"""

from __future__ import annotations

import json
from pathlib import Path

from cliposcope.data.scene_sets import SceneSet, scene_set_from
from cliposcope.encoders import load_encoder
from cliposcope.errors import CliposcopeError
from cliposcope.lab.pool import PoolSpec
from cliposcope.lab.train import checkpoint_spec
from cliposcope.plotting import pyplot
from cliposcope.probes.battery import BatterySettings, run_battery

# TOR over every order of every 3-object combination; IOR on the evaluation scenes.
PROGRESSION_BATTERY = BatterySettings(
    probes=("tor", "ior"), tor_sample=None, tor_all_orders=True, vocabulary_name="lab"
)


def evaluation_scenes(folder: Path, pool: PoolSpec, count: int = 150, seed: int = 7) -> SceneSet:
    """Held-out 3-object scenes (one large) in the run's vocabulary, generated once."""
    settings = pool.evaluation_settings(count, seed)
    return scene_set_from(None, generate_into=folder, settings=settings)


def run_pool_spec(run_dir: Path) -> PoolSpec:
    settings = json.loads((run_dir / "settings.json").read_text())
    pool = settings["pool"]
    pool["scenes_per_count"] = tuple(pool["scenes_per_count"])
    return PoolSpec(**pool)


def checkpoint_points(
    run_dir: Path,
    scene_set: SceneSet,
    progress: bool = False,
    *,
    device: str = "auto",
    precision: str = "fp32",
) -> list[dict]:
    """TOR first-object and IOR large-object shares at every checkpoint of a run."""
    checkpoints = sorted((run_dir / "checkpoints").glob("samples_*.pt"))
    if not checkpoints:
        raise CliposcopeError(f"no checkpoints in {run_dir}", hint="run `cliposcope lab train`")
    points = []
    for checkpoint in checkpoints:
        spec = checkpoint_spec(run_dir, checkpoint)
        encoder = load_encoder(spec, device=device, precision=precision)
        results = run_battery(encoder, scene_set, PROGRESSION_BATTERY, progress=progress)
        tor, ior = (next(r for r in results if r.probe == name) for name in ("tor", "ior"))
        points.append(
            {
                "samples": int(checkpoint.stem.split("_")[1]),
                "checkpoint": str(checkpoint),
                "tor_first_share": tor.metrics["per_position_unconditional"][0],
                "tor_first_position_p": tor.metrics["first_position_bias"]["p_value"],
                "ior_large_share": ior.metrics["per_role_among_truth"]["large"],
            }
        )
    return points


def curves_figure(curves: dict[str, list[dict]]):
    """The TOR first-object and IOR large-object shares against samples seen, per run."""
    figure, axes = pyplot().subplots(1, 2, figsize=(10, 4))
    for name, points in curves.items():
        samples = [p["samples"] / 1000 for p in points]
        for axis, key in zip(axes, ("tor_first_share", "ior_large_share"), strict=True):
            values = [p[key]["estimate"] for p in points]
            low = [p[key]["ci95"][0] for p in points]
            high = [p[key]["ci95"][1] for p in points]
            axis.plot(samples, values, marker="o", label=name)
            axis.fill_between(samples, low, high, alpha=0.2)
    axes[0].axhline(1 / 3, color="gray", linestyle="--", label="order-blind (1/3)")
    axes[1].axhline(1 / 3, color="gray", linestyle="--", label="size-blind (1/3)")
    axes[0].set_title("TOR: first object retrieved (3 objects)")
    axes[1].set_title("IOR: large object scores highest (3 objects)")
    for axis in axes:
        axis.set_xlabel("training samples seen (thousands)")
        axis.set_ylim(0, 1)
        axis.legend()
    figure.tight_layout()
    return figure


def plot_curves(curves: dict[str, list[dict]], path: Path) -> None:
    from cliposcope.atomic import atomic_write_bytes
    from cliposcope.plotting import figure_png

    atomic_write_bytes(path, figure_png(curves_figure(curves), dpi=110, tight=False))
