"""What the round pages show, as plain data: functions from a connection, the service state and the
signed-in person to frozen view objects (no HTML, no request).

Every read goes through the API's own route functions (:mod:`service.routes.rounds`) with the page's
person as the caller, so a page sees exactly what the API lets that person see, and audits what the
API audits (a page of assignments or of unassigned candidates is an audited read of those ids). GET
pages only read what the round's job stored: nothing here solves.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from pydantic import ValidationError

from scoring.eligibility import OVERRIDABLE_RULES
from scoring.score import TERMS
from service.auth import Principal
from service.db.tables import REGION_TABLES
from service.errors import FieldError
from service.routes import rounds as api
from service.state import ServiceState

PAGE_SIZE = 50
"""Rows per page of every long list (docs/pages.md)."""

T = TypeVar("T")


# --- paging ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Paged(Generic[T]):
    """One page of a long list: its rows, the total, and where it stands."""

    items: list[T]
    total: int
    offset: int
    limit: int = PAGE_SIZE

    @property
    def page(self) -> int:
        return self.offset // self.limit + 1

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.limit))

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def page_offset(page: str | None, limit: int = PAGE_SIZE) -> int:
    """The offset of the 1-based page number ``page`` of a query string (anything else: page 1)."""
    number = int(page) if page is not None and page.isdigit() and 0 < len(page) < 8 else 1
    return (max(number, 1) - 1) * limit


# --- the list of rounds ---------------------------------------------------------------------------

@dataclass(frozen=True)
class RoundLine:
    round_id: str
    status: str
    policy_id: str
    created_at: dt.datetime
    objective: str
    num_assigned: int | None
    published_at: dt.datetime | None
    parent_round_id: str | None


def round_list(conn: sa.Connection, person: Principal, offset: int) -> Paged[RoundLine]:
    """The rounds, newest first, one page (``GET /v1/rounds``)."""
    got = api.list_rounds(person, conn, limit=PAGE_SIZE, offset=offset)
    lines = [RoundLine(r["round_id"], r["status"], r["policy_id"], r["created_at"],
                       str((r["params"] or {}).get("objective", "max_placed")),
                       (r["summary"] or {}).get("num_assigned"), r["published_at"], r["parent_round_id"])
             for r in got.items]
    return Paged(lines, got.total, offset)


# --- one round ------------------------------------------------------------------------------------

#: The stages a round's job reports (``message``, docs/rounds.md "Following and stopping a round"),
#: longest first, each with its word key.
STAGES: tuple[tuple[str, str], ...] = (
    ("pricing the pairs left out (most placeable)", "rd_stage_pricing_placeable"),
    ("pricing the pairs left out", "rd_stage_pricing"),
    ("queued again after a restart", "rd_stage_requeued"),
    ("cancelled before it started", "rd_stage_cancelled"),
    ("cancelled while running", "rd_stage_cancelled"),
    ("stopping: cancelled", "rd_stage_stopping"),
    ("building the pool", "rd_stage_pool"),
    ("finding eligible pairs", "rd_stage_pairs"),
    ("solving", "rd_stage_solving"),
    ("starting", "rd_stage_starting"),
    ("queued", "rd_stage_queued"),
    ("failed", "rd_stage_failed"),
)
#: The exact method's phases (``solving (<phase>)``).
PHASES = ("prepare", "lagrangian", "fixed_counts", "exact_model", "repair", "explain")
_ASSIGNMENTS_DONE = re.compile(r"^(\d+) assignment\(s\)$")


@dataclass(frozen=True)
class Progress:
    """How far a round's job is: its status, the stage (a word key, or the job's own text when it is
    not one of :data:`STAGES`), the solver's phase, and the fraction done within the stage."""

    status: str
    stage_key: str | None
    stage_text: str
    phase: str | None
    fraction: float
    assigned: int | None
    error: str | None

    @property
    def percent(self) -> int:
        return round(100 * self.fraction)

    @property
    def active(self) -> bool:
        return self.status in ("queued", "running")


