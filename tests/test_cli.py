"""The command line: help, models offline, encode with provenance, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from cliposcope.app.cli import main

OFFLINE = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cliposcope", *args],
        capture_output=True,
        text=True,
        env=OFFLINE,
        timeout=300,
    )


def test_help_lists_commands():
    result = run_cli("--help")
    assert result.returncode == 0
    assert "models" in result.stdout and "encode" in result.stdout


@pytest.mark.slow
def test_models_runs_offline_and_lists_tags():
    result = run_cli("models")
    assert result.returncode == 0, result.stderr
    assert "openclip:ViT-B-32/openai" in result.stdout
    assert "ViT-B-32: openai, " in result.stdout
    assert "st:all-MiniLM-L6-v2" in result.stdout and "hf:" in result.stdout


def test_user_error_is_one_line_without_traceback(tmp_path):
    result = run_cli("encode", "--model", "openclip:ViT-B-33", "--texts", "x", "--out", "o.npy")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: text file not found")


@pytest.fixture
def captions(tmp_path):
    path = tmp_path / "captions.txt"
    path.write_text("apple and pizza and desk\na dog\nteddy bear and cat\n", encoding="utf-8")
    return path


def test_encode_texts_writes_npy_and_provenance(tmp_path, captions, tiny_openclip, capsys):
    out = tmp_path / "out" / "emb.npy"
    spec = "openclip:cliposcope-tiny?seed=0"
    code = main(
        [
            "encode",
            "--model",
            spec,
            "--texts",
            str(captions),
            "--out",
            str(out),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--quiet",
        ]
    )
    assert code == 0
    embeddings = np.load(out)
    np.testing.assert_array_equal(
        embeddings, tiny_openclip.encode_text(captions.read_text().split("\n")[:3])
    )
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["model"]["spec"] == spec
    assert record["model"]["weights_hash"] == tiny_openclip.info.weights_hash
    assert record["input_count"] == 3 and record["shape"] == [3, 64]
    assert record["cache"] == {"hits": 0, "misses": 3, "corrupt": 0}
    main(
        [
            "encode",
            "--model",
            spec,
            "--texts",
            str(captions),
            "--out",
            str(out),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--quiet",
        ]
    )
    assert json.loads(out.with_suffix(".json").read_text())["cache"]["hits"] == 3


def test_encode_image_folder_in_name_order(tmp_path, tiny_openclip):
    folder = tmp_path / "images"
    folder.mkdir()
    colours = {"b.png": "blue", "a.png": "red", "c.jpg": "green"}
    for name, colour in colours.items():
        Image.new("RGB", (40, 40), colour).save(folder / name)
    (folder / "notes.txt").write_text("not an image")
    out = tmp_path / "img.npy"
    code = main(
        [
            "encode",
            "--model",
            "openclip:cliposcope-tiny?seed=0",
            "--images",
            str(folder),
            "--out",
            str(out),
            "--no-cache",
            "--quiet",
        ]
    )
    assert code == 0
    record = json.loads(out.with_suffix(".json").read_text())
    assert [os.path.basename(p) for p in record["inputs"]] == ["a.png", "b.png", "c.jpg"]
    first_fingerprint = record["input_fingerprint"]
    Image.new("RGB", (40, 40), "white").save(folder / "a.png")  # same names, new content
    main(
        [
            "encode",
            "--model",
            "openclip:cliposcope-tiny?seed=0",
            "--images",
            str(folder),
            "--out",
            str(out),
            "--no-cache",
            "--quiet",
        ]
    )
    assert (
        json.loads(out.with_suffix(".json").read_text())["input_fingerprint"] != first_fingerprint
    )
    expected = tiny_openclip.encode_images([folder / "a.png", folder / "b.png", folder / "c.jpg"])
    np.testing.assert_array_equal(np.load(out), expected)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "nope", "--texts", "{captions}"], "no family prefix"),
        (
            ["--model", "openclip:cliposcope-tiny?seed=0", "--texts", "{missing}"],
            "text file not found",
        ),
        (
            ["--model", "openclip:cliposcope-tiny?seed=0", "--images", "{captions}"],
            "image folder not found",
        ),
        (
            ["--model", "openclip:cliposcope-tiny?seed=0", "--texts", "{empty_line}"],
            "line 2 is empty",
        ),
        (
            [
                "--model",
                "openclip:cliposcope-tiny?seed=0",
                "--texts",
                "{captions}",
                "--batch-size",
                "0",
            ],
            "not positive",
        ),
        (["--model", "st:{tmpdir}/none", "--texts", "{captions}"], "model folder not found"),
    ],
)
def test_encode_errors_exit_2_and_write_nothing(tmp_path, captions, capsys, args, message):
    empty_line = tmp_path / "gap.txt"
    empty_line.write_text("a dog\n\ncat\n")
    values = {
        "captions": captions,
        "missing": tmp_path / "missing.txt",
        "tmpdir": tmp_path,
        "empty_line": empty_line,
    }
    out = tmp_path / "never.npy"
    argv = ["encode", *[a.format(**values) for a in args], "--out", str(out), "--no-cache"]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1
    assert not out.exists() and not out.with_suffix(".json").exists()


def test_models_lists_every_family():
    from cliposcope.app.models import describe_models
    from cliposcope.encoders.registry import family_names

    text = describe_models("B-32")
    assert set(family_names()) >= {"openclip", "hf", "st", "toy"}
    for family in family_names():
        assert f"\n{family}: " in f"\n{text}"
