"""The outcome model: its features hold no sensitive attribute, its calibration error is computed
right, it recovers the simulated truth's effects, and the policy refuses it where a group is
miscalibrated."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, roc_auc_score

from fixtures import generate_region
from fixtures.outcomes import simulate_person_outcomes, true_outcome_probability, truth_terms
from fixtures.regions import REGIONS
from fixtures.simulate import simulate_year
from scoring.exceptions import OutcomeModelRefusedError, ScoringError
from scoring.outcome_model import (
    ALL_OUTCOMES,
    EXCLUDED_ATTRIBUTES,
    FeatureSpec,
    OutcomeModel,
    OutcomeModelParams,
    evaluate_predictions,
    expected_calibration_error,
    fit_outcome_model,
    outcome_features,
    require_usable,
    researcher_evaluation,
    time_split,
    usability_problems,
)
from scoring.policy import Policy, load_policy
from scoring.pool import CandidatePool, PlaceTable, build_pool
from scoring.region import Region
from scoring.schema import SENSITIVE_COLUMNS

SEED = 7


class Fitted:
    def __init__(self, region: Region, outcomes: pl.DataFrame, policy: Policy, pool: CandidatePool,
                 places: PlaceTable, model: OutcomeModel, data: dict[str, Any]) -> None:
        self.region, self.outcomes, self.policy = region, outcomes, policy
        self.pool, self.places, self.model, self.data = pool, places, model, data


@pytest.fixture(scope="module")
def fitted() -> Fitted:
    """A seeded medium Östersund region (every priority group, gender-norm breakers too), one
    simulated year and its outcomes, the default model fitted on them."""
    region = simulate_year(generate_region("ostersund", "medium", seed=SEED), seed=SEED, year=2026)
    outcomes = simulate_person_outcomes(region, seed=SEED)
    policy = load_policy(region.manifest.policy)
    pool, places = build_pool(region, policy)
    model, data = fit_outcome_model(pool, places, outcomes, policy, region="ostersund")
    return Fitted(region, outcomes, policy, pool, places, model, data)


def _pairs(f: Fitted) -> tuple[np.ndarray, np.ndarray]:
    cand = f.pool.positions(f.outcomes["candidate_id"].to_list())
    place = np.array([f.places.index[p] for p in f.outcomes["place_id"].to_list()])
    return cand, place


def _predict(f: Fitted, x: np.ndarray) -> np.ndarray:
    return f.model.estimator.predict_proba(x)[:, 1]  # type: ignore[attr-defined]


# --- features -----------------------------------------------------------------------------


def test_the_feature_list_has_no_sensitive_attribute(fitted: Fitted) -> None:
    names = fitted.model.features
    assert names == fitted.model.spec.names
    for name in names:
        # A feature is "attribute" or "attribute=level" or "a*b=level": every part is checked.
        parts = {p for piece in name.split("*") for p in piece.split("=")}
        assert not parts & EXCLUDED_ATTRIBUTES, name
        assert not any(s in name for s in SENSITIVE_COLUMNS), name
    for attribute in ("age", "gender", "birth_year", "foreign_born", "disability", "income_support",
                      "youth", "gender_norm_breaker", "far_from_labour_market", "priority_group",
                      "gender_norm", "home_district"):
        assert attribute in EXCLUDED_ATTRIBUTES
        assert not any(attribute == n.split("=")[0] for n in names)


def test_features_do_not_move_with_a_sensitive_attribute(fitted: Fitted) -> None:
    """Changing a person's gender, age, birth country or disability changes none of their features."""
    f = fitted
    changed = f.region.candidates.with_columns(
        gender=pl.when(pl.col("gender") == "F").then(pl.lit("M")).otherwise(pl.lit("F")),
        birth_year=pl.col("birth_year") - 20, foreign_born=~pl.col("foreign_born"),
        disability=~pl.col("disability"), income_support=pl.lit("none"),
    )
    other = Region(**{**{n: f.region.table(n) for n in ("districts", "occupations", "suppliers", "procurements",
                                                         "places", "proposals", "placements")},
                      "candidates": changed, "manifest": f.region.manifest})
    pool2, places2 = build_pool(other, f.policy)
    cand, place = _pairs(f)
    a = outcome_features(f.pool, f.places, cand, place, f.policy, f.model.spec)
    b = outcome_features(pool2, places2, cand, place, f.policy, f.model.spec)
    assert np.array_equal(a, b)


