"""How the Ray engine cuts texts into shards: whole families of captions that start alike,
so each actor's shared-prefix path sees every member of a family (no Ray needed here)."""

from __future__ import annotations

import random

from cliposcope.scale.ray_engine import prefix_family_shards


def family_texts(families: int, members: int) -> tuple[list[str], list[int]]:
    texts, family_of = [], []
    for family in range(families):
        for member in range(members):
            texts.append(f"a photo of thing{family:03d} and other{member} and more")
            family_of.append(family)
    order = list(range(len(texts)))
    random.Random(0).shuffle(order)
    return [texts[i] for i in order], [family_of[i] for i in order]


def test_every_text_lands_in_one_shard_and_the_shard_count_is_kept():
    texts, _ = family_texts(37, 3)
    shards = prefix_family_shards(texts, 10)
    assert sorted(i for shard in shards for i in shard) == list(range(len(texts)))
    assert len(shards) == -(-len(texts) // 10)
    assert max(len(shard) for shard in shards) <= 10 + 10 // 4  # a cut moves back, not on


def test_families_that_fit_the_slack_are_never_split():
    texts, family_of = family_texts(50, 4)  # families of 4; shards of 20 move cuts by <= 5
    shards = prefix_family_shards(texts, 20)
    homes: dict[int, set[int]] = {}
    for number, shard in enumerate(shards):
        for index in shard:
            homes.setdefault(family_of[index], set()).add(number)
    assert all(len(home) == 1 for home in homes.values())


def test_a_plain_cut_would_have_split_families():
    """Such cases are not trivially whole: cutting the sorted list every 40 texts would
    split families of 7, as the cuts fall inside them; moved back by up to 10, none is."""
    texts, family_of = family_texts(30, 7)
    order = sorted(range(len(texts)), key=texts.__getitem__)
    plain = [order[start : start + 40] for start in range(0, len(order), 40)]
    split = {family_of[shard[0]] for shard in plain[1:]} & {
        family_of[shard[-1]] for shard in plain[:-1]
    }
    assert split
    moved = prefix_family_shards(texts, 40)
    firsts = {family_of[shard[0]] for shard in moved[1:]}
    lasts = {family_of[shard[-1]] for shard in moved[:-1]}
    assert not firsts & lasts


def test_one_text_and_a_shard_of_one():
    assert prefix_family_shards(["only"], 4096) == [[0]]
    assert prefix_family_shards(["b", "a", "c"], 1) == [[1], [0], [2]]
