"""The places pages (``/places``, ``/places/{id}``, proposing from a shortlist): their rows against the
database, their shortlists against the API's own answer to an API key, who may see what (by URL),
and proposing: two at once, refusals that write nothing, CSRF."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from scoring.capacity import place_states
from service import store
from service.auth import Role, create_key
from service.db.engine import writer
from service.db.tables import REGION_TABLES
from service.engine import CoreEngine
from tests.web.conftest import app_db, csrf_token

_places = REGION_TABLES["places"]
_cands = REGION_TABLES["candidates"]
_proposals = REGION_TABLES["proposals"]


def _rows(html: str, table_id: str, attribute: str) -> list[str]:
    body = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    return re.findall(rf'<tr {attribute}="([^"]+)"', body)


def _all_listed(client: TestClient, query: str) -> list[str]:
    found: list[str] = []
    for page in range(1, 100):
        answer = client.get(f"/places?{query}&page={page}")
        assert answer.status_code == 200
        rows = _rows(answer.text, "places-table", "data-place") if 'id="places-table"' in answer.text else []
        found += rows
        if 'rel="next"' not in answer.text:
            return found
    raise AssertionError("more than 99 pages")


def _open_now(client: TestClient) -> dict[str, tuple[str, int]]:
    """Place id → (district, free slots) of every place open now, by scoring.capacity over the stored region."""
    with app_db(client).connect() as conn:
        loaded = store.load_region(conn)
    assert loaded is not None
    region = loaded[0]
    from scoring.policy import load_named_policy
    states = place_states(region.places, region.proposals, region.placements,
                          reference_date=region.manifest.reference_date,
                          policy=load_named_policy(region.manifest.policy))
    ids, districts = region.places["place_id"].to_list(), region.places["district_id"].to_list()
    return {ids[i]: (districts[i], int(states.free[i])) for i in range(len(ids))
            if states.is_open[i] and states.free[i] > 0}


def test_the_list_and_its_filters_against_the_database(web: TestClient, sign_in: Callable[..., str]) -> None:
    sign_in(web, Role.COORDINATOR)
    with app_db(web).connect() as conn:
        every = sorted(conn.execute(sa.select(_places.c.place_id)).scalars())
        district = conn.execute(sa.select(_places.c.district_id).order_by(_places.c.place_id).limit(1)).scalar_one()
        in_district = sorted(conn.execute(sa.select(_places.c.place_id)
                                          .where(_places.c.district_id == district)).scalars())
        supplier = conn.execute(sa.select(_places.c.supplier_id).order_by(_places.c.place_id)).scalars().first()
        of_supplier = sorted(conn.execute(sa.select(_places.c.place_id)
                                          .where(_places.c.supplier_id == supplier)).scalars())
        internships = sorted(conn.execute(sa.select(_places.c.place_id)
                                          .where(_places.c.placement_type == "internship")).scalars())
    assert _all_listed(web, "") == every
    assert _all_listed(web, f"district={district}") == in_district
    assert _all_listed(web, f"supplier={supplier}") == of_supplier
    assert _all_listed(web, "type=internship") == internships
    open_now = _open_now(web)
    assert _all_listed(web, "open=1") == sorted(open_now)
    both = _all_listed(web, f"open=1&district={district}")
    assert both == sorted(p for p, (d, _free) in open_now.items() if d == district)
    # Unknown filter values are ignored, never an error; a page past the end shows the last.
    assert web.get("/places?district=nowhere&type=spaceship&page=abc").status_code == 200
    assert web.get("/places?page=999999").status_code == 200


def test_a_supplier_sees_its_own_places_and_no_candidate(web: TestClient, sign_in: Callable[..., str]) -> None:
    with app_db(web).connect() as conn:
        suppliers = list(conn.execute(sa.select(_places.c.supplier_id).distinct()
                                      .order_by(_places.c.supplier_id)).scalars())
        own = sorted(conn.execute(sa.select(_places.c.place_id)
                                  .where(_places.c.supplier_id == suppliers[0])).scalars())
        other = conn.execute(sa.select(_places.c.place_id)
                             .where(_places.c.supplier_id == suppliers[1])).scalars().first()
        candidate_ids = set(conn.execute(sa.select(_cands.c.candidate_id)).scalars())
    sign_in(web, Role.SUPPLIER, supplier_id=suppliers[0])
    assert _all_listed(web, f"supplier={suppliers[1]}") == own  # its own, whatever it asks
    page = web.get(f"/places/{own[0]}")
    assert page.status_code == 200
    assert 'id="shortlist-table"' not in page.text
    assert not candidate_ids & set(re.findall(r"C\d{7}", page.text))
    asked = web.get(f"/places/{own[0]}?why=C0000001").text
    assert 'id="why-answer"' not in asked and 'id="why"' not in asked
    assert web.get(f"/places/{other}").status_code == 404
    assert web.get("/places/no-such-place").status_code == 404
    token = csrf_token(page.text)
    refused = web.post(f"/places/{own[0]}/propose", data={"csrf_token": token, "candidate_ids": "C0000001"})
    assert refused.status_code == 403


def _api_shortlist(client: TestClient, place_id: str, role: Role, district: str | None = None) -> list[str]:
    with writer(app_db(client)).begin() as conn:
        token = create_key(conn, role=role, name=f"test-{role.value}-{district}", district_id=district).token
    answer = client.get(f"/v1/places/{place_id}/shortlist", headers={"authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    return [line["candidate_id"] for line in answer.json()["lines"]]


def _shortlisted(html: str) -> list[str]:
    """The candidates on the page's shortlist (none when the list is empty)."""
    return _rows(html, "shortlist-table", "data-candidate") if 'id="shortlist-table"' in html else []


