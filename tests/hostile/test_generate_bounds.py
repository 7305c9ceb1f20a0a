"""`generate` multiplies work by `--count` and `--size`: both are bounded, and the disk room
the folders need is checked before the first scene is drawn. Its own single/ folder holds
every vocabulary object (as the real ComCO folder does), so the IOR gallery and the
matching distractors do not depend on how many scenes were drawn."""

from __future__ import annotations

from collections import namedtuple

import pytest

import cliposcope.data.generate
from cliposcope.data.generate import SceneSettings
from cliposcope.data.scene_sets import scene_set_from

from .conftest import assert_one_clear_error, run_cli

GENERATE = ["generate", "comco", "--quiet"]

CASES = [
    (["--count", "1000001"], "--count 1000001 is out of range"),
    (["--count", "1000000000000"], "--count 1000000000000 is out of range"),
    (["--count", "0"], "--count 0 is out of range"),
    (["--count", "-3"], "--count -3 is out of range"),
    (["--size", "100000"], "--size 100000 is out of range"),
    (["--size", "8"], "--size 8 is out of range"),
    (["--singles", "some"], "--singles: invalid choice: 'some'"),
]


@pytest.mark.parametrize(("extra", "needle"), CASES, ids=[" ".join(e) for e, _ in CASES])
def test_work_beyond_the_maxima_is_one_line(extra, needle, tmp_path, capsys):
    out = tmp_path / "out"
    assert_one_clear_error([*GENERATE, *extra, "--out", out], capsys, needle, out, tmp_path)


Usage = namedtuple("Usage", "total used free")


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--count", "100"], "100 scenes of 224 px need about"),
        (["--count", "20", "--official-layout", "{tmp}/official"], "20 scenes of 224 px"),
    ],
)
def test_a_disk_too_small_is_refused_before_drawing(extra, needle, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(
        cliposcope.data.generate.shutil, "disk_usage", lambda path: Usage(10**6, 10**6, 50_000)
    )
    out = tmp_path / "out"
    extra = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    line = assert_one_clear_error([*GENERATE, *extra, "--out", out], capsys, needle, out, tmp_path)
    assert "0.0 GB free" in line and not (tmp_path / "official").exists()


@pytest.mark.slow
def test_the_estimate_counts_both_copies(tmp_path, monkeypatch):
    settings = SceneSettings(kind="comco", count=3)
    one = _needed(settings, [tmp_path / "a"], monkeypatch)
    two = _needed(settings, [tmp_path / "a", tmp_path / "b"], monkeypatch)
    assert two == pytest.approx(2 * one, abs=1) and one > 0


def _needed(settings, targets, monkeypatch) -> int:
    """The bytes check_disk_room asks for: the free space at which it starts refusing."""
    low, high = 0, 10**12
    while low < high:
        middle = (low + high) // 2
        monkeypatch.setattr(
            cliposcope.data.generate.shutil, "disk_usage", lambda p, m=middle: Usage(m, 0, m)
        )
        try:
            cliposcope.data.generate.check_disk_room(settings, targets)
            high = middle
        except cliposcope.data.generate.CliposcopeError:
            low = middle + 1
    return low


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["comco", "simco"])
def test_the_gallery_does_not_change_with_the_scene_count(kind, tmp_path, capsys):
    galleries = []
    for count in (2, 9):
        out = tmp_path / f"{kind}-{count}"
        code, _, err = run_cli(capsys, "generate", kind, "--count", count, "--out", out, "--quiet")
        assert code == 0, err
        scene_set = scene_set_from(out, generate_into=out)
        assert set(scene_set.references) == set(SceneSettings(kind=kind).vocabulary)
        galleries.append(scene_set.names)
    assert galleries[0] == galleries[1]


def test_singles_used_keeps_only_the_objects_the_scenes_hold(tmp_path, capsys):
    out, official = tmp_path / "out", tmp_path / "official"
    argv = [*GENERATE, "--count", "3", "--singles", "used", "--out", out]
    code, _, err = run_cli(capsys, *argv, "--official-layout", official)
    assert code == 0, err
    scene_set = scene_set_from(out, generate_into=out)
    used = {name for scene in scene_set.scenes for name in scene.names}
    assert set(scene_set.references) == used
    assert len(list((official / "single").glob("*.png"))) == len(used)
