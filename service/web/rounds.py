"""``/rounds``: allocation rounds for coordinators (and admins), over the API's own round functions.

Pages: the list and the form that starts a round; a round's page, which follows its job while it
runs (htmx asks for the page's progress box every second; without JavaScript the page reloads
itself) and reviews it once it succeeded (districts against keys, groups against floors); its
assignments and its unassigned candidates, paged; re-running it with pairs pinned or removed;
comparing it with another round; publishing it, with the conflicts shown first; and downloading it
as CSV or XLSX. Every page calls the function of :mod:`service.routes.rounds` that the API route
calls, with the signed-in person as the caller: one access check, one audit, one set of rules.
No GET solves anything: the pages show what the round's job stored. The API's functions refuse
(422, 404, 409) before they write anything, so a page that shows their refusal has written nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from scoring.exceptions import PolicyError
from service.deps import Conn, State
from service.errors import Conflict, InvalidInput, NotFound
from service.integration.lifecycle import OpenProposalExists
from service.routes import rounds as api
from service.routes.policies import list_policies
from service.state import ServiceState
from service.web import round_files
from service.web import round_views as views
from service.web.formats import Formats
from service.web.pages import CsrfChecked, PageNotFound, PageStaff, language, render, words

router = APIRouter(prefix="/rounds")


@contextmanager
def _api() -> Iterator[None]:
    """An object the API answers 404 for is the pages' 404 (the same page for "not there" and "not
    yours")."""
    try:
        yield
    except NotFound:
        raise PageNotFound() from None


def _context(request: Request, **values: Any) -> dict[str, Any]:
    lang = language(request)
    f = Formats(lang)

    def why(text: str) -> str | None:
        return views.explanation_words(text, words(lang), f.decimal)

    return {"f": f, "why": why, "reasons": views.REASONS, **values}


def _unavailable(request: Request) -> Response:
    return render(request, "rounds/unavailable.html", _context(request), status_code=503)


def _policies(person: Any, state: ServiceState) -> list[Any]:
    return list_policies(person, state)


# --- the list and a new round ---------------------------------------------------------------------

def _list_page(request: Request, person: Any, conn: Any, state: ServiceState, *,
               filled: views.RoundForm = views.DEFAULT_FORM, problems: views.FormProblems | None = None,
               status_code: int = 200) -> Response:
    listed = views.round_list(conn, person, views.page_offset(request.query_params.get("page")))
    return render(request, "rounds/list.html", _context(
        request, listed=listed, policies=_policies(person, state), form=filled,
        problems=problems or views.FormProblems({}), objectives=views.OBJECTIVES, methods=views.METHODS,
        on_infeasible=views.ON_INFEASIBLE), status_code=status_code)


@router.get("")
def rounds_page(request: Request, person: PageStaff, conn: Conn, state: State) -> Response:
    return _list_page(request, person, conn, state)


@router.post("")
def start_round(request: Request, person: PageStaff, form: CsrfChecked, conn: Conn, state: State) -> Response:
    """Start a round from the form (``POST /v1/rounds``); its page follows it."""
    snapshot = state.snapshot
    if snapshot is None:
        return _unavailable(request)
    translate = words(language(request))
    filled = views.read_round_form(form)
    body, pins, problems = views.round_body(filled, form, translate)
    if body is not None:
        try:
            started = api.create(body, person, conn, state, snapshot, Response())
        except InvalidInput as exc:
            problems = views.api_problems(exc.errors, pins, "removals")
        except (NotFound, PolicyError) as exc:  # an unknown policy, or one that cannot be read
            problems = views.FormProblems({"policy_id": [str(exc)]})
        else:
            return RedirectResponse(f"/rounds/{started['round_id']}", status_code=303)
    return _list_page(request, person, conn, state, filled=filled, problems=problems, status_code=422)


# --- one round ------------------------------------------------------------------------------------

@router.get("/{round_id}")
def round_page(request: Request, round_id: str, person: PageStaff, conn: Conn) -> Response:
    """The round: its progress while its job runs, its review once it succeeded."""
    with _api():
        shown = views.round_view(conn, person, round_id)
    response = render(request, "rounds/round.html", _context(
        request, round=shown, published=request.query_params.get("published"),
        skipped=request.query_params.get("skipped"), cancelled=request.query_params.get("cancelled")))
    if request.headers.get("hx-request") and not shown.progress.active:
        response.headers["HX-Refresh"] = "true"  # the job ended: the whole page changes (the review)
    return response


