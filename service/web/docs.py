"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) from vendored assets: they work with no internet.

The assets are the npm registry's ``swagger-ui-dist`` and ``redoc`` packages, unpacked under
``service/web/static/vendor/`` (their licences beside them); both read ``/openapi.json``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from service.web.pages import MaybePerson, render

router = APIRouter()

#: Swagger UI and ReDoc set styles from script and ReDoc searches in a worker made from a blob;
#: everything is still loaded from this service only.
DOCS_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "worker-src 'self' blob:; script-src 'self'; base-uri 'none'; frame-ancestors 'none'")


def _docs(request: Request, template: str) -> Response:
    response = render(request, template)
    response.headers["content-security-policy"] = DOCS_CSP
    response.headers["referrer-policy"] = "no-referrer"  # no form here to come back to after sign-in
    return response


@router.get("/docs")
def swagger_ui(request: Request, person: MaybePerson) -> Response:
    return _docs(request, "docs/swagger.html")


@router.get("/redoc")
def redoc(request: Request, person: MaybePerson) -> Response:
    return _docs(request, "docs/redoc.html")