def progress_of(job: Mapping[str, Any] | None, round_status: str) -> Progress:
    """The job row's progress in words (what ``GET /v1/jobs/{id}`` says)."""
    if job is None:
        return Progress(round_status, None, "", None, 0.0, None, None)
    message = str(job.get("message") or "")
    key = next((k for prefix, k in STAGES if message.startswith(prefix)), None)
    phase = None
    found = re.fullmatch(r"solving \((\w+)\)", message)
    if found and found.group(1) in PHASES:
        phase = found.group(1)
    done = _ASSIGNMENTS_DONE.match(message)
    if done:
        key = "rd_stage_done"
    return Progress(str(job["status"]), key, message, phase, float(job.get("progress") or 0.0),
                    int(done.group(1)) if done else None, job.get("error"))


@dataclass(frozen=True)
class DistrictLine:
    """A district's count in the round against its distribution key (counted by home district)."""

    district_id: str
    name: str
    key_share: float | None
    lower: int
    upper: int
    assigned: int
    share: float
    within: bool


@dataclass(frozen=True)
class GroupLine:
    """A priority group's share of the assigned against its floor (groups overlap)."""

    group: str
    floor: float
    assigned: int
    share: float
    met: bool


@dataclass(frozen=True)
class RoundView:
    round_id: str
    status: str
    policy_id: str
    params: dict[str, Any]
    pins: list[tuple[str, str]]
    removals: list[tuple[str, str]]
    overrides: list[dict[str, Any]]
    parent_round_id: str | None
    region_version: int
    created_at: dt.datetime
    finished_at: dt.datetime | None
    published_at: dt.datetime | None
    solver_status: str | None
    objective: float | None
    gap: float | None
    error: str | None
    progress: Progress
    num_assigned: int | None = None
    total_score: float | None = None
    num_unassigned: int = 0
    unassigned_by_reason: dict[str, int] = field(default_factory=dict)
    districts: list[DistrictLine] = field(default_factory=list)
    groups: list[GroupLine] = field(default_factory=list)
    infeasibility: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    constraints_ignored: list[str] = field(default_factory=list)
    certification: dict[str, Any] | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    @property
    def publishable(self) -> bool:
        return self.succeeded and self.published_at is None


def district_names(conn: sa.Connection) -> dict[str, str]:
    """District id → its name, as the region names it."""
    t = REGION_TABLES["districts"]
    return {r.district_id: r.name for r in conn.execute(sa.select(t.c.district_id, t.c.name))}


def round_view(conn: sa.Connection, person: Principal, round_id: str) -> RoundView:
    """One round with its job's progress and, once it succeeded, its review figures
    (``GET /v1/rounds/{id}``). Raises :class:`service.errors.NotFound` for an unknown round."""
    r = api.get_round(round_id, person, conn)
    summary = r["summary"] or {}
    names = district_names(conn) if summary.get("districts") else {}
    districts = [DistrictLine(d["district_id"], names.get(d["district_id"], d["district_id"]),
                              d.get("key_share"), int(d["lower"]), int(d["upper"]), int(d["assigned"]),
                              float(d["share"]), bool(d["within"])) for d in summary.get("districts", [])]
    groups = [GroupLine(g["group"], float(g["floor"]), int(g["assigned"]), float(g["share"]), bool(g["met"]))
              for g in summary.get("groups", [])]
    return RoundView(
        round_id=r["round_id"], status=r["status"], policy_id=r["policy_id"], params=dict(r["params"] or {}),
        pins=[(p[0], p[1]) for p in r["pins"] or []], removals=[(p[0], p[1]) for p in r["removals"] or []],
        overrides=list(r["overrides"] or []), parent_round_id=r["parent_round_id"],
        region_version=r["region_version"], created_at=r["created_at"], finished_at=r["finished_at"],
        published_at=r["published_at"], solver_status=r["solver_status"], objective=r["objective"],
        gap=r["gap"], error=r["error"], progress=progress_of(r["job"], r["status"]),
        num_assigned=summary.get("num_assigned"), total_score=summary.get("total_score"),
        num_unassigned=int(summary.get("unassigned") or 0),
        unassigned_by_reason=dict(summary.get("unassigned_by_reason") or {}),
        districts=districts, groups=groups, infeasibility=list(summary.get("infeasibility") or []),
        violations=list(summary.get("violations") or []),
        constraints_ignored=list(summary.get("constraints_ignored") or []),
        certification=r.get("certification"),
    )


# --- assignments and unassigned -------------------------------------------------------------------