@router.post("/{round_id}/cancel")
def cancel_round(request: Request, round_id: str, person: PageStaff, form: CsrfChecked, conn: Conn,
                 state: State) -> Response:
    """Stop a queued or running round (``POST /v1/rounds/{id}/cancel``)."""
    with _api():
        try:
            api.cancel(round_id, person, conn, state, Response())
        except Conflict:  # it ended meanwhile: its page says how
            return RedirectResponse(f"/rounds/{round_id}?cancelled=too-late", status_code=303)
    return RedirectResponse(f"/rounds/{round_id}?cancelled=yes", status_code=303)


@router.get("/{round_id}/assignments")
def assignments_page(request: Request, round_id: str, person: PageStaff, conn: Conn,
                     state: State) -> Response:
    with _api():
        shown = views.round_view(conn, person, round_id)
        listed = views.assignments(conn, state, person, round_id,
                                   views.page_offset(request.query_params.get("page")))
    return render(request, "rounds/assignments.html", _context(request, round=shown, listed=listed))


@router.get("/{round_id}/unassigned")
def unassigned_page(request: Request, round_id: str, person: PageStaff, conn: Conn, state: State) -> Response:
    reason = request.query_params.get("reason") or None
    with _api():
        shown = views.round_view(conn, person, round_id)
        listed = views.unassigned(conn, state, person, round_id, reason,
                                  views.page_offset(request.query_params.get("page")))
    return render(request, "rounds/unassigned.html", _context(
        request, round=shown, listed=listed, reason=reason if reason in views.REASONS else None))


# --- re-run ---------------------------------------------------------------------------------------

def _rerun_page(request: Request, person: Any, conn: Any, shown: views.RoundView, *,
                values: dict[str, str] | None = None, problems: views.FormProblems | None = None,
                status_code: int = 200) -> Response:
    return render(request, "rounds/rerun.html", _context(
        request, round=shown, values=values or {}, problems=problems or views.FormProblems({}),
        rules=views.OVERRIDABLE), status_code=status_code)


@router.get("/{round_id}/rerun")
def rerun_form(request: Request, round_id: str, person: PageStaff, conn: Conn) -> Response:
    with _api():
        shown = views.round_view(conn, person, round_id)
    return _rerun_page(request, person, conn, shown)


@router.post("/{round_id}/rerun")
def rerun(request: Request, round_id: str, person: PageStaff, form: CsrfChecked, conn: Conn,
          state: State) -> Response:
    """A new round from this one with more pairs pinned or removed (``POST /v1/rounds/{id}/rerun``):
    checked rows of the assignments page, ``CANDIDATE:PLACE`` lines, and one typed pin with its
    override."""
    snapshot = state.snapshot
    if snapshot is None:
        return _unavailable(request)
    translate = words(language(request))
    with _api():
        shown = views.round_view(conn, person, round_id)
    problems: dict[str, list[str]] = {}
    pins = [views.PinInput(c, p, "pins") for c, p in views.pairs_of(form, "pins", problems, translate)]
    typed = views.new_pin(form, problems, translate)
    if typed is not None:
        pins.append(typed)
    removals = views.pairs_of(form, "removals", problems, translate)
    values = {"pins": "\n".join(f"{p.candidate_id}:{p.place_id}" for p in pins if p.field == "pins"),
              "removals": "\n".join(f"{c}:{p}" for c, p in removals),
              **{k: str(form.get(k) or "") for k in ("pin_candidate", "pin_place", "override_reason")},
              **{f"override_{r}": "on" for r in views.OVERRIDABLE if form.get(f"override_{r}")}}
    if not problems and not pins and not removals:
        problems[""] = [translate("rd_error_nothing_to_rerun")]
    found = views.FormProblems(problems)
    if not found:
        try:
            body = api.Rerun.model_validate({
                "pins": [p.body() for p in pins],
                "removals": [{"candidate_id": c, "place_id": p} for c, p in removals]})
        except ValidationError as exc:  # the override's reason too short, too many pairs, ...
            found = views.FormProblems({"override_reason" if "override" in e["loc"] else "": [str(e["msg"])]
                                        for e in exc.errors()})
        else:
            try:
                started = api.rerun(round_id, body, person, conn, state, snapshot, Response())
            except InvalidInput as exc:
                found = views.api_problems(exc.errors, pins, "removals")
            except Conflict as exc:
                found = views.FormProblems({"": [exc.detail]})
            else:
                return RedirectResponse(f"/rounds/{started['round_id']}", status_code=303)
    return _rerun_page(request, person, conn, shown, values=values, problems=found, status_code=422)


# --- compare --------------------------------------------------------------------------------------

