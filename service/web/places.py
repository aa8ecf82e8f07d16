"""``/places``: the places (platser) and, for the municipality, their fair shortlists.

- ``/places``: every place the person may see (a supplier: its own), filtered by open now,
  district, occupation (SSYK), placement type and supplier, 50 a page, with each place's state
  and free slots on the region's reference date (the rule of :mod:`scoring.capacity`).
- ``/places/{id}``: the place, its free slots, and for a coordinator or a labour-market unit its
  fair shortlist (``GET /v1/places/{id}/shortlist``: the same cached answer, the same audit
  entry; a unit sees its own district's candidates only), each line's terms in words and why it
  stands where it stands; "why is this person not on the list" (``?why=<candidate id>``, the
  explanation operation's answer); and a form proposing the selected lines
  (``POST /places/{id}/propose``, which calls the API's :func:`service.routes.proposing.propose`
  with the signed-in person: the same rules, refusals and audit, nothing proposed on a refusal).
  A supplier sees the place without any candidate.

The list is computed once per snapshot (a new snapshot comes with every write); which candidates
are proposed to the place now is read from the database on every request, so a line proposed a
moment ago is marked even before the snapshot catches up.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import anyio.to_thread
import polars as pl
import sqlalchemy as sa
from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from scoring.capacity import STATES, PlaceStates, place_states
from scoring.domain import OPEN_PROPOSAL_STATES
from service.auth import Principal, Role
from service.cache import DEFAULT_K, cache_key
from service.db.tables import REGION_TABLES
from service.deps import Conn, State
from service.engine import EngineUnavailable
from service.errors import Conflict, InvalidInput, NotFound
from service.integration.lifecycle import OpenProposalExists
from service.integration.models import ProposeCandidates
from service.routes import proposing, shortlists
from service.state import ServiceState, Snapshot
from service.web.explain_words import group_name, in_words
from service.web.formats import Formats
from service.web.pages import (
    CsrfChecked,
    PageForbidden,
    PageNotFound,
    PagePlaceReader,
    language,
    per_snapshot,
    render,
    words,
)

router = APIRouter(prefix="/places")

PAGE_SIZE = 50
K_CHOICES = (5, 10, 20, 50)
_proposals = REGION_TABLES["proposals"]
_cands = REGION_TABLES["candidates"]


@dataclass(frozen=True)
class PlacesToday:
    """The places of one snapshot with their state today, and the filters' choices."""

    table: pl.DataFrame
    """One row per place: ids, title, SSYK, type, supplier and district (id and name), slots,
    free, state, start date, last day."""
    districts: list[tuple[str, str]]
    occupations: list[tuple[str, str]]
    suppliers: list[tuple[str, str]]
    types: list[str]
    states: PlaceStates


def places_today(snapshot: Snapshot) -> PlacesToday:
    """The snapshot's places, each with its state and free slots on the reference date."""
    region = snapshot.region
    today = region.manifest.reference_date
    places = region.places
    states = place_states(places, region.proposals, region.placements, reference_date=today,
                          policy=snapshot.policy)
    suppliers = region.suppliers.select("supplier_id", pl.col("name").alias("supplier_name"))
    districts = region.districts.select("district_id", pl.col("name").alias("district_name"))
    table = (places.select("place_id", "title", "ssyk_code", "placement_type", "supplier_id", "district_id",
                           "slots", "start_date", "procurement_id")
             .with_columns(pl.Series("free", states.free.astype("int64")),
                           pl.Series("state", [STATES[int(s)] for s in states.state.tolist()]),
                           pl.Series("position", range(places.height)))
             .join(suppliers, on="supplier_id", how="left")
             .join(districts, on="district_id", how="left")
             .sort("place_id"))
    occupations = (places.group_by("ssyk_code").agg(pl.col("title").mode().first()).sort("ssyk_code"))
    return PlacesToday(
        table=table,
        districts=sorted(districts.iter_rows(), key=lambda r: r[1]),
        occupations=[(c, t) for c, t in occupations.iter_rows()],
        suppliers=sorted(suppliers.iter_rows(), key=lambda r: r[1]),
        types=sorted(places["placement_type"].unique().to_list()),
        states=states,
    )


cached_places = per_snapshot(places_today)
"""The places of a snapshot with their state today, computed once per snapshot."""


@dataclass(frozen=True)
class Filters:
    """The list's filters as asked (unknown values are ignored, never an error)."""

    open_now: bool
    district: str
    occupation: str
    placement_type: str
    supplier: str
    page: int

    def query(self, **changes: Any) -> str:
        values = {"open": "1" if self.open_now else "", "district": self.district,
                  "occupation": self.occupation, "type": self.placement_type, "supplier": self.supplier,
                  "page": str(self.page), **changes}
        return urlencode({k: v for k, v in values.items() if v and not (k == "page" and v == "1")})


