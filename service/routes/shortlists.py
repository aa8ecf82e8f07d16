"""Shortlists: a ranked list of candidates for one place, with why each is there.

The hot read of the service. Nothing on its path waits for the database: the caller's key comes
from the key cache, the place is checked against the loaded snapshot, the answer comes from the
snapshot's shortlist cache (computed in a worker thread on a miss, encoded once), and the audit
entry is queued for the background writer (:class:`service.audit.AuditQueue`).

Two doors lead to the same answer. The route (:func:`get_shortlist`) is the documented operation,
with FastAPI's validation, dependencies and problem answers. :class:`ShortlistFastPath`, an ASGI
layer in front of the app, answers the common request without FastAPI's routing and dependency
solving, which cost most of a cached answer's time (``benchmarks/README.md``): a GET with no query
or only ``k``, an active key whose role may read shortlists, a place of the loaded snapshot. It
makes the same checks (the key through the same key cache, :meth:`service.auth.KeyCache.check`;
who may read which place's list, and of which candidates, through the same function,
:func:`shortlist_access`, which the route calls too), takes the same cached answer (or the same
shared computation), queues the same audit entry, and sends the same bytes and headers. Every
other request (no key, an unknown or revoked key, a refused role, an unknown place, an invalid
``k``, an error on the way) goes on to the route untouched, so that every refusal is answered in
one place, by the route.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Hashable, Iterable
from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Receive, Scope, Send

from scoring.exceptions import UnknownEntityError
from service.auth import Principal, Role
from service.cache import DEFAULT_K, CachedShortlist, answer_shortlist, cache_key
from service.deps import CANDIDATE_READERS, CandidateReader, Loaded, State, admitted
from service.engine import EngineUnavailable
from service.errors import Forbidden, NotFound, Unavailable, problem_responses
from service.routes._common import POLICY_ID_PATTERN, PathId, StrictQueryRoute
from service.state import ServiceState, Snapshot

router = APIRouter(tags=["shortlists"], route_class=StrictQueryRoute)

MAX_K = 200

SHORTLIST_EXAMPLE = {
    "place_id": "P-0001", "place_title": "Lokalvårdare", "supplier_id": "S-0001", "policy": "gothenburg",
    "k": 10, "fair": True, "include_held_back": False, "min_shares": {"youth": 0.2},
    "counts": {"pool": 1000, "eligible": 140, "held_back": 3, "considered": 137},
    "shortfalls": [],
    "lines": [{"rank": 1, "candidate_id": "C-000001", "score": 71.5, "reason": "best score",
               "moved_up": False, "flags": [], "groups": ["youth"], "distance_km": 3.2,
               "terms": {"competence": {"value": 0.9, "weight": 40, "points": 36.0,
                                        "text": "has 1 of 1 required competences"}}}],
}

#: Shortlists computed at once. The computation holds the GIL most of the time: two threads keep
#: the CPU busy while the event loop still gets its turn to answer cached lists, and further misses
#: queue in order instead of all slowing down together.
COMPUTING_AT_ONCE = 2


#: The roles that may read shortlists (admin among them).
SHORTLIST_READERS = admitted(*CANDIDATE_READERS)


def shortlist_access(caller: Principal, snapshot: Snapshot, place_id: str) -> str | None:
    """Whether ``caller`` may read the shortlist of ``place_id``, and of which candidates: the one
    access check of both doors to a shortlist (the route and :class:`ShortlistFastPath`) and of the
    explanation of a line.

    Returns
    -------
    str or None
        The district whose candidates the list is drawn from (a labour-market unit's own: exactly
        the best of its district), or None for the region's (a coordinator, an admin).

    Raises
    ------
    service.errors.Forbidden
        The caller's role may not read shortlists (a supplier, a researcher, an orderer).
    service.errors.NotFound
        No place ``place_id`` in the snapshot (every role gets the same answer).
    """
    if caller.role not in SHORTLIST_READERS:
        allowed = ", ".join(sorted(r.value for r in SHORTLIST_READERS))
        raise Forbidden(f"a {caller.role.value} key may not do this (allowed: {allowed})")
    if place_id not in snapshot.place_ids:
        raise NotFound(f"no place {place_id!r} that this key may see")
    return caller.district_id if caller.role == Role.LABOUR_MARKET_UNIT else None


def _answer(state: ServiceState, snapshot: Snapshot, place_id: str, k: int, district: str | None,
            fair: bool, include_held_back: bool, policy_id: str | None) -> CachedShortlist:
    policy, prepared = state.for_policy(snapshot, policy_id)  # PolicyError: unknown policy, 404
    try:
        return answer_shortlist(state.engine, prepared, policy, place_id, k, district, fair=fair,
                                include_held_back=include_held_back)
    except EngineUnavailable as exc:
        raise Unavailable(str(exc)) from None


async def cached_answer(state: ServiceState, snapshot: Snapshot, key: Hashable, place_id: str, k: int,
                        district: str | None, *, fair: bool = True, include_held_back: bool = False,
                        policy_id: str | None = None) -> CachedShortlist:
    """The snapshot's cached answer, or one computation in a worker thread shared by all who ask.

    ``key`` is :func:`service.cache.cache_key` of the other arguments; ``policy_id`` None is the
    snapshot's own policy.
    """
    cache = snapshot.shortlists
    answer = cache.get(key)
    if answer is not None:
        return answer
    computing = cache.computing.get(key)
    if computing is None:
        computing = asyncio.ensure_future(anyio.to_thread.run_sync(
            _answer, state, snapshot, place_id, k, district, fair, include_held_back, policy_id,
            limiter=cache.limiter(COMPUTING_AT_ONCE)))
        cache.computing[key] = computing

        def done(future: asyncio.Future[CachedShortlist]) -> None:
            cache.computing.pop(key, None)
            if not future.cancelled() and future.exception() is None:  # exception(): marks it seen
                cache.put(key, future.result())

        computing.add_done_callback(done)
    # shield: a client that goes away must not cancel the computation others wait for.
    return await asyncio.shield(computing)


K = Annotated[int, Query(ge=1, le=MAX_K, description="How many candidates.")]
Fair = Annotated[bool, Query(description="Re-rank so that every priority group with a floor in the policy "
                                         "is represented at every rank; `false`: by score only.")]
IncludeHeldBack = Annotated[bool, Query(
    description="Also list candidates held back (an open proposal elsewhere, a recent decline by the "
                "place's supplier), each flagged on its line.")]
PolicyParam = Annotated[str | None, Query(
    max_length=100, pattern=POLICY_ID_PATTERN, examples=["ostersund-alt1"],
    description="Rank by this policy's rules, weights and groups instead of the region's own "
                "(`GET /v1/policies` lists them; an unknown one answers 404).")]


def _own_policy(snapshot: Snapshot, policy: str | None) -> str | None:
    """``policy``, or None when it is the snapshot's own (so that both share their cached answer)."""
    return None if policy is None or policy == snapshot.policy.id else policy


