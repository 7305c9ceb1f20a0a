"""Your own checkpoint by any path: --checkpoint on run, and absolute or relative paths in
the spec itself."""

from __future__ import annotations

import json

import numpy as np

from cliposcope.app.cli import main
from cliposcope.encoders import load_encoder
from cliposcope.encoders.openclip import random_model, save_weights

ARCH = "cliposcope-tiny"


def _checkpoint(tmp_path, seed=5):
    return save_weights(random_model(ARCH, seed), tmp_path / "weights" / "epoch_10.safetensors")


def test_run_takes_checkpoint_and_the_control_keeps_random_weights(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CLIPOSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    checkpoint = _checkpoint(tmp_path)
    argv = ["run", "tor", "--model", f"openclip:{ARCH}", "--checkpoint", str(checkpoint)]
    argv += ["--null", "random-init", "--n", "2", "--sample", "400", "--out", str(tmp_path / "o")]
    assert main([*argv, "--quiet"]) == 0, capsys.readouterr().err
    results = {
        json.loads(path.read_text())["role"]: json.loads(path.read_text())
        for path in (tmp_path / "o").glob("*.json")
    }
    assert results["model"]["model"]["weights_source"] == f"file:{checkpoint}"
    assert results["null:random-init"]["model"]["weights_source"].startswith("random-init")


def test_checkpoint_with_several_models_is_refused(tmp_path, capsys):
    checkpoint = _checkpoint(tmp_path)
    argv = ["run", "tor", "--model", "toy:default", "--model", f"openclip:{ARCH}"]
    code = main([*argv, "--checkpoint", str(checkpoint), "--out", str(tmp_path / "o")])
    assert code == 2 and "--checkpoint gives the weights of one model" in capsys.readouterr().err


def test_absolute_and_relative_paths_in_the_spec_load_the_same_weights(tmp_path, monkeypatch):
    checkpoint = _checkpoint(tmp_path)
    monkeypatch.chdir(tmp_path)
    absolute = load_encoder(f"openclip:{ARCH}/{checkpoint}")  # ARCH//abs/... as users type it
    relative = load_encoder(f"openclip:{ARCH}/weights/epoch_10.safetensors")
    assert absolute.info.weights_hash == relative.info.weights_hash
    texts = ["a cat and a dog", "a bus"]
    np.testing.assert_allclose(absolute.encode_text(texts), relative.encode_text(texts), atol=1e-6)
    single_slash = f"openclip:{ARCH}/{str(checkpoint).lstrip('/')}"  # ARCH/abs/path
    assert load_encoder(single_slash).info.weights_hash == absolute.info.weights_hash


def test_a_bare_architecture_is_refused_and_random_weights_must_be_asked_for(tmp_path, capsys):
    argv = ["run", "tor", "--model", f"openclip:{ARCH}", "--sample", "50"]
    assert main([*argv, "--out", str(tmp_path / "bare")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"openclip:{ARCH} names no weights" in err and f"openclip:{ARCH}?seed=0" in err
    assert not (tmp_path / "bare").exists()
    seeded = ["run", "tor", "--model", f"openclip:{ARCH}?seed=0", "--sample", "400"]
    assert main([*seeded, "--out", str(tmp_path / "seeded"), "--quiet"]) == 0
    assert "has random weights" in capsys.readouterr().err
