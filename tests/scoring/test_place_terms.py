"""``place_terms`` and ``competence_table``: the one-place pieces of ``score_pairs``, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from fixtures import generate_region
from scoring.policy import Policy, load_policy
from scoring.pool import CandidatePool, PlaceTable, build_pool
from scoring.score import TERMS, competence_table, place_terms, score_pairs


@pytest.fixture(scope="module")
def small() -> tuple[CandidatePool, PlaceTable, Policy]:
    policy = load_policy("gothenburg")
    pool, places = build_pool(generate_region("gothenburg", "small", seed=3), policy)
    return pool, places, policy


def test_place_terms_are_score_pairs_terms(small: tuple[CandidatePool, PlaceTable, Policy]) -> None:
    pool, places, policy = small
    cand = np.arange(0, pool.size, 3)
    for p in range(0, places.size, 7):
        _, want = score_pairs(pool, places, cand, p, policy)
        got = place_terms(pool, places, cand, p, policy)
        assert list(got) == list(TERMS)
        for name in TERMS:
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)
        some = place_terms(pool, places, cand, p, policy, ("wishes", "ladder"))
        assert list(some) == ["wishes", "ladder"]
        np.testing.assert_array_equal(some["wishes"], want["wishes"])


def test_competence_table_is_the_term_by_hits(small: tuple[CandidatePool, PlaceTable, Policy]) -> None:
    pool, places, policy = small
    cand = np.arange(pool.size)
    for p in range(places.size):
        _, terms = score_pairs(pool, places, cand, np.full(pool.size, p), policy)
        hits_req = sum(np.bitwise_count(pool.competences[w] & places.required[w, p])
                       for w in range(pool.competences.shape[0]))
        hits_want = sum(np.bitwise_count(pool.competences[w] & places.wanted[w, p])
                        for w in range(pool.competences.shape[0]))
        table = competence_table(int(places.num_required[p]), int(places.num_wanted[p]))
        np.testing.assert_array_equal(table[hits_req, hits_want], terms["competence"])


def test_competence_table_shape_and_corners() -> None:
    assert competence_table(0, 0).tolist() == [[1.0]]  # nothing asked, nothing missing
    table = competence_table(3, 2)
    assert table.shape == (4, 3)
    assert table[0, 0] == 0.0 and table[3, 2] == 1.0
