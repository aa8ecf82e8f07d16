"""Small cells stay small: every differencing attack on what a researcher receives, tried and failed.

The region below is built to have small cells (issue 16): 63 people hired, of whom 24 permanent,
25 fixed term, 10 apprentices and 4 trainees (the issue's "trainee <5" that the total gave back), and
a district (Lundby) with 3 candidates beside the exact total of all candidates (the issue's
"exact total beside one suppressed district").

The attacker is written here, independently of :func:`scoring.metrics.protect`: it reads the
published tables as a researcher gets them (the report's researcher tables, its key figures, and
``GET /v1/aggregates/candidates``), turns every published number into an equation on the counts of
the *full* cross-classification of each population (no blocks), adds what it knows (counts are whole
numbers ≥ 0, a suppressed report cell is ≥ 1 because zeros are shown), and asks OR-Tools CP-SAT (an
integer solver, not the LP the library uses) for the least and greatest value of every suppressed
cell. A cell is recovered if that range is a single number; the library promises a range of at least
three whole numbers.
"""

from __future__ import annotations

import datetime as dt
import itertools
import types
from collections.abc import Callable

import numpy as np
import polars as pl
import pytest
from ortools.sat.python import cp_model

from scoring.disclosure import CONTRACT_TYPES, OUTCOMES, protect_candidates
from scoring.domain import PlacementType
from scoring.followup import build_report, report_tables
from scoring.metrics import CellSpec, Population, protect
from scoring.policy import Policy, load_policy
from scoring.region import Manifest, Region, region_from_frames
from service.routes.aggregates import candidate_aggregates

d = dt.date
YEAR = 2026
DISTRICTS = ["angered", "centrum", "lundby"]
GROUPS = ["youth", "foreign_born", "disability"]
Atom = tuple[object, ...]


def small_cell_region() -> Region:
    rng = np.random.default_rng(16)
    homes = ["angered"] * 70 + ["centrum"] * 57 + ["lundby"] * 3
    candidates = []
    for i, home in enumerate(homes):
        candidates.append({
            "candidate_id": f"c{i:03d}", "home_district": home, "lat": 57.75, "lon": 12.0,
            "work_ladder_step": int(rng.integers(1, 5)), "competences": [], "commute_limit_km": 20.0,
            "wished_placement_types": [], "wished_hours": 40, "support_needs": [], "available_from": d(2025, 9, 1),
            "registered_since": d(2025, 1, 10), "gender": "F",
            "birth_year": int(rng.choice([2004, 1990, 1975])), "foreign_born": bool(rng.random() < 0.4),
            "disability": bool(rng.random() < 0.15), "income_support": str(rng.choice(
                ["social_assistance", "activity_support", "other"], p=[0.6, 0.35, 0.05])), "placed": False})
    types_ = [t.value for t in PlacementType]
    places = [{"place_id": f"pl-{t}", "supplier_id": "s1", "procurement_id": "p1", "placement_type": t,
               "ssyk_code": "9111", "title": "Lokalvårdare", "competences_required": [], "competences_wanted": [],
               "district_id": "centrum", "lat": 57.70, "lon": 11.97, "slots": 500, "start_date": d(2026, 1, 1),
               "duration_months": 6.0, "lowest_ladder_step": 1, "supervisor_offered": True, "hours_per_week": 40}
              for t in types_]
    contracts = ["permanent"] * 24 + ["fixed_term"] * 25 + ["apprenticeship"] * 10 + ["trainee"] * 4
    proposals, placements = [], []
    placed_ids = [*[c["candidate_id"] for c in candidates if c["home_district"] != "lundby"][:80], "c127"]
    for j, cid in enumerate(placed_ids):
        start = d(2026, 1, 1) + dt.timedelta(days=int(rng.integers(0, 200)))
        ptype = types_[int(rng.choice(5, p=[0.4, 0.15, 0.05, 0.3, 0.1]))]
        hired = j < len(contracts)
        early = not hired and j % 4 == 0
        who = ["supplier", "candidate", "municipality"][j % 3] if early else None
        proposals.append({"proposal_id": f"pr{j:03d}", "candidate_id": cid, "place_id": f"pl-{ptype}",
                          "created_on": start - dt.timedelta(days=20), "status": "hired" if hired else "internship",
                          "decided_on": start if hired else None, "decline_reason": None})
        placements.append({"placement_id": f"m{j:03d}", "proposal_id": f"pr{j:03d}", "candidate_id": cid,
                           "place_id": f"pl-{ptype}", "started_on": start,
                           "ended_on": start + dt.timedelta(days=40) if early or (not hired and j % 3 == 0) else None,
                           "end_reason": "ended_early" if early else ("completed" if not hired and j % 3 == 0
                                                                      else "ongoing"),
                           "ended_by": who, "hired_on": start if hired else None,
                           "contract_type": contracts[j] if hired else None})
    frames = {
        "districts": pl.DataFrame({"district_id": DISTRICTS, "name": ["Angered", "Centrum", "Lundby"],
                                   "municipality": ["Göteborg"] * 3, "lat": [57.79, 57.70, 57.72],
                                   "lon": [12.05, 11.97, 11.93]}),
        "occupations": pl.DataFrame({"ssyk_code": ["9111"], "name_sv": ["Städare"], "name_en": ["Cleaners"],
                                     "share_women": [0.71]}),
        "suppliers": pl.DataFrame({"supplier_id": ["s1"], "name": ["Ett AB"], "org_number": ["556677-8899"]}),
        "procurements": pl.DataFrame([{
            "procurement_id": "p1", "title": "Lokalvård", "procurement_type": "service", "supplier_id": "s1",
            "contract_start": d(2026, 1, 1), "contract_end": d(2027, 12, 31), "value_sek": 5_000_000,
            "executed_locally": True, "staff_needed": 20, "requirement_type": "hard", "required_places": 10,
            "penalty_sek": 50_000}]),
        "places": pl.DataFrame(places), "candidates": pl.DataFrame(candidates),
        "proposals": pl.DataFrame(proposals), "placements": pl.DataFrame(placements),
    }
    return region_from_frames(Manifest(region="gothenburg", policy="gothenburg", reference_date=d(2026, 12, 31)),
                              frames)


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy("gothenburg")


