"""Shortlist latency at 100 concurrent clients, idle and while a round solves: one process against
2 web + 1 round-worker processes, on PostgreSQL.

Two deployments of the same database (a fresh schema on the local PostgreSQL, the region that
``generate_region("gothenburg", SIZE, seed=7)`` makes, as ``bench_service.py`` builds it):

``single``
    Today's single process: one ``platsa serve`` with ``PLATSA_ROUNDS=in_process``, so a round
    runs in the server process (a procrastinate worker inside it), beside the requests.
``workers``
    ``platsa serve --workers 2`` (two web processes on one port) and ``platsa worker --processes 1``
    with ``PLATSA_ROUNDS=workers``: the round runs in its own process, at the worker's default
    lower priority (``--nice 10``).
``workers-nice0``
    The same with ``platsa worker --nice 0``: the worker at the web processes' priority.

For each deployment, once every process is ready (``/ready`` answers 200) and idle (the processes'
CPU time, read from ``/proc``, grows by less than 5 % of a core over a second: the shortlist cache
is warm), the client (this process: asyncio, one keep-alive HTTP/1.1 connection per client, the
client of ``bench_service.py``) sends ``--requests`` shortlist requests
(``GET /v1/places/{id}/shortlist?k=10``, places drawn with a fixed seed) from ``--clients``
connections:

``idle``
    with nothing else running;
``round``
    while a round of the whole region solves (``POST /v1/rounds`` as a coordinator, with the policy's
    district keys and group floors): the clients start once the round's job is ``running`` and send
    blocks of ``--requests`` requests for as long as it runs (at most ``--max-blocks``; the default
    spans the whole round, from building its pool to storing its assignments); a block
    counts only if the job was running when it started and when it ended, so every measured request
    was answered while the round solved. The round then runs to its end (``round s``: from queued to
    finished, as the job records it).

``p50``/``p99`` are the client's latencies (request written to answer read). The issue's target:
p99 ≤ 50 ms during the round with workers. A 2-core machine shares its cores between the client, the
web processes and the round; ``load`` is the 1-minute load average before each run.

Run::

    python benchmarks/bench_workers.py                         # large, both deployments
    python benchmarks/bench_workers.py --size medium --requests 1000
    python benchmarks/bench_workers.py --deployments workers --pg-url postgresql://u@host/db

Prints a table and writes ``benchmarks/results/workers.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import free_port, write_results  # noqa: E402 (benchmarks/_common.py)
from bench_service import Connection, cpu_seconds, send, store_region  # noqa: E402 (the client of bench_service.py)

from fixtures import generate_region  # noqa: E402

CODE = "import sys; from service.cli import main; sys.exit(main(sys.argv[1:]))"
#: The deployments measured: the processes each starts (CLI arguments) and its PLATSA_ROUNDS.
DEPLOYMENTS: dict[str, tuple[str, list[list[str]]]] = {
    "single": ("in_process", [["serve"]]),
    "workers": ("workers", [["serve", "--workers", "2"], ["worker", "--processes", "1"]]),
    # The worker at the web processes' priority: what its default --nice 10 buys.
    "workers-nice0": ("workers", [["serve", "--workers", "2"],
                                  ["worker", "--processes", "1", "--nice", "0"]]),
}
RUNNING = "running"


def prepare(size: str, pg_url: str) -> tuple[str, str, str, list[str]]:
    """A fresh schema with the region and a coordinator key: (admin URL, schema URL, token, place ids)."""
    schema = f"platsa_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    url = f"{pg_url}{'&' if '?' in pg_url else '?'}options=-csearch_path%3D{schema}"
    region = generate_region("gothenburg", size, seed=7)
    token = store_region(url, region)
    return schema, url, token, region.places.get_column("place_id").to_list()


def drop(pg_url: str, schema: str) -> None:
    admin = sa.create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def tree(pid: int) -> list[int]:
    """``pid`` and every process below it (uvicorn's web workers, the worker's processes)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            tasks = Path(f"/proc/{current}/task").iterdir()
            for task in tasks:
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def tree_cpu(pids: list[int]) -> float:
    return sum(cpu_seconds(p) or 0.0 for root in pids for p in tree(root))


