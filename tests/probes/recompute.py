"""The figures of the retrieval, matching and attention probes, recomputed from their
per-query records as docs/protocols.md defines them, written out plainly and independently
of the probe code: each check asserts a result's figures equal the recomputed ones."""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import numpy as np
import pytest
from scipy.stats import binomtest

Z95 = 1.959963984540054  # the 97.5% normal quantile


def wilson(count: int, total: int) -> tuple[float, float]:
    p, z2 = count / total, Z95 * Z95
    centre = (p + z2 / (2 * total)) / (1 + z2 / total)
    half = Z95 * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / (1 + z2 / total)
    return max(0.0, centre - half), min(1.0, centre + half)


def undefined(value) -> bool:
    """A figure of 0 of 0: NaN in memory, null once saved as JSON."""
    return value is None or math.isnan(value)


def assert_share(figure: dict, count: int, total: int) -> None:
    assert (figure["count"], figure["total"]) == (count, total)
    if total == 0:
        assert undefined(figure["estimate"])
        return
    assert figure["estimate"] == count / total
    assert figure["ci95"] == pytest.approx(wilson(count, total), rel=1e-12)


def assert_mean(figure: dict, values, chunk: int | None = None) -> None:
    """A mean of per-query values and its normal interval. Sums are floating point: they
    are taken as the probe takes them, numpy's sum of each chunk of ``chunk`` queries
    (None: all at once) added in query order."""
    values = np.asarray(values, dtype=np.float64)
    count = len(values)
    step = chunk or count
    total = squares = 0.0
    for start in range(0, count, step):
        total += float(values[start : start + step].sum())
        squares += float((values[start : start + step] ** 2).sum())
    mean = total / count
    variance = max(0.0, squares / count - mean * mean) * count / (count - 1)
    half = Z95 * math.sqrt(variance / count)
    assert (figure["estimate"], figure["total"]) == (mean, count)
    assert figure["ci95"] == pytest.approx([mean - half, mean + half], rel=1e-12, abs=1e-15)


def discount(rank: int) -> float:
    """The NDCG discount of a 0-based rank."""
    return 1 / math.log2(rank + 2)


