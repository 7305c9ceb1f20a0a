"""A control must differ from its model: a random-weight model is never compared with its
own weights."""

from __future__ import annotations

import json

from cliposcope.app.cli import main


def test_a_random_weight_model_gets_a_control_of_another_seed(tmp_path, capsys):
    words = tmp_path / "words.txt"
    words.write_text("dog\ncat\ncar\nbus\napple\n")
    model = "openclip:cliposcope-toy?seed=0"
    command = ["run", "tor", "--model", model, "--vocab", str(words), "--null", "random-init"]
    assert main([*command, "--out", str(tmp_path), "--no-cache", "--quiet"]) == 0
    results = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("tor_*.json"))]
    by_role = {r["role"]: r for r in results}
    control = by_role["null:random-init"]["model"]
    assert control["spec"] == "openclip:cliposcope-toy?seed=1"
    assert by_role["model"]["provenance"]["controls"] == {"random-init": control["spec"]}
    assert control["weights_hash"] != by_role["model"]["model"]["weights_hash"]
    assert "+0.0 points" not in capsys.readouterr().out