@dataclass(frozen=True)
class PlaceInfo:
    place_id: str
    title: str
    supplier: str
    district_id: str


def place_info(conn: sa.Connection, place_ids: Sequence[str]) -> dict[str, PlaceInfo]:
    """The title, supplier name and district of each place named."""
    if not place_ids:
        return {}
    places, suppliers = REGION_TABLES["places"], REGION_TABLES["suppliers"]
    rows = conn.execute(
        sa.select(places.c.place_id, places.c.title, places.c.district_id, suppliers.c.name)
        .join(suppliers, suppliers.c.supplier_id == places.c.supplier_id, isouter=True)
        .where(places.c.place_id.in_(sorted(set(place_ids)))))
    return {r.place_id: PlaceInfo(r.place_id, r.title or "", r.name or "", r.district_id) for r in rows}


@dataclass(frozen=True)
class AssignmentLine:
    """An assigned pair: its score and each score term's weighted points (they add up to the score)."""

    candidate_id: str
    place_id: str
    place: PlaceInfo | None
    home_district: str | None
    score: float
    pinned: bool
    terms: list[tuple[str, float]]
    override: dict[str, Any] | None


def assignment_line(row: Mapping[str, Any], places: Mapping[str, PlaceInfo]) -> AssignmentLine:
    explanation = row.get("explanation") or {}
    terms = explanation.get("terms") or {}
    ordered = [(t, float(terms[t])) for t in TERMS if t in terms]
    ordered += [(t, float(v)) for t, v in terms.items() if t not in TERMS]
    return AssignmentLine(row["candidate_id"], row["place_id"], places.get(row["place_id"]),
                          explanation.get("home_district"), float(row["score"]), bool(row["pinned"]),
                          ordered, explanation.get("override"))


def assignments(conn: sa.Connection, state: ServiceState, person: Principal, round_id: str,
                offset: int) -> Paged[AssignmentLine]:
    """One page of the round's assignments, by candidate id (``GET /v1/rounds/{id}/assignments``,
    audited as the API audits it)."""
    got = api.list_assignments(round_id, person, conn, state, limit=PAGE_SIZE, offset=offset)
    places = place_info(conn, [r["place_id"] for r in got.items])
    return Paged([assignment_line(r, places) for r in got.items], got.total, offset)


REASONS = ("outscored", "district_upper_bound_reached", "rules_or_objective", "no_eligible_place")
"""The codes of why a candidate with a pair in the round got no place (docs/rounds.md)."""


@dataclass(frozen=True)
class UnassignedLine:
    candidate_id: str
    reason: str
    explanation: str


def unassigned(conn: sa.Connection, state: ServiceState, person: Principal, round_id: str,
               reason: str | None, offset: int) -> Paged[UnassignedLine]:
    """One page of the round's unassigned candidates, each with the reason, optionally of one reason
    (``GET /v1/rounds/{id}/unassigned``, audited as the API audits it)."""
    asked = reason if reason in REASONS else None
    got = api.list_unassigned(round_id, person, conn, state, reason=asked,  # type: ignore[arg-type]
                              limit=PAGE_SIZE, offset=offset)
    return Paged([UnassignedLine(r["candidate_id"], r["reason"], r["explanation"]) for r in got.items],
                 got.total, offset)


# --- an unassigned candidate's explanation in Swedish ---------------------------------------------

_HEADS = {
    "outscored at every place in reach": "rd_why_outscored",
    "a place in reach has room, but the floors or keys do not allow taking it": "rd_why_constrained",
}
_WENT = re.compile(r"(\S+) went to (\S+) with (-?[\d.]+) points against (-?[\d.]+) \(([+-][\d.]+)\)")
_ROOM = re.compile(r"(\S+) has a free slot, but taking it would break a floor or a key")
_MORE = re.compile(r"and (\d+) more place\(s\)")
_DISTRICT = re.compile(r"the home district (\S+) has reached its upper bound under the distribution key")


