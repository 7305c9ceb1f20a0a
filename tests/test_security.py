"""Untrusted files never run code or reach outside their folder, and outputs honour the
umask: a crafted pickle at every place weights are read, hostile manifests and result
folders, planted HTML."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from cliposcope.app.cli import main
from cliposcope.errors import CliposcopeError
from cliposcope.results import ProbeResult


class Payload:
    """Unpickling this runs a shell command that leaves a marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def plant(path: Path, marker: Path, wrap=lambda payload: payload) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(wrap(Payload(marker)), path)
    return path


@pytest.fixture
def marker(tmp_path) -> Path:
    path = tmp_path / "PWNED"
    assert not path.exists()
    yield path
    assert not path.exists(), "a crafted pickle ran code"


def test_the_payload_works_when_loaded_unsafely(tmp_path):
    """The control: the crafted file really runs code when loaded with pickle enabled."""
    evil = plant(tmp_path / "evil.pt", tmp_path / "ran")
    torch.load(evil, weights_only=False)
    assert (tmp_path / "ran").exists()


@pytest.mark.parametrize(
    "spec",
    ["openclip:cliposcope-tiny/{evil}", "toy:{evil}"],
    ids=["openclip-path", "toy-path"],
)
def test_model_specs_refuse_pickles(spec, tmp_path, marker):
    from cliposcope.encoders import load_encoder

    evil = plant(tmp_path / "evil.pt", marker)
    with pytest.raises(CliposcopeError, match=r"evil\.pt"):
        load_encoder(spec.format(evil=evil))


def test_checkpoint_option_refuses_pickles(tmp_path, marker, capsys):
    evil = plant(tmp_path / "evil.pt", marker, wrap=lambda p: {"state_dict": p})
    (tmp_path / "t.txt").write_text("a dog\n")
    code = main(
        [
            "encode",
            "--model",
            "openclip:cliposcope-tiny?seed=0",
            "--checkpoint",
            str(evil),
            "--texts",
            str(tmp_path / "t.txt"),
            "--out",
            str(tmp_path / "e.npy"),
            "--no-cache",
        ]
    )
    assert code == 2 and "evil.pt" in capsys.readouterr().err
    assert not (tmp_path / "e.npy").exists()


def test_local_dir_refuses_pickles(tiny_openclip, tmp_path, marker):
    from cliposcope.encoders import load_encoder

    folder = tmp_path / "local"
    folder.mkdir()
    config = {
        "model_cfg": json.loads(
            (
                Path(__import__("cliposcope").__file__).parent
                / "model_configs"
                / "cliposcope-tiny.json"
            ).read_text()
        )
    }
    (folder / "open_clip_config.json").write_text(json.dumps(config))
    plant(folder / "open_clip_pytorch_model.bin", marker)
    with pytest.raises(CliposcopeError):
        load_encoder(f"openclip:local-dir:{folder}")


def test_hf_folder_refuses_pickles(hf_clip_dir, tmp_path, marker):
    from cliposcope.encoders import load_encoder

    folder = tmp_path / "hf"
    shutil.copytree(hf_clip_dir, folder)
    for weights in folder.glob("*.safetensors"):
        weights.unlink()
    plant(folder / "pytorch_model.bin", marker)
    with pytest.raises(CliposcopeError):
        load_encoder(f"hf:{folder}")


def test_lab_export_refuses_pickles(tmp_path, marker, capsys):
    evil = plant(tmp_path / "samples_1.pt", marker, wrap=lambda p: {"state_dict": p})
    out = tmp_path / "toy.safetensors"
    assert main(["lab", "export", str(evil), "--out", str(out)]) == 2
    assert "samples_1.pt" in capsys.readouterr().err and not out.exists()


def test_lab_resume_refuses_a_crafted_latest_file(tmp_path, marker):
    from cliposcope.lab.pool import PoolSpec
    from cliposcope.lab.train import TrainSettings, train

    settings = TrainSettings(
        samples=64,
        batch_size=32,
        checkpoint_every=32,
        warmup_steps=1,
        pool=PoolSpec(vocabulary_size=6, scenes_per_count=(4, 4, 0, 0), seed=1),
        heldout=PoolSpec(vocabulary_size=6, scenes_per_count=(0, 2, 0, 0), seed=2),
    )
    run = tmp_path / "run"
    run.mkdir()
    (run / "settings.json").write_text(json.dumps(settings.to_dict(), indent=2, sort_keys=True))
    plant(run / "latest.pt", marker, wrap=lambda p: {"state_dict": p, "step": 1})
    with pytest.raises(CliposcopeError, match="cannot read resume file"):
        train(settings, run, progress=False)


