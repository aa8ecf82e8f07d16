"""Signing in and out (``/sign-in``, ``/sign-out``): a session cookie for a person's account.

Failed sign-ins are limited twice over (``docs/security.md``, "Personal accounts"): per account in
the database (:func:`service.accounts.sign_in` locks it), and per client address and per unknown
username in this process (:class:`service.gate.FailureLimiter`), so that guessing across many
usernames from one address, or at a name that has no account, is slowed as well.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from service import accounts, audit
from service.deps import get_state
from service.gate import FailureLimiter
from service.state import ServiceState
from service.web.pages import (
    SESSION_COOKIE,
    CsrfChecked,
    MaybePerson,
    PagePerson,
    render,
    safe_next,
    set_session_cookie,
)

router = APIRouter()
StateDep = Annotated[ServiceState, Depends(get_state)]


@dataclass
class _Limits:
    """The process's in-memory limits of failed sign-ins (kept on the app).

    Sign-ins run in the thread pool (argon2 is slow on purpose), and a :class:`FailureLimiter` is
    made for the event loop's one thread: every use here holds ``lock``.
    """

    addresses: FailureLimiter
    unknown_names: FailureLimiter
    exempt: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait(self, addresses: list[str], username: str, now: float, known: bool = False) -> int | None:
        """Seconds until this address, or this unknown username, may try again; None if neither waits."""
        with self.lock:
            waits = [self.addresses.retry_after(addresses, now),
                     None if known else self.unknown_names.retry_after([username], now)]
        return max((w for w in waits if w is not None), default=None)

    def failed(self, addresses: list[str], username: str, now: float, known: bool) -> None:
        with self.lock:
            self.addresses.failed(addresses, now)
            if not known:
                self.unknown_names.failed([username], now)

    def address_names(self, request: Request) -> list[str]:
        address = request.client.host if request.client else "-"
        try:
            if any(ipaddress.ip_address(address) in network for network in self.exempt):
                return []
        except ValueError:
            pass
        return [f"address:{address}"]


_making = threading.Lock()


def _limits(request: Request, state: ServiceState) -> _Limits:
    with _making:
        return _limits_of(request, state)


def _limits_of(request: Request, state: ServiceState) -> _Limits:
    limits: _Limits | None = getattr(request.app.state, "platsa_sign_in_limits", None)
    if limits is None:
        settings = state.settings
        exempt = tuple(ipaddress.ip_network(n.strip(), strict=False)
                       for n in settings.auth_failure_exempt.split(",") if n.strip())
        # An unknown username is held up as an account would be, so that the answers do not tell
        # which usernames exist.
        limits = request.app.state.platsa_sign_in_limits = _Limits(
            FailureLimiter(settings.sign_in_address_limit, settings.sign_in_lockout_s),
            FailureLimiter(settings.sign_in_failure_limit, settings.sign_in_lockout_s), exempt)
    return limits


@router.get("/sign-in")
def sign_in_page(request: Request, person: MaybePerson, next: str = "/") -> Response:
    if person is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "sign_in.html", {"next": safe_next(next), "username": "", "error": None})


@router.post("/sign-in")
def sign_in(request: Request, form: CsrfChecked, state: StateDep) -> Response:
    username = str(form.get("username") or "").strip().lower()
    password = str(form.get("password") or "")
    target = safe_next(str(form.get("next") or "/"))
    settings = state.settings
    limits = _limits(request, state)
    addresses = limits.address_names(request)
    now = time.monotonic()
    context = {"next": target, "username": username}
    if not username or not password:
        return render(request, "sign_in.html", {**context, "error": "sign_in_missing"}, status_code=400)
    wait = limits.wait(addresses, username, now)
    if wait is not None:
        return render(request, "sign_in.html", {**context, "error": "sign_in_locked",
                                                "minutes": math.ceil(wait / 60)}, status_code=429)
    result = accounts.sign_in(state.db, username, password, limit=settings.sign_in_failure_limit,
                              lockout_s=settings.sign_in_lockout_s)
    if result.account is not None:
        with state.writer.begin() as conn:
            stale = request.cookies.get(SESSION_COOKIE)
            if stale:  # a session signed in before on this browser ends: one person, one session here
                accounts.end_session(conn, stale)
            token = accounts.start_session(conn, result.account, idle_s=settings.session_idle_s,
                                           max_s=settings.session_max_s)
            audit.record(conn, result.account.principal, "sign_in", "session")
        response = RedirectResponse(target, status_code=303)
        set_session_cookie(request, response, token)
        return response
    # Locked at the failure that reaches a limit (as the account is): the person is told at once.
    limits.failed(addresses, username, now, result.known)
    retry_after_s = max(result.retry_after_s, limits.wait(addresses, username, now, result.known) or 0)
    if retry_after_s:
        return render(request, "sign_in.html", {**context, "error": "sign_in_locked",
                                                "minutes": math.ceil(retry_after_s / 60)}, status_code=429)
    return render(request, "sign_in.html", {**context, "error": "sign_in_wrong"}, status_code=401)


@router.post("/sign-out")
def sign_out(request: Request, person: PagePerson, form: CsrfChecked, state: StateDep) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    with state.writer.begin() as conn:
        if token:
            accounts.end_session(conn, token)
        audit.record(conn, person, "sign_out", "session")
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
