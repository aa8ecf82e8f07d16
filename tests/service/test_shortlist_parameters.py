"""The shortlist over HTTP takes what ``platsa shortlist`` takes, and explains one candidate.

A server of its own per backend, on a region made so that each parameter changes the answer: at
``pl1`` six candidates in no priority group (``n1``..``n6``) outscore the only foreign-born one
(``f1``), so a fair list of 5 or 6 moves ``f1`` up to rank 5 (the foreign-born minimum at 40 % needs
one by rank 5) where the list by score has ``n3``; ``h1`` has an open proposal to ``pl2`` and is
held back at ``pl1``; ``c3`` wants a job, and ``pl1`` is an internship.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from functools import partial

import polars as pl
import pytest
import sqlalchemy as sa

from scoring.exceptions import PolicyError
from scoring.policy import Policy, load_policy
from service.config import Settings
from service.db import make_engine
from service.db.tables import audit_log
from service.engine import load_engine
from service.state import PolicyPools, ServiceState
from tests.service.conftest import TEST_ENGINE, Api, server_with_region, service_region

SHORTLIST = "/v1/places/pl1/shortlist"


def parity_region() -> dict[str, pl.DataFrame]:
    """The service tests' region, no one foreign-born, plus ``n1``..``n6``, ``h1`` and ``f1``."""
    frames = service_region()
    # c3 and c6 want a job or an apprenticeship only (service_region lets them take internships too).
    cands = frames["candidates"].with_columns(
        foreign_born=pl.lit(False),
        wished_placement_types=pl.when(pl.col("candidate_id").is_in(["c3", "c6"]))
        .then(pl.lit(["employment", "apprenticeship"], dtype=pl.List(pl.String)))
        .otherwise(pl.col("wished_placement_types")))
    base = cands.filter(pl.col("candidate_id") == "c1")
    older = {"birth_year": pl.lit(1980, dtype=cands.schema["birth_year"])}
    plain = [base.with_columns(candidate_id=pl.lit(f"n{i}"), home_district=pl.lit(
        "centrum" if i % 2 else "angered"), **older) for i in range(1, 7)]
    held = base.with_columns(candidate_id=pl.lit("h1"), home_district=pl.lit("centrum"))
    foreign = base.with_columns(candidate_id=pl.lit("f1"), home_district=pl.lit("centrum"),
                                foreign_born=pl.lit(True), competences=pl.lit([], dtype=cands.schema["competences"]),
                                **older)
    frames["candidates"] = pl.concat([cands, *plain, held, foreign])
    proposals = frames["proposals"]
    frames["proposals"] = pl.concat([proposals, pl.DataFrame({
        "proposal_id": ["pr2"], "candidate_id": ["h1"], "place_id": ["pl2"], "created_on": [dt.date(2026, 8, 20)],
        "status": ["open"], "decided_on": [None], "decline_reason": [None]}, schema=proposals.schema)])
    return frames


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           database_urls: dict[str, str]) -> Iterator[Api]:
    with server_with_region(request.param, tmp_path_factory, database_urls, "parameters",
                            frames=parity_region()) as api:
        yield api


def ids(answer: dict[str, object]) -> list[str]:
    return [line["candidate_id"] for line in answer["lines"]]  # type: ignore[attr-defined,index]


def test_fair_decides_the_re_ranking(server: Api) -> None:
    with server.client("coordinator") as client:
        fair = client.get(SHORTLIST, params={"k": 6}).json()
        plain = client.get(SHORTLIST, params={"k": 6, "fair": "false"}).json()
    assert ids(fair) == ["c1", "c4", "n1", "n2", "f1", "n3"]
    assert fair["lines"][4]["moved_up"] is True
    assert fair["lines"][4]["reason"] == "moved up to meet the foreign-born minimum at rank 5 (score 34.3)"
    assert fair["fair"] is True and fair["min_shares"] == {"youth": 0.2, "foreign-born": 0.4, "disability": 0.15}
    assert ids(plain) == ["c1", "c4", "n1", "n2", "n3", "n4"]
    assert plain["fair"] is False and plain["min_shares"] == {}


