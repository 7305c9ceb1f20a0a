"""Hugging Face adapter on random-weight models saved to local folders."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cliposcope.encoders import load_encoder
from cliposcope.errors import CliposcopeError


def test_hf_clip_embeds_texts_and_images(hf_clip_dir):
    encoder = load_encoder(f"hf:{hf_clip_dir}")
    info = encoder.info
    details = info.details
    assert info.family == "hf" and info.embed_dim == 32 and details["context_length"] == 77
    assert details["activation"] == "quick_gelu" and details["text_causal"]
    assert details["fast_text_path"]
    assert info.weights_source == f"folder:{hf_clip_dir}"
    texts = encoder.encode_text(["a dog", "apple and pizza"])
    pictures = encoder.encode_images([Image.new("RGB", (90, 70), c) for c in ("red", "blue")])
    for array in (texts, pictures):
        assert array.shape == (2, 32) and array.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(array, axis=1), 1.0, atol=1e-6)
    assert not np.allclose(pictures[0], pictures[1])


def test_hf_clip_matches_transformers_pipeline(hf_clip_dir):
    """Same numbers as the documented transformers recipe (processor + get_*_features)."""
    import torch
    from transformers import CLIPModel, CLIPProcessor

    model = CLIPModel.from_pretrained(hf_clip_dir).eval()
    processor = CLIPProcessor.from_pretrained(hf_clip_dir)
    texts = ["a photo of a cat", "dog"]
    picture = Image.new("RGB", (80, 60), "green")
    inputs = processor(text=texts, images=[picture], return_tensors="pt", padding=True)
    with torch.inference_mode():
        text = model.get_text_features(
            input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]
        )
        image = model.get_image_features(pixel_values=inputs["pixel_values"])
    text = getattr(text, "pooler_output", text)
    image = getattr(image, "pooler_output", image)
    encoder = load_encoder(f"hf:{hf_clip_dir}")
    expected_text = torch.nn.functional.normalize(text, dim=-1).numpy()
    expected_image = torch.nn.functional.normalize(image, dim=-1).numpy()
    np.testing.assert_allclose(encoder.encode_text(texts), expected_text, atol=1e-5)
    np.testing.assert_allclose(encoder.encode_images([picture]), expected_image, atol=1e-5)


def test_hf_siglip_embeds_with_reference_path(hf_siglip_dir):
    encoder = load_encoder(f"hf:{hf_siglip_dir}")
    assert encoder.info.settings["model_type"] == "siglip"
    details = encoder.info.details
    assert not details["text_causal"] and details["text_pooling"] == "last"
    assert encoder.encode_text(["a dog and a cat"]).shape == (1, 64)
    assert encoder.encode_images([Image.new("RGB", (50, 50))]).shape == (1, 64)


def test_hf_rejects_non_clip_models(tmp_path):
    from transformers import BertConfig

    BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=2).save_pretrained(tmp_path)
    with pytest.raises(CliposcopeError, match=r"'bert' model.*st:"):
        load_encoder(f"hf:{tmp_path}")


def test_hf_missing_folder_is_clear(tmp_path):
    with pytest.raises(CliposcopeError, match="model folder not found"):
        load_encoder(f"hf:{tmp_path}/missing")


@pytest.mark.slow
def test_hf_hub_name_offline_is_clear(tmp_path):
    """Offline, a hub name fails at once with the reason, not a traceback."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    texts = tmp_path / "texts.txt"
    texts.write_text("a dog\n")
    argv = [
        sys.executable,
        "-m",
        "cliposcope",
        "encode",
        "--model",
        "hf:nobody/no-such-model",
        "--texts",
        str(texts),
        "--out",
        str(tmp_path / "unused.npy"),
        "--no-cache",
    ]
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "config.json of nobody/no-such-model is not in the cache" in result.stderr
