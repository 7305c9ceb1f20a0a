"""The mention matcher pinned on hand-written sentences: synonyms, plurals, multi-word
names, longest match first, ambiguous words resolved by what the image contains."""

from __future__ import annotations

import json

import pytest

from cliposcope.data.mentions import MentionMatcher, default_table, load_table, parse_table
from cliposcope.data.vocab import COCO_CLASSES
from cliposcope.errors import CliposcopeError


@pytest.fixture(scope="module")
def coco() -> MentionMatcher:
    return MentionMatcher(COCO_CLASSES, default_table())


def found(matcher, text, present=None):
    outcome = matcher.find(text, present)
    return [(m.category, m.form, m.token) for m in outcome.mentions], outcome.unresolved


@pytest.mark.slow
@pytest.mark.parametrize(
    ("text", "present", "mentions"),
    [
        # synonyms and plurals, with word positions
        ("A man riding a motorbike", None, [("person", "man", 1), ("motorcycle", "motorbike", 4)]),
        ("Two women and three children", None, [("person", "women", 1), ("person", "children", 4)]),
        (
            "people near the tv and a television",
            None,
            [("person", "people", 0), ("tv", "tv", 3), ("tv", "television", 6)],
        ),
        (
            "Knives, forks and a teddy-bear.",
            None,
            [("knife", "knives", 0), ("fork", "forks", 1), ("teddy bear", "teddy bear", 4)],
        ),
        # longest match first: the multi-word name wins and consumes its words
        ("A dog eating a hot dog", None, [("dog", "dog", 1), ("hot dog", "hot dog", 4)]),
        ("two hot dogs, no dog", None, [("hot dog", "hot dogs", 1), ("dog", "dog", 4)]),
        (
            "a wine glass and a glass",
            {"cup"},
            [("wine glass", "wine glass", 1), ("cup", "glass", 5)],
        ),
        ("a wine glass and a glass", set(), [("wine glass", "wine glass", 1)]),
        (
            "a teddy bear beside a bear",
            {"bear", "teddy bear"},
            [("teddy bear", "teddy bear", 1), ("bear", "bear", 5)],
        ),
        ("a polar bear", None, [("bear", "polar bear", 1)]),
        # phrases that name no object consume their words
        ("orange juice and a hot dog stand", {"orange", "hot dog"}, []),
        ("a man wearing eye glasses", {"person", "wine glass"}, [("person", "man", 1)]),
        ("a computer mouse on a mouse pad", None, [("mouse", "computer mouse", 1)]),
    ],
)
def test_matcher_on_hand_written_sentences(coco, text, present, mentions):
    assert found(coco, text, present)[0] == mentions


@pytest.mark.slow
def test_ambiguous_words_count_only_when_the_image_has_the_category(coco):
    text = "a mouse next to an orange and a bike"
    assert found(coco, text, None) == ([], ["mouse", "orange", "bike"])  # no annotations
    assert found(coco, text, {"mouse", "motorcycle"}) == (
        [("mouse", "mouse", 1), ("motorcycle", "bike", 8)],
        ["orange"],
    )
    # candidates in table order: a bike is a bicycle when both are there
    assert found(coco, "a bike", {"bicycle", "motorcycle"})[0] == [("bicycle", "bike", 1)]
    always = MentionMatcher(COCO_CLASSES, default_table(), ambiguous="always")
    assert [m.category for m in always.find(text).mentions] == ["mouse", "orange", "bicycle"]
    never = MentionMatcher(COCO_CLASSES, default_table(), ambiguous="never")
    assert found(never, text, {"mouse", "orange", "bicycle"}) == ([], ["mouse", "orange", "bike"])


def test_distinct_categories_in_order_of_first_mention(coco):
    outcome = coco.find("a dog, a man, another dog and a woman on a bench")
    assert outcome.categories == ["dog", "person", "bench"]
    assert [m.char for m in outcome.mentions][:2] == [2, 9]


def test_a_user_vocabulary_keeps_its_own_words_and_plurals():
    matcher = MentionMatcher(("unicorn", "rainbow", "remote control"), default_table())
    assert found(matcher, "Unicorns under a rainbow with a remote control")[0] == [
        ("unicorn", "unicorns", 0),
        ("rainbow", "rainbow", 3),
        ("remote control", "remote control", 6),
    ]
    # table words of categories outside the vocabulary name nothing
    assert found(matcher, "a dog and a man")[0] == []
    bare = MentionMatcher(("dog", "mouse"), None)
    assert found(bare, "two mice and a puppy")[0] == [("mouse", "mice", 1)]


def test_canonical_object_labels(coco):
    assert coco.canonical("Motorbikes") == "motorcycle"
    assert coco.canonical("teddy bear") == "teddy bear"
    for name in ("mouse", "mice", "orange", "tie", "bear", "keyboard", "remote"):
        assert coco.canonical(name) == {"mice": "mouse"}.get(name, name)  # labels are plain
    assert coco.canonical("bike") is None  # an ambiguous word is no object label
    assert coco.canonical("unicorn") is None


def test_an_unknowable_candidate_stops_the_search(coco):
    # "glasses" may be eye glasses, which COCO's 80 categories cannot rule out
    assert found(coco, "a man wearing glasses", {"person", "cup"}) == (
        [("person", "man", 1)],
        ["glasses"],
    )
    assert found(coco, "two glasses", {"wine glass"})[0] == [("wine glass", "glasses", 1)]
    assert found(coco, "a table", {"dining table"})[0] == [("dining table", "table", 1)]
    assert found(coco, "a table", {"desk"})[0] == []  # desk is not one of COCO's 80
    for text in ("a light brown dog", "a baseball pitcher", "a woman in a ski jacket"):
        assert [m.category for m in coco.find(text, set(COCO_CLASSES)).mentions] in (
            [],
            ["dog"],
            ["person"],
        )


def test_the_table_is_consistent_and_its_fingerprint_tracks_it():
    table = default_table()
    vocabulary = set(table.categories)
    assert set(COCO_CLASSES) <= vocabulary
    for candidates in table.ambiguous.values():
        assert set(candidates) <= vocabulary
    record = {"name": "t", "version": 2, "categories": {"dog": ["dog", "puppy"]}}
    other = parse_table(record | {"categories": {"dog": ["dog"]}}, "t")
    assert parse_table(record, "t").fingerprint != other.fingerprint
    a = MentionMatcher(("dog",), parse_table(record, "t"))
    assert a.fingerprint != MentionMatcher(("dog",), other).fingerprint
    assert a.describe()["table"] == {
        "name": "t",
        "version": 2,
        "fingerprint": parse_table(record, "t").fingerprint,
    }


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ([1, 2], "not a synonym table"),
        ({"categories": {"dog": "dog"}}, "not a list of words"),
        ({"categories": {"dog": ["dog"], "cat": ["dog"]}}, "two meanings"),
        ({"categories": {"dog": ["dog"]}, "ambiguous": {"pup": ["wolf"]}}, "unknown"),
        ({"categories": {"dog": ["dog"]}, "ambiguous": {"!!": ["dog"]}}, "no letters"),
    ],
)
def test_bad_synonym_tables_are_refused(tmp_path, record, message):
    path = tmp_path / "table.json"
    path.write_text(json.dumps(record))
    with pytest.raises(CliposcopeError, match=message):
        load_table(str(path))


def test_table_specs():
    assert load_table(None) is default_table()
    assert load_table("none") is None
    with pytest.raises(CliposcopeError, match="not found"):
        load_table("/no/such/table.json")
