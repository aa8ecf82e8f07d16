"""Follow-up: what happened to each proposal, whether each requirement was met, the key figures and
the socio-economic estimate.

DOMAIN.md, "The process" and "Follow-up and effect": after each placement the recruiter reports
whether the requirement is met, partly met or not met; a supplier that ends an agreed placement early
is in breach where a hard requirement was set (seed 001); the key figures are those of seeds 000 and
004; the socio-economic figures are Payoff's (seed 001). Every definition below is written out in
``docs/follow-up.md``; the functions here are its executable form.

Entry points
------------
:func:`outcomes`
    One row per proposal with its placement (if any): what happened and when.
:func:`requirement_status`
    Per procurement: met, partly met, not met or not applicable, with the evidence and breach flags.
:func:`key_figures`
    The year's key figures and the tables by group, district, supplier and placement type.
:func:`socioeconomic_estimate`
    Per person and in total, with the assumptions in words.
:func:`build_report`
    All of the above for one year, and :func:`report_tables` for what each role may see.
:func:`report_tables`
    For the researcher, every count of people with primary and complementary suppression
    (:mod:`scoring.disclosure`).

All functions are pure: they read a :class:`~scoring.region.Region` and a
:class:`~scoring.policy.Policy` and return new frames; nothing is written or logged about people.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import polars as pl

from scoring.disclosure import (
    Publication,
    hired_population,
    placed_population,
    protect_candidates,
    protect_hired,
    protect_in_work,
    protect_placed,
)
from scoring.domain import (
    IncomeSupport,
    PlacementEnd,
    PlacementType,
    PriorityGroup,
    ProposalStatus,
    RequirementType,
    contract_months,
    is_gender_norm_breaker,
    priority_groups,
)
from scoring.exceptions import FollowUpPeriodError
from scoring.metrics import AntiCreaming, anti_creaming_share
from scoring.policy import Policy, procurement_qualifies
from scoring.region import Region

__all__ = [
    "DIALOGUE_SCHEMA",
    "MET",
    "NOT_APPLICABLE",
    "NOT_DUE",
    "NOT_MET",
    "NO_GROUP",
    "NO_RECORDS",
    "OWN_HIRE_CONFIRMED",
    "OWN_HIRE_REJECTED",
    "OWN_HIRE_REPORTED",
    "OWN_HIRE_SCHEMA",
    "PAID_PLACEMENT_TYPES",
    "PARTLY_MET",
    "ROLES",
    "SUPPLIER_FIGURES_SCHEMA",
    "SUPPRESSED_COLUMN",
    "Coverage",
    "Estimate",
    "FollowUpRecords",
    "FollowUpReport",
    "KeyFigures",
    "Role",
    "TimeToStart",
    "YearlyTarget",
    "add_months_to",
    "build_report",
    "checkpoints",
    "data_coverage",
    "displacement_watch",
    "key_figures",
    "outcomes",
    "placement_groups",
    "report_tables",
    "requirement_history",
    "requirement_status",
    "role_tables",
    "socioeconomic_estimate",
    "time_to_start",
    "yearly_target",
]

logger = logging.getLogger(__name__)

Role = Literal["coordinator", "orderer", "researcher"]
ROLES: tuple[Role, ...] = ("coordinator", "orderer", "researcher")

#: Requirement status values, in the words the orderer receives (DOMAIN.md, "The process").
MET, PARTLY_MET, NOT_MET, NOT_APPLICABLE = "met", "partly_met", "not_met", "not_applicable"
#: Before a requirement's first checkpoint (or while nothing is due pro rata): nothing is judged yet.
NOT_DUE = "not_due"

#: Proposal states that show the supplier answered (anything beyond ``open``).
ANSWERED_STATES = frozenset(s.value for s in ProposalStatus if s is not ProposalStatus.OPEN)

#: Placement types that are paid work from their first day; internships and other occupation become
#: work only when the person is hired (Payoff's gain is for a move *to work*, seed 001).
PAID_PLACEMENT_TYPES = frozenset(
    {PlacementType.EMPLOYMENT.value, PlacementType.APPRENTICESHIP.value, PlacementType.TRAINEE.value}
)

#: The label of the row for people in none of the policy's priority groups.
NO_GROUP = "none"


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def _year_bounds(year: int) -> tuple[dt.date, dt.date]:
    return dt.date(year, 1, 1), dt.date(year, 12, 31)


def _period(year: int, period_end: dt.date | None) -> tuple[dt.date, dt.date]:
    """1 January of ``year`` to ``period_end`` (default 31 December), never past the year."""
    start, end = _year_bounds(year)
    return start, end if period_end is None else min(end, period_end)


def _months(start: dt.date | None, end: dt.date | None) -> float:
    """Calendar months from ``start`` to ``end`` inclusive (0 when empty), as a procurer counts them."""
    if start is None or end is None or end < start:
        return 0.0
    return contract_months(start, end)


def _share(part: int | float, whole: int | float) -> float | None:
    return None if not whole else part / whole


def _finite(value: float) -> float | None:
    """A metric's NaN (nothing to divide by) as the report's empty value."""
    return None if math.isnan(value) else value


def _placements_with_places(region: Region) -> pl.DataFrame:
    """Placements joined with their place's procurement, supplier, type, duration and occupation."""
    places = region.places.select(
        "place_id", "supplier_id", "procurement_id", "placement_type", "ssyk_code", "duration_months",
        pl.col("district_id").alias("place_district"),
    )
    return region.placements.join(places, on="place_id", how="left")


def _started_between(frame: pl.DataFrame, start: dt.date, end: dt.date) -> pl.DataFrame:
    return frame.filter(pl.col("started_on").is_between(start, end))


def overlapping_procurements(region: Region, start: dt.date, end: dt.date) -> pl.DataFrame:
    """The procurements whose contract period overlaps ``[start, end]`` (the ones a period judges)."""
    return region.procurements.filter((pl.col("contract_start") <= end) & (pl.col("contract_end") >= start))


# ---------------------------------------------------------------------------------------------
# Outcomes
# ---------------------------------------------------------------------------------------------


def outcomes(region: Region, *, as_of: dt.date) -> pl.DataFrame:
    """What happened to each proposal and its placement, and when.

    Proposal statuses are the supplier's answers; placements are what the recruiter records (seed
    001: the recruiter follows the individual up and reports back).

    Parameters
    ----------
    region
        The region, with its ``proposals`` and ``placements``.
    as_of
        The day the follow-up is read: an ongoing placement is counted up to it.

    Returns
    -------
    pl.DataFrame
        One row per proposal, in ``proposal_id`` order: ``proposal_id, candidate_id, place_id,
        supplier_id, procurement_id, placement_type, created_on, status, decided_on, decline_reason,
        placement_id, started_on, ended_on, end_reason, ended_by, hired_on, contract_type,
        days_to_start, months_in_place``. The placement columns are null where no placement started.
        ``months_in_place`` counts calendar months from the start to the end (or ``as_of`` while
        ongoing), the end day included; 0 for a placement that starts after ``as_of``.
    """
    places = region.places.select("place_id", "supplier_id", "procurement_id", "placement_type")
    placements = region.placements.select(
        "proposal_id", "placement_id", "started_on", "ended_on", "end_reason", "ended_by", "hired_on",
        "contract_type",
    )
    frame = (
        region.proposals.join(places, on="place_id", how="left")
        .join(placements, on="proposal_id", how="left")
        .sort("proposal_id")
    )
    months = [
        _months(start, min(end, as_of) if end is not None else as_of)
        for start, end in zip(frame["started_on"].to_list(), frame["ended_on"].to_list(), strict=True)
    ]
    return frame.with_columns(
        days_to_start=(pl.col("started_on") - pl.col("created_on")).dt.total_days(),
        months_in_place=pl.Series(months, dtype=pl.Float64),
    ).select(
        "proposal_id", "candidate_id", "place_id", "supplier_id", "procurement_id", "placement_type",
        "created_on", "status", "decided_on", "decline_reason", "placement_id", "started_on", "ended_on",
        "end_reason", "ended_by", "hired_on", "contract_type", "days_to_start", "months_in_place",
    )


# ---------------------------------------------------------------------------------------------
# Records kept beside the region: dialogues and suppliers' own hires
# ---------------------------------------------------------------------------------------------

#: Columns of :attr:`FollowUpRecords.dialogues`: one row per dialogue meeting with a supplier.
DIALOGUE_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "dialogue_id": pl.String, "procurement_id": pl.String, "held_on": pl.Date,
    "participants": pl.List(pl.String), "agreed": pl.String,
}
#: Columns of :attr:`FollowUpRecords.own_hires`: hires a supplier recruited by itself and reported.
OWN_HIRE_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "own_hire_id": pl.String, "procurement_id": pl.String, "supplier_id": pl.String, "hired_on": pl.Date,
    "contract_type": pl.String, "status": pl.String, "candidate_id": pl.String,
}
#: Columns of :attr:`FollowUpRecords.supplier_figures`: what a supplier reports per year (optional).
SUPPLIER_FIGURES_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "supplier_id": pl.String, "year": pl.Int64, "new_hires": pl.Int64, "headcount": pl.Int64,
}
#: Own-hire states: reported by the supplier, then confirmed or rejected by the municipality.
OWN_HIRE_REPORTED, OWN_HIRE_CONFIRMED, OWN_HIRE_REJECTED = "reported", "confirmed", "rejected"


