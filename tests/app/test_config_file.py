"""`--config FILE.toml`: options from a file, overridden by the command line, checked
before any work, and recorded in every result."""

from __future__ import annotations

import json

import pytest

from cliposcope.app.cli import build_parser, main
from cliposcope.app.config_file import apply_config


def _write(folder, text):
    path = folder / "run.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_config_round_trips_into_the_result_and_the_command_line_wins(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("CLIPOSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    config = _write(
        tmp_path,
        'model = ["openclip:ViT-B-32?seed=1"]\nnull = ["sum"]\nn = 2\nsample = 30\n'
        "quiet = true\nbatch_size = 16\n",
    )
    out = tmp_path / "out"
    code = main(
        [
            "run",
            "tor",
            "--config",
            str(config),
            "--model",
            "toy:default",
            "--sample",
            "12",
            "--out",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    results = [json.loads(path.read_text()) for path in sorted(out.glob("*.json"))]
    assert {result["role"] for result in results} == {"model", "null:sum"}
    for result in results:
        assert result["model"]["spec"] == "toy:default"  # --model replaced the file's list
        assert result["provenance"]["query_count"] == 12  # --sample overrode 30
        assert result["settings"]["n"] == 2  # from the file
        recorded = result["run"]["config"]
        assert recorded["file"] == str(config)
        assert recorded["values"]["sample"] == 30 and recorded["values"]["batch_size"] == 16
        assert recorded["effective"] == {
            "model": ["toy:default"],
            "null": ["sum"],
            "n": 2,
            "sample": 12,
            "quiet": True,
            "batch_size": 16,
        }
        assert len(recorded["sha256"]) == 64


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("modle = ['toy:default']\n", "modle is not an option of cliposcope run tor"),
        ("model = ['toy:default']\nn = 'three'\n", "n = 'three' is not a number"),
        ("model = ['toy:default']\nn = 2.5\n", "is not a whole number"),
        ("model = ['toy:default']\nquiet = 1\n", "quiet = 1 is not true or false"),
        ("model = ['toy:default']\nprotocol = 'fancy'\n", "is not one of paper, balanced"),
        ("model = [1]\n", "model = 1 is not a string"),
        ("model = ['toy:default'\n", "is not valid TOML"),
    ],
)
def test_a_bad_config_is_one_line_and_exit_2(tmp_path, capsys, text, expected):
    config = _write(tmp_path, text)
    code = main(["run", "tor", "--config", str(config), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and expected in err
    assert not (tmp_path / "out").exists()


def test_a_missing_or_binary_config_is_refused(tmp_path, capsys):
    assert main(["run", "tor", "--config", str(tmp_path / "none.toml")]) == 2
    assert "is not a file" in capsys.readouterr().err
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe n = 3")
    assert main(["run", "tor", "--config", str(binary)]) == 2
    assert "is not UTF-8" in capsys.readouterr().err


def test_config_applies_to_lab_train_and_corpus_and_is_refused_elsewhere(tmp_path, capsys):
    config = _write(tmp_path, 'samples = 640\nout = "runs/a"\ntensorboard = false\n')
    parser = build_parser()
    argv = ["lab", "train", "--config", str(config)]
    apply_config(parser, argv)
    args = parser.parse_args(argv)
    assert (args.samples, args.out, args.tensorboard) == (640, "runs/a", False)
    corpus_config = _write(tmp_path, "min_k = 3\n")
    parser = build_parser()
    argv = ["corpus", "stats", "--config", str(corpus_config)]
    apply_config(parser, argv)
    assert parser.parse_args(argv).min_k == 3
    assert main(["table", "x.json", "--config", str(corpus_config)]) == 2
    assert "--config does not apply to cliposcope table" in capsys.readouterr().err


def test_an_abbreviated_repeatable_option_replaces_the_files_list(tmp_path):
    config = _write(tmp_path, 'model = ["openclip:ViT-B-32?seed=1"]\n')
    parser = build_parser()
    argv = ["run", "tor", "--config", str(config), "--mod", "toy:default"]
    apply_config(parser, argv)
    assert parser.parse_args(argv).model == ["toy:default"]


def test_options_that_exclude_each_other_do_so_in_a_config(tmp_path, capsys):
    config = _write(tmp_path, 'model = ["toy:default"]\ncache-dir = "c"\nno-cache = true\n')
    assert main(["run", "tor", "--config", str(config), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "--cache-dir and --no-cache exclude each other" in err
    config = _write(tmp_path, 'model = ["toy:default"]\ncache-dir = "c"\n')
    code = main(["run", "tor", "--config", str(config), "--no-cache", "--out", str(tmp_path)])
    assert code == 2 and "exclude each other" in capsys.readouterr().err


def test_an_overridden_value_is_still_checked(tmp_path, capsys):
    config = _write(tmp_path, 'model = ["toy:default"]\nseed = 1979-05-27\n')
    code = main(["run", "tor", "--config", str(config), "--seed", "2", "--out", str(tmp_path)])
    assert code == 2 and "seed = datetime.date(1979, 5, 27) is not a number" in (
        capsys.readouterr().err
    )