def explanation_words(text: str, translate: Callable[..., str], decimal: str) -> str | None:
    """An unassigned candidate's stored explanation (:func:`scoring.allocation.describe_unassigned`,
    English) in the words of ``translate``; None when the text is not in one of its forms (the page
    then shows it as stored, marked as English)."""
    def num(value: str) -> str:
        return value.replace(".", decimal)

    if text == "no eligible place within reach in this round":
        return translate("rd_why_no_eligible_place")
    found = _DISTRICT.fullmatch(text)
    if found:
        return translate("rd_why_district", district=found.group(1))
    head, _, rest = text.partition(": ")
    if head not in _HEADS:
        return None
    parts = []
    for part in rest.split("; ") if rest else []:
        if went := _WENT.fullmatch(part):
            place, rival, theirs, own, diff = went.groups()
            parts.append(translate("rd_why_went", place=place, rival=rival, theirs=num(theirs), own=num(own),
                                   diff=num(diff)))
        elif room := _ROOM.fullmatch(part):
            parts.append(translate("rd_why_room", place=room.group(1)))
        elif more := _MORE.fullmatch(part):
            parts.append(translate("rd_why_more", n=more.group(1)))
        else:
            return None
    return translate(_HEADS[head]) + (": " + "; ".join(parts) if parts else "")


# --- comparing two rounds -------------------------------------------------------------------------

@dataclass(frozen=True)
class Change:
    """A candidate whose outcome differs between the rounds: ``moved`` (another place), ``only_a``
    (no longer placed in B) or ``only_b`` (newly placed in B)."""

    kind: str
    candidate_id: str
    place_a: str | None
    place_b: str | None
    score_a: float | None
    score_b: float | None

    @property
    def difference(self) -> float:
        return (self.score_b or 0.0) - (self.score_a or 0.0)


@dataclass(frozen=True)
class CountDelta:
    """A district's or a group's count in both rounds."""

    key: str
    name: str
    a: int
    b: int

    @property
    def difference(self) -> int:
        return self.b - self.a


@dataclass(frozen=True)
class ComparisonView:
    a: RoundView
    b: RoundView
    same: int
    counts: dict[str, int]
    """How many candidates moved, were placed in A only, in B only."""
    score_changes: dict[str, float]
    """The change in total score each kind of change makes; they add up to B's total minus A's."""
    changes: Paged[Change]
    districts: list[CountDelta]
    groups: list[CountDelta]


def comparison(conn: sa.Connection, person: Principal, round_a: str, round_b: str,
               offset: int) -> ComparisonView:
    """Who moved between two succeeded rounds and what it did to the score, the districts and the
    groups (:func:`service.routes.rounds.round_comparison`, as ``GET /v1/rounds/{a}/compare/{b}``; a
    round that has not succeeded is a :class:`service.errors.Conflict`)."""
    diff = api.round_comparison(conn, round_a, round_b)
    a, b = round_view(conn, person, round_a), round_view(conn, person, round_b)
    who, where = diff.candidate_label, diff.place_label

    def change(kind: str, c: int) -> Change:
        pa, pb = int(diff.place_a[c]), int(diff.place_b[c])
        return Change(kind, who(c), where(pa), where(pb), float(diff.score_a[c]) if pa >= 0 else None,
                      float(diff.score_b[c]) if pb >= 0 else None)

    kinds = {"moved": diff.moved, "only_a": diff.dropped, "only_b": diff.newly_placed}
    changes = sorted((change(kind, c) for kind, found in kinds.items() for c in found.tolist()),
                     key=lambda ch: ch.candidate_id)
    counts = {kind: int(found.size) for kind, found in kinds.items()}
    # The comparison's exact decomposition: the three add up to B's total score minus A's.
    score_changes = {"moved": diff.from_moved, "only_a": diff.from_dropped, "only_b": diff.from_newly_placed}
    names = {d.district_id: d.name for d in (*a.districts, *b.districts)}
    da = {d.district_id: d.assigned for d in a.districts}
    db = {d.district_id: d.assigned for d in b.districts}
    districts = [CountDelta(d, names[d], da.get(d, 0), db.get(d, 0)) for d in dict.fromkeys([*da, *db])]
    ga, gb = {g.group: g.assigned for g in a.groups}, {g.group: g.assigned for g in b.groups}
    groups = [CountDelta(g, g, ga.get(g, 0), gb.get(g, 0)) for g in dict.fromkeys([*ga, *gb])]
    page = Paged(changes[offset:offset + PAGE_SIZE], len(changes), offset)
    return ComparisonView(a, b, diff.unchanged, counts, score_changes, page, districts, groups)


# --- the forms: a new round, a re-run -------------------------------------------------------------