@dataclass(frozen=True, eq=False)
class FollowUpRecords:
    """What the people who do the work record beside the region's tables (issue 16).

    ``dialogues``: the dialogue log per procurement (:data:`DIALOGUE_SCHEMA`), the evidence of a
    dialogue requirement (dialogkrav). ``own_hires``: hires a supplier recruited by itself
    (:data:`OWN_HIRE_SCHEMA`); a ``confirmed`` one (the municipality checked the person against the
    target groups) counts toward a hard requirement and is marked as the supplier's own (DOMAIN.md).
    Empty by default: a region read from files has no such records.
    """

    dialogues: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=DIALOGUE_SCHEMA))
    own_hires: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=OWN_HIRE_SCHEMA))
    supplier_figures: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema=SUPPLIER_FIGURES_SCHEMA))
    """Per supplier and year: all its new hires and its headcount, as reported (displacement watch)."""

    def confirmed_own_hires(self) -> pl.DataFrame:
        return self.own_hires.filter(pl.col("status") == OWN_HIRE_CONFIRMED)


NO_RECORDS = FollowUpRecords()


# ---------------------------------------------------------------------------------------------
# What the data cover
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    """The days the data speak for: from the first recorded event to the data's last day.

    ``data_from`` is the earliest proposal, placement start, dialogue or own hire (None when nothing
    was ever recorded); ``data_through`` is the region's reference date, or the latest recorded event
    day when that is later (a live service records after its import).
    """

    data_from: dt.date | None
    data_through: dt.date

    def period(self, year: int, as_of: dt.date | None = None) -> tuple[dt.date, dt.date, bool]:
        """The part of ``year`` the data cover, read on ``as_of``: ``(start, end, partial)``.

        Raises
        ------
        FollowUpPeriodError
            The year has no data (before the first record, after the data's last day, or nothing
            recorded at all), or ``as_of`` lies after the data's last day or before the year.
        """
        first, last = _year_bounds(year)
        if self.data_from is None:
            raise FollowUpPeriodError("year", (
                f"no data to follow up in {year}: no proposal, placement, dialogue or own hire is "
                "recorded in the region"))
        if last < self.data_from or first > self.data_through:
            raise FollowUpPeriodError("year", (
                f"no data for {year}: the data cover {self.data_from.isoformat()} to "
                f"{self.data_through.isoformat()}"))
        if as_of is not None:
            if as_of < first:
                raise FollowUpPeriodError(
                    "as_of", f"as_of {as_of.isoformat()} is before the year {year} starts")
            if as_of > self.data_through:
                raise FollowUpPeriodError("as_of", (
                    f"as_of {as_of.isoformat()} is after the data's last day, "
                    f"{self.data_through.isoformat()}: the data cannot speak for it"))
        end = min(last, self.data_through, as_of or last)
        # Reading: only the end can be known to be missing; before the first record nothing happened.
        return first, end, end < last


def data_coverage(region: Region, records: FollowUpRecords = NO_RECORDS) -> Coverage:
    """The :class:`Coverage` of a region and its records."""
    starts: list[dt.date] = []
    ends: list[dt.date] = [region.manifest.reference_date]
    for frame, first, days in (
        (region.proposals, "created_on", ("created_on", "decided_on")),
        (region.placements, "started_on", ("started_on", "ended_on", "hired_on")),
        (records.dialogues, "held_on", ("held_on",)),
        (records.own_hires, "hired_on", ("hired_on",)),
    ):
        if frame.height:
            low = frame[first].min()
            if isinstance(low, dt.date):
                starts.append(low)
            for col in days:
                high = frame[col].max()
                if isinstance(high, dt.date):
                    ends.append(high)
    return Coverage(min(starts) if starts else None, max(ends))


# ---------------------------------------------------------------------------------------------
# Requirement status
# ---------------------------------------------------------------------------------------------


def checkpoints(contract_start: dt.date, contract_end: dt.date, every_months: int) -> list[dt.date]:
    """The days a requirement is judged: the last day of each ``every_months`` of the contract, and
    its last day (the final checkpoint). A yearly checkpoint within a month of the end is merged
    into the final one.

    Examples
    --------
    >>> checkpoints(dt.date(2026, 1, 1), dt.date(2027, 6, 30), 12)
    [datetime.date(2026, 12, 31), datetime.date(2027, 6, 30)]
    """
    days: list[dt.date] = []
    i = 1
    while True:
        day = add_months_to(contract_start, every_months * i) - dt.timedelta(days=1)
        if day >= contract_end or add_months_to(day, 1) > contract_end:
            break
        days.append(day)
        i += 1
    return [*days, contract_end]


