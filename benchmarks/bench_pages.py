"""Server time of every web page on the ``large`` pool (100,000 candidates, 10,000 places).

The app runs in this process over SQLite in a temporary folder, with the region that
``generate_region("gothenburg", "large", seed=7)`` makes (as ``bench_service.py`` builds it) and the
shortlist cache's background warming off, so that no page is measured while the service fills it or
helped by it; measuring starts once the app has gone idle after its start. A coordinator signs in
through the sign-in form (an admin too, for the pages under ``/admin/``); each page of
:data:`PAGES` is requested ``--warmup`` times unmeasured, then ``--requests`` times. *Server time*
is the time from the request entering the application (the outermost ASGI layer, so the request
gate and every middleware count) to the last byte of its answer leaving it, measured by a wrapper
around the app; the client's own work is not in it.

Every page must answer 200 and stay at or under ``--budget-ms`` (300, the issue's limit) at the
95th percentile and on its first request (``first ms``: before anything the page keeps between
requests is kept); the command exits 1 otherwise.

Run::

    python benchmarks/bench_pages.py                      # every page, the large pool
    python benchmarks/bench_pages.py --size medium --requests 10
    python benchmarks/bench_pages.py --pages start accounts

Prints a table and writes ``benchmarks/results/pages.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from _common import write_results  # noqa: E402 (benchmarks/_common.py)
from fastapi.testclient import TestClient  # noqa: E402
from starlette.types import ASGIApp, Message, Receive, Scope, Send  # noqa: E402

from fixtures import generate_region  # noqa: E402
from service import accounts  # noqa: E402
from service.cli.serve import build_app  # noqa: E402 (the app as platsa serve builds it)
from service.config import Settings  # noqa: E402
from service.db import make_engine, migrate  # noqa: E402
from service.db.engine import writer  # noqa: E402
from service.store import replace_region  # noqa: E402

#: The pages measured: (name, URL template). A template's ``{place_id}``, ``{candidate_id}``,
#: ``{district_id}``, ``{supplier_id}`` and ``{procurement_id}`` are filled with ids of the pool
#: (:func:`ids_of`); pages under ``/admin/`` are read as an admin, every other as a coordinator.
#: Each area adds its pages' lines.
PAGES: list[tuple[str, str]] = [
    ("sign-in", "/sign-in"),
    ("start", "/start"),
    ("accounts", "/admin/accounts"),
    ("docs", "/docs"),
    ("overview", "/overview"),
    # rounds and follow-up (helper rounds): two stored rounds of the pool's size (store_rounds)
    ("rounds", "/rounds"),
    ("round-review", "/rounds/{round_id}"),
    ("round-assignments", "/rounds/{round_id}/assignments"),
    ("round-assignments-last", "/rounds/{round_id}/assignments?page=300"),
    ("round-unassigned", "/rounds/{round_id}/unassigned?reason=outscored&page=2"),
    ("round-rerun", "/rounds/{round_id}/rerun"),
    ("round-compare", "/rounds/{round_id}/compare?other={other_round_id}"),
    ("round-publish", "/rounds/{round_id}/publish"),
    ("followup", "/followup"),
    ("followup-procurement", "/followup/procurements/{procurement_id}"),
    # places and candidates
    ("places", "/places"),
    ("places-filtered", "/places?open=1&district={district_id}&type=internship"),
    ("places-last", "/places?page=200"),
    ("place", "/places/{place_id}"),
    ("place-k50", "/places/{place_id}?k=50"),
    ("place-why", "/places/{place_id}?why={candidate_id}"),
    ("candidates", "/candidates"),
    ("candidates-district", "/candidates?district={district_id}&page=20"),
    ("candidate", "/candidates/{candidate_id}"),
]

PASSWORD = "benchmark password, long enough"


class ServerTimer:
    """The app, timed: the seconds each request spent inside it, until its last body byte left."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.last_s = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed_send(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                self.last_s = time.perf_counter() - started

        await self.app(scope, receive, timed_send)


def prepare(size: str, folder: Path) -> tuple[Settings, dict[str, str]]:
    """A database with the pool, a coordinator and an admin account; the ids the templates take."""
    url = f"sqlite:///{folder / f'{size}.db'}"
    region = generate_region("gothenburg", size, seed=7)
    db = make_engine(url)
    migrate(db)
    with writer(db).begin() as conn:
        replace_region(conn, region)
        for role in ("coordinator", "admin"):
            accounts.create_account(conn, username=f"bench-{role}", password=PASSWORD, role=role)
    ids = ids_of(db)
    ids.update(store_rounds(db))
    db.dispose()
    return Settings(database_url=url, shortlist_warm=False), ids