def check_retrieval(
    metrics: dict,
    records: dict,
    n: int,
    *,
    legacy_texts: list[str] | None = None,
    order_randomised: bool,
    chunk: int | None = None,
) -> None:
    """TOR's figures (docs/protocols.md, "TOR"): ``legacy_texts`` are the texts the legacy
    top-n test looks names up in (None: exact scoring); ``chunk``: the queries the probe
    scored at a time (its means are sums of chunk sums)."""
    objects, top_n = records["objects"], records["top_n"]
    position, correct = records["retrieved_position"], records["topn_correct"]
    queries = len(objects)
    # each record agrees with the definitions of its own columns
    for q in range(queries):
        retrieved = records["retrieved"][q]
        assert position[q] == (objects[q].index(retrieved) if retrieved in objects[q] else -1)
        assert records["margin"][q] >= 0
        if legacy_texts is None:
            assert top_n[q][0] == retrieved  # best first
            assert correct[q] == (set(top_n[q]) == set(objects[q]))
        else:
            assert top_n[q][-1] == retrieved  # ascending, as the published scripts keep it
            texts = legacy_texts[q]  # a caption (TOR: substring) or a list of names (IOR)
            assert correct[q] == all(name in texts for name in top_n[q])

    assert metrics["queries"] == queries
    for k in range(n):
        assert_share(metrics["per_position_unconditional"][k], position.count(k), queries)
        at_k_and_correct = sum(p == k and c for p, c in zip(position, correct, strict=True))
        assert_share(metrics["per_position_conditional"][k], at_k_and_correct, sum(correct))
    assert_share(metrics["argmax_outside_caption"], position.count(-1), queries)
    assert_share(metrics["topn_accuracy"], sum(correct), queries)

    bias = metrics["first_position_bias"]
    inside = queries - position.count(-1)
    assert_share(bias, position.count(0), inside)
    assert bias["expected_if_order_blind"] == 1 / n
    if inside:
        assert bias["ratio_to_expected"] == position.count(0) / inside * n
    else:  # no image retrieved one of its objects: no ratio (NaN, null once saved)
        assert bias["ratio_to_expected"] is None or math.isnan(bias["ratio_to_expected"])
    if order_randomised:
        assert bias["p_value"] == binomtest(position.count(0), inside, 1 / n).pvalue
    else:
        assert bias["p_value"] is None

    relevant = [[name in objects[q] for name in top_n[q]] for q in range(queries)]
    hits = [sum(row) for row in relevant]
    precision = [h / n for h in hits]  # = recall: both sets hold n names
    assert_mean(metrics["precision"], precision, chunk)
    assert_mean(metrics["recall"], precision, chunk)
    assert_mean(metrics["f1"], [2 * p * p / (p + p) if p else 0.0 for p in precision], chunk)
    average_precision, ndcg, ndcg_standard = [], [], []
    for row, row_hits in zip(relevant, hits, strict=True):
        found, precision_sum, gain = 0, 0.0, 0.0
        for rank, is_relevant in enumerate(row):
            if is_relevant:
                found += 1
                precision_sum += found / (rank + 1)
                gain += discount(rank)
        average_precision.append(precision_sum / n)
        ideal = sum(discount(rank) for rank in range(row_hits))
        ndcg.append(gain / ideal if ideal > 0 else 0.0)
        ndcg_standard.append(gain / sum(discount(rank) for rank in range(n)))
    assert_mean(metrics["ap"], average_precision, chunk)
    assert_mean(metrics["ndcg"], ndcg, chunk)
    assert_mean(metrics["ndcg_standard"], ndcg_standard, chunk)
    for k in range(1, n + 1):
        assert_mean(metrics[f"p@{k}"], [sum(row[:k]) / k for row in relevant], chunk)
        assert_mean(metrics[f"r@{k}"], [sum(row[:k]) / n for row in relevant], chunk)

    check_per_object(metrics["per_object"], objects, position, n)
    if "position_matched_gallery" in metrics:
        matched = records["matched_gallery_retrieved"]
        for k, figure in enumerate(metrics["position_matched_gallery"]):
            wins = sum(matched[q][k] == objects[q][k] for q in range(queries))
            assert_share(figure, wins, queries)


def check_per_object(figures: dict, objects: list, position: list, n: int) -> None:
    """Each object's win rate when present, overall and by position; the most and least
    dominant (ties among equal rates may list either object first)."""
    present, wins = defaultdict(lambda: [0] * n), defaultdict(lambda: [0] * n)
    for names, winner in zip(objects, position, strict=True):
        for k, name in enumerate(names):
            present[name][k] += 1
            wins[name][k] += winner == k
    rates = sorted(sum(wins[name]) / sum(present[name]) for name in present)
    listed = figures["most_dominant"] + figures["least_dominant"]
    for row in listed:
        name = row["object"]
        assert_share(row["win_rate"], sum(wins[name]), sum(present[name]))
        by_position = [w / p if p else None for w, p in zip(wins[name], present[name], strict=True)]
        for shown, expected in zip(row["win_rate_by_position"], by_position, strict=True):
            assert shown == expected or (expected is None and undefined(shown))
    top = len(figures["most_dominant"])
    assert [r["win_rate"]["estimate"] for r in figures["most_dominant"]] == rates[::-1][:top]
    assert [r["win_rate"]["estimate"] for r in figures["least_dominant"]] == rates[:top]