@router.get("/{round_id}/compare")
def compare_page(request: Request, round_id: str, person: PageStaff, conn: Conn) -> Response:
    """``?other=`` compares this round (A) with another (B): who moved, score, districts and groups."""
    other = request.query_params.get("other") or ""
    with _api():
        shown = views.round_view(conn, person, round_id)
        candidates = [r for r in views.round_list(conn, person, 0).items
                      if r.status == "succeeded" and r.round_id != round_id]
        compared, refused = None, None
        if other:
            try:
                compared = views.comparison(conn, person, round_id, other,
                                            views.page_offset(request.query_params.get("page")))
            except Conflict as exc:
                refused = exc.detail
    return render(request, "rounds/compare.html", _context(
        request, round=shown, other=other, others=candidates, compared=compared, refused=refused),
        status_code=409 if refused else 200)


# --- publish --------------------------------------------------------------------------------------

def _publish_page(request: Request, shown: views.RoundView, conflicts: list[views.ConflictLine] | None, *,
                  choice: str = "refuse", refused: str | None = None, status_code: int = 200) -> Response:
    """``conflicts`` None: not checked yet (the first step); a list: checked, the confirm step."""
    return render(request, "rounds/publish.html", _context(
        request, round=shown, conflicts=conflicts, choice=choice, choices=views.PUBLISH_CHOICES,
        refused=refused), status_code=status_code)


@router.get("/{round_id}/publish")
def publish_form(request: Request, round_id: str, person: PageStaff, conn: Conn) -> Response:
    """The first step: what publishing does, and a button that checks every assignment for conflicts.

    The check re-reads the region for every assignment, as publishing does, which takes seconds for a
    region-wide round: it is an action the coordinator asks for (a POST), never part of opening a page."""
    with _api():
        shown = views.round_view(conn, person, round_id)
    return _publish_page(request, shown, None)


@router.post("/{round_id}/publish/check")
def publish_check(request: Request, round_id: str, person: PageStaff, form: CsrfChecked, conn: Conn,
                  state: State) -> Response:
    """The confirm step: every conflict publishing now would meet, first; then the choice and the button.
    Nothing is written."""
    with _api():
        shown = views.round_view(conn, person, round_id)
        conflicts = views.pending_conflicts(conn, state, person, round_id)
    return _publish_page(request, shown, conflicts)


@router.post("/{round_id}/publish")
def publish(request: Request, round_id: str, person: PageStaff, form: CsrfChecked, conn: Conn,
            state: State) -> Response:
    """Publish (``POST /v1/rounds/{id}/publish``): all or nothing, or as ``on_open_proposal`` says."""
    snapshot = state.snapshot
    if snapshot is None:
        return _unavailable(request)
    choice = str(form.get("on_open_proposal") or "refuse")
    with _api():
        shown = views.round_view(conn, person, round_id)
        if choice not in views.PUBLISH_CHOICES:
            return _publish_page(request, shown, None, refused=words(language(request))("rd_error_choice"),
                                 status_code=422)
        try:
            done = api.publish(round_id, person, conn, state, snapshot,
                               api.PublishRound(on_open_proposal=choice))  # type: ignore[arg-type]
        except OpenProposalExists as exc:
            return _publish_page(request, shown, views.conflict_lines(exc.conflicts), choice=choice,
                                 refused="conflicts", status_code=409)
        except Conflict as exc:
            return _publish_page(request, shown, None, choice=choice, refused=exc.detail, status_code=409)
    return RedirectResponse(
        f"/rounds/{round_id}?published={done.proposals_created}&skipped={len(done.skipped)}", status_code=303)


# --- download -------------------------------------------------------------------------------------

@router.get("/{round_id}/download.csv")
def download_csv(request: Request, round_id: str, person: PageStaff, conn: Conn, state: State) -> Response:
    lang = language(request)
    with _api():
        content = round_files.round_csv(conn, state, person, round_id, words(lang), Formats(lang).decimal)
    return Response(content, media_type=round_files.CSV,
                    headers={"Content-Disposition": f'attachment; filename="round-{round_id}.csv"'})


@router.get("/{round_id}/download.xlsx")
def download_xlsx(request: Request, round_id: str, person: PageStaff, conn: Conn, state: State) -> Response:
    lang = language(request)
    with _api():
        content = round_files.round_xlsx(conn, state, person, round_id, words(lang), Formats(lang).decimal)
    return Response(content, media_type=round_files.XLSX,
                    headers={"Content-Disposition": f'attachment; filename="round-{round_id}.xlsx"'})
