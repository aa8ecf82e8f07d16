"""What researchers may see of the follow-up: the published set, built so that no small cell can be
recovered from it (issue 16, item 7; ``docs/follow-up.md``, "Small cells").

Every count of people a researcher receives (the report's tables and key figures, its CSV, XLSX and
chart, and ``GET /v1/aggregates/candidates``) is a cell about one of four *populations*, each person
counted once per population with one value per dimension:

- ``placed``: people whose (first) placement started in the period, by home district, each priority
  group (at the start), the placement type, its outcome on the period's last day and whether on
  work-ladder steps 1-2. Published: the total; by district; by group and ``none``; group × district;
  by placement type; by outcome; on steps 1-2.
- ``hired``: people hired in the period, by contract type. Published: the total; by contract type.
- ``in_work``: people in paid work in the estimate, by income support. Published: by income support.
- ``candidates``: every candidate on the reference date, by home district, each priority group and
  steps 1-2. Published: the total; by district; group × district; by group; ``none``; on steps 1-2.

:func:`scoring.metrics.protect` suppresses each population's cells together, primary and
complementary, so that no linear combination of the published cells of a population pins a suppressed
one down. Populations are published as separate tables with no cross-tabulation between them, so no
equation links one population's cells to another's. Shares and sums derived from a suppressed count
(share of the placed, months and SEK in work, the pool share) are suppressed with it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from scoring.domain import LOW_LADDER_STEPS, PlacementEnd, PlacementType, priority_groups
from scoring.metrics import CellSpec, Population, ProtectedCells, protect
from scoring.policy import Policy
from scoring.region import Region

__all__ = [
    "CONTRACT_TYPES",
    "OUTCOMES",
    "Publication",
    "candidate_population",
    "hired_population",
    "placed_population",
    "protect_candidates",
    "protect_hired",
    "protect_in_work",
    "protect_placed",
]

#: A placed person's outcome on the period's last day (of their first placement in the period).
OUTCOMES = ("ongoing", "completed", "hired", "ended_early_by_supplier", "ended_early_by_candidate",
            "ended_early_by_municipality")
#: Contract types of a hire; ``unknown`` where none was recorded.
CONTRACT_TYPES = ("permanent", "fixed_term", "apprenticeship", "trainee", "unknown")
_ANY = frozenset({True})
_NONE = "none"


@dataclass(frozen=True)
class Publication:
    """One population's protected cells, with the names of its groups (for the tables)."""

    cells: ProtectedCells
    groups: tuple[str, ...]

    def value(self, table: str, *key: object) -> int | None:
        return self.cells.value(table, tuple(key))


def _group_cells(groups: tuple[str, ...], districts: list[str], tables: tuple[str, str]) -> list[CellSpec]:
    """By group (and ``none``) and group × district: the cells of both group tables."""
    by_group, group_district = tables
    cells = []
    for g in (*groups, _NONE):
        where = {n: frozenset({False}) for n in groups} if g == _NONE else {g: _ANY}
        cells.append(CellSpec(by_group, (g,), where))
        for d in districts:
            cells.append(CellSpec(group_district, (g, d), {**where, "district": frozenset({d})}))
    return cells


def placed_population(region: Region, policy: Policy, cohort: pl.DataFrame, groups: pl.DataFrame,
                      period_end: dt.date) -> Population:
    """One row per person placed in the period, from their first placement in it.

    ``cohort`` is the period's placements joined with their place (``placement_type``) and the
    candidate's ``home_district``; ``groups`` is :func:`scoring.followup.placement_groups` of it.
    """
    names = [g.value for g in policy.groups.enabled]
    first = cohort.join(groups, on="placement_id", how="left").sort("started_on", "placement_id").unique(
        "candidate_id", keep="first", maintain_order=True).join(
        region.candidates.select("candidate_id", "work_ladder_step"), on="candidate_id", how="left")
    ended = first["ended_on"].to_list()
    reasons = first["end_reason"].to_list()
    by = first["ended_by"].to_list()
    outcome = []
    for end, reason, who in zip(ended, reasons, by, strict=True):
        if end is None or end > period_end or reason == PlacementEnd.ONGOING.value:
            outcome.append("ongoing")
        elif reason == PlacementEnd.ENDED_EARLY.value:
            outcome.append(f"ended_early_by_{who or 'municipality'}")
        else:
            outcome.append(reason)
    frame = pl.DataFrame({
        "district": first["home_district"],
        **{n: first[n].fill_null(False) for n in names},
        "type": first["placement_type"],
        "outcome": pl.Series(outcome, dtype=pl.String),
        "low_step": first["work_ladder_step"].is_in(list(LOW_LADDER_STEPS)),
    })
    domains: dict[str, list[object]] = {"district": region.districts["district_id"].to_list()}
    domains.update({n: [False, True] for n in names})
    domains["type"] = [t.value for t in PlacementType]
    domains["outcome"] = list(OUTCOMES)
    domains["low_step"] = [False, True]
    # Only district and groups are crossed (group × district); the rest are margins of their own.
    return Population(frame, domains, blocks=[["district", *names], ["type"], ["outcome"], ["low_step"]])