def test_the_cached_plain_list_never_answers_another_request(server: Api) -> None:
    with server.client("coordinator") as client:
        for _ in range(2):  # computed, then cached (and answered by the fast path)
            assert ids(client.get(f"{SHORTLIST}?k=5").json())[-1] == "f1"
        assert ids(client.get(f"{SHORTLIST}?k=5&fair=false").json())[-1] == "n3"
        assert ids(client.get(f"{SHORTLIST}?fair=false&k=5").json())[-1] == "n3"
        assert client.get(f"{SHORTLIST}?k=5&include_held_back=true").json()["include_held_back"] is True
        assert ids(client.get(f"{SHORTLIST}?k=5").json())[-1] == "f1"  # and the cached one is still there


def test_include_held_back_lists_them_flagged(server: Api) -> None:
    with server.client("coordinator") as client:
        left_out = client.get(SHORTLIST, params={"k": 20}).json()
        listed = client.get(SHORTLIST, params={"k": 20, "include_held_back": "true"}).json()
    assert "h1" not in ids(left_out)
    assert left_out["counts"]["held_back"] == 1 and left_out["counts"]["considered"] == 11
    line = next(line for line in listed["lines"] if line["candidate_id"] == "h1")
    assert line["flags"] == ["proposed elsewhere (an open proposal)"]
    assert listed["include_held_back"] is True and listed["counts"]["considered"] == 12


def test_policy_ranks_by_another_policy(server: Api) -> None:
    with server.client("coordinator") as client:
        own = client.get(SHORTLIST, params={"k": 6, "policy": "gothenburg"})
        other = client.get(SHORTLIST, params={"k": 6, "policy": "ostersund-alt1"})
        same_groups = client.get(SHORTLIST, params={"k": 6, "policy": "sodertalje"})
        assert own.content == client.get(SHORTLIST, params={"k": 6}).content  # the region's own policy
    assert other.status_code == 200, other.text
    # Östersund's groups are not Gothenburg's: its answer comes from a pool built for it.
    assert other.json()["policy"] == "ostersund-alt1"
    assert other.json()["min_shares"] == {"far from the labour market": 0.6, "gender-norm breaker": 0.1}
    assert same_groups.status_code == 200 and same_groups.json()["policy"] == "sodertalje"


def test_an_unknown_policy_is_named_with_the_known_ones(server: Api) -> None:
    with server.client("coordinator") as client:
        unknown = client.get(SHORTLIST, params={"policy": "nowhere"})
        explained = client.get(f"{SHORTLIST}/explain/c1", params={"policy": "nowhere"})
        malformed = client.get(SHORTLIST, params={"policy": "../etc"})
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert unknown.json()["detail"] == (
        "no policy named 'nowhere' (shipped: gothenburg, ostersund-alt1, ostersund-alt2, sodertalje)")
    assert explained.status_code == 404 and explained.json()["detail"] == unknown.json()["detail"]
    assert malformed.status_code == 422
    assert [e["location"] for e in malformed.json()["errors"]] == ["query.policy"]


def test_unknown_parameters_are_refused_by_name(server: Api) -> None:
    takes = "unknown query parameter; this operation takes k, fair, include_held_back, policy"
    with server.client("coordinator") as client:
        answer = client.get(f"{SHORTLIST}?k=6&fiar=false&policy=sodertalje")
        explain = client.get(f"{SHORTLIST}/explain/c1?candidate=c2&k=0")
    assert answer.status_code == 422
    assert answer.json()["errors"] == [{"location": "query.fiar", "message": takes, "type": "extra_forbidden"}]
    assert explain.status_code == 422
    assert sorted((e["location"], e["message"]) for e in explain.json()["errors"]) == [
        ("query.candidate", takes), ("query.k", "Input should be greater than or equal to 1")]


