"""The candidates pages (``/candidates``, ``/candidates/{id}``, recording an outcome): their rows
against the database, eligibility per open place against the explanation operation (each pair
asked on its own), who may see what (by URL), and recording: refusals that write nothing."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from scoring.domain import age_on
from service import accounts
from service.auth import Role, create_key
from service.db.engine import writer
from service.db.tables import REGION_TABLES, audit_log, region_meta
from tests.web.conftest import app_db, csrf_token
from tests.web.test_places import _open_now

_cands = REGION_TABLES["candidates"]
_proposals = REGION_TABLES["proposals"]
_placements = REGION_TABLES["placements"]


def _rows(html: str, table_id: str, attribute: str) -> list[str]:
    if f'id="{table_id}"' not in html:
        return []
    body = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    return re.findall(rf'<tr {attribute}="([^"]+)"', body)


def _listed(client: TestClient, query: str = "") -> list[str]:
    found: list[str] = []
    for page in range(1, 100):
        answer = client.get(f"/candidates?{query}&page={page}")
        assert answer.status_code == 200
        found += _rows(answer.text, "candidates-table", "data-candidate")
        if 'rel="next"' not in answer.text:
            return found
    raise AssertionError("more than 99 pages")


def _homes(client: TestClient) -> dict[str, str]:
    with app_db(client).connect() as conn:
        return dict(conn.execute(sa.select(_cands.c.candidate_id, _cands.c.home_district)).all())


def test_a_unit_lists_its_own_district_only(web: TestClient, sign_in: Callable[..., str]) -> None:
    homes = _homes(web)
    district = sorted(set(homes.values()))[1]
    sign_in(web, Role.LABOUR_MARKET_UNIT, district_id=district)
    own = sorted(c for c, d in homes.items() if d == district)
    assert _listed(web) == own
    other = sorted(set(homes.values()))[0]
    assert _listed(web, f"district={other}") == own  # the API keeps a unit to its own district
    stranger = next(c for c, d in sorted(homes.items()) if d != district)
    assert web.get(f"/candidates/{stranger}").status_code == 404
    assert web.get("/candidates/C9999999").status_code == 404
    assert web.get(f"/candidates/{own[0]}").status_code == 200
    found = web.get(f"/candidates?id={own[0]}", follow_redirects=False)
    assert found.status_code == 303 and found.headers["location"] == f"/candidates/{own[0]}"


def test_a_coordinator_lists_everyone_by_district(web: TestClient, sign_in: Callable[..., str]) -> None:
    homes = _homes(web)
    sign_in(web, Role.COORDINATOR)
    district = sorted(set(homes.values()))[0]
    assert _listed(web, f"district={district}") == sorted(c for c, d in homes.items() if d == district)
    first = web.get("/candidates")
    assert f"{len(homes):,}".replace(",", "\u202f") + " deltagare" in first.text


@pytest.mark.parametrize("role", [Role.SUPPLIER, Role.RESEARCHER, Role.ORDERER])
def test_other_roles_cannot_open_candidate_pages_by_url(web: TestClient, sign_in: Callable[..., str],
                                                       role: Role) -> None:
    candidate = sorted(_homes(web))[0]
    sign_in(web, role)
    for path in ("/candidates", f"/candidates/{candidate}", "/candidates/C9999999"):
        answer = web.get(path)
        assert answer.status_code == 403, path
        assert candidate not in answer.text.split("<main", 1)[1]


def _explain(client: TestClient, place_id: str, candidate_id: str) -> dict[str, object]:
    with writer(app_db(client)).begin() as conn:
        token = create_key(conn, role=Role.COORDINATOR, name="explain").token
    answer = client.get(f"/v1/places/{place_id}/shortlist/explain/{candidate_id}",
                        headers={"authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    found: dict[str, object] = answer.json()
    return found


def test_eligibility_per_open_place_is_the_explanations(web: TestClient, sign_in: Callable[..., str]) -> None:
    sign_in(web, Role.COORDINATOR)
    candidate = next(c for c in sorted(_homes(web))
                     if _rows(web.get(f"/candidates/{c}").text, "eligible-table", "data-place"))
    page = web.get(f"/candidates/{candidate}").text
    shown = _rows(page, "eligible-table", "data-place")
    intro = re.search(r"Behörig till (\d+) av (\d+) öppna platser", page)
    assert intro is not None
    assert len(shown) == min(int(intro.group(1)), 25)
    for place_id in shown[:5]:
        explained = _explain(web, place_id, candidate)
        assert explained["eligible"] is True, (place_id, explained["failures"])
    # The scores are the explanation's and stand best first.
    scores = [float(s.replace("\u202f", "").replace(",", ".").replace("−", "-"))
              for s in re.findall(r'<td class="number">(−?[\d\u202f]+,\d)</td>',
                                  page.split('id="eligible-table"', 1)[1].split("</table>", 1)[0])]
    assert scores == sorted(scores, reverse=True)
    first = _explain(web, shown[0], candidate)
    assert abs(float(str(first["score"])) - scores[0]) < 0.06
    # Every open place asked on its own: the eligible count and each rule's count of open places
    # failing it are what the explanations say.
    counts: dict[str, int] = {}
    eligible = 0
    for place_id in _open_now(web):
        explained = _explain(web, place_id, candidate)
        eligible += bool(explained["eligible"])
        for failure in explained["failures"]:  # type: ignore[attr-defined]
            counts[failure["rule"]] = counts.get(failure["rule"], 0) + 1
    assert (int(intro.group(1)), int(intro.group(2))) == (eligible, len(_open_now(web)))
    fails = page.split('id="fails"', 1)[1].split("</ul>", 1)[0] if 'id="fails"' in page else ""
    words = {"period": "period", "free_slots": "lediga platser", "placed": "redan placerad",
             "proposed_here": "redan föreslagen hit", "ladder": "arbetstrappan", "commute": "pendlingsavstånd",
             "availability": "tillgänglighet", "placement_type": "typ av plats", "duration": "längd",
             "competence": "krävd kompetens"}
    shown_counts = {rule: int(n) for rule, n in
                    ((rule, re.search(rf"<li>{words[rule]}: (\d+) öppna platser</li>", fails)) for rule in words)
                    for n in [n.group(1) if n else None] if n is not None}
    assert shown_counts == counts


def test_the_groups_are_the_candidates_on_the_reference_date(web: TestClient, sign_in: Callable[..., str]) -> None:
    with app_db(web).connect() as conn:
        today = conn.execute(sa.select(region_meta.c.reference_date)).scalar_one()
        young = conn.execute(sa.select(_cands.c.candidate_id, _cands.c.birth_year)
                             .order_by(_cands.c.birth_year.desc())).first()
        old_native = conn.execute(sa.select(_cands.c.candidate_id).where(
            _cands.c.foreign_born.is_(False), _cands.c.disability.is_(False),
            _cands.c.birth_year < today.year - 40, _cands.c.registered_since > today - dt.timedelta(days=200),
        ).order_by(_cands.c.candidate_id)).scalars().first()
    assert young is not None and int(age_on([young.birth_year], today)[0]) <= 25
    sign_in(web, Role.COORDINATOR)
    groups = web.get(f"/candidates/{young.candidate_id}").text.split('id="groups-heading"', 1)[1]
    assert "<li>unga</li>" in groups.split("</section>", 1)[0]
    if old_native is not None:
        none = web.get(f"/candidates/{old_native}").text.split('id="groups-heading"', 1)[1]
        assert "Ingen prioriterad målgrupp." in none.split("</section>", 1)[0]


def _open_proposal_of(client: TestClient, district: str | None = None) -> tuple[str, str, dt.date]:
    """(candidate, proposal, created on) of an open proposal without a placement."""
    query = (sa.select(_proposals.c.candidate_id, _proposals.c.proposal_id, _proposals.c.created_on)
             .join(_cands, _cands.c.candidate_id == _proposals.c.candidate_id)
             .where(_proposals.c.status == "open",
                    ~sa.exists().where(_placements.c.proposal_id == _proposals.c.proposal_id))
             .order_by(_proposals.c.proposal_id))
    if district is not None:
        query = query.where(_cands.c.home_district == district)
    with app_db(client).connect() as conn:
        row = conn.execute(query).first()
    assert row is not None, "the demo has no open proposal without a placement"
    return row.candidate_id, row.proposal_id, row.created_on


def _placement(client: TestClient, proposal_id: str) -> dict[str, object] | None:
    with app_db(client).connect() as conn:
        row = conn.execute(sa.select(_placements).where(_placements.c.proposal_id == proposal_id)).mappings().first()
    return None if row is None else dict(row)


def test_recording_an_outcome(web: TestClient, sign_in: Callable[..., str]) -> None:
    candidate, proposal, created = _open_proposal_of(web)
    district = _homes(web)[candidate]
    sign_in(web, Role.LABOUR_MARKET_UNIT, district_id=district)
    page = web.get(f"/candidates/{candidate}")
    assert f'data-proposal="{proposal}"' in page.text
    token = csrf_token(page.text)
    post = f"/candidates/{candidate}/outcome"
    today = dt.datetime.now(dt.UTC).date()

    def send(**fields: str) -> int:
        return web.post(post, data={"csrf_token": token, "proposal_id": proposal, **fields},
                        follow_redirects=False).status_code

    # Refusals, each a 422 naming the field, and nothing written.
    assert send(event="started", on=(today + dt.timedelta(days=3)).isoformat()) == 422
    assert send(event="started", on=(created - dt.timedelta(days=1)).isoformat()) == 422
    assert send(event="started", on="not a day") == 422
    assert send(event="completed", on=today.isoformat()) == 422  # nothing started yet
    refused = web.post(post, data={"csrf_token": token, "proposal_id": proposal, "event": "started",
                                   "on": (today + dt.timedelta(days=3)).isoformat()})
    assert "in the future" in refused.text and 'href="#outcome-on"' in refused.text
    assert web.post(post, data={"proposal_id": proposal, "event": "started", "on": today.isoformat()}
                    ).status_code == 403  # no CSRF token
    assert _placement(web, proposal) is None
    # Someone else's proposal through this candidate's page: refused.
    with app_db(web).connect() as conn:
        other = conn.execute(sa.select(_proposals.c.proposal_id)
                             .where(_proposals.c.candidate_id != candidate)).scalars().first()
    assert web.post(post, data={"csrf_token": token, "proposal_id": other, "event": "started",
                                "on": today.isoformat()}).status_code == 422

    assert send(event="started", on=today.isoformat()) == 303
    placement = _placement(web, proposal)
    assert placement is not None and placement["started_on"] == today and placement["end_reason"] == "ongoing"
    assert send(event="ended_early", on=today.isoformat(), ended_by="supplier") == 422  # no note
    assert _placement(web, proposal) == placement
    assert send(event="ended_early", on=today.isoformat(), ended_by="supplier", note="the supervisor left") == 303
    ended = _placement(web, proposal)
    assert ended is not None and ended["end_reason"] == "ended_early" and ended["ended_by"] == "supplier"
    shown = web.get(f"/candidates/{candidate}").text
    assert "avbruten i förtid" in shown.split('id="history-table"', 1)[1].split("</table>", 1)[0]


def test_reads_are_audited_naming_the_person(web: TestClient, sign_in: Callable[..., str]) -> None:
    candidate = sorted(_homes(web))[3]
    username = sign_in(web, Role.COORDINATOR)
    assert web.get(f"/candidates/{candidate}").status_code == 200
    with app_db(web).connect() as conn:
        account = accounts.get_account(conn, username)
        assert account is not None
        rows = conn.execute(sa.select(audit_log).where(audit_log.c.account_id == account.account_id,
                                                       audit_log.c.resource == "candidate")).mappings().all()
    assert any(row["candidate_ids"] == [candidate] and row["key_id"] is None for row in rows), rows


def test_a_candidate_the_snapshot_does_not_hold_yet(web: TestClient, sign_in: Callable[..., str]) -> None:
    """Stored a moment ago (here: written around the service, so that no rebuild is asked for), the
    person's page answers with the profile and says the eligibility comes once the region catches up."""
    with app_db(web).connect() as conn:
        row = dict(conn.execute(sa.select(_cands).order_by(_cands.c.candidate_id)).mappings().first() or {})
    row["candidate_id"] = "C8888888"
    with writer(app_db(web)).begin() as conn:
        conn.execute(_cands.insert().values(**row))
    try:
        sign_in(web, Role.COORDINATOR)
        page = web.get("/candidates/C8888888")
        assert page.status_code == 200
        assert "finns inte i regionens aktuella läge än" in page.text
        assert 'id="eligible-table"' not in page.text
    finally:
        with writer(app_db(web)).begin() as conn:
            conn.execute(_cands.delete().where(_cands.c.candidate_id == "C8888888"))