OBJECTIVES = ("max_placed", "score")
METHODS = ("optimal", "greedy", "serial_dictatorship", "deferred_acceptance")
ON_INFEASIBLE = ("report", "penalise")
OVERRIDABLE = OVERRIDABLE_RULES
"""The hard rules an override may set aside (``RuleOverrideIn.rules``)."""


@dataclass(frozen=True)
class FormProblems:
    """What is wrong with a form: field name → messages (``""``: the form as a whole)."""

    by_field: dict[str, list[str]]

    def __bool__(self) -> bool:
        return bool(self.by_field)

    def of(self, name: str) -> list[str]:
        return self.by_field.get(name, [])

    def all(self) -> list[tuple[str, str]]:
        return [(name, m) for name, messages in self.by_field.items() for m in messages]


def _add(problems: dict[str, list[str]], name: str, message: str) -> None:
    problems.setdefault(name, []).append(message)


def _checkbox(form: Mapping[str, Any], name: str) -> bool:
    return str(form.get(name) or "") in ("on", "true", "1", "yes")


@dataclass(frozen=True)
class PinInput:
    """One pin a form asks for, with the name of the form field it came from."""

    candidate_id: str
    place_id: str
    field: str
    reason: str = ""
    rules: tuple[str, ...] = ()

    def body(self) -> dict[str, Any]:
        pin: dict[str, Any] = {"candidate_id": self.candidate_id, "place_id": self.place_id}
        if self.reason:
            pin["override"] = {"reason": self.reason, "rules": list(self.rules)}
        return pin


def parse_pair(value: str) -> tuple[str, str] | None:
    """``CANDIDATE:PLACE`` as a pair (as ``platsa allocate --pin`` takes it), or None."""
    cid, sep, pid = value.strip().partition(":")
    return (cid.strip(), pid.strip()) if sep and cid.strip() and pid.strip() else None


def pairs_of(form: Any, name: str, problems: dict[str, list[str]], translate: Callable[..., str]
             ) -> list[tuple[str, str]]:
    """The ``CANDIDATE:PLACE`` values of a repeated form field (checkboxes) or of a text field with
    one pair a line."""
    values = form.getlist(name) if hasattr(form, "getlist") else [form.get(name)]
    out: list[tuple[str, str]] = []
    for value in values:
        for line in str(value or "").splitlines():
            if not line.strip():
                continue
            pair = parse_pair(line)
            if pair is None:
                _add(problems, name, translate("rd_error_pair", value=line.strip()[:80]))
            elif pair not in out:
                out.append(pair)
    return out


def new_pin(form: Mapping[str, Any], problems: dict[str, list[str]], translate: Callable[..., str]
            ) -> PinInput | None:
    """The one pair typed into the form's "pin a pair" fields, with its override if a reason is given."""
    cid = str(form.get("pin_candidate") or "").strip()
    pid = str(form.get("pin_place") or "").strip()
    reason = str(form.get("override_reason") or "").strip()
    rules = tuple(r for r in OVERRIDABLE if _checkbox(form, f"override_{r}"))
    if not cid and not pid:
        if reason or rules:
            _add(problems, "pin_candidate", translate("rd_error_override_without_pin"))
        return None
    if not cid:
        _add(problems, "pin_candidate", translate("rd_error_required"))
    if not pid:
        _add(problems, "pin_place", translate("rd_error_required"))
    if rules and not reason:
        _add(problems, "override_reason", translate("rd_error_override_reason"))
    if not cid or not pid:
        return None
    return PinInput(cid, pid, "pin_candidate", reason, rules)


@dataclass(frozen=True)
class RoundForm:
    """A new round's form as the person filled it in (kept to show it again with its problems)."""

    values: dict[str, str]
    checks: dict[str, bool]


#: The form's defaults: what ``RoundCreate`` defaults to.
DEFAULT_FORM = RoundForm(
    values={"policy_id": "", "objective": "max_placed", "method": "optimal", "on_infeasible": "report",
            "time_limit_s": "60", "seed": "0", "pins": "", "removals": ""},
    checks={"use_keys": True, "use_floors": True, "include_held_back": False})

