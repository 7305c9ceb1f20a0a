"""Every TOR figure pinned on small hand-computed cases, exact and legacy."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from cliposcope.probes.retrieval import MatchedGalleryTally, RetrievalTally

NAMES = ["cat", "dog", "hot dog", "car", "carrot"]
LOG3 = np.log2(3)


def tally_of(similarity, truth, captions, legacy=False):
    tally = RetrievalTally(2, len(NAMES), legacy=legacy)
    tally.update(np.array(similarity), np.array(truth), captions, NAMES)
    return tally.summary(NAMES)


def estimates(figures):
    return [f["estimate"] for f in figures]


# q1 "dog and cat": dog scores highest, cat second -> both retrieved, winner at position 1.
Q1 = ([[0.5, 0.9, 0.1, 0.2, 0.3]], [[1, 0]], ["dog and cat"])
# q2 "cat and hot dog": cat wins, "dog" is second. Exact: top-2 {cat, dog} != {cat, hot dog}.
# The scripts' substring test finds "dog" inside "hot dog" and counts the top-2 as correct.
Q2 = ([[0.8, 0.7, 0.6, 0.1, 0.0]], [[0, 2]], ["cat and hot dog"])
# q3 "carrot and dog": car wins (not in the caption); "car" is a substring of "carrot".
Q3 = ([[0.1, 0.6, 0.2, 0.9, 0.5]], [[4, 1]], ["carrot and dog"])


def test_q1_all_figures_exact():
    m = tally_of(*Q1)
    assert estimates(m["per_position_unconditional"]) == [1.0, 0.0]
    assert estimates(m["per_position_conditional"]) == [1.0, 0.0]
    assert m["topn_accuracy"]["estimate"] == 1.0
    for name in ("precision", "recall", "f1", "ap", "ndcg", "ndcg_standard", "p@1", "p@2", "r@2"):
        assert m[name]["estimate"] == pytest.approx(1.0), name
    assert m["r@1"]["estimate"] == pytest.approx(0.5)


def test_q2_exact_membership_rejects_hot_dog_for_dog():
    m = tally_of(*Q2)
    assert m["topn_accuracy"]["estimate"] == 0.0
    assert m["per_position_conditional"][0]["total"] == 0  # no correct top-n: undefined
    assert estimates(m["per_position_unconditional"]) == [1.0, 0.0]
    # ranked best first: [cat (relevant), dog (not)]
    assert m["precision"]["estimate"] == 0.5 and m["recall"]["estimate"] == 0.5
    assert m["f1"]["estimate"] == pytest.approx(0.5)
    assert m["ap"]["estimate"] == pytest.approx(0.5)  # (1/1) / 2 relevant
    assert m["ndcg"]["estimate"] == pytest.approx(1.0)  # scripts' ideal: retrieved relevances
    assert m["ndcg_standard"]["estimate"] == pytest.approx(1 / (1 + 1 / LOG3))
    assert m["p@1"]["estimate"] == 1.0 and m["p@2"]["estimate"] == 0.5
    assert m["r@1"]["estimate"] == 0.5 and m["r@2"]["estimate"] == 0.5


def test_q2_legacy_substring_counts_hot_dog_and_ascending_list():
    m = tally_of(*Q2, legacy=True)
    assert m["topn_accuracy"]["estimate"] == 1.0  # "dog" in "cat and hot dog"
    assert estimates(m["per_position_conditional"]) == [1.0, 0.0]
    # ascending list [dog, cat]: the relevant item sits at rank 2
    assert m["ap"]["estimate"] == pytest.approx(0.25)  # (1/2) / 2
    assert m["ndcg"]["estimate"] == pytest.approx(1 / LOG3)
    assert m["p@1"]["estimate"] == 0.0 and m["p@2"]["estimate"] == 0.5
    assert m["r@1"]["estimate"] == 0.0
    assert m["precision"]["estimate"] == 0.5  # set-based, order-free in both modes


def test_q3_winner_outside_caption():
    exact = tally_of(*Q3)
    assert estimates(exact["per_position_unconditional"]) == [0.0, 0.0]
    assert exact["argmax_outside_caption"]["estimate"] == 1.0
    assert exact["topn_accuracy"]["estimate"] == 0.0
    assert exact["ap"]["estimate"] == pytest.approx(0.25)  # [car, dog]: hit at rank 2
    assert exact["ndcg"]["estimate"] == pytest.approx(1 / LOG3)
    assert exact["ndcg_standard"]["estimate"] == pytest.approx((1 / LOG3) / (1 + 1 / LOG3))
    assert exact["p@1"]["estimate"] == 0.0
    legacy = tally_of(*Q3, legacy=True)
    assert legacy["topn_accuracy"]["estimate"] == 1.0  # "car" in "carrot and dog"
    # the correct-top-n group holds a query whose winner is at no position: shares sum < 1
    assert estimates(legacy["per_position_conditional"]) == [0.0, 0.0]
    assert legacy["ap"]["estimate"] == pytest.approx(0.5)  # ascending [dog, car]
    assert legacy["p@1"]["estimate"] == 1.0


def test_chunks_add_up_to_one_tally():
    tally = RetrievalTally(2, len(NAMES))
    for sim, truth, captions in (Q1, Q2, Q3):
        tally.update(np.array(sim), np.array(truth), captions, NAMES)
    m = tally.summary(NAMES)
    assert m["queries"] == 3
    assert estimates(m["per_position_unconditional"]) == pytest.approx([2 / 3, 0.0])
    assert m["topn_accuracy"]["count"] == 1
    assert m["ap"]["estimate"] == pytest.approx((1 + 0.5 + 0.25) / 3)
    assert m["p@1"]["estimate"] == pytest.approx(2 / 3)


def test_first_position_bias_statistic():
    tally = RetrievalTally(2, len(NAMES))
    for sim, truth, captions in (Q1, Q2, Q3):
        tally.update(np.array(sim), np.array(truth), captions, NAMES)
    bias = tally.first_position_bias()
    assert bias["count"] == 2 and bias["total"] == 2  # q3's winner is outside the caption
    assert bias["expected_if_order_blind"] == 0.5 and bias["ratio_to_expected"] == 2.0
    assert bias["p_value"] == pytest.approx(0.5)  # exact: P(2 of 2) + P(0 of 2) at 1/2


def test_per_object_breakdown():
    tally = RetrievalTally(2, len(NAMES))
    for sim, truth, captions in (Q1, Q2, Q3):
        tally.update(np.array(sim), np.array(truth), captions, NAMES)
    rows = {r["object"]: r for r in tally.per_object(NAMES, top=10)["most_dominant"]}
    assert rows["dog"]["win_rate"]["count"] == 1 and rows["dog"]["win_rate"]["total"] == 2
    # cat: wins q2 at position 1, loses q1 (where it is second) to dog
    assert rows["cat"]["win_rate"]["estimate"] == 0.5
    assert rows["cat"]["win_rate_by_position"] == [1.0, 0.0]
    assert rows["carrot"]["win_rate"]["estimate"] == 0.0


def script_reference(similarity, captions, names, n):
    """The published computation, written out plainly from docs/protocols.md."""
    out = {"topn_correct": 0, "cond": [0] * n, "uncond": [0] * n, "ap": 0.0, "p1": 0.0}
    for row, caption in zip(similarity, captions, strict=True):
        words = caption.split(" and ")
        top = [names[k] for k in np.argsort(row)[-n:]]
        best = names[int(np.argmax(row))]
        for k in range(n):
            if best == words[k]:
                out["uncond"][k] += 1
                break
        if all(w in caption for w in top):
            out["topn_correct"] += 1
            for k in range(n):
                if best == words[k]:
                    out["cond"][k] += 1
                    break
        hits, score = 0, 0.0
        for i, p in enumerate(top):
            if p in words:
                hits += 1
                score += hits / (i + 1)
        out["ap"] += score / len(words)
        out["p1"] += float(top[0] in words)
    return out


def test_legacy_mode_matches_the_published_computation_on_random_scores():
    names = ["cat", "dog", "hot dog", "car", "carrot", "bear", "teddy bear", "intricate"]
    n = 3
    rng = np.random.default_rng(7)
    truth = np.array([list(c) for c in itertools.combinations(range(len(names)), n)])
    captions = [" and ".join(names[i] for i in row) for row in truth]
    similarity = rng.normal(size=(len(truth), len(names)))
    tally = RetrievalTally(n, len(names), legacy=True)
    tally.update(similarity, truth, captions, names)
    reference = script_reference(similarity, captions, names, n)
    assert tally.topn_correct == reference["topn_correct"]
    assert tally.correct_argmax_at.tolist() == reference["cond"]
    assert tally.argmax_at.tolist() == reference["uncond"]
    m = tally.summary()
    assert m["ap"]["estimate"] == pytest.approx(reference["ap"] / len(truth))
    assert m["p@1"]["estimate"] == pytest.approx(reference["p1"] / len(truth))
    exact = RetrievalTally(n, len(names))
    exact.update(similarity, truth, captions, names)
    assert exact.topn_correct < tally.topn_correct  # substring hits the exact test rejects


def test_exact_conditional_shares_sum_to_one():
    rng = np.random.default_rng(1)
    truth = np.array([rng.choice(10, 3, replace=False) for _ in range(500)])
    similarity = rng.normal(size=(500, 10))
    similarity[np.arange(500)[:, None], truth] += 2.0  # mostly correct top-3
    tally = RetrievalTally(3, 10)
    tally.update(similarity, truth)
    assert sum(p.count for p in tally.conditional()) == tally.topn_correct > 0


def test_position_matched_gallery_tally():
    tally = MatchedGalleryTally(2)
    truth = np.array([[0, 1], [2, 3]])
    slot1 = np.array([[0.9, 0.1, 0.0, 0.0], [0.0, 0.0, 0.1, 0.9]])  # right, wrong
    slot2 = np.array([[0.0, 0.9, 0.1, 0.0], [0.0, 0.0, 0.1, 0.9]])  # right, right
    tally.update([slot1, slot2], truth)
    assert [f["estimate"] for f in tally.summary()] == [0.5, 1.0]