# --- calibration error --------------------------------------------------------------------


def _ece_by_hand(y: np.ndarray, p: np.ndarray, bins: int) -> float:
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = [(yi, pi) for yi, pi in zip(y, p, strict=True) if (lo < pi <= hi) or (b == 0 and pi == 0)]
        if inside:
            total += len(inside) / len(y) * abs(np.mean([i[0] for i in inside]) - np.mean([i[1] for i in inside]))
    return total


@pytest.mark.parametrize("bins", [5, 10, 15])
def test_calibration_error_equals_independent_computations(bins: int) -> None:
    rng = np.random.default_rng(bins)
    p = rng.uniform(0, 1, 700)
    y = (rng.uniform(0, 1, 700) < p ** 1.3).astype(int)
    ours = expected_calibration_error(y, p, num_bins=bins)
    assert ours == pytest.approx(_ece_by_hand(y, p, bins), abs=1e-12)
    # scikit-learn's reliability curve, weighted by the bins' counts (its own binning).
    prob_true, prob_pred = calibration_curve(y, p, n_bins=bins, strategy="uniform")
    counts = np.bincount(np.searchsorted(np.linspace(0, 1, bins + 1)[1:-1], p), minlength=bins)
    counts = counts[counts > 0]
    assert ours == pytest.approx(float(np.sum(counts / len(p) * np.abs(prob_true - prob_pred))), abs=1e-12)


def test_calibration_error_of_the_stored_figures_is_recomputable(fitted: Fitted) -> None:
    y, p, groups = fitted.data["y"], fitted.data["p"], fitted.data["groups"]
    rows = {r.group: r for r in fitted.model.figures.rows}
    assert rows[ALL_OUTCOMES].calibration_error == pytest.approx(_ece_by_hand(y, p, 10), abs=1e-9)
    assert rows[ALL_OUTCOMES].brier == pytest.approx(brier_score_loss(y, p))
    assert rows[ALL_OUTCOMES].auc == pytest.approx(roc_auc_score(y, p))
    assert set(rows) == {ALL_OUTCOMES, *(g.value for g in fitted.policy.groups.enabled)}
    for name, mask in groups.items():
        assert rows[name].outcomes == int(mask.sum())
        assert rows[name].in_work_or_studies == int(y[mask].sum())
        assert rows[name].calibration_error == pytest.approx(_ece_by_hand(y[mask], p[mask], 10), abs=1e-9)
        assert rows[name].brier == pytest.approx(brier_score_loss(y[mask], p[mask]))


def test_a_group_with_one_kind_of_outcome_has_no_auc() -> None:
    ev = evaluate_predictions([1, 1, 0, 1], [0.9, 0.8, 0.2, 0.6], {"g": [True, True, False, False]})
    assert ev.group("g").auc is None and ev.group("g").outcomes == 2
    assert ev.overall.auc == 1.0


# --- time split ---------------------------------------------------------------------------


def test_time_split_trains_on_the_earlier_and_never_splits_a_day(fitted: Fitted) -> None:
    split = time_split(fitted.outcomes, OutcomeModelParams())
    days = fitted.outcomes["started_on"]
    parts = [days.gather(split.train), days.gather(split.calibration), days.gather(split.evaluation)]
    assert sum(len(x) for x in parts) == fitted.outcomes.height
    assert parts[0].max() < parts[1].min() and parts[1].max() < parts[2].min()  # type: ignore[operator]
    assert fitted.model.train.started_to == parts[0].max()
    assert fitted.model.evaluation.outcomes == len(parts[2])
    assert 0.15 < len(parts[2]) / fitted.outcomes.height < 0.25


def test_bad_parameters_and_too_few_outcomes_are_refused_with_every_reason(fitted: Fitted) -> None:
    with pytest.raises(ScoringError, match=r"calibration_share.*c must be positive"):
        fit_outcome_model(fitted.pool, fitted.places, fitted.outcomes, fitted.policy, region="x",
                          params=OutcomeModelParams(calibration_share=0.0, c=-1))
    with pytest.raises(ScoringError, match="too few outcomes"):
        fit_outcome_model(fitted.pool, fitted.places, fitted.outcomes.head(20), fitted.policy, region="x")


