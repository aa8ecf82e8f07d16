"""The region overview (``/overview``): its figures against what the test reads from the database
itself, who may open it (tested by URL), its pages and its languages."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from scoring.policy import load_named_policy
from service.auth import Role
from service.db.tables import REGION_TABLES, region_meta
from tests.web.conftest import app_db

_placements = REGION_TABLES["placements"]
_candidates = REGION_TABLES["candidates"]
_districts = REGION_TABLES["districts"]


def _today_and_policy(client: TestClient) -> tuple[dt.date, str]:
    with app_db(client).connect() as conn:
        row = conn.execute(sa.select(region_meta.c.reference_date, region_meta.c.policy)).one()
    return row.reference_date, row.policy


def _ongoing_by_district(client: TestClient, today: dt.date) -> Counter[str]:
    query = (sa.select(_candidates.c.home_district)
             .select_from(_placements.join(_candidates, _placements.c.candidate_id == _candidates.c.candidate_id))
             .where(_placements.c.started_on <= today,
                    sa.or_(_placements.c.ended_on.is_(None), _placements.c.ended_on > today)))
    with app_db(client).connect() as conn:
        return Counter(conn.execute(query).scalars())


def _table_rows(html: str, table_id: str) -> list[list[str]]:
    body = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0].split("<tbody>", 1)[1]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body, flags=re.S)
    return [[re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
            for row in rows]


def test_the_districts_against_their_keys_as_the_database_has_them(
        web: TestClient, sign_in: Callable[..., str]) -> None:
    sign_in(web, Role.COORDINATOR)
    answer = web.get("/overview")
    assert answer.status_code == 200
    today, policy_id = _today_and_policy(web)
    policy = load_named_policy(policy_id)
    counts = _ongoing_by_district(web, today)
    total = sum(counts.values())
    with app_db(web).connect() as conn:
        names = {r.district_id: r.name for r in conn.execute(sa.select(_districts.c.district_id, _districts.c.name))}
    rows = {row[0]: row for row in _table_rows(answer.text, "districts-table")}
    assert set(rows) == set(names.values())
    for district_id, name in names.items():
        placed = counts.get(district_id, 0)
        share = placed / total if total else None
        key = policy.distribution.keys.get(district_id)
        row = rows[name]
        assert int(row[1]) == placed
        assert row[2] == ("–" if share is None else f"{share * 100:.0f} %")
        assert row[3] == ("–" if key is None else f"{key * 100:.0f} %")
        if key is None:
            verdict = "ingen nyckel"
        elif share is not None and share < key - policy.distribution.tolerance:
            verdict = "under nyckeln"
        elif share is not None and share > key + policy.distribution.tolerance:
            verdict = "över nyckeln"
        else:
            verdict = "inom nyckeln"
        assert row[5] == verdict, name
        # The tile says the same, in words (colour is never the only signal).
        assert re.search(rf"<g class=\"tile tile-\w+\">.*?{re.escape(name[:20])}.*?{verdict}</text>",
                         answer.text, re.S), name
    assert '<svg class="tile-map"' in answer.text and "<title id=\"tile-map-title\">" in answer.text


def test_the_procurements_status_is_the_apis(web: TestClient, sign_in: Callable[..., str]) -> None:
    from service.auth import create_key

    sign_in(web, Role.COORDINATOR)
    answer = web.get("/overview")
    rows = re.findall(r'<tr data-procurement="([^"]+)">(.*?)</tr>', answer.text, re.S)
    assert rows
    with app_db(web).begin() as conn:
        token = create_key(conn, role="coordinator", name="overview test").token
    words = {"met": "uppfyllt", "partly_met": "delvis uppfyllt", "not_met": "inte uppfyllt",
             "not_due": "inte bedömt än", "not_applicable": "ej tillämpligt"}
    for procurement_id, row in rows[:10]:
        api = web.get(f"/v1/procurements/{procurement_id}/requirement-status",
                      headers={"Authorization": f"Bearer {token}"})
        assert api.status_code == 200, api.text
        status = api.json()["status"]
        cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        assert cells[-1].split(",")[0] == words[status], (procurement_id, cells, status)


@pytest.mark.parametrize("role", [Role.LABOUR_MARKET_UNIT, Role.SUPPLIER, Role.RESEARCHER, Role.ORDERER])
def test_other_roles_get_the_forbidden_page_by_url(web: TestClient, sign_in: Callable[..., str],
                                                   role: Role) -> None:
    sign_in(web, role)
    answer = web.get("/overview", follow_redirects=False)
    assert answer.status_code == 403
    assert "text/html" in answer.headers["content-type"]
    assert "data-district" not in answer.text and "data-procurement" not in answer.text


def test_signed_out_is_sent_to_sign_in_and_back(web: TestClient) -> None:
    web.cookies.clear()
    answer = web.get("/overview", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/sign-in?next=%2Foverview"


def test_pages_and_english(web: TestClient, sign_in: Callable[..., str]) -> None:
    sign_in(web, Role.ADMIN)
    first = web.get("/overview")
    for odd in ("0", "-3", "x", "99999999999", "2"):  # anything but a page there is: the nearest page
        answer = web.get("/overview", params={"page": odd})
        assert answer.status_code == 200, odd
        assert re.findall(r'data-procurement="([^"]+)"', answer.text) == re.findall(
            r'data-procurement="([^"]+)"', first.text)  # the demo has one page of procurements
    english = web.get("/overview", params={"lang": "en"})
    assert "Districts against the distribution key" in english.text and '<html lang="en"' in english.text
    assert "Stadsdelar mot fördelningsnyckeln" in web.get("/overview", params={"lang": "sv"}).text


def test_the_procurements_are_paged_without_gaps_or_repeats(
        web: TestClient, sign_in: Callable[..., str], monkeypatch: pytest.MonkeyPatch) -> None:
    from service.web import overview

    sign_in(web, Role.COORDINATOR)
    everything = re.findall(r'data-procurement="([^"]+)"', web.get("/overview").text)
    assert len(everything) > 10 and everything == sorted(everything)
    monkeypatch.setattr(overview, "PAGE_SIZE", 5)
    seen: list[str] = []
    pages = -(-len(everything) // 5)
    for number in range(1, pages + 1):
        answer = web.get("/overview", params={"page": number})
        seen += re.findall(r'data-procurement="([^"]+)"', answer.text)
        assert f"Sida {number} av {pages}" in answer.text
        assert ('rel="next"' in answer.text) == (number < pages)
        assert ('rel="prev"' in answer.text) == (number > 1)
    assert seen == everything
