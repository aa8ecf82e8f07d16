"""``/``: each person's start page, and ``/start`` for the roles that have no pages of their own."""

from __future__ import annotations

import threading
import weakref

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute, iter_route_contexts

from service.auth import Principal, Role
from service.models import Aggregates
from service.routes.aggregates import candidate_aggregates
from service.state import ServiceState, Snapshot
from service.web.pages import MaybePerson, PagePerson, render

router = APIRouter()

#: Where ``/`` sends each role: the first page of its work (docs/pages.md, "Roles").
START_PAGES = {
    Role.ADMIN: "/overview",
    Role.COORDINATOR: "/overview",
    Role.LABOUR_MARKET_UNIT: "/places",
    Role.SUPPLIER: "/places",
    Role.ORDERER: "/followup",
    Role.RESEARCHER: "/start",
}


@router.get("/")
def home(request: Request, person: MaybePerson) -> Response:
    if person is None:
        return RedirectResponse("/sign-in", status_code=303)
    start_page = START_PAGES[person.role]
    # A build without the role's pages (an area not installed) starts on /start, which links them.
    return RedirectResponse(start_page if _served(request, start_page) else "/start", status_code=303)


def _served(request: Request, path: str) -> bool:
    """Whether the app has a GET page at ``path``."""
    routes = (context.original_route for context in iter_route_contexts(request.app.router.routes))
    return any(isinstance(route, APIRoute) and route.path == path and "GET" in (route.methods or ())
               for route in routes)


@router.get("/start")
def start(request: Request, person: PagePerson) -> Response:
    """What the person may reach: for a researcher the API's aggregates (small cells suppressed),
    read through the API route itself, so the page shows exactly what the API would."""
    aggregates = None
    unavailable = None
    if person.role in (Role.RESEARCHER, Role.COORDINATOR, Role.ADMIN):
        state: ServiceState = request.app.state.platsa
        snapshot = state.snapshot
        if snapshot is None:
            unavailable = "no_region"
        else:
            aggregates = _aggregates(person, snapshot)
    return render(request, "start.html", {"aggregates": aggregates, "unavailable": unavailable})



#: The last snapshot's table: the suppression over a large pool costs about 60 ms, and the figures
#: change only with the region (a new snapshot). The snapshot is held weakly: a replaced region is
#: not kept alive for this.
_last: tuple[weakref.ref[Snapshot], dict[str, object]] | None = None
_last_lock = threading.Lock()


def _aggregates(person: Principal, snapshot: Snapshot) -> dict[str, object]:
    global _last
    with _last_lock:
        if _last is not None and _last[0]() is snapshot:
            return _last[1]
    table = _table(candidate_aggregates(person, snapshot))
    districts = snapshot.region.districts
    table["names"] = dict(zip(districts["district_id"].to_list(), districts["name"].to_list(), strict=True))
    with _last_lock:
        _last = (weakref.ref(snapshot), table)
    return table


def _table(aggregates: Aggregates) -> dict[str, object]:
    """The aggregates as a table: a row per district, a column per group (``all`` first)."""
    groups = list(dict.fromkeys(cell.group for cell in aggregates.cells))
    rows: dict[str, dict[str, int | None]] = {}
    for cell in aggregates.cells:
        rows.setdefault(cell.district_id, {})[cell.group] = cell.count
    return {"groups": groups, "rows": rows, "total": aggregates.total,
            "min_cell_size": aggregates.min_cell_size}
