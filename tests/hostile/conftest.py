"""A small real result folder for the hostile suite: TOR on a synthetic encoder with a
planted first-object effect and its random-weight control, with per-query records, as
`cliposcope run` saves them. Each test tampers with a copy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests.probes.fakes import PositionWeightedEncoder

from cliposcope.app.cli import main
from cliposcope.data.vocab import Vocabulary
from cliposcope.probes.registry import run_probe
from cliposcope.probes.tor import TorSettings
from cliposcope.results import result_filename

WORDS = Vocabulary("hostile words", tuple(f"w{i:02d}" for i in range(20)))
CONTROL_SPEC = "fake:control"


def save_pair(folder: Path, model_spec: str | None = None, control_role="null:random-init"):
    """A model's TOR result and its control's, saved into ``folder``; the model's and
    the control's paths."""
    settings = TorSettings(WORDS, n=3, sample=60, seed=0)
    model = PositionWeightedEncoder((1.5, 1.0, 1.0), noise=0.3, noise_seed=1)
    control = PositionWeightedEncoder((1.0, 1.0, 1.0), noise=0.3, noise_seed=2)
    control.info = type(control.info)(**{**control.info.to_dict(), "spec": CONTROL_SPEC})
    if model_spec is not None:
        model.info = type(model.info)(**{**model.info.to_dict(), "spec": model_spec})
    first = run_probe("tor", model, None, settings)
    first.provenance["controls"] = {control_role.removeprefix("null:"): CONTROL_SPEC}
    second = run_probe("tor", control, None, settings, role=control_role)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for result in (first, second):
        path = folder / result_filename(result)
        result.save(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="session")
def base_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hostile") / "results"
    save_pair(folder)
    return folder


def copy_folder(base: Path, to: Path) -> tuple[Path, Path]:
    """A copy of the base folder; its model's and its control's JSON."""
    shutil.copytree(base, to)
    model = next(p for p in to.glob("*.json") if "_model_" in p.name)
    control = next(p for p in to.glob("*.json") if "_null-" in p.name)
    return model, control


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as stop:  # argparse's usage errors
        code = stop.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every entry below ``folder`` with its size and time (lstat: never opens a pipe)."""
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): (p.lstat().st_size, p.lstat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
    }


def assert_one_clear_error(argv, capsys, value: str, out: Path, watched: Path) -> str:
    """The command fails with exit 2 and one ``error:`` line naming ``value``, no traceback,
    no ``out`` folder, and nothing new or changed below ``watched``; the line."""
    before = snapshot(watched)
    code, _, err = run_cli(capsys, *argv)
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert value in lines[0], (value, lines[0])
    assert "Traceback" not in err
    assert not out.exists(), snapshot(out)
    assert snapshot(watched) == before
    return lines[0]


_ENCODERS: dict = {}


@pytest.fixture
def encoders_loaded_once(monkeypatch):
    """Each model (and option set) loaded once per test session, not once per command
    (seconds each on a busy 2-core machine); what the commands do with it is unchanged."""
    import cliposcope.app.runs
    import cliposcope.encoders

    real = cliposcope.encoders.load_encoder

    def load(spec, **options):
        key = (str(spec), tuple(sorted(options.items())))
        if key not in _ENCODERS:
            _ENCODERS[key] = real(spec, **options)
        return _ENCODERS[key]

    monkeypatch.setattr(cliposcope.app.runs, "load_encoder", load)
    monkeypatch.setattr(cliposcope.encoders, "load_encoder", load)