# --- the model recovers the truth's effects -----------------------------------------------


def test_the_model_recovers_the_simulated_effects_direction(fitted: Fitted) -> None:
    f = fitted
    cand, place = _pairs(f)
    x = outcome_features(f.pool, f.places, cand, place, f.policy, f.model.spec)
    col = {n: i for i, n in enumerate(f.model.features)}
    base = _predict(f, x).mean()

    # Readiness: one work-ladder step higher for everyone raises the predicted chance.
    up = x.copy()
    up[:, col["work_ladder_step"]] += 1
    assert _predict(f, up).mean() > base

    # Occupation × experience: full against no competence, in the trades (7) and in elementary work (9).
    def competence_effect(group: str) -> float:
        rows = np.flatnonzero(x[:, col[f"occupation_group={group}"]] == 1)
        hi, lo = x[rows].copy(), x[rows].copy()
        for m, v in ((hi, 1.0), (lo, 0.0)):
            m[:, col["competence"]] = v
            m[:, col[f"competence*occupation_group={group}"]] = v
        return float((_predict(f, hi) - _predict(f, lo)).mean())

    assert competence_effect("7") > competence_effect("9")

    # District labour market: every pair moved to the weakest and the strongest district's places.
    rates = {d.district_id: d.jobseeker_rate for d in REGIONS["ostersund"].districts}
    known = [d for d in f.model.spec.districts if d in rates]
    weak, strong = max(known, key=rates.__getitem__), min(known, key=rates.__getitem__)

    def in_district(d: str) -> np.ndarray:
        m = x.copy()
        for other in f.model.spec.districts:
            m[:, col[f"place_district={other}"]] = 1.0 if other == d else 0.0
        return m

    assert _predict(f, in_district(strong)).mean() > _predict(f, in_district(weak)).mean()

    # Supplier: the learnt effect of each supplier (its indicator on against off for every pair)
    # goes the way of its true effect.
    learnt, true = [], []
    supplier_cols = [n for n in f.model.features if n.startswith("supplier=")]
    supplier_truth = truth_terms(f.region, f.pool, f.places, np.zeros(f.places.size, dtype=np.int64),
                                 np.arange(f.places.size), seed=SEED, policy=f.policy).terms["supplier"]
    truth_of = {f.places.supplier_ids[s]: float(v) for s, v in zip(f.places.supplier, supplier_truth, strict=True)}
    off = x.copy()
    off[:, [col[n] for n in supplier_cols]] = 0.0
    p_off = _predict(f, off)
    for name in supplier_cols:
        on = off.copy()
        on[:, col[name]] = 1.0
        learnt.append(float((_predict(f, on) - p_off).mean()))
        true.append(truth_of[name.removeprefix("supplier=")])
    assert np.corrcoef(learnt, true)[0, 1] > 0.2

    # And the predictions rank the evaluation pairs the way the truth does.
    truth = true_outcome_probability(f.region, f.data["candidate_ids"], f.data["place_ids"], seed=SEED)
    assert np.corrcoef(truth, f.data["p"])[0, 1] > 0.3


def test_gradient_boosted_trees_fit_and_are_evaluated_the_same_way(fitted: Fitted) -> None:
    f = fitted
    model, data = fit_outcome_model(f.pool, f.places, f.outcomes, f.policy, region="ostersund",
                                    params=OutcomeModelParams(model="gbt", gbt_max_iter=60))
    assert model.kind == "gbt" and model.coefficients == {}
    assert model.version != f.model.version and model.features == f.model.features
    assert model.figures.overall.calibration_error == pytest.approx(
        expected_calibration_error(data["y"], data["p"]), abs=1e-12)
    truth = true_outcome_probability(f.region, data["candidate_ids"], data["place_ids"], seed=SEED)
    assert np.corrcoef(truth, data["p"])[0, 1] > 0.2


def test_the_version_names_the_data_and_parameters(fitted: Fitted) -> None:
    f = fitted
    again, _ = fit_outcome_model(f.pool, f.places, f.outcomes, f.policy, region="ostersund")
    assert again.version == f.model.version
    np.testing.assert_array_equal(
        again.predict(f.pool, f.places, *_pairs(f), f.policy), f.model.predict(f.pool, f.places, *_pairs(f), f.policy))
    fewer, _ = fit_outcome_model(f.pool, f.places, f.outcomes.head(f.outcomes.height - 1), f.policy, region="ostersund")
    assert fewer.version != f.model.version