def ids_of(db: sa.Engine) -> dict[str, str]:
    """One id of each kind: the place with the most slots, a candidate of its district, …"""
    from service.db.tables import REGION_TABLES

    places, candidates = REGION_TABLES["places"], REGION_TABLES["candidates"]
    with db.connect() as conn:
        place = conn.execute(sa.select(places).order_by(places.c.slots.desc(), places.c.place_id)
                             .limit(1)).one()
        candidate = conn.execute(sa.select(candidates.c.candidate_id)
                                 .where(candidates.c.home_district == place.district_id)
                                 .order_by(candidates.c.candidate_id).limit(1)).scalar_one()
    return {"place_id": place.place_id, "district_id": place.district_id, "supplier_id": place.supplier_id,
            "procurement_id": place.procurement_id, "candidate_id": candidate}


def wait_until_idle(timeout_s: float = 120.0) -> float:
    """Wait until this process (the app's threads: loading the region, preparing the engine's pools)
    uses less than 5 % of a core over half a second, as ``bench_service.py`` waits for its server;
    returns the seconds waited."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        cpu = time.process_time()
        time.sleep(0.5)
        if time.process_time() - cpu < 0.025:
            break
    return time.perf_counter() - started


def store_rounds(db: sa.Engine, num_assigned: int = 15_000) -> dict[str, str]:
    """Two succeeded rounds stored as a round's job stores them, the second a re-run of the first
    with every twentieth person moved; their ids (``round_id``, ``other_round_id``).

    The pages only read what a round stored (they never solve), so their cost is the stored rows':
    ``num_assigned`` assignments with every score term, and every other candidate unassigned with a
    reason and an explanation of the core's usual length. Solving a real round on the large pool
    takes minutes; ``bench_certified.py`` measures that.
    """
    import datetime as dt
    import random

    from scoring.policy import load_policy
    from scoring.score import TERMS
    from service.db.tables import REGION_TABLES, jobs, round_assignments, round_unassigned, rounds

    rng = random.Random(7)
    places, candidates = REGION_TABLES["places"], REGION_TABLES["candidates"]
    with db.connect() as conn:
        place_ids = [r.place_id for r in
                     conn.execute(sa.select(places.c.place_id).order_by(places.c.place_id))]
        people = [(r.candidate_id, r.home_district) for r in conn.execute(
            sa.select(candidates.c.candidate_id, candidates.c.home_district)
            .order_by(candidates.c.candidate_id))]
    policy = load_policy("gothenburg")
    placed = people[:num_assigned]
    districts = [{"district_id": d, "key_share": share, "lower": 0, "upper": num_assigned,
                  "assigned": sum(1 for _, h in placed if h == d),
                  "share": sum(1 for _, h in placed if h == d) / num_assigned, "within": True}
                 for d, share in policy.distribution.keys.items()]
    groups = [{"group": g, "floor": 0.2, "assigned": num_assigned // 3, "share": 1 / 3, "met": True}
              for g in ("youth", "foreign_born", "disability")]
    now = dt.datetime.now(dt.UTC)
    unassigned = len(people) - num_assigned
    why = (f"outscored at every place in reach: {place_ids[0]} went to {placed[0][0]} with 73.2 points "
           "against 44.9 (+28.3); and 2 more place(s)")

    def store(conn: sa.Connection, round_id: str, parent: str | None, moved_every: int) -> None:
        summary = {"method": "optimal", "num_assigned": num_assigned, "total_score": 0.0,
                   "districts": districts, "groups": groups, "infeasibility": [], "violations": [],
                   "constraints_ignored": [], "overrides": [], "certification": {"scope": "eligible"},
                   "unassigned": unassigned, "unassigned_by_reason": {"outscored": unassigned}}
        conn.execute(rounds.insert().values(
            round_id=round_id, status="succeeded", policy_id="gothenburg", params={"objective": "max_placed"},
            pins=[], removals=[], overrides=[], parent_round_id=parent, region_version=1, created_by=None,
            created_at=now, finished_at=now, solver_status="optimal", objective=0.0, gap=0.0,
            summary=summary))
        conn.execute(jobs.insert().values(
            job_id=f"j-{round_id[2:]}", kind="round", subject_id=round_id, status="succeeded",
            progress=1.0, message=f"{num_assigned} assignment(s)", attempts=1, created_at=now,
            finished_at=now))
        rows = []
        for i, (cid, home) in enumerate(placed):
            shift = 1 if moved_every and i % moved_every == 0 else 0
            terms = {t: round(rng.uniform(0, 10), 3) for t in TERMS}
            rows.append({"round_id": round_id, "candidate_id": cid, "score": sum(terms.values()),
                         "place_id": place_ids[(i + shift) % len(place_ids)], "pinned": False,
                         "explanation": {"terms": terms, "supplier_id": "S00001", "home_district": home}})
        left = [{"round_id": round_id, "candidate_id": cid, "reason": "outscored", "explanation": why}
                for cid, _ in people[num_assigned:]]
        for table, batch in ((round_assignments, rows), (round_unassigned, left)):
            for start in range(0, len(batch), 5_000):
                conn.execute(table.insert(), batch[start:start + 5_000])

    with writer(db).begin() as conn:
        store(conn, "r-bench0000001", None, 0)
        store(conn, "r-bench0000002", "r-bench0000001", 20)
    return {"round_id": "r-bench0000001", "other_round_id": "r-bench0000002"}


def signed_in(app: Any, username: str) -> TestClient:
    import re

    client = TestClient(app)
    form = client.get("/sign-in").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token is not None
    answer = client.post("/sign-in", data={"username": username, "password": PASSWORD,
                                           "csrf_token": token.group(1)}, follow_redirects=False)
    if answer.status_code != 303:
        raise SystemExit(f"signing in as {username} failed: {answer.status_code}")
    return client


def measure(pages: list[tuple[str, str]], size: str, requests: int, warmup: int,
            budget_ms: float, followup_warm: bool = True) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="platsa-bench-pages-") as folder:
        started = time.perf_counter()
        settings, ids = prepare(size, Path(folder))
        settings = settings.model_copy(update={"followup_warm": followup_warm})
        print(f"pool {size}: prepared in {time.perf_counter() - started:.0f} s; ids {ids}", file=sys.stderr)
        timer = ServerTimer(build_app(settings))
        with TestClient(timer) as anonymous:
            settled = wait_until_idle()
            print(f"the app went idle {settled:.1f} s after start", file=sys.stderr)
            clients = {"coordinator": signed_in(timer, "bench-coordinator"),
                       "admin": signed_in(timer, "bench-admin")}
            rows = []
            for name, template in pages:
                url = template.format(**ids)
                client = anonymous if url == "/sign-in" else clients[
                    "admin" if url.startswith("/admin/") else "coordinator"]
                status, first_ms = 0, 0.0
                for attempt in range(warmup):
                    status = client.get(url, follow_redirects=False).status_code
                    if attempt == 0:  # the page's first answer: whatever it keeps is not kept yet
                        first_ms = timer.last_s * 1000
                times = []
                for _ in range(requests):
                    status = client.get(url, follow_redirects=False).status_code
                    times.append(timer.last_s * 1000)
                times.sort()
                p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
                rows.append({"page": name, "url": url, "status": status, "requests": requests,
                             "first_ms": round(first_ms, 1), "median_ms": round(statistics.median(times), 1),
                             "p95_ms": round(p95, 1), "max_ms": round(times[-1], 1),
                             "ok": status == 200 and p95 <= budget_ms and first_ms <= budget_ms})
            for client in clients.values():
                client.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="large", choices=("small", "medium", "large"))
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--budget-ms", type=float, default=300.0)
    parser.add_argument("--pages", nargs="*", help="names of PAGES to measure (default: all)")
    parser.add_argument("--no-followup-warm", action="store_true",
                        help="PLATSA_FOLLOWUP_WARM=0: the follow-up report is computed on the first request")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "pages.json")
    args = parser.parse_args(argv)
    chosen = [p for p in PAGES if not args.pages or p[0] in args.pages]
    unknown = set(args.pages or ()) - {name for name, _ in PAGES}
    if unknown:
        parser.error(f"no such page: {', '.join(sorted(unknown))} (pages: {', '.join(n for n, _ in PAGES)})")
    rows = measure(chosen, args.size, args.requests, args.warmup, args.budget_ms,
                   followup_warm=not args.no_followup_warm)
    print(f"{'page':<24} {'status':>6} {'first ms':>9} {'median ms':>10} {'p95 ms':>8} {'max ms':>8}  "
          f"within {args.budget_ms:g} ms")
    for row in rows:
        print(f"{row['page']:<24} {row['status']:>6} {row['first_ms']:>9} {row['median_ms']:>10} "
              f"{row['p95_ms']:>8} {row['max_ms']:>8}  {'yes' if row['ok'] else 'NO'}")
    write_results(args.out, __file__, {"size": args.size, "budget_ms": args.budget_ms, "pages": rows},
                  argv=argv)
    return 0 if all(row["ok"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
