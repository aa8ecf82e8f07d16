"""What every page shares: rendering, words, the signed-in person, role checks and CSRF.

A page route is an ordinary FastAPI route of a router in :data:`service.web.PAGE_ROUTERS` that
answers HTML through :func:`render`. It takes

- :data:`PagePerson` (or a role alias such as :data:`PageStaff`): the person signed in through a
  session cookie (:mod:`service.accounts`); without a live session the answer is 303 to
  ``/sign-in?next=<path>`` (for a POST, the page the form was on), and a role outside the alias' set
  gets the 403 page. The sets are the API's (:func:`service.deps.admitted`), so a page admits
  exactly whom its API route admits;
- :data:`CsrfChecked` on every POST: the form, once its ``csrf_token`` field matched the session's
  token (or, before sign-in, the token of the ``platsa_csrf`` cookie); otherwise the 403 page and
  nothing changes.

Objects the person may not see and objects that do not exist get the same 404 page
(:class:`PageNotFound`). Words come from ``service/web/words/*.toml`` (Swedish by default, English
after ``?lang=en``, kept in the ``lang`` cookie): ``{{ _("key") }}`` in a template, :func:`words`
in Python.
"""

from __future__ import annotations

import hmac
import re
import secrets
import threading
import tomllib
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode, urlsplit

import jinja2
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup
from starlette.datastructures import FormData

from service import accounts
from service.auth import Principal, Role
from service.deps import admitted, get_state
from service.state import ServiceState, Snapshot

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
WORDS = HERE / "words"

LANGUAGES = ("sv", "en")
DEFAULT_LANGUAGE = "sv"
SESSION_COOKIE = "platsa_session"
CSRF_COOKIE = "platsa_csrf"
LANG_COOKIE = "lang"
CSRF_FIELD = "csrf_token"

#: Pages load only the service's own scripts, styles and images; no frame, no foreign form target.
PAGE_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")

#: A session is recorded as seen at most this often (a write per page view would serialise reads).
TOUCH_EVERY_S = 60.0


# --- words -------------------------------------------------------------------------------------------

class WordsError(ValueError):
    """The word catalogues are inconsistent: ``problems`` names each file, key and what is wrong."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


def load_words(folder: Path = WORDS) -> dict[str, dict[str, str]]:
    """Every key of every ``*.toml`` in ``folder``: key → language → text.

    Raises
    ------
    WordsError
        When a key is defined in two files, is not a table, or lacks a language of :data:`LANGUAGES`
        (every problem at once).
    """
    found: dict[str, dict[str, str]] = {}
    where: dict[str, str] = {}
    problems: list[str] = []
    for path in sorted(folder.glob("*.toml")):
        with path.open("rb") as file:
            catalogue = tomllib.load(file)
        for key, entry in catalogue.items():
            if key in where:
                problems.append(f"{path.name}: key {key!r} is defined in {where[key]} already")
                continue
            where[key] = path.name
            if not isinstance(entry, dict):
                problems.append(f"{path.name}: key {key!r} is not a table with sv and en")
                continue
            missing = [lang for lang in LANGUAGES if not isinstance(entry.get(lang), str) or not entry[lang]]
            if missing:
                problems.append(f"{path.name}: key {key!r} has no text for {', '.join(missing)}")
            found[key] = {lang: str(text) for lang, text in entry.items()}
    if problems:
        raise WordsError(problems)
    return found


_WORDS = load_words()


def words(lang: str) -> Callable[..., str]:
    """The translation function of ``lang``: ``_("key", n=3)`` is the text, with ``{n}`` filled in.

    An unknown key raises :class:`KeyError` (a test renders every page, so a missing word fails there).
    """
    def translate(key: str, /, **values: object) -> str:
        try:
            text = _WORDS[key][lang]
        except KeyError:
            raise KeyError(f"no word {key!r} for {lang!r} in service/web/words/*.toml") from None
        return text.format(**values) if values else text
    return translate


def language(request: Request) -> str:
    """The request's language: ``?lang=`` if given, else the ``lang`` cookie, else Swedish."""
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return asked
    kept = request.cookies.get(LANG_COOKIE)
    return kept if kept in LANGUAGES else DEFAULT_LANGUAGE


def lang_url(request: Request, lang: str) -> str:
    """The current page's path and query with ``lang`` set (the language switch's link)."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"] + [("lang", lang)]
    return f"{request.url.path}?{urlencode(query)}"


# --- signed-in person -----------------------------------------------------------------------------

class PageRedirect(Exception):
    """Answer 303 to ``location`` (a person without a session, sent to sign in)."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


