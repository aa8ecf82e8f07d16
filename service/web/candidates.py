"""``/candidates``: the candidates (deltagare) for coordinators and their district's labour-market unit.

- ``/candidates``: the candidates the person may see (a unit: those living in its district; a
  coordinator: everyone, by district), 50 a page, or one found by id; through the API's
  :func:`service.routes.candidates.list_candidates` (the same rows, the same audit entry).
- ``/candidates/{id}``: the profile, the priority groups on the region's reference date, each place
  open now where the person passes every hard rule (best score first, each with a link to the
  place's explanation) and what stops the others (open places failing each rule), the person's
  proposals with their placements, and a form recording an outcome of a proposal
  (``POST /candidates/{id}/outcome``: :func:`service.routes.outcomes.record_outcome` as the signed-in
  person: the same rules and refusals, nothing written on a refusal).

Another district's candidate answers the 404 page of one that does not exist, as the API answers
404; a supplier, an orderer and a researcher get the 403 page (``docs/pages.md``).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import anyio.to_thread
import polars as pl
import sqlalchemy as sa
from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from scoring.domain import age_on, priority_groups
from scoring.exceptions import UnknownEntityError
from service import audit
from service.auth import Principal, Role
from service.db.tables import REGION_TABLES
from service.deps import Conn, State
from service.errors import Conflict, InvalidInput, NotFound
from service.routes import candidates as api
from service.routes.outcomes import Outcome, record_outcome
from service.state import ServiceState
from service.web.formats import Formats
from service.web.pages import CsrfChecked, PageCandidateReader, PageNotFound, language, render, words
from service.web.places import cached_places

router = APIRouter(prefix="/candidates")

PAGE_SIZE = 50
ELIGIBLE_SHOWN = 25
EVENTS = ("started", "completed", "ended_early", "hired")
ENDED_BY = ("supplier", "candidate", "municipality")
CONTRACT_TYPES = ("permanent", "fixed_term", "apprenticeship", "trainee")
_proposals = REGION_TABLES["proposals"]
_placements = REGION_TABLES["placements"]
_places = REGION_TABLES["places"]
_districts = REGION_TABLES["districts"]


def _page_number(asked: str | None) -> int:
    return int(asked) if asked and asked.isdigit() and len(asked) < 7 and int(asked) > 0 else 1


@router.get("")
def candidates_page(request: Request, person: PageCandidateReader, conn: Conn, state: State) -> Response:
    q = request.query_params
    wanted = q.get("id", "").strip()
    if wanted:
        return RedirectResponse(f"/candidates/{wanted}" if len(wanted) <= 200 else "/candidates",
                                status_code=303)
    districts = [(r.district_id, r.name) for r in conn.execute(
        sa.select(_districts.c.district_id, _districts.c.name).order_by(_districts.c.name))]
    district = q.get("district") if q.get("district") in {d for d, _ in districts} else None
    if person.role == Role.LABOUR_MARKET_UNIT:
        district = None  # the API keeps a unit to its own district
    number = _page_number(q.get("page"))
    listed = api.list_candidates(person, conn, state, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE,
                                 district=district)
    pages = max(1, math.ceil(listed.total / PAGE_SIZE))
    if number > pages:
        number = pages
        listed = api.list_candidates(person, conn, state, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE,
                                     district=district)
    names = dict(districts)
    return render(request, "candidates/list.html", {
        "f": Formats(language(request)), "listed": listed, "page": number, "pages": pages,
        "districts": districts, "district": district or "", "names": names,
        "is_unit": person.role == Role.LABOUR_MARKET_UNIT})


# --- one candidate --------------------------------------------------------------------------------

def _groups(candidate: dict[str, Any], state: ServiceState) -> list[str] | None:
    """The candidate's priority groups on the reference date (None before a region is loaded)."""
    snapshot = state.snapshot
    if snapshot is None:
        return None
    today = snapshot.region.manifest.reference_date
    since = pl.Series([candidate["registered_since"]], dtype=pl.Date).to_numpy().astype("datetime64[D]")
    masks = priority_groups(age=age_on([candidate["birth_year"]], today),
                            foreign_born=[bool(candidate["foreign_born"])],
                            disability=[bool(candidate["disability"])],
                            registered_since=since, on=today, policy=snapshot.policy)
    return [group.value for group, mask in masks.items() if bool(mask[0])]


def _open_places(candidate_id: str, state: ServiceState) -> dict[str, Any] | None:
    """The engine's eligibility per open place, with each eligible place's row; None when the
    snapshot does not hold the candidate yet (created a moment ago) or no region is loaded."""
    snapshot = state.snapshot
    if snapshot is None:
        return None
    try:
        found = state.engine.candidate_places(snapshot.prepared, snapshot.policy, candidate_id)
    except UnknownEntityError:
        return None
    listing = cached_places(snapshot).table
    shown = found["eligible"][:ELIGIBLE_SHOWN]
    rows = {r["place_id"]: r for r in listing.filter(
        pl.col("place_id").is_in([e["place_id"] for e in shown])).to_dicts()}
    found["shown"] = [{**e, **rows.get(e["place_id"], {})} for e in shown]
    return found


