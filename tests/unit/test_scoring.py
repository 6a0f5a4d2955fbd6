"""``cj_worker.score``: decisions made elsewhere, scored into a batch's results."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.stats import spearmanr

import cj_worker
from cj_worker import scoring
from cj_worker.core.grade_scales import GradeScaleError
from cj_worker.core.literature import sirt_btm
from cj_worker.core.misfit import JUDGE_MISFIT_LEVEL
from cj_worker.db.repositories.reports import BatchResults
from cj_worker.db.results import EssayResult
from cj_worker.decisions_file import DecisionFileError
from cj_worker.scoring import SCORED_REASON, ScoringInputError, read_anchors, score
from tests.builders.decision_files import essay_id, panel, write_csv, write_jsonl

SPLITS = 10
"""Judge splits in these tests: the literature's 100 are for real use."""


def test_the_package_exports_score() -> None:
    assert cj_worker.score is scoring.score
    assert "score" in cj_worker.__all__
    with pytest.raises(AttributeError):
        _ = cj_worker.not_a_name


def test_a_decision_file_scores_like_a_batch(tmp_path: Path) -> None:
    rows, truth = panel(60, 12, 8, seed=1)
    result = score(write_csv(tmp_path / "d.csv", rows), literature_splits=SPLITS)

    batch = result.results
    assert isinstance(batch, BatchResults)
    assert batch.stop_reason == SCORED_REASON
    assert [essay.rank for essay in batch.essays] == list(range(1, 61))
    ids = [essay.essay_id for essay in batch.essays]
    assert sorted(ids) == sorted(truth)
    scores = [essay.score for essay in batch.essays]
    assert scores == sorted(scores, reverse=True)
    rho = spearmanr(scores, [truth[i] for i in ids]).statistic
    assert rho > 0.85
    assert all(essay.standard_error > 0 for essay in batch.essays)
    assert sum(essay.comparisons for essay in batch.essays) == 2 * len(rows)
    assert sum(essay.wins for essay in batch.essays) == len(rows)
    assert batch.status.succeeded == batch.status.submitted == len(rows)
    assert 0.7 < result.headline_reliability <= 1.0
    assert batch.ssr is not None
    assert batch.ssr > 0.6
    assert batch.split_half is not None
    assert batch.split_half > 0.6
    assert {judge["judge_id"] for judge in batch.judges} == {f"judge-{j:02d}" for j in range(8)}
    assert result.graph.connected
    assert result.never_compared == ()


def test_the_literature_figures_are_sirts_on_the_same_decisions(tmp_path: Path) -> None:
    rows, _ = panel(40, 10, 6, seed=2)
    result = score(write_csv(tmp_path / "d.csv", rows), literature_splits=SPLITS)

    index = {item: i for i, item in enumerate(result.items)}
    sirt = sirt_btm(
        len(index),
        np.array([index[row["winner"]] for row in rows], dtype=np.intp),
        np.array([index[row["loser"]] for row in rows], dtype=np.intp),
    )
    assert result.literature.ssr == pytest.approx(sirt.ssr)
    assert result.literature.separation == pytest.approx(sirt.separation)
    split = result.literature.split_half
    assert split is not None
    assert split.judges == 6
    assert split.correlations.size == SPLITS
    assert 0.5 < split.median < 1.0
    # The same seed gives the same splits, another seed other ones.
    again = score(write_csv(tmp_path / "d.csv", rows), literature_splits=SPLITS)
    other = score(write_csv(tmp_path / "d.csv", rows), literature_splits=SPLITS, seed=5)
    assert again.literature.split_half is not None
    assert other.literature.split_half is not None
    np.testing.assert_array_equal(split.correlations, again.literature.split_half.correlations)
    assert not np.array_equal(split.correlations, other.literature.split_half.correlations)
    assert again.results.status.batch_id == result.results.status.batch_id


def test_rows_that_are_not_decisions_are_reported_with_their_lines(tmp_path: Path) -> None:
    rows: list[dict[str, Any]] = [dict(row) for row in panel(30, 8, 4, seed=3)[0]]
    rows.insert(2, {"winner": "essay-001", "loser": "essay-001", "judge": "judge-00"})
    rows.insert(5, {"winner": "N/A", "loser": "lonely", "judge": "judge-01"})
    rows.insert(7, {"winner": "essay-002", "loser": "essay-003", "judge": "judge-01", "tie": 1})
    result = score(write_csv(tmp_path / "d.csv", rows), literature_splits=SPLITS)

    report = result.as_dict()["decisions"]
    assert (report["self_comparison"], report["missing_winner"], report["tie"]) == (1, 1, 1)
    assert report["rows"] == len(rows)
    assert report["decisions"] == len(rows) - 3
    assert [(row["row"], row["reason"]) for row in report["excluded"]] == [
        (4, "self_comparison"),  # line 1 is the header
        (7, "missing_winner"),
        (9, "tie"),
    ]
    assert result.never_compared == ("lonely",)
    assert "lonely" not in result.items
    assert result.results.status.failed == 3
    assert result.as_dict()["never_compared"] == ["lonely"]


