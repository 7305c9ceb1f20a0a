"""Bad input through the real command line: every case exits 2 with exactly one line on
stderr that starts with ``error:`` and names the offending value, shows no traceback, and
leaves no new file behind (in the output folder or anywhere else under the test folder).

The inputs (broken files, datasets with holes, hostile manifests) are built once in a
read-only "world" folder; each case gets a fresh output folder {o} beside it.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from cliposcope.app.cli import main
from cliposcope.results import ProbeResult

TINY = "openclip:cliposcope-tiny"
SEEDED = f"{TINY}?seed=0"  # random weights, asked for
RUN = ["--no-cache", "--quiet"]
T2I = ["run", "t2i", "--out", "{o}", "--quiet", "--generator"]
SSDLITE = "torchvision:ssdlite320_mobilenet_v3_large?weights=none"


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """Every input the cases point at."""
    w = tmp_path_factory.mktemp("world")
    (w / "texts.txt").write_text("apple and pizza\na dog\n")
    (w / "empty_line.txt").write_text("apple\n\npizza\n")
    (w / "latin1.txt").write_bytes(b"caf\xe9 and pizza\n")
    (w / "empty.txt").write_text("")
    (w / "afile.txt").write_text("I am a file\n")
    (w / "vocab_latin1.txt").write_bytes(b"dog\ncaf\xe9\n")
    (w / "vocab_one.txt").write_text("dog\n")
    (w / "vocab_dup.txt").write_text("dog\ncat\ndog\n")
    (w / "vocab_unknown.txt").write_text("dog\nunicornzz\n")
    (w / "vocab_bad.json").write_text("{not json")
    (w / "template_two.txt").write_text("{1} next to {2}\n")
    (w / "t2i_unknown.txt").write_text("dog\nbus\nunicornzz\n")
    (w / "t2i_not_coco.txt").write_text("dog\nbus\nstreet sign\n")
    (w / "t2i_two.txt").write_text("dog\nbus\n")
    (w / "images_empty").mkdir()
    (w / "images_corrupt").mkdir()
    (w / "images_corrupt" / "bad.png").write_bytes(b"\x89PNG garbage")
    assert (
        main(
            [
                "generate",
                "comco",
                "--objects",
                "3",
                "--count",
                "4",
                "--seed",
                "3",
                "--out",
                str(w / "scenes"),
                "--official-layout",
                str(w / "official"),
                "--quiet",
            ]
        )
        == 0
    )
    shutil.copytree(w / "official", w / "official_nosingle")
    shutil.rmtree(w / "official_nosingle" / "single")
    # an official set whose images hold every gallery object: no distractor exists
    closed = w / "official_closed"
    (closed / "scenes").mkdir(parents=True)
    (closed / "single").mkdir()
    some = sorted((w / "official" / "single").glob("*.png"))[0]
    for names in ("dog_cat_car",):
        shutil.copy(some, closed / "scenes" / f"{names}.png")
    for name in ("dog", "cat", "car"):
        shutil.copy(some, closed / "single" / f"{name}.png")
    (w / "official_empty").mkdir()
    for name, image in (("traversal", "../../../../etc/hostname"), ("absolute", "/etc/hostname")):
        folder = w / name
        folder.mkdir()
        record = {
            "id": "0",
            "image": image,
            "objects": [{"name": "dog", "role": "large"}],
            "caption": "dog",
            "condition": "c",
        }
        (folder / "manifest.jsonl").write_text(json.dumps(record) + "\n")
    (w / "corrupt_manifest").mkdir()
    (w / "corrupt_manifest" / "manifest.jsonl").write_text("not json at all\n")
    # results folders
    result = ProbeResult(
        probe="other", role="model", model={"spec": "x:y"}, settings={}, metrics={}, provenance={}
    )
    (w / "results").mkdir()
    result.save(w / "results" / "r.json")
    (w / "results" / "corrupt.json").write_text("{not json")
    (w / "results" / "list.json").write_text("[1, 2]")
    (w / "report_empty").mkdir()
    for name in ("report_progression", "report_traversal", "report_symlink"):
        (w / name).mkdir()
        result.save(w / name / "r.json")
    (w / "report_progression" / "progression.json").write_text("{]")
    (w / "report_traversal" / "scenes").mkdir()
    shutil.copy(w / "traversal" / "manifest.jsonl", w / "report_traversal" / "scenes")
    (w / "secret.png").write_bytes((w / "official" / "single" / some.name).read_bytes())
    share = {"estimate": 0.5, "ci95": [0.4, 0.6]}
    attention = ProbeResult(
        probe="attention",
        role="model",
        model={"spec": "x:y"},
        settings={"layer": -1, "n": 3},
        metrics={
            "mean_share_by_role": {"large": share},
            "share_per_unit_area_by_role": {},
            "mean_share_by_position": {},
            "grid": [2, 2],
        },
        provenance={},
    )
    attention.save(w / "report_symlink" / "attention.json")
    (w / "report_symlink" / "overlays" / "model").mkdir(parents=True)
    os.symlink(w / "secret.png", w / "report_symlink" / "overlays" / "model" / "x.png")
    # weights
    from cliposcope.encoders import load_encoder

    tiny = load_encoder(f"{TINY}?seed=0")
    state = tiny.model.state_dict()
    torch.save(state, w / "good.pt")
    (w / "truncated.pt").write_bytes((w / "good.pt").read_bytes()[:300])
    (w / "notweights.pt").write_text("hello")
    broken = {k: v.clone() for k, v in state.items()}
    broken["logit_scale"] = torch.tensor(float("nan"))
    torch.save(broken, w / "nan.pt")
    torch.save({"samples": 1}, w / "no_state.pt")
    (w / "local_noweights").mkdir()
    (w / "local_noweights" / "open_clip_config.json").write_text(json.dumps({"model_cfg": {}}))
    (w / "notarun").mkdir()
    (w / "out_with_other_scenes" / "scenes").mkdir(parents=True)
    shutil.copytree(w / "scenes", w / "out_with_other_scenes" / "scenes", dirs_exist_ok=True)
    # caption corpora
    (w / "corpus_ok.jsonl").write_text('{"caption": "a dog and a cat"}\n')
    row = {"caption": "a dog and a cat", "objects": ["dog"], "areas": [1, 2]}
    (w / "corpus_mismatch.jsonl").write_text(json.dumps(row) + "\n")
    coco_images = [{"id": 1, "file_name": "1.jpg", "width": 9, "height": 9}]
    (w / "captions.json").write_text(
        json.dumps(
            {"images": coco_images, "annotations": [{"id": 1, "image_id": 1, "caption": "a dog"}]}
        )
    )
    (w / "instances.json").write_text(
        json.dumps(
            {
                "images": coco_images,
                "annotations": [
                    {"id": 1, "image_id": 1, "category_id": 18, "area": 5, "iscrowd": 0}
                ],
                "categories": [{"id": 18, "name": "dog"}],
            }
        )
    )
    (w / "notjson.json").write_text("{oops")
    duplicated = [{"id": 7, "image_id": 1, "caption": "a dog"}] * 2
    (w / "captions_dup.json").write_text(
        json.dumps({"images": coco_images, "annotations": duplicated})
    )
    (w / "captions_noid.json").write_text(
        json.dumps({"images": [{"file_name": "1.jpg"}], "annotations": []})
    )
    (w / "captions_taken.json").write_text("{}")
    (w / "nonempty").mkdir()
    (w / "nonempty" / "keep.txt").write_text("x")
    return w


# (argv, the value the one-line error must name). {w}: the world folder; {o}: a fresh,
# not yet existing output folder.
CASES = [
    # --- model specs -------------------------------------------------------------------
    (["run", "tor", "--model", "bad-spec", "--out", "{o}", *RUN], "bad-spec"),
    (["run", "tor", "--model", "torch:thing", "--out", "{o}", *RUN], "'torch'"),
    (["run", "tor", "--model", "hf:", "--out", "{o}", *RUN], "hf:"),
    (["run", "tor", "--model", f"{TINY}?seed", "--out", "{o}", *RUN], "'seed'"),
    (["run", "tor", "--model", f"{TINY}?foo=1", "--out", "{o}", *RUN], "foo"),
    (["run", "tor", "--model", "toy:default?seed=1", "--out", "{o}", *RUN], "seed"),
    (["run", "tor", "--model", f"{TINY}?fast=maybe", "--out", "{o}", *RUN], "maybe"),
    (["run", "tor", "--model", f"{TINY}?seed=x", "--out", "{o}", *RUN], "seed=x"),
    (["run", "tor", "--model", "openclip:ViT-B-33", "--out", "{o}", *RUN], "ViT-B-33"),
    (["run", "tor", "--model", "openclip:ViT-B-32/nope", "--out", "{o}", *RUN], "nope"),
    (["run", "tor", "--model", f"{TINY}/no/such.pt", "--out", "{o}", *RUN], "such.pt"),
    (["run", "tor", "--model", "st:/no/such/model", "--out", "{o}", *RUN], "/no/such/model"),
    (["run", "tor", "--model", "hf:/no/such/model", "--out", "{o}", *RUN], "/no/such/model"),
    (
        ["run", "tor", "--model", "openclip:local-dir:/nonexistent", "--out", "{o}", *RUN],
        "/nonexistent",
    ),
    (
        ["run", "tor", "--model", "openclip:local-dir:{w}/local_noweights", "--out", "{o}", *RUN],
        "local_noweights",
    ),
    (
        ["run", "tor", "--model", f"{TINY}/{{w}}/truncated.pt", "--out", "{o}", *RUN],
        "truncated.pt",
    ),
    (
        ["run", "tor", "--model", f"{TINY}/{{w}}/notweights.pt", "--out", "{o}", *RUN],
        "notweights.pt",
    ),
    (["run", "tor", "--model", f"{TINY}/{{w}}/nan.pt", "--out", "{o}", *RUN], "logit_scale"),
    (["run", "tor", "--model", f"{TINY}/{{w}}/no_state.pt", "--out", "{o}", *RUN], "no_state"),
    (["run", "tor", "--model", "toy:/no/such.pt", "--out", "{o}", *RUN], "/no/such.pt"),
    (["run", "tor", "--model", "toy:nope", "--out", "{o}", *RUN], "nope"),
    # --- run options shared by every probe ---------------------------------------------
    (["run", "tor", "--model", SEEDED, "--seed", "-1", "--out", "{o}", *RUN], "-1"),
    (["run", "tor", "--model", SEEDED, "--device", "gpu", "--out", "{o}", *RUN], "gpu"),
    (["run", "tor", "--model", SEEDED, "--device", "cuda:x", "--out", "{o}", *RUN], "cuda:x"),
    (["run", "tor", "--model", SEEDED, "--precision", "fp8", "--out", "{o}", *RUN], "fp8"),
    (["run", "tor", "--model", SEEDED, "--batch-size", "0", "--out", "{o}", *RUN], "0"),
    (["run", "tor", "--model", SEEDED, "--batch-size", "-4", "--out", "{o}", *RUN], "-4"),
    (["run", "tor", "--model", SEEDED, "--batch-size", "x", "--out", "{o}", *RUN], "'x'"),
    (["run", "tor", "--model", SEEDED, "--null", "bogus", "--out", "{o}", *RUN], "bogus"),
    (["run", "tor", "--model", SEEDED, "--out", "{w}/afile.txt", *RUN], "afile.txt"),
    (["run", "tor", "--model", SEEDED, "--out", "{w}/afile.txt/sub", *RUN], "afile.txt"),
    (["run", "tor", "--model", SEEDED, "--out", "/proc/cliposcope-out", *RUN], "/proc"),
    (
        [
            "run",
            "tor",
            "--model",
            SEEDED,
            "--cache-dir",
            "{w}/afile.txt",
            "--out",
            "{o}",
            "--quiet",
        ],
        "afile.txt",
    ),
    (
        ["run", "tor", "--model", SEEDED, "--cache-dir", "/proc/cache", "--out", "{o}", "--quiet"],
        "/proc/cache",
    ),
    (["run", "tor", "--model", SEEDED, "--nonsense", "--out", "{o}", *RUN], "--nonsense"),
    (["run", "tor", "--out", "{o}", *RUN], "--model"),
    (["run", "nope", "--model", SEEDED], "nope"),
    (["nope"], "nope"),
    (
        [
            "run",
            "tor",
            "--model",
            "st:all-MiniLM-L6-v2",
            "--null",
            "random-init",
            "--out",
            "{o}",
            *RUN,
        ],
        "st:all-MiniLM-L6-v2",
    ),
    # --- TOR ---------------------------------------------------------------------------
    (["run", "tor", "--model", SEEDED, "--n", "1", "--out", "{o}", *RUN], "--n 1"),
    (["run", "tor", "--model", SEEDED, "--n", "9", "--out", "{o}", *RUN], "--n 9"),
    (["run", "tor", "--model", SEEDED, "--n", "x", "--out", "{o}", *RUN], "'x'"),
    (["run", "tor", "--model", SEEDED, "--protocol", "nope", "--out", "{o}", *RUN], "nope"),
    (["run", "tor", "--model", SEEDED, "--legacy-quirks", "--out", "{o}", *RUN], "--legacy-quirks"),
    (
        [
            "run",
            "tor",
            "--model",
            SEEDED,
            "--protocol",
            "paper",
            "--all-orders",
            "--out",
            "{o}",
            *RUN,
        ],
        "--all-orders",
    ),
    (["run", "tor", "--model", SEEDED, "--vocab", "nope", "--out", "{o}", *RUN], "nope"),
    (
        ["run", "tor", "--model", SEEDED, "--vocab", "{w}/vocab_latin1.txt", "--out", "{o}", *RUN],
        "vocab_latin1.txt",
    ),
    (
        ["run", "tor", "--model", SEEDED, "--vocab", "{w}/vocab_one.txt", "--out", "{o}", *RUN],
        "vocab_one.txt",
    ),
    (
        ["run", "tor", "--model", SEEDED, "--vocab", "{w}/vocab_dup.txt", "--out", "{o}", *RUN],
        "'dog'",
    ),
    (
        ["run", "tor", "--model", SEEDED, "--vocab", "{w}/vocab_bad.json", "--out", "{o}", *RUN],
        "vocab_bad.json",
    ),
    (
        [
            "run",
            "tor",
            "--model",
            SEEDED,
            "--vocab",
            "{w}/vocab_one.txt",
            "--n",
            "2",
            "--out",
            "{o}",
            *RUN,
        ],
        "vocab_one.txt",
    ),
    (["run", "tor", "--model", SEEDED, "--template", "{1} only", "--out", "{o}", *RUN], "{1} only"),
    (["run", "tor", "--model", SEEDED, "--template", "nope", "--out", "{o}", *RUN], "nope"),
    (
        [
            "run",
            "tor",
            "--model",
            SEEDED,
            "--template",
            "{w}/template_two.txt",
            "--n",
            "3",
            "--out",
            "{o}",
            *RUN,
        ],
        "template_two.txt",
    ),
    (["run", "tor", "--model", SEEDED, "--sample", "0", "--out", "{o}", *RUN], "--sample 0"),
    (["run", "tor", "--model", SEEDED, "--sample", "-5", "--out", "{o}", *RUN], "--sample -5"),
    (["run", "tor", "--model", SEEDED, "--filler", "", "--out", "{o}", *RUN], "--filler ''"),
    (["run", "tor", "--model", SEEDED, "--filler", "   ", "--out", "{o}", *RUN], "--filler '   '"),
    (["run", "tor", "--model", SEEDED, "--gallery", "nope", "--out", "{o}", *RUN], "nope"),
    # --- TOC and size-first ------------------------------------------------------------
    (["run", "toc", "--model", SEEDED, "--null", "sum", "--out", "{o}", *RUN], "sum"),
    (["run", "toc", "--model", SEEDED, "--n", "1", "--out", "{o}", *RUN], "--n 1"),
    (["run", "toc", "--model", SEEDED, "--n", "9", "--out", "{o}", *RUN], "--n 9"),
    (["run", "toc", "--model", SEEDED, "--per-class", "5", "--out", "{o}", *RUN], "--per-class 5"),
    (["run", "toc", "--model", SEEDED, "--epochs", "0", "--out", "{o}", *RUN], "--epochs 0"),
    (["run", "toc", "--model", SEEDED, "--target", "nope", "--out", "{o}", *RUN], "nope"),
    (["run", "toc", "--model", SEEDED, "--vocab", "nope", "--out", "{o}", *RUN], "nope"),
    (["run", "toc", "--model", SEEDED, "--colours", "nope", "--out", "{o}", *RUN], "nope"),
    (["run", "toc", "--model", SEEDED, "--seed", "-2", "--out", "{o}", *RUN], "-2"),
    (
        ["run", "size-first", "--model", SEEDED, "--per-first-object", "0", "--out", "{o}", *RUN],
        "--per-first-object 0",
    ),
    (
        ["run", "size-first", "--model", SEEDED, "--per-first-object", "-2", "--out", "{o}", *RUN],
        "--per-first-object -2",
    ),
    (
        ["run", "size-first", "--model", SEEDED, "--template", "{1} and {2}", "--out", "{o}", *RUN],
        "{1} and {2}",
    ),
    (["run", "size-first", "--model", SEEDED, "--null", "sum", "--out", "{o}", *RUN], "sum"),
    # --- image probes and the battery --------------------------------------------------
    (
        ["run", "ior", "--model", SEEDED, "--scenes", "/no/scenes", "--out", "{o}", *RUN],
        "/no/scenes",
    ),
    (
        [
            "run",
            "ior",
            "--model",
            SEEDED,
            "--scenes",
            "{w}/official_nosingle",
            "--out",
            "{o}",
            *RUN,
        ],
        "single",
    ),
    (
        ["run", "ior", "--model", SEEDED, "--scenes", "{w}/official_empty", "--out", "{o}", *RUN],
        "official_empty",
    ),
    (
        [
            "run",
            "matching",
            "--model",
            SEEDED,
            "--scenes",
            "{w}/official_closed",
            "--position",
            "1",
            "--out",
            "{o}",
            *RUN,
        ],
        "distractor",
    ),
    (
        ["run", "matching", "--model", SEEDED, "--scenes", "{w}/official", "--out", "{o}", *RUN],
        "large",
    ),
    (
        ["run", "ior", "--model", SEEDED, "--scenes", "{w}/traversal", "--out", "{o}", *RUN],
        "etc/hostname",
    ),
    (
        ["run", "ior", "--model", SEEDED, "--scenes", "{w}/absolute", "--out", "{o}", *RUN],
        "/etc/hostname",
    ),
    (
        ["run", "ior", "--model", SEEDED, "--scenes", "{w}/corrupt_manifest", "--out", "{o}", *RUN],
        "manifest.jsonl",
    ),
    (["run", "ior", "--model", SEEDED, "--objects", "0", "--out", "{o}", *RUN], "--objects 0"),
    (["run", "ior", "--model", SEEDED, "--objects", "9", "--out", "{o}", *RUN], "--objects 9"),
    (
        [
            "run",
            "ior",
            "--model",
            SEEDED,
            "--scenes",
            "{w}/scenes",
            "--objects",
            "4",
            "--out",
            "{o}",
            *RUN,
        ],
        "4 objects",
    ),
    (["run", "ior", "--model", SEEDED, "--count", "0", "--out", "{o}", *RUN], "--count 0"),
    (["run", "ior", "--model", SEEDED, "--kind", "nope", "--out", "{o}", *RUN], "nope"),
    (
        [
            "run",
            "ior",
            "--model",
            "st:all-MiniLM-L6-v2",
            "--scenes",
            "{w}/scenes",
            "--out",
            "{o}",
            *RUN,
        ],
        "st:all-MiniLM-L6-v2",
    ),
    (
        [
            "run",
            "attention",
            "--model",
            SEEDED,
            "--scenes",
            "{w}/scenes",
            "--layer",
            "99",
            "--out",
            "{o}",
            *RUN,
        ],
        "layer 99",
    ),
    (
        ["run", "attention", "--model", SEEDED, "--overlays", "-1", "--out", "{o}", *RUN],
        "--overlays -1",
    ),
    (
        ["run", "matching", "--model", SEEDED, "--position", "0", "--out", "{o}", *RUN],
        "--position 0",
    ),
    (
        ["run", "matching", "--model", SEEDED, "--position", "-1", "--out", "{o}", *RUN],
        "--position -1",
    ),
    (["run", "ioc", "--model", SEEDED, "--epochs", "0", "--out", "{o}", *RUN], "--epochs 0"),
    (
        ["run", "paper", "--model", SEEDED, "--tor-sample", "0", "--out", "{o}", *RUN],
        "--tor-sample 0",
    ),
    (["run", "paper", "--model", SEEDED, "--seed", "-1", "--out", "{o}", *RUN], "-1"),
    (["run", "paper", "--model", SEEDED, "--null", "sum", "--out", "{o}", *RUN], "sum"),
    (
        ["run", "paper", "--model", SEEDED, "--position", "0", "--out", "{o}", *RUN],
        "--position 0",
    ),
    (
        [
            "run",
            "paper",
            "--model",
            SEEDED,
            "--count",
            "5",
            "--out",
            "{w}/out_with_other_scenes",
            *RUN,
        ],
        "count: 4 there, 5 asked",
    ),
    # --- generate ----------------------------------------------------------------------
    (["generate", "comco", "--objects", "0", "--out", "{o}", "--quiet"], "--objects 0"),
    (["generate", "comco", "--objects", "9", "--out", "{o}", "--quiet"], "--objects 9"),
    (["generate", "comco", "--count", "0", "--out", "{o}", "--quiet"], "--count 0"),
    (["generate", "comco", "--count", "-3", "--out", "{o}", "--quiet"], "--count -3"),
    (["generate", "comco", "--size", "10", "--out", "{o}", "--quiet"], "--size 10"),
    (["generate", "comco", "--size", "5000", "--out", "{o}", "--quiet"], "--size 5000"),
    (["generate", "comco", "--seed", "-1", "--out", "{o}", "--quiet"], "--seed -1"),
    (["generate", "comco", "--gap", "-5", "--out", "{o}", "--quiet"], "--gap -5"),
    (["generate", "comco", "--order", "large-first:2", "--out", "{o}", "--quiet"], "large-first:2"),
    (
        ["generate", "comco", "--coco-json", "{w}/afile.txt", "--out", "{o}", "--quiet"],
        "--coco-json",
    ),
    (
        ["generate", "comco", "--coco-json", "{w}/instances_taken.json", "--out", "{o}", "--quiet"],
        "captions_taken.json",
    ),
    # --- probes on real (COCO-format) data --------------------------------------------------
    (
        [
            "run",
            "ior",
            "--model",
            "toy:default",
            "--coco-instances",
            "{w}/instances.json",
            "--out",
            "{o}",
            *RUN,
        ],
        "--coco-images",
    ),
    (
        [
            "run",
            "ior",
            "--model",
            "toy:default",
            "--coco-instances",
            "{w}/instances.json",
            "--coco-images",
            "{w}/nope",
            "--out",
            "{o}",
            *RUN,
        ],
        "nope",
    ),
    (
        [
            "run",
            "ior",
            "--model",
            "toy:default",
            "--coco-instances",
            "{w}/instances.json",
            "--coco-images",
            "{w}",
            "--scenes",
            "{w}/scenes",
            "--out",
            "{o}",
            *RUN,
        ],
        "not both",
    ),
    (
        [
            "run",
            "ior",
            "--model",
            "toy:default",
            "--coco-instances",
            "{w}/instances.json",
            "--coco-images",
            "{w}",
            "--out",
            "{o}",
            *RUN,
        ],
        "exactly 3 categories",
    ),
    (
        [
            "run",
            "ior",
            "--model",
            "toy:default",
            "--coco-instances",
            "{w}/instances.json",
            "--coco-images",
            "{w}",
            "--coco-min-area",
            "2",
            "--out",
            "{o}",
            *RUN,
        ],
        "--coco-min-area 2",
    ),
    (
        [
            "run",
            "ior",
            "--model",
            "toy:default",
            "--coco-instances",
            "{w}/instances.json",
            "--coco-images",
            "{w}",
            "--coco-gallery",
            "dir",
            "--out",
            "{o}",
            *RUN,
        ],
        "--coco-gallery-dir",
    ),
    (
        [
            "run",
            "ior",
            "--model",
            "toy:default",
            "--coco-instances",
            "{w}/captions.json",
            "--coco-images",
            "{w}",
            "--out",
            "{o}",
            *RUN,
        ],
        "categories",
    ),
    (
        ["run", "ior", "--model", "toy:default", "--coco-gallery", "box", "--out", "{o}", *RUN],
        "--coco-gallery apply to COCO images",
    ),
    (["run", "tor-captions", "--model", "toy:default", "--out", "{o}", *RUN], "--input"),
    (
        [
            "run",
            "tor-captions",
            "--model",
            "toy:default",
            "--n",
            "1",
            "--input",
            "{w}/corpus_ok.jsonl",
            "--out",
            "{o}",
            *RUN,
        ],
        "--n 1",
    ),
    (
        [
            "run",
            "tor-captions",
            "--model",
            "toy:default",
            "--legacy-quirks",
            "--vocab",
            "coco",
            "--input",
            "{w}/corpus_ok.jsonl",
            "--out",
            "{o}",
            *RUN,
        ],
        "90-name",
    ),
    (
        [
            "run",
            "tor-captions",
            "--model",
            "toy:default",
            "--n",
            "5",
            "--input",
            "{w}/corpus_ok.jsonl",
            "--out",
            "{o}",
            *RUN,
        ],
        "exactly 5 objects",
    ),
    (["corpus", "stats", "--input", "hf:", "--out", "{o}"], "hf:"),
    # --- engines -------------------------------------------------------------------------
    (
        ["run", "tor", "--model", "toy:default", "--ray-address", "x:1", "--out", "{o}", *RUN],
        "--ray-address applies to --engine ray",
    ),
    (
        [
            "run",
            "tor",
            "--model",
            "toy:default",
            "--engine",
            "ray",
            "--ray-actors",
            "0",
            "--out",
            "{o}",
            *RUN,
        ],
        "--ray-actors 0",
    ),
    (["run", "tor", "--model", "toy:default", "--engine", "spark", "--out", "{o}", *RUN], "spark"),
    # --- corpus statistics ---------------------------------------------------------------
    (["corpus", "stats", "--out", "{o}"], "--input"),
    (["corpus", "stats", "--input", "{w}/nope.jsonl", "--out", "{o}"], "nope.jsonl"),
    (["corpus", "stats", "--input", "{w}/texts.txt", "--out", "{o}"], "texts.txt"),
    (
        [
            "corpus",
            "stats",
            "--input",
            "{w}/corpus_ok.jsonl",
            "--caption-column",
            "text",
            "--out",
            "{o}",
        ],
        "'text'",
    ),
    (
        [
            "corpus",
            "stats",
            "--input",
            "{w}/corpus_ok.jsonl",
            "--objects-column",
            "objects",
            "--out",
            "{o}",
        ],
        "--objects-column",
    ),
    (
        [
            "corpus",
            "stats",
            "--input",
            "{w}/corpus_mismatch.jsonl",
            "--objects-column",
            "objects",
            "--areas-column",
            "areas",
            "--out",
            "{o}",
            "--quiet",
        ],
        "row 1",
    ),
    (
        [
            "corpus",
            "stats",
            "--input",
            "{w}/corpus_ok.jsonl",
            "--format",
            "parquet",
            "--out",
            "{o}",
        ],
        "corpus_ok.jsonl",
    ),
    (
        [
            "corpus",
            "stats",
            "--input",
            "{w}/corpus_ok.jsonl",
            "--vocab",
            "nope",
            "--out",
            "{o}",
            "--quiet",
        ],
        "'nope'",
    ),
    (
        [
            "corpus",
            "stats",
            "--input",
            "{w}/corpus_ok.jsonl",
            "--synonyms",
            "{w}/nope.json",
            "--out",
            "{o}",
            "--quiet",
        ],
        "nope.json",
    ),
    (
        ["corpus", "stats", "--input", "{w}/corpus_ok.jsonl", "--max-k", "1", "--out", "{o}"],
        "--max-k 1",
    ),
    (["corpus", "stats", "--input", "{w}/corpus_ok.jsonl", "--out", "{w}/afile.txt"], "afile.txt"),
    (
        ["corpus", "stats", "--coco-captions", "{w}/captions.json", "--out", "{o}"],
        "--coco-instances",
    ),
    (
        [
            "corpus",
            "stats",
            "--coco-captions",
            "{w}/instances.json",
            "--coco-instances",
            "{w}/captions.json",
            "--out",
            "{o}",
        ],
        "no caption",
    ),
    (
        [
            "corpus",
            "stats",
            "--coco-captions",
            "{w}/captions_dup.json",
            "--coco-instances",
            "{w}/instances.json",
            "--out",
            "{o}",
        ],
        "repeats id 7",
    ),
    (
        [
            "corpus",
            "stats",
            "--coco-captions",
            "{w}/captions_noid.json",
            "--coco-instances",
            "{w}/instances.json",
            "--out",
            "{o}",
        ],
        "images[0] has no integer or string id",
    ),
    (
        [
            "corpus",
            "stats",
            "--input",
            "{w}/corpus_ok.jsonl",
            "--area",
            "sum",
            "--out",
            "{o}",
            "--quiet",
        ],
        "--area",
    ),
    (
        [
            "corpus",
            "stats",
            "--coco-captions",
            "{w}/notjson.json",
            "--coco-instances",
            "{w}/instances.json",
            "--out",
            "{o}",
        ],
        "notjson.json",
    ),
    (
        [
            "corpus",
            "stats",
            "--coco-captions",
            "{w}/captions.json",
            "--coco-instances",
            "{w}/captions.json",
            "--out",
            "{o}",
        ],
        "categories",
    ),
    (
        ["generate", "comco", "--layout", "areas", "--areas", "a,b", "--out", "{o}", "--quiet"],
        "'a,b'",
    ),
    (
        [
            "generate",
            "comco",
            "--layout",
            "areas",
            "--areas",
            "0.5,0.3,0.3",
            "--out",
            "{o}",
            "--quiet",
        ],
        "110%",
    ),
    (
        [
            "generate",
            "comco",
            "--layout",
            "areas",
            "--areas",
            "1.5,0.1,0.1",
            "--out",
            "{o}",
            "--quiet",
        ],
        "1.5",
    ),
    (["generate", "comco", "--large-area", "1.5", "--out", "{o}", "--quiet"], "1.5"),
    (["generate", "comco", "--small-area", "0", "--out", "{o}", "--quiet"], "0"),
    (["generate", "comco", "--order", "nope", "--out", "{o}", "--quiet"], "nope"),
    (["generate", "comco", "--order", "large-at:9", "--out", "{o}", "--quiet"], "large-at:9"),
    (["generate", "comco", "--placement", "nope", "--out", "{o}", "--quiet"], "nope"),
    (["generate", "comco", "--background", "nope", "--out", "{o}", "--quiet"], "nope"),
    (["generate", "comco", "--vocab", "nope", "--out", "{o}", "--quiet"], "nope"),
    (
        ["generate", "comco", "--vocab", "{w}/vocab_latin1.txt", "--out", "{o}", "--quiet"],
        "vocab_latin1.txt",
    ),
    (
        ["generate", "comco", "--vocab", "{w}/vocab_unknown.txt", "--out", "{o}", "--quiet"],
        "unicornzz",
    ),
    (["generate", "comco", "--template", "{1}", "--out", "{o}", "--quiet"], "{1}"),
    (["generate", "nope", "--out", "{o}", "--quiet"], "nope"),
    (["generate", "comco", "--out", "{w}/nonempty", "--quiet"], "nonempty"),
    (["generate", "comco", "--out", "{w}/afile.txt", "--quiet"], "afile.txt"),
    (["generate", "comco", "--out", "/proc/cliposcope-scenes", "--quiet"], "/proc"),
    (
        ["generate", "comco", "--out", "{o}", "--official-layout", "{w}/afile.txt", "--quiet"],
        "afile.txt",
    ),
    (
        ["generate", "comco", "--out", "{o}", "--official-layout", "{w}/nonempty", "--quiet"],
        "nonempty",
    ),
    (
        ["generate", "comco", "--out", "{o}", "--official-layout", "{o}", "--quiet"],
        "--official-layout",
    ),
    # --- show --------------------------------------------------------------------------
    (["show", "/no/scenes", "--out", "{o}/sheet.png"], "/no/scenes"),
    (["show", "{w}/official_empty", "--out", "{o}/sheet.png"], "official_empty"),
    (["show", "{w}/scenes", "--count", "-3", "--out", "{o}/sheet.png"], "--count -3"),
    (["show", "{w}/scenes", "--count", "0", "--out", "{o}/sheet.png"], "--count 0"),
    (["show", "{w}/scenes", "--seed", "-1", "--out", "{o}/sheet.png"], "--seed -1"),
    (["show", "{w}/scenes", "--out", "{w}"], "--out"),
    (["show", "{w}/scenes", "--out", "{o}/sheet.jpg"], "sheet.jpg"),
    (["show", "{w}/traversal", "--out", "{o}/sheet.png"], "etc/hostname"),
    # --- encode ------------------------------------------------------------------------
    (
        ["encode", "--model", SEEDED, "--texts", "{w}/missing.txt", "--out", "{o}/e.npy"],
        "missing.txt",
    ),
    (
        ["encode", "--model", SEEDED, "--texts", "{w}/empty_line.txt", "--out", "{o}/e.npy"],
        "line 2",
    ),
    (
        ["encode", "--model", SEEDED, "--texts", "{w}/latin1.txt", "--out", "{o}/e.npy"],
        "latin1.txt",
    ),
    (["encode", "--model", SEEDED, "--texts", "{w}/empty.txt", "--out", "{o}/e.npy"], "empty.txt"),
    (
        ["encode", "--model", SEEDED, "--images", "{w}/no_images", "--out", "{o}/e.npy"],
        "no_images",
    ),
    (
        ["encode", "--model", SEEDED, "--images", "{w}/images_empty", "--out", "{o}/e.npy"],
        "images_empty",
    ),
    (
        [
            "encode",
            "--model",
            SEEDED,
            "--images",
            "{w}/images_corrupt",
            "--out",
            "{o}/e.npy",
            "--no-cache",
            "--quiet",
        ],
        "bad.png",
    ),
    (["encode", "--model", SEEDED, "--texts", "{w}/texts.txt", "--out", "{o}/e.txt"], "e.txt"),
    (["encode", "--model", SEEDED, "--texts", "{w}/texts.txt", "--out", "{w}"], "--out"),
    (
        [
            "encode",
            "--model",
            "hf:/x",
            "--checkpoint",
            "{w}/good.pt",
            "--texts",
            "{w}/texts.txt",
            "--out",
            "{o}/e.npy",
        ],
        "hf:",
    ),
    (
        [
            "encode",
            "--model",
            "openclip:cliposcope-tiny/x.pt",
            "--checkpoint",
            "{w}/good.pt",
            "--texts",
            "{w}/texts.txt",
            "--out",
            "{o}/e.npy",
        ],
        "cliposcope-tiny/x.pt",
    ),
    (
        [
            "encode",
            "--model",
            "openclip:cliposcope-tiny?seed=0",
            "--checkpoint",
            "{w}/missing.pt",
            "--texts",
            "{w}/texts.txt",
            "--out",
            "{o}/e.npy",
        ],
        "missing.pt",
    ),
    (["encode", "--model", "bad", "--texts", "{w}/texts.txt", "--out", "{o}/e.npy"], "'bad'"),
    (
        [
            "encode",
            "--model",
            SEEDED,
            "--texts",
            "{w}/texts.txt",
            "--images",
            "{w}/scenes",
            "--out",
            "{o}/e.npy",
        ],
        "--images",
    ),
    # --- table and report --------------------------------------------------------------
    (["table", "{w}/missing.json"], "missing.json"),
    (["table", "{w}/results"], "results"),
    (["table", "{w}/results/corrupt.json"], "corrupt.json"),
    (["table", "{w}/results/list.json"], "list.json"),
    (["table", "{w}/results/r.json", "--csv", "{w}"], "--csv"),
    (["table", "{w}/results/r.json", "--csv", "{o}/all.txt"], "all.txt"),
    (["report", "{w}/no_results"], "no_results"),
    (["report", "{w}/report_empty"], "report_empty"),
    (["report", "{w}/results", "--out", "{w}"], "--out"),
    (["report", "{w}/results", "--out", "{o}/report.txt"], "report.txt"),
    (["report", "{w}/report_progression", "--out", "{o}/r.html"], "progression.json"),
    (["report", "{w}/report_traversal", "--out", "{o}/r.html"], "etc/hostname"),
    (["report", "{w}/report_symlink", "--out", "{o}/r.html"], "x.png"),
    # --- demo --------------------------------------------------------------------------
    (["demo", "--out", "{w}/afile.txt", "--quiet"], "afile.txt"),
    (["demo", "--seed", "-1", "--out", "{o}", "--quiet"], "--seed -1"),
    (["demo", "--out", "/proc/cliposcope-demo", "--quiet"], "/proc"),
    # --- text-to-image ------------------------------------------------------------------
    ([*T2I, "nope:x", "--detector", "truth:planted"], "unknown generator family 'nope'"),
    ([*T2I, "planted:2", "--detector", "truth:planted"], "planted:2"),
    ([*T2I, "planted:0.5?size=10", "--detector", "truth:planted"], "size 10"),
    ([*T2I, "planted:0.5?colour=red", "--detector", "truth:planted"], "colour"),
    ([*T2I, "planted:0.5", "--detector", "yolo:v8"], "unknown detector family 'yolo'"),
    ([*T2I, "planted:0.5", "--detector", "torchvision:yolo?weights=none"], "'yolo'"),
    ([*T2I, "planted:0.5", "--detector", "truth:other"], "'other'"),
    ([*T2I, "planted:0.5", "--detector", "clip:nope:x"], "'nope'"),
    ([*T2I, "diffusers:./no-such-pipeline", "--detector", "truth:planted"], "no-such-pipeline"),
    ([*T2I, "planted:0.5", "--detector", "truth:planted", "--n", "7"], "--n 7"),
    (
        [*T2I, "planted:0.5", "--detector", "truth:planted", "--n", "4", "--size-order"],
        "--size-order",
    ),
    ([*T2I, "planted:0.5", "--detector", "truth:planted", "--steps", "0"], "--steps 0"),
    ([*T2I, "planted:0.5", "--detector", "truth:planted", "--resolution", "50"], "50"),
    ([*T2I, "planted:0.5", "--detector", "truth:planted", "--threshold", "2"], "--threshold 2"),
    ([*T2I, "planted:0.5", "--detector", "truth:planted", "--combinations", "0"], "0"),
    (
        [*T2I, "planted:0.5", "--detector", "truth:planted", "--template", "{1} and {2}"],
        "{1} and {2}",
    ),
    (
        [*T2I, "planted:0.5", "--detector", "truth:planted", "--vocab", "{w}/t2i_unknown.txt"],
        "unicornzz",
    ),
    (
        [
            *T2I,
            "planted:0.5",
            "--detector",
            "torchvision:ssdlite320_mobilenet_v3_large?weights=none",
            "--vocab",
            "{w}/t2i_not_coco.txt",
        ],
        "street sign",
    ),
    (
        [*T2I, "planted:0.5", "--detector", "torchvision:ssd300_vgg16?weights={w}/afile.txt"],
        "afile.txt",
    ),
    (
        [*T2I, "planted:0.5", "--detector", "truth:planted", "--images", "{w}/afile.txt"],
        "afile.txt",
    ),
    (
        [
            "run",
            "t2i",
            "--generator",
            "planted:0.5",
            "--detector",
            "truth:planted",
            "--out",
            "{w}/afile.txt",
        ],
        "afile.txt",
    ),
    ([*T2I, "diffusers:org/model", "--detector", "truth:planted"], "diffusers:org/model"),
    (
        [
            *T2I,
            "diffusers:org/model",
            "--detector",
            SSDLITE,
            "--device",
            "cpu",
            "--precision",
            "fp16",
        ],
        "--precision fp16",
    ),
    ([*T2I, "planted:0.5", "--detector", SSDLITE, "--threshold", "0.01"], "--threshold 0.01"),
    (
        [
            *T2I,
            "planted:0.5",
            "--detector",
            "clip:toy:default",
            "--n",
            "2",
            "--no-solo",
            "--vocab",
            "{w}/t2i_two.txt",
        ],
        "clip:toy:default",
    ),
    (["leaderboard", "{w}/missing", "--out", "{o}/b.html"], "missing"),
    (["leaderboard", "{w}/images_empty", "--out", "{o}/b.html"], "images_empty"),
    (["leaderboard", "{w}/images_empty", "--out", "{o}/b.txt"], "b.txt"),
    (["leaderboard", "{w}/images_empty", "--out", "{o}/b.html", "--csv", "{o}/b.json"], "b.json"),
    # --- lab ---------------------------------------------------------------------------
    (
        ["lab", "train", "--checkpoint-every", "0", "--out", "{o}", "--quiet"],
        "--checkpoint-every 0",
    ),
    (["lab", "train", "--samples", "10", "--out", "{o}", "--quiet"], "--samples 10"),
    (["lab", "train", "--batch-size", "1", "--out", "{o}", "--quiet"], "--batch-size 1"),
    (["lab", "train", "--policy", "nope", "--out", "{o}", "--quiet"], "nope"),
    (["lab", "train", "--seed", "-1", "--out", "{o}", "--quiet"], "--seed -1"),
    (["lab", "train", "--out", "{w}/afile.txt", "--quiet"], "afile.txt"),
    (["lab", "theory", "--trials", "0"], "--trials 0"),
    (["lab", "theory", "--dropped", "-1"], "--dropped -1"),
    (["lab", "theory", "--dropped", "16"], "--dropped 16"),
    (["lab", "theory", "--temperature", "0"], "--temperature 0"),
    (["lab", "theory", "--seed", "-1"], "--seed -1"),
    (["lab", "theory", "--plot", "{w}"], "--plot"),
    (["lab", "export", "{w}/missing.pt", "--out", "{o}/t.safetensors"], "missing.pt"),
    (["lab", "export", "{w}/notweights.pt", "--out", "{o}/t.safetensors"], "notweights.pt"),
    (["lab", "export", "{w}/truncated.pt", "--out", "{o}/t.safetensors"], "truncated.pt"),
    (["lab", "export", "{w}/no_state.pt", "--out", "{o}/t.safetensors"], "no_state.pt"),
    (["lab", "export", "{w}/good.pt", "--out", "{o}/t.pt"], "t.pt"),
    (["lab", "progression", "{w}/notarun", "--out", "{o}"], "notarun"),
    (["lab", "progression", "{w}/notarun", "--out", "{w}/afile.txt"], "afile.txt"),
    (["lab", "progression", "{w}/notarun", "--device", "gpu", "--out", "{o}"], "gpu"),
]


def snapshot(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def test_there_are_enough_cases():
    assert len(CASES) >= 120


@pytest.mark.slow
@pytest.mark.parametrize(("argv", "value"), CASES, ids=[" ".join(c[0][:4]) for c in CASES])
def test_bad_input_is_one_clear_line(argv, value, world, tmp_path, capsys):
    out = tmp_path / "out"
    argv = [a.replace("{w}", str(world)).replace("{o}", str(out)) for a in argv]
    value = value.replace("{w}", str(world))
    before = snapshot(world), snapshot(tmp_path)
    try:
        code = main(argv)
    except SystemExit as exit:  # argparse's usage errors
        code = exit.code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert value in lines[0], (value, lines[0])
    assert "Traceback" not in err
    assert (snapshot(world), snapshot(tmp_path)) == before  # nothing new anywhere
    assert not out.exists()


@pytest.mark.slow
def test_a_closed_pipe_ends_quietly():
    import subprocess
    import sys

    command = f"{sys.executable} -m cliposcope models | head -1"
    done = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=300)
    assert done.stdout.startswith("Model spec:")
    assert done.stderr == "", done.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "tor", "--model", SEEDED, "--out", "{w}/afile.txt", *RUN],
        ["run", "paper", "--model", SEEDED, "--out", "/proc/cliposcope-out", *RUN],
        ["run", "tor", "--model", SEEDED, "--cache-dir", "{w}/afile.txt", "--out", "{o}"],
        ["encode", "--model", SEEDED, "--texts", "{w}/texts.txt", "--out", "{w}"],
    ],
    ids=["file-out", "unwritable-out", "file-cache", "encode-dir-out"],
)
def test_outputs_are_checked_before_any_model_loads(argv, world, tmp_path, monkeypatch, capsys):
    import cliposcope.app.runs

    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded before the output was checked")

    monkeypatch.setattr(cliposcope.app.runs, "load_encoder", no_model)
    argv = [a.replace("{w}", str(world)).replace("{o}", str(tmp_path / "out")) for a in argv]
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("error: ")
