from __future__ import annotations

import pytest

from cliposcope.encoders import spec_with_checkpoint
from cliposcope.encoders.specs import parse_spec
from cliposcope.errors import CliposcopeError, describe_exception


def test_parse_spec_splits_family_target_and_options():
    spec = parse_spec("openclip:ViT-B-32/openai?quickgelu=True&seed=3")
    assert spec.family == "openclip" and spec.target == "ViT-B-32/openai"
    assert spec.bool_option("quickgelu") is True and spec.int_option("seed", 0) == 3
    assert spec.canonical == "openclip:ViT-B-32/openai?quickgelu=True&seed=3"
    assert parse_spec("openclip:X?seed=3&quickgelu=1").canonical == "openclip:X?quickgelu=1&seed=3"
    assert parse_spec("hf:/abs/folder").target == "/abs/folder"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty model spec"),
        ("ViT-B-32", "no family prefix.*openclip:ViT-B-32"),
        ("torch:thing", "unknown model family 'torch'"),
        ("hf:", "names no model"),
        ("openclip:ViT-B-32?seed", "not key=value"),
    ],
)
def test_bad_specs_are_explained(spec, message):
    with pytest.raises(CliposcopeError, match=message):
        parse_spec(spec)


def test_bool_option_rejects_other_words():
    with pytest.raises(CliposcopeError, match="not a boolean"):
        parse_spec("openclip:X?fast=maybe").bool_option("fast")


def test_checkpoint_argument_folds_into_spec(tmp_path):
    assert spec_with_checkpoint("openclip:ViT-B-32", tmp_path / "a.pt") == (
        f"openclip:ViT-B-32/{tmp_path}/a.pt"
    )
    with pytest.raises(CliposcopeError, match="bare openclip:ARCH"):
        spec_with_checkpoint("openclip:ViT-B-32/openai", tmp_path / "a.pt")


def test_error_text_carries_hint_and_library_errors_stay_short():
    assert str(CliposcopeError("bad", hint="do this")) == "bad (hint: do this)"
    long = RuntimeError("first line " + "x" * 1000 + "\nsecond line")
    text = describe_exception(long)
    assert text.startswith("RuntimeError: first line") and len(text) <= 300
