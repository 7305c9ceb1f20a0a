"""The paper's zoo by name, model lists for --model, and sweeps that go on past a broken
model and resume."""

from __future__ import annotations

import pytest

from cliposcope.app.cli import main
from cliposcope.data.zoo import expand_models, model_sets, paper_zoo


def test_models_zoo_paper_lists_the_papers_models_with_their_specs(capsys):
    assert main(["models", "--zoo", "paper"]) == 0
    out = capsys.readouterr().out
    for name, spec in [
        ("CLIP openAI", "openclip:ViT-B-32/openai"),
        ("CLIP LAION", "openclip:ViT-B-32/laion2b_s34b_b79k"),
        ("SIGLIP", "openclip:ViT-B-16-SigLIP/webli"),
        ("SBERT", "st:all-mpnet-base-v2"),
    ]:
        assert any(name in line and spec in line for line in out.splitlines()), name
    negclip = next(line for line in out.splitlines() if line.startswith("NegCLIP"))
    assert "no public spec" in negclip
    assert "@paper-table1 (5)" in out


def test_the_zoo_merges_a_models_cited_and_uncited_names():
    names = [model.name for model in paper_zoo()]
    assert "CLIP Datacomp" in names and "CLIP Datacomp [6]" not in names
    datacomp = next(model for model in paper_zoo() if model.name == "CLIP Datacomp")
    assert "Table 6" in datacomp.tables and "Table 1" in datacomp.tables


def test_named_sets_and_files_expand_in_order_each_once(tmp_path):
    assert expand_models(["@paper-table5"]) == ["openclip:ViT-B-32/openai", "st:all-mpnet-base-v2"]
    listed = tmp_path / "models.txt"
    listed.write_text("# my sweep\ntoy:default\n\n st:/x  # a comment\ntoy:default\n")
    assert expand_models(["openclip:ViT-B-32/openai", f"@{listed}"]) == [
        "openclip:ViT-B-32/openai",
        "toy:default",
        "st:/x",
    ]
    assert set(model_sets()["paper"]) >= set(model_sets()["paper-table1"])


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "is neither a named set nor a file"),
        ("# nothing\n", "names no model"),
        ("@paper\n", "line 1 is not a model spec"),
        (b"\xff\xfe", "is not UTF-8"),
    ],
)
def test_a_bad_model_list_is_one_line(tmp_path, capsys, content, expected):
    listed = tmp_path / "models.txt"
    if isinstance(content, bytes):
        listed.write_bytes(content)
    elif content is not None:
        listed.write_text(content)
    code = main(["run", "tor", "--model", f"@{listed}", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and expected in err
    assert not (tmp_path / "out").exists()


def test_a_sweep_goes_past_a_broken_model_and_a_rerun_skips_the_done(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CLIPOSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    listed = tmp_path / "models.txt"
    listed.write_text("toy:default\nst:/no/such/folder\nopenclip:cliposcope-toy?seed=3\n")
    argv = ["run", "tor", "--model", f"@{listed}", "--vocab", "toy", "--sample", "400"]
    argv += ["--out", str(tmp_path / "sweep"), "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    written = sorted(path.name for path in (tmp_path / "sweep").glob("*.json"))
    assert len(written) == 2 and written[0].startswith("tor_openclip-cliposcope-toy-seed-3")
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert errors == [
        "error: st:/no/such/folder failed: model folder not found: /no/such/folder "
        "(hint: check the path; hub names look like org/name)"
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("holds this experiment already") == 2
    assert sorted(path.name for path in (tmp_path / "sweep").glob("*.json")) == written


def test_one_model_that_fails_is_the_usual_one_line(tmp_path, capsys):
    code = main(["run", "tor", "--model", "st:/no/such/folder", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: model folder")
