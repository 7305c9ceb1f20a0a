"""Every registered model family, each on a small random-weight model it writes itself
(``Family.tiny``): the Encoder contract, a fingerprint that is stable and follows the
weights, and a description that is ready for JSON. A new family is covered here as soon as
it registers, with no new test to write."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cliposcope.encoders import Family, list_families, load_encoder
from cliposcope.encoders.specs import parse_spec
from cliposcope.errors import CliposcopeError

FAMILIES = list_families()
COMMON_KEYS = {
    "spec",
    "family",
    "name",
    "weights_source",
    "weights_hash",
    "embed_dim",
    "device",
    "precision",
    "towers",
    "library",
    "library_versions",
    "settings",
    "details",
}
TEXTS = ["a photo of a dog", "apple and pizza and desk", "", "cat and dog and a red apple"]


def build_tiny(family: Family, folder: Path, seed: int) -> str:
    if family.tiny is None:
        pytest.fail(
            f"model family {family.name!r} ({family.module}) has no tiny builder: give its "
            "Family record tiny=FUNCTION(folder, seed) -> spec, which writes a small model of "
            "the family with random weights drawn from seed into the folder (offline), so "
            "the conformance tests in tests/encoders/test_family_conformance.py run on it",
            pytrace=False,
        )
    return family.tiny(folder, seed)


def random_images() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    sizes = [(64, 64), (90, 70), (40, 120)]
    return [Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)) for size in sizes]


def assert_unit_float32_rows(embeddings: np.ndarray, rows: int, dim: int) -> None:
    assert embeddings.shape == (rows, dim) and embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)


@pytest.fixture(scope="module", params=FAMILIES, ids=lambda family: family.name)
def family(request) -> Family:
    return request.param


@pytest.fixture(scope="module")
def tiny(family, tmp_path_factory):
    """(spec, encoder) of the family's tiny model, drawn from seed 0."""
    spec = build_tiny(family, tmp_path_factory.mktemp(family.name), seed=0)
    return spec, load_encoder(spec, device="cpu")


@pytest.mark.slow
def test_the_tiny_model_describes_itself_as_its_family_does(family, tiny):
    spec, encoder = tiny
    info = encoder.info
    assert info.family == family.name and info.spec == parse_spec(spec).canonical
    assert info.library == family.library  # the library whose version enters the fingerprint
    assert info.has_image_tower == family.embeds_images
    assert (info.device, info.precision) == (encoder.device, encoder.precision) == ("cpu", "fp32")


def test_text_embeddings_are_unit_float32_rows_in_input_order(tiny):
    _, encoder = tiny
    dim = encoder.info.embed_dim
    embeddings = encoder.encode_text(TEXTS)
    assert_unit_float32_rows(embeddings, len(TEXTS), dim)
    np.testing.assert_allclose(encoder.encode_text(TEXTS[::-1]), embeddings[::-1], atol=1e-6)
    assert_unit_float32_rows(encoder.encode_text([]), 0, dim)


def test_images_embed_where_the_family_has_an_image_tower(tiny):
    _, encoder = tiny
    images = random_images()
    if not encoder.info.has_image_tower:
        with pytest.raises(CliposcopeError, match="cannot embed images"):
            encoder.encode_images(images)
        return
    embeddings = encoder.encode_images(images)
    assert_unit_float32_rows(embeddings, len(images), encoder.info.embed_dim)
    np.testing.assert_allclose(encoder.encode_images(images[::-1]), embeddings[::-1], atol=1e-6)


@pytest.mark.slow
def test_the_fingerprint_is_stable_and_follows_the_weights(family, tiny, tmp_path):
    spec, encoder = tiny
    reloaded = load_encoder(spec, device="cpu")
    assert reloaded.info.fingerprint == encoder.info.fingerprint
    assert reloaded.info.weights_hash == encoder.info.weights_hash
    # Other weights written where the first were (a retrained model saved in place)
    # must never be served the first one's cached embeddings.
    folder = tmp_path / "model"
    first = load_encoder(build_tiny(family, folder, seed=0), device="cpu").info
    second = load_encoder(build_tiny(family, folder, seed=1), device="cpu").info
    assert first.weights_hash != second.weights_hash
    assert first.fingerprint != second.fingerprint


def test_the_description_is_json_with_the_common_keys(tiny):
    _, encoder = tiny
    record = json.loads(json.dumps(encoder.info.to_dict()))
    assert not COMMON_KEYS - set(record), f"missing {COMMON_KEYS - set(record)}"
    assert record["spec"] == encoder.info.spec and record["embed_dim"] == encoder.info.embed_dim
    assert "text" in record["towers"] and isinstance(record["details"], dict)


def test_a_family_without_a_tiny_builder_fails_conformance_and_says_what_to_add(tmp_path):
    bare = Family(name="bare", description="registers no tiny builder", load=load_encoder)
    with pytest.raises(pytest.fail.Exception, match=r"no tiny builder: give its Family record"):
        build_tiny(bare, tmp_path, seed=0)