def add_months_to(day: dt.date, months: int) -> dt.date:
    """``day`` moved by whole calendar months, clamped to the month's last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    last = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).day
    return dt.date(year, month, min(day.day, last))


@dataclass(frozen=True)
class _Judgement:
    checkpoint: dt.date | None
    months_run: float
    due: int
    delivered: int
    placements: int
    own_hires: int
    not_counted: list[str]
    status: str
    final: bool


def _delivered_by(placements: pl.DataFrame, own: pl.DataFrame, start: dt.date, day: dt.date,
                  minimum_months: float) -> tuple[int, int, list[str]]:
    """Placements started and confirmed own hires in ``[start, day]``, less those the supplier ended
    early before the agreed minimum. (One procurement's few rows: read in Python, not filtered.)"""
    mine = sorted((pm for pm in placements.iter_rows(named=True)
                   if pm["started_on"] is not None and start <= pm["started_on"] <= day),
                  key=lambda pm: (pm["started_on"], pm["placement_id"]))
    not_counted: list[str] = []
    for pm in mine:
        ended = pm["ended_on"]
        if (pm["end_reason"] == PlacementEnd.ENDED_EARLY.value and pm["ended_by"] == "supplier"
                and ended is not None and ended <= day):
            agreed = min(float(pm["duration_months"]), minimum_months)
            if _months(pm["started_on"], ended) < agreed:
                not_counted.append(pm["placement_id"])
    own_count = sum(1 for hired in own["hired_on"].to_list() if hired is not None and start <= hired <= day)
    return len(mine), own_count, not_counted


def _judge_hard(proc: Mapping[str, object], placements: pl.DataFrame, own: pl.DataFrame, day: dt.date,
                every: int, minimum_months: float) -> _Judgement:
    start, end = proc["contract_start"], proc["contract_end"]
    assert isinstance(start, dt.date) and isinstance(end, dt.date)
    required = int(proc["required_places"])  # type: ignore[call-overload]
    total_months = _months(start, end)
    reached = [c for c in checkpoints(start, end, every) if c <= day]
    started, own_count, not_counted = _delivered_by(placements, own, start, day, minimum_months)
    delivered = started + own_count - len(not_counted)
    run = _months(start, min(day, end))
    if not reached:
        return _Judgement(None, run, 0, delivered, started, own_count, not_counted, NOT_DUE, False)
    at = reached[-1]
    final = at == end
    # Pro rata: the whole places due by the checkpoint, ⌊N × months run / contract months⌋.
    due = required if final else math.floor(required * _months(start, at) / total_months + 1e-9)
    if due == 0 and not final:
        status = NOT_DUE
    elif delivered >= due:
        status = MET
    elif delivered > 0:
        status = PARTLY_MET
    else:
        status = NOT_MET
    return _Judgement(at, run, due, delivered, started, own_count, not_counted, status, final)


def _judge_dialogue(proc: Mapping[str, object], dialogues: pl.DataFrame, day: dt.date,
                    every: int) -> tuple[_Judgement, list[dt.date], int]:
    """Dialogue requirement: a recorded meeting in every contract year (checkpoint period) so far."""
    start, end = proc["contract_start"], proc["contract_end"]
    assert isinstance(start, dt.date) and isinstance(end, dt.date)
    held = sorted(d for d in dialogues["held_on"].to_list() if start <= d <= min(day, end))
    reached = [c for c in checkpoints(start, end, every) if c <= day]
    run = _months(start, min(day, end))
    if not reached:
        return _Judgement(None, run, 0, len(held), 0, 0, [], NOT_DUE, False), held, 0
    bounds = [start - dt.timedelta(days=1), *reached]
    years_with = sum(1 for a, b in itertools.pairwise(bounds) if any(a < h <= b for h in held))
    years = len(reached)
    status = MET if years_with == years else PARTLY_MET if years_with else NOT_MET
    return (_Judgement(reached[-1], run, years, years_with, 0, 0, [], status, reached[-1] == end), held,
            years_with)


def _split(frame: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """``frame``'s rows by ``procurement_id`` (in their order)."""
    if frame.is_empty():
        return {}
    return {str(key[0]): part for key, part in
            frame.partition_by("procurement_id", as_dict=True, maintain_order=True).items()}


def requirement_status(
    region: Region,
    policy: Policy,
    *,
    period_start: dt.date,
    period_end: dt.date,
    records: FollowUpRecords = NO_RECORDS,
) -> pl.DataFrame:
    """Whether each procurement's employment requirement is met, judged on the part that has run.

    Every procurement whose contract period overlaps ``[period_start, period_end]`` gets one row,
    judged on ``judged_on`` = the earlier of ``period_end`` and the contract's end. The rules are in
    ``docs/follow-up.md``, "Requirement status"; in short:

    - *Checkpoints*: the last day of every ``follow_up.checkpoint_months`` (12) of the contract, and
      its last day. Before the first one the status is ``not_due``: nothing is judged yet.
    - *Hard requirement of N places* (skarpt krav): *due* at a checkpoint is pro rata,
      ``⌊N × months run / contract months⌋`` (N at the end); *delivered* is the placements started
      on the procurement's places since the contract started, plus the confirmed own hires, less the
      placements the supplier ended early before the agreed minimum (the shorter of the place's
      duration and ``eligibility.min_duration_months``). ``met`` when delivered ≥ due, ``partly_met``
      when 0 < delivered < due, ``not_met`` when nothing was delivered; ``not_due`` when nothing is
      due yet.
    - *Dialogue requirement* (dialogkrav): judged on the dialogue log only: a meeting recorded in
      every contract year that has run is ``met``, in some ``partly_met``, in none ``not_met``.
    - *Possible breach*: under a hard requirement, a placement the supplier ended early
      (``ended_early`` by ``supplier``) before its agreed end (start + planned duration), with its
      end in the period. Nothing else is a breach.
    - ``possible_penalty_sek`` (shortfall × the penalty per place) is only given at the final
      checkpoint: a penalty is judged on the whole contract.

    Returns
    -------
    pl.DataFrame
        Columns ``procurement_id, title, supplier_id, supplier_name, requirement_type, qualifies,
        required_places, judged_on, checkpoint, months_run, contract_months, due, started_in_period,
        placements_to_date, own_hires, not_counted, delivered, shortfall, status, final,
        possible_breach, breach_placements, penalty_sek, possible_penalty_sek, evidence``, in
        ``procurement_id`` order.
    """
    if period_end < period_start:
        raise ValueError(f"the period ends ({period_end}) before it starts ({period_start})")
    minimum_months = policy.eligibility.min_duration_months
    every = policy.follow_up.checkpoint_months
    procs = overlapping_procurements(region, period_start, period_end).join(
        region.suppliers.select("supplier_id", pl.col("name").alias("supplier_name")), on="supplier_id",
        how="left",
    ).sort("procurement_id")
    placements = _placements_with_places(region)
    own_hires = records.confirmed_own_hires()
    # Each procurement's rows, split once (a filter per procurement cost ~1 s on 3,333 of them).
    by_proc = _split(placements)
    own_by_proc = _split(own_hires)
    dialogues_by_proc = _split(records.dialogues)
    rows: list[dict[str, object]] = []
    for proc in procs.iter_rows(named=True):
        pid = proc["procurement_id"]
        rtype = proc["requirement_type"]
        day = min(period_end, proc["contract_end"])
        verdict = procurement_qualifies(
            policy, procurement_type=proc["procurement_type"], contract_start=proc["contract_start"],
            contract_end=proc["contract_end"], staff_needed=proc["staff_needed"], value_sek=proc["value_sek"],
            executed_locally=proc["executed_locally"],
        )
        mine = by_proc.get(pid, placements.clear())
        started_in_period = sum(1 for started in mine["started_on"].to_list()
                                if started is not None and period_start <= started <= day)
        hard = rtype == RequirementType.HARD.value
        breach_ids: list[str] = []
        if hard:
            # Ended early by the supplier in the period, before the agreed end (start + planned months).
            breach_ids = sorted(
                pm["placement_id"] for pm in mine.iter_rows(named=True)
                if pm["end_reason"] == PlacementEnd.ENDED_EARLY.value and pm["ended_by"] == "supplier"
                and pm["ended_on"] is not None and period_start <= pm["ended_on"] <= day
                and pm["ended_on"] < add_months_to(pm["started_on"], math.ceil(float(pm["duration_months"])))
                - dt.timedelta(days=1))
        held: list[dt.date] = []
        if hard:
            j = _judge_hard(proc, mine, own_by_proc.get(pid, own_hires.clear()), day, every, minimum_months)
        elif rtype == RequirementType.DIALOGUE.value:
            j, held, _ = _judge_dialogue(
                proc, dialogues_by_proc.get(pid, records.dialogues.clear()), day, every)
        else:
            j = _Judgement(None, _months(proc["contract_start"], day), 0, 0, 0, 0, [], NOT_APPLICABLE, False)
        required = int(proc["required_places"]) if hard else 0
        shortfall = max(j.due - j.delivered, 0) if hard and j.status != NOT_DUE else 0
        penalty = int(proc["penalty_sek"]) if hard else 0
        rows.append({
            "procurement_id": pid,
            "title": proc["title"],
            "supplier_id": proc["supplier_id"],
            "supplier_name": proc["supplier_name"],
            "requirement_type": rtype,
            "qualifies": verdict.qualifies,
            "required_places": required,
            "judged_on": day,
            "checkpoint": j.checkpoint,
            "months_run": round(j.months_run, 2),
            "contract_months": round(_months(proc["contract_start"], proc["contract_end"]), 2),
            "due": j.due if hard else 0,
            "started_in_period": started_in_period,
            "placements_to_date": j.placements,
            "own_hires": j.own_hires,
            "not_counted": len(j.not_counted),
            "delivered": j.delivered if hard else 0,
            "shortfall": shortfall,
            "status": j.status,
            "final": j.final,
            "possible_breach": bool(breach_ids),
            "breach_placements": breach_ids,
            "penalty_sek": penalty,
            "possible_penalty_sek": shortfall * penalty if j.final else 0,
            "evidence": _evidence(rtype, j, proc, breach_ids, held, minimum_months, every),
        })
    schema: dict[str, pl.DataType | type[pl.DataType]] = {
        "procurement_id": pl.String, "title": pl.String, "supplier_id": pl.String, "supplier_name": pl.String,
        "requirement_type": pl.String, "qualifies": pl.Boolean, "required_places": pl.Int64,
        "judged_on": pl.Date, "checkpoint": pl.Date, "months_run": pl.Float64, "contract_months": pl.Float64,
        "due": pl.Int64, "started_in_period": pl.Int64, "placements_to_date": pl.Int64, "own_hires": pl.Int64,
        "not_counted": pl.Int64, "delivered": pl.Int64, "shortfall": pl.Int64,
        "status": pl.String, "final": pl.Boolean, "possible_breach": pl.Boolean,
        "breach_placements": pl.List(pl.String), "penalty_sek": pl.Int64, "possible_penalty_sek": pl.Int64,
        "evidence": pl.String,
    }
    return pl.DataFrame(rows, schema=schema)


def _evidence(rtype: str, j: _Judgement, proc: Mapping[str, object], breaches: Sequence[str],
              held: Sequence[dt.date], minimum_months: float, every: int) -> str:
    """The sentence an orderer reads: what was judged, on what, and what is still to come."""
    if rtype == RequirementType.NONE.value:
        return "No employment requirement in the contract."
    end = proc["contract_end"]
    assert isinstance(end, dt.date)
    tail = "" if j.final else f" The contract runs until {end.isoformat()}."
    if j.checkpoint is None:
        start = proc["contract_start"]
        assert isinstance(start, dt.date)
        first = checkpoints(start, end, every)[0]
        dialogue = rtype == RequirementType.DIALOGUE.value
        so_far = (f"{len(held)} dialogue meeting(s) recorded so far" if dialogue
                  else f"{j.delivered} place(s) delivered so far")
        return (f"Not due yet: {j.months_run:.1f} of the contract's months have run; the first checkpoint "
                f"is {first.isoformat()}; {so_far}.{tail}")
    at = f"at the {'final ' if j.final else ''}checkpoint {j.checkpoint.isoformat()}"
    if rtype == RequirementType.DIALOGUE.value:
        dates = ", ".join(h.isoformat() for h in held) or "none"
        return (f"Dialogue recorded in {j.delivered} of {j.due} contract year(s) {at} "
                f"(meetings on: {dates}).{tail}")
    if j.status == NOT_DUE:
        text = f"Nothing due yet {at}: {j.delivered} place(s) delivered so far"
    else:
        text = f"{j.delivered} of {j.due} place(s) due {at} delivered"
    parts = [f"{j.placements} placement(s) started since the contract began"]
    if j.own_hires:
        parts.append(f"{j.own_hires} confirmed own hire(s) of the supplier")
    if j.not_counted:
        parts.append(f"{len(j.not_counted)} not counted, ended early by the supplier before the agreed "
                     f"minimum of {minimum_months:g} months: {', '.join(j.not_counted)}")
    text += " (" + "; ".join(parts) + ")."
    if breaches:
        text += (f" Possible breach: the supplier ended {len(breaches)} agreed placement(s) early "
                 f"under a hard requirement: {', '.join(breaches)}.")
    return text + tail


def requirement_history(
    region: Region, policy: Policy, *, through: dt.date, records: FollowUpRecords = NO_RECORDS
) -> pl.DataFrame:
    """Each requirement's judgement at every checkpoint reached by ``through``, across the years.

    Returns
    -------
    pl.DataFrame
        ``procurement_id, requirement_type, checkpoint, final, due, delivered, status`` in
        ``procurement_id, checkpoint`` order; a procurement without a requirement has no rows, one
        whose first checkpoint is still to come neither.
    """
    every = policy.follow_up.checkpoint_months
    minimum = policy.eligibility.min_duration_months
    placements = _placements_with_places(region)
    own = records.confirmed_own_hires()
    by_proc, own_by_proc, dialogues_by_proc = _split(placements), _split(own), _split(records.dialogues)
    rows = []
    for proc in region.procurements.filter(pl.col("contract_start") <= through).sort(
            "procurement_id").iter_rows(named=True):
        pid, rtype = proc["procurement_id"], proc["requirement_type"]
        if rtype == RequirementType.NONE.value:
            continue
        for c in checkpoints(proc["contract_start"], proc["contract_end"], every):
            if c > through:
                break
            if rtype == RequirementType.HARD.value:
                j = _judge_hard(proc, by_proc.get(pid, placements.clear()), own_by_proc.get(pid, own.clear()),
                                c, every, minimum)
            else:
                j, _, _ = _judge_dialogue(proc, dialogues_by_proc.get(pid, records.dialogues.clear()), c,
                                          every)
            rows.append((pid, rtype, c, j.final, j.due, j.delivered, j.status))
    return pl.DataFrame(rows, orient="row", schema={
        "procurement_id": pl.String, "requirement_type": pl.String, "checkpoint": pl.Date,
        "final": pl.Boolean, "due": pl.Int64, "delivered": pl.Int64, "status": pl.String})


# ---------------------------------------------------------------------------------------------
# Key figures
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeToStart:
    """Days from a proposal to the start of its placement, for placements started in the year."""

    placements: int
    median_days: float | None
    mean_days: float | None


@dataclass(frozen=True)
class YearlyTarget:
    """Seed 001: places requisitioned per year at least half the number of companies with a requirement."""

    year: int
    companies_with_requirement: int
    places_per_company: float
    target_places: float
    places_requisitioned: int
    placements_started: int
    met: bool | None
    """None: not applicable, no company carries a requirement in the year."""
    verdict: str


@dataclass(frozen=True, eq=False)
class KeyFigures:
    """The year's key figures (DOMAIN.md, "Follow-up and effect"; seeds 000 and 004).

    The *cohort* is the placements that started in the year; their outcomes are read as recorded.
    People are distinct candidates; a person with two placements counts once per table row.
    """

    year: int
    procurements_active: int
    qualifying_procurements: int
    qualifying_with_requirement: int
    share_qualifying_with_requirement: float | None
    requirements_not_qualifying: int
    """Procurements carrying a requirement that the policy's qualifying rule would not have required."""
    proposals_made: int
    proposals_answered: int
    proposals_hired_without_placement: int
    """Proposals marked ``hired`` with no placement recorded: a gap in the follow-up, not counted."""
    placements_started: int
    people_placed: int
    people_by_placement_type: dict[str, int]
    people_hired: int
    """Distinct people hired in the year (``hired_on`` in the year), whatever year they started."""
    hired_by_contract_type: dict[str, int]
    completed: int
    ended_early: int
    ended_early_by: dict[str, int]
    ongoing_at_year_end: int
    time_to_start: TimeToStart
    yearly_target: YearlyTarget
    anti_creaming: AntiCreaming
    by_group: pl.DataFrame
    by_district: pl.DataFrame
    by_supplier: pl.DataFrame
    by_placement_type: pl.DataFrame

    def table(self) -> pl.DataFrame:
        """The named figures as one tidy table ``figure, value, unit, note``."""
        rows: list[tuple[str, float | None, str, str]] = [
            ("procurements_active", self.procurements_active, "procurements", "contract overlaps the year"),
            ("qualifying_procurements", self.qualifying_procurements, "procurements",
             "qualify under the policy's rule"),
            ("qualifying_with_requirement", self.qualifying_with_requirement, "procurements",
             "qualifying and carrying a requirement"),
            ("share_qualifying_with_requirement", self.share_qualifying_with_requirement, "share", ""),
            ("requirements_not_qualifying", self.requirements_not_qualifying, "procurements",
             "carry a requirement the rule would not ask for"),
            ("proposals_made", self.proposals_made, "proposals", "created in the year"),
            ("proposals_answered", self.proposals_answered, "proposals", "status beyond open"),
            ("proposals_hired_without_placement", self.proposals_hired_without_placement, "proposals",
             "follow-up gap: hired but no placement recorded"),
            ("placements_started", self.placements_started, "placements", "started in the year"),
            ("people_placed", self.people_placed, "people", "distinct people, placement started in the year"),
        ]
        for ptype, n in self.people_by_placement_type.items():
            rows.append((f"people_into_{ptype}", n, "people", "placement of this type started in the year"))
        rows.append(("people_hired", self.people_hired, "people", "hired in the year"))
        for ctype, n in self.hired_by_contract_type.items():
            rows.append((f"people_hired_{ctype}", n, "people", "hired in the year, by contract"))
        rows += [
            ("completed", self.completed, "placements", "of the year's cohort"),
            ("ended_early", self.ended_early, "placements", "of the year's cohort"),
        ]
        for who, n in self.ended_early_by.items():
            rows.append((f"ended_early_by_{who}", n, "placements", "of the year's cohort"))
        t, y, a = self.time_to_start, self.yearly_target, self.anti_creaming
        rows += [
            ("ongoing_at_year_end", self.ongoing_at_year_end, "placements",
             "of the year's cohort, at the period's end"),
            ("time_to_start_median", t.median_days, "days", "proposal to start"),
            ("time_to_start_mean", t.mean_days, "days", "proposal to start"),
            ("companies_with_requirement", y.companies_with_requirement, "companies",
             "contract overlaps the year"),
            ("yearly_target_places", y.target_places, "places",
             f"{y.places_per_company:g} per company with a requirement (seed 001)"),
            ("places_requisitioned", y.places_requisitioned, "places",
             "slots of places starting in the year"),
            ("yearly_target_met", None if y.met is None else float(y.met), "yes=1", y.verdict),
            ("placed_low_ladder_share", _finite(a.share_placed_low), "share",
             "placed on work-ladder steps 1-2"),
            ("pool_low_ladder_share", _finite(a.share_pool_low), "share",
             "candidates on work-ladder steps 1-2"),
            ("anti_creaming_ratio", _finite(a.ratio), "ratio",
             "placed share / pool share; below 1 suggests creaming"),
        ]
        return pl.DataFrame(
            {
                "figure": [r[0] for r in rows],
                "value": [None if r[1] is None else float(r[1]) for r in rows],
                "unit": [r[2] for r in rows],
                "note": [r[3] for r in rows],
            },
            schema={"figure": pl.String, "value": pl.Float64, "unit": pl.String, "note": pl.String},
        )


def placement_groups(region: Region, policy: Policy, placements: pl.DataFrame) -> pl.DataFrame:
    """The policy's priority groups of each placement's person, at the placement's start.

    Age and time registered are counted on ``started_on``; the gender-norm breaker group (where the
    policy enables it) is a property of the candidate–place pair, read from the place's occupation.

    Parameters
    ----------
    placements
        Rows with at least ``placement_id, candidate_id, place_id, started_on``.

    Returns
    -------
    pl.DataFrame
        ``placement_id`` and one Boolean column per enabled group (named by its value).
    """
    frame = placements.select("placement_id", "candidate_id", "place_id", "started_on").join(
        region.candidates.select("candidate_id", "birth_year", "foreign_born", "disability",
                                 "registered_since", "gender"),
        on="candidate_id", how="left",
    ).join(
        region.places.select("place_id", "ssyk_code").join(
            region.occupations.select("ssyk_code", "share_women"), on="ssyk_code", how="left"),
        on="place_id", how="left",
    ).with_columns(
        age=pl.col("started_on").dt.year().cast(pl.Int64) - pl.col("birth_year").cast(pl.Int64),
    )
    masks = priority_groups(
        age=frame["age"].to_numpy(), foreign_born=frame["foreign_born"].to_numpy(),
        disability=frame["disability"].to_numpy(), registered_since=frame["registered_since"].to_numpy(),
        on=frame["started_on"].to_numpy(), policy=policy,
    )
    columns = {g.value: pl.Series(g.value, m, dtype=pl.Boolean) for g, m in masks.items()}
    if PriorityGroup.GENDER_NORM_BREAKER in policy.groups.enabled:
        norm = is_gender_norm_breaker(frame["gender"].to_numpy(),
                                      frame["share_women"].fill_null(0.5).to_numpy(),
                                      threshold=policy.groups.gender_norm_threshold)
        columns[PriorityGroup.GENDER_NORM_BREAKER.value] = pl.Series(norm, dtype=pl.Boolean)
    ordered = [g.value for g in policy.groups.enabled]
    return frame.select("placement_id").with_columns(
        [columns[name].alias(name) for name in ordered]
    )


def _group_mask(name: str, names: Sequence[str]) -> pl.Expr:
    """Rows in group ``name``; the ``none`` row holds those in none of ``names``."""
    if name != NO_GROUP:
        return pl.col(name)
    if not names:
        return pl.lit(True)
    return ~pl.any_horizontal([pl.col(n) for n in names])


def _outcome_counts() -> list[pl.Expr]:
    """Per-row-group counts of the cohort: people, placements and how they stand."""
    return [
        pl.col("candidate_id").n_unique().cast(pl.Int64).alias("people"),
        pl.len().cast(pl.Int64).alias("placements"),
        (pl.col("end_reason") == PlacementEnd.ONGOING.value).sum().cast(pl.Int64).alias("ongoing"),
        (pl.col("end_reason") == PlacementEnd.COMPLETED.value).sum().cast(pl.Int64).alias("completed"),
        (pl.col("end_reason") == PlacementEnd.ENDED_EARLY.value).sum().cast(pl.Int64).alias("ended_early"),
        pl.col("hired_on").is_not_null().sum().cast(pl.Int64).alias("hired"),
    ]


_COUNT_SCHEMA: dict[str, type[pl.DataType]] = {
    "people": pl.Int64, "placements": pl.Int64, "ongoing": pl.Int64, "completed": pl.Int64,
    "ended_early": pl.Int64, "hired": pl.Int64,
}


def _with_share(table: pl.DataFrame, people_placed: int) -> pl.DataFrame:
    return table.with_columns(
        share_of_placed=(pl.col("people") / people_placed) if people_placed else pl.lit(None, pl.Float64)
    )


def _pool_groups(region: Region, policy: Policy) -> dict[str, float | None]:
    """Share of the candidate pool in each candidate-level group, on the data's reference date."""
    ref = region.manifest.reference_date
    cands = region.candidates.with_columns(
        age=pl.lit(ref.year, pl.Int64) - pl.col("birth_year").cast(pl.Int64),
    )
    masks = priority_groups(
        age=cands["age"].to_numpy(), foreign_born=cands["foreign_born"].to_numpy(),
        disability=cands["disability"].to_numpy(), registered_since=cands["registered_since"].to_numpy(),
        on=ref, policy=policy,
    )
    n = cands.height
    out: dict[str, float | None] = {g.value: _share(int(m.sum()), n) for g, m in masks.items()}
    if masks:
        anyg = np.zeros(n, dtype=bool)
        for m in masks.values():
            anyg |= m
        out[NO_GROUP] = _share(int((~anyg).sum()), n)
    return out


def _by_group(region: Region, policy: Policy, cohort: pl.DataFrame, people_placed: int) -> pl.DataFrame:
    groups = placement_groups(region, policy, cohort)
    names = [g.value for g in policy.groups.enabled]
    joined = cohort.join(groups, on="placement_id", how="left")
    pool = _pool_groups(region, policy)
    parts = []
    for name in [*names, NO_GROUP]:
        sub = joined.filter(_group_mask(name, names))
        counts = sub.select(_outcome_counts()) if sub.height else pl.DataFrame(
            {k: [0] for k in _COUNT_SCHEMA}, schema=_COUNT_SCHEMA)
        parts.append(counts.with_columns(group=pl.lit(name), pool_share=pl.lit(pool.get(name), pl.Float64)))
    table = pl.concat(parts, how="vertical_relaxed").select("group", *_COUNT_SCHEMA, "pool_share")
    return _with_share(table, people_placed).select("group", *_COUNT_SCHEMA, "share_of_placed", "pool_share")


def _grouped(cohort: pl.DataFrame, by: str, keys: pl.DataFrame, people_placed: int) -> pl.DataFrame:
    """Counts per ``by`` for every key in ``keys`` (a key with no placements gets zeros, not a gap)."""
    counts = cohort.group_by(by).agg(_outcome_counts()) if cohort.height else pl.DataFrame(
        schema={by: pl.String, **_COUNT_SCHEMA})
    table = keys.join(counts, on=by, how="left").with_columns(
        [pl.col(c).fill_null(0).cast(pl.Int64) for c in _COUNT_SCHEMA]
    ).sort(by)
    return _with_share(table, people_placed)


def time_to_start(region: Region, *, year: int, period_end: dt.date | None = None) -> TimeToStart:
    """Median and mean days from proposal to start, for placements that started in ``year``.

    Examples
    --------
    A proposal on 1 March whose placement starts on 31 March took 30 days.
    """
    start, end = _period(year, period_end)
    frame = _started_between(region.placements, start, end).join(
        region.proposals.select("proposal_id", "created_on"), on="proposal_id", how="left"
    )
    days = (frame["started_on"] - frame["created_on"]).dt.total_days().drop_nulls()
    if days.len() == 0:
        return TimeToStart(0, None, None)
    return TimeToStart(int(days.len()), float(days.median()), float(days.mean()))  # type: ignore[arg-type]


def yearly_target(
    region: Region, policy: Policy, *, year: int, period_end: dt.date | None = None
) -> YearlyTarget:
    """Seed 001's yearly target: places requisitioned ≥ half the companies carrying a requirement.

    *Companies with a requirement*: distinct suppliers of procurements with a requirement (dialogue or
    hard) whose contract overlaps the year. *Places requisitioned*: the slots of places, on
    procurements with a requirement, whose start date lies in the year. The placements started are
    reported beside them. The factor (0.5) is ``policy.follow_up.yearly_places_per_company``.

    For a year the data cover only in part (``period_end`` before 31 December) the target is pro rata,
    ``factor × companies × months covered / 12``, and only places starting by ``period_end`` count.
    With no company carrying a requirement the target is *not applicable* (``met`` is None).
    """
    start, end = _period(year, period_end)
    with_req = overlapping_procurements(region, start, end).filter(
        pl.col("requirement_type") != RequirementType.NONE.value
    )
    companies = with_req["supplier_id"].n_unique()
    req_ids = region.procurements.filter(pl.col("requirement_type") != RequirementType.NONE.value)[
        "procurement_id"].implode()
    places = region.places.filter(
        pl.col("procurement_id").is_in(req_ids) & pl.col("start_date").is_between(start, end)
    )
    requisitioned = int(places["slots"].sum())
    started = _started_between(region.placements, start, end).height
    per = policy.follow_up.yearly_places_per_company
    covered = _months(start, end)
    full = covered >= 12.0 - 1e-9
    target = per * companies * (1.0 if full else covered / 12.0)
    if companies == 0:
        return YearlyTarget(year, 0, per, 0.0, requisitioned, started, None,
                            f"not applicable: no company carries an employment requirement in {year}")
    met = requisitioned >= target - 1e-9
    scope = "" if full else f" × {covered:.2f}/12 months (pro rata, data through {end.isoformat()})"
    verdict = (f"{'met' if met else 'not met'}: {requisitioned} place(s) requisitioned in {year} "
               f"{'≥' if met else '<'} {per:g} × {companies} companies with a requirement{scope} "
               f"= {round(target, 2):g}")
    return YearlyTarget(year, companies, per, round(target, 2), requisitioned, started, met, verdict)


def _year_ladder_steps(region: Region, start: dt.date, end: dt.date) -> tuple[np.ndarray, np.ndarray]:
    """The work-ladder steps of the people placed in the period and of the whole pool, for
    :func:`scoring.metrics.anti_creaming_share`.

    The pool is every candidate in the region; the placed are distinct people whose placement
    started in the period, on their current step.
    """
    placed_ids = _started_between(region.placements, start, end)["candidate_id"].unique().implode()
    steps = region.candidates.select("candidate_id", "work_ladder_step")
    placed = steps.filter(pl.col("candidate_id").is_in(placed_ids))
    return placed["work_ladder_step"].to_numpy(), steps["work_ladder_step"].to_numpy()


def key_figures(
    region: Region, policy: Policy, *, year: int, period_end: dt.date | None = None
) -> KeyFigures:
    """The year's key figures and tables (DOMAIN.md, "Follow-up and effect").

    See ``docs/follow-up.md`` for each figure's definition. Priority groups overlap: a person counts
    in each of their groups, so the group table's rows do not add up to the total; the ``none`` row
    holds those in no group. ``period_end`` (default 31 December) cuts the year where the data end.
    """
    start, end = _period(year, period_end)
    placed_steps, pool_steps = _year_ladder_steps(region, start, end)
    procs = overlapping_procurements(region, start, end)
    qualifies = [
        procurement_qualifies(
            policy, procurement_type=r["procurement_type"], contract_start=r["contract_start"],
            contract_end=r["contract_end"], staff_needed=r["staff_needed"], value_sek=r["value_sek"],
            executed_locally=r["executed_locally"],
        ).qualifies
        for r in procs.iter_rows(named=True)
    ]
    procs = procs.with_columns(qualifies=pl.Series(qualifies, dtype=pl.Boolean),
                               has_req=pl.col("requirement_type") != RequirementType.NONE.value)
    n_qual = int(procs["qualifies"].sum())
    n_qual_req = int((procs["qualifies"] & procs["has_req"]).sum())

    proposals = region.proposals.filter(pl.col("created_on").is_between(start, end))
    answered = int(proposals["status"].is_in(list(ANSWERED_STATES)).sum())
    hired_without = int(
        region.proposals.filter(
            (pl.col("status") == ProposalStatus.HIRED.value)
            & ~pl.col("proposal_id").is_in(region.placements["proposal_id"].implode())
        ).height
    )

    placements = _placements_with_places(region)
    cohort = _started_between(placements, start, end).join(
        region.candidates.select("candidate_id", "home_district"), on="candidate_id", how="left"
    )
    people_placed = cohort["candidate_id"].n_unique()
    by_type_people = {
        t.value: cohort.filter(pl.col("placement_type") == t.value)["candidate_id"].n_unique()
        for t in PlacementType
    }
    hired_in_year = region.placements.filter(pl.col("hired_on").is_between(start, end))
    hired_by_contract = {
        ctype: hired_in_year.filter(pl.col("contract_type") == ctype)["candidate_id"].n_unique()
        for ctype in ("permanent", "fixed_term", "apprenticeship", "trainee")
    }
    early = cohort.filter(pl.col("end_reason") == PlacementEnd.ENDED_EARLY.value)
    early_by = {who: early.filter(pl.col("ended_by") == who).height
                for who in ("supplier", "candidate", "municipality")}
    ongoing = cohort.filter(pl.col("ended_on").is_null() | (pl.col("ended_on") > end)).height

    districts = region.districts.select(pl.col("district_id").alias("home_district"), pl.col("name"))
    keys = policy.distribution.keys
    by_district = _grouped(cohort, "home_district", districts, people_placed).with_columns(
        key_share=pl.col("home_district").replace_strict(keys, default=None, return_dtype=pl.Float64)
    ).rename({"home_district": "district_id"})

    suppliers = region.suppliers.select("supplier_id", "name")
    by_supplier = _grouped(cohort, "supplier_id", suppliers, people_placed)
    prop_sup = proposals.join(region.places.select("place_id", "supplier_id"), on="place_id", how="left")
    sup_props = prop_sup.group_by("supplier_id").agg(
        pl.len().cast(pl.Int64).alias("proposals"),
        pl.col("status").is_in(list(ANSWERED_STATES)).sum().cast(pl.Int64).alias("proposals_answered"),
    )
    sup_early = cohort.filter(
        (pl.col("end_reason") == PlacementEnd.ENDED_EARLY.value) & (pl.col("ended_by") == "supplier")
    ).group_by("supplier_id").agg(pl.len().cast(pl.Int64).alias("ended_early_by_supplier"))
    by_supplier = by_supplier.join(sup_props, on="supplier_id", how="left").join(
        sup_early, on="supplier_id", how="left"
    ).with_columns(
        [pl.col(c).fill_null(0) for c in ("proposals", "proposals_answered", "ended_early_by_supplier")]
    ).sort("supplier_id")

    types = pl.DataFrame({"placement_type": [t.value for t in PlacementType]})
    by_type = _grouped(cohort, "placement_type", types, people_placed)
    order = {t.value: i for i, t in enumerate(PlacementType)}
    by_type = by_type.sort(pl.col("placement_type").replace_strict(order, return_dtype=pl.Int64))

    return KeyFigures(
        year=year,
        procurements_active=procs.height,
        qualifying_procurements=n_qual,
        qualifying_with_requirement=n_qual_req,
        share_qualifying_with_requirement=_share(n_qual_req, n_qual),
        requirements_not_qualifying=int((~procs["qualifies"] & procs["has_req"]).sum()),
        proposals_made=proposals.height,
        proposals_answered=answered,
        proposals_hired_without_placement=hired_without,
        placements_started=cohort.height,
        people_placed=people_placed,
        people_by_placement_type=by_type_people,
        people_hired=hired_in_year["candidate_id"].n_unique(),
        hired_by_contract_type=hired_by_contract,
        completed=cohort.filter(pl.col("end_reason") == PlacementEnd.COMPLETED.value).height,
        ended_early=early.height,
        ended_early_by=early_by,
        ongoing_at_year_end=ongoing,
        time_to_start=time_to_start(region, year=year, period_end=end),
        yearly_target=yearly_target(region, policy, year=year, period_end=end),
        anti_creaming=anti_creaming_share(placed_steps, pool_ladder_step=pool_steps),
        by_group=_by_group(region, policy, cohort, people_placed),
        by_district=by_district,
        by_supplier=by_supplier,
        by_placement_type=by_type,
    )


# ---------------------------------------------------------------------------------------------
# Socio-economic estimate
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Estimate:
    """The socio-economic estimate for one year (seed 001, Payoff's evaluation)."""

    year: int
    per_person: pl.DataFrame
    """``candidate_id, income_support, months_in_work, yearly_gain_sek, gain_sek`` per person in work."""
    by_income_support: pl.DataFrame
    """``income_support, people, months_in_work, yearly_gain_sek, gain_sek, net_gain_sek``."""
    total_sek: float
    """The gross gain: before the displacement deduction."""
    people_in_work: int
    assumptions: tuple[str, ...]
    displacement_share: float = 0.0
    """The share of the gross gain deducted for displacement (policy ``follow_up.displacement_share``)."""

    @property
    def gross_sek(self) -> float:
        return self.total_sek

    @property
    def displacement_sek(self) -> float:
        return self.total_sek * self.displacement_share

    @property
    def net_sek(self) -> float:
        """The gross gain less displacement: the gain that would not have happened anyway."""
        return self.total_sek - self.displacement_sek


def _work_spells(region: Region, *, year: int, as_of: dt.date) -> pl.DataFrame:
    """Each placement's days in paid work within the year: ``candidate_id, work_from, work_to``."""
    start, end = _year_bounds(year)
    stop = min(end, as_of)
    frame = _placements_with_places(region)
    paid = pl.col("placement_type").is_in(list(PAID_PLACEMENT_TYPES))
    work_from = pl.when(paid).then(pl.min_horizontal("started_on", "hired_on")).otherwise(pl.col("hired_on"))
    # A hire is assumed to last to the end of the year: the follow-up does not see the job after it.
    work_to = pl.when(pl.col("hired_on").is_not_null() & (pl.col("end_reason") == PlacementEnd.HIRED.value)) \
        .then(pl.lit(stop)).otherwise(pl.col("ended_on").fill_null(pl.lit(stop)))
    return frame.select(
        "candidate_id",
        work_from.alias("work_from"),
        work_to.alias("work_to"),
    ).filter(pl.col("work_from").is_not_null()).with_columns(
        work_from=pl.max_horizontal("work_from", pl.lit(start)),
        work_to=pl.min_horizontal("work_to", pl.lit(stop)),
    ).filter(pl.col("work_from") <= pl.col("work_to"))


def _union_months(spells: list[tuple[dt.date, dt.date]]) -> float:
    """Calendar months covered by possibly overlapping day intervals (each counted once)."""
    merged: list[list[dt.date]] = []
    for a, b in sorted(spells):
        if merged and a <= merged[-1][1] + dt.timedelta(days=1):
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return sum(_months(a, b) for a, b in merged)


def socioeconomic_estimate(
    region: Region, policy: Policy, *, year: int, as_of: dt.date | None = None
) -> Estimate:
    """The municipality's estimated gain from people moving to work in ``year``.

    Per person: months in paid work within the year × the yearly gain for what they lived on / 12.
    The yearly gains are ``policy.follow_up``'s (defaults from seed 001, Payoff: 175,000 SEK a year
    from social assistance to work, 43,000 SEK from activity support, at 22,500 SEK a month); other
    income support gains nothing in this estimate.

    *Months in paid work*: from the start of an employment, apprenticeship or trainee placement, or
    from the day of hire for an internship or other occupation, until the placement ends; a placement
    that ended in a hire counts on to the end of the year (or ``as_of``); an ongoing one to the same
    day. Months are calendar months with the end day included (1 January-30 June is 6.0); a
    person's overlapping placements count once.

    Parameters
    ----------
    as_of
        Count work up to this day instead of the year's end (for a report read during the year).

    Examples
    --------
    One person on social assistance working 1 January-30 June: 6 × 175,000 / 12 = 87,500 SEK.
    """
    follow = policy.follow_up
    _, end = _year_bounds(year)
    stop = min(end, as_of) if as_of is not None else end
    gains = {
        IncomeSupport.SOCIAL_ASSISTANCE.value: follow.social_assistance_to_work_sek,
        IncomeSupport.ACTIVITY_SUPPORT.value: follow.activity_support_to_work_sek,
        IncomeSupport.OTHER.value: 0,
    }
    spells = _work_spells(region, year=year, as_of=stop)
    by_person: dict[str, list[tuple[dt.date, dt.date]]] = {}
    for cid, a, b in spells.iter_rows():
        by_person.setdefault(cid, []).append((a, b))
    support = dict(region.candidates.select("candidate_id", "income_support").iter_rows())
    rows = []
    for cid in sorted(by_person):
        months = _union_months(by_person[cid])
        kind = support.get(cid, IncomeSupport.OTHER.value)
        yearly = gains.get(kind, 0)
        rows.append((cid, kind, months, yearly, months * yearly / 12))
    per_person = pl.DataFrame(
        rows, orient="row",
        schema={"candidate_id": pl.String, "income_support": pl.String, "months_in_work": pl.Float64,
                "yearly_gain_sek": pl.Int64, "gain_sek": pl.Float64},
    )
    kinds = pl.DataFrame({"income_support": [k.value for k in IncomeSupport]})
    by_support = kinds.join(
        per_person.group_by("income_support").agg(
            pl.len().cast(pl.Int64).alias("people"), pl.col("months_in_work").sum(),
            pl.col("gain_sek").sum()),
        on="income_support", how="left",
    ).with_columns(
        people=pl.col("people").fill_null(0), months_in_work=pl.col("months_in_work").fill_null(0.0),
        gain_sek=pl.col("gain_sek").fill_null(0.0),
        yearly_gain_sek=pl.col("income_support").replace_strict(gains, return_dtype=pl.Int64),
    ).with_columns(
        net_gain_sek=pl.col("gain_sek") * (1.0 - follow.displacement_share),
    ).select("income_support", "people", "months_in_work", "yearly_gain_sek", "gain_sek", "net_gain_sek")
    total = float(per_person["gain_sek"].sum()) if per_person.height else 0.0
    assumptions = (
        f"A person moving from social assistance (försörjningsstöd) to work gains the municipality "
        f"{follow.social_assistance_to_work_sek:,} SEK a year "
        f"(policy follow_up.social_assistance_to_work_sek; default from seed 001, "
        "Payoff's evaluation, social assistance at the national norm).",
        f"A person moving from activity support (aktivitetsstöd) to the same work gains "
        f"{follow.activity_support_to_work_sek:,} SEK a year "
        "(follow_up.activity_support_to_work_sek; seed 001).",
        f"Both figures assume a wage of {follow.assumed_monthly_wage_sek:,} SEK a month; part-time work is "
        f"counted as whole months, so the estimate is an upper bound for part-time places.",
        "People on other support gain 0 in this estimate: the documents give no figure for them.",
        "The gain is pro rata: months in paid work in the year × the yearly gain / 12.",
        "Paid work starts at the start of an employment, apprenticeship or trainee placement, or at the "
        "hire after an internship or other occupation; an internship without a hire counts no work.",
        f"A hire is assumed to last to {stop.isoformat()}; an ongoing placement is counted to the same day.",
        "Income support is read as recorded today (candidates.income_support), not at the placement's start.",
        f"Displacement (undanträngning, seed 004): {follow.displacement_share:.0%} of the gross gain is "
        "deducted for jobs the placed take from others who would otherwise have been hired "
        "(follow_up.displacement_share; default 65 %, Dahlberg & Forslund's estimate of direct "
        "displacement from subsidised work in Swedish municipalities, see docs/follow-up.md). "
        f"Gross {total:,.0f} SEK, net {total * (1 - follow.displacement_share):,.0f} SEK.",
        "The cost of matching and support and effects on the state are not deducted.",
    )
    return Estimate(year, per_person, by_support, total, per_person.height, assumptions,
                    follow.displacement_share)


# ---------------------------------------------------------------------------------------------
# Small-cell suppression: scoring.disclosure (what is published) and scoring.metrics._suppression
# ---------------------------------------------------------------------------------------------

SUPPRESSED_COLUMN = "suppressed"


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class FollowUpReport:
    """Everything the follow-up reports for one year, before it is cut per role."""

    region: str
    policy_id: str
    year: int
    period_start: dt.date
    period_end: dt.date
    as_of: dt.date
    min_cell_size: int
    figures: KeyFigures
    requirements: pl.DataFrame
    estimate: Estimate
    outcomes: pl.DataFrame
    placements_by_group_district: pl.DataFrame
    """People placed in the year per (priority group, home district): the chart's data."""
    requirement_history: pl.DataFrame = field(default_factory=pl.DataFrame)
    """Every requirement's judgement at each checkpoint reached, across the contract's years."""
    data_from: dt.date | None = None
    data_through: dt.date | None = None
    partial: bool = False
    """The data cover only part of the year: every figure is for ``period_start``-``period_end``."""
    notes: tuple[str, ...] = field(default=())
    distribution_keys: Mapping[str, float] = field(default_factory=dict)
    """The policy's distribution key per district (drawn beside the placements by district)."""
    displacement_watch: pl.DataFrame = field(default_factory=pl.DataFrame)
    """Per supplier: requirement placements against its new hires and headcount."""
    research_inputs: Mapping[str, object] = field(default_factory=dict, repr=False)
    """The populations the researcher's cut is built from (:mod:`scoring.disclosure`)."""
    _research: dict[str, dict[str, pl.DataFrame]] = field(default_factory=dict, repr=False)

    def research_tables(self) -> dict[str, pl.DataFrame]:
        """The researcher's tables, suppressed primary and complementary (built once per report)."""
        if "tables" not in self._research:
            self._research["tables"] = _research_tables(self)
        return self._research["tables"]


def _group_district(
    region: Region, policy: Policy, year: int, period_end: dt.date | None = None
) -> pl.DataFrame:
    start, end = _period(year, period_end)
    cohort = _started_between(region.placements, start, end).join(
        region.candidates.select("candidate_id", "home_district"), on="candidate_id", how="left")
    groups = placement_groups(region, policy, cohort)
    names = [g.value for g in policy.groups.enabled]
    joined = cohort.join(groups, on="placement_id", how="left")
    parts = []
    for name in [*names, NO_GROUP]:
        sub = joined.filter(_group_mask(name, names)).group_by("home_district").agg(
            pl.col("candidate_id").n_unique().cast(pl.Int64).alias("people"))
        parts.append(region.districts.select(pl.col("district_id").alias("home_district")).join(
            sub, on="home_district", how="left").with_columns(group=pl.lit(name),
                                                               people=pl.col("people").fill_null(0)))
    return pl.concat(parts).select("group", pl.col("home_district").alias("district_id"), "people")


def build_report(
    region: Region,
    policy: Policy,
    *,
    year: int,
    as_of: dt.date | None = None,
    records: FollowUpRecords = NO_RECORDS,
) -> FollowUpReport:
    """The whole follow-up for ``year``: key figures, requirement status, estimate and outcomes.

    Only the part of the year the data cover is reported (:func:`data_coverage`): the period runs
    from 1 January to the earliest of 31 December, the data's last day and ``as_of``, and the report
    says when that is partial. Requirements are judged on that day (``requirement_status``).

    Raises
    ------
    FollowUpPeriodError
        A year without data, or ``as_of`` before the year or after the data's last day.
    """
    coverage = data_coverage(region, records)
    start, end, partial = coverage.period(year, as_of)
    estimate = socioeconomic_estimate(region, policy, year=year, as_of=end)
    cohort = _started_between(_placements_with_places(region), start, end).join(
        region.candidates.select("candidate_id", "home_district"), on="candidate_id", how="left")
    research_inputs = {
        "placed": placed_population(region, policy, cohort, placement_groups(region, policy, cohort), end),
        "hired": hired_population(region.placements, start, end),
        "groups": tuple(g.value for g in policy.groups.enabled),
        "candidates": protect_candidates(region, policy),
        "in_work": estimate.per_person,
    }
    notes: list[str] = []
    if partial:
        notes.append(
            f"Partial year: the data end on {coverage.data_through}"
            + (f" (read as of {as_of})" if as_of is not None and as_of < coverage.data_through else "")
            + f"; every figure is for {start.isoformat()} to {end.isoformat()} only.")
    return FollowUpReport(
        region=region.manifest.region,
        policy_id=policy.id,
        year=year,
        period_start=start,
        period_end=end,
        as_of=end,
        min_cell_size=policy.follow_up.min_cell_size,
        figures=key_figures(region, policy, year=year, period_end=end),
        requirements=requirement_status(region, policy, period_start=start, period_end=end, records=records),
        estimate=estimate,
        outcomes=outcomes(region, as_of=end),
        placements_by_group_district=_group_district(region, policy, year, end),
        requirement_history=requirement_history(region, policy, through=end, records=records),
        data_from=coverage.data_from,
        data_through=coverage.data_through,
        partial=partial,
        notes=tuple(notes),
        distribution_keys=dict(policy.distribution.keys),
        research_inputs=research_inputs,
        displacement_watch=displacement_watch(region, year=year, period_end=end, records=records),
    )


def report_tables(report: FollowUpReport, role: Role) -> dict[str, pl.DataFrame]:
    """The report's tables that ``role`` may see, by name (the CSV file and XLSX sheet names).

    - ``coordinator``: everything, including the outcome of each proposal and the estimate per person.
    - ``orderer``: the requirement status, key figures, the tables by supplier and placement type and the
      estimate by income support; nothing about single people.
    - ``researcher``: aggregates only (key figures, by district, group, group × district, placement
      type, outcome, contract type, the estimate by income support), every count of people protected by
      primary and complementary suppression together (:mod:`scoring.disclosure`); no ids of people or
      suppliers.
    """
    f, est = report.figures, report.estimate
    figures = f.table()
    assumptions = pl.DataFrame({"assumption": list(est.assumptions)})
    if role == "coordinator":
        return {
            "key_figures": figures,
            "requirements": report.requirements,
            "requirement_history": report.requirement_history,
            "displacement_watch": report.displacement_watch,
            "by_group": f.by_group,
            "by_district": f.by_district,
            "by_supplier": f.by_supplier,
            "by_placement_type": f.by_placement_type,
            "group_district": report.placements_by_group_district,
            "estimate_by_support": est.by_income_support,
            "estimate_per_person": est.per_person,
            "outcomes": report.outcomes,
            "assumptions": assumptions,
        }
    if role == "orderer":
        return {
            "key_figures": figures,
            "requirements": report.requirements,
            "requirement_history": report.requirement_history,
            "displacement_watch": report.displacement_watch,
            "by_supplier": f.by_supplier,
            "by_placement_type": f.by_placement_type,
            "estimate_by_support": est.by_income_support,
            "assumptions": assumptions,
        }
    if role == "researcher":
        return report.research_tables()
    raise ValueError(f"unknown role {role!r}: one of {', '.join(ROLES)}")


def role_tables(report: FollowUpReport) -> Mapping[Role, dict[str, pl.DataFrame]]:
    """Every role's tables (a convenience for writers that produce all three)."""
    return {role: report_tables(report, role) for role in ROLES}


# ---------------------------------------------------------------------------------------------
# The researcher's cut
# ---------------------------------------------------------------------------------------------

#: Key figures that count no people (procurements, proposals, days, places): published as they are.
_RESEARCH_FIGURES = (
    "procurements_active", "qualifying_procurements", "qualifying_with_requirement",
    "share_qualifying_with_requirement", "requirements_not_qualifying", "proposals_made",
    "proposals_answered",
    "time_to_start_median", "time_to_start_mean", "companies_with_requirement", "yearly_target_places",
    "places_requisitioned", "yearly_target_met",
)


def _flagged(frame: pl.DataFrame, hidden: list[list[str]]) -> pl.DataFrame:
    return frame.with_columns(pl.Series(SUPPRESSED_COLUMN, hidden, dtype=pl.List(pl.String)))


def _ratio(part: int | None, whole: int | None) -> float | None:
    return None if part is None or not whole else part / whole


def _research_tables(report: FollowUpReport) -> dict[str, pl.DataFrame]:
    inputs = report.research_inputs
    k = report.min_cell_size
    groups = inputs["groups"]
    assert isinstance(groups, tuple)
    placed_pop, hired_pop = inputs["placed"], inputs["hired"]
    cand = inputs["candidates"]
    in_work = inputs["in_work"]
    assert isinstance(cand, Publication) and isinstance(in_work, pl.DataFrame)
    placed = protect_placed(placed_pop, groups, k)  # type: ignore[arg-type]
    hired = protect_hired(hired_pop, k)  # type: ignore[arg-type]
    supports = [s.value for s in IncomeSupport]
    work = protect_in_work(in_work, supports, k)
    total = placed.value("placed_total")
    f = report.figures

    def share(n: int | None) -> float | None:
        return _ratio(n, total)

    # By district, with the policy's key beside the share.
    districts = f.by_district["district_id"].to_list()
    d_people = [placed.value("by_district", d) for d in districts]
    by_district = _flagged(pl.DataFrame({
        "district_id": districts,
        "people": pl.Series(d_people, dtype=pl.Int64),
        "share_of_placed": pl.Series([share(n) for n in d_people], dtype=pl.Float64),
        "key_share": f.by_district["key_share"],
    }), [["people", "share_of_placed"] if n is None else [] for n in d_people])

    cand_total = cand.value("candidates_total")
    names = [*groups, NO_GROUP]
    g_people = [placed.value("by_group", g) for g in names]
    pool = [_ratio(cand.value("candidates_by_group", g), cand_total) for g in names]
    by_group = _flagged(pl.DataFrame({
        "group": names,
        "people": pl.Series(g_people, dtype=pl.Int64),
        "share_of_placed": pl.Series([share(n) for n in g_people], dtype=pl.Float64),
        "pool_share": pl.Series(pool, dtype=pl.Float64),
    }), [(["people", "share_of_placed"] if n is None else []) + (["pool_share"] if p is None else [])
         for n, p in zip(g_people, pool, strict=True)])

    gd_keys = [(g, d) for g in names for d in districts]
    gd_people = [placed.value("group_district", g, d) for g, d in gd_keys]
    group_district = _flagged(pl.DataFrame({
        "group": [g for g, _ in gd_keys], "district_id": [d for _, d in gd_keys],
        "people": pl.Series(gd_people, dtype=pl.Int64),
    }), [["people"] if n is None else [] for n in gd_people])

    types = [t.value for t in PlacementType]
    t_people = [placed.value("by_placement_type", t) for t in types]
    by_type = _flagged(pl.DataFrame({
        "placement_type": types, "people": pl.Series(t_people, dtype=pl.Int64),
        "share_of_placed": pl.Series([share(n) for n in t_people], dtype=pl.Float64),
    }), [["people", "share_of_placed"] if n is None else [] for n in t_people])

    from scoring.disclosure import CONTRACT_TYPES, OUTCOMES

    o_people = [placed.value("by_outcome", o) for o in OUTCOMES]
    by_outcome = _flagged(
        pl.DataFrame({"outcome": list(OUTCOMES), "people": pl.Series(o_people, dtype=pl.Int64)}),
        [["people"] if n is None else [] for n in o_people])
    c_people = [hired.value("by_contract_type", c) for c in CONTRACT_TYPES]
    by_contract = _flagged(pl.DataFrame({"contract_type": list(CONTRACT_TYPES),
                                         "people": pl.Series(c_people, dtype=pl.Int64)}),
                           [["people"] if n is None else [] for n in c_people])

    est = report.estimate.by_income_support
    s_people = [work.value("by_support", s) for s in est["income_support"].to_list()]
    hide = pl.Series([n is None for n in s_people])
    derived = ["months_in_work", "gain_sek", "net_gain_sek"]
    estimate = _flagged(est.with_columns(
        pl.Series("people", s_people, dtype=pl.Int64),
        *[pl.when(hide).then(None).otherwise(pl.col(c)).alias(c) for c in derived],
    ), [["people", *derived] if n is None else [] for n in s_people])

    # Key figures: those that count no one as they are; counts of people from the protected cells.
    base = f.table().filter(pl.col("figure").is_in(list(_RESEARCH_FIGURES)))
    rows: list[tuple[str, float | None, str, str]] = [
        (r["figure"], r["value"], r["unit"], r["note"]) for r in base.iter_rows(named=True)]
    rows.append(("people_placed", total, "people", "distinct people, placement started in the period"))
    for t, n in zip(types, t_people, strict=True):
        rows.append((f"people_into_{t}", n, "people",
                     "by the type of the person's first placement in the period"))
    for o, n in zip(OUTCOMES, o_people, strict=True):
        rows.append((f"people_outcome_{o}", n, "people", "first placement's state on the period's last day"))
    rows.append(("people_hired", hired.value("hired_total"), "people", "hired in the period"))
    for c, n in zip(CONTRACT_TYPES, c_people, strict=True):
        rows.append((f"people_hired_{c}", n, "people", "hired in the period, by contract (first hire)"))
    placed_low = _ratio(placed.value("low_step"), total)
    pool_low = _ratio(cand.value("candidates_low_step"), cand_total)
    rows += [
        ("placed_low_ladder_share", placed_low, "share", "placed on work-ladder steps 1-2"),
        ("pool_low_ladder_share", pool_low, "share", "candidates on work-ladder steps 1-2"),
        ("anti_creaming_ratio", None if placed_low is None or not pool_low else placed_low / pool_low,
         "ratio", "placed share / pool share; below 1 suggests creaming"),
    ]
    person_units = {"people"}
    key_figures = pl.DataFrame({
        "figure": [r[0] for r in rows],
        "value": pl.Series([None if r[1] is None else float(r[1]) for r in rows], dtype=pl.Float64),
        "unit": [r[2] for r in rows], "note": [r[3] for r in rows],
    })
    key_figures = _flagged(key_figures, [
        ["value"] if r[1] is None and (r[2] in person_units or r[2] in ("share", "ratio")) else []
        for r in rows])
    return {
        "key_figures": key_figures,
        "by_group": by_group,
        "by_district": by_district,
        "by_placement_type": by_type,
        "by_outcome": by_outcome,
        "by_contract_type": by_contract,
        "group_district": group_district,
        "estimate_by_support": estimate,
        "assumptions": pl.DataFrame({"assumption": list(report.estimate.assumptions)}),
    }


# ---------------------------------------------------------------------------------------------
# Displacement watch
# ---------------------------------------------------------------------------------------------


def displacement_watch(region: Region, *, year: int, period_end: dt.date | None = None,
                       records: FollowUpRecords = NO_RECORDS) -> pl.DataFrame:
    """Per supplier: requirement placements against all its new hires and its headcount (seed 004:
    see that the requirement creates no displacement; DOMAIN.md, "Displacement").

    *Requirement placements* are the placements started on the supplier's places in the period (and in
    the year before, for the change). ``new_hires`` and ``headcount`` are what the supplier reported
    for the year (``PUT /v1/supplier-figures/{year}``, optional; null when not reported). The flag
    ``look_into`` is set where the headcount fell from the year before while the requirement
    placements rose: a sign that placed people may stand in for staff, for the coordinator to look
    into, not a finding.

    Returns
    -------
    pl.DataFrame
        ``supplier_id, name, requirement_placements, requirement_placements_before, new_hires,
        requirement_share_of_new_hires, headcount, headcount_before, look_into, note`` by supplier id.
    """
    start, end = _period(year, period_end)
    before_start, before_end = _year_bounds(year - 1)
    placed = _placements_with_places(region)
    now = _started_between(placed, start, end).group_by("supplier_id").len("n")
    then = _started_between(placed, before_start, before_end).group_by("supplier_id").len("n")
    figures = records.supplier_figures
    this_year = {r["supplier_id"]: r for r in figures.filter(pl.col("year") == year).iter_rows(named=True)}
    last_year = {r["supplier_id"]: r
                 for r in figures.filter(pl.col("year") == year - 1).iter_rows(named=True)}
    counts_now, counts_then = dict(now.iter_rows()), dict(then.iter_rows())
    rows = []
    for sup in region.suppliers.sort("supplier_id").iter_rows(named=True):
        sid = sup["supplier_id"]
        placements, before = int(counts_now.get(sid, 0)), int(counts_then.get(sid, 0))
        mine, prior = this_year.get(sid, {}), last_year.get(sid, {})
        new_hires, headcount = mine.get("new_hires"), mine.get("headcount")
        headcount_before = prior.get("headcount")
        share = None if not new_hires else placements / new_hires
        fell = headcount is not None and headcount_before is not None and headcount < headcount_before
        look = bool(fell and placements > before)
        note = ""
        if look:
            note = (f"headcount fell from {headcount_before} to {headcount} while requirement placements "
                    f"rose from {before} to {placements}: look into possible displacement")
        elif headcount is None or headcount_before is None:
            note = "headcount not reported for both years: no comparison"
        rows.append((sid, sup["name"], placements, before, new_hires, share, headcount, headcount_before,
                     look, note))
    return pl.DataFrame(rows, orient="row", schema={
        "supplier_id": pl.String, "name": pl.String, "requirement_placements": pl.Int64,
        "requirement_placements_before": pl.Int64, "new_hires": pl.Int64,
        "requirement_share_of_new_hires": pl.Float64, "headcount": pl.Int64, "headcount_before": pl.Int64,
        "look_into": pl.Boolean, "note": pl.String})
