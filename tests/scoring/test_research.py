"""The fairness benchmark's library: method registry, evaluation rows, adding a method.

Hand-checked values use the tiny region (fixtures/tiny.py): twelve candidates, five places, the
eligibility written out in its docstring.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from fixtures import generate_region
from scoring.allocation import RoundParams, run_round
from scoring.metrics import exposure_by_group, ndkl
from scoring.policy import Policy, load_policy
from scoring.pool import build_pool
from scoring.research import (
    BUILTIN_METHODS,
    RESULT_SCHEMA,
    SKEW_EPSILON,
    Allocation,
    Instance,
    evaluate_allocation,
    evaluate_shortlists,
    get_method,
    list_methods,
    register_method,
    run_instance,
    sample_places,
    summarise,
    unregister_method,
)


def _instance(region: str, size: str, *, seed: int = 1, policy: Policy | None = None) -> Instance:
    data = generate_region(region, size, seed=seed)
    policy = policy or load_policy(data.manifest.policy)
    pool, places = build_pool(data, policy)
    return Instance(pool, places, policy, region=region, size=size, seed=seed)


def _min_cell(policy: Policy, size: int) -> Policy:
    return policy.model_copy(update={"follow_up": policy.follow_up.model_copy(update={"min_cell_size": size})})


@pytest.fixture(scope="module")
def tiny() -> Instance:
    # Minimum cell size 1, so that the tiny region's groups of 2-5 people are compared, not suppressed.
    return _instance("gothenburg", "tiny", policy=_min_cell(load_policy("gothenburg"), 1))


@pytest.fixture(scope="module")
def small() -> Instance:
    return _instance("gothenburg", "small")


def _alloc(inst: Instance, pairs: list[tuple[str, str]]) -> Allocation:
    return Allocation(candidate=[inst.pool.index[c] for c, _ in pairs], place=[inst.places.index[p] for _, p in pairs])


def _values(rows: list[dict], group: str | None = None) -> dict[str, float]:
    return {r["metric"]: r["value"] for r in rows if r["group"] == group}


# ---------------------------------------------------------------------------------------------
# The registry
# ---------------------------------------------------------------------------------------------


def test_builtin_methods_are_registered_in_order_with_their_kinds() -> None:
    names = [m.name for m in BUILTIN_METHODS]
    assert names == ["optimal", "optimal_no_floors", "optimal_no_keys", "optimal_unconstrained", "greedy",
                     "serial_dictatorship", "deferred_acceptance", "fair_topk", "plain_topk"]
    assert [m.name for m in list_methods("shortlist")][:2] == ["fair_topk", "plain_topk"]
    assert all(m.kind == "allocation" for m in BUILTIN_METHODS[:7])
    assert all(m.description for m in BUILTIN_METHODS)
    assert get_method("greedy") is BUILTIN_METHODS[4]


def test_registering_checks_kind_name_and_duplicates() -> None:
    def nobody(instance: Instance, *, seed: int) -> Allocation:
        return Allocation(candidate=[], place=[])

    with pytest.raises(ValueError, match="kind"):
        register_method("x", "ranking", nobody)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="commas"):
        register_method("a,b", "allocation", nobody)
    with pytest.raises(ValueError, match="already registered"):
        register_method("optimal", "allocation", nobody)
    with pytest.raises(KeyError, match="registered: optimal"):
        get_method("no-such-method")
    try:
        register_method("nobody", "allocation", nobody)
        replaced = register_method("nobody", "allocation", nobody, description="twice", replace=True)
        assert get_method("nobody") is replaced
    finally:
        unregister_method("nobody")
    assert "nobody" not in {m.name for m in list_methods()}


def test_a_registered_method_runs_beside_the_builtins(tiny: Instance) -> None:
    def first_come(instance: Instance, *, seed: int) -> Allocation:
        """Each place takes its eligible candidates in pool order: a deliberately naive rule."""
        taken: set[int] = set()
        cand, plc = [], []
        for p in range(instance.places.size):
            free = int(instance.places.free_slots[p])
            for c in np.flatnonzero(instance.considered(p)).tolist():
                if free and c not in taken:
                    taken.add(c)
                    cand.append(c)
                    plc.append(p)
                    free -= 1
        return Allocation(candidate=cand, place=plc)

    register_method("first_come", "allocation", first_come, description="naive")
    try:
        table = run_instance(tiny, ["optimal", "first_come"])
    finally:
        unregister_method("first_come")
    assert table.schema == pl.Schema(RESULT_SCHEMA)
    assert set(table["method"]) == {"optimal", "first_come"}
    mine = table.filter((pl.col("method") == "first_come") & pl.col("group").is_null())
    values = dict(zip(mine["metric"], mine["value"], strict=True))
    # P01 (1 free slot of 3): C02; P02: C03; P03 (3 free): C09, C10, C11; P05: C06 (C11 taken).
    assert values["num_placed"] == 6
    assert values["num_ineligible_pairs"] == 0


# ---------------------------------------------------------------------------------------------
# Built-in allocation methods agree with run_round
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "params"), [
    ("optimal", RoundParams(on_infeasible="penalise")),
    ("optimal_no_floors", RoundParams(use_floors=False, on_infeasible="penalise")),
    ("optimal_no_keys", RoundParams(use_keys=False, on_infeasible="penalise")),
    ("optimal_unconstrained", RoundParams(use_keys=False, use_floors=False, on_infeasible="penalise")),
    ("greedy", RoundParams(method="greedy", on_infeasible="penalise")),
    ("serial_dictatorship", RoundParams(method="serial_dictatorship", seed=1, on_infeasible="penalise")),
    ("deferred_acceptance", RoundParams(method="deferred_acceptance", on_infeasible="penalise")),
])
@pytest.mark.parametrize("size", ["tiny", "small"])
def test_builtin_allocation_equals_run_round(name: str, params: RoundParams, size: str,
                                             tiny: Instance, small: Instance) -> None:
    inst = tiny if size == "tiny" else small
    expected = run_round(inst.pool, inst.places, inst.policy, params)
    got = get_method(name).fn(inst, seed=1)
    assert len(np.asarray(got.candidate)) == expected.num_assigned
    rows = _values(evaluate_allocation(inst, got, method=name))
    # RoundResult.total_score is in the solver's integer units (SCORE_SCALE); the pairs' own
    # scores are what the benchmark recomputes.
    assert rows["total_score"] == pytest.approx(float(expected.assignments["score"].sum()), abs=1e-6)
    assert rows["num_ineligible_pairs"] == 0


# ---------------------------------------------------------------------------------------------
# Allocation rows, by hand on the tiny region
# ---------------------------------------------------------------------------------------------


def test_eligible_candidates_of_the_tiny_region(tiny: Instance) -> None:
    # fixtures/tiny.py: C05 and C07 have no eligible place; C01's only places are held back
    # (open proposal F03 at P01 makes P02, P03, P05 "proposed elsewhere").
    assert sorted(tiny.pool.ids[tiny.eligible()]) == ["C02", "C03", "C04", "C06", "C08", "C09", "C10", "C11",
                                                       "C12"]


def test_allocation_rows_by_hand(tiny: Instance) -> None:
    alloc = _alloc(tiny, [("C02", "P01"), ("C04", "P02"), ("C09", "P03"), ("C11", "P03")])
    rows = evaluate_allocation(tiny, alloc, method="hand", runtime_s=0.5)
    assert {(r["region"], r["size"], r["seed"], r["method"], r["kind"]) for r in rows} == {
        ("gothenburg", "tiny", 1, "hand", "allocation")}
    v = _values(rows)
    assert v["num_placed"] == 4
    assert v["placement_rate"] == pytest.approx(4 / 9)
    assert v["num_ineligible_pairs"] == 0
    assert v["runtime_s"] == 0.5
    # Home districts: angered 1, ostra-goteborg 2, orgryte-harlanda 1 of 4; keys .16, .14, .08.
    assert v["district_max_abs_deviation"] == pytest.approx(0.50 - 0.14)
    # ostra-goteborg's bounds for 4 placements: floor(.09*4)=0 .. ceil(.19*4)=1; it has 2.
    assert v["districts_outside_bounds"] == 1
    # Groups: youth C02 C04 C09 (3/4), foreign-born C04 C09 (2/4), disability C04 (1/4).
    g = {grp: _values(rows, grp) for grp in ("youth", "foreign_born", "disability")}
    assert [g[x]["group_share"] for x in g] == [0.75, 0.5, 0.25]
    assert g["youth"]["group_floor_gap"] == pytest.approx(0.55)
    assert v["floor_gap_min"] == pytest.approx(0.10)
    assert v["floors_unmet"] == 0
    # Steps placed 3, 1, 2, 4 (2 of 4 low); eligible 3 2 1 4 3 2 3 4 1 (4 of 9 low).
    assert v["low_step_share_placed"] == 0.5
    assert v["low_step_share_eligible"] == pytest.approx(4 / 9)
    assert v["anti_creaming_difference"] == pytest.approx(0.5 - 4 / 9)
    # Placement among the 9 eligible: youth 3/4 vs 1/5; foreign-born 2/5 vs 2/4; disability 1/2 vs 3/7.
    assert g["youth"]["placement_rate_group"] == 0.75
    assert g["youth"]["placement_rate_difference"] == pytest.approx(0.75 - 0.2)
    assert g["foreign_born"]["placement_rate_difference"] == pytest.approx(0.4 - 0.5)
    assert g["disability"]["placement_rate_difference"] == pytest.approx(0.5 - 3 / 7)
    assert v["demographic_parity_difference"] == pytest.approx(0.55)
    assert v["demographic_parity_ratio"] == pytest.approx(0.2 / 0.75)
    assert g["foreign_born"]["impact_ratio"] == pytest.approx(0.8)
    # 0.4 / 0.5 is exactly four-fifths: not "less than", so the rule passes.
    assert v["four_fifths_ratio"] == pytest.approx(0.8)
    assert v["passes_four_fifths"] == 1


def test_small_groups_are_not_compared_under_the_policys_cell_size() -> None:
    inst = _instance("gothenburg", "tiny")  # min_cell_size 5: youth (4 eligible) is too small
    alloc = _alloc(inst, [("C02", "P01"), ("C04", "P02"), ("C09", "P03"), ("C11", "P03")])
    rows = evaluate_allocation(inst, alloc, method="hand")
    assert _values(rows, "youth")["placement_rate_group"] == 0.75  # reported ...
    assert math.isnan(_values(rows, "youth")["placement_rate_difference"])  # ... never compared


def test_ineligible_pairs_are_counted_and_invalid_allocations_refused(tiny: Instance) -> None:
    # C05 is available too late for P03 (fixtures/tiny.py).
    rows = evaluate_allocation(tiny, _alloc(tiny, [("C05", "P03"), ("C02", "P01")]), method="x")
    assert _values(rows)["num_ineligible_pairs"] == 1
    with pytest.raises(ValueError, match="more than once"):
        evaluate_allocation(tiny, _alloc(tiny, [("C02", "P01"), ("C02", "P03")]), method="x")
    with pytest.raises(ValueError, match="over their free slots"):  # P02 has one slot
        evaluate_allocation(tiny, _alloc(tiny, [("C03", "P02"), ("C04", "P02")]), method="x")
    # P01 has three slots, two of them held (C07's hire, C01's open proposal): one is free.
    with pytest.raises(ValueError, match="over their free slots"):
        evaluate_allocation(tiny, _alloc(tiny, [("C02", "P01"), ("C11", "P01")]), method="x")
    with pytest.raises(ValueError, match="outside"):
        evaluate_allocation(tiny, Allocation(candidate=[99], place=[0]), method="x")


def test_an_empty_allocation_gives_defined_counts_and_nan_shares(tiny: Instance) -> None:
    v = _values(evaluate_allocation(tiny, Allocation(candidate=[], place=[]), method="none"))
    assert v["num_placed"] == 0 and v["total_score"] == 0.0
    assert math.isnan(v["mean_score"]) and math.isnan(v["district_max_abs_deviation"])


# ---------------------------------------------------------------------------------------------
# Shortlist rows, by hand
# ---------------------------------------------------------------------------------------------


def test_shortlist_rows_by_hand(tiny: Instance) -> None:
    p02 = tiny.places.index["P02"]
    # Considered for P02: C03 C04 C08 C11 C12 (C01 is held back: open proposal elsewhere).
    assert sorted(tiny.pool.ids[tiny.considered(p02)]) == ["C03", "C04", "C08", "C11", "C12"]
    ranked = [tiny.pool.index["C04"], tiny.pool.index["C11"]]
    rows = evaluate_shortlists(tiny, {p02: ranked}, method="hand", k=2)
    v = _values(rows)
    assert v["num_lists"] == 1 and v["list_length"] == 2
    # Eligible shares: youth C04 C12 (2/5), foreign-born C03 C04 C08 C12 (4/5), disability 2/5.
    # The list: C04 (all three groups), C11 (none): every share in the list is 1/2.
    youth, foreign = _values(rows, "youth"), _values(rows, "foreign_born")
    assert youth["share_in_list"] == 0.5
    eps = SKEW_EPSILON
    assert youth["skew_at_k"] == pytest.approx(math.log((0.5 + eps) / (0.4 + eps)))
    assert foreign["skew_at_k"] == pytest.approx(math.log((0.5 + eps) / (0.8 + eps)))
    assert v["min_skew_at_k"] == pytest.approx(foreign["skew_at_k"])
    assert v["max_skew_at_k"] == pytest.approx(youth["skew_at_k"])
    # NDKL of [member, non-member] against (0.4, 0.6): prefix 1 is all members, prefix 2 half.
    kl1 = math.log(1 / 0.4)
    kl2 = 0.5 * math.log(0.5 / 0.4) + 0.5 * math.log(0.5 / 0.6)
    w2 = 1 / math.log2(3)
    assert youth["ndkl"] == pytest.approx((kl1 + w2 * kl2) / (1 + w2))
    # Exposure: rank 1 gets 1, rank 2 gets 1/log2(3), the rest 0. Youth: (1 + 0)/2 vs (0 + 0 + w2)/3.
    assert youth["exposure_ratio"] == pytest.approx(0.5 / (w2 / 3))
    assert foreign["exposure_ratio"] == pytest.approx(0.25 / w2)
    assert v["exposure_ratio_min"] == pytest.approx(0.25 / w2)


def test_shortlist_measures_agree_with_the_metric_functions(small: Instance) -> None:
    """The benchmark's numpy exposure and NDKL equal scoring.metrics on a full ranking."""
    place = sample_places(small, 1)[0]
    ranked = np.asarray(get_method("plain_topk").fn(small, place, k=10, seed=1))
    rows = evaluate_shortlists(small, {place: ranked}, method="plain_topk", k=10)
    considered = np.flatnonzero(small.considered(place))
    rest = np.setdiff1d(considered, ranked)
    youth = small.pool.groups[next(g for g in small.pool.groups if g.value == "youth")]
    labels = youth[np.concatenate([ranked, rest])]
    by_group = {r.group: r for r in exposure_by_group(labels, k=len(ranked))}
    expected = by_group[True].mean_exposure / by_group[False].mean_exposure
    assert _values(rows, "youth")["exposure_ratio"] == pytest.approx(expected)
    target = float(youth[considered].mean())
    assert _values(rows, "youth")["ndkl"] == pytest.approx(
        ndkl(youth[ranked].tolist(), target_distribution={True: target, False: 1 - target}))