@pytest.fixture(scope="module")
def region() -> Region:
    return small_cell_region()


@pytest.fixture(scope="module")
def published(region: Region, policy: Policy) -> dict[str, pl.DataFrame]:
    return report_tables(build_report(region, policy, year=YEAR), "researcher")


# -- the attacker ------------------------------------------------------------------------------------


class Attacker:
    """Equations on the counts of one population's full cross-classification, solved with CP-SAT."""

    def __init__(self, domains: dict[str, list[object]], *, suppressed_at_least: int) -> None:
        self.dims = list(domains)
        self.atoms = [dict(zip(self.dims, a, strict=True)) for a in itertools.product(*domains.values())]
        self.known: list[tuple[list[int], int]] = []
        self.hidden: dict[str, list[int]] = {}
        self.floor = suppressed_at_least

    def cell(self, name: str, where: Callable[[dict[str, object]], bool], value: float | None) -> None:
        members = [i for i, a in enumerate(self.atoms) if where(a)]
        if value is None:
            self.hidden[name] = members
        else:
            self.known.append((members, round(value)))

    def ranges(self) -> dict[str, tuple[int, int]]:
        out = {}
        for name, target in self.hidden.items():
            bounds = []
            for sense in (1, -1):
                model = cp_model.CpModel()
                x = [model.NewIntVar(0, 10_000, f"x{i}") for i in range(len(self.atoms))]
                for members, value in self.known:
                    model.Add(sum(x[i] for i in members) == value)
                for members in self.hidden.values():
                    model.Add(sum(x[i] for i in members) >= self.floor)
                objective = sum(x[i] for i in target)
                model.Minimize(objective) if sense == 1 else model.Maximize(objective)
                solver = cp_model.CpSolver()
                solver.parameters.num_workers = 1
                solver.parameters.max_time_in_seconds = 20
                assert solver.Solve(model) == cp_model.OPTIMAL, name
                bounds.append(int(solver.ObjectiveValue()))
            out[name] = (bounds[0], bounds[1])
        return out