@router.get("/v1/places/{place_id}/shortlist", summary="A ranked shortlist of candidates for a place",
            response_model=dict[str, Any],
            responses={200: {"content": {"application/json": {"example": SHORTLIST_EXAMPLE}}},
                       **problem_responses(401, 403, 404, 422, 503)})
async def get_shortlist(
    place_id: PathId, caller: CandidateReader, state: State, snapshot: Loaded,
    k: K = DEFAULT_K, fair: Fair = True, include_held_back: IncludeHeldBack = False,
    policy: PolicyParam = None,
) -> Response:
    """Coordinators get the region's best candidates; a labour-market unit exactly the best of its
    own district's candidates. The parameters are those of `platsa shortlist`."""
    district = shortlist_access(caller, snapshot, place_id)
    policy_id = _own_policy(snapshot, policy)
    key = cache_key(place_id, k, district, fair=fair, include_held_back=include_held_back,
                    policy_id=policy_id)
    answer = await cached_answer(state, snapshot, key, place_id, k, district, fair=fair,
                                  include_held_back=include_held_back, policy_id=policy_id)
    state.audit.add(caller, "read", "shortlist", place_id, candidate_ids=answer.candidate_ids)
    return Response(answer.body, media_type="application/json")


class RuleText(BaseModel):
    """One rule of a pair, and what it means here."""

    rule: str = Field(examples=["commute"])
    text: str = Field(examples=["lives 22 km away; accepts at most 15 km"])


