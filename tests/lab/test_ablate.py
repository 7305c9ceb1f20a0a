"""`cliposcope lab ablate` end to end on a tiny grid: every cell trained and measured from
its untrained weights on, against its own variant's random-weight control, as ordinary
results that verdicts read; a rerun resumes instead of redoing; other settings refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cliposcope.errors import CliposcopeError
from cliposcope.lab.ablate import AblateSettings, ablate, summary_rows
from cliposcope.lab.pool import PoolSpec
from cliposcope.probes.verdicts import verdicts
from cliposcope.results import ProbeResult

# The whole module trains a grid of toy CLIPs: the full suite, not the fast tier.
pytestmark = pytest.mark.slow

TINY = AblateSettings(
    variants=("causal", "order-blind"),
    policies=("largest-first", "random"),
    seeds=1,
    samples=64,
    batch_size=32,
    checkpoint_every=32,
    evaluation_scenes=12,
    pool=PoolSpec(scenes_per_count=(12, 12, 12, 12)),
    heldout=PoolSpec(scenes_per_count=(0, 6, 6, 6), seed=99),
)


@pytest.fixture(scope="module")
def grid(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("ablate") / "grid"
    return out, ablate(TINY, out)


def test_every_cell_is_measured_from_step_zero(grid):
    _, summary = grid
    cells = {(c["variant"], c["policy"], c["seed"]) for c in summary["cells"]}
    assert cells == {(v, p, 0) for v in TINY.variants for p in TINY.policies}
    for cell in summary["cells"]:
        assert [p["samples"] for p in cell["checkpoints"]] == [0, 32, 64]
        for point in cell["checkpoints"]:
            assert set(point) >= {"tor_first", "tor_first_matched", "ior_large"}
        assert ("attn=bidirectional&pos=none" in cell["control"]["model"]) == (
            cell["variant"] == "order-blind"
        )


def test_an_order_blind_tower_stays_at_chance(grid):
    """No mask and no positions: the caption's order cannot reach the embedding, trained
    or not, so the first-named object wins a third of the time (up to the queries' noise)."""
    _, summary = grid
    blind = [c for c in summary["cells"] if c["variant"] == "order-blind"]
    for cell in blind:
        for point in [*cell["checkpoints"], cell["control"]]:
            low, high = point["tor_first_matched"]["ci95"]
            assert low < 1 / 3 < high


def test_results_are_ordinary_results_with_their_controls(grid):
    out, _ = grid
    files = sorted((out / "results").glob("*.json"))
    results = [ProbeResult.load(p) for p in files if p.name != "ablation.json"]
    models = [r for r in results if r.role == "model"]
    controls = [r for r in results if r.role == "null:random-init"]
    assert len(models) == 4 * 3 * 2 and len(controls) == 2 * 2  # (cells x steps, variants) x probes
    found = verdicts(results)
    assert len(found) == len(models)  # each checkpoint's TOR and IOR against its control
    assert all(v.control.startswith("random") or "random" in v.control for v in found)
    headers, rows = summary_rows(grid[1])
    assert len(rows) == 4 and len(headers) == 11
    assert (out / "results" / "ablation.png").stat().st_size > 10_000


def test_a_rerun_resumes_and_other_settings_are_refused(grid):
    out, summary = grid

    def measured():
        return {p: p.stat().st_mtime_ns for p in (out / "results").glob("*_model_*.json")}

    saved = measured()
    trained = {p: p.read_text() for p in (out / "runs").glob("*/done.json")}
    again = ablate(TINY, out)
    assert again == json.loads(json.dumps(summary))
    assert measured() == saved and len(saved) == 24
    assert {p: p.read_text() for p in (out / "runs").glob("*/done.json")} == trained
    with pytest.raises(CliposcopeError, match="other settings"):
        ablate(AblateSettings(**{**TINY.__dict__, "seeds": 2}), out)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"variants": ("sideways",)}, "'sideways' is not a variant name"),
        ({"variants": ("attn",)}, "'attn' is not a variant name"),
        ({"variants": ("attn=maybe",)}, "attn='maybe'"),
        ({"policies": ("loudest-first",)}, "unknown caption policy"),
        ({"variants": ("causal", "causal")}, "repeats"),
        ({"seeds": 0}, "--seeds 0"),
        ({"variants": ()}, "the grid is empty"),
    ],
)
def test_bad_grids_are_one_clear_error(changes, message):
    with pytest.raises(CliposcopeError, match=message):
        AblateSettings(**{**TINY.__dict__, **changes})


def test_checkpoints_load_with_the_tower_they_were_trained_with(grid):
    from cliposcope.lab.train import checkpoint_spec

    out, _ = grid
    run = out / "runs" / "order-blind__random__seed0"
    checkpoint = sorted((run / "checkpoints").glob("*.pt"))[-1]
    assert checkpoint_spec(run, checkpoint) == f"toy:{checkpoint}?attn=bidirectional&pos=none"
    causal = out / "runs" / "causal__random__seed0"
    assert checkpoint_spec(causal, checkpoint) == f"toy:{checkpoint}"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--variant", "sideways"], "'sideways' is not a variant name"),
        (["--policy", "loudest-first"], "unknown caption policy"),
        (["--seeds", "0"], "--seeds 0 is out of range"),
    ],
)
def test_the_command_refuses_a_bad_grid_before_any_work(argv, message, tmp_path, capsys):
    from cliposcope.app.cli import main

    out = tmp_path / "grid"
    assert main(["lab", "ablate", *argv, "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and not out.exists()


def test_the_report_of_the_grid_shows_its_progression_and_decomposition(grid, tmp_path):
    import shutil

    from cliposcope.report.html import build_report

    out, _ = grid
    folder = tmp_path / "results"
    shutil.copytree(out / "results", folder)
    page = build_report(folder).read_text(encoding="utf-8")
    assert 'alt="training progression"' in page
    assert "Where the bias comes from" in page and "position-matched gallery" in page
    (folder / "ablation.json").write_text('{"cells": [{"variant": 3}]}')
    with pytest.raises(CliposcopeError, match=r"ablation.json is not an ablation summary"):
        build_report(folder)


def test_table_takes_the_folder_glob_with_its_summary(grid, capsys):
    from cliposcope.app.cli import main

    out, _ = grid
    assert main(["table", *map(str, sorted((out / "results").glob("*.json")))]) == 0
    printed = capsys.readouterr().out
    assert "Where the bias comes from" in printed and "position-matched gallery" in printed
