"""Text/image object retrieval scoring on plain arrays, as docs/protocols.md defines it.

Inputs per chunk: ``similarity`` (Q, G) between queries and the gallery, and ``truth``
(Q, n) gallery indices of each query's objects in caption order. A ``RetrievalTally``
adds chunks up, so arbitrarily many queries are scored in bounded memory.

Exact mode (default): the top-n list is ranked by descending score and "the top-n set is
correct" means set equality with the caption's objects. Legacy mode reproduces the
published scripts bug for bug: the top-n list is kept in ascending score order, so AP,
NDCG and P@k score it from the n-th ranked item up, and membership of the top-n names is
tested as each script tests it: the text scripts (TOR) by a substring test on the caption
text (so "cat" is found in "intricate"), the image scripts (IOR, I2TOR) by exact membership
in the list of names split from the query's file name (so "dog" is not found in
"hot-dog_cat").

Per query, ``RetrievalTally.update`` also returns what it counted (``QueryOutcomes``), and
``QueryRecords`` gathers such per-query arrays chunk by chunk into record columns.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from cliposcope.probes.stats import Proportion, binomial_test, mean_interval


def top_n(similarity: np.ndarray, n: int, *, legacy: bool = False) -> np.ndarray:
    """(Q, n) gallery indices: best first, or as the published scripts keep them."""
    if legacy:
        return np.argsort(similarity, axis=1)[:, -n:]  # ascending, as published
    # stable sort of -score: ties resolve to the lower index, as np.argmax does
    return np.argsort(-similarity, axis=1, kind="stable")[:, :n]


def argmax_positions(best: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Caption position of each query's top object, -1 where it is not in the caption."""
    matches = truth == best[:, None]
    return np.where(matches.any(axis=1), matches.argmax(axis=1), -1)