# --- the policy's refusal ------------------------------------------------------------------


def _with_rules(policy: Policy, **rules: float | int) -> Policy:
    return policy.model_copy(update={"outcome_model": policy.outcome_model.model_copy(update=rules)})


def test_the_policy_refuses_a_group_calibrated_worse_than_it_allows(fitted: Fitted) -> None:
    f = fitted
    errors = {r.group: r.calibration_error for r in f.model.figures.rows}
    worst = max(errors, key=lambda g: errors[g] or 0.0)
    # A limit just below the worst group's error refuses exactly the groups above it.
    limit = float(errors[worst] or 0.0) - 1e-6
    strict = _with_rules(f.policy, max_group_calibration_error=limit, min_group_outcomes=1)
    with pytest.raises(OutcomeModelRefusedError) as refused:
        require_usable(f.model, strict)
    assert refused.value.version == f.model.version
    assert any(p.startswith(f"{worst}: calibration error") for p in refused.value.problems)
    assert len(refused.value.problems) == sum(1 for e in errors.values() if e is not None and e > limit)
    # A limit at the worst group's error allows it.
    lenient = _with_rules(f.policy, max_group_calibration_error=float(errors[worst] or 0.0), min_group_outcomes=1)
    assert require_usable(f.model, lenient) is f.model
    # A group with fewer evaluation outcomes than the policy needs cannot be judged: refused.
    smallest = min(r.outcomes or 0 for r in f.model.figures.rows)
    few = _with_rules(f.policy, max_group_calibration_error=1.0, min_group_outcomes=smallest + 1)
    assert any("fewer than" in p for p in usability_problems(f.model.figures, few))


def test_the_shipped_policies_have_the_rule_with_its_default() -> None:
    for policy_id in ("gothenburg", "ostersund-alt1", "ostersund-alt2", "sodertalje"):
        rules = load_policy(policy_id).outcome_model
        assert rules.max_group_calibration_error == 0.10
        assert rules.min_group_outcomes == 200


# --- researchers see aggregates only ------------------------------------------------------


def test_researchers_see_no_figures_of_a_small_group() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 60)
    p = rng.uniform(0.1, 0.9, 60)
    groups = {"big": np.arange(60) < 40, "tiny": np.arange(60) < 3}
    ev = evaluate_predictions(y, p, groups)
    shown = researcher_evaluation(ev, y, groups, min_cell_size=5)
    assert shown.group("tiny").suppressed and shown.group("tiny").calibration_error is None
    assert shown.group("tiny").outcomes is None
    assert not shown.group("big").suppressed and shown.group("big") == ev.group("big")
    assert shown.overall == ev.overall


def test_feature_spec_ignores_a_category_first_seen_later(fitted: Fitted) -> None:
    f = fitted
    spec = FeatureSpec(occupation_groups=("7",), occupations=(), districts=(), suppliers=())
    cand, place = _pairs(f)
    x = outcome_features(f.pool, f.places, cand[:50], place[:50], f.policy, spec)
    assert x.shape == (50, len(spec.names))
    is7 = np.array([str(f.places.ssyk_code[p]).startswith("7") for p in place[:50]])
    assert np.array_equal(x[:, spec.names.index("occupation_group=7")] == 1, is7)
    assert math.isfinite(float(x.sum()))


def test_the_label_is_the_persons_state_never_the_suppliers_hire(fitted: Fitted) -> None:
    """A table of hires alone (the supplier's decision) is no training data: the person's state is needed."""
    hires = fitted.outcomes.rename({"in_work_or_studies": "hired"})
    with pytest.raises(ScoringError, match=r"lack the column.*in_work_or_studies"):
        fit_outcome_model(fitted.pool, fitted.places, hires, fitted.policy, region="ostersund")


def test_the_docstring_examples_run() -> None:
    import doctest

    import scoring.outcome_model

    result = doctest.testmod(scoring.outcome_model)
    assert result.attempted >= 2 and result.failed == 0
