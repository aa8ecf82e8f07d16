"""The learnt outcome probability as a policy-weighted score term (issue 18, item 2).

At weight 0 the score, the shortlists and the rounds are exactly those without the model; at a
weight above 0 each pair's score gains ``weight · P(in work or studies at 180 days)``, through the
same ``score_pairs`` path the shortlists and rounds use, and every explanation shows the term in
words. The model is fitted on a small simulated Östersund year; its 20-odd evaluation outcomes are
far too few for the shipped policy's ``min_group_outcomes`` (200), so these tests judge it by a
policy copy with ``min_group_outcomes = 1`` and ``max_group_calibration_error = 1.0`` (stated: a
test policy, not a recommendation).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from fixtures import generate_region
from fixtures.outcomes import simulate_person_outcomes
from fixtures.simulate import simulate_year
from scoring.allocation import RoundParams, run_round
from scoring.exceptions import PolicyError
from scoring.outcome_model import EXCLUDED_ATTRIBUTES, OutcomeModel, fit_outcome_model
from scoring.policy import Policy, load_policy
from scoring.pool import CandidatePool, PlaceTable, build_pool
from scoring.score import OUTCOME_TERM, TERMS, explain_pair, outcome_words, policy_terms, score_pairs
from scoring.shortlist import shortlist

SEED = 7
WEIGHT = 20.0


def _rules(policy: Policy, **update: object) -> Policy:
    return policy.model_copy(update={"outcome_model": policy.outcome_model.model_copy(update=update)})


class Setup:
    def __init__(self) -> None:
        region = simulate_year(generate_region("ostersund", "small", seed=SEED), seed=SEED, year=2026)
        outcomes = simulate_person_outcomes(region, seed=SEED)
        shipped = load_policy(region.manifest.policy)
        # A test policy: lenient calibration rules any model of a small region passes.
        self.base = _rules(shipped, max_group_calibration_error=1.0, min_group_outcomes=1)
        self.pool, self.places = build_pool(region, self.base)
        self.model, _ = fit_outcome_model(self.pool, self.places, outcomes, self.base, region="ostersund")
        self.region = region
        # A place open for proposals, with eligible candidates (the simulated year filled many).
        self.place = next(p for p in range(self.places.size)
                          if len(shortlist(self.pool, self.places, str(self.places.ids[p]), k=10,
                                           policy=self.base).lines) >= 5)

    def weighted(self, weight: float = WEIGHT) -> Policy:
        rules = self.base.outcome_model.model_copy(update={"weight": weight, "model": self.model.version})
        return self.base.model_copy(update={"outcome_model": rules.bound_to(self.model)})


@pytest.fixture(scope="module")
def setup() -> Setup:
    return Setup()


def _all_pairs(pool: CandidatePool, places: PlaceTable) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.integers(0, pool.size, 500), rng.integers(0, places.size, 500)


def test_weight_zero_changes_nothing(setup: Setup) -> None:
    s = setup
    named = _rules(s.base, model=s.model.version)  # names a model, weight 0: not used, not loaded
    assert not named.outcome_model.used and policy_terms(named) == TERMS
    cand, place = _all_pairs(s.pool, s.places)
    total, _ = score_pairs(s.pool, s.places, cand, place, s.base)
    again, terms0 = score_pairs(s.pool, s.places, cand, place, named)
    np.testing.assert_array_equal(total, again)
    assert OUTCOME_TERM not in terms0 and list(terms0) == list(TERMS)
    place_id = str(s.places.ids[s.place])
    plain = shortlist(s.pool, s.places, place_id, k=10, policy=s.base).to_dict()
    zero = shortlist(s.pool, s.places, place_id, k=10, policy=named).to_dict()
    assert zero["lines"] == plain["lines"] and len(plain["lines"]) >= 5
    first = run_round(s.pool, s.places, s.base, RoundParams())
    second = run_round(s.pool, s.places, named, RoundParams())
    assert first.num_assigned > 0
    assert first.total_score == second.total_score and first.num_assigned == second.num_assigned
    assert first.assignments.equals(second.assignments)
    assert "term_outcome" not in first.assignments.columns


def test_weight_adds_weight_times_the_predicted_probability(setup: Setup) -> None:
    s = setup
    policy = s.weighted()
    cand, place = _all_pairs(s.pool, s.places)
    base, _ = score_pairs(s.pool, s.places, cand, place, s.base)
    total, terms = score_pairs(s.pool, s.places, cand, place, policy)
    p = s.model.predict(s.pool, s.places, cand, place, s.base)
    assert p.min() > 0 and p.max() < 1
    np.testing.assert_array_equal(terms[OUTCOME_TERM], p)
    np.testing.assert_allclose(total, base + WEIGHT * p, rtol=0, atol=1e-9)
    # One place against many (the shortlist's path) gives the same numbers as the pairs.
    one, terms_one = score_pairs(s.pool, s.places, cand, int(place[0]), policy)
    np.testing.assert_allclose(terms_one[OUTCOME_TERM],
                               s.model.predict(s.pool, s.places, cand, np.full(len(cand), place[0]), s.base))
    assert one.shape == cand.shape


def test_the_explanation_names_the_term_in_words(setup: Setup) -> None:
    s = setup
    policy = s.weighted()
    breakdown = explain_pair(s.pool, s.places, 3, 1, policy)
    term = breakdown.terms[-1]
    p = float(s.model.predict(s.pool, s.places, np.array([3]), np.array([1]), s.base)[0])
    assert term.name == OUTCOME_TERM and term.weight == WEIGHT and term.value == pytest.approx(p)
    assert term.points == pytest.approx(WEIGHT * p)
    assert term.text == f"predicted {round(p * 100):.0f} % in work or studies after 180 days"
    assert re.fullmatch(r"predicted \d+ % in work or studies after 180 days", outcome_words(p))
    assert sum(t.points for t in breakdown.terms) == pytest.approx(breakdown.total)
    assert f"outcome +{WEIGHT * p:.1f}: predicted" in breakdown.describe()


def test_shortlists_and_rounds_use_the_term(setup: Setup) -> None:
    s = setup
    policy = s.weighted()
    place_id = str(s.places.ids[s.place])
    listed = shortlist(s.pool, s.places, place_id, k=10, policy=policy)
    assert listed.lines
    for line in listed.lines:
        names = [t.name for t in line.breakdown.terms]
        assert names == [*TERMS, OUTCOME_TERM]
        c = np.array([line.candidate_index])
        predicted = float(s.model.predict(s.pool, s.places, c, np.array([s.place]), s.base)[0])
        base = float(score_pairs(s.pool, s.places, c, s.place, s.base)[0][0])
        assert line.score == pytest.approx(base + WEIGHT * predicted, abs=1e-9)
    result = run_round(s.pool, s.places, policy, RoundParams())
    rows = result.assignments
    assert rows.height and "term_outcome" in rows.columns
    cand = s.pool.positions(rows["candidate_id"].to_list())
    plc = np.array([s.places.index[p] for p in rows["place_id"].to_list()])
    p = s.model.predict(s.pool, s.places, cand, plc, s.base)
    np.testing.assert_allclose(rows["term_outcome"].to_numpy(), WEIGHT * p, atol=1e-9)
    terms_sum = sum(rows[f"term_{t}"].to_numpy() for t in policy_terms(policy))
    np.testing.assert_allclose(rows["score"].to_numpy(), terms_sum, atol=1e-6)


def test_a_weighted_policy_without_its_model_is_refused(setup: Setup) -> None:
    s = setup
    unbound = _rules(s.base, weight=WEIGHT, model=s.model.version)
    with pytest.raises(PolicyError, match="no model was loaded"):
        score_pairs(s.pool, s.places, np.array([0]), 0, unbound)
    with pytest.raises(PolicyError, match="no model was loaded"):
        shortlist(s.pool, s.places, str(s.places.ids[0]), k=5, policy=unbound)
    with pytest.raises(ValueError, match="needs model"):
        Policy.model_validate({**s.base.model_dump(), "outcome_model": {"weight": 5.0}})
    with pytest.raises(ValueError, match="pattern"):  # a name, never a path
        Policy.model_validate({**s.base.model_dump(), "outcome_model": {"weight": 5.0, "model": "../x"}})


def test_no_priority_group_attribute_is_a_feature(setup: Setup) -> None:
    model: OutcomeModel = setup.model
    for feature in model.features:
        assert feature.split("=")[0].split("*")[0] not in EXCLUDED_ATTRIBUTES, feature
    assert not any(f.startswith(("age", "gender", "foreign", "disab", "home_district", "priority"))
                   for f in model.features)


@pytest.mark.parametrize(("lang", "said", "term"), [
    ("sv", "förutsagt 62 % i arbete eller studier efter 180 dagar", "förutsagt utfall"),
    ("en", "predicted 62 % in work or studies after 180 days", "predicted outcome"),
])
def test_the_pages_say_the_term_in_swedish_and_english(lang: str, said: str, term: str) -> None:
    from service.web.explain_words import in_words
    from service.web.pages import words

    translate = words(lang)
    assert in_words(outcome_words(0.6234), translate) == said
    assert translate(f"rd_term_{OUTCOME_TERM}") == term
