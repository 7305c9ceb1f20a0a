"""The t2i probe end to end with the real libraries, offline: a tiny random Stable
Diffusion pipeline assembled here (UNet, VAE, CLIP text model, tokenizer files written by
the test), torchvision detectors with random weights, a tiny random OWL-ViT, and the
clip: fallback on the shipped toy model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.model_factories import save_tiny_owlvit, save_tiny_stable_diffusion

from cliposcope.app.cli import main
from cliposcope.generation.base import DetectorOptions, GenerationOptions, Request
from cliposcope.generation.registry import load_detector, load_generator
from cliposcope.generation.store import ImageStore
from cliposcope.report.html import build_report

pytest.importorskip("diffusers")
LIGHT_DETECTOR = "torchvision:fasterrcnn_mobilenet_v3_large_320_fpn?weights=none"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> Path:
    return save_tiny_stable_diffusion(tmp_path_factory.mktemp("tiny-sd"))


@pytest.mark.slow
def test_the_tiny_pipeline_draws_the_same_image_for_a_prompt_and_seed(pipeline):
    options = GenerationOptions(device="cpu", steps=2, resolution=32, batch_size=2)
    generator = load_generator(f"diffusers:{pipeline}", options)
    a, b, c = generator.generate(
        [
            Request("a photo of a dog", ("dog",), 7),
            Request("a photo of a cat", ("cat",), 7),
            Request("a photo of a dog", ("dog",), 8),
        ]
    )
    (alone,) = generator.generate([Request("a photo of a dog", ("dog",), 7)])
    assert a.image.size == (32, 32) and a.truth is None
    assert a.image.tobytes() == alone.image.tobytes()  # the same noise in or out of a batch
    assert a.image.tobytes() != c.image.tobytes()  # another seed
    assert a.image.tobytes() != b.image.tobytes()  # another prompt
    assert generator.info["weights_hash"].startswith("sha256:")
    assert generator.info["settings"]["steps"] == 2
    other = load_generator(
        f"diffusers:{pipeline}", GenerationOptions(device="cpu", steps=3, resolution=32)
    )
    assert other.fingerprint != generator.fingerprint  # steps change the images


@pytest.mark.slow
def test_run_t2i_with_diffusers_and_a_torchvision_detector_end_to_end(pipeline, tmp_path, capsys):
    out = tmp_path / "results"
    argv = [
        "run",
        "t2i",
        "--generator",
        f"diffusers:{pipeline}",
        "--detector",
        LIGHT_DETECTOR,
        "--n",
        "2",
        "--combinations",
        "2",
        "--seeds-per-prompt",
        "2",
        "--steps",
        "2",
        "--resolution",
        "48",
        "--device",
        "cpu",
        "--out",
        str(out),
        "--quiet",
    ]
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert "First named %" in table and f"diffusers:{pipeline}" in table
    (path,) = out.glob("t2i_*.json")
    result = json.loads(path.read_text())
    m = result["metrics"]
    assert m["images"] == 2 * 2 * 2 and len(m["presence_by_position"]) == 2
    assert result["model"]["family"] == "diffusers"
    assert result["provenance"]["detector"]["weights"] == "none"
    assert {"diffusers", "transformers", "torchvision", "torch"} <= set(
        result["provenance"]["library_versions"]
    )
    counts = result["provenance"]["counts"]
    assert counts["images_generated"] == counts["images"] == 8 + 12 * 2  # balanced + alone
    thumbnails = sorted((out / "t2i-examples").glob("*/*.png"))
    assert len(thumbnails) == 4  # one per balanced prompt
    report = build_report(out)
    html = report.read_text()
    assert "Text-to-image generation" in html and html.count("data:image/png") >= 5
    assert main(argv) == 0  # the same experiment again: skipped
    assert "skipped:" in capsys.readouterr().err
    assert main([*argv, "--overwrite"]) == 0  # recomputed from the image store: no drawing
    capsys.readouterr()
    rerun = json.loads(path.read_text())
    assert rerun["provenance"]["counts"]["images_generated"] == 0
    assert rerun["metrics"] == result["metrics"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fasterrcnn_resnet50_fpn_v2", "ssdlite320_mobilenet_v3_large"])
def test_torchvision_detectors_report_coco_labels_with_boxes(name, tmp_path):
    store = ImageStore(tmp_path)
    from PIL import Image

    from cliposcope.generation.base import Drawn

    stored = store.save_image(
        "a" * 64, Request("p", ("dog",), 0), Drawn(Image.new("RGB", (64, 48), (120, 60, 30))), {}
    )
    detector = load_detector(f"torchvision:{name}?weights=none", DetectorOptions(device="cpu"))
    assert "dog" in detector.labels and "N/A" not in detector.labels and len(detector.labels) == 80
    (found,) = detector.detect([stored], ["dog", "cat"])
    for detection in found:
        assert detection.label in ("dog", "cat") and detection.score >= 0.05
        x0, y0, x1, y1 = detection.box
        assert 0 <= x0 <= x1 <= 64 and 0 <= y0 <= y1 <= 48


def test_an_open_vocabulary_detector_from_a_local_folder(tmp_path):
    from PIL import Image

    from cliposcope.generation.base import Drawn

    folder = save_tiny_owlvit(tmp_path / "owl")
    store = ImageStore(tmp_path / "store")
    stored = [
        store.save_image(
            k * 64, Request("p", ("dog",), 0), Drawn(Image.new("RGB", (40, 30), colour)), {}
        )
        for k, colour in (("b", (200, 0, 0)), ("c", (0, 0, 200)))
    ]
    detector = load_detector(f"hf:{folder}", DetectorOptions(device="cpu"))
    assert detector.labels is None  # open vocabulary: any object name
    found = detector.detect(stored, ["dog", "teddy bear"])
    assert len(found) == 2 and all(found)
    for detections in found:
        for detection in detections:
            assert detection.label in ("dog", "teddy bear")
            assert 0.0 <= detection.score <= 1.0 and len(detection.box) == 4


def test_detections_map_torchvision_indices_to_coco_names_above_the_floor(tmp_path):
    import torch
    from PIL import Image

    from cliposcope.generation.base import Drawn

    detector = load_detector(f"{LIGHT_DETECTOR}", DetectorOptions(device="cpu"))
    store = ImageStore(tmp_path)
    stored = store.save_image(
        "d" * 64, Request("p", ("dog",), 0), Drawn(Image.new("RGB", (20, 20))), {}
    )
    # torchvision's COCO indices: 1 person, 17 cat, 18 dog (12 is an unused "N/A")
    detector.model = lambda images: [
        {
            "boxes": torch.tensor([[1.0, 2, 3, 4], [0, 0, 5, 5], [2, 2, 9, 9], [0, 0, 1, 1]]),
            "labels": torch.tensor([18, 17, 1, 12]),
            "scores": torch.tensor([0.9, 0.03, 0.8, 0.99]),
        }
    ]
    ((only,),) = detector.detect([stored], ["dog", "cat"])
    assert only.label == "dog" and only.score == pytest.approx(0.9) and only.box == (1, 2, 3, 4)


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="no CUDA GPU here")
def test_the_tiny_pipeline_runs_on_cuda_in_half_precision(pipeline, tmp_path):
    import time

    options = GenerationOptions(
        device="cuda", precision="fp16", steps=2, resolution=64, batch_size=4
    )
    generator = load_generator(f"diffusers:{pipeline}", options)
    started = time.perf_counter()
    drawn = generator.generate([Request(f"a photo of a dog {k}", ("dog",), k) for k in range(8)])
    print(f"tiny pipeline on {generator.device}: {time.perf_counter() - started:.2f} s / 8 images")
    assert [d.image.size for d in drawn] == [(64, 64)] * 8
    assert generator.identity["device"] == "cuda"
