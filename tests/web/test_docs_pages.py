"""``/docs`` and ``/redoc`` come from the service itself: no host but this one is named."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

#: src=, href=, url( and @import targets in HTML and CSS.
_REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url\(\s*["']?([^"')]+)""")


def references(text: str) -> list[str]:
    return [a or b for a, b in _REFERENCE.findall(text)]


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/sign-in"])
def test_documentation_pages_reference_no_other_host(web: TestClient, path: str) -> None:
    web.cookies.clear()
    answer = web.get(path)
    assert answer.status_code == 200
    found = references(answer.text)
    assert found, "the page loads its assets"
    foreign = [ref for ref in found if re.match(r"(?i)^(?:[a-z][a-z0-9+.-]*:)?//", ref)]
    assert foreign == [], foreign
    for ref in found:
        if ref.startswith("/static/"):
            asset = web.get(ref)
            assert asset.status_code == 200, ref
            if ref.endswith(".css"):  # a stylesheet's own imports and fonts are local too
                assert [r for r in references(asset.text) if re.match(r"(?i)^(?:https?:)?//", r)] == [], ref
    assert "cdn" not in answer.text.lower()


def test_swagger_ui_is_started_without_the_public_validator(web: TestClient) -> None:
    script = web.get("/static/docs-init.js").text
    assert 'url: "/openapi.json"' in script and "validatorUrl: null" in script
