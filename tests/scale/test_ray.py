"""The Ray engine on a local Ray instance (2 CPUs, loopback): TOR, IOR and corpus
statistics give the local engine's results exactly (JSON identical apart from timing and
engine fields), a killed actor's work is retried, and a rerun resumes from the shards."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from cliposcope.app.cli import main  # noqa: E402
from cliposcope.encoders import load_encoder  # noqa: E402
from cliposcope.results import ProbeResult  # noqa: E402
from cliposcope.scale.ray_engine import RaySettings, embed_with_ray  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def comparable(path: Path) -> tuple[str, dict[str, list]]:
    """The result as text, less what differs between any two runs (time, command, engine),
    and its per-query records."""
    record = json.loads(path.read_text())
    record.pop("wall_time_s")
    record.pop("run")
    record["provenance"].pop("engine")
    columns = {}
    if record.get("records"):
        record["records"].pop("sha256")
        columns = ProbeResult.load(path).load_records(path)
    return json.dumps(record, sort_keys=True), columns


def assert_same_result(first: Path, second: Path) -> None:
    """Equal figures and records; similarities in the records may differ in the last
    float32 digit where a batch holds other inputs (the figures never do)."""
    (text, columns), (other_text, other_columns) = comparable(first), comparable(second)
    assert text == other_text
    assert columns.keys() == other_columns.keys()
    for name, values in columns.items():
        if values and isinstance(values[0], float):
            assert np.allclose(values, other_columns[name], rtol=0, atol=1e-6), name
        else:
            assert values == other_columns[name], name


def run_both(tmp_path: Path, argv: list[str]) -> tuple[list[Path], list[Path]]:
    outputs = []
    for engine in ("local", "ray"):
        out = tmp_path / engine
        assert main([*argv, "--out", str(out), "--engine", engine, "--quiet"]) == 0
        outputs.append(sorted(out.glob("*.json")))
    return outputs[0], outputs[1]


@pytest.mark.slow
def test_tor_on_ray_equals_local(tmp_path):
    local, distributed = run_both(
        tmp_path,
        [
            "run",
            "tor",
            "--model",
            "toy:default",
            "--vocab",
            "coco",
            "--n",
            "3",
            "--sample",
            "3000",
            "--no-cache",
        ],
    )
    assert len(local) == len(distributed) == 1
    assert_same_result(local[0], distributed[0])
    engine = json.loads(distributed[0].read_text())["provenance"]["engine"]
    assert engine["engine"] == "ray" and engine["actors"] == 2


@pytest.mark.slow
def test_ior_on_ray_equals_local(tmp_path):
    scenes = tmp_path / "scenes"
    assert (
        main(
            [
                "generate",
                "comco",
                "--objects",
                "3",
                "--count",
                "60",
                "--size",
                "64",
                "--gap",
                "2",
                "--out",
                str(scenes),
                "--quiet",
            ]
        )
        == 0
    )
    local, distributed = run_both(
        tmp_path, ["run", "ior", "--model", "toy:default", "--scenes", str(scenes), "--no-cache"]
    )
    assert_same_result(local[0], distributed[0])


@pytest.mark.slow
def test_corpus_stats_on_ray_equals_local(tmp_path):
    instances = tmp_path / "coco" / "instances_synth.json"
    assert (
        main(
            [
                "generate",
                "comco",
                "--objects",
                "3",
                "--order",
                "large-first:0.7",
                "--count",
                "60",
                "--size",
                "64",
                "--gap",
                "2",
                "--out",
                str(tmp_path / "scenes"),
                "--coco-json",
                str(instances),
                "--quiet",
            ]
        )
        == 0
    )
    captions = instances.with_name("captions_synth.json")
    local, distributed = run_both(
        tmp_path,
        ["corpus", "stats", "--coco-captions", str(captions), "--coco-instances", str(instances)],
    )
    assert_same_result(local[0], distributed[0])


@pytest.mark.slow
def test_a_killed_actor_is_retried_and_a_rerun_resumes(tmp_path):
    texts = [f"a photo of object {i} and a dog" for i in range(50)]
    encoder = load_encoder("toy:default")
    expected = encoder.encode_text(texts)
    fault = tmp_path / "kill-once"
    fault.write_text("x")
    settings = RaySettings(actors=2, shard_size=10, fault_file=str(fault))
    options = {"device": "cpu", "precision": "fp32"}
    vectors, record = embed_with_ray(
        "toy:default",
        options,
        texts,
        "text",
        encoder.info.fingerprint,
        settings,
        tmp_path / "shards",
    )
    assert not fault.exists()  # an actor died on its first shard, and was replaced
    assert record == {"shards": 5, "computed": 5, "reused": 0}
    # the same model on one thread per actor: equal up to float rounding (~1e-7)
    assert np.abs(vectors - expected).max() < 1e-6
    shard_folder = next((tmp_path / "shards").iterdir())
    next(iter(sorted(shard_folder.iterdir()))).unlink()  # as if the driver died before it
    again, record = embed_with_ray(
        "toy:default",
        options,
        texts,
        "text",
        encoder.info.fingerprint,
        RaySettings(shard_size=10),
        tmp_path / "shards",
    )
    assert record == {"shards": 5, "computed": 1, "reused": 4}
    assert np.array_equal(again, vectors)


@pytest.mark.slow
def test_the_command_starts_and_stops_its_own_local_instance(tmp_path):
    ray.shutdown()  # this module's instance: the command must start one of its own
    captions = tmp_path / "captions.jsonl"
    captions.write_text(json.dumps({"caption": "an elephant next to an apple"}) + "\n")
    assert (
        main(
            [
                "corpus",
                "stats",
                "--input",
                str(captions),
                "--engine",
                "ray",
                "--out",
                str(tmp_path / "out"),
                "--quiet",
            ]
        )
        == 0
    )
    assert not ray.is_initialized()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)


@pytest.mark.slow
def test_the_default_engine_never_imports_ray():
    code = (
        "import sys; from cliposcope.app.cli import main; main(['models']); "
        "assert 'ray' not in sys.modules, 'ray was imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_tor_with_the_cache_prefetches_once_and_equals_local(tmp_path):
    outputs = []
    for engine in ("local", "ray"):
        out = tmp_path / engine
        assert (
            main(
                [
                    "run",
                    "tor",
                    "--model",
                    "toy:default",
                    "--vocab",
                    "coco",
                    "--n",
                    "3",
                    "--sample",
                    "5000",
                    "--cache-dir",
                    str(tmp_path / f"cache-{engine}"),
                    "--out",
                    str(out),
                    "--engine",
                    engine,
                    "--quiet",
                ]
            )
            == 0
        )
        outputs.append(next(out.glob("*.json")))
    assert_same_result(outputs[0], outputs[1])
    shards = list((tmp_path / "cache-ray" / "ray-shards").rglob("*.parquet"))
    assert len(shards) == 3  # the names, then 5,000 captions in shards of 4,096


@pytest.mark.slow
def test_blocks_and_windows_merge_to_the_local_figures(tmp_path, monkeypatch):
    from tests.probes.test_corpus_stats import as_json, write_fixture

    import cliposcope.scale.ray_engine as engine
    from cliposcope.data.corpus import CocoCorpus
    from cliposcope.probes.corpus_stats import CorpusCounter, CorpusStatsSettings

    corpus = CocoCorpus(*write_fixture(tmp_path))
    settings = CorpusStatsSettings()
    counter = CorpusCounter(settings, corpus.categories, sized=True, clustered=True)
    local = counter.empty()
    for batch in corpus.batches(counter.matcher.canonical):
        local.merge(counter.count(batch))
    monkeypatch.setattr(engine, "WINDOW_BLOCKS", 2)  # 12 captions: windows of 2 blocks of 3
    merged = engine.count_with_ray(corpus, counter, settings, RaySettings(), block_rows=3)
    assert as_json(merged.truth.summary(1)) == as_json(local.truth.summary(1))
    assert as_json(merged.proxy.summary(1)) == as_json(local.proxy.summary(1))
    assert merged.captions == local.captions == 12
    assert merged.truth.clusters == local.truth.clusters and local.truth.clusters


@pytest.mark.slow
def test_shards_import_into_the_cache_and_a_foreign_model_is_refused(tmp_path):
    from cliposcope.cache import CachedEncoder
    from cliposcope.errors import CliposcopeError

    texts = [f"a dog and a cat number {i}" for i in range(12)]
    encoder = load_encoder("toy:default")
    fingerprint = encoder.info.fingerprint
    vectors, _ = embed_with_ray(
        "toy:default",
        {"device": "cpu"},
        texts,
        "text",
        fingerprint,
        RaySettings(shard_size=5),
        tmp_path / "shards",
    )
    folder = tmp_path / "shards" / fingerprint[:32]
    assert (
        main(
            [
                "cache",
                "import",
                str(folder),
                "--model",
                "toy:default",
                "--cache-dir",
                str(tmp_path / "cache"),
            ]
        )
        == 0
    )
    cached = CachedEncoder(encoder, tmp_path / "cache")
    assert np.array_equal(cached.encode_text(texts), vectors)
    assert (cached.stats.hits, cached.stats.misses) == (12, 0)  # shared with local runs
    with pytest.raises(CliposcopeError, match="not the driver's"):
        embed_with_ray(
            "toy:default",
            {"device": "cpu"},
            ["a new text"],
            "text",
            "0" * 64,
            RaySettings(),
            tmp_path / "other",
        )
