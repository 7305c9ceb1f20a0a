"""`lab train` and `lab ablate` write TensorBoard event files holding the figures the runs
record themselves; a resumed run shows each step once; without the package nothing is
written, and asking for it anyway is one clear error before any work."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest
from tests.lab.test_lab import TINY

from cliposcope.errors import CliposcopeError
from cliposcope.lab.ablate import FIGURES, AblateSettings, ablate
from cliposcope.lab.pool import PoolSpec
from cliposcope.lab.tensorboard_log import ScalarLog, safe_tag, wants_tensorboard
from cliposcope.lab.train import train

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

# Checkpoints at steps 4, 8 and 10: log.jsonl records those three steps.
SHORT = dataclasses.replace(TINY, batch_size=8, samples=8 * 10, checkpoint_every=8 * 4)
ONE_CELL = AblateSettings(
    variants=("causal",),
    policies=("largest-first",),
    seeds=1,
    samples=16,
    batch_size=8,
    checkpoint_every=16,
    evaluation_scenes=10,
    pool=PoolSpec(vocabulary_size=8, scenes_per_count=(8, 8, 8, 8)),
    heldout=PoolSpec(vocabulary_size=8, scenes_per_count=(0, 4, 4, 0), seed=99),
)


def read_scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar in an event folder as TensorBoard shows it (purged points left out)."""
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0}).Reload()
    return {
        tag: [(event.step, event.value) for event in events.Scalars(tag)]
        for tag in events.Tags()["scalars"]
    }


def logged_records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def short_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("tensorboard") / "run"
    train(SHORT, run, progress=False, tensorboard=run / "tensorboard")
    return run


@pytest.mark.slow
def test_the_loss_and_learning_rate_of_every_step_are_written(short_run):
    scalars = read_scalars(short_run / "tensorboard")
    assert [step for step, _ in scalars["train/loss"]] == list(range(1, SHORT.steps + 1))
    assert [step for step, _ in scalars["train/learning_rate"]] == list(range(1, SHORT.steps + 1))
    loss, learning_rate = dict(scalars["train/loss"]), dict(scalars["train/learning_rate"])
    records = logged_records(short_run)
    assert [record["step"] for record in records] == [4, 8, 10]
    for record in records:
        assert loss[record["step"]] == pytest.approx(record["loss"], abs=1e-5)
        assert learning_rate[record["step"]] == pytest.approx(record["lr"], rel=1e-6)


def test_heldout_retrieval_is_written_at_every_checkpoint(short_run):
    scalars = read_scalars(short_run / "tensorboard")
    for record in logged_records(short_run):
        for name, value in record["heldout"].items():
            written = dict(scalars[f"heldout/{name}"])
            assert written[record["step"]] == pytest.approx(value, abs=1e-6)
    assert [step for step, _ in scalars["heldout/largest_object_top1"]] == [4, 8, 10]