class Deployment:
    """The processes of one deployment over the benchmark's database."""

    def __init__(self, name: str, url: str, port: int) -> None:
        rounds, commands = DEPLOYMENTS[name]
        self.base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "PLATSA_DATABASE_URL": url, "PLATSA_ROUNDS": rounds,
               "PLATSA_DB_POOL_SIZE": "10", "PLATSA_DB_MAX_OVERFLOW": "10"}
        self.processes = []
        for command in commands:
            extra = (["--port", str(port)] if command[0] == "serve" else []) + ["--log-level", "warning"]
            self.processes.append(subprocess.Popen([sys.executable, "-c", CODE, *command, *extra], env=env))

    def until_idle(self, within: float = 900) -> float:
        """Wait for ``/ready`` and then for the processes to go idle; the seconds it took."""
        started = deadline = time.monotonic()
        deadline += within
        while True:
            try:
                if httpx.get(f"{self.base}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if any(p.poll() is not None for p in self.processes) or time.monotonic() > deadline:
                raise RuntimeError("the deployment did not become ready")
            time.sleep(0.5)
        pids = [p.pid for p in self.processes]
        while time.monotonic() < deadline:
            before = tree_cpu(pids)
            time.sleep(1.0)
            if tree_cpu(pids) - before < 0.05:
                break
        return time.monotonic() - started

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def job(base: str, token: str, job_id: str) -> dict[str, Any]:
    answer = httpx.get(f"{base}/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    answer.raise_for_status()
    return dict(answer.json())


async def block(port: int, token: str, plans: list[list[str]]) -> tuple[list[float], int]:
    """One block of requests, a plan per connection: the latencies (s) and the errors."""
    connections = [await Connection.open(port, token) for _ in plans]
    for connection, plan in zip(connections, plans, strict=True):  # warm-up, not measured
        await connection.get(f"/v1/places/{plan[0]}/shortlist?k=10")
    latencies, errors = await send(connections, plans)
    for connection in connections:
        connection.close()
    return latencies, errors


def plans_for(places: list[str], clients: int, requests: int, rng: random.Random) -> list[list[str]]:
    per_client = max(1, requests // clients)
    return [[rng.choice(places) for _ in range(per_client)] for _ in range(clients)]


def summary(latencies: list[float], errors: int, seconds: float) -> dict[str, Any]:
    lat = np.array(latencies) * 1000
    return {"requests": len(latencies), "errors": errors, "seconds": round(seconds, 2),
            "requests_per_s": round(len(latencies) / seconds, 1) if seconds else None,
            "p50_ms": round(float(np.percentile(lat, 50)), 1) if len(lat) else None,
            "p99_ms": round(float(np.percentile(lat, 99)), 1) if len(lat) else None}


def measure_idle(port: int, token: str, places: list[str], args: argparse.Namespace) -> dict[str, Any]:
    load = os.getloadavg()[0]
    started = time.perf_counter()
    latencies, errors = asyncio.run(block(port, token, plans_for(places, args.clients, args.requests,
                                                                 random.Random(11))))
    return {"phase": "idle", "load_average": round(load, 2), "blocks": 1,
            **summary(latencies, errors, time.perf_counter() - started)}


def measure_round(dep: Deployment, port: int, token: str, places: list[str],
                  args: argparse.Namespace) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    load = os.getloadavg()[0]
    answer = httpx.post(f"{dep.base}/v1/rounds", json={}, headers=headers, timeout=60)
    answer.raise_for_status()
    job_id = answer.json()["job"]["job_id"]
    deadline = time.monotonic() + 600
    while job(dep.base, token, job_id)["status"] != RUNNING:
        if time.monotonic() > deadline:
            raise RuntimeError("the round did not start")
        time.sleep(0.05)
    rng = random.Random(12)
    latencies: list[float] = []
    errors = blocks = discarded = 0
    seconds = 0.0
    while blocks < args.max_blocks:
        started = time.perf_counter()
        got, bad = asyncio.run(block(port, token, plans_for(places, args.clients, args.requests, rng)))
        elapsed = time.perf_counter() - started
        if job(dep.base, token, job_id)["status"] != RUNNING:
            discarded += 1  # the round ended during this block: not every answer came while it solved
            break
        latencies += got
        errors += bad
        seconds += elapsed
        blocks += 1
    while (state := job(dep.base, token, job_id))["status"] in ("queued", RUNNING):
        if time.monotonic() > deadline + 1800:
            raise RuntimeError("the round did not end")
        time.sleep(0.5)
    round_s = None
    if state.get("finished_at"):
        round_s = (datetime.fromisoformat(state["finished_at"])
                   - datetime.fromisoformat(state["created_at"])).total_seconds()
    return {"phase": "round", "load_average": round(load, 2), "blocks": blocks,
            "blocks_discarded": discarded, "round_status": state["status"],
            "round_s": None if round_s is None else round(round_s, 1),
            **summary(latencies, errors, seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="large", choices=["small", "medium", "large"])
    parser.add_argument("--deployments", nargs="+", default=list(DEPLOYMENTS), choices=list(DEPLOYMENTS))
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--requests", type=int, default=2000, help="requests per block")
    parser.add_argument("--max-blocks", type=int, default=1000,
                        help="most blocks measured while the round solves (default: enough to span "
                             "the whole round)")
    parser.add_argument("--pg-url", default=os.environ.get("PLATSA_BENCH_PG_URL",
                                                           "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--target-ms", type=float, default=50.0,
                        help="p99 target during the round with workers (on the large pool the command "
                             "exits 1 above it)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "workers.json"))
    args = parser.parse_args()
    print(f"preparing {args.size} on PostgreSQL …", flush=True)
    t0 = time.perf_counter()
    schema, url, token, places = prepare(args.size, args.pg_url)
    print(f"  imported in {time.perf_counter() - t0:.0f} s", flush=True)
    rows = []
    try:
        for name in args.deployments:
            port = free_port()
            dep = Deployment(name, url, port)
            try:
                ready_s = dep.until_idle()
                print(f"{name}: ready and idle after {ready_s:.0f} s", flush=True)
                for measured in (measure_idle(port, token, places, args),
                                 measure_round(dep, port, token, places, args)):
                    row = {"deployment": name, "size": args.size, "clients": args.clients, **measured}
                    rows.append(row)
                    print(f"{name:>8} {row['phase']:>5}: p50 {row['p50_ms']} ms  p99 {row['p99_ms']} ms  "
                          f"{row['requests_per_s']} req/s  {row['requests']} requests in {row['blocks']} "
                          f"block(s)  errors {row['errors']}  load {row['load_average']}"
                          + (f"  round {row['round_status']} in {row['round_s']} s" if row["phase"] == "round"
                             else ""), flush=True)
            finally:
                dep.stop()
    finally:
        drop(args.pg_url, schema)
    single = {r["phase"]: r for r in rows if r["deployment"] == "single"}
    for r in rows:
        base = single.get(r["phase"])
        if r["deployment"] != "single" and base and base["p99_ms"] and r["p99_ms"]:
            r["p99_vs_single"] = round(r["p99_ms"] / base["p99_ms"], 3)
    result = {"database": "PostgreSQL (local)", "endpoint": "GET /v1/places/{id}/shortlist?k=10",
              "client": "asyncio, one keep-alive HTTP/1.1 connection per client, warmed before timing",
              "deployments": {k: {"PLATSA_ROUNDS": v[0], "processes": [" ".join(c) for c in v[1]]}
                              for k, v in DEPLOYMENTS.items() if k in args.deployments},
              "runs": rows}
    write_results(args.out, __file__, result)
    print("\n| deployment | phase | requests | req/s | p50 ms | p99 ms | p99 vs single | round | "
          "errors | load avg |\n|---|---|---:|---:|---:|---:|---:|---|---:|---:|")
    for r in rows:
        rnd = f"{r['round_status']} {r['round_s']} s" if r["phase"] == "round" else ""
        print(f"| {r['deployment']} | {r['phase']} | {r['requests']} | {r['requests_per_s']} | "
              f"{r['p50_ms']} | {r['p99_ms']} | {r.get('p99_vs_single', '')} | {rnd} | {r['errors']} | "
              f"{r['load_average']} |")
    target = [r for r in rows if r["deployment"] == "workers" and r["phase"] == "round"]  # the default
    # The target is the issue's, for the large pool; a smaller pool's round may end before a block.
    missed = bool(target) and (not target[0]["requests"] or target[0]["p99_ms"] > args.target_ms)
    if args.size == "large" and missed:
        print(f"target missed: p99 during the round with workers above {args.target_ms:g} ms",
              file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
