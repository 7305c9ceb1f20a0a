"""Legacy IOR and I2TOR decide "the top-n names are the image's objects" as the published
image scripts do: the file name is split into its names ("hot-dog_cat.png" -> ["hot-dog",
"cat"]) and each top-n name must be one of them, whole. A substring test on the file name
(the text scripts' TOR rule) would find "dog" in "hot-dog_cat" and count a hit the
script does not. TOR's legacy rule stays the substring test.

Each image below holds a long name ("hot-dog") whose short name ("dog") is not in it; its
embedding is built so that its top-n gallery items are the short name and its other
objects. The script counts no such image as correct."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cliposcope.data.official import verbatim_name
from cliposcope.data.scene_sets import scene_set_from
from cliposcope.encoders.base import Encoder, EncoderInfo
from cliposcope.probes.ior import ImageRetrievalSettings, score_image_retrieval
from cliposcope.probes.registry import run_probe
from cliposcope.probes.retrieval import RetrievalTally

# (short, long): the short name is a substring of the long one, as the files spell them
NESTED = [("dog", "hot dog"), ("bear", "teddy bear"), ("car", "carrot")]
OTHERS = ["cat", "apple", "pizza"]


def published_topn_correct(top: list[str], stem: str) -> bool:
    """The published image script: the file name split on "_", exact membership."""
    return all(name in stem.split("_") for name in top)


class LookupEncoder(Encoder):
    """Every gallery name is a basis vector; an image's embedding is the sum of the basis
    vectors of the names its file stem maps to in ``looks_like`` (by default, its own
    names). Texts (the I2TOR gallery) are embedded as the same basis vectors."""

    def __init__(self, names: list[str], looks_like: dict[str, list[str]]):
        self.basis = {name: row for row, name in enumerate(names)}  # as the files spell it
        self.basis |= {name.replace("-", " "): row for row, name in enumerate(names)}
        self.looks_like = looks_like
        self.info = EncoderInfo(
            spec="fake:lookup",
            family="fake",
            name="lookup",
            weights_source="synthetic",
            weights_hash="none",
            embed_dim=len(names) + 1,
            towers=("text", "image"),
        )

    def _vector(self, names) -> np.ndarray:
        out = np.zeros(self.info.embed_dim)
        out[-1] = 1e-3  # never the zero vector
        for name in names:
            out[self.basis[name]] += 1.0
        return out

    def _encode_texts(self, texts, *, progress):
        return np.stack([self._vector([text]) for text in texts])

    def _encode_images(self, images, *, progress):
        rows = []
        for image in images:
            stem = Path(image).stem
            rows.append(self._vector(self.looks_like.get(stem, stem.split("_"))))
        return np.stack(rows)


def official_folder(root: Path, stems: list[str], singles: list[str]) -> Path:
    """A hand-made official layout: single/NAME.png and comco/STEM.png, each file's pixels
    its own (the encoder keys images by content)."""
    rng = np.random.default_rng(len(stems))
    for folder, files in (("single", singles), ("comco", stems)):
        (root / folder).mkdir(parents=True)
        for stem in files:
            pixels = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / folder / f"{stem}.png")
    return root


def nested_case(short: str, long: str, n: int) -> tuple[list[str], dict[str, list[str]]]:
    """Images holding ``long`` and n-1 others, and for each the names it looks like: the
    short name in place of the long one (so the short name is retrieved)."""
    spelt_short, spelt_long = verbatim_name(short), verbatim_name(long)
    stems, looks = [], {}
    for k in range(len(OTHERS) - n + 2):
        others = [verbatim_name(o) for o in (OTHERS * 2)[k : k + n - 1]]
        stem = "_".join([spelt_long, *others]) if k % 2 == 0 else "_".join([*others, spelt_long])
        stems.append(stem)
        looks[stem] = [spelt_short, *others]
    return stems, looks


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("probe", ["ior", "i2tor"])
@pytest.mark.parametrize(("short", "long"), NESTED, ids=[s for s, _ in NESTED])
def test_legacy_topn_is_exact_membership_of_the_file_names_parts(short, long, probe, n, tmp_path):
    stems, looks = nested_case(short, long, n)
    singles = sorted({verbatim_name(x) for x in [short, long, *OTHERS]})
    root = official_folder(tmp_path / "official", stems, singles)
    scene_set = scene_set_from(root, generate_into=tmp_path / "unused")
    gallery = [verbatim_name(name) for name in scene_set.names]
    encoder = LookupEncoder(gallery, looks)
    legacy = run_probe(probe, encoder, scene_set, ImageRetrievalSettings(legacy_quirks=True))
    # every image's top-n is {short, its others}: the substring test would count it
    assert all(published_topn_correct(looks[s], s) is False for s in stems)
    assert all(all(name in s for name in looks[s]) for s in stems)  # substring: a hit
    assert legacy.metrics["topn_accuracy"]["count"] == 0
    assert legacy.settings["legacy_topn_membership"] == "file-name list"
    exact = run_probe(probe, encoder, scene_set, ImageRetrievalSettings(legacy_quirks=False))
    assert exact.metrics["topn_accuracy"]["count"] == 0
    assert "legacy_topn_membership" not in exact.settings


@pytest.mark.parametrize("probe", ["ior", "i2tor"])
@pytest.mark.parametrize(("short", "long"), NESTED, ids=[s for s, _ in NESTED])
def test_legacy_topn_counts_an_image_that_holds_the_short_name(short, long, probe, tmp_path):
    """The control: where the image does hold the short name, the list test counts it."""
    stems = [f"{verbatim_name(short)}_cat", f"apple_{verbatim_name(long)}"]
    singles = sorted({verbatim_name(x) for x in [short, long, "cat", "apple"]})
    root = official_folder(tmp_path / "official", stems, singles)
    scene_set = scene_set_from(root, generate_into=tmp_path / "unused")
    encoder = LookupEncoder([verbatim_name(name) for name in scene_set.names], {})
    legacy = run_probe(probe, encoder, scene_set, ImageRetrievalSettings(legacy_quirks=True))
    assert legacy.metrics["topn_accuracy"]["count"] == 2


@pytest.mark.parametrize(("short", "long"), NESTED, ids=[s for s, _ in NESTED])
def test_score_image_retrieval_legacy_agrees_with_the_published_split(short, long):
    names = [verbatim_name(x) for x in [short, long, "cat", "apple"]]
    index = {name: i for i, name in enumerate(names)}
    rows = [[verbatim_name(long), "cat"], ["cat", verbatim_name(long)], ["apple", "cat"]]
    truth = np.array([[index[name] for name in row] for row in rows])
    similarity = np.full((3, 4), 0.1)
    similarity[0, [index[verbatim_name(short)], index["cat"]]] = [0.9, 0.8]  # short: absent
    similarity[1, [index["cat"], index[verbatim_name(long)]]] = [0.9, 0.8]  # correct
    similarity[2, [index[verbatim_name(short)], index["apple"]]] = [0.9, 0.8]  # short: absent
    roles = [["unknown", "unknown"]] * 3
    metrics, columns = score_image_retrieval(similarity, truth, roles, names, legacy=True)
    stems = ["_".join(row) for row in rows]
    tops = [[names[g] for g in np.argsort(row)[-2:]] for row in similarity]
    expected = [published_topn_correct(top, stem) for top, stem in zip(tops, stems, strict=True)]
    assert expected == [False, True, False]
    assert columns["topn_correct"] == expected
    assert metrics["topn_accuracy"]["count"] == 1


@pytest.mark.parametrize(("short", "long"), NESTED, ids=[s for s, _ in NESTED])
def test_tor_keeps_the_text_scripts_substring_rule(short, long):
    """TOR's legacy rule is the published text script's: a substring of the caption."""
    from cliposcope.probes.retrieval import listed_topn_correct

    names = [short, long, "cat"]
    caption = f"{long} and cat"
    similarity = np.array([[0.9, 0.1, 0.8]])  # top-2: the short name (absent) and cat
    truth = np.array([[1, 2]])
    tally = RetrievalTally(2, 3, legacy=True)
    outcomes = tally.update(similarity, truth, [caption], names)
    assert outcomes.topn_correct.tolist() == [True]  # "dog" in "hot dog and cat", as published
    listed = listed_topn_correct(outcomes.top_n, [[long, "cat"]], names)
    assert listed.tolist() == [False]


def test_an_unknown_membership_rule_is_refused():
    with pytest.raises(ValueError, match="membership"):
        RetrievalTally(2, 3, legacy=True, membership="regex")
