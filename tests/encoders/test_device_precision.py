"""Device and precision are chosen where the encoder is built, recorded in its info, and
part of its cache fingerprint; fp32 on CPU is the reference every number was measured on."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cliposcope.app.cli import main
from cliposcope.cache import CachedEncoder
from cliposcope.encoders import load_encoder
from cliposcope.encoders.base import resolve_device
from cliposcope.errors import CliposcopeError

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")
CAPTIONS = ["apple and pizza and desk", "a dog", "teddy bear and cat and a red car"]
SPEC = "openclip:cliposcope-tiny?seed=0"


def test_cpu_fp32_is_the_default_and_records_itself(tiny_openclip):
    explicit = load_encoder(SPEC, device="cpu", precision="fp32", text_batch_size=4)
    assert explicit.info.device == "cpu"
    assert explicit.info.precision == "fp32"
    assert explicit.info.fingerprint == tiny_openclip.info.fingerprint
    assert np.array_equal(explicit.encode_text(CAPTIONS), tiny_openclip.encode_text(CAPTIONS))


def test_bf16_on_cpu_runs_records_itself_and_never_shares_a_cache(tiny_openclip, tmp_path):
    half = load_encoder(SPEC, device="cpu", precision="bf16")
    assert half.info.precision == "bf16"
    assert half.info.fingerprint != tiny_openclip.info.fingerprint
    embeddings = half.encode_text(CAPTIONS)
    assert embeddings.dtype == np.float32
    assert np.allclose(np.linalg.norm(embeddings, axis=1), 1, atol=1e-5)
    reference = tiny_openclip.encode_text(CAPTIONS)
    assert np.all(np.einsum("ij,ij->i", embeddings, reference) > 0.95)  # close, not equal
    assert not np.array_equal(embeddings, reference)
    CachedEncoder(half, tmp_path).encode_text(CAPTIONS)
    CachedEncoder(tiny_openclip, tmp_path).encode_text(CAPTIONS)
    assert len(list(tmp_path.rglob("*.sqlite"))) == 2  # one store per precision


def test_device_and_precision_reach_the_result_json(tmp_path, capsys):
    common = ["run", "tor", "--model", SPEC, "--n", "2", "--sample", "40", "--no-cache", "--quiet"]
    assert main([*common, "--out", str(tmp_path / "default")]) == 0
    assert (
        main([*common, "--out", str(tmp_path / "cpu"), "--device", "cpu", "--precision", "fp32"])
        == 0
    )
    assert main([*common, "--out", str(tmp_path / "bf16"), "--precision", "bf16"]) == 0

    def load(folder):
        [path] = (tmp_path / folder).glob("tor_*.json")
        record = json.loads(path.read_text())
        record.pop("wall_time_s")
        record.pop("run", None)  # how and when it was invoked: differs with the command line
        return record

    assert load("default") == load("cpu")  # cpu fp32 reproduces the default exactly
    assert load("bf16")["model"]["precision"] == "bf16"
    assert load("bf16")["model"]["device"] == "cpu"


@pytest.mark.parametrize(
    ("device", "message"),
    [("gpu", "not one I know"), ("cuda:x", "not one I know"), ("tpu:0", "not one I know")],
)
def test_bad_devices_are_refused(device, message):
    with pytest.raises(CliposcopeError, match=message):
        resolve_device(device)


def test_bad_precision_is_refused():
    with pytest.raises(CliposcopeError, match="precision 'fp8'"):
        load_encoder(SPEC, precision="fp8")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_says_so():
    with pytest.raises(CliposcopeError, match="no CUDA GPU"):
        resolve_device("cuda")
    assert resolve_device("auto") in ("cpu", "mps")


@needs_cuda
@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16"])
def test_cuda_matches_cpu_within_the_precision_tolerance(tiny_openclip, precision, tmp_path):
    gpu = load_encoder(SPEC, device="cuda", precision=precision)
    assert gpu.info.device == "cuda:0"
    assert gpu.info.fingerprint != tiny_openclip.info.fingerprint
    tolerance = {"fp32": 1e-4, "fp16": 2e-2, "bf16": 6e-2}[precision]
    cpu = tiny_openclip.encode_text(CAPTIONS)
    assert np.abs(gpu.encode_text(CAPTIONS) - cpu).max() < tolerance
    from PIL import Image

    image = Image.new("RGB", (64, 64), (200, 40, 40))
    cpu_image = tiny_openclip.encode_images([image])
    assert np.abs(gpu.encode_images([image]) - cpu_image).max() < tolerance
    assert gpu.cls_attention([image]).shape == tiny_openclip.cls_attention([image]).shape
    if precision == "fp32":
        assert gpu.info.details["fast_text_path"]  # the self-check passed on the GPU too