def winner_margins(similarity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per query, the arg-max similarity and its margin over the runner-up (0 on a tie),
    in float64."""
    top_two = -np.partition(-similarity, 1, axis=1)[:, :2]
    winner = top_two[:, 0].astype(np.float64)
    return winner, winner - top_two[:, 1]


def relevance(ranked: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(Q, n) bool: is the item at each rank one of the query's objects (exact set test)."""
    return (ranked[:, :, None] == truth[:, None, :]).any(axis=2)


def average_precision(rel: np.ndarray, relevant_count: int) -> np.ndarray:
    ranks = np.arange(1, rel.shape[1] + 1)
    precision_at_hits = np.cumsum(rel, axis=1) / ranks * rel
    return precision_at_hits.sum(axis=1) / relevant_count


def _discounts(length: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(length) + 2)


def ndcg_paper(rel: np.ndarray) -> np.ndarray:
    """The scripts' NDCG: the ideal ordering is of the retrieved relevances themselves."""
    discounts = _discounts(rel.shape[1])
    dcg = (rel * discounts).sum(axis=1)
    hits = rel.sum(axis=1)
    idcg = np.concatenate([[0.0], np.cumsum(discounts)])[hits]
    return np.divide(dcg, idcg, out=np.zeros_like(dcg), where=idcg > 0)


def ndcg_standard(rel: np.ndarray, relevant_count: int) -> np.ndarray:
    """Textbook NDCG@n: the ideal list puts all relevant items first."""
    discounts = _discounts(rel.shape[1])
    ideal = discounts[: min(relevant_count, rel.shape[1])].sum()
    return (rel * discounts).sum(axis=1) / ideal


def substring_topn_correct(
    ranked: np.ndarray, captions: Sequence[str], names: Sequence[str]
) -> np.ndarray:
    """The published test: every top-n name occurs as a substring of the caption text."""
    return np.array(
        [
            all(names[g] in caption for g in row)
            for row, caption in zip(ranked, captions, strict=True)
        ]
    )


def listed_topn_correct(
    ranked: np.ndarray, listed: Sequence[Sequence[str]], names: Sequence[str]
) -> np.ndarray:
    """The published image scripts' test: every top-n name is one of the names split from
    the query's file name, compared whole ("dog" is not one of ["hot-dog", "cat"])."""
    return np.array(
        [
            all(names[g] in parts for g in row)
            for row, parts in zip(ranked, map(frozenset, listed), strict=True)
        ]
    )


MEMBERSHIP = ("substring", "listed")


@dataclass(frozen=True)
class QueryOutcomes:
    """What a tally counted for each query of one chunk: arrays with a row per query.

    ``retrieved``: gallery index of the arg-max; ``retrieved_position``: its caption
    position, -1 when it is not one of the query's objects; ``winner_similarity`` and
    ``margin`` (arg-max minus runner-up); ``topn_correct``: whether the top-n set counts
    as correct (legacy: the substring or the file-name list test); ``top_n``: the top-n
    gallery indices in the order the means read them (legacy: ascending score).
    """

    retrieved: np.ndarray
    retrieved_position: np.ndarray
    winner_similarity: np.ndarray
    margin: np.ndarray
    topn_correct: np.ndarray
    top_n: np.ndarray

    def columns(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


# Columns of gallery indices, written as the gallery's names.
GALLERY_COLUMNS = ("objects", "retrieved", "top_n")


class QueryRecords:
    """Per-query columns gathered chunk by chunk, as ``make_result`` takes them: a chunk's
    columns are numpy arrays (those named in ``gallery_columns`` hold gallery indices and
    become names) or lists. Memory grows with the number of queries."""

    def __init__(self, names: Sequence[str], gallery_columns: Collection[str] = GALLERY_COLUMNS):
        self.names = np.array(names, dtype=object)
        self.gallery_columns = frozenset(gallery_columns)
        self.chunks: dict[str, list] = {}

    def add(self, columns: Mapping[str, Any]) -> None:
        for name, values in columns.items():
            self.chunks.setdefault(name, []).append(values)

    def columns(self) -> dict[str, list]:
        gathered = {}
        for name, chunks in self.chunks.items():
            values: list = []
            for chunk in chunks:
                values.extend(self._plain(name, chunk))
            gathered[name] = values
        return gathered

    def _plain(self, name: str, chunk: Any) -> list:
        if not isinstance(chunk, np.ndarray):
            return chunk
        return (self.names[chunk] if name in self.gallery_columns else chunk).tolist()


@dataclass
class _Sums:
    total: float = 0.0
    squares: float = 0.0

    def add(self, values: np.ndarray) -> None:
        self.total += float(values.sum())
        self.squares += float((values.astype(np.float64) ** 2).sum())


@dataclass
class RetrievalTally:
    """Running counts for the TOR/IOR figures over any number of query chunks.
    ``membership``: how legacy mode tests the top-n names, "substring" of each query's
    text (the text scripts) or "listed", exact membership in each query's list of names
    (the image scripts, whose list is the file name split on "_")."""

    n: int
    gallery_size: int
    legacy: bool = False
    membership: str = "substring"
    queries: int = 0
    argmax_at: np.ndarray = field(init=False)  # (n,) argmax is the object at position k
    argmax_outside: int = 0  # argmax is not one of the query's objects
    topn_correct: int = 0
    correct_argmax_at: np.ndarray = field(init=False)  # (n,) same, within correct top-n
    object_present: np.ndarray = field(init=False)  # (G, n) object o at position k
    object_wins: np.ndarray = field(init=False)  # (G, n) ... and it is the argmax
    sums: dict[str, _Sums] = field(default_factory=dict)

    def __post_init__(self):
        if self.membership not in MEMBERSHIP:
            raise ValueError(f"membership {self.membership!r} is not one of {MEMBERSHIP}")
        self.argmax_at = np.zeros(self.n, dtype=np.int64)
        self.correct_argmax_at = np.zeros(self.n, dtype=np.int64)
        self.object_present = np.zeros((self.gallery_size, self.n), dtype=np.int64)
        self.object_wins = np.zeros((self.gallery_size, self.n), dtype=np.int64)
        names = ["precision", "recall", "f1", "ap", "ndcg", "ndcg_standard"]
        names += [f"p@{k}" for k in range(1, self.n + 1)] + [f"r@{k}" for k in range(1, self.n + 1)]
        self.sums = {name: _Sums() for name in names}

    def update(
        self,
        similarity: np.ndarray,
        truth: np.ndarray,
        captions: Sequence[str] | Sequence[Sequence[str]] | None = None,
        names: Sequence[str] | None = None,
    ) -> QueryOutcomes:
        """Count one chunk of queries; return what was counted for each of them. Legacy
        mode needs ``captions`` (per query, its text, or with ``membership="listed"`` its
        list of names) and the gallery's ``names``."""
        similarity = np.asarray(similarity)
        truth = np.asarray(truth)
        queries, n = truth.shape
        if n != self.n or similarity.shape != (queries, self.gallery_size):
            raise ValueError(f"similarity {similarity.shape} / truth {truth.shape} do not fit")
        best = np.argmax(similarity, axis=1)
        positions = argmax_positions(best, truth)
        ranked = top_n(similarity, n, legacy=self.legacy)
        rel = relevance(ranked, truth)
        if self.legacy:
            if captions is None or names is None:
                raise ValueError("legacy scoring needs the query texts and gallery names")
            if self.membership == "listed":
                correct = listed_topn_correct(ranked, captions, names)
            else:
                correct = substring_topn_correct(ranked, captions, names)
        else:
            correct = rel.all(axis=1)

        self.queries += queries
        self.argmax_outside += int((positions < 0).sum())
        self.argmax_at += np.bincount(positions[positions >= 0], minlength=n)
        self.topn_correct += int(correct.sum())
        inside = correct & (positions >= 0)
        self.correct_argmax_at += np.bincount(positions[inside], minlength=n)
        for k in range(n):
            np.add.at(self.object_present[:, k], truth[:, k], 1)
            wins = positions == k
            np.add.at(self.object_wins[:, k], truth[wins, k], 1)

        hits = rel.sum(axis=1)
        precision = hits / n
        recall = hits / n  # the caption holds n distinct objects
        f1 = np.divide(
            2 * precision * recall,
            precision + recall,
            out=np.zeros_like(precision),
            where=precision + recall > 0,
        )
        self.sums["precision"].add(precision)
        self.sums["recall"].add(recall)
        self.sums["f1"].add(f1)
        self.sums["ap"].add(average_precision(rel, n))
        self.sums["ndcg"].add(ndcg_paper(rel))
        self.sums["ndcg_standard"].add(ndcg_standard(rel, n))
        cumulative = np.cumsum(rel, axis=1)
        for k in range(1, n + 1):
            self.sums[f"p@{k}"].add(cumulative[:, k - 1] / k)
            self.sums[f"r@{k}"].add(cumulative[:, k - 1] / n)

        winner_similarity, margin = winner_margins(similarity)
        return QueryOutcomes(
            retrieved=best,
            retrieved_position=positions,
            winner_similarity=winner_similarity,
            margin=margin,
            topn_correct=correct,
            top_n=ranked.copy(),  # a view would keep the whole (Q, G) ranking alive
        )

    def conditional(self) -> list[Proportion]:
        """Among queries with a correct top-n set: share whose argmax is at position k."""
        return [Proportion(int(c), self.topn_correct) for c in self.correct_argmax_at]

    def unconditional(self) -> list[Proportion]:
        """Among all queries: share whose argmax is the object at position k."""
        return [Proportion(int(c), self.queries) for c in self.argmax_at]

    def first_position_bias(self, order_randomised: bool = True) -> dict:
        """Among queries whose argmax is a caption object, share at position 1 vs 1/n.

        With object order randomised independently of content (balanced protocol), an
        order-blind encoder puts the winner at position 1 with probability exactly 1/n,
        so an exact binomial test applies.
        """
        inside = int(self.argmax_at.sum())
        share = Proportion(int(self.argmax_at[0]), inside)
        if order_randomised:
            p_value, test = (
                binomial_test(share.count, inside, 1 / self.n),
                "exact two-sided binomial",
            )
        else:  # list order: position 1 always holds the lower-index name
            p_value, test = None, "none: position is confounded with identity in list order"
        return {
            **share.to_dict(),
            "expected_if_order_blind": 1 / self.n,
            "ratio_to_expected": share.estimate * self.n if inside else float("nan"),
            "p_value": p_value,
            "test": test,
        }

    def summary(
        self,
        names: Sequence[str] | None = None,
        top_objects: int = 10,
        order_randomised: bool = True,
    ) -> dict:
        metrics = {
            "queries": self.queries,
            "per_position_conditional": [p.to_dict() for p in self.conditional()],
            "per_position_unconditional": [p.to_dict() for p in self.unconditional()],
            "argmax_outside_caption": Proportion(self.argmax_outside, self.queries).to_dict(),
            "topn_accuracy": Proportion(self.topn_correct, self.queries).to_dict(),
            "first_position_bias": self.first_position_bias(order_randomised),
        }
        for name, sums in self.sums.items():
            metrics[name] = mean_interval(sums.total, sums.squares, self.queries)
        if names is not None:
            metrics["per_object"] = self.per_object(names, top_objects)
        return metrics

    def per_object(self, names: Sequence[str], top: int) -> dict:
        """Which objects win regardless of position: win rate when present, by position."""
        present = self.object_present.sum(axis=1)
        wins = self.object_wins.sum(axis=1)
        rate = np.divide(wins, present, out=np.zeros(len(names)), where=present > 0)
        order = np.argsort(-rate, kind="stable")
        rows = []
        for index in order:
            if present[index] == 0:
                continue
            by_position = zip(self.object_wins[index], self.object_present[index], strict=True)
            rows.append(
                {
                    "object": names[index],
                    "win_rate": Proportion(int(wins[index]), int(present[index])).to_dict(),
                    "win_rate_by_position": [
                        Proportion(int(w), int(p)).estimate for w, p in by_position
                    ],
                }
            )
        return {"most_dominant": rows[:top], "least_dominant": rows[-top:][::-1]}


@dataclass
class MatchedGalleryTally:
    """Position-matched gallery: object o is looked up at slot k in gallery k."""

    n: int
    queries: int = 0
    correct_at: np.ndarray = field(init=False)

    def __post_init__(self):
        self.correct_at = np.zeros(self.n, dtype=np.int64)

    def update(self, similarities: Sequence[np.ndarray], truth: np.ndarray) -> np.ndarray:
        """``similarities[k]`` is (Q, G) against the gallery with names placed at slot k.
        Returns (Q, n): the gallery index each query retrieves from gallery k."""
        self.queries += truth.shape[0]
        retrieved = np.stack([np.argmax(similarity, axis=1) for similarity in similarities], axis=1)
        for k in range(len(similarities)):
            self.correct_at[k] += int((retrieved[:, k] == truth[:, k]).sum())
        return retrieved

    def summary(self) -> list[dict]:
        return [Proportion(int(c), self.queries).to_dict() for c in self.correct_at]
