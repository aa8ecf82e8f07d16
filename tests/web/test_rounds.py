"""The round pages over HTTP: starting a round from the form (and its errors), following it, the
review, the paged lists, re-running with pins, comparing, publishing, downloading, CSRF and access
by role. Rounds run on the demo region with the real engine (well under a second each)."""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Callable

import openpyxl
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from service.db.tables import audit_log, round_assignments, rounds
from service.web import round_views as views
from service.web.formats import Formats
from service.web.pages import words
from tests.web.conftest import app_db, csrf_token, form_token

SV = words("sv")


def start(client: TestClient, **fields: str) -> str:
    """Start a round through the form; its id (the page it redirects to)."""
    data = {"csrf_token": form_token(client, "/rounds"), "objective": "max_placed", "use_keys": "on",
            "use_floors": "on", **fields}
    answer = client.post("/rounds", data=data, follow_redirects=False)
    assert answer.status_code == 303, answer.text[:2000]
    found = re.fullmatch(r"/rounds/(r-[0-9a-f]+)", answer.headers["location"])
    assert found is not None, answer.headers["location"]
    return found.group(1)


def wait(client: TestClient, round_id: str, timeout: float = 60) -> str:
    """Poll the round's page until its job ends; the page."""
    deadline = time.monotonic() + timeout
    while True:
        page = client.get(f"/rounds/{round_id}")
        assert page.status_code == 200
        if 'id="progress"' not in page.text or time.monotonic() > deadline:
            return page.text
        time.sleep(0.1)


def stored(client: TestClient, round_id: str) -> dict[str, object]:
    with app_db(client).connect() as conn:
        return dict(conn.execute(sa.select(rounds).where(rounds.c.round_id == round_id)).mappings().one())


@pytest.fixture(scope="module")
def finished(web: TestClient) -> str:
    """A round started as a coordinator and finished (the module's other tests read it)."""
    from tests.web.conftest import make_account, sign_in_client

    sign_in_client(web, make_account(app_db(web), "coordinator"))
    round_id = start(web)
    wait(web, round_id)
    assert stored(web, round_id)["status"] == "succeeded"
    return round_id


# --- view functions ---------------------------------------------------------------------------------

def test_progress_names_the_stage_and_the_solver_phase() -> None:
    job = {"status": "running", "message": "solving (lagrangian)", "progress": 0.25}
    progress = views.progress_of(job, "running")
    assert (progress.stage_key, progress.phase, progress.percent, progress.active) == (
        "rd_stage_solving", "lagrangian", 25, True)
    most = views.progress_of({**job, "message": "pricing the pairs left out (most placeable)"}, "running")
    assert most.stage_key == "rd_stage_pricing_placeable"
    done = views.progress_of({"status": "succeeded", "message": "56 assignment(s)", "progress": 1.0}, "succeeded")
    assert (done.stage_key, done.assigned, done.active) == ("rd_stage_done", 56, False)
    unknown = views.progress_of({**job, "message": "something new"}, "running")
    assert (unknown.stage_key, unknown.stage_text) == (None, "something new")


def test_an_unassigned_explanation_reads_in_swedish_with_decimal_commas() -> None:
    text = ("outscored at every place in reach: P000013 went to C0000124 with 73.2 points against 44.9 "
            "(+28.3); P000036 has a free slot, but taking it would break a floor or a key; and 2 more place(s)")
    assert views.explanation_words(text, SV, ",") == (
        "fick lägre poäng på varje plats inom räckhåll: P000013 gick till C0000124 med 73,2 poäng mot 44,9 "
        "(+28,3); P000036 har en ledig plats, men att ta den skulle bryta en lägsta andel eller en nyckel; "
        "och 2 plats(er) till")
    assert views.explanation_words(
        "the home district angered has reached its upper bound under the distribution key", SV, ",") == (
        "hemstadsdelen angered har nått sin övre gräns enligt fördelningsnyckeln")
    assert views.explanation_words("a sentence the core does not write", SV, ",") is None
    assert views.explanation_words("outscored at every place in reach: P1 did something else", SV, ",") is None