def _filters(request: Request, listing: PlacesToday, person: Principal) -> Filters:
    q = request.query_params
    districts = {d for d, _ in listing.districts}
    occupations = {c for c, _ in listing.occupations}
    suppliers = {s for s, _ in listing.suppliers}
    page = q.get("page", "1")
    return Filters(
        open_now=q.get("open") == "1",
        district=q.get("district", "") if q.get("district") in districts else "",
        occupation=q.get("occupation", "") if q.get("occupation") in occupations else "",
        placement_type=q.get("type", "") if q.get("type") in listing.types else "",
        supplier="" if person.role == Role.SUPPLIER else (
            q.get("supplier", "") if q.get("supplier") in suppliers else ""),
        page=int(page) if page.isdigit() and len(page) < 7 and int(page) > 0 else 1,
    )


def _visible(listing: PlacesToday, person: Principal) -> pl.DataFrame:
    if person.role == Role.SUPPLIER:
        return listing.table.filter(pl.col("supplier_id") == person.supplier_id)
    return listing.table


def _unavailable(request: Request) -> Response:
    return render(request, "places/unavailable.html", {}, status_code=503)


@router.get("")
def places_page(request: Request, person: PagePlaceReader, state: State) -> Response:
    snapshot = state.snapshot
    if snapshot is None:
        return _unavailable(request)
    listing = cached_places(snapshot)
    chosen = _filters(request, listing, person)
    table = _visible(listing, person)
    if chosen.open_now:
        table = table.filter((pl.col("state") == "open") & (pl.col("free") > 0))
    for column, value in (("district_id", chosen.district), ("ssyk_code", chosen.occupation),
                          ("placement_type", chosen.placement_type), ("supplier_id", chosen.supplier)):
        if value:
            table = table.filter(pl.col(column) == value)
    total = table.height
    pages = max(1, math.ceil(total / PAGE_SIZE))
    number = min(chosen.page, pages)
    rows = table.slice((number - 1) * PAGE_SIZE, PAGE_SIZE).to_dicts()
    return render(request, "places/list.html", {
        "f": Formats(language(request)), "rows": rows, "total": total, "page": number, "pages": pages,
        "filters": chosen, "listing": listing, "is_supplier": person.role == Role.SUPPLIER,
        "today": snapshot.region.manifest.reference_date})


# --- one place ------------------------------------------------------------------------------------

def _place(snapshot: Snapshot, person: Principal, place_id: str) -> dict[str, Any]:
    """The place's row of the list, with its details; the 404 page when absent or not the person's."""
    listing = cached_places(snapshot)
    found = listing.table.filter(pl.col("place_id") == place_id)
    if found.height != 1 or (person.role == Role.SUPPLIER and found["supplier_id"][0] != person.supplier_id):
        raise PageNotFound()
    row = found.to_dicts()[0]
    region = snapshot.region
    details = region.places.row(int(row["position"]), named=True)
    row.update(details)
    row["state_text"] = listing.states.describe(int(row["position"]))
    last_day = int(listing.states.last_day[int(row["position"])])
    row["last_day"] = dt.date(1970, 1, 1) + dt.timedelta(days=last_day)
    return row


def _proposed_here(conn: sa.Connection, place_id: str) -> set[str]:
    """Candidates with an open proposal to the place now (the database's word, not the snapshot's)."""
    return set(conn.execute(sa.select(_proposals.c.candidate_id).where(
        _proposals.c.place_id == place_id,
        _proposals.c.status.in_([s.value for s in OPEN_PROPOSAL_STATES]))).scalars())


def _k(request: Request) -> int:
    asked = request.query_params.get("k", "")
    return int(asked) if asked.isdigit() and int(asked) in K_CHOICES else DEFAULT_K


async def _shortlist(state: ServiceState, snapshot: Snapshot, person: Principal, place_id: str,
                     k: int) -> dict[str, Any]:
    """The API's shortlist for the person (the same cached answer and audit entry)."""
    district = person.district_id if person.role == Role.LABOUR_MARKET_UNIT else None
    key = cache_key(place_id, k, district)
    answer = await shortlists.cached_answer(state, snapshot, key, place_id, k, district)
    state.audit.add(person, "read", "shortlist", place_id, candidate_ids=answer.candidate_ids)
    found: dict[str, Any] = json.loads(answer.body)
    return found


async def _explanation(state: ServiceState, snapshot: Snapshot, person: Principal, place_id: str,
                       candidate_id: str, k: int) -> dict[str, Any] | None:
    """The explanation operation's answer, or None for a candidate the person may not see."""
    district = person.district_id if person.role == Role.LABOUR_MARKET_UNIT else None
    try:
        answer = await anyio.to_thread.run_sync(
            shortlists.explain_candidate, state, snapshot, place_id, candidate_id, k, district, True, False,
            None)
    except NotFound:
        return None
    state.audit.add(person, "read", "shortlist_explanation", place_id, candidate_ids=[candidate_id])
    return answer