def _history(conn: sa.Connection, candidate_id: str) -> list[dict[str, Any]]:
    """The candidate's proposals, newest first, each with its place and placement."""
    proposals = conn.execute(
        sa.select(_proposals, _places.c.title, _places.c.supplier_id)
        .join(_places, _places.c.place_id == _proposals.c.place_id)
        .where(_proposals.c.candidate_id == candidate_id)
        .order_by(_proposals.c.created_on.desc(), _proposals.c.proposal_id.desc())).mappings().all()
    placements = {r["proposal_id"]: dict(r) for r in conn.execute(
        sa.select(_placements).where(_placements.c.candidate_id == candidate_id)).mappings()}
    return [{**dict(p), "placement": placements.get(p["proposal_id"])} for p in proposals]


def _candidate_page(request: Request, candidate_id: str, person: Principal, conn: sa.Connection,
                    state: ServiceState, *, problems: list[tuple[str, str]] | None = None,
                    filled: dict[str, str] | None = None, status_code: int = 200) -> Response:
    try:
        if request.method == "GET":
            candidate = api.get_candidate(candidate_id, person, conn, state)  # 404 for another district's
        else:  # a refused form, shown again: the read is audited in the form's own transaction
            candidate = api.own_candidate(conn, person, candidate_id)
            audit.record(conn, person, "read", "candidate", candidate_id, candidate_ids=[candidate_id])
    except NotFound:
        raise PageNotFound() from None
    district = conn.execute(sa.select(_districts.c.name).where(
        _districts.c.district_id == candidate["home_district"])).scalar()
    return render(request, "candidates/candidate.html", {
        "f": Formats(language(request)), "c": candidate, "district_name": district,
        "groups": _groups(candidate, state), "open_places": _open_places(candidate_id, state),
        "history": _history(conn, candidate_id), "problems": problems or [], "filled": filled or {},
        "events": EVENTS, "ended_by": ENDED_BY, "contract_types": CONTRACT_TYPES,
        "today": dt.datetime.now(dt.UTC).date(), "recorded": request.query_params.get("recorded", "")[:200]},
        status_code=status_code)


@router.get("/{candidate_id}")
async def candidate_page(request: Request, candidate_id: str, person: PageCandidateReader, conn: Conn,
                         state: State) -> Response:
    return await anyio.to_thread.run_sync(_candidate_page, request, candidate_id, person, conn, state)


def _field(location: str) -> str:
    """The form field a problem's location names (``body.on`` → ``on``)."""
    return location.split(".", 1)[1] if location.startswith("body.") else ""


@router.post("/{candidate_id}/outcome")
def record(request: Request, candidate_id: str, person: PageCandidateReader, form: CsrfChecked, conn: Conn,
           state: State) -> Response:
    """Record an outcome of one of the candidate's proposals (``POST /v1/proposals/{id}/outcome``)."""
    translate = words(language(request))
    filled = {name: str(form.get(name) or "").strip()
              for name in ("proposal_id", "event", "on", "ended_by", "note", "contract_type")}
    proposal_id = filled["proposal_id"]
    owner = conn.execute(sa.select(_proposals.c.candidate_id)
                         .where(_proposals.c.proposal_id == proposal_id)).scalar()
    problems: list[tuple[str, str]] = []
    if owner != candidate_id:
        problems.append(("proposal_id", translate("cd_no_such_proposal")))
    else:
        values = {k: v for k, v in filled.items() if v and k != "proposal_id"}
        if filled["event"] != "ended_early":
            values.pop("ended_by", None)
            values.pop("note", None)
        if filled["event"] != "hired":
            values.pop("contract_type", None)
        try:
            body = Outcome.model_validate(values)
        except ValidationError as exc:
            for error in exc.errors():
                where = str(error["loc"][0]) if error["loc"] else ""
                problems.append((where, str(error["msg"]).removeprefix("Value error, ")))
        else:
            try:
                record_outcome(proposal_id, body, person, conn, state)
            except NotFound:
                raise PageNotFound() from None
            except InvalidInput as exc:
                problems += [(_field(e.location), e.message) for e in exc.errors]
            except Conflict as exc:
                problems.append(("", str(exc)))
            else:
                return RedirectResponse(f"/candidates/{candidate_id}?recorded={proposal_id}#history",
                                        status_code=303)
    return _candidate_page(request, candidate_id, person, conn, state, problems=problems, filled=filled,
                           status_code=422)
