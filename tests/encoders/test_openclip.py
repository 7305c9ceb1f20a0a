"""open_clip adapter: spec forms, checkpoint round trips, clear errors, QuickGELU choice."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from cliposcope.encoders import load_encoder
from cliposcope.encoders.openclip import (
    OpenClipEncoder,
    WeightsSource,
    save_local_dir,
    save_weights,
)
from cliposcope.encoders.specs import parse_spec
from cliposcope.errors import CliposcopeError

TEXTS = ["apple and pizza and desk", "a dog", "teddy bear and cat"]


def images():
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (70, 90, 3), dtype=np.uint8)) for _ in range(3)]


def assert_same_model(original, loaded):
    assert loaded.info.weights_hash == original.info.weights_hash
    np.testing.assert_array_equal(loaded.encode_text(TEXTS), original.encode_text(TEXTS))
    np.testing.assert_array_equal(loaded.encode_images(images()), original.encode_images(images()))


def test_embeddings_are_normalised_float32_in_input_order(tiny_openclip):
    text = tiny_openclip.encode_text(TEXTS)
    image = tiny_openclip.encode_images(images())
    for array in (text, image):
        assert array.dtype == np.float32 and array.shape == (3, 64)
        np.testing.assert_allclose(np.linalg.norm(array, axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(tiny_openclip.encode_text(TEXTS[::-1]), text[::-1])
    assert tiny_openclip.encode_text([]).shape == (0, 64)


def test_info_records_provenance(tiny_openclip):
    info = tiny_openclip.info
    assert info.family == "openclip" and info.name == "cliposcope-tiny"
    assert info.weights_source == "random-init:seed=0"
    assert info.weights_hash.startswith("sha256:") and len(info.weights_hash) == 71
    assert info.library_versions["torch"] and info.library_versions["open_clip_torch"]
    details = info.details
    assert details["activation"] == "gelu" and details["context_length"] == 77
    assert details["text_causal"] and details["text_pooling"] == "argmax"
    json.dumps(info.to_dict())  # serialisable as is


def test_random_init_is_seeded():
    a = load_encoder("openclip:cliposcope-tiny?seed=0")
    b = load_encoder("openclip:cliposcope-tiny?seed=0")
    c = load_encoder("openclip:cliposcope-tiny?seed=1")
    assert a.info.weights_hash == b.info.weights_hash != c.info.weights_hash
    assert a.info.fingerprint == b.info.fingerprint != c.info.fingerprint


def test_plain_state_dict_round_trip(tiny_openclip, tmp_path):
    path = tmp_path / "plain.pt"
    torch.save(tiny_openclip.model.state_dict(), path)
    loaded = load_encoder(f"openclip:cliposcope-tiny/{path}")
    assert loaded.info.weights_source == f"file:{path}"
    assert_same_model(tiny_openclip, loaded)


def test_training_style_checkpoint_round_trip(tiny_openclip, tmp_path):
    path = tmp_path / "epoch_3.pt"
    state = {f"module.{k}": v for k, v in tiny_openclip.model.state_dict().items()}
    torch.save({"epoch": 3, "name": "run", "state_dict": state, "optimizer": {}}, path)
    assert_same_model(tiny_openclip, load_encoder(f"openclip:cliposcope-tiny/{path}"))


def test_safetensors_round_trip_via_checkpoint_argument(tiny_openclip, tmp_path):
    path = save_weights(tiny_openclip.model, tmp_path / "weights.safetensors")
    loaded = load_encoder("openclip:cliposcope-tiny", checkpoint=path)
    assert loaded.info.spec == f"openclip:cliposcope-tiny/{path}"
    assert_same_model(tiny_openclip, loaded)


def test_local_dir_round_trip(tiny_openclip, tmp_path):
    folder = save_local_dir(tiny_openclip.model, "cliposcope-tiny", tmp_path / "exported")
    loaded = load_encoder(f"openclip:local-dir:{folder}")
    assert loaded.info.weights_source == f"local-dir:{folder}"
    assert_same_model(tiny_openclip, loaded)


def test_checkpoint_with_wrong_keys_names_them(tiny_openclip, tmp_path):
    state = dict(tiny_openclip.model.state_dict())
    del state["ln_final.weight"]
    state["visual.extra_head.weight"] = torch.zeros(2)
    path = tmp_path / "wrong.pt"
    torch.save(state, path)
    with pytest.raises(CliposcopeError) as caught:
        load_encoder(f"openclip:cliposcope-tiny/{path}")
    message = str(caught.value)
    assert "missing keys: ln_final.weight" in message
    assert "unexpected keys: visual.extra_head.weight" in message
    assert "does not fit cliposcope-tiny" in message


def test_checkpoint_of_other_shape_is_a_clear_error(tiny_openclip, tmp_path):
    state = dict(tiny_openclip.model.state_dict())
    state["text_projection"] = torch.zeros(10, 10)
    path = tmp_path / "shape.pt"
    torch.save(state, path)
    with pytest.raises(CliposcopeError, match="size mismatch for text_projection"):
        load_encoder(f"openclip:cliposcope-tiny/{path}")


def test_unreadable_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CliposcopeError, match="cannot read checkpoint"):
        load_encoder(f"openclip:cliposcope-tiny/{path}")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("openclip:ViT-B-33", "unknown open_clip architecture 'ViT-B-33'.*ViT-B-32"),
        ("openclip:ViT-B-32/nosuchtag", "neither a pretrained tag of ViT-B-32.*openai"),
        ("openclip:ViT-B-32/missing/epoch_1.pt", "checkpoint file not found"),
        ("openclip:ViT-B-32?colour=red", "unknown option"),
        ("openclip:ViT-B-32?seed=abc", "not an integer"),
        ("openclip:local-dir:/nonexistent", "no open_clip_config.json"),
        ("openclip:ViT-B-32-quickgelu?quickgelu=false&seed=0", "QuickGELU architecture"),
    ],
)
def test_bad_specs_give_clear_errors(spec, expected):
    with pytest.raises(CliposcopeError, match=expected):
        load_encoder(spec)


def test_seed_on_loaded_weights_is_refused(tiny_openclip, tmp_path):
    path = tmp_path / "w.pt"
    torch.save(tiny_openclip.model.state_dict(), path)
    with pytest.raises(CliposcopeError, match="seed only applies to random-init"):
        load_encoder(f"openclip:cliposcope-tiny/{path}?seed=2")


def test_quick_gelu_follows_the_pretrained_tag_unless_overridden():
    openai = WeightsSource("pretrained", "ViT-B-32", "openai")
    laion = WeightsSource("pretrained", "ViT-B-32", "laion2b_s34b_b79k")
    setting = OpenClipEncoder._quick_gelu_setting
    assert setting(openai, parse_spec("openclip:ViT-B-32/openai")) is True
    assert setting(openai, parse_spec("openclip:ViT-B-32/openai?quickgelu=false")) is False
    assert setting(laion, parse_spec("openclip:ViT-B-32/laion2b_s34b_b79k")) is False
    random_init = WeightsSource("random-init", "ViT-B-32")
    assert setting(random_init, parse_spec("openclip:ViT-B-32")) is False


def test_quick_gelu_option_changes_the_activation_and_fingerprint(tiny_openclip):
    quick = load_encoder("openclip:cliposcope-tiny?quickgelu=true&seed=0")
    assert quick.info.details["activation"] == "quick_gelu"
    assert quick.info.settings["quick_gelu"] is True
    assert quick.info.fingerprint != tiny_openclip.info.fingerprint
    assert quick.info.weights_hash == tiny_openclip.info.weights_hash  # same weights
    assert not np.allclose(quick.encode_text(TEXTS), tiny_openclip.encode_text(TEXTS))


def test_corrupt_and_missing_images_are_clear_errors(tiny_openclip, tmp_path):
    broken = tmp_path / "broken.png"
    good = tmp_path / "good.png"
    images()[0].save(good)
    broken.write_bytes(good.read_bytes()[:100])
    with pytest.raises(CliposcopeError, match=r"cannot read image .*broken\.png"):
        tiny_openclip.encode_images([good, broken])
    with pytest.raises(CliposcopeError, match="image file not found"):
        tiny_openclip.encode_images([tmp_path / "nope.png"])


def test_images_from_paths_match_pil_images(tiny_openclip, tmp_path):
    picture = images()[0]
    picture.save(tmp_path / "a.png")
    np.testing.assert_array_equal(
        tiny_openclip.encode_images([tmp_path / "a.png"]), tiny_openclip.encode_images([picture])
    )


def test_single_string_is_refused(tiny_openclip):
    with pytest.raises(CliposcopeError, match="single string"):
        tiny_openclip.encode_text("a dog")


def test_pretrained_tag_path_loads_the_tag_weights_with_its_activation(
    tiny_openclip, tmp_path, monkeypatch
):
    """The hub path, offline: a registered tag whose hub repo is in the HF cache."""
    import open_clip.pretrained
    from huggingface_hub import constants

    from hub_cache import put_in_hub_cache

    path = tmp_path / "tag_weights.pt"
    torch.save(tiny_openclip.model.state_dict(), path)
    put_in_hub_cache(tmp_path / "hub", "example/tiny-clip", {"open_clip_pytorch_model.bin": path})
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    tag_config = open_clip.pretrained._pcfg(hf_hub="example/tiny-clip/", quick_gelu=True)
    monkeypatch.setitem(open_clip.pretrained._PRETRAINED, "cliposcope-tiny", {"demo": tag_config})

    loaded = load_encoder("openclip:cliposcope-tiny/demo")
    assert loaded.info.weights_source == "pretrained:demo"
    assert loaded.info.weights_hash == tiny_openclip.info.weights_hash
    assert loaded.info.details["activation"] == "quick_gelu"  # as the tag was trained, not GELU
    as_library_default = load_encoder("openclip:cliposcope-tiny/demo?quickgelu=false")
    assert as_library_default.info.details["activation"] == "gelu"
    np.testing.assert_array_equal(
        as_library_default.encode_text(TEXTS), tiny_openclip.encode_text(TEXTS)
    )


def test_a_tag_missing_from_the_cache_is_a_clear_error(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(CliposcopeError, match=r"vit_base_patch32_clip_224.openai is not in the"):
        load_encoder("openclip:ViT-B-32/openai")
