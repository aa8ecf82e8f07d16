"""The web pages: server-rendered HTML (Jinja2) over the API's own access checks (``docs/pages.md``).

:func:`install` mounts the packaged assets at ``/static``, includes every router of
:data:`PAGE_ROUTERS` (kept out of the OpenAPI document: pages are not API), serves ``/docs`` and
``/redoc`` from vendored Swagger UI and ReDoc. The pages' redirects, 403 and 404 (and a browser's
request for an address with no page, outside the API) are answered as pages by the app's one
module of exception handlers, :mod:`service.handlers`.
Shared pieces (rendering, words, the signed-in person, role checks, CSRF) are in
:mod:`service.web.pages`.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from service.web import admin, candidates, docs, followup, home, overview, places, rounds, sign_in
from service.web.pages import STATIC

#: Every page router; each area adds its own line.
PAGE_ROUTERS = [
    sign_in.router,
    home.router,
    admin.router,
    docs.router,
    overview.router,  # the region overview (docs/pages.md)
    places.router,
    candidates.router,
    rounds.router,
    followup.router,
]


def install(app: FastAPI) -> None:
    """Mount ``/static`` and include the page routers."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in PAGE_ROUTERS:
        app.include_router(router, include_in_schema=False)