@pytest.mark.slow
def test_a_resumed_run_shows_each_step_once(tmp_path, monkeypatch):
    import open_clip

    real = open_clip.ClipLoss.forward
    calls = {"n": 0}

    def crash_after_6(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 6:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    run = tmp_path / "run"
    monkeypatch.setattr(open_clip.ClipLoss, "forward", crash_after_6)
    with pytest.raises(KeyboardInterrupt):
        train(SHORT, run, progress=False, tensorboard=run / "tensorboard")
    # Closed on the interrupt: the steps before it are on disk, not lost in a queue.
    assert [step for step, _ in read_scalars(run / "tensorboard")["train/loss"]] == [*range(1, 7)]
    monkeypatch.setattr(open_clip.ClipLoss, "forward", real)
    train(SHORT, run, progress=False, tensorboard=run / "tensorboard")  # resumes from step 4
    assert len(list((run / "tensorboard").iterdir())) == 2
    loss = read_scalars(run / "tensorboard")["train/loss"]
    assert [step for step, _ in loss] == list(range(1, SHORT.steps + 1))
    final = logged_records(run)[-1]
    assert dict(loss)[final["step"]] == pytest.approx(final["loss"], abs=1e-5)
    train(SHORT, run, progress=False, tensorboard=run / "tensorboard")  # done: nothing new
    assert len(list((run / "tensorboard").iterdir())) == 2


@pytest.mark.slow
def test_an_ablation_writes_each_cells_figures_per_checkpoint(tmp_path):
    out = tmp_path / "grid"
    summary = ablate(ONE_CELL, out, tensorboard=out / "tensorboard")
    (cell,) = summary["cells"]
    folder = out / "tensorboard" / "causal__largest-first__seed0"
    assert [path.name for path in (out / "tensorboard").iterdir()] == [folder.name]

    def check_figures():
        scalars = read_scalars(folder)
        assert [step for step, _ in scalars["train/loss"]] == [1, 2]
        for key in FIGURES:
            probe, _, figure = key.partition("_")
            expected = [
                (point["samples"] // ONE_CELL.batch_size, point[key]["estimate"])
                for point in cell["checkpoints"]
            ]
            assert [step for step, _ in expected] == [0, 2]
            written = scalars[f"bias/{probe}/{figure}"]
            assert [step for step, _ in written] == [step for step, _ in expected]
            assert [value for _, value in written] == pytest.approx(
                [value for _, value in expected], abs=1e-6
            )
            control = cell["control"][key]["estimate"]
            assert [value for _, value in scalars[f"control/{probe}/{figure}"]] == pytest.approx(
                [control, control], abs=1e-6
            )

    check_figures()
    files = sorted(path.name for path in folder.iterdir())
    ablate(ONE_CELL, out, tensorboard=out / "tensorboard")  # all reused: figures rewritten
    again = sorted(path.name for path in folder.iterdir())
    assert len(again) == 2 and again[0] == files[0]  # the training curves are kept as written
    check_figures()  # once each, not twice


def test_tags_keep_to_safe_characters():
    assert safe_tag("bias/tor/first_matched") == "bias/tor/first_matched"
    assert safe_tag("bias/tör first:matched\n") == "bias/t_r_first_matched_"
    assert safe_tag("") == "_"


def test_a_log_without_a_folder_writes_nothing(tmp_path):
    with ScalarLog(None) as scalars:
        scalars.scalar("train/loss", 1.0, 1)
    with ScalarLog(tmp_path / "unused") as scalars:
        scalars.scalar("train/loss", None, 1)  # a figure without an estimate is left out
    assert not (tmp_path / "unused").exists()


@pytest.fixture
def without_tensorboard(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)


def test_without_the_package_the_default_is_off_and_asking_is_refused(without_tensorboard):
    assert wants_tensorboard(None) is False and wants_tensorboard(False) is False
    with pytest.raises(CliposcopeError, match="not installed") as raised:
        wants_tensorboard(True)
    assert raised.value.hint == "pip install 'cliposcope[tensorboard]'"


def test_training_into_a_tensorboard_folder_without_the_package_fails_first(
    without_tensorboard, tmp_path
):
    with pytest.raises(CliposcopeError, match="tensorboard package"):
        train(SHORT, tmp_path / "run", progress=False, tensorboard=tmp_path / "run" / "tb")
    assert not (tmp_path / "run").exists()


@pytest.fixture
def trained_with(monkeypatch) -> dict:
    """`lab train` with a fake training that notes where it would write event files."""
    seen: dict = {}

    def fake_train(settings, run_dir, *, progress, tensorboard):
        seen["tensorboard"] = tensorboard
        return Path(run_dir) / "checkpoints" / "samples_000000001.pt"

    monkeypatch.setattr("cliposcope.lab.train.train", fake_train)
    return seen


@pytest.mark.parametrize(
    ("options", "expected"),
    [([], "tensorboard"), (["--tensorboard"], "tensorboard"), (["--no-tensorboard"], None)],
)
def test_the_train_command_writes_event_files_into_its_run_folder(
    options, expected, trained_with, tmp_path
):
    from cliposcope.app.cli import main

    out = tmp_path / "run"
    assert main(["lab", "train", *options, "--out", str(out), "--quiet"]) == 0
    assert trained_with["tensorboard"] == (out / expected if expected else None)


def test_without_the_package_the_train_command_writes_none(
    without_tensorboard, trained_with, tmp_path
):
    from cliposcope.app.cli import main

    assert main(["lab", "train", "--out", str(tmp_path / "run"), "--quiet"]) == 0
    assert trained_with["tensorboard"] is None


@pytest.mark.parametrize("command", ["train", "ablate"])
def test_asking_for_tensorboard_without_the_package_is_one_line_before_any_work(
    command, without_tensorboard, tmp_path, capsys
):
    from cliposcope.app.cli import main

    out = tmp_path / "out"
    assert main(["lab", command, "--tensorboard", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'cliposcope[tensorboard]'" in err
    assert not out.exists()
