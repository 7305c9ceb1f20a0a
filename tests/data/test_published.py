"""The paper's own numbers as shipped data, and the side-by-side rows they produce."""

from __future__ import annotations

import pytest

from cliposcope.data.published import parse_row, published_figures
from cliposcope.data.vocab import load_vocabulary
from cliposcope.errors import CliposcopeError
from cliposcope.report.beside_paper import beside_paper, comparison_rows
from cliposcope.results import ProbeResult


def test_every_cell_of_tables_1_to_6_is_shipped_with_a_source_and_a_unit():
    rows = published_figures()
    assert len(rows) == 164
    assert {r.table for r in rows} == {f"Table {k}" for k in range(1, 7)}
    assert all(r.source.startswith("Abbasi et al.") and r.unit == "percent" for r in rows)
    assert all(0 <= r.value <= 100 for r in rows)
    assert all(r.spec is None or r.spec_note.startswith("best guess") for r in rows)
    first = rows[0]  # Table 1, CLIP LAION, first object
    assert (first.table, first.model_in_paper, first.value) == ("Table 1", "CLIP LAION", 63.96)
    assert (first.probe, first.data, first.n, first.figure) == (
        "tor",
        "comco-names",
        4,
        "per_position_conditional.0",
    )


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"source": " "}, "no source"),
        ({"unit": "fraction"}, "unit"),
        ({"value": "12,5"}, "not a number"),
        ({"value": "150"}, "not a percentage"),
        ({"probe": "toc"}, "unknown"),
    ],
)
def test_a_damaged_row_names_its_line(change, problem):
    good = {
        "table": "Table 1",
        "experiment": "x",
        "dataset": "ComCO",
        "model_in_paper": "m",
        "metric": "m",
        "value": "50",
        "source": "s",
        "unit": "percent",
        "probe": "tor",
        "data": "comco-names",
        "n": "4",
        "figure": "f",
        "spec": "",
        "spec_note": "",
    }
    parse_row(good, 2)
    with pytest.raises(CliposcopeError, match=f"line 7: .*{problem}"):
        parse_row(good | change, 7)


def tor_result(spec: str, conditional: list[tuple[int, int]], **settings) -> ProbeResult:
    from cliposcope.probes.stats import Proportion

    figures = [Proportion(c, t).to_dict() for c, t in conditional]
    base = {
        "n": 4,
        "protocol": "paper",
        "template": "and",
        "vocabulary_fingerprint": load_vocabulary("comco").fingerprint,
    }
    return ProbeResult(
        probe="tor",
        role="model",
        model={"spec": spec},
        settings=base | settings,
        metrics={"per_position_conditional": figures},
        provenance={},
        wall_time_s=0.0,
    )


def test_a_result_with_a_matching_spec_gets_the_paper_beside_it():
    # Table 1 prints 50.31 / 20.74 / 14.45 / 6.79 for "CLIP openAI" (openai ViT-B-32 guessed)
    result = tor_result(
        "openclip:ViT-B-32/openai", [(5031, 10000), (2000, 10000), (1445, 10000), (679, 10000)]
    )
    found = beside_paper([result])
    table1 = [c for c in found if c.row.table == "Table 1"]
    assert [c.row.model_in_paper for c in table1] == ["CLIP openAI"] * 4
    assert [c.row.value for c in table1] == [50.31, 20.74, 14.45, 6.79]
    assert table1[0].difference == pytest.approx(0.0) and table1[0].paper_in_ci
    # 20.00% of 10,000: Wilson 19.22 to 20.80, so 20.74 lies inside; 0.74 points below
    assert table1[1].difference == pytest.approx(0.20 - 0.2074) and table1[1].paper_in_ci
    assert {c.row.table for c in found} == {"Table 1", "Table 5"}  # Table 5's "CLIP" too
    _headers, rows = comparison_rows(table1)
    assert rows[1][4:] == ["20.74", "20.0 (19.2-20.8)", "-0.7", "yes"]
    far = beside_paper([tor_result("openclip:ViT-B-32/openai", [(4000, 10000)] * 4)])
    assert not far[0].paper_in_ci and far[0].difference == pytest.approx(0.40 - 0.5031)


def test_no_side_by_side_for_other_data_or_models():
    numbers = [(1, 2)] * 4
    assert (
        beside_paper([tor_result("openclip:ViT-B-32/openai", numbers, protocol="balanced")]) == []
    )
    assert beside_paper([tor_result("openclip:ViT-B-32/openai", numbers, n=3)]) == []
    assert (
        beside_paper(
            [tor_result("openclip:ViT-B-32/openai", numbers, vocabulary_fingerprint="other")]
        )
        == []
    )
    assert beside_paper([tor_result("openclip:RN50/openai", numbers)]) == []


def test_a_local_copy_named_like_the_published_model_matches_it():
    from cliposcope.report.beside_paper import same_model

    assert same_model("st:/models/all-mpnet-base-v2", "st:all-mpnet-base-v2")
    assert same_model("st:./all-mpnet-base-v2/", "st:all-mpnet-base-v2")
    assert not same_model("st:/models/all-MiniLM-L6-v2", "st:all-mpnet-base-v2")
    assert not same_model("hf:/models/all-mpnet-base-v2", "st:all-mpnet-base-v2")
    assert not same_model("st:all-mpnet-base-v2", None)
    result = tor_result("st:/models/all-mpnet-base-v2", [(1, 2)] * 4)
    assert [c.row.model_in_paper for c in beside_paper([result])] == ["SBERT"] * 4


def test_empty_figures_and_other_matching_rules_get_no_side_by_side():
    from cliposcope.probes.stats import Proportion

    empty = tor_result("openclip:ViT-B-32/openai", [(0, 0)] * 4)
    assert beside_paper([empty]) == []
    shares = {"plain": Proportion(80, 100).to_dict()}
    matching = ProbeResult(
        probe="matching",
        role="model",
        model={"spec": "openclip:ViT-B-32/openai"},
        settings={"n": 4, "biased_position": 1},
        metrics={"scenario_1": shares, "scenario_2": shares},
        provenance={"scene_origin": {"layout": "official"}},
        wall_time_s=0.0,
    )
    assert beside_paper([matching]) == []  # the paper biases the large object, not position 1
    matching.settings["biased_position"] = "large object"
    assert [c.row.table for c in beside_paper([matching])] == ["Table 6", "Table 6"]