class PageForbidden(Exception):
    """Answer the 403 page; ``reason`` is a word key saying why."""

    def __init__(self, reason: str = "forbidden_role") -> None:
        super().__init__(reason)
        self.reason = reason


class PageNotFound(Exception):
    """Answer the 404 page: the object does not exist or the person may not see it (one answer for both)."""


def safe_next(location: str | None) -> str:
    """``location`` if it is a path on this site (``/…``, not ``//host`` or ``/\\host``), else ``/``."""
    if location and re.fullmatch(r"/(?![/\\])[^\s\\]*", location):
        return location
    return "/"


def _cookie_secure(request: Request) -> bool:
    return request.url.scheme == "https"


def current_session(request: Request, state: ServiceState) -> accounts.Session | None:
    """The request's live session (looked up once per request), recording it as seen now and then."""
    if hasattr(request.state, "session"):
        cached: accounts.Session | None = request.state.session
        return cached
    token = request.cookies.get(SESSION_COOKIE)
    session = None
    if token:
        settings = state.settings
        with state.db.connect() as conn:
            session = accounts.session_of(conn, token, idle_s=settings.session_idle_s,
                                          max_s=settings.session_max_s)
        if session is not None and (accounts.now() - session.last_seen_at).total_seconds() > TOUCH_EVERY_S:
            with state.writer.begin() as conn:
                accounts.touch_session(conn, token)
    request.state.session = session
    return session


def maybe_signed_in(request: Request, state: Annotated[ServiceState, Depends(get_state)]) -> Principal | None:
    session = current_session(request, state)
    return None if session is None else session.principal


def signed_in(request: Request, state: Annotated[ServiceState, Depends(get_state)]) -> Principal:
    """The signed-in person, or a 303 to the sign-in page that comes back here afterwards."""
    session = current_session(request, state)
    if session is None:
        raise PageRedirect("/sign-in?" + urlencode({"next": safe_next(_back_to(request))}))
    return session.principal


def _back_to(request: Request) -> str:
    """Where to come back after signing in: this page, or for a form (a POST) the page it was on."""
    if request.method in ("GET", "HEAD"):
        return request.url.path + (f"?{request.url.query}" if request.url.query else "")
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc == request.url.netloc and referer.path:
        return referer.path + (f"?{referer.query}" if referer.query else "")
    return request.url.path


PagePerson = Annotated[Principal, Depends(signed_in)]
"""The signed-in person (any role)."""
MaybePerson = Annotated[Principal | None, Depends(maybe_signed_in)]
"""The signed-in person, or None (pages that anyone may open)."""


def page_roles(*roles: Role) -> Callable[[Principal], Any]:
    """A dependency admitting exactly whom ``service.deps.require(*roles)`` admits (admin always);
    another role gets the 403 page."""
    allowed = admitted(*roles)

    async def check(person: PagePerson) -> Principal:
        if person.role not in allowed:
            raise PageForbidden("forbidden_role")
        return person

    return check


PageStaff = Annotated[Principal, Depends(page_roles(Role.COORDINATOR))]
"""Coordinator or admin."""
PageCandidateReader = Annotated[Principal, Depends(page_roles(Role.COORDINATOR, Role.LABOUR_MARKET_UNIT))]
PagePlaceReader = Annotated[
    Principal, Depends(page_roles(Role.COORDINATOR, Role.LABOUR_MARKET_UNIT, Role.SUPPLIER))]
PageFollowupReader = Annotated[Principal, Depends(page_roles(Role.COORDINATOR, Role.ORDERER))]
PageAdmin = Annotated[Principal, Depends(page_roles())]


# --- CSRF ---------------------------------------------------------------------------------------------

def csrf_token(request: Request) -> str:
    """The token forms must send: the session's, or before sign-in the ``platsa_csrf`` cookie's
    (made now, and set on the answer by :func:`render`, when the browser has none)."""
    session: accounts.Session | None = getattr(request.state, "session", None)
    if session is not None:
        return session.csrf_token
    token = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if not token:
        token = request.state.new_csrf = secrets.token_urlsafe(32)
    return str(token)


async def checked_form(request: Request, person: MaybePerson) -> FormData:
    """The posted form, once its CSRF token matched; otherwise the 403 page (nothing is done)."""
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    session: accounts.Session | None = request.state.session  # looked up by maybe_signed_in
    expected = session.csrf_token if session is not None else request.cookies.get(CSRF_COOKIE)
    if not isinstance(sent, str) or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise PageForbidden("forbidden_csrf")
    return form