def test_fair_topk_meets_floors_plain_topk_ranks_by_score(small: Instance) -> None:
    places = sample_places(small, 5)
    assert len(places) == 5 and places == sample_places(small, 5)  # seeded
    fair = {p: get_method("fair_topk").fn(small, p, k=10, seed=1) for p in places}
    plain = {p: get_method("plain_topk").fn(small, p, k=10, seed=1) for p in places}
    fair_v = _values(evaluate_shortlists(small, fair, method="fair_topk", k=10))
    plain_v = _values(evaluate_shortlists(small, plain, method="plain_topk", k=10))
    # Plain top k is the best-scored list: the fair one cannot have a higher mean score.
    assert fair_v["mean_score"] <= plain_v["mean_score"] + 1e-9
    assert fair_v["num_lists"] == plain_v["num_lists"] == 5


# ---------------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------------


def test_run_instance_table_is_tidy_and_holds_aggregates_only(tiny: Instance) -> None:
    table = run_instance(tiny, k=3, num_lists=2)
    assert table.columns == list(RESULT_SCHEMA)
    assert set(table["kind"]) == {"allocation", "shortlist"}
    assert set(table["method"]) == {m.name for m in BUILTIN_METHODS}
    # One row per (method, metric, group).
    assert table.select("method", "metric", "group").is_duplicated().sum() == 0
    groups = set(table["group"].drop_nulls())
    assert groups == {"youth", "foreign_born", "disability"}
    ids = set(tiny.pool.ids.tolist()) | set(tiny.places.ids.tolist())
    assert not ids & set(table.select(pl.col(pl.String)).unpivot()["value"].drop_nulls())


def test_summarise_means_and_spread_over_seeds() -> None:
    rows = [{"region": "r", "size": "s", "seed": seed, "method": "m", "kind": "allocation", "metric": "x",
             "group": None, "value": value} for seed, value in ((1, 1.0), (2, 3.0), (3, float("nan")))]
    out = summarise(pl.DataFrame(rows, schema=RESULT_SCHEMA)).row(0, named=True)
    assert (out["mean"], out["min"], out["max"], out["num_seeds"]) == (2.0, 1.0, 3.0, 2)
