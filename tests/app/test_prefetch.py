"""`cliposcope prefetch`: a connected machine fills the cache, a machine without the hub
then runs the same models. The hub here is a loopback server (tests/fake_hub.py)."""

from __future__ import annotations

import json

import pytest

from cliposcope.encoders.hf import save_tiny_clip
from cliposcope.encoders.openclip import TINY_ARCH, random_model, save_local_dir
from fake_hub import FakeHub, folder_files
from hub_cache import (
    cliposcope_with,
    closed_port_endpoint,
    hub_environment,
    put_folder_in_hub_cache,
)

pytestmark = pytest.mark.slow


def test_prefetch_fills_the_cache_that_an_offline_run_then_reads(tmp_path):
    open_clip_repo = folder_files(
        save_local_dir(random_model(TINY_ARCH, 1), TINY_ARCH, tmp_path / "oc")
    )
    open_clip_repo["model.safetensors"] = b"timm's copy of the weights: not for open_clip"
    transformers_repo = folder_files(save_tiny_clip(tmp_path / "hf", seed=2))
    transformers_repo["flax_model.msgpack"] = b"another framework's weights"
    repos = {"lab/tiny-open-clip": open_clip_repo, "lab/tiny-clip-hf": transformers_repo}
    specs = ["openclip:hf-hub:lab/tiny-open-clip", "hf:lab/tiny-clip-hf"]
    local = tmp_path / "local-model"

    with FakeHub(repos) as hub:
        done = cliposcope_with(
            ["prefetch", *specs, "openclip:cliposcope-tiny?seed=0"],
            hub_environment(tmp_path / "home", HF_ENDPOINT=hub.endpoint),
        )
    assert done.returncode == 0, done.stderr
    for spec in specs:
        assert f"{spec}: fetched" in done.stdout
        assert f"{spec}: loads and embeds with the hub switched off" in done.stdout
    assert "openclip:cliposcope-tiny?seed=0: nothing to fetch" in done.stdout
    asked = {path for _, path in hub.requests}
    assert "/lab/tiny-open-clip/resolve/main/model.safetensors" not in asked
    assert not any(path.endswith("flax_model.msgpack") for path in asked)
    cache = tmp_path / "home" / "hub"
    assert not list(cache.glob("models--lab--tiny-open-clip/snapshots/*/model.safetensors"))
    assert list(cache.glob("models--lab--tiny-open-clip/snapshots/*/open_clip_model.safetensors"))

    # the hub gone: the runs read the cache, and measure what the same weights measure locally
    offline = hub_environment(tmp_path / "home", HF_ENDPOINT=closed_port_endpoint())
    local_env = hub_environment(tmp_path / "elsewhere", HF_HUB_OFFLINE="1")
    for index, (spec, local_spec) in enumerate(
        [
            ("hf:lab/tiny-clip-hf", f"hf:{tmp_path / 'hf'}"),
            ("openclip:hf-hub:lab/tiny-open-clip", f"openclip:local-dir:{tmp_path / 'oc'}"),
        ]
    ):
        metrics = []
        for model, env, out in [(spec, offline, "hub"), (local_spec, local_env, "local")]:
            folder = local / f"{out}{index}"
            arguments = ["--model", model, "--sample", "20", "--no-cache", "--out", str(folder)]
            run = cliposcope_with(["run", "tor", *arguments, "--quiet"], env)
            assert run.returncode == 0, run.stderr
            (result,) = folder.glob("*.json")
            metrics.append(json.loads(result.read_text())["metrics"])
        assert metrics[0] == metrics[1]


def test_prefetch_without_the_hub_checks_the_cache_and_names_what_is_missing(tmp_path):
    folder = save_local_dir(random_model(TINY_ARCH, 4), TINY_ARCH, tmp_path / "oc")
    put_folder_in_hub_cache(tmp_path / "home" / "hub", "lab/in-cache", folder)
    done = cliposcope_with(
        ["prefetch", "openclip:hf-hub:lab/in-cache", "openclip:hf-hub:lab/not-in-cache"],
        hub_environment(tmp_path / "home", HF_ENDPOINT=closed_port_endpoint()),
    )
    assert done.returncode == 2
    assert "openclip:hf-hub:lab/in-cache: already in the cache (lab/in-cache)" in done.stdout
    assert "openclip:hf-hub:lab/in-cache: loads and embeds with the hub switched off" in done.stdout
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "lab/not-in-cache" in errors[0] and "open_clip_config.json" in errors[0]