def check_image_retrieval(metrics: dict, records: dict, n: int, *, legacy: bool) -> None:
    """IOR and I2TOR (docs/protocols.md): TOR's figures, then the among-truth figures."""
    stems = [list(names) for names in records["objects"]] if legacy else None
    check_retrieval(metrics, records, n, legacy_texts=stems, order_randomised=False)
    roles, winners = records["roles"], records["truth_winner_position"]
    images = len(roles)
    for q in range(images):
        similarities = records["object_similarities"][q]
        assert winners[q] == similarities.index(max(similarities))
        assert records["truth_winner_role"][q] == roles[q][winners[q]]
        retrieved = records["retrieved_position"][q]
        assert records["retrieved_role"][q] == (roles[q][retrieved] if retrieved >= 0 else "")
    for k in range(n):
        assert_share(metrics["per_position_among_truth"][k], winners.count(k), images)
    present = Counter(label for row in roles for label in row)
    assert sorted(metrics["per_role_among_truth"]) == sorted(present)
    won = Counter(records["truth_winner_role"])
    for label, figure in metrics["per_role_among_truth"].items():
        assert_share(figure, won[label], present[label])
    ranked = [
        (areas, winner)
        for areas, winner in zip(records["areas"], winners, strict=True)
        if not any(math.isnan(a) for a in areas) and len(set(areas)) == len(areas)
    ]
    larger = Counter(sum(a > areas[winner] for a in areas) for areas, winner in ranked)
    for rank, figure in enumerate(metrics["per_size_rank_among_truth"]):
        assert_share(figure, larger[rank], len(ranked))


def and_caption(names) -> str:
    return " and ".join(names)


def swapped(names: list, i: int, j: int) -> list:
    out = list(names)
    out[i], out[j] = out[j], out[i]
    return out


def check_matching(metrics: dict, records: dict, *, legacy: bool) -> None:
    """docs/protocols.md, "Image-text matching": F = O with b swapped to the front, L = O
    with b swapped to the end; scenario 1: F against [d] + F[1:]; scenario 2: L against
    F[:-1] + [d]; a pair is right when cos(image, correct) > cos(image, wrong)."""
    spelled = (lambda name: name.replace(" ", "-")) if legacy else (lambda name: name)
    pairs = len(records["query"])
    for q in range(pairs):
        objects = [spelled(name) for name in records["objects"][q]]
        biased, distractor = records["biased_position"][q], spelled(records["distractor"][q])
        assert distractor not in objects
        front, end = swapped(objects, biased, 0), swapped(objects, biased, len(objects) - 1)
        assert records["scenario_1_correct_caption"][q] == and_caption(front)
        assert records["scenario_1_wrong_caption"][q] == and_caption([distractor, *front[1:]])
        assert records["scenario_2_correct_caption"][q] == and_caption(end)
        assert records["scenario_2_wrong_caption"][q] == and_caption([*front[:-1], distractor])
    for scenario in (1, 2):
        figures = metrics[f"scenario_{scenario}"]
        for method in ("plain", "split_mean"):
            column = f"scenario_{scenario}_{method}"
            right = [
                correct > wrong
                for correct, wrong in zip(
                    records[f"{column}_correct_similarity"],
                    records[f"{column}_wrong_similarity"],
                    strict=True,
                )
            ]
            assert records[f"{column}_ranked_right"] == right
            assert_share(figures[method], sum(right), pairs)
        change = figures["split_mean"]["estimate"] - figures["plain"]["estimate"]
        assert figures["mitigation_change"] == change
        assert figures["example"] == {
            "correct": records[f"scenario_{scenario}_correct_caption"][0],
            "wrong": records[f"scenario_{scenario}_wrong_caption"][0],
        }


def check_attention(metrics: dict, records: dict) -> None:
    """docs/protocols.md, "CLS attention by object": means over images of each object's
    share, by role and by position, and of share / area fraction by role."""
    by_role, by_position, per_area = defaultdict(list), defaultdict(list), defaultdict(list)
    for role, position, area, share in zip(
        records["role"], records["position"], records["area"], records["share"], strict=True
    ):
        by_role[role].append(share)
        by_position[str(position)].append(share)
        if area > 0:  # NaN (unknown) is not
            per_area[role].append(share / area)
    for key, groups in (
        ("mean_share_by_role", by_role),
        ("mean_share_by_position", by_position),
        ("share_per_unit_area_by_role", per_area),
    ):
        assert sorted(metrics[key]) == sorted(groups)
        for label, values in groups.items():
            assert_mean(metrics[key][label], values)
