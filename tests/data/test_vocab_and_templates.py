from __future__ import annotations

import pytest

from cliposcope.data.templates import indefinite_article, load_template, with_article
from cliposcope.data.vocab import (
    COCO_CLASSES,
    COMCO_NAMES,
    SIZE_LARGE,
    SIZE_MEDIUM,
    SIZE_SMALL,
    load_vocabulary,
)
from cliposcope.errors import CliposcopeError


def test_builtin_vocabularies():
    assert len(COMCO_NAMES) == 90 and len(set(COMCO_NAMES)) == 90
    assert COMCO_NAMES[:3] == ("person", "bicycle", "car") and COMCO_NAMES[-1] == "toothbrush"
    assert set(COCO_CLASSES) - set(COMCO_NAMES) == {"sports ball"}
    assert {"street sign", "hat", "shoe", "eye glasses", "hair brush"} <= set(COMCO_NAMES)
    assert len(COCO_CLASSES) == 80
    assert (
        len(load_vocabulary("simco-shapes")) == 18 and len(load_vocabulary("simco-colours")) == 30
    )
    buckets = (SIZE_SMALL, SIZE_MEDIUM, SIZE_LARGE)
    assert all(len(b) >= 30 for b in buckets)
    assert not set(SIZE_SMALL) & set(SIZE_MEDIUM) and not set(SIZE_MEDIUM) & set(SIZE_LARGE)
    assert load_vocabulary("comco").fingerprint != load_vocabulary("coco").fingerprint


def test_user_vocabulary_files(tmp_path):
    lines = tmp_path / "mine.txt"
    lines.write_text("# my objects\nred ball\n\nblue cube\n")
    assert load_vocabulary(str(lines)).words == ("red ball", "blue cube")
    listed = tmp_path / "mine.json"
    listed.write_text('["a", "b", "c"]')
    assert load_vocabulary(str(listed)).words == ("a", "b", "c")


@pytest.mark.parametrize(
    ("content", "message"),
    [("apple\napple\n", "twice"), ("apple\n", "at least two"), ("[1, 2]", "invalid name")],
)
def test_bad_vocabulary_files(tmp_path, content, message):
    path = tmp_path / ("v.json" if content.startswith("[") else "v.txt")
    path.write_text(content)
    with pytest.raises(CliposcopeError, match=message):
        load_vocabulary(str(path))


def test_unknown_vocabulary_lists_builtins():
    with pytest.raises(CliposcopeError, match="comco"):
        load_vocabulary("nope")


@pytest.mark.parametrize(
    ("noun", "expected"),
    [
        ("apple", "an apple"),
        ("pizza", "a pizza"),
        ("umbrella", "an umbrella"),
        ("hour glass", "an hour glass"),
        ("unicorn", "a unicorn"),
        ("one-way sign", "a one-way sign"),
        ("elephant", "an elephant"),
        ("scissors", "a pair of scissors"),
        ("eye glasses", "a pair of eye glasses"),
        ("orange", "an orange"),
        ("tv", "a tv"),
    ],
)
def test_articles(noun, expected):
    assert with_article(noun) == expected


def test_builtin_templates():
    objects = ["apple", "pizza", "desk"]
    assert load_template("and", 3).render(objects) == "apple and pizza and desk"
    assert load_template("article", 3).render(objects) == "an apple and a pizza and a desk"
    long = load_template("long", 3).render(objects)
    assert all(o in long for o in objects) and len(long.split()) > 15
    assert indefinite_article("honest man") == "an"


def test_user_templates(tmp_path):
    inline = load_template("a photo of {1} beside {2}", 2)
    assert inline.render(["cat", "dog"]) == "a photo of cat beside dog"
    file = tmp_path / "templates.txt"
    file.write_text("{1} with {2}\n{1}, {2} and {3}\n")
    assert load_template(str(file), 3).render(["a", "b", "c"]) == "a, b and c"
    with pytest.raises(CliposcopeError, match="no template with 4 slots"):
        load_template(str(file), 4)
    with pytest.raises(CliposcopeError, match="2 slot"):
        load_template("{1} and {2}", 3)
    with pytest.raises(CliposcopeError, match="needs slots"):
        load_template("{1} and {3}", 2)
