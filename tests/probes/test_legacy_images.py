"""`run paper --legacy-quirks` on the image probes, against the published loop written out
plainly: names verbatim from the official file names (split on "_", hyphens kept), the
top-n list in ascending score order, top-n membership as a substring of the file name."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cliposcope.app.cli import main
from cliposcope.encoders import load_encoder

MODEL = "openclip:cliposcope-tiny?seed=0"
NAMES = ["hot-dog", "cat", "dog", "car", "carrot", "teddy-bear"]  # as the files spell them
STEMS = [
    "hot-dog_cat_dog",
    "car_carrot_cat",
    "teddy-bear_dog_car",
    "carrot_hot-dog_teddy-bear",
    "cat_car_dog",
    "dog_teddy-bear_hot-dog",
]


@pytest.fixture(scope="module")
def official(tmp_path_factory) -> Path:
    """A hand-made official-layout folder: one condition, one single-object folder."""
    root = tmp_path_factory.mktemp("official")
    rng = np.random.default_rng(0)
    for folder, stems in (("single", NAMES), ("comco_3obj", STEMS)):
        (root / folder).mkdir()
        for stem in stems:
            pixels = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / folder / f"{stem}.png")
    return root


def published_loop(similarity: np.ndarray, stems: list[str], names: list[str], n: int) -> dict:
    """The published image scripts, per query: ascending top-n names, substring membership
    on the file name, and AP, NDCG, P@k, R@k over that ascending list."""
    out = {
        "topn_correct": 0,
        "uncond": [0] * n,
        "cond": [0] * n,
        "ap": 0.0,
        "ndcg": 0.0,
        **{f"p@{k}": 0.0 for k in range(1, n + 1)},
        **{f"r@{k}": 0.0 for k in range(1, n + 1)},
    }
    for row, stem in zip(similarity, stems, strict=True):
        objects = stem.split("_")
        top = [names[i] for i in np.argsort(row)[-n:]]  # ascending, as published
        best = names[int(np.argmax(row))]
        if best in objects:
            out["uncond"][objects.index(best)] += 1
        if all(name in objects for name in top):  # the IOR script: the list of names
            out["topn_correct"] += 1
            if best in objects:
                out["cond"][objects.index(best)] += 1
        hits, precision_sum, dcg = 0, 0.0, 0.0
        for i, name in enumerate(top):
            if name in objects:
                hits += 1
                precision_sum += hits / (i + 1)
                dcg += 1 / np.log2(i + 2)
            out[f"p@{i + 1}"] += hits / (i + 1)
            out[f"r@{i + 1}"] += hits / n
        out["ap"] += precision_sum / n
        ideal = sum(1 / np.log2(i + 2) for i in range(hits))
        out["ndcg"] += dcg / ideal if ideal else 0.0
    return out


@pytest.fixture(scope="module")
def legacy_run(official, tmp_path_factory):
    out = tmp_path_factory.mktemp("legacy")
    argv = [
        "run",
        "paper",
        "--model",
        MODEL,
        "--scenes",
        str(official),
        "--position",
        "1",
        "--no-cache",
        "--quiet",
        "--out",
        str(out),
    ]
    assert main([*argv, "--legacy-quirks"]) == 0
    exact = tmp_path_factory.mktemp("exact")
    assert main([*argv[:-1], str(exact)]) == 0
    return out, exact


def result(folder: Path, probe: str) -> dict:
    (path,) = folder.glob(f"{probe}_*.json")
    return json.loads(path.read_text())


@pytest.mark.slow
@pytest.mark.parametrize("probe", ["ior", "i2tor"])
def test_legacy_ranking_figures_equal_the_published_loop(probe, official, legacy_run):
    out, exact = legacy_run
    encoder = load_encoder(MODEL, device="cpu")
    stems = sorted(p.stem for p in (official / "comco_3obj").glob("*.png"))
    queries = encoder.encode_images([official / "comco_3obj" / f"{s}.png" for s in stems])
    if probe == "ior":
        gallery = encoder.encode_images([official / "single" / f"{n}.png" for n in NAMES])
    else:  # the names as the files spell them, hyphen included
        gallery = encoder.encode_text(NAMES)
    names_in_set = result(out, probe)["metrics"]
    reference = published_loop(queries @ gallery.T, stems, NAMES, 3)
    m = names_in_set
    assert result(out, probe)["settings"]["legacy_quirks"] is True
    assert m["topn_accuracy"]["count"] == reference["topn_correct"]
    assert [f["count"] for f in m["per_position_unconditional"]] == reference["uncond"]
    assert [f["count"] for f in m["per_position_conditional"]] == reference["cond"]
    for key in ("ap", "ndcg", "p@1", "p@2", "p@3", "r@1", "r@2", "r@3"):
        assert m[key]["estimate"] == pytest.approx(reference[key] / len(stems), abs=1e-6), key
    corrected = result(exact, probe)["metrics"]
    assert result(exact, probe)["settings"]["legacy_quirks"] is False
    assert corrected["p@1"]["estimate"] != pytest.approx(m["p@1"]["estimate"])


def test_legacy_matching_builds_captions_from_the_file_names(official, legacy_run, tmp_path):
    from cliposcope.data.scene_sets import scene_set_from
    from cliposcope.encoders.base import ForwardingEncoder
    from cliposcope.probes.matching import MatchingSettings
    from cliposcope.probes.registry import run_probe

    class Recording(ForwardingEncoder):
        def __init__(self, wrapped):
            self.wrapped, self.info, self.texts = wrapped, wrapped.info, []

        def encode_text(self, texts, **options):
            self.texts += list(texts)
            return self.wrapped.encode_text(texts, **options)

        def encode_images(self, images, **options):
            return self.wrapped.encode_images(images, **options)

    scenes = scene_set_from(official, generate_into=tmp_path / "unused")
    for legacy, spelt, not_spelt in (
        (True, "hot-dog and", "hot dog"),
        (False, "hot dog and", "hot-dog"),
    ):
        encoder = Recording(load_encoder(MODEL, device="cpu"))
        run_probe("matching", encoder, scenes, MatchingSettings(1, legacy_quirks=legacy))
        assert any(text.startswith(spelt) for text in encoder.texts)
        assert not any(not_spelt in text for text in encoder.texts)
    out, exact = legacy_run
    assert result(out, "matching")["settings"]["legacy_quirks"] is True
    assert result(exact, "matching")["settings"]["legacy_quirks"] is False
    tor = result(out, "tor")
    assert tor["settings"]["protocol"] == "paper" and tor["settings"]["legacy_quirks"] is True
