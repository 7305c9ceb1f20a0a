"""Model specs that say one thing twice or name an internal spec, and runs on different
inputs into one output folder (which must keep both results, never overwrite one)."""

from __future__ import annotations

import json

import pytest
from tests.coco_files import write_coco_pair
from tests.hostile.conftest import assert_one_clear_error, run_cli

BAD_SPECS = {
    "seed=1&seed=2": ("openclip:cliposcope-toy?seed=1&seed=2", "given twice"),
    "seed and SEED": ("openclip:cliposcope-toy?seed=1&SEED=2", "given twice"),
    "toy fast=maybe": ("toy:default?fast=maybe", "'toy:default?fast=maybe'"),
    "toy fast twice": ("toy:default?fast=true&fast=false", "given twice"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", BAD_SPECS)
def test_a_spec_is_refused_in_the_users_own_words(case, tmp_path, capsys):
    spec, said = BAD_SPECS[case]
    out = tmp_path / "out"
    argv = ["run", "tor", "--model", spec, "--sample", "5", "--out", out, "--quiet"]
    line = assert_one_clear_error(argv, capsys, said, out, tmp_path)
    assert "cliposcope-toy/" not in line  # never the internal spec a toy model loads as


CATEGORIES = {1: "person", 18: "dog", 34: "frisbee"}
INSTANCES = {1: [(18, 5000), (34, 100)], 2: [(1, 800), (18, 9000)]}
FIRST = [(1, "A dog catching a frisbee"), (2, "a person and a dog")]
SECOND = [(1, "a frisbee and a dog"), (2, "A dog beside a person"), (2, "a person, a dog")]


@pytest.mark.slow
@pytest.mark.parametrize(
    "probe_argv",
    [["corpus", "stats"], ["run", "tor-captions", "--model", "toy:default", "--n", "2"]],
    ids=["corpus-stats", "tor-captions"],
)
def test_runs_on_different_inputs_into_one_folder_keep_both_results(probe_argv, tmp_path, capsys):
    out = tmp_path / "out"
    for name, captions in (("first", FIRST), ("second", SECOND)):
        caption_file, instance_file = write_coco_pair(
            tmp_path, name, CATEGORIES, INSTANCES, captions
        )
        argv = [*probe_argv, "--coco-captions", caption_file, "--coco-instances", instance_file]
        code, _, err = run_cli(capsys, *argv, "--out", out, "--quiet")
        assert code == 0, err
    results = [json.loads(path.read_text()) for path in sorted(out.glob("*.json"))]
    inputs = {json.dumps(r["provenance"]["inputs"], sort_keys=True) for r in results}
    assert len(results) == 2 and len(inputs) == 2