class TermPoints(BaseModel):
    """One score term of a pair, as on a shortlist line: ``points = weight · value``."""

    value: float = Field(examples=[0.9])
    weight: float = Field(examples=[40.0])
    points: float = Field(examples=[36.0])
    text: str = Field(examples=["has 1 of 1 required (Lokalvård)"])


class ListStanding(BaseModel):
    """Whether the candidate is on the list the shortlist operation gives with the same parameters."""

    k: int = Field(examples=[10])
    fair: bool = Field(examples=[True])
    include_held_back: bool = Field(examples=[False])
    on_list: bool = Field(examples=[False])
    status: Literal["on_list", "ineligible", "held_back", "outscored", "displaced", "excluded"] = Field(
        description="`on_list`, or why not: a hard rule fails (`ineligible`), a held-back rule applies "
                    "(`held_back`), ranked below k by score (`outscored`), within the top k by score but "
                    "candidates moved up for the group minimums fill the list (`displaced`), outside the "
                    "candidates the list is drawn from (`excluded`; never answered over HTTP, where such a "
                    "candidate is not found).",
        examples=["outscored"])
    rank: int | None = Field(description="Rank on the list, when on it.", examples=[None])
    score_rank: int | None = Field(description="Rank by score among the considered candidates.",
                                   examples=[14])
    considered: int = Field(description="Candidates considered for the list (eligible, and not held "
                                        "back unless they are included).", examples=[37])
    lowest_score: float | None = Field(
        description="The lowest score of a line on the list by its score (not moved up for a minimum).",
        examples=[52.3])
    text: str = Field(examples=["not on the list of 10: rank 14 by score of 37 considered; the lowest score "
                                "on the list by score is 52.3 (-4.1)"])


class ShortlistExplanation(BaseModel):
    """Why a candidate is, or is not, on a place's shortlist (staff only: it holds priority groups)."""

    candidate_id: str = Field(examples=["C-000001"])
    place_id: str = Field(examples=["P-0001"])
    policy: str = Field(examples=["gothenburg"])
    district_id: str | None = Field(default=None, description="A labour-market unit's district.",
                                    examples=[None])
    eligible: bool = Field(examples=[True])
    failures: list[RuleText] = Field(description="Every hard rule the pair fails.", examples=[[]])
    held_back: list[RuleText] = Field(description="Every held-back rule that applies.", examples=[[]])
    score: float = Field(examples=[48.2])
    terms: dict[str, TermPoints]
    standing: ListStanding


def explain_candidate(state: ServiceState, snapshot: Snapshot, place_id: str, candidate_id: str, k: int,
                      district: str | None, fair: bool, include_held_back: bool,
                      policy_id: str | None) -> dict[str, Any]:
    """Why ``candidate_id`` is, or is not, on the place's shortlist with these parameters (blocking: run
    it in a worker thread), as ``GET /v1/places/{id}/shortlist/explain/{candidate_id}`` answers.

    ``policy_id`` None is the snapshot's own policy. The caller has checked access to the place.

    Raises
    ------
    NotFound
        The candidate is unknown, or another district's (the same answer; docs/api.md, "Roles").
    Unavailable
        The engine is not available.
    """
    policy, prepared = state.for_policy(snapshot, policy_id)  # PolicyError: unknown policy, 404
    try:
        return state.engine.explain(prepared, policy, place_id, candidate_id, k=k, district_id=district,
                                    fair=fair, include_held_back=include_held_back)
    except EngineUnavailable as exc:
        raise Unavailable(str(exc)) from None
    except UnknownEntityError:
        # Unknown, or another district's: the same answer (docs/api.md, "Roles").
        raise NotFound(f"no candidate {candidate_id!r} that this key may see") from None