def test_pairs_and_pages_are_read_leniently_and_errors_name_the_value() -> None:
    assert views.parse_pair(" C1 : P2 ") == ("C1", "P2")
    assert views.parse_pair("C1") is None and views.parse_pair(":P2") is None
    problems: dict[str, list[str]] = {}
    assert views.pairs_of({"pins": "C1:P1\n\nnonsense\nC1:P1"}, "pins", problems, SV) == [("C1", "P1")]
    assert problems == {"pins": ["”nonsense” är inte ett par kandidat:plats"]}
    assert [views.page_offset(p) for p in (None, "1", "3", "0", "-2", "x", "99999999")] == [0, 0, 100, 0, 0, 0, 0]
    listed = views.Paged(items=[1], total=101, offset=100)
    assert (listed.page, listed.pages, listed.has_previous, listed.has_next) == (3, 3, True, False)


# --- starting, following, reviewing ---------------------------------------------------------------

def test_a_started_round_is_followed_and_then_reviewed(web: TestClient, finished: str) -> None:
    page = web.get(f"/rounds/{finished}").text
    assert SV("rd_districts_heading") in page and SV("rd_groups_heading") in page
    assert "Angered" in page and SV("rd_group_youth") in page  # districts by name, groups in words
    assert SV("rd_status_succeeded") in page
    listed = web.get("/rounds").text
    assert f'href="/rounds/{finished}"' in listed
    # An htmx poll of a round that has ended asks for the whole page again (the review replaces the box).
    assert web.get(f"/rounds/{finished}", headers={"HX-Request": "true"}).headers["HX-Refresh"] == "true"


def test_a_running_round_shows_its_progress_with_a_refresh_and_a_cancel_button(web: TestClient,
                                                                              finished: str) -> None:
    with app_db(web).begin() as conn:  # a round whose job is still running, as the worker leaves it
        row = dict(conn.execute(sa.select(rounds).where(rounds.c.round_id == finished)).mappings().one())
        from service.db.tables import jobs

        conn.execute(rounds.insert().values(**{**row, "round_id": "r-running00001", "status": "running",
                                               "summary": None, "finished_at": None}))
        conn.execute(jobs.insert().values(job_id="j-running00001", kind="round", subject_id="r-running00001",
                                          status="running", progress=0.4, message="solving (exact_model)",
                                          attempts=1, created_at=row["created_at"]))
    page = web.get("/rounds/r-running00001").text
    assert 'id="progress"' in page and 'hx-trigger="every 1s"' in page
    assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in page
    assert SV("rd_stage_solving") in page and SV("rd_phase_exact_model") in page and 'value="40"' in page
    assert 'action="/rounds/r-running00001/cancel"' in page
    assert "HX-Refresh" not in web.get("/rounds/r-running00001", headers={"HX-Request": "true"}).headers


def test_cancelling_a_round_that_has_ended_says_so(web: TestClient, finished: str) -> None:
    token = form_token(web, f"/rounds/{finished}")
    answer = web.post(f"/rounds/{finished}/cancel", data={"csrf_token": token}, follow_redirects=False)
    assert answer.headers["location"] == f"/rounds/{finished}?cancelled=too-late"
    assert SV("rd_cancel_too_late") in web.get(answer.headers["location"]).text
    assert stored(web, finished)["status"] == "succeeded"


def test_assignments_are_paged_with_their_terms_in_words_and_the_read_audited(web: TestClient,
                                                                             finished: str) -> None:
    with app_db(web).connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(round_assignments)
                             .where(round_assignments.c.round_id == finished)).scalar_one()
    assert total > views.PAGE_SIZE  # the demo round places 56: two pages
    first = web.get(f"/rounds/{finished}/assignments").text
    assert first.count('name="pins"') == views.PAGE_SIZE
    assert SV("rd_term_competence") in first and SV("rd_page_of", page=1, pages=2, total=total) in first
    second = web.get(f"/rounds/{finished}/assignments?page=2").text
    assert second.count('name="pins"') == total - views.PAGE_SIZE
    with app_db(web).connect() as conn:
        entry = conn.execute(sa.select(audit_log).where(audit_log.c.resource == "round_assignments")
                             .order_by(audit_log.c.entry_id.desc())).mappings().first()
    assert entry is not None and len(entry["candidate_ids"]) == total - views.PAGE_SIZE


def test_unassigned_are_listed_with_the_reason_and_filtered_by_it(web: TestClient, finished: str) -> None:
    by_reason = stored(web, finished)["summary"]["unassigned_by_reason"]  # type: ignore[index]
    reason, count = min(by_reason.items(), key=lambda item: item[1])
    page = web.get(f"/rounds/{finished}/unassigned?reason={reason}").text
    assert SV("rd_unassigned_caption", total=str(count)) in page
    assert page.count(f"<td>{SV('rd_reason_' + reason)}</td>") == min(count, views.PAGE_SIZE)
    everyone = web.get(f"/rounds/{finished}/unassigned").text
    assert SV("rd_unassigned_caption", total=Formats("sv").num(sum(by_reason.values()))) in everyone
    # An unknown reason is no filter, never a 500.
    assert web.get(f"/rounds/{finished}/unassigned?reason=nonsense").status_code == 200


