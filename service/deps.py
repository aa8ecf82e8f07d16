"""Dependencies of the routes, as ``Annotated`` aliases (one import per route module).

``Conn`` is a database connection inside one transaction per request (committed when the route
returns, rolled back on error). ``Caller`` is the authenticated principal; ``require(...)`` narrows
it to roles. Object-level checks (which district, which supplier) live beside the queries, in the
routes, through the helpers here.

The dependencies that do no I/O are ``async``: FastAPI runs a plain ``def`` dependency in its
thread pool, a hop that costs more than the work. The key check answers from the process's key
cache and goes to the database (in the pool) only for a key it has not seen lately.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated, TypeVar

import sqlalchemy as sa
from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service import changes
from service.auth import Principal, Role
from service.errors import Forbidden, ServiceError, Unavailable
from service.state import ServiceState, Snapshot

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer platsa_...`")


class Unauthorized(ServiceError):
    status, slug, title = 401, "unauthorized", "Unauthorized"


async def get_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.platsa
    return state


State = Annotated[ServiceState, Depends(get_state)]


def get_conn(state: State, request: Request) -> Iterator[sa.Connection]:
    # Reads run in a plain transaction; requests that change data take the write lock at once.
    # Reads that are audited write their entry apart (service.audit.record_apart).
    if request.method in ("GET", "HEAD"):
        with state.db.begin() as conn:
            yield conn
        return
    before = state.writes
    counted = 0
    with state.writer.begin() as conn:
        yield conn
        if state.writes != before:  # the route wrote region data: every process is told, on commit
            counted = changes.count(conn)
    if counted:
        # The route counted its write before the commit, so a background rebuild that read the rows
        # in between holds a snapshot that passes for current without the write. Counted again now
        # that it is committed, no snapshot read before this point passes for current: the next
        # round (ServiceState.fresh_snapshot) rebuilds first.
        state.counted(counted)


# scope="function": commit before the answer leaves, so that a client's next request sees the write.
Conn = Annotated[sa.Connection, Depends(get_conn, scope="function")]


#: Where :class:`service.gate.RequestGate` leaves the principal it authenticated (before the body).
PRINCIPAL_SCOPE_KEY = "platsa.principal"


async def get_caller(
    request: Request, state: State,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    checked: Principal | None = request.scope.get(PRINCIPAL_SCOPE_KEY)
    if checked is not None:  # the gate checked the key before the body was read
        return checked
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("send an API key as `Authorization: Bearer <key>`")
    # A short connection of its own when the cache cannot answer: the key check must not wait on
    # the request's transaction.
    principal = await state.keys.check(state.db, credentials.credentials)
    if principal is None:
        raise Unauthorized("unknown or revoked API key")
    return principal


Caller = Annotated[Principal, Depends(get_caller)]


def admitted(*roles: Role) -> frozenset[Role]:
    """The roles that ``require(*roles)`` admits: ``roles`` and admin."""
    return frozenset({Role.ADMIN, *roles})


F = TypeVar("F", bound=Callable[..., object])
#: Each role check made by :func:`require` (or registered by :func:`role_check`) → the roles it admits.
_ROLE_CHECKS: dict[Callable[..., object], frozenset[Role]] = {}


def role_check(roles: frozenset[Role]) -> Callable[[F], F]:
    """Register ``check`` as a dependency that admits only ``roles``, so that the gate can refuse
    another role (403) before it reads the request's body (:func:`roles_of`)."""
    def register(check: F) -> F:
        _ROLE_CHECKS[check] = roles
        return check
    return register


def require(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency admitting only ``roles`` (admin is always admitted)."""
    allowed = admitted(*roles)
    names = ", ".join(sorted(r.value for r in allowed))

    @role_check(allowed)
    async def check(caller: Caller) -> Principal:
        if caller.role not in allowed:
            raise Forbidden(f"a {caller.role.value} key may not do this (allowed: {names})")
        return caller

    return check


def _calls(dependant: Dependant) -> Iterator[Callable[..., object]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def needs_key(dependant: Dependant) -> bool:
    """Whether an operation authenticates its caller (one of its dependencies is the key check)."""
    return any(call is get_caller for call in _calls(dependant))


def roles_of(dependant: Dependant) -> frozenset[Role] | None:
    """The roles every role check of an operation admits (None: no role check but the key's)."""
    found = [_ROLE_CHECKS[call] for call in _calls(dependant) if call in _ROLE_CHECKS]
    return frozenset.intersection(*found) if found else None


Staff = Annotated[Principal, Depends(require(Role.COORDINATOR))]
"""Admin or coordinator."""
CANDIDATE_READERS = (Role.COORDINATOR, Role.LABOUR_MARKET_UNIT)
CandidateReader = Annotated[Principal, Depends(require(*CANDIDATE_READERS))]
PlaceReader = Annotated[
    Principal, Depends(require(Role.COORDINATOR, Role.LABOUR_MARKET_UNIT, Role.SUPPLIER))
]
Admin = Annotated[Principal, Depends(require())]
AnyRole = Caller


async def get_snapshot(state: State) -> Snapshot:
    snapshot = state.snapshot
    if snapshot is None:
        raise Unavailable(state.unavailable
                          or "no region has been imported yet (POST /v1/region/import, or serve --demo)")
    return snapshot


Loaded = Annotated[Snapshot, Depends(get_snapshot)]