@router.get("/v1/places/{place_id}/shortlist/explain/{candidate_id}",
            summary="Why a candidate is, or is not, on a place's shortlist",
            response_model=ShortlistExplanation,
            responses=problem_responses(401, 403, 404, 422, 503))
async def explain_shortlist_candidate(
    place_id: PathId, candidate_id: PathId, caller: CandidateReader, state: State, snapshot: Loaded,
    k: K = DEFAULT_K, fair: Fair = True, include_held_back: IncludeHeldBack = False,
    policy: PolicyParam = None,
) -> dict[str, Any]:
    """The hard rules the pair fails, the held-back rules that apply, the score's terms, and where the
    candidate stands against the list that the shortlist operation gives with the same parameters.
    A labour-market unit may ask about its own district's candidates only; another district's
    candidate answers 404, as an unknown one does."""
    district = shortlist_access(caller, snapshot, place_id)
    answer = await anyio.to_thread.run_sync(
        explain_candidate, state, snapshot, place_id, candidate_id, k, district, fair, include_held_back,
        _own_policy(snapshot, policy), limiter=snapshot.shortlists.limiter(COMPUTING_AT_ONCE))
    state.audit.add(caller, "read", "shortlist_explanation", place_id, candidate_ids=[candidate_id])
    return answer


# The fast path's view of a request: exactly what the route's path, PathId and k admit, or less.
_PATH = re.compile(r"/v1/places/([^/]+)/shortlist")
_PLACE_ID = re.compile(r"[^\x00-\x1f\x7f]{1,200}")
_QUERY = re.compile(rb"k=([1-9][0-9]{0,2})")
_CONTENT_TYPE = (b"content-type", b"application/json")


def _bearer_token(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The token of the first ``Authorization`` header, read as FastAPI's ``HTTPBearer`` reads it."""
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None


class ShortlistFastPath:
    """ASGI middleware answering ``GET /v1/places/{id}/shortlist`` as the route would, or passing on.

    See the module docstring for what it answers; it is switched off by
    ``PLATSA_SHORTLIST_FAST_PATH=0``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not scope.get("root_path"):
            match = _PATH.fullmatch(scope["path"])
            answer = None if match is None else await self._answer(scope, match.group(1))
            if answer is not None:
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-length", b"%d" % len(answer.body)), _CONTENT_TYPE]})
                await send({"type": "http.response.body", "body": answer.body})
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _answer(scope: Scope, place_id: str) -> CachedShortlist | None:
        """The answer, audited, or None when the route must answer."""
        state: ServiceState | None = getattr(getattr(scope.get("app"), "state", None), "platsa", None)
        if state is None or not state.settings.shortlist_fast_path:
            return None
        snapshot = state.snapshot
        if snapshot is None or not _PLACE_ID.fullmatch(place_id):
            return None
        k = DEFAULT_K
        if scope["query_string"]:
            asked = _QUERY.fullmatch(scope["query_string"])
            if asked is None or int(asked.group(1)) > MAX_K:
                return None
            k = int(asked.group(1))
        token = _bearer_token(scope["headers"])
        if token is None:
            return None
        try:
            caller = await state.keys.check(state.db, token)
            if caller is None:
                return None
            district = shortlist_access(caller, snapshot, place_id)  # a refusal: the route answers it
            answer = await cached_answer(state, snapshot, cache_key(place_id, k, district), place_id, k,
                                          district)
            state.audit.add(caller, "read", "shortlist", place_id, candidate_ids=answer.candidate_ids)
        except Exception:
            # Nothing sent and nothing audited: the route meets the same error and answers it (a
            # problem, logged when it is a bug) in the one place that does.
            return None
        return answer
