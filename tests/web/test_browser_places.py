"""A recruiter's path in a real browser (Debian's chromium): sign in, find a place, read its fair
shortlist, ask why someone is not on it, propose two people, open a candidate and record an
outcome; axe-core on every page visited. Suppliers and researchers cannot open candidate pages by
URL."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from scoring.capacity import place_states
from scoring.policy import load_named_policy
from service import store
from service.auth import Role
from service.db.tables import REGION_TABLES
from service.engine import CoreEngine
from tests.web.conftest import LiveServer

pytestmark = pytest.mark.timeout(180)
_proposals = REGION_TABLES["proposals"]


def _a_place_for_two(server: LiveServer) -> tuple[str, str, list[str]]:
    """(district, place, the unit's shortlist) of an open place with two free slots whose shortlist
    for the district's unit has at least two lines, on the region as the database has it now."""
    with server.db.connect() as conn:
        loaded = store.load_region(conn)
    assert loaded is not None
    region = loaded[0]
    policy = load_named_policy(region.manifest.policy)
    states = place_states(region.places, region.proposals, region.placements,
                          reference_date=region.manifest.reference_date, policy=policy)
    engine = CoreEngine()
    prepared = engine.prepare(region, policy)
    ids = region.places["place_id"].to_list()
    for district in sorted(region.districts["district_id"].to_list()):
        for i in range(len(ids)):
            if not states.is_open[i] or states.free[i] < 2:
                continue
            lines = engine.shortlist(prepared, policy, ids[i], k=10, district_id=district)["lines"]
            if len(lines) >= 3:
                return district, ids[i], [line["candidate_id"] for line in lines]
    pytest.fail("no open place with two free slots and three lines for one district")


def test_a_recruiter_reads_a_shortlist_and_proposes_two(
        page: Page, live_server: LiveServer, browser_sign_in: Callable[..., str],
        assert_accessible: Callable[[Page], None]) -> None:
    district, place_id, lines = _a_place_for_two(live_server)
    browser_sign_in(page, live_server, Role.LABOUR_MARKET_UNIT, district_id=district)
    expect(page).to_have_url(live_server.url + "/places")
    expect(page.get_by_role("heading", level=1)).to_have_text("Platser")
    assert_accessible(page)

    # Filter: open now, then open the place from the list.
    page.get_by_label("Bara platser som är öppna nu, med ledig plats").check()
    page.get_by_role("button", name="Visa", exact=True).click()
    expect(page).to_have_url(re.compile(r"/places\?open=1"))
    while page.locator(f'tr[data-place="{place_id}"]').count() == 0:
        page.get_by_role("link", name="Nästa sida").click()
    assert_accessible(page)
    page.locator(f'tr[data-place="{place_id}"] a').click()
    expect(page).to_have_url(live_server.url + f"/places/{place_id}")

    # The shortlist: each line's terms in words, why it stands there.
    table = page.locator("#shortlist-table")
    expect(table.locator("tbody tr").first).to_be_visible()
    assert table.locator("tbody tr").evaluate_all("rows => rows.map(r => r.dataset.candidate)") == lines
    expect(table).to_contain_text("kompetens")
    expect(table).to_contain_text(re.compile(r"bor [\d,]+ km bort"))
    expect(table).to_contain_text("efter poäng")
    assert_accessible(page)

    # Why is someone (not) on the list: the first line's person stands at rank 1; an id the unit
    # may not see is answered as unknown.
    page.get_by_label("Deltagarens id").fill(lines[0])
    page.get_by_role("button", name="Förklara").click()
    expect(page.locator("#why-answer")).to_contain_text(f"{lines[0]}: står på listan, plats 1.")
    assert_accessible(page)
    page.get_by_label("Deltagarens id").fill("C9999999")
    page.get_by_role("button", name="Förklara").click()
    expect(page.get_by_role("alert")).to_contain_text("Ingen deltagare C9999999 som du får se.")

    # Propose two, by keyboard for the second.
    page.get_by_label(f"Välj {lines[0]}").check()
    second = page.get_by_label(f"Välj {lines[1]}")
    second.focus()
    page.keyboard.press("Space")
    expect(second).to_be_checked()
    page.get_by_role("button", name="Föreslå de valda").click()
    expect(page.get_by_role("status")).to_contain_text(f"2 föreslagna till platsen: {lines[0]}, {lines[1]}")
    for candidate in lines[:2]:
        expect(page.locator(f'tr[data-candidate="{candidate}"]')).to_contain_text("Föreslagen hit")
    assert_accessible(page)
    with live_server.db.connect() as conn:
        proposed = set(conn.execute(sa.select(_proposals.c.candidate_id).where(
            _proposals.c.place_id == place_id, _proposals.c.status == "open")).scalars())
    assert set(lines[:2]) <= proposed

    # The first person's page: the new proposal, and recording that the placement started.
    page.get_by_role("link", name=lines[0], exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Deltagare {lines[0]}")
    history = page.locator("#history-table")
    expect(history).to_contain_text(place_id)
    assert_accessible(page)
    proposal = history.locator("tbody tr").filter(has_text=place_id).first.get_attribute("data-proposal")
    assert proposal is not None
    page.get_by_label("Förslag", exact=True).select_option(proposal)
    page.get_by_label("Vad hände").select_option("started")
    page.get_by_label("Datum").fill(dt.datetime.now(dt.UTC).date().isoformat())
    page.get_by_role("button", name="Registrera").click()
    expect(page.get_by_role("status")).to_contain_text(f"Utfallet av förslag {proposal} är registrerat.")
    expect(history.locator(f'tr[data-proposal="{proposal}"]')).to_contain_text("började")
    assert_accessible(page)

    # A refused outcome: every problem beside the form, nothing written.
    page.get_by_label("Förslag", exact=True).select_option(proposal)
    page.get_by_label("Vad hände").select_option("ended_early")
    page.get_by_role("button", name="Registrera").click()
    expect(page.get_by_role("alert")).to_contain_text("Inget registrerades")
    assert_accessible(page)

    page.goto(live_server.url + "/candidates")
    expect(page.locator("#candidates-table tbody tr").first).to_be_visible()
    assert_accessible(page)


@pytest.mark.parametrize("role", [Role.SUPPLIER, Role.RESEARCHER])
def test_suppliers_and_researchers_cannot_open_candidate_pages(
        page: Page, live_server: LiveServer, browser_sign_in: Callable[..., str],
        assert_accessible: Callable[[Page], None], role: Role) -> None:
    with live_server.db.connect() as conn:
        candidate = conn.execute(sa.select(REGION_TABLES["candidates"].c.candidate_id)
                                 .order_by(REGION_TABLES["candidates"].c.candidate_id)).scalars().first()
    browser_sign_in(page, live_server, role)
    expect(page.get_by_role("link", name="Deltagare")).to_have_count(0)
    for path in ("/candidates", f"/candidates/{candidate}"):
        answer = page.goto(live_server.url + path)
        assert answer is not None and answer.status == 403, path
        expect(page.locator("main")).not_to_contain_text(str(candidate))
        assert_accessible(page)
