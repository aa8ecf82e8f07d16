"""``/admin/accounts``: an admin lists, creates and disables personal accounts.

The page calls :func:`service.accounts.create_account` and :func:`service.accounts.disable_account`,
as ``platsa account`` does: one set of rules (username, password, the role's binding checked as an
API key's) for both.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from service import accounts, audit
from service.auth import Role
from service.deps import get_state
from service.state import ServiceState
from service.web.pages import CsrfChecked, PageAdmin, PageNotFound, render

router = APIRouter(prefix="/admin")
StateDep = Annotated[ServiceState, Depends(get_state)]


def _page(request: Request, state: ServiceState, *, form: dict[str, str] | None = None,
          problems: tuple[str, ...] = (), warnings: tuple[str, ...] = (), status_code: int = 200) -> Response:
    with state.db.connect() as conn:
        listed = accounts.list_accounts(conn)
    # The districts a binding may name, offered as the field's suggestions (a region has a dozen or
    # two; its suppliers may be thousands, too many to send with every view of the page).
    region = None if state.snapshot is None else state.snapshot.region
    districts = [] if region is None else list(zip(region.districts["district_id"].to_list(),
                                                   region.districts["name"].to_list(), strict=True))
    return render(request, "admin/accounts.html", {
        "accounts": listed, "roles": [r.value for r in Role], "form": form or {}, "problems": problems,
        "field_problems": {field: [p for p in problems if accounts.AccountError.field_of(p) == field]
                           for field in ("username", "password", "role", "district_id", "supplier_id")},
        "districts": districts, "now": accounts.now(),
        "warnings": warnings,
        "done": next(((what, name) for what in ("created", "disabled")
                      if (name := request.query_params.get(what))), None),
        "min_password": accounts.MIN_PASSWORD}, status_code=status_code)


@router.get("/accounts")
def accounts_page(request: Request, person: PageAdmin, state: StateDep) -> Response:
    return _page(request, state)


@router.post("/accounts")
def create(request: Request, person: PageAdmin, form: CsrfChecked, state: StateDep) -> Response:
    fields = {name: str(form.get(name) or "").strip()
              for name in ("username", "display_name", "role", "district_id", "supplier_id")}
    try:
        with state.writer.begin() as conn:
            created = accounts.create_account(
                conn, username=fields["username"], password=str(form.get("password") or ""),
                role=fields["role"], district_id=fields["district_id"] or None,
                supplier_id=fields["supplier_id"] or None, display_name=fields["display_name"])
            audit.record(conn, person, "create", "account", created.account.username)
    except accounts.AccountError as exc:
        return _page(request, state, form=fields, problems=exc.problems, status_code=422)
    if created.warnings:
        return _page(request, state, warnings=created.warnings)
    return RedirectResponse(f"/admin/accounts?created={created.account.username}", status_code=303)


@router.post("/accounts/{username}/disable")
def disable(request: Request, username: str, person: PageAdmin, form: CsrfChecked,
            state: StateDep) -> Response:
    with state.writer.begin() as conn:
        if not accounts.disable_account(conn, username):
            raise PageNotFound()
        audit.record(conn, person, "update", "account", username, detail="disabled")
    return RedirectResponse(f"/admin/accounts?disabled={username}", status_code=303)