def test_report_refuses_files_outside_the_results_folder(tmp_path, capsys):
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG top secret bytes")
    results = tmp_path / "results"
    (results / "scenes").mkdir(parents=True)
    ProbeResult(
        probe="other", role="model", model={"spec": "x:y"}, settings={}, metrics={}, provenance={}
    ).save(results / "r.json")
    record = {
        "id": "0",
        "image": "../../secret.png",
        "objects": [{"name": "dog"}],
        "caption": "dog",
        "condition": "c",
    }
    (results / "scenes" / "manifest.jsonl").write_text(json.dumps(record) + "\n")
    assert main(["report", str(results)]) == 2
    assert "secret.png" in capsys.readouterr().err
    assert not (results / "report.html").exists()
    # the same through a symbolic link that climbs out
    os.symlink(secret, results / "scenes" / "inside.png")
    record["image"] = "inside.png"
    (results / "scenes" / "manifest.jsonl").write_text(json.dumps(record) + "\n")
    assert main(["report", str(results)]) == 2
    assert "inside.png" in capsys.readouterr().err
    assert not (results / "report.html").exists()


def test_report_names_unreadable_results_and_survives_odd_labels(tmp_path, capsys):
    share = {"estimate": 0.5, "ci95": [0.4, 0.6]}
    ProbeResult(
        probe="attention",
        role="model",
        model={"spec": "toy:$5 model $x^2$"},
        settings={"layer": -1, "n": 3},
        metrics={
            "mean_share_by_role": {"large": share},
            "share_per_unit_area_by_role": {},
            "mean_share_by_position": {},
            "grid": [2, 2],
        },
        provenance={},
    ).save(tmp_path / "a.json")
    (tmp_path / "broken.json").write_text("{not json")
    page = Path(main(["report", str(tmp_path)]) == 0 and tmp_path / "report.html").read_text()
    assert "broken.json" in capsys.readouterr().err
    assert "broken.json" in page and "$5 model $x^2$" in page


UMASKS = [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)]


@pytest.mark.slow
@pytest.mark.parametrize(("umask", "file_mode", "folder_mode"), UMASKS)
def test_outputs_honour_the_umask(tmp_path, umask, file_mode, folder_mode):
    from cliposcope.atomic import atomic_write_bytes

    previous = os.umask(umask)
    try:
        atomic_write_bytes(tmp_path / "r.json", b"{}")
        assert (
            main(
                ["generate", "comco", "--count", "2", "--out", str(tmp_path / "scenes"), "--quiet"]
            )
            == 0
        )
    finally:
        os.umask(previous)
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == file_mode
    scenes = tmp_path / "scenes"
    assert scenes.stat().st_mode & 0o777 == folder_mode
    assert (scenes / "images").stat().st_mode & 0o777 == folder_mode
    assert (scenes / "manifest.jsonl").stat().st_mode & 0o777 == file_mode
    assert all(p.stat().st_mode & 0o777 == file_mode for p in (scenes / "images").iterdir())


def test_non_finite_embeddings_are_refused():
    from probes.fakes import PositionWeightedEncoder

    class Broken(PositionWeightedEncoder):
        def _encode_texts(self, texts, *, progress):
            out = super()._encode_texts(texts, progress=progress)
            out[1] = np.nan
            return out

    with pytest.raises(CliposcopeError, match="non-finite text embeddings for 1 of 3"):
        Broken().encode_text(["a", "b", "c"])


def test_a_capped_sample_is_recorded_and_said(tmp_path, capsys):
    vocab = tmp_path / "v.txt"
    vocab.write_text("dog\ncat\ncar\nbus\n")
    assert (
        main(
            [
                "run",
                "tor",
                "--model",
                "openclip:cliposcope-tiny?seed=0",
                "--vocab",
                str(vocab),
                "--n",
                "2",
                "--sample",
                "100",
                "--out",
                str(tmp_path),
                "--no-cache",
                "--quiet",
            ]
        )
        == 0
    )
    assert "--sample 100 exceeds the 6 combinations" in capsys.readouterr().err
    [path] = tmp_path.glob("tor_*.json")
    record = json.loads(path.read_text())
    assert record["settings"]["sample"] == 100
    assert record["provenance"]["combinations_used"] == 6


def test_report_refuses_a_result_file_linked_from_outside(tmp_path):
    outside = tmp_path / "outside.json"
    ProbeResult(
        probe="other", role="model", model={"spec": "x:y"}, settings={}, metrics={}, provenance={}
    ).save(outside)
    results = tmp_path / "results"
    results.mkdir()
    os.symlink(outside, results / "linked.json")
    with pytest.raises(CliposcopeError, match=r"linked\.json"):
        from cliposcope.report.html import build_report

        build_report(results)


def test_official_layout_reader_refuses_links_out_of_the_dataset(tmp_path):
    from cliposcope.data.official import read_official

    image = tmp_path / "elsewhere.png"
    from PIL import Image

    Image.new("RGB", (8, 8)).save(image)
    root = tmp_path / "official" / "scenes"
    root.mkdir(parents=True)
    os.symlink(image, root / "dog_cat.png")
    with pytest.raises(CliposcopeError, match="outside"):
        read_official(tmp_path / "official")


def test_palette_images_with_other_palettes_are_not_one_image():
    from PIL import Image

    from cliposcope.hashing import image_key

    a = Image.new("P", (4, 4), 1)
    a.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    b = Image.new("P", (4, 4), 1)
    b.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    assert image_key(a) != image_key(b)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_range_checks_refuse_non_finite_numbers(value):
    from cliposcope.errors import check_range

    with pytest.raises(CliposcopeError, match="--temperature"):
        check_range("--temperature", value, 1e-6)