def test_explain_an_eligible_candidate_on_the_list(server: Api) -> None:
    with server.client("coordinator") as client:
        answer = client.get(f"{SHORTLIST}/explain/f1", params={"k": 6})
        listing = client.get(SHORTLIST, params={"k": 6}).json()
    line = listing["lines"][4]
    assert answer.status_code == 200, answer.text
    why = answer.json()
    assert (why["candidate_id"], why["place_id"], why["policy"]) == ("f1", "pl1", "gothenburg")
    assert why["eligible"] is True and why["failures"] == [] and why["held_back"] == []
    assert why["score"] == line["score"] and why["terms"] == line["terms"]
    assert why["standing"] == {
        "k": 6, "fair": True, "include_held_back": False, "on_list": True, "status": "on_list", "rank": 5,
        "score_rank": 11, "considered": 11, "lowest_score": listing["lines"][5]["score"],
        "text": "on the list of 6 at rank 5: moved up to meet the foreign-born minimum at rank 5 (score 34.3)"}
    assert why["district_id"] is None  # set for a labour-market unit only


def test_explain_says_why_not(server: Api) -> None:
    with server.client("coordinator") as client:
        ineligible = client.get(f"{SHORTLIST}/explain/c3").json()
        held = client.get(f"{SHORTLIST}/explain/h1").json()
        held_listed = client.get(f"{SHORTLIST}/explain/h1", params={"include_held_back": "true"}).json()
        outscored = client.get(f"{SHORTLIST}/explain/c2", params={"k": 6}).json()
        displaced = client.get(f"{SHORTLIST}/explain/n4", params={"k": 6}).json()
        by_score = client.get(f"{SHORTLIST}/explain/n4", params={"k": 6, "fair": "false"}).json()
    assert ineligible["eligible"] is False
    assert ineligible["failures"] == [
        {"rule": "placement_type", "text": "wants a job or an apprenticeship; the place is an internship"}]
    assert ineligible["standing"]["status"] == "ineligible" and ineligible["standing"]["on_list"] is False
    assert ineligible["standing"]["text"] == ("not on the list: not eligible: wants a job or an apprenticeship; "
                                              "the place is an internship")
    assert held["eligible"] is True
    assert held["held_back"] == [{"rule": "open_proposal_elsewhere", "text": "proposed elsewhere (an open proposal)"}]
    assert held["standing"]["status"] == "held_back"
    assert held_listed["standing"]["status"] == "on_list"
    assert outscored["standing"]["status"] == "outscored" and outscored["standing"]["score_rank"] == 9
    assert outscored["standing"]["text"] == ("not on the list of 6: rank 9 by score of 11 considered; the lowest "
                                             "score on the list by score is 69.3 (-26.4)")
    assert displaced["standing"]["status"] == "displaced" and displaced["standing"]["score_rank"] == 6
    assert (by_score["standing"]["status"], by_score["standing"]["rank"], by_score["standing"]["fair"]) == (
        "on_list", 6, False)


def test_a_unit_explains_only_its_own_districts_candidates(server: Api) -> None:
    with server.client("lmu_centrum") as client:
        own = client.get(f"{SHORTLIST}/explain/n5", params={"k": 3})
        other = client.get(f"{SHORTLIST}/explain/c1")  # lives in Angered
        unknown = client.get(f"{SHORTLIST}/explain/c9")
        district_list = client.get(SHORTLIST, params={"k": 3}).json()
    assert own.status_code == 200, own.text
    # The unit's own list: its district's best (c1, n2, n4 and n6 live in Angered).
    assert ids(district_list) == ["c4", "n1", "n3"]
    assert own.json()["district_id"] == "centrum"
    assert own.json()["standing"]["status"] == "outscored"
    assert own.json()["standing"]["score_rank"] == 4
    assert own.json()["standing"]["considered"] == district_list["counts"]["considered"]
    assert other.status_code == unknown.status_code == 404
    assert other.json()["detail"] == "no candidate 'c1' that this key may see"
    assert {k: v for k, v in other.json().items() if k != "detail"} == {
        k: v for k, v in unknown.json().items() if k != "detail"} | {"instance": f"{SHORTLIST}/explain/c1"}


