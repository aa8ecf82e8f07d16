"""Platsa's own proposal record, kept across a re-import of the region.

A proposal made or answered through Platsa has a *history*: rows in ``proposal_events`` caused by
a person or an integration (its creation through Platsa, an answer, a withdrawal: who moved it
where, and when), webhook deliveries that name it, and, from an internship or a hire on, a
placement that the follow-up counts (:mod:`scoring.followup`). The service's own automatic events
(:data:`~service.integration.lifecycle.AUTOMATIC_EVENT_TYPES`: the reminders the delivery worker
records for unanswered proposals, imported ones included) are no such history: a proposal that has
only those is the upload's, replaced by the upload's row of the same id and dropped by an upload
without one (its reminders stay in the event log, as sent). The upload of a region import knows
nothing of that history, so replacing the region's tables with it alone would leave events and
deliveries naming proposals that no longer exist, and silently drop hires and declines from the
follow-up. :func:`carry_over` therefore works out what the import keeps
(``service.store.replace_region`` calls it):

- every proposal with a history (a *recorded* proposal) is carried into the new region exactly as
  Platsa has it (status, decision day, reason, round). The upload's row with the same id, if any, is
  ignored (and reported) when it names the same candidate and place: Platsa's row is the later word;
- the placements of recorded proposals are carried over too, unless the upload holds a row with the
  same ``placement_id`` (the recruiter's report of the same placement, stored as sent);
- a carried-over placement that is going on or ended in a hire marks its candidate ``placed``,
  whatever the upload says, as the lifecycle did when it was made.

What cannot be kept is refused with :class:`HistoryConflict` (409, every problem at once; the import
changes nothing): a recorded proposal whose candidate or place the upload lacks, an upload proposal
that reuses a recorded proposal's id for another candidate or place, and an upload placement that
reuses a carried-over placement's id for another proposal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import sqlalchemy as sa

from scoring.exceptions import Problem
from scoring.region import Region
from scoring.schema import ERASED_PREFIX
from service.db.tables import REGION_TABLES
from service.errors import Conflict
from service.integration.lifecycle import AUTOMATIC_EVENT_TYPES
from service.integration.tables import proposal_events

_proposals = REGION_TABLES["proposals"]
_placements = REGION_TABLES["placements"]


class HistoryConflict(Conflict):
    """The upload cannot replace the region without losing or contradicting Platsa's proposal history."""

    slug, title = "region-history-conflict", "Import conflicts with the proposal history"

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s): the upload would drop or contradict proposals made or "
                         "answered through Platsa (their history feeds the follow-up); nothing was imported")
        self.problems = list(problems)

    def problem_dicts(self) -> list[dict[str, Any]]:
        return [{"file": p.file, "row": p.row, "column": p.column, "value": p.value, "reason": p.reason}
                for p in self.problems]


@dataclass(frozen=True)
class Carried:
    """What an import keeps of Platsa's record, besides the upload's own rows."""

    proposals: list[dict[str, Any]] = field(default_factory=list)
    """Recorded proposals, as stored (with ``round_id``)."""
    placements: list[dict[str, Any]] = field(default_factory=list)
    """Their placements that the upload does not hold."""
    ignored_proposals: list[str] = field(default_factory=list)
    """Ids of upload proposals that Platsa's record of the same proposal replaces."""
    placed: list[str] = field(default_factory=list)
    """Candidates a carried-over placement marks placed."""


def _recorded() -> sa.Select[Any]:
    """The ids of proposals made or answered through Platsa: those with an event that is not automatic."""
    return (sa.select(proposal_events.c.proposal_id)
            .where(proposal_events.c.type.not_in(sorted(AUTOMATIC_EVENT_TYPES))).distinct())


def _ids(frame: pl.DataFrame, column: str) -> set[str]:
    return set(frame.get_column(column).to_list()) if frame.height else set()