CsrfChecked = Annotated[FormData, Depends(checked_form)]
"""The form of a POST whose CSRF token is right (every POST page route takes it, after its
:data:`PagePerson` or role alias, so that an expired session is sent to sign in rather than refused)."""


# --- computed once per snapshot ------------------------------------------------------------------

T = TypeVar("T")


def per_snapshot(compute: Callable[[Snapshot], T]) -> Callable[[Snapshot], T]:
    """``compute`` of a snapshot, kept until the next snapshot (a new one comes with every write).

    The snapshot is held weakly, so a replaced region is not kept alive for this; two requests
    that find nothing kept may both compute (the result is the same).
    """
    last: list[tuple[weakref.ref[Snapshot], T]] = []
    lock = threading.Lock()

    def cached(snapshot: Snapshot) -> T:
        with lock:
            if last and last[0][0]() is snapshot:
                return last[0][1]
        found = compute(snapshot)
        with lock:
            last[:] = [(weakref.ref(snapshot), found)]
        return found

    cached.__doc__ = compute.__doc__
    return cached


# --- rendering ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NavItem:
    key: str
    """Word key of the link's text."""
    path: str
    roles: frozenset[Role]


#: The links of the header, each shown to the roles whose pages admit them.
NAV = (
    NavItem("nav_overview", "/overview", admitted(Role.COORDINATOR)),
    NavItem("nav_places", "/places", admitted(Role.COORDINATOR, Role.LABOUR_MARKET_UNIT, Role.SUPPLIER)),
    NavItem("nav_candidates", "/candidates", admitted(Role.COORDINATOR, Role.LABOUR_MARKET_UNIT)),
    NavItem("nav_rounds", "/rounds", admitted(Role.COORDINATOR)),
    NavItem("nav_followup", "/followup", admitted(Role.COORDINATOR, Role.ORDERER)),
    NavItem("nav_start", "/start", frozenset({Role.RESEARCHER})),
    NavItem("nav_accounts", "/admin/accounts", admitted()),
    NavItem("nav_docs", "/docs", frozenset(Role)),
)

environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined,
    trim_blocks=True, lstrip_blocks=True,
)


def render(request: Request, template: str, context: Mapping[str, Any] | None = None,
           status_code: int = 200) -> HTMLResponse:
    """The page ``template`` (under ``service/web/templates/``) for ``request``.

    The template sees ``context`` plus ``_`` (words of the request's language), ``lang``,
    ``csrf_field()``, ``person`` (the signed-in :class:`~service.auth.Principal` or None), ``nav``
    (the header's links for that person) and ``lang_url(code)``.
    """
    lang = language(request)
    session: accounts.Session | None = getattr(request.state, "session", None)
    person = None if session is None else session.principal
    path = request.url.path
    nav = [] if person is None else [
        {"key": item.key, "path": item.path, "current": path == item.path or path.startswith(item.path + "/")}
        for item in NAV if person.role in item.roles]

    def csrf_field() -> Markup:
        return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, csrf_token(request))

    values = {"_": words(lang), "lang": lang, "person": person, "nav": nav, "request": request,
              "csrf_field": csrf_field, "lang_url": lambda code: lang_url(request, code), **(context or {})}
    html = environment.get_template(template).render(values)
    response = HTMLResponse(html, status_code=status_code)
    response.headers["content-security-policy"] = PAGE_CSP
    response.headers["cache-control"] = "no-store"  # pages show personal data: never kept by a cache
    # The service's own pages learn which page a form was sent from (after an ended session, sign-in
    # leads back there); no other site is ever told. Page URLs carry no sensitive data.
    response.headers["referrer-policy"] = "same-origin"
    secure = _cookie_secure(request)
    if request.query_params.get("lang") in LANGUAGES and request.cookies.get(LANG_COOKIE) != lang:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86_400, samesite="lax", secure=secure)
    new_csrf = getattr(request.state, "new_csrf", None)
    if new_csrf:
        response.set_cookie(CSRF_COOKIE, new_csrf, httponly=True, samesite="lax", secure=secure)
    return response


def set_session_cookie(request: Request, response: HTMLResponse | Any, token: str) -> None:
    """Put the session's token in its cookie: HttpOnly, SameSite=Lax, Secure over https; no expiry
    date (the server ends the session: :mod:`service.accounts`)."""
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=_cookie_secure(request),
                        path="/")