def test_the_shortlist_is_the_apis(web: TestClient, sign_in: Callable[..., str]) -> None:
    open_now = sorted(_open_now(web))
    sign_in(web, Role.COORDINATOR)
    for place_id in open_now[:5]:
        page = web.get(f"/places/{place_id}")
        assert page.status_code == 200
        assert _shortlisted(page.text) == _api_shortlist(web, place_id, Role.COORDINATOR)
    with app_db(web).connect() as conn:
        district = conn.execute(sa.select(_cands.c.home_district).order_by(_cands.c.candidate_id)).scalars().first()
        homes = dict(conn.execute(sa.select(_cands.c.candidate_id, _cands.c.home_district)).all())
    sign_in(web, Role.LABOUR_MARKET_UNIT, district_id=district)
    seen = 0
    for place_id in open_now[:10]:
        listed = _shortlisted(web.get(f"/places/{place_id}").text)
        assert listed == _api_shortlist(web, place_id, Role.LABOUR_MARKET_UNIT, district)
        assert {homes[c] for c in listed} <= {district}
        seen += len(listed)
    assert seen > 0, "no line of the unit's district on ten places: the test shows nothing"


def _place_with_lines(client: TestClient, district: str, wanted: int, free: int = 2) -> tuple[str, list[str]]:
    """An open place with ``free`` free slots whose shortlist for ``district``'s unit has at least
    ``wanted`` lines."""
    with app_db(client).connect() as conn:
        region, _version = store.load_region(conn) or (None, 0)
    assert region is not None
    from scoring.policy import load_named_policy
    policy = load_named_policy(region.manifest.policy)
    engine = CoreEngine()
    prepared = engine.prepare(region, policy)
    for place_id, (_district, slots) in sorted(_open_now(client).items()):
        if slots < free:
            continue
        lines = engine.shortlist(prepared, policy, place_id, k=10, district_id=district)["lines"]
        if len(lines) >= wanted:
            return place_id, [line["candidate_id"] for line in lines]
    pytest.fail(f"no open place with {wanted} lines for {district}")


def _open_proposals(client: TestClient, place_id: str) -> set[str]:
    with app_db(client).connect() as conn:
        return set(conn.execute(sa.select(_proposals.c.candidate_id).where(
            _proposals.c.place_id == place_id, _proposals.c.status == "open")).scalars())