def test_a_disconnected_graph_reports_every_component(tmp_path: Path) -> None:
    first, _ = panel(40, 12, 4, seed=4)
    second, _ = panel(30, 12, 4, seed=5)
    second = [
        {**row, "winner": row["winner"] + "-b", "loser": row["loser"] + "-b"} for row in second
    ]
    result = score(write_jsonl(tmp_path / "d.jsonl", first + second), literature_splits=SPLITS)

    components = result.as_dict()["components"]
    assert [part["essays"] for part in components] == [40, 30]
    assert set(components[1]["ids"]) == {essay_id(i) + "-b" for i in range(30)}
    for part in components:
        assert part["ssr"] > 0.6
        assert part["literature_ssr"] > 0.6
    assert result.results.ssr is not None
    assert (
        min(p["ssr"] for p in components) <= result.results.ssr <= max(p["ssr"] for p in components)
    )
    assert result.headline_reliability > 0.6


def test_anchors_give_grades(tmp_path: Path) -> None:
    rows, truth = panel(60, 14, 6, seed=6)
    ranked = sorted(truth, key=truth.__getitem__)
    anchors = {ranked[i]: "fail" for i in range(0, 8)} | {ranked[-i]: "pass" for i in range(1, 9)}
    result = score(
        rows,
        anchors=anchors,
        grade_scale={"name": "two", "grades": ["fail", "pass"]},
        literature_splits=0,
    )

    assert result.results.grading is not None
    assert result.results.grading["status"] == "projected"
    graded = {essay.essay_id: essay for essay in result.essays}
    for item, grade in anchors.items():
        assert graded[item].is_anchor
        assert graded[item].grade == grade
        assert graded[item].confidence == 1.0
    others = [essay for essay in result.essays if not essay.is_anchor]
    assert all(essay.grade in ("fail", "pass") for essay in others)
    assert all(essay.grade_probabilities is not None for essay in others)
    assert result.literature.split_half is None  # no splits asked for