def carry_over(conn: sa.Connection, region: Region) -> Carried:
    """What the import of ``region`` keeps of the stored proposal history (see the module's docstring).

    Reads inside the caller's transaction, which holds the region lock
    (:func:`service.store.lock_region`), before the region's tables are emptied.

    Raises
    ------
    HistoryConflict
        The upload lacks a candidate or place that a recorded proposal names, or reuses a recorded
        proposal's or carried-over placement's id for something else.
    """
    kept = [dict(r) for r in conn.execute(
        sa.select(_proposals).where(_proposals.c.proposal_id.in_(_recorded()))
        .order_by(_proposals.c.proposal_id)).mappings()]
    if not kept:
        return Carried()
    placements = [dict(r) for r in conn.execute(
        sa.select(_placements).where(_placements.c.proposal_id.in_(_recorded()))
        .order_by(_placements.c.placement_id)).mappings()]
    candidates = _ids(region.candidates, "candidate_id")
    places = _ids(region.places, "place_id")
    problems: list[Problem] = []
    for p in kept:
        what = f"proposal {p['proposal_id']} ({p['status']}, made or answered through Platsa) names it"
        # An erased person's history names a pseudonym, never a candidate (service/subject.py).
        if p["candidate_id"] not in candidates and not p["candidate_id"].startswith(ERASED_PREFIX):
            problems.append(Problem("candidates", None, "candidate_id", p["candidate_id"],
                                    f"missing from the upload, but {what}: keep the candidate"))
        if p["place_id"] not in places:
            problems.append(Problem("places", None, "place_id", p["place_id"],
                                    f"missing from the upload, but {what}: keep the place"))
    by_id = {p["proposal_id"]: p for p in kept}
    ignored = []
    for row, upload in enumerate(region.proposals.iter_rows(named=True), start=1):
        mine = by_id.get(upload["proposal_id"])
        if mine is None:
            continue
        if (upload["candidate_id"], upload["place_id"]) == (mine["candidate_id"], mine["place_id"]):
            ignored.append(mine["proposal_id"])
            continue
        if mine["candidate_id"].startswith(ERASED_PREFIX):
            problems.append(Problem(
                "proposals", row, "proposal_id", mine["proposal_id"],
                f"proposal {mine['proposal_id']} belonged to a person whose data was erased (GDPR art. 17); "
                f"the upload still holds it for {upload['candidate_id']}: erase it in the source too"))
            continue
        problems.append(Problem(
            "proposals", row, "proposal_id", mine["proposal_id"],
            f"Platsa's proposal {mine['proposal_id']} is {mine['candidate_id']} to {mine['place_id']}; the "
            f"upload reuses the id for {upload['candidate_id']} to {upload['place_id']}: give it another id"))
    uploaded_placements = {r["placement_id"]: (row, r) for row, r in
                           enumerate(region.placements.iter_rows(named=True), start=1)}
    carried_placements = []
    for pm in placements:
        found = uploaded_placements.get(pm["placement_id"])
        if found is None:
            # Its proposal's candidate and place were checked above; an imported placement may name others.
            proposal = by_id[pm["proposal_id"]]
            what = f"placement {pm['placement_id']} of proposal {pm['proposal_id']} names it"
            if (pm["candidate_id"] != proposal["candidate_id"] and pm["candidate_id"] not in candidates
                    and not pm["candidate_id"].startswith(ERASED_PREFIX)):
                problems.append(Problem("candidates", None, "candidate_id", pm["candidate_id"],
                                        f"missing from the upload, but {what}: keep the candidate"))
            if pm["place_id"] != proposal["place_id"] and pm["place_id"] not in places:
                problems.append(Problem("places", None, "place_id", pm["place_id"],
                                        f"missing from the upload, but {what}: keep the place"))
            carried_placements.append(pm)
            continue
        row, upload = found
        if upload["proposal_id"] != pm["proposal_id"]:
            problems.append(Problem(
                "placements", row, "placement_id", pm["placement_id"],
                f"Platsa's placement {pm['placement_id']} belongs to proposal {pm['proposal_id']}; the "
                f"upload reuses the id for proposal {upload['proposal_id']}: give it another id"))
    if problems:
        raise HistoryConflict(problems)
    placed = sorted({pm["candidate_id"] for pm in carried_placements
                     if pm["ended_on"] is None or pm["hired_on"] is not None})
    return Carried(kept, carried_placements, ignored, placed)
