"""Planning before procuring: places, the yearly target and the socio-economic effect of a list of
*planned* procurements under a policy (issue 16, item 6).

The procurement agency's guidance asks for a socio-economic calculation *before* the decision to
put an employment requirement in a contract. :func:`plan` gives it, from the same rules and figures
the follow-up uses afterwards (``docs/follow-up.md``), with every assumption in words:

- *Qualifies*: the policy's rule (:func:`scoring.policy.procurement_qualifies`), with its reasons.
- *Places*: a hard requirement's ``required_places`` over the contract, spread over the calendar
  years pro rata to the contract's months in each; a dialogue requirement promises no place (0).
- *Yearly target* (seed 001): per year, 0.5 (``follow_up.yearly_places_per_company``) × the planned
  procurements with a requirement running that year (each counted as one company, as no supplier
  is known yet), against the places planned that year.
- *Effect*: each place is paid work for its months in the year; a person lives on social assistance
  with ``social_assistance_share``, on activity support with ``activity_support_share`` (else on
  other support, which gains nothing); gains are the policy's (Payoff, seed 001); net of
  ``follow_up.displacement_share``. An upper bound: every place filled all the time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from scoring.domain import contract_months
from scoring.policy import Policy, procurement_qualifies

__all__ = ["PlanAssumptions", "PlanResult", "PlannedProcurement", "plan"]


@dataclass(frozen=True)
class PlannedProcurement:
    """A procurement being planned: its terms and the requirement considered."""

    procurement_id: str
    title: str
    procurement_type: str
    contract_start: dt.date
    contract_end: dt.date
    value_sek: int
    executed_locally: bool
    staff_needed: int
    requirement_type: str = "hard"
    required_places: int = 0


@dataclass(frozen=True)
class PlanAssumptions:
    """Who the planned places would go to (shares of people by what they live on)."""

    social_assistance_share: float = 0.5
    activity_support_share: float = 0.3

    def problems(self) -> list[str]:
        out = []
        for name in ("social_assistance_share", "activity_support_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                out.append(f"{name} {value} is not a share between 0 and 1")
        if self.social_assistance_share + self.activity_support_share > 1.0 + 1e-9:
            out.append("social_assistance_share + activity_support_share is above 1")
        return out


@dataclass(frozen=True)
class PlanResult:
    """Per procurement, per year, and the assumptions in words."""

    procurements: list[dict[str, Any]]
    years: list[dict[str, Any]]
    total_places: int
    gross_sek: float
    net_sek: float
    assumptions: tuple[str, ...]


def _months_in_year(start: dt.date, end: dt.date, year: int) -> float:
    a, b = max(start, dt.date(year, 1, 1)), min(end, dt.date(year, 12, 31))
    return 0.0 if b < a else contract_months(a, b)


def plan(
    procurements: Sequence[PlannedProcurement],
    policy: Policy,
    assumptions: PlanAssumptions = PlanAssumptions(),
) -> PlanResult:
    """Estimate places, the yearly target and the socio-economic effect of planned procurements.

    Raises
    ------
    ValueError
        Every problem at once: a contract ending before it starts, a hard requirement without places,
        an unknown requirement type, a duplicate id, shares out of range.

    Examples
    --------
    >>> from scoring.policy import load_policy
    >>> one = PlannedProcurement("U-1", "Lokalvård", "service", dt.date(2027, 1, 1), dt.date(2027, 12, 31),
    ...                          2_000_000, True, 6, "hard", 2)
    >>> result = plan([one], load_policy("gothenburg"))
    >>> result.total_places, result.years[0]["target_places"], round(result.gross_sek)
    (2, 0.5, 200800)
    """
    problems = [f"assumptions: {p}" for p in assumptions.problems()]
    seen: set[str] = set()
    for i, p in enumerate(procurements, start=1):
        where = f"procurement {i} ({p.procurement_id})"
        if p.procurement_id in seen:
            problems.append(f"{where}: the id is listed twice")
        seen.add(p.procurement_id)
        if p.contract_end < p.contract_start:
            problems.append(
                f"{where}: contract_end {p.contract_end} is before contract_start {p.contract_start}"
            )
        if p.requirement_type not in ("hard", "dialogue", "none"):
            problems.append(f"{where}: requirement_type {p.requirement_type!r} is not hard, dialogue or none")
        if p.requirement_type == "hard" and p.required_places < 1:
            problems.append(f"{where}: a hard requirement needs required_places of at least 1")
        if p.required_places < 0:
            problems.append(f"{where}: required_places {p.required_places} is negative")
    if problems:
        raise ValueError("; ".join(problems))
    follow = policy.follow_up
    per_person_year = (
        assumptions.social_assistance_share * follow.social_assistance_to_work_sek
        + assumptions.activity_support_share * follow.activity_support_to_work_sek
    )
    rows: list[dict[str, Any]] = []
    gross_by_procurement: list[float] = []
    places_by_procurement: list[int] = []
    by_year: dict[int, dict[str, float]] = {}
    for p in procurements:
        verdict = procurement_qualifies(
            policy,
            procurement_type=p.procurement_type,
            contract_start=p.contract_start,
            contract_end=p.contract_end,
            staff_needed=p.staff_needed,
            value_sek=p.value_sek,
            executed_locally=p.executed_locally,
        )
        places = p.required_places if p.requirement_type == "hard" else 0
        months = contract_months(p.contract_start, p.contract_end)
        gross = 0.0
        for year in range(p.contract_start.year, p.contract_end.year + 1):
            in_year = _months_in_year(p.contract_start, p.contract_end, year)
            entry = by_year.setdefault(year, {"companies": 0, "places": 0.0, "place_months": 0.0})
            if p.requirement_type != "none":
                entry["companies"] += 1
            entry["places"] += places * in_year / months
            # A place is held for the contract: it is paid work for each of its months in the year.
            entry["place_months"] += places * in_year
            gross += places * in_year * per_person_year / 12
        gross_by_procurement.append(round(gross, 2))
        places_by_procurement.append(places)
        rows.append(
            {
                "procurement_id": p.procurement_id,
                "title": p.title,
                "qualifies": verdict.qualifies,
                "reasons": list(verdict.reasons),
                "requirement_type": p.requirement_type,
                "places": places,
                "contract_months": round(months, 2),
                "gross_sek": round(gross, 2),
                "net_sek": round(gross * (1 - follow.displacement_share), 2),
            }
        )
    years = []
    for year in sorted(by_year):
        entry = by_year[year]
        target = follow.yearly_places_per_company * entry["companies"]
        gross = entry["place_months"] * per_person_year / 12
        years.append(
            {
                "year": year,
                "companies_with_requirement": int(entry["companies"]),
                "places": round(entry["places"], 2),
                "target_places": target,
                "target_met": None if not entry["companies"] else entry["places"] >= target - 1e-9,
                "gross_sek": round(gross, 2),
                "net_sek": round(gross * (1 - follow.displacement_share), 2),
            }
        )
    gross_total = sum(gross_by_procurement)
    total_places = sum(places_by_procurement)
    words = (
        f"Policy {policy.id}: qualifying rule as in docs/policies.md; yearly target "
        f"{follow.yearly_places_per_company:g} place(s) per company with a requirement (seed 001); "
        "each planned procurement with a requirement counts as one company.",
        "A hard requirement's places are spread over the calendar years pro rata to the contract's months; "
        "a dialogue requirement promises no place.",
        "Every place is filled for the whole contract and is paid work (an upper bound: internships "
        "without a hire save nothing, empty months neither).",
        f"Of the people placed, {assumptions.social_assistance_share:.0%} live on social assistance "
        f"({follow.social_assistance_to_work_sek:,} SEK a year to the municipality when in work) and "
        f"{assumptions.activity_support_share:.0%} on activity support "
        f"({follow.activity_support_to_work_sek:,} SEK); the rest gain nothing in this estimate "
        "(seed 001, Payoff).",
        f"Net = gross × (1 − {follow.displacement_share:g}) for displacement (follow_up.displacement_share; "
        "Dahlberg & Forslund, docs/follow-up.md).",
    )
    return PlanResult(
        rows,
        years,
        total_places,
        round(gross_total, 2),
        round(gross_total * (1 - follow.displacement_share), 2),
        words,
    )