def protect_placed(population: Population, groups: tuple[str, ...], min_cell_size: int) -> Publication:
    districts = [str(d) for d in population.domains["district"]]
    cells = [CellSpec("placed_total", (), {})]
    cells += [CellSpec("by_district", (d,), {"district": frozenset({d})}) for d in districts]
    cells += _group_cells(groups, districts, ("by_group", "group_district"))
    cells += [CellSpec("by_placement_type", (str(t),), {"type": frozenset({t})})
              for t in population.domains["type"]]
    cells += [CellSpec("by_outcome", (str(o),), {"outcome": frozenset({o})}) for o in OUTCOMES]
    cells.append(CellSpec("low_step", (), {"low_step": _ANY}))
    return Publication(protect(population, cells, min_cell_size), groups)


def hired_population(placements: pl.DataFrame, start: dt.date, end: dt.date) -> Population:
    """One row per person hired in the period (their first hire in it), by contract type."""
    hired = placements.filter(pl.col("hired_on").is_between(start, end)).sort(
        "hired_on", "placement_id").unique("candidate_id", keep="first", maintain_order=True)
    contract = hired["contract_type"].fill_null("unknown").to_list()
    contract = [c if c in CONTRACT_TYPES else "unknown" for c in contract]
    return Population(pl.DataFrame({"contract": pl.Series(contract, dtype=pl.String)}),
                      {"contract": list(CONTRACT_TYPES)})


def protect_hired(population: Population, min_cell_size: int) -> Publication:
    cells = [CellSpec("hired_total", (), {})]
    cells += [CellSpec("by_contract_type", (c,), {"contract": frozenset({c})}) for c in CONTRACT_TYPES]
    return Publication(protect(population, cells, min_cell_size), ())


def protect_in_work(per_person: pl.DataFrame, supports: list[str], min_cell_size: int) -> Publication:
    """People in paid work in the estimate, by income support (no total is published beside them)."""
    population = Population(per_person.select(pl.col("income_support").alias("support")),
                            {"support": supports})
    cells = [CellSpec("by_support", (s,), {"support": frozenset({s})}) for s in supports]
    return Publication(protect(population, cells, min_cell_size), ())


def candidate_population(region: Region, policy: Policy) -> tuple[Population, tuple[str, ...]]:
    """Every candidate on the region's reference date: home district, priority groups, low step."""
    cands = region.candidates
    ref = region.manifest.reference_date
    age = ref.year - cands["birth_year"].to_numpy().astype(np.int64)
    masks = priority_groups(age=age, foreign_born=cands["foreign_born"].to_numpy(),
                            disability=cands["disability"].to_numpy(),
                            registered_since=cands["registered_since"].to_numpy(), on=ref, policy=policy)
    names = tuple(g.value for g in masks)
    frame = pl.DataFrame({"district": cands["home_district"], **{n: masks[g] for n, g in zip(names, masks,
                                                                                                  strict=True)},
                          "low_step": cands["work_ladder_step"].is_in(list(LOW_LADDER_STEPS))})
    domains: dict[str, list[object]] = {"district": region.districts["district_id"].to_list()}
    domains.update({n: [False, True] for n in names})
    domains["low_step"] = [False, True]
    return Population(frame, domains, blocks=[["district", *names], ["low_step"]]), names


def protect_candidates(region: Region, policy: Policy) -> Publication:
    """The candidate aggregates (``GET /v1/aggregates/candidates``) together with the pool shares the
    report prints beside them (per group, ``none``, on ladder steps 1-2)."""
    population, names = candidate_population(region, policy)
    districts = [str(d) for d in population.domains["district"]]
    cells = [CellSpec("candidates_total", (), {})]
    cells += [CellSpec("candidates_by_district", (d,), {"district": frozenset({d})}) for d in districts]
    cells += _group_cells(names, districts, ("candidates_by_group", "candidates_group_district"))
    cells.append(CellSpec("candidates_low_step", (), {"low_step": _ANY}))
    # Zeros hidden too: "no candidate in Centrum has a disability" says something about every one of them.
    return Publication(protect(population, cells, policy.follow_up.min_cell_size, hide_zeros=True), names)