#: A field of ``RoundCreate``'s params → the form field it is typed in.
_PARAM_FIELDS = {"objective": "objective", "method": "method", "on_infeasible": "on_infeasible",
                 "time_limit_s": "time_limit_s", "seed": "seed", "use_keys": "use_keys",
                 "use_floors": "use_floors", "include_held_back": "include_held_back"}


def read_round_form(form: Mapping[str, Any]) -> RoundForm:
    values = {name: str(form.get(name) or "").strip() for name in DEFAULT_FORM.values}
    values["pins"] = str(form.get("pins") or "")
    values["removals"] = str(form.get("removals") or "")
    return RoundForm(values, {name: _checkbox(form, name) for name in DEFAULT_FORM.checks})


def round_body(filled: RoundForm, form: Any, translate: Callable[..., str]
               ) -> tuple[api.RoundCreate | None, list[PinInput], FormProblems]:
    """``RoundCreate`` from the form, or every problem with it by form field (nothing is started
    while there is one). Pins and removals are ``CANDIDATE:PLACE`` lines."""
    problems: dict[str, list[str]] = {}
    v = filled.values
    pins = [PinInput(c, p, "pins") for c, p in pairs_of(form, "pins", problems, translate)]
    removals = pairs_of(form, "removals", problems, translate)
    params: dict[str, Any] = {"objective": v["objective"] or "max_placed", "method": v["method"] or "optimal",
                              "on_infeasible": v["on_infeasible"] or "report", **filled.checks}
    for name in ("time_limit_s", "seed"):
        if v[name]:
            params[name] = v[name]
    body = {"params": params, "pins": [p.body() for p in pins],
            "removals": [{"candidate_id": c, "place_id": p} for c, p in removals]}
    if v["policy_id"]:
        body["policy_id"] = v["policy_id"]
    try:
        created = api.RoundCreate.model_validate(body)
    except ValidationError as exc:
        for error in exc.errors():
            loc = [str(x) for x in error["loc"]]
            name = (_PARAM_FIELDS.get(loc[1], "") if loc[:1] == ["params"] and len(loc) > 1
                    else loc[0] if loc and loc[0] in ("policy_id", "pins", "removals") else "")
            _add(problems, name, error["msg"])
        created = None
    return (None if problems else created), pins, FormProblems(problems)


def api_problems(errors: Sequence[FieldError], pins: Sequence[PinInput], removal_field: str,
                 removal_offset: int = 0) -> FormProblems:
    """The API's 422 field errors (``body.pins.3``, ``body.removals.0``, ...) by the form field of the
    row they name; each message names its pair, so a list field keeps every one apart."""
    problems: dict[str, list[str]] = {}
    for error in errors:
        parts = error.location.split(".")
        name = ""
        if len(parts) >= 2 and parts[1] == "pins":
            index = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else None
            name = pins[index].field if index is not None and index < len(pins) else (
                pins[0].field if pins else "pins")
            if len(parts) > 3 and parts[3] == "override":
                name = "override_reason"
        elif len(parts) >= 2 and parts[1] == "removals":
            name = removal_field
        elif len(parts) >= 2 and parts[1] == "policy_id":
            name = "policy_id"
        _add(problems, name, error.message)
    return FormProblems(problems)


# --- publication ----------------------------------------------------------------------------------

PUBLISH_CHOICES = ("refuse", "allow", "skip")


@dataclass(frozen=True)
class ConflictLine:
    """An assignment that cannot be proposed now, and why (``reason`` a ``ConflictReason`` code)."""

    candidate_id: str
    place_id: str
    reason: str
    detail: str
    open_proposals: list[str]


def conflict_lines(conflicts: Sequence[Mapping[str, Any]]) -> list[ConflictLine]:
    return [ConflictLine(c["candidate_id"], c["place_id"], str(c["reason"]), str(c.get("detail") or ""),
                         [f"{p['proposal_id']} ({p['place_id']}, {p['status']})"
                          for p in c.get("open_proposals") or []]) for c in conflicts]


def pending_conflicts(conn: sa.Connection, state: ServiceState, person: Principal, round_id: str
                      ) -> list[ConflictLine]:
    """What publishing the round now would refuse, checked as the API's publication checks it
    (:func:`service.routes.rounds.publication_conflicts`); the round must be one the person may read."""
    api.get_round(round_id, person, conn)
    return conflict_lines(api.publication_conflicts(conn, state, round_id))