def test_anchors_from_a_file_and_anchors_never_compared(tmp_path: Path) -> None:
    rows, truth = panel(30, 10, 4, seed=7)
    ranked = sorted(truth, key=truth.__getitem__)
    anchor_file = tmp_path / "anchors.csv"
    anchor_file.write_text(
        "id,text,is_anchor,grade\n"
        f"{ranked[0]},x,true,E\n{ranked[1]},x,yes,E\n{ranked[-1]},x,1,A\n"
        f"{ranked[-2]},x,false,\nnot-judged,x,true,C\n",
        encoding="utf-8",
    )
    assert read_anchors(anchor_file) == {
        ranked[0]: "E",
        ranked[1]: "E",
        ranked[-1]: "A",
        "not-judged": "C",
    }
    result = score(rows, anchors=anchor_file, literature_splits=0)

    assert result.never_compared == ("not-judged",)
    assert result.results.grading is not None
    assert result.results.grading["status"] == "projected"
    assert sum(essay.is_anchor for essay in result.essays) == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id,grade\na,\n", r"anchors\.csv:2: grade: missing"),
        ("id,grade\na,B\na,C\n", "two grades"),
        ("name,grade\na,B\n", "'id' and 'grade'"),
    ],
)
def test_unreadable_anchor_files_say_why(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "anchors.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScoringInputError, match=message):
        read_anchors(path)


def test_anchor_grades_must_be_in_the_scale() -> None:
    rows, _ = panel(20, 6, 2, seed=8)
    with pytest.raises(ScoringInputError, match="grade 'Z' is not in scale 'swedish_8_anchor'"):
        score(rows, anchors={essay_id(0): "Z"}, literature_splits=0)
    with pytest.raises(GradeScaleError, match="unknown grade scale"):
        score(rows, grade_scale="no-such-scale", literature_splits=0)


def test_a_judge_of_one_decision_and_rows_without_a_judge(tmp_path: Path) -> None:
    rows, _ = panel(30, 10, 4, seed=9)
    rows.append({"winner": essay_id(0), "loser": essay_id(1), "judge": "once"})
    rows.append({"winner": essay_id(2), "loser": essay_id(3), "judge": ""})
    result = score(rows, literature_splits=SPLITS)

    judges = {judge["judge_id"]: judge for judge in result.results.judges}
    assert judges["once"]["comparisons"] == 1
    assert judges["once"]["misfit"] is False  # one decision cannot flag
    assert judges[None]["comparisons"] == 1
    split = result.literature.split_half
    assert split is not None
    assert split.judges == 6
    assert np.isfinite(split.median)


def test_without_judges_or_slots_those_figures_are_absent() -> None:
    rows, _ = panel(30, 10, 3, seed=10)
    bare = [{"winner": row["winner"], "loser": row["loser"]} for row in rows]
    result = score(bare, literature_splits=SPLITS)

    assert result.results.judges == []
    assert result.literature.split_half is None
    assert not result.slots_known
    assert result.as_dict()["decisions"]["judges_known"] is False
    assert (result.results.slot_effect, result.results.slot_effect_se) == (None, None)
    # Misfit does not depend on the slots the report assumes when the file gives none.
    # (With the slots known the fit models the order effect, so the scores move a little.)
    unknown_slots = score([{**row, "winner_slot": ""} for row in rows], literature_splits=0)
    by_id = {essay.essay_id: essay for essay in unknown_slots.essays}
    for essay in result.essays:
        assert essay.infit == pytest.approx(by_id[essay.essay_id].infit)


def test_known_slots_fit_and_report_the_order_effect() -> None:
    rng = np.random.default_rng(21)
    theta = rng.normal(0.0, 1.5, 40)
    first = rng.integers(0, 40, 1200)
    second = (first + rng.integers(1, 40, 1200)) % 40
    first_won = rng.random(1200) < 1.0 / (1.0 + np.exp(-(theta[first] - theta[second] + 0.8)))
    rows = [
        {
            "winner": essay_id(int(a if won else b)),
            "loser": essay_id(int(b if won else a)),
            "judge": "judge-00",
            "winner_slot": "A" if won else "B",
        }
        for a, b, won in zip(first, second, first_won, strict=True)
    ]

    result = score(rows, literature_splits=0).results

    assert result.slot_effect is not None
    assert result.slot_effect_se is not None
    assert abs(result.slot_effect - 0.8) < 3 * result.slot_effect_se
    assert result.reliability is not None
    assert result.reliability > 0.8
    assert result.shows_signal is True
    assert result.as_dict()["slot_effect"] == result.slot_effect
    [judge] = result.judges
    assert judge["reversed_pairs"] > 0
    assert 0.0 <= judge["reversal_consistency"] <= 1.0


def test_position_shares_need_known_slots() -> None:
    rows, _ = panel(30, 10, 3, seed=11)
    known = score(rows, literature_splits=0)
    unknown = score([{**row, "winner_slot": ""} for row in rows], literature_splits=0)

    assert all(judge["slot_a_share"] is not None for judge in known.results.judges)
    assert all(judge["slot_a_share"] is None for judge in unknown.results.judges)


def test_the_json_and_csv_are_the_exports_own(tmp_path: Path) -> None:
    rows, _ = panel(25, 8, 3, seed=12)
    result = score(rows, literature_splits=SPLITS)

    document = json.loads(json.dumps(result.as_dict(), allow_nan=False))
    assert set(result.results.as_dict()) <= set(document)
    for key in ("headline_reliability", "literature", "components", "never_compared", "fit"):
        assert key in document
    assert document["literature"]["judges"] == 3
    assert document["fit"]["se_method"] == "exact"
    header = result.to_csv().splitlines()[0].split(",")
    assert header == EssayResult.csv_header()


def test_nothing_to_score_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(
        ScoringInputError,
        match=r"no usable decision among 2 rows \(1 missing winner, 1 self comparison\)",
    ):
        score([{"winner": "a", "loser": "a"}, {"winner": "N/A", "loser": "b"}])
    with pytest.raises(DecisionFileError, match="got a mapping"):
        score({"winner": "a", "loser": "b"})  # type: ignore[dict-item]


def test_well_behaved_judges_are_rarely_flagged() -> None:
    """The flag's stated level is its false-flag rate for judges who follow the model."""
    flagged = tested = 0
    for seed in range(3):
        rows, _ = panel(80, 12, 16, seed=100 + seed)
        result = score(rows, literature_splits=0)
        tested += sum(judge["comparisons"] >= 10 for judge in result.results.judges)
        flagged += sum(judge["misfit"] for judge in result.results.judges)
    assert tested == 48
    assert flagged / tested <= 3 * JUDGE_MISFIT_LEVEL


def test_coin_flipping_judges_are_flagged() -> None:
    rows, _ = panel(80, 20, 10, seed=200, sd=2.5, coin_flippers=2)
    result = score(rows, literature_splits=0)

    flagged = {judge["judge_id"] for judge in result.results.judges if judge["misfit"]}
    assert {"judge-08", "judge-09"} <= flagged
    assert math.isfinite(result.headline_reliability)
