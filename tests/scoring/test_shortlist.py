"""Shortlists: k, eligibility, held-back rules, fair re-ranking and the lines' reasons."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fixtures import generate_region
from scoring.competence import CompetenceNormaliser
from scoring.eligibility import place_eligibility
from scoring.exceptions import PoolPolicyMismatchError, UnknownEntityError
from scoring.fair_ranking import fair_rerank
from scoring.policy import load_policy
from scoring.pool import build_pool
from scoring.score import TERMS, score_pairs
from scoring.shortlist import explain_candidate, shortlist
from tests.scoring.test_eligibility import VOCABULARY, hand_policy, hand_pool, hand_region


@pytest.fixture(scope="module")
def built():  # type: ignore[no-untyped-def]
    policy = hand_policy()
    pool, places = hand_pool(policy)
    return pool, places, policy


def test_ranked_by_score_without_fairness(built) -> None:  # type: ignore[no-untyped-def]
    pool, places, policy = built
    result = shortlist(pool, places, "P1", k=3, policy=policy, fair=False)
    # Eligible at P1: C1, C8, C9, C10, C11, C12; C8 (declined by S1 45 days ago) and C12 (open
    # proposal to P3) are held back. Scores: C1 73.33, C11 55.83, C10 54.17, C9 47.5.
    assert result.candidate_ids == ["C1", "C11", "C10"]
    assert [line.rank for line in result.lines] == [1, 2, 3]
    assert [line.reason for line in result.lines] == [
        "ranked by score (73.3)", "ranked by score (55.8)", "ranked by score (54.2)"]
    assert result.counts.pool == 12
    assert result.counts.eligible == 6
    assert result.counts.held_back == 2
    assert result.counts.considered == 4
    assert result.counts.held_back_by_rule == {"open_proposal_elsewhere": 1, "declined_by_supplier": 1}
    assert result.counts.ineligible_by_rule["commute"] == 1


def test_respects_k_and_short_pools(built) -> None:  # type: ignore[no-untyped-def]
    pool, places, policy = built
    assert len(shortlist(pool, places, "P1", k=1, policy=policy).lines) == 1
    assert len(shortlist(pool, places, "P1", k=20, policy=policy).lines) == 4  # only 4 considered
    assert shortlist(pool, places, "P2", k=5, policy=policy).lines == ()  # too short for the policy
    with pytest.raises(ValueError, match="k=0"):
        shortlist(pool, places, "P1", k=0, policy=policy)


def test_lines_add_up_and_match_score_pairs(built) -> None:  # type: ignore[no-untyped-def]
    pool, places, policy = built
    for line in shortlist(pool, places, "P1", k=4, policy=policy).lines:
        assert sum(line.points.values()) == pytest.approx(line.score, abs=1e-9)
        total, _terms = score_pairs(pool, places, np.array([line.candidate_index]), 0, policy)
        assert line.score == float(total[0])
        assert list(line.points) == list(TERMS)


def test_include_held_back_marks_lines(built) -> None:  # type: ignore[no-untyped-def]
    pool, places, policy = built
    result = shortlist(pool, places, "P1", k=10, policy=policy, include_held_back=True, fair=False)
    # C12 scores 72.5 (both required, lives at the workplace, a man in a male trade): second, marked.
    # C8 and C9 tie at 47.5: the lower pool position first.
    assert result.candidate_ids == ["C1", "C12", "C11", "C10", "C8", "C9"]
    flags = {line.candidate_id: line.flags for line in result.lines}
    assert flags["C12"] == ("proposed elsewhere (an open proposal)",)
    assert flags["C8"] == ("declined at this supplier on 2026-01-15, skills (held back 90 days after a decline)",)
    assert flags["C1"] == flags["C9"] == ()


def test_only_eligible_candidates_on_a_generated_region() -> None:
    policy = load_policy("gothenburg")
    pool, places = build_pool(generate_region("gothenburg", "small", seed=3), policy)
    for place in range(0, places.size, 7):
        check = place_eligibility(pool, places, place, policy)
        held = check.held_back["open_proposal_elsewhere"] | check.held_back["declined_by_supplier"]
        allowed = check.eligible & ~held
        result = shortlist(pool, places, str(places.ids[place]), k=15, policy=policy)
        indices = [line.candidate_index for line in result.lines]
        assert len(indices) == min(15, int(allowed.sum())) == len(set(indices))
        assert all(allowed[i] for i in indices)
        # Without fairness the list is exactly the brute-force top 15 (score desc, then position).
        plain = shortlist(pool, places, str(places.ids[place]), k=15, policy=policy, fair=False)
        cand = np.flatnonzero(allowed)
        total, _ = score_pairs(pool, places, cand, place, policy)
        brute = sorted(zip((-total).tolist(), cand.tolist(), strict=True))[:15]
        assert [line.candidate_index for line in plain.lines] == [c for _, c in brute]
        # The fair list is fair_rerank's answer on the whole considered pool.
        if result.min_shares:
            names = list(result.min_shares)
            groups = np.stack([pool.groups[g][cand] for g in policy.groups.enabled
                               if policy.floors.get(g, 0) > 0], axis=1)
            ranking = fair_rerank(total, groups, k=15, min_shares=np.array(list(result.min_shares.values())),
                                  group_names=names)
            assert indices == cand[ranking.order].tolist()


def test_moved_up_reason(built) -> None:  # type: ignore[no-untyped-def]
    pool, places, policy = built
    demanding = policy.model_copy(update={"floors": {**policy.floors, "foreign_born": 0.9}})
    result = shortlist(pool, places, "P1", k=4, policy=demanding)
    # FA*IR at p = 0.9 wants a foreign-born candidate in the top 2: C10 (54.2) passes C11 (55.8).
    assert result.candidate_ids == ["C1", "C10", "C11", "C9"]
    line = result.lines[1]
    assert line.moved_up
    assert line.reason == "moved up to meet the foreign-born minimum at rank 2 (score 54.2)"
    assert result.lines[2].reason == "ranked by score (55.8)"
    # Only one foreign-born candidate is eligible: later minimums are shortfalls, reported.
    assert result.shortfalls[0] == "the foreign-born minimum at rank 3 needs 2 but the pool allows only 1"


def test_gender_norm_group_is_per_place() -> None:
    policy = load_policy("ostersund-alt1")  # enables gender-norm breakers, floor 10 %
    pool, places = build_pool(hand_region(), policy, normaliser=CompetenceNormaliser(VOCABULARY))
    at_p1 = shortlist(pool, places, "P1", k=4, policy=policy)
    assert at_p1.min_shares == {"far from the labour market": 0.6, "gender-norm breaker": 0.1}
    groups = {line.candidate_id: line.groups for line in at_p1.lines}
    assert groups["C1"] == ("far from the labour market", "gender-norm breaker")  # a woman in construction
    at_p3 = shortlist(pool, places, "P3", k=4, policy=policy)
    assert "gender-norm breaker" not in {g for line in at_p3.lines for g in line.groups}  # women in care


def test_pool_built_for_another_policy_is_refused(built) -> None:  # type: ignore[no-untyped-def]
    pool, places, _ = built
    with pytest.raises(PoolPolicyMismatchError, match="built for policy 'gothenburg'"):
        shortlist(pool, places, "P1", k=5, policy=load_policy("ostersund-alt1"))


def test_unknown_place(built) -> None:  # type: ignore[no-untyped-def]
    pool, places, policy = built
    with pytest.raises(UnknownEntityError, match="unknown place 'P9'"):
        shortlist(pool, places, "P9", k=5, policy=policy)


def test_to_dict_is_json(built) -> None:  # type: ignore[no-untyped-def]
    pool, places, policy = built
    data = shortlist(pool, places, "P1", k=2, policy=policy).to_dict()
    text = json.dumps(data, ensure_ascii=False)
    assert json.loads(text)["lines"][0]["candidate_id"] == "C1"
    assert data["lines"][0]["terms"]["competence"] == {
        "value": 0.75, "weight": 40.0, "points": 30.0,
        "text": "has 2 of 2 required (B-körkort, Truckkort); has 0 of 1 wanted"}
    assert data["counts"]["considered"] == 4


def test_explain_candidate_not_on_list(built) -> None:  # type: ignore[no-untyped-def]
    pool, places, policy = built
    why = explain_candidate(pool, places, "C3", "P1", policy=policy)
    assert not why.eligible
    assert why.describe()[0] == "C3 for P1: not eligible: lives 22 km away; accepts at most 15 km"
    held = explain_candidate(pool, places, "C8", "P1", policy=policy)
    assert held.eligible and [h.rule for h in held.held_back] == ["declined_by_supplier"]


def _mask(pool, *ids: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    mask = np.zeros(pool.size, dtype=bool)
    for candidate_id in ids:
        mask[pool.position(candidate_id)] = True
    return mask


def test_candidate_mask_lists_only_masked_candidates(built) -> None:  # type: ignore[no-untyped-def]
    pool, places, policy = built
    # Without C1 (73.33) the next two by score are C11 (55.83) and C10 (54.17).
    result = shortlist(pool, places, "P1", k=2, policy=policy, fair=False, candidate_mask=~_mask(pool, "C1"))
    assert result.candidate_ids == ["C11", "C10"]
    assert [line.rank for line in result.lines] == [1, 2]
    assert result.counts.pool == 11
    assert result.counts.considered == 3


def test_candidate_mask_counts_inside_the_mask(built) -> None:  # type: ignore[no-untyped-def]
    pool, places, policy = built
    # C3 fails the commute rule, C12 is held back (an open proposal to P3): C10 (54.17), C9 (47.5).
    mask = _mask(pool, "C3", "C9", "C10", "C12")
    result = shortlist(pool, places, "P1", k=3, policy=policy, fair=False, candidate_mask=mask)
    assert result.candidate_ids == ["C10", "C9"]
    counts = result.counts
    assert (counts.pool, counts.eligible, counts.held_back, counts.considered) == (4, 3, 1, 2)
    assert counts.ineligible_by_rule == {"period": 0, "free_slots": 0, "placed": 0, "proposed_here": 0,
                                         "ladder": 0, "commute": 1, "availability": 0, "placement_type": 0,
                                         "duration": 0, "competence": 0}
    assert counts.held_back_by_rule == {"open_proposal_elsewhere": 1, "declined_by_supplier": 0}
    kept = shortlist(pool, places, "P1", k=3, policy=policy, fair=False, candidate_mask=mask,
                     include_held_back=True)
    assert kept.candidate_ids == ["C12", "C10", "C9"]
    assert kept.lines[0].flags == ("proposed elsewhere (an open proposal)",)


def test_candidate_mask_fair_reranking_stays_inside(built) -> None:  # type: ignore[no-untyped-def]
    pool, places, policy = built
    demanding = policy.model_copy(update={"floors": {**policy.floors, "foreign_born": 0.9}})
    # C10 is the only eligible foreign-born candidate: inside the mask it moves up past C11 ...
    inside = shortlist(pool, places, "P1", k=3, policy=demanding, candidate_mask=_mask(pool, "C1", "C10", "C11"))
    assert inside.candidate_ids == ["C1", "C10", "C11"]
    assert inside.lines[1].reason == "moved up to meet the foreign-born minimum at rank 2 (score 54.2)"
    # ... and outside the mask it is not pulled in: the minimum is a shortfall instead.
    outside = shortlist(pool, places, "P1", k=3, policy=demanding, candidate_mask=_mask(pool, "C1", "C9", "C11"))
    assert outside.candidate_ids == ["C1", "C11", "C9"]
    assert not any(line.moved_up for line in outside.lines)
    assert outside.shortfalls == ("the foreign-born minimum at rank 2 needs 1 but the pool allows only 0",
                                  "the foreign-born minimum at rank 3 needs 2 but the pool allows only 0")


def test_candidate_mask_empty_and_invalid(built) -> None:  # type: ignore[no-untyped-def]
    pool, places, policy = built
    empty = shortlist(pool, places, "P1", k=3, policy=policy, candidate_mask=np.zeros(pool.size, dtype=bool))
    assert empty.lines == () and empty.counts.pool == 0
    with pytest.raises(ValueError, match="candidate_mask"):
        shortlist(pool, places, "P1", k=3, policy=policy, candidate_mask=np.ones(pool.size, dtype=np.int8))
    with pytest.raises(ValueError, match="candidate_mask"):
        shortlist(pool, places, "P1", k=3, policy=policy, candidate_mask=np.ones(pool.size + 1, dtype=bool))


def test_candidate_mask_is_exactly_a_districts_top_k() -> None:
    policy = load_policy("gothenburg")
    pool, places = build_pool(generate_region("gothenburg", "small", seed=3), policy)
    for district in range(len(pool.district_ids)):
        mine = pool.district == district
        for place in range(district, places.size, 23):
            place_id = str(places.ids[place])
            check = place_eligibility(pool, places, place, policy)
            held = check.held_back["open_proposal_elsewhere"] | check.held_back["declined_by_supplier"]
            cand = np.flatnonzero(check.eligible & ~held & mine)
            total, _ = score_pairs(pool, places, cand, place, policy)
            # Without fairness: the brute-force top 10 of the district (score desc, then position).
            plain = shortlist(pool, places, place_id, k=10, policy=policy, fair=False, candidate_mask=mine)
            brute = sorted(zip((-total).tolist(), cand.tolist(), strict=True))[:10]
            assert [line.candidate_index for line in plain.lines] == [c for _, c in brute]
            # With fairness: fair_rerank's answer on the district's considered candidates.
            fair = shortlist(pool, places, place_id, k=10, policy=policy, candidate_mask=mine)
            indices = [line.candidate_index for line in fair.lines]
            assert all(mine[i] for i in indices)
            if fair.min_shares and len(cand):
                groups = np.stack([pool.groups[g][cand] for g in policy.groups.enabled
                                   if policy.floors.get(g, 0) > 0], axis=1)
                ranking = fair_rerank(total, groups, k=10, min_shares=np.array(list(fair.min_shares.values())),
                                      group_names=list(fair.min_shares))
                assert indices == cand[ranking.order].tolist()
            else:
                assert indices == [c for _, c in brute]


def test_explain_candidate_standing_on_and_off_the_list(built) -> None:  # type: ignore[no-untyped-def]
    pool, places, policy = built
    # By score at P1 (held-back C8 and C12 left out): C1 73.33, C11 55.83, C10 54.17, C9 47.5.
    on = explain_candidate(pool, places, "C1", "P1", policy=policy, k=3, fair=False).standing
    assert on is not None and on.on_list
    assert (on.status, on.rank, on.score_rank, on.considered) == ("on_list", 1, 1, 4)
    assert on.text == "on the list of 3 at rank 1: ranked by score (73.3)"
    off = explain_candidate(pool, places, "C9", "P1", policy=policy, k=3, fair=False).standing
    assert off is not None and not off.on_list
    assert (off.status, off.rank, off.score_rank, off.considered) == ("outscored", None, 4, 4)
    assert off.lowest_score == pytest.approx(54.1667, abs=1e-4)
    assert off.text == ("not on the list of 3: rank 4 by score of 4 considered; the lowest score on the list by score "
                        "is 54.2 (-6.7)")
    assert explain_candidate(pool, places, "C9", "P1", policy=policy).standing is None  # no k: no list


def test_explain_candidate_standing_says_why_not(built) -> None:  # type: ignore[no-untyped-def]
    pool, places, policy = built
    ineligible = explain_candidate(pool, places, "C3", "P1", policy=policy, k=3).standing
    assert ineligible is not None and ineligible.status == "ineligible"
    assert ineligible.text == "not on the list: not eligible: lives 22 km away; accepts at most 15 km"
    held = explain_candidate(pool, places, "C8", "P1", policy=policy, k=3).standing
    assert held is not None and held.status == "held_back" and held.score_rank is None
    assert held.text.startswith("not on the list: held back: declined at this supplier on 2026-01-15")
    # Listed with the held back, C8 is considered: 5th by score of 6.
    kept = explain_candidate(pool, places, "C8", "P1", policy=policy, k=3, include_held_back=True).standing
    assert kept is not None and (kept.status, kept.score_rank, kept.considered) == ("outscored", 5, 6)
    outside = explain_candidate(pool, places, "C1", "P1", policy=policy, k=3,
                                candidate_mask=~_mask(pool, "C1")).standing
    assert outside is not None and outside.status == "excluded"


def test_explain_candidate_standing_displaced_by_a_minimum(built) -> None:  # type: ignore[no-untyped-def]
    pool, places, policy = built
    demanding = policy.model_copy(update={"floors": {**policy.floors, "foreign_born": 0.9}})
    assert shortlist(pool, places, "P1", k=2, policy=demanding).candidate_ids == ["C1", "C10"]
    why = explain_candidate(pool, places, "C11", "P1", policy=demanding, k=2)
    assert why.standing is not None
    assert (why.standing.status, why.standing.score_rank) == ("displaced", 2)
    assert why.standing.text == ("not on the list of 2: rank 2 by score of 4 considered, but candidates moved up "
                                 "to meet the group minimums fill the list")
    # The bar by score is C1's: C10 is on the list for the minimum, below it.
    assert why.standing.lowest_score == pytest.approx(73.33, abs=0.01)
    moved = explain_candidate(pool, places, "C10", "P1", policy=demanding, k=2).standing
    assert moved is not None and (moved.rank, moved.score_rank) == (2, 3)
    assert moved.text == "on the list of 2 at rank 2: moved up to meet the foreign-born minimum at rank 2 (score 54.2)"


def test_explain_candidate_to_dict_matches_a_shortlist_line(built) -> None:  # type: ignore[no-untyped-def]
    pool, places, policy = built
    line = shortlist(pool, places, "P1", k=1, policy=policy).to_dict()["lines"][0]
    data = explain_candidate(pool, places, "C1", "P1", policy=policy, k=1).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert (data["candidate_id"], data["place_id"], data["policy"], data["eligible"]) == ("C1", "P1", "gothenburg", True)
    assert (data["failures"], data["held_back"]) == ([], [])
    assert data["score"] == line["score"] and data["terms"] == line["terms"]
    assert data["standing"]["on_list"] is True and data["standing"]["rank"] == 1
    failed = explain_candidate(pool, places, "C3", "P1", policy=policy).to_dict()
    assert failed["failures"] == [{"rule": "commute", "text": "lives 22 km away; accepts at most 15 km"}]
    assert "standing" not in failed
    with pytest.raises(ValueError, match="k=0"):
        explain_candidate(pool, places, "C1", "P1", policy=policy, k=0)
    with pytest.raises(UnknownEntityError, match="unknown candidate 'C99'"):
        explain_candidate(pool, places, "C99", "P1", policy=policy, k=1)