# --- the form's errors and CSRF --------------------------------------------------------------------

def test_the_form_names_every_wrong_field_and_starts_nothing(web: TestClient, finished: str) -> None:
    before = web.get("/rounds").text.count('<th scope="row"><a href="/rounds/')
    token = form_token(web, "/rounds")
    answer = web.post("/rounds", data={"csrf_token": token, "objective": "max_placed", "time_limit_s": "1000",
                                       "seed": "minus one", "pins": "no pair here"})
    assert answer.status_code == 422
    assert SV("rd_not_started") in answer.text
    for field in ("time_limit_s", "seed", "pins"):
        assert f'href="#{field}"' in answer.text and f'id="{field}-error"' in answer.text, field
    assert 'value="1000"' in answer.text  # what was typed is kept
    # The API's own checks: an unknown candidate in a pin, located at the pins field.
    answer = web.post("/rounds", data={"csrf_token": token, "pins": "C9999999:P000001"})
    assert answer.status_code == 422 and 'id="pins-error"' in answer.text and "C9999999" in answer.text
    answer = web.post("/rounds", data={"csrf_token": token, "policy_id": "no-such-policy"})
    assert answer.status_code == 422 and 'id="policy_id-error"' in answer.text
    assert web.get("/rounds").text.count('<th scope="row"><a href="/rounds/') == before


def test_a_form_without_the_sessions_token_is_refused(web: TestClient, finished: str) -> None:
    for path in ("/rounds", f"/rounds/{finished}/rerun", f"/rounds/{finished}/publish",
                 f"/rounds/{finished}/publish/check", f"/rounds/{finished}/cancel"):
        answer = web.post(path, data={"csrf_token": "forged", "pins": "C1:P1"}, follow_redirects=False)
        assert answer.status_code == 403, path
    assert stored(web, finished)["published_at"] is None


# --- re-run, compare, publish, download -----------------------------------------------------------

def test_a_pinned_pair_is_kept_in_the_rerun_and_the_rounds_compare(web: TestClient, finished: str) -> None:
    with app_db(web).connect() as conn:
        pair = conn.execute(sa.select(round_assignments.c.candidate_id, round_assignments.c.place_id)
                            .where(round_assignments.c.round_id == finished)
                            .order_by(round_assignments.c.candidate_id)).first()
    assert pair is not None
    token = form_token(web, f"/rounds/{finished}/assignments")
    answer = web.post(f"/rounds/{finished}/rerun", data={"csrf_token": token, "pins": f"{pair[0]}:{pair[1]}"},
                      follow_redirects=False)
    assert answer.status_code == 303
    second = answer.headers["location"].rsplit("/", 1)[1]
    wait(web, second)
    row = stored(web, second)
    assert (row["status"], row["parent_round_id"], row["pins"]) == ("succeeded", finished, [list(pair)])
    assert SV("rd_pinned") in web.get(f"/rounds/{second}/assignments").text
    compared = web.get(f"/rounds/{second}/compare?other={finished}")
    assert compared.status_code == 200
    assert SV("rd_compare_changes") in compared.text and SV("rd_compare_districts") in compared.text
    assert "Angered" in compared.text
    assert web.get(f"/rounds/{second}/compare?other=r-000000000000").status_code == 404


def test_rerun_errors_are_shown_on_the_form(web: TestClient, finished: str) -> None:
    token = form_token(web, f"/rounds/{finished}/rerun")
    nothing = web.post(f"/rounds/{finished}/rerun", data={"csrf_token": token})
    assert nothing.status_code == 422 and SV("rd_error_nothing_to_rerun") in nothing.text
    half = web.post(f"/rounds/{finished}/rerun", data={"csrf_token": token, "pin_candidate": "C0000001",
                                                       "override_ladder": "on"})
    assert half.status_code == 422
    assert 'id="pin_place-error"' in half.text and 'id="override_reason-error"' in half.text
    unknown = web.post(f"/rounds/{finished}/rerun", data={"csrf_token": token, "removals": "C9999999:P000001"})
    assert unknown.status_code == 422 and 'id="removals-error"' in unknown.text


