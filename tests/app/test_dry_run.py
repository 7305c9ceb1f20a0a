"""`--dry-run` counts the work exactly, estimates its time and writes nothing; a large run
states its size before it starts."""

from __future__ import annotations

import math

import pytest

from cliposcope.app.cli import main
from cliposcope.app.dry_run import PlannedRun, Rates, is_large, size_notice
from cliposcope.encoders import load_encoder
from cliposcope.probes.cost import LARGE_RUN_QUERIES, Work
from cliposcope.probes.registry import get_probe, run_probe
from cliposcope.probes.tor import TorSettings


def _files_under(folder):
    return sorted(path.relative_to(folder) for path in folder.rglob("*"))


@pytest.fixture
def quiet_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("CLIPOSCOPE_CACHE_DIR", str(cache))
    return cache


def test_tor_at_n4_states_its_2_55_million_queries_and_writes_nothing(
    tmp_path, capsys, quiet_cache, monkeypatch
):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    code = main(["run", "tor", "--model", "toy:default", "--n", "4", "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0
    assert math.comb(90, 4) == 2_555_190
    assert "2,555,190 queries" in out
    assert "estimated time:" in out and "texts/s" in out
    assert "would write: results" in out
    assert _files_under(work) == []  # no results folder
    assert not quiet_cache.exists()  # the calibration bypasses the embedding cache


def test_tor_cost_counts_the_queries_and_texts_a_run_makes(monkeypatch):
    settings = TorSettings(n=3, sample=24, gallery="position-matched", seed=1)
    cost = get_probe("tor").cost(settings, None)
    encoder = load_encoder("toy:default")
    encoded = []
    real_encode = encoder.encode_text

    def counting_encode(texts, **kwargs):
        encoded.append(len(texts))
        return real_encode(texts, **kwargs)

    monkeypatch.setattr(encoder, "encode_text", counting_encode)
    result = run_probe("tor", encoder, None, settings)
    assert cost == Work(result.provenance["query_count"], texts=sum(encoded))
    assert cost.queries == 24 and cost.texts == 24 + 90 * (1 + 3)


def test_sum_control_encodes_no_captions():
    settings = TorSettings(n=2, sample=10, caption_embedding="sum")
    assert get_probe("tor").cost(settings, None) == Work(10, texts=90)


@pytest.mark.slow
def test_paper_battery_dry_run_generates_its_scenes_elsewhere_and_leaves_no_trace(
    tmp_path, capsys, quiet_cache
):
    out = tmp_path / "out"
    code = main(
        [
            "run",
            "paper",
            "--model",
            "toy:default",
            "--null",
            "random-init",
            "--count",
            "6",
            "--out",
            str(out),
            "--dry-run",
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0
    assert "ior on toy:default (model)" in printed
    assert "ior on random-init twin of toy:default (null:random-init)" in printed
    assert "6 queries, 0 texts, " in printed  # six scenes (IOR: 6 scenes + references)
    assert "at most 2 model loads" in printed
    assert f"would write: {out}, {out / 'scenes'}" in printed
    assert not out.exists() and not quiet_cache.exists()


def test_a_large_run_says_so_with_its_time_and_a_small_one_does_not():
    small = [PlannedRun("tor", "toy:default", "model", Work(LARGE_RUN_QUERIES, texts=5))]
    assert not is_large(small)
    work = Work(2_555_190, texts=2_555_200)
    large = [PlannedRun("tor", "toy:default", "model", work, "toy:default")]
    assert is_large(large)
    notice = size_notice(large, {"toy:default": Rates(1000.0, None, "cpu")})
    assert "2,555,190 queries" in notice and "--sample" in notice
    assert "(estimated about 43 min of encoding)" in notice  # 2,555,200 texts at 1,000/s


def test_small_tor_run_prints_no_size_note(tmp_path, capsys, quiet_cache):
    code = main(
        [
            "run",
            "tor",
            "--model",
            "toy:default",
            "--n",
            "2",
            "--sample",
            "20",
            "--out",
            str(tmp_path / "r"),
            "--quiet",
        ]
    )
    assert code == 0
    assert "note:" not in capsys.readouterr().err


def test_encode_dry_run_counts_its_inputs_and_writes_nothing(tmp_path, capsys, quiet_cache):
    texts = tmp_path / "captions.txt"
    texts.write_text("a cat and a dog\na bus\nthree\n", encoding="utf-8")
    out = tmp_path / "emb.npy"
    code = main(
        ["encode", "--model", "toy:default", "--texts", str(texts), "--out", str(out), "--dry-run"]
    )
    printed = capsys.readouterr().out
    assert code == 0
    assert "3 texts to encode" in printed and "estimated time:" in printed
    assert not out.exists() and not out.with_suffix(".json").exists()


def test_encode_points_a_scene_folder_to_its_images(tmp_path, capsys):
    (tmp_path / "scenes" / "images").mkdir(parents=True)
    code = main(
        [
            "encode",
            "--model",
            "toy:default",
            "--images",
            str(tmp_path / "scenes"),
            "--out",
            str(tmp_path / "e.npy"),
        ]
    )
    assert code == 2
    assert "the images of a scene folder are in" in capsys.readouterr().err


def test_generate_dry_run_estimates_room_and_time_and_draws_nothing(tmp_path, capsys):
    out = tmp_path / "scenes"
    code = main(["generate", "comco", "--count", "500000", "--out", str(out), "--dry-run"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "500,000 scenes and 54 reference objects" in printed
    assert "disk: about" in printed and "time: about" in printed
    assert not out.exists()


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["lab", "train"], "1 training run(s) of 192,000 samples: 1,500 steps at batch 128"),
        (["lab", "ablate"], "12 training run(s) of 6,400 samples: 100 steps at batch 64"),
        (["demo"], "tor, ior, matching, attention on toy:default"),
    ],
)
def test_lab_and_demo_dry_runs_state_their_work_and_write_nothing(tmp_path, capsys, argv, expected):
    out = tmp_path / "out"
    assert main([*argv, "--out", str(out), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert expected in printed and "estimated time: about" in printed
    assert not out.exists()


def test_every_command_that_computes_offers_a_dry_run():
    import argparse

    from cliposcope.app.cli import build_parser

    def commands(parser, path=()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, command in action.choices.items():
                    yield from commands(command, (*path, name))
        if not any(isinstance(a, argparse._SubParsersAction) for a in parser._actions):
            yield path, parser

    computing = {"run", "corpus", "encode", "generate", "demo", ("lab", "train"), ("lab", "ablate")}
    computing |= {("lab", "progression")}
    checked = 0
    for path, parser in commands(build_parser()):
        if path[0] in computing or path[:2] in computing:
            flags = {flag for action in parser._actions for flag in action.option_strings}
            assert "--dry-run" in flags, " ".join(path)
            checked += 1
    assert checked > 15


def test_lab_progression_dry_run_counts_the_checkpoints(tmp_path, capsys):
    run = tmp_path / "runs" / "a"
    (run / "checkpoints").mkdir(parents=True)
    (run / "settings.json").write_text("{}", encoding="utf-8")
    for samples in (0, 3200, 6400):
        (run / "checkpoints" / f"samples_{samples:09d}.pt").write_bytes(b"")
    out = tmp_path / "progression"
    assert main(["lab", "progression", str(run), "--out", str(out), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "3 checkpoint(s) in 1 run(s)" in printed and "estimated time: at most" in printed
    assert not out.exists()