def _line_words(line: dict[str, Any], lang: str) -> dict[str, Any]:
    """A shortlist line's terms, reason, groups and flags in the page's words."""
    translate = words(lang)
    decimal = Formats(lang).decimal
    terms = [(name, term["points"], in_words(term["text"], translate, decimal), term["text"])
             for name, term in line["terms"].items()]
    reason = line["reason"]
    if line["moved_up"]:
        group = reason.split("meet the ", 1)[-1].split(" minimum", 1)[0]
        said = translate("pl_reason_moved_up", group=group_name(group, translate))
    else:
        said = translate("pl_reason_by_score")
    return {**line, "terms_said": terms, "reason_said": said,
            "groups_said": [group_name(g, translate) for g in line.get("groups", [])],
            "flags_said": [(in_words(flag, translate, decimal), flag) for flag in line.get("flags", [])]}


def _explained(explanation: dict[str, Any], lang: str) -> dict[str, Any]:
    translate = words(lang)
    decimal = Formats(lang).decimal

    def failure(item: dict[str, str]) -> tuple[str, str | None, str]:
        if item["rule"] in ("period", "free_slots"):
            return item["rule"], translate(f"pl_w_fail_{item['rule']}"), item["text"]
        return item["rule"], in_words(item["text"], translate, decimal), item["text"]

    return {**explanation,
            "failures_said": [failure(f) for f in explanation["failures"]],
            "held_said": [(h["rule"], in_words(h["text"], translate, decimal), h["text"])
                          for h in explanation["held_back"]],
            "terms_said": [(name, term["points"], in_words(term["text"], translate, decimal), term["text"])
                           for name, term in explanation["terms"].items()]}


async def _place_page(request: Request, place_id: str, person: Principal, state: ServiceState,
                      conn: sa.Connection, *, problems: list[tuple[str, str]] | None = None,
                      checked: set[str] | None = None, status_code: int = 200) -> Response:
    snapshot = state.snapshot
    if snapshot is None:
        return _unavailable(request)
    place = await anyio.to_thread.run_sync(_place, snapshot, person, place_id)
    lang = language(request)
    translate = words(lang)
    context: dict[str, Any] = {"f": Formats(lang), "place": place,
                               "gname": lambda g: group_name(g, translate), "problems": problems or [],
                               "checked": checked or set(), "k": _k(request), "k_choices": K_CHOICES,
                               "shortlist": None, "why": None, "why_id": "", "why_unknown": False,
                               "proposed": [p for p in request.query_params.get("proposed", "").split(",")
                                            if p][:50]}
    if person.role != Role.SUPPLIER:
        try:
            listed = await _shortlist(state, snapshot, person, place_id, context["k"])
        except EngineUnavailable:
            listed = None
        if listed is not None:
            listed["lines"] = [_line_words(line, lang) for line in listed["lines"]]
        context["shortlist"] = listed
        context["proposed_here"] = await anyio.to_thread.run_sync(_proposed_here, conn, place_id)
        why_id = request.query_params.get("why", "").strip()
        if why_id and len(why_id) <= 200:
            context["why_id"] = why_id
            explanation = await _explanation(state, snapshot, person, place_id, why_id, context["k"])
            if explanation is None:
                context["why_unknown"] = True
            else:
                context["why"] = _explained(explanation, lang)
    return render(request, "places/place.html", context, status_code=status_code)


@router.get("/{place_id}")
async def place_page(request: Request, place_id: str, person: PagePlaceReader, state: State,
                     conn: Conn) -> Response:
    return await _place_page(request, place_id, person, state, conn)


@router.post("/{place_id}/propose")
async def propose(request: Request, place_id: str, person: PagePlaceReader, form: CsrfChecked,
                  state: State, conn: Conn) -> Response:
    """Propose the checked lines (``POST /v1/places/{id}/proposals`` as the signed-in person)."""
    if person.role == Role.SUPPLIER:
        raise PageForbidden("forbidden_role")
    chosen = [str(c) for c in form.getlist("candidate_ids") if str(c).strip()]
    translate = words(language(request))
    problems: list[tuple[str, str]] = []
    if not chosen:
        problems.append(("", translate("pl_propose_none_chosen")))
    else:
        try:
            body = ProposeCandidates(candidate_ids=chosen)
        except ValidationError as exc:
            problems += [("", str(e["msg"])) for e in exc.errors()]
        else:
            try:
                made = await anyio.to_thread.run_sync(proposing.propose, place_id, body, person, conn, state)
            except NotFound:
                raise PageNotFound() from None
            except InvalidInput as exc:
                problems += [(_who(e.location, chosen), e.message) for e in exc.errors]
            except OpenProposalExists as exc:
                problems += [(c["candidate_id"], translate(f"pl_conflict_{c['reason']}"))
                             for c in exc.conflicts]
            except Conflict as exc:
                problems.append(("", str(exc)))
            else:
                ids = ",".join(p["candidate_id"] for p in made["proposals"])
                return RedirectResponse(f"/places/{place_id}?proposed={ids}#proposed", status_code=303)
    return await _place_page(request, place_id, person, state, conn, problems=problems, checked=set(chosen),
                             status_code=422)


def _who(location: str, chosen: list[str]) -> str:
    """The candidate a problem's location names (``body.candidate_ids.<i>``), or ``""``."""
    parts = location.split(".")
    if len(parts) == 3 and parts[1] == "candidate_ids" and parts[2].isdigit() and int(parts[2]) < len(chosen):
        return chosen[int(parts[2])]
    return ""