def test_publishing_shows_the_conflicts_first_then_publishes_once(web: TestClient, finished: str) -> None:
    first = web.get(f"/rounds/{finished}/publish")
    assert first.status_code == 200 and SV("rd_check_button") in first.text
    assert SV("rd_conflicts_heading") not in first.text  # opening the page checks nothing
    confirm = web.post(f"/rounds/{finished}/publish/check", data={"csrf_token": csrf_token(first.text)})
    assert confirm.status_code == 200 and SV("rd_no_conflicts") in confirm.text
    answer = web.post(f"/rounds/{finished}/publish", data={"csrf_token": csrf_token(confirm.text),
                                                           "on_open_proposal": "refuse"}, follow_redirects=False)
    assert answer.status_code == 303
    placed = stored(web, finished)["summary"]["num_assigned"]  # type: ignore[index]
    assert answer.headers["location"] == f"/rounds/{finished}?published={placed}&skipped=0"
    assert stored(web, finished)["published_at"] is not None
    again = web.post(f"/rounds/{finished}/publish", data={"csrf_token": csrf_token(confirm.text)})
    assert again.status_code == 409 and SV("rd_publish_refused") in again.text


def test_a_round_whose_pairs_are_now_proposed_shows_every_conflict(web: TestClient, finished: str) -> None:
    """After the first round was published, a re-run's pairs mostly hold open proposals already."""
    with app_db(web).connect() as conn:
        child = conn.execute(sa.select(rounds.c.round_id).where(rounds.c.parent_round_id == finished,
                                                                rounds.c.status == "succeeded")).scalar()
    assert child is not None, "the re-run test (earlier in this file) makes it"
    token = csrf_token(web.get(f"/rounds/{child}/publish").text)
    confirm = web.post(f"/rounds/{child}/publish/check", data={"csrf_token": token})
    assert SV("rd_conflicts_heading") in confirm.text and SV("rd_conflict_open_proposal_here") in confirm.text
    refused = web.post(f"/rounds/{child}/publish", data={"csrf_token": csrf_token(confirm.text)})
    assert refused.status_code == 409 and SV("rd_publish_refused_conflicts") in refused.text
    assert stored(web, child)["published_at"] is None


def test_the_round_downloads_as_csv_and_xlsx_in_words(web: TestClient, finished: str) -> None:
    placed = stored(web, finished)["summary"]["num_assigned"]  # type: ignore[index]
    answer = web.get(f"/rounds/{finished}/download.csv")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0][:5] == [SV("rd_col_candidate"), SV("rd_col_place"), SV("rd_col_supplier"),
                           SV("rd_col_home_district"), SV("rd_col_score")]
    assert rows[placed + 1] == []  # the assignments, then an empty line, then the unassigned
    answer = web.get(f"/rounds/{finished}/download.xlsx?lang=en")
    book = openpyxl.load_workbook(io.BytesIO(answer.content))
    assert book.sheetnames == ["Assignments", "Unassigned"]
    assert book["Assignments"].max_row == placed + 1
    web.get("/rounds?lang=sv")


# --- access ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["supplier", "researcher", "labour_market_unit", "orderer"])
def test_other_roles_cannot_open_round_pages_by_url(web: TestClient, finished: str, role: str,
                                                    sign_in: Callable[..., str]) -> None:
    sign_in(web, role)
    try:
        for path in ("/rounds", f"/rounds/{finished}", f"/rounds/{finished}/assignments",
                     f"/rounds/{finished}/unassigned", f"/rounds/{finished}/compare?other={finished}",
                     f"/rounds/{finished}/publish", f"/rounds/{finished}/rerun",
                     f"/rounds/{finished}/download.csv", f"/rounds/{finished}/download.xlsx"):
            answer = web.get(path)
            assert answer.status_code == 403, (role, path)
            assert "C0000" not in answer.text, (role, path)
    finally:
        sign_in(web, "coordinator")


def test_an_unknown_round_is_the_404_page_and_signed_out_is_sent_to_sign_in(web: TestClient,
                                                                           sign_in: Callable[..., str]) -> None:
    sign_in(web, "admin")
    for path in ("/rounds/r-000000000000", "/rounds/r-000000000000/assignments",
                 "/rounds/r-000000000000/download.csv", "/rounds/nonsense/publish"):
        answer = web.get(path)
        assert answer.status_code == 404 and "<html" in answer.text, path
    web.cookies.clear()
    answer = web.get("/rounds/r-000000000000/assignments?page=2", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/sign-in?next=%2Frounds%2Fr-000000000000%2Fassignments%3Fpage%3D2"
    sign_in(web, "coordinator")