def test_a_unit_proposes_two_and_refusals_write_nothing(web: TestClient, sign_in: Callable[..., str]) -> None:
    with app_db(web).connect() as conn:
        districts = list(conn.execute(sa.select(_cands.c.home_district).distinct()
                                      .order_by(_cands.c.home_district)).scalars())
    district = districts[-1]
    place_id, lines = _place_with_lines(web, district, 3)
    sign_in(web, Role.LABOUR_MARKET_UNIT, district_id=district)
    page = web.get(f"/places/{place_id}")
    token = csrf_token(page.text)
    before = _open_proposals(web, place_id)

    # Without the form's token: refused, nothing proposed.
    assert web.post(f"/places/{place_id}/propose", data={"candidate_ids": lines[:2]}).status_code == 403
    # Nothing chosen, another district's candidate, an unknown one: a 422 naming each, nothing proposed.
    assert web.post(f"/places/{place_id}/propose", data={"csrf_token": token}).status_code == 422
    with app_db(web).connect() as conn:
        stranger = conn.execute(sa.select(_cands.c.candidate_id)
                                .where(_cands.c.home_district != district)).scalars().first()
    refused = web.post(f"/places/{place_id}/propose",
                       data={"csrf_token": token, "candidate_ids": [lines[0], stranger, "C9999999"]})
    assert refused.status_code == 422
    assert stranger in refused.text and "C9999999" in refused.text
    assert _open_proposals(web, place_id) == before

    made = web.post(f"/places/{place_id}/propose", data={"csrf_token": token, "candidate_ids": lines[:2]},
                    follow_redirects=False)
    assert made.status_code == 303, made.text[:2000]
    assert _open_proposals(web, place_id) == before | set(lines[:2])
    after = web.get(made.headers["location"])
    assert "Föreslagen hit" in after.text and after.text.count('class="tag">Föreslagen hit') == 2
    assert f"2 föreslagna till platsen: {lines[0]}, {lines[1]}" in after.text
    # Proposing one of them again: refused (already proposed here), nothing more written.
    again = web.post(f"/places/{place_id}/propose", data={"csrf_token": token, "candidate_ids": lines[:1]})
    assert again.status_code == 422
    assert _open_proposals(web, place_id) == before | set(lines[:2])


def test_why_is_this_person_not_on_the_list(web: TestClient, sign_in: Callable[..., str]) -> None:
    place_id = sorted(_open_now(web))[0]
    with app_db(web).connect() as conn:
        homes = dict(conn.execute(sa.select(_cands.c.candidate_id, _cands.c.home_district)).all())
    sign_in(web, Role.COORDINATOR)
    listed = _shortlisted(web.get(f"/places/{place_id}").text)
    outside = next(c for c in sorted(homes) if c not in listed)
    answer = web.get(f"/places/{place_id}?why={outside}")
    assert answer.status_code == 200
    box = answer.text.split('id="why-answer"', 1)[1].split("</div>", 1)[0]
    assert "står inte på listan" in box
    on_list = web.get(f"/places/{place_id}?why={listed[0]}")
    assert "står på listan, plats 1" in on_list.text
    # A unit asking about another district's candidate gets the answer for an unknown one.
    district = homes[outside]
    stranger = next(c for c, d in sorted(homes.items()) if d != district)
    sign_in(web, Role.LABOUR_MARKET_UNIT, district_id=district)
    for asked in (stranger, "C9999999"):
        answer = web.get(f"/places/{place_id}?why={asked}")
        assert answer.status_code == 200
        assert f"Ingen deltagare {asked} som du får se" in answer.text
        assert 'id="why-answer"' not in answer.text


@pytest.mark.parametrize("role", [Role.RESEARCHER, Role.ORDERER])
def test_roles_without_places_get_403_by_url(web: TestClient, sign_in: Callable[..., str], role: Role) -> None:
    place_id = sorted(_open_now(web))[0]
    sign_in(web, role)
    assert web.get("/places").status_code == 403
    assert web.get(f"/places/{place_id}").status_code == 403


def test_english(web: TestClient, sign_in: Callable[..., str]) -> None:
    sign_in(web, Role.COORDINATOR)
    place_id = sorted(_open_now(web))[0]
    answer = web.get(f"/places/{place_id}?lang=en")
    assert "Fair shortlist" in answer.text and "Rättvis kortlista" not in answer.text
    web.get("/places?lang=sv")