def rows(table: pl.DataFrame, key: str) -> dict[object, dict[str, object]]:
    return {r[key]: r for r in table.iter_rows(named=True)}


def figures(published: dict[str, pl.DataFrame]) -> dict[str, float | None]:
    return dict(published["key_figures"].select("figure", "value").iter_rows())


def in_group(g: str) -> Callable[[dict[str, object]], bool]:
    if g == "none":
        return lambda a: not any(a[n] for n in GROUPS)
    return lambda a: bool(a[g])


def attack_placed(published: dict[str, pl.DataFrame]) -> tuple[Attacker, dict[str, tuple[int, int]]]:
    kf = figures(published)
    att = Attacker({"district": DISTRICTS, **{g: [False, True] for g in GROUPS},
                    "type": [t.value for t in PlacementType], "outcome": list(OUTCOMES), "low": [False, True]},
                   suppressed_at_least=1)
    total = kf["people_placed"]
    att.cell("total", lambda a: True, total)
    for dist, r in rows(published["by_district"], "district_id").items():
        att.cell(f"district {dist}", lambda a, dist=dist: a["district"] == dist, r["people"])
        if r["people"] is None:
            assert r["share_of_placed"] is None, dist  # a share would give the count back
    for g, r in rows(published["by_group"], "group").items():
        att.cell(f"group {g}", in_group(str(g)), r["people"])
    for r in published["group_district"].iter_rows(named=True):
        g, dist = r["group"], r["district_id"]
        att.cell(f"{g} × {dist}", lambda a, g=g, dist=dist: in_group(g)(a) and a["district"] == dist, r["people"])
    for t, r in rows(published["by_placement_type"], "placement_type").items():
        att.cell(f"type {t}", lambda a, t=t: a["type"] == t, r["people"])
        assert kf[f"people_into_{t}"] == r["people"]
    for o, r in rows(published["by_outcome"], "outcome").items():
        att.cell(f"outcome {o}", lambda a, o=o: a["outcome"] == o, r["people"])
        assert kf[f"people_outcome_{o}"] == r["people"]
    share = kf["placed_low_ladder_share"]
    att.cell("low steps", lambda a: bool(a["low"]), None if share is None or total is None else share * total)
    return att, att.ranges()


def test_no_suppressed_cell_of_the_placed_can_be_worked_out(published: dict[str, pl.DataFrame]) -> None:
    att, ranges = attack_placed(published)
    assert len(att.hidden) >= 5  # the data were built to have small cells
    for name, (low, high) in ranges.items():
        assert high - low >= 2, f"{name}: the attacker pins it to {low}..{high}"


def test_the_hired_trainees_are_not_the_total_minus_the_others(published: dict[str, pl.DataFrame]) -> None:
    kf = figures(published)
    by_contract = rows(published["by_contract_type"], "contract_type")
    assert by_contract["trainee"]["people"] is None  # 4 < 5
    assert kf["people_hired_trainee"] is None
    att = Attacker({"contract": list(CONTRACT_TYPES)}, suppressed_at_least=1)
    att.cell("total", lambda a: True, kf["people_hired"])
    for c, r in by_contract.items():
        att.cell(c, lambda a, c=c: a["contract"] == c, r["people"])
        assert kf[f"people_hired_{c}"] == r["people"]
    ranges = att.ranges()
    assert "trainee" in ranges
    for name, (low, high) in ranges.items():
        assert high - low >= 2, f"{name}: the attacker pins it to {low}..{high}"


def test_the_attacker_recovers_what_primary_suppression_alone_leaves() -> None:
    """The attacker is not toothless: with only the small cell hidden, the total gives it back."""
    att = Attacker({"contract": list(CONTRACT_TYPES)}, suppressed_at_least=1)
    att.cell("total", lambda a: True, 63)
    for c, n in zip(CONTRACT_TYPES, [24, 25, 10, None, 0], strict=True):
        att.cell(c, lambda a, c=c: a["contract"] == c, n)
    assert att.ranges() == {"trainee": (4, 4)}


