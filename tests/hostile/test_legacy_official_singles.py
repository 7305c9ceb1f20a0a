"""`generate --official-layout` writes the single-object folder as the real ComCO one is:
an image of every object of the vocabulary, whichever objects the scenes use, so the IOR
gallery and the matching distractors read from the layout do not change with --count."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from cliposcope.app.cli import main
from cliposcope.data.official import SINGLE_FOLDER, decode_names, read_official
from cliposcope.data.scene_sets import scene_set_from
from cliposcope.data.simco import simco_names
from cliposcope.data.sprites import sprite_names

SMALL = ["--size", "64", "--gap", "2", "--quiet"]
VOCAB = ["dog", "cat", "hot dog", "teddy bear", "bear", "car", "pizza"]


def generate(tmp_path: Path, kind: str, count: int, *extra: str) -> tuple[Path, Path]:
    out, official = tmp_path / "scenes", tmp_path / "official"
    argv = ["generate", kind, "--count", str(count), "--out", str(out)]
    argv += ["--official-layout", str(official), *SMALL, *extra]
    assert main(argv) == 0
    return out, official


def single_names(official: Path) -> list[str]:
    return sorted(decode_names(p.stem)[0] for p in (official / SINGLE_FOLDER).glob("*.png"))


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.glob("*.png")}


@pytest.mark.slow
@pytest.mark.parametrize("count", [1, 3, 30])
def test_the_single_folder_holds_every_comco_object_whatever_the_count(count, tmp_path):
    _, official = generate(tmp_path, "comco", count)
    assert single_names(official) == sorted(sprite_names())
    used = {n for s in read_official(official) if s.condition != SINGLE_FOLDER for n in s.names}
    assert used < set(sprite_names())  # the scenes use only some of them
    # the IOR gallery read from the layout is the whole vocabulary
    assert sorted(scene_set_from(official, generate_into=tmp_path / "x").names) == sorted(
        sprite_names()
    )


@pytest.mark.parametrize("count", [1, 5])
@pytest.mark.parametrize("kind", ["comco", "simco"])
def test_a_restricted_vocabulary_gives_exactly_its_objects(kind, count, tmp_path):
    names = VOCAB if kind == "comco" else sorted(simco_names())[:8]
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(names) + "\n")
    _, official = generate(tmp_path, kind, count, "--vocab", str(vocab), "--objects", "2")
    assert single_names(official) == sorted(names)


def test_references_are_the_same_bytes_whatever_the_count(tmp_path):
    _, one = generate(tmp_path / "a", "comco", 1)
    out, many = generate(tmp_path / "b", "comco", 12)
    assert digests(one / SINGLE_FOLDER) == digests(many / SINGLE_FOLDER)
    # a used object's image is the generator's own reference (out/single/single-NAME.png)
    compared = 0
    for scene in read_official(many):
        reference = out / "single" / f"single-{scene.names[0]}.png"
        if scene.condition == SINGLE_FOLDER and reference.is_file():
            assert reference.read_bytes() == scene.image_path.read_bytes()
            compared += 1
    assert compared > 0


def test_the_same_seed_gives_the_same_official_layout(tmp_path):
    _, first = generate(tmp_path / "a", "comco", 4)
    _, second = generate(tmp_path / "b", "comco", 4)
    for folder in sorted(p.name for p in first.iterdir()):
        assert digests(first / folder) == digests(second / folder), folder


def test_write_official_used_only_keeps_the_scenes_given(tmp_path):
    from cliposcope.data.official import write_official
    from cliposcope.data.scenes import read_manifest

    out, _ = generate(tmp_path, "comco", 3)
    scenes = read_manifest(out)
    used = sorted({s.names[0] for s in scenes if s.condition == SINGLE_FOLDER})
    written = write_official(scenes, tmp_path / "used", singles="used")
    assert single_names(written) == used
    every = write_official(scenes, tmp_path / "every", singles="vocabulary")
    assert single_names(every) == sorted(sprite_names())
    with pytest.raises(ValueError, match="singles"):
        write_official(scenes, tmp_path / "bad", singles="some")