def test_explain_is_for_those_who_read_shortlists(server: Api) -> None:
    for key in ("supplier_s1", "researcher", "orderer"):
        with server.client(key) as client:
            assert client.get(f"{SHORTLIST}/explain/c1").status_code == 403
    with server.client() as anonymous:
        assert anonymous.get(f"{SHORTLIST}/explain/c1").status_code == 401
    with server.client("coordinator") as client:
        assert client.get("/v1/places/nowhere/shortlist/explain/c1").status_code == 404
        assert client.get(f"{SHORTLIST}/explain/c1", params={"k": 0}).status_code == 422


def test_an_explanation_is_audited_with_the_candidate(server: Api) -> None:
    def entries() -> list[tuple[object, ...]]:
        with server.client("admin") as admin:
            assert admin.get("/v1/audit", params={"limit": 1}).status_code == 200  # writes the queue first
        db = server.db()
        with db.connect() as conn:
            rows = conn.execute(sa.select(audit_log.c.role, audit_log.c.action, audit_log.c.resource_id,
                                          audit_log.c.candidate_ids)
                                .where(audit_log.c.resource == "shortlist_explanation")
                                .order_by(audit_log.c.entry_id)).all()
        db.dispose()
        return [tuple(r) for r in rows]

    before = entries()
    with server.client("lmu_centrum") as client:
        assert client.get(f"{SHORTLIST}/explain/n1").status_code == 200
        assert client.get(f"{SHORTLIST}/explain/c1").status_code == 404  # not answered: not audited
    assert entries()[len(before):] == [("labour_market_unit", "read", "pl1", ["n1"])]


def test_pools_for_other_policies_are_kept_per_snapshot_and_bounded() -> None:
    loaded: list[str] = []
    prepared: list[str] = []

    def load(policy_id: str) -> Policy:
        loaded.append(policy_id)
        return load_policy(policy_id)

    def prepare(policy: Policy) -> str:
        prepared.append(policy.id)
        return f"pool for {policy.id}"

    pools = PolicyPools(max_pools=1)
    get = partial(pools.get, load=load, serves=lambda policy: policy.id == "sodertalje", prepare=prepare,
                  own="own pool")
    assert get("sodertalje")[1] == "own pool"  # same groups as the snapshot's: its own pool serves
    policy, pool = get("ostersund-alt1")
    assert (policy.id, pool) == ("ostersund-alt1", "pool for ostersund-alt1")
    assert get("ostersund-alt1")[1] == "pool for ostersund-alt1" and prepared == ["ostersund-alt1"]
    assert get("ostersund-alt2")[1] == "pool for ostersund-alt2"  # pushes alt1 out (max_pools=1)
    assert len(pools) == 1
    assert get("ostersund-alt1")[1] == "pool for ostersund-alt1"
    assert prepared == ["ostersund-alt1", "ostersund-alt2", "ostersund-alt1"]
    assert loaded == ["sodertalje", "ostersund-alt1", "ostersund-alt2"]  # each policy read once
    with pytest.raises(PolicyError, match="no policy named 'nowhere'"):
        get("nowhere")
    keep_none = PolicyPools(max_pools=0)
    keep_none.get("ostersund-alt1", load=load_policy, serves=lambda p: False, prepare=prepare, own=None)
    assert len(keep_none) == 0


def test_the_state_prepares_a_pool_only_for_other_groups(server: Api) -> None:
    settings = Settings(database_url=server.database_url, engine=TEST_ENGINE, shortlist_warm=False)
    db = make_engine(settings.sqlalchemy_url)
    state = ServiceState(settings, db, load_engine(settings.engine))
    try:
        snapshot = state.reload()
        assert snapshot is not None and snapshot.policy.id == "gothenburg"
        assert state.for_policy(snapshot, None) == (snapshot.policy, snapshot.prepared)
        policy, prepared = state.for_policy(snapshot, "sodertalje")
        assert policy.id == "sodertalje" and prepared is snapshot.prepared
        policy, prepared = state.for_policy(snapshot, "ostersund-alt1")
        assert prepared is not snapshot.prepared and prepared.pool.policy_id == "ostersund-alt1"
        assert state.for_policy(snapshot, "ostersund-alt1")[1] is prepared
        assert len(snapshot.policy_pools) == 1 and snapshot.policy_pools.max_pools == settings.policy_pools == 2
    finally:
        state.close()
        db.dispose()