def test_the_estimate_by_income_support_hides_its_sums_with_its_counts(published: dict[str, pl.DataFrame]) -> None:
    for r in published["estimate_by_support"].iter_rows(named=True):
        if r["people"] is None:
            assert r["months_in_work"] is None and r["gain_sek"] is None and r["net_gain_sek"] is None
    att = Attacker({"support": ["social_assistance", "activity_support", "other"]}, suppressed_at_least=1)
    for s, r in rows(published["estimate_by_support"], "income_support").items():
        att.cell(str(s), lambda a, s=s: a["support"] == s, r["people"])
    for name, (low, high) in att.ranges().items():
        assert high - low >= 2, name


def test_candidate_aggregates_and_pool_shares_together(region: Region, policy: Policy,
                                                       published: dict[str, pl.DataFrame]) -> None:
    # The route as a researcher calls it; its cells are the protected publication.
    snapshot = types.SimpleNamespace(region=region, policy=policy)
    body = candidate_aggregates(None, snapshot)  # type: ignore[arg-type]
    cells = {(c.district_id, c.group): c.count for c in body.cells}
    assert cells[("lundby", "all")] is None and body.total == 130  # the example: 3 beside the total
    att = Attacker({"district": DISTRICTS, **{g: [False, True] for g in GROUPS}, "low": [False, True]},
                   suppressed_at_least=0)  # zeros are hidden here too: a suppressed cell may be 0
    att.cell("total", lambda a: True, body.total)
    for (dist, g), count in cells.items():
        if g == "all":
            att.cell(f"all {dist}", lambda a, dist=dist: a["district"] == dist, count)
        else:
            att.cell(f"{g} {dist}", lambda a, dist=dist, g=g: a["district"] == dist and bool(a[g]), count)
    # The report prints pool shares beside them: with the total they are counts of the whole region.
    for g, r in rows(published["by_group"], "group").items():
        share = r["pool_share"]
        att.cell(f"pool {g}", in_group(str(g)), None if share is None else share * body.total)
    low = figures(published)["pool_low_ladder_share"]
    att.cell("pool low steps", lambda a: bool(a["low"]), None if low is None else low * body.total)
    ranges = att.ranges()
    assert "all lundby" in ranges
    for name, (lo, hi) in ranges.items():
        assert hi - lo >= 2, f"{name}: the attacker pins it to {lo}..{hi}"
    assert protect_candidates(region, policy).value("candidates_by_district", "lundby") is None


def test_protect_by_hand() -> None:
    """A 2 × 2 table with margins: one small cell needs three more hidden, and nothing can be pinned."""
    frame = pl.DataFrame({"row": ["a"] * 3 + ["a"] * 10 + ["b"] * 12 + ["b"] * 20,
                          "col": ["x"] * 3 + ["y"] * 10 + ["x"] * 12 + ["y"] * 20})
    population = Population(frame, {"row": ["a", "b"], "col": ["x", "y"]})
    cells = [CellSpec("t", (r, c), {"row": frozenset({r}), "col": frozenset({c})}) for r in "ab" for c in "xy"]
    cells += [CellSpec("rows", (r,), {"row": frozenset({r})}) for r in "ab"]
    cells += [CellSpec("cols", (c,), {"col": frozenset({c})}) for c in "xy"]
    cells.append(CellSpec("total", (), {}))
    out = protect(population, cells, 5)
    # (a, x) = 3 is primary; its row and column each need another hidden cell, and so does (b, y).
    assert out.primary == {("t", ("a", "x"))}
    assert out.suppressed == {("t", ("a", "x")), ("t", ("a", "y")), ("t", ("b", "x")), ("t", ("b", "y"))}
    assert [out.value("rows", (r,)) for r in "ab"] == [13, 32]
    # By hand: a,x = 3 + t with a,y = 10 - t, b,x = 12 - t, b,y = 20 + t, each ≥ 1: t in -2..9, a,x in 1..12.
