"""Results travel (to colleagues, papers, archives): they hold the paths the user typed,
never this machine's absolute paths that the user did not give (home folders, user
names, mount points). Each command runs from a working folder with relative paths and
its outputs are searched for that folder's absolute path."""

from __future__ import annotations

from pathlib import Path

import pytest

from cliposcope.encoders.toy import write_tiny

from .conftest import run_cli


@pytest.fixture(scope="module")
def workbench(tmp_path_factory) -> Path:
    """A working folder with a toy checkpoint and four scenes, both given relatively."""
    folder = tmp_path_factory.mktemp("bench")
    write_tiny(folder, seed=1)
    return folder


def machine_paths(outputs: Path, machine: Path) -> list[str]:
    needle = str(machine.resolve()).encode()
    return [str(p) for p in sorted(outputs.rglob("*")) if p.is_file() and needle in p.read_bytes()]


@pytest.mark.slow
def test_a_run_records_the_paths_as_given(workbench, monkeypatch, capsys):
    monkeypatch.chdir(workbench)
    code, _, err = run_cli(
        capsys, "generate", "comco", "--count", "4", "--out", "scenes", "--quiet"
    )
    assert code == 0, err
    argv = ["run", "ior", "--scenes", "scenes", "--model", "toy:cliposcope-toy.safetensors"]
    code, _, err = run_cli(capsys, *argv, "--null", "random-init", "--out", "res", "--quiet")
    assert code == 0, err
    assert machine_paths(workbench / "res", workbench) == []
    text = next((workbench / "res").glob("*_model_*.json")).read_text()
    assert '"file:cliposcope-toy.safetensors"' in text and '"folder": "scenes"' in text


def test_encode_records_its_input_as_given(workbench, monkeypatch, capsys):
    monkeypatch.chdir(workbench)
    Path("captions.txt").write_text("a dog and a cat\n")
    Path("emb").mkdir()
    argv = ["encode", "--model", "toy:default", "--texts", "captions.txt", "--out", "emb/e.npy"]
    code, _, err = run_cli(capsys, *argv, "--no-cache", "--quiet")
    assert code == 0, err
    assert len(list(Path("emb").iterdir())) >= 2  # the embeddings and their record
    assert machine_paths(workbench / "emb", workbench) == []


def test_a_checkpoint_option_is_named_as_given(workbench, monkeypatch, capsys):
    monkeypatch.chdir(workbench)
    Path("captions.txt").write_text("a dog and a cat\n")
    Path("ckpt").mkdir()
    argv = ["encode", "--model", "openclip:cliposcope-toy", "--checkpoint"]
    argv += ["cliposcope-toy.safetensors", "--texts", "captions.txt", "--out", "ckpt/e.npy"]
    code, _, err = run_cli(capsys, *argv, "--no-cache", "--quiet")
    assert code == 0, err
    assert machine_paths(workbench / "ckpt", workbench) == []
    record = next(p for p in Path("ckpt").iterdir() if p.suffix == ".json").read_text()
    assert "openclip:cliposcope-toy/cliposcope-toy.safetensors" in record
