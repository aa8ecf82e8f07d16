"""Load benchmark of the HTTP service: shortlist requests at 1, 10 and 100 concurrent clients.

The server runs in a subprocess (``platsa serve``, SQLite, one process) on 127.0.0.1; this process
is the client: asyncio tasks with one keep-alive HTTP/1.1 connection each, every task sending a
bounded number of shortlist requests (``GET /v1/places/{id}/shortlist?k=10``) for places drawn at
random with a fixed seed per run, as a coordinator. Pools: ``medium`` (10k candidates, 1k places)
and ``large`` (100k, 10k).

The client speaks HTTP/1.1 itself (a request line, headers, a ``Content-Length`` body) rather than
through httpx: on a 2-core machine the client shares the CPUs with the server, and httpx's
per-request work (and one TLS context per client, built while the other clients wait) showed up as
server latency. Connections are opened and warmed with one unmeasured request each before the clock
starts.

Each pool is served twice: with the shortlist cache (``PLATSA_SHORTLIST_CACHE_MB`` at the service's
default, 128) and without it (``0``: every request computes its list, the path before the cache),
so that each run has a same-run baseline. ``repeat %`` is the share of a run's requests for a place that this
server had already been asked for (by earlier runs too). With the cache on, the server also fills it
in the background after start (every place's default list, ``PLATSA_SHORTLIST_WARM``): the clients
start once the server process has gone idle (its CPU time, read from ``/proc``, grows by less than
5 % of a core over half a second), and ``warm s`` says how long that took after the region was
loaded. ``server µs/req`` is the server process's CPU time (all its threads) per request of the run.
The bare cost of :func:`scoring.shortlist.shortlist` on the same pool, in this process, is measured
too. Other ``PLATSA_*`` variables in the environment reach the server (``PLATSA_SHORTLIST_WARM=0``,
``PLATSA_SHORTLIST_FAST_PATH=0`` measure without the warming or the fast path).

``platsa serve`` lets uvicorn pick its HTTP parser and event loop (``http="auto"``, ``loop="auto"``):
httptools and uvloop, which ``uvicorn[standard]`` brings. ``--uvicorn plain`` serves the pools
again with both hidden from the server process, so that uvicorn falls back to its pure-Python h11
parser on asyncio, as with a plain ``uvicorn`` install: the same-run baseline of that dependency.
The ``server`` column says what the server process ran (the extension modules it has mapped, read
from ``/proc``).

Run::

    python benchmarks/bench_service.py            # both pools, 1/10/100 clients, cache on and off
    python benchmarks/bench_service.py --pools medium --cache on --requests 1000
    python benchmarks/bench_service.py --pools medium --same-places   # later runs: cached lists only
    python benchmarks/bench_service.py --pools large --cache on --cache-mb 64   # the cache of before
    python benchmarks/bench_service.py --pools medium --cache on --uvicorn standard plain

Prints a table and writes ``benchmarks/results/service.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import free_port, write_results  # noqa: E402 (benchmarks/_common.py)

from fixtures import generate_region  # noqa: E402
from scoring.policy import load_policy  # noqa: E402
from scoring.pool import build_pool  # noqa: E402
from scoring.shortlist import shortlist  # noqa: E402
from service.auth import Role, create_key  # noqa: E402
from service.config import Settings  # noqa: E402
from service.db import make_engine, migrate  # noqa: E402
from service.store import replace_region  # noqa: E402

POOLS = {"medium": "10k", "large": "100k"}
CACHE_MB = {"on": f"{Settings().shortlist_cache_mb:g}", "off": "0"}
#: Code run in the server process before ``platsa serve``: ``plain`` makes ``import httptools`` and
#: ``import uvloop`` fail there, so that uvicorn's "auto" picks h11 and asyncio.
UVICORN = {"standard": "", "plain": "sys.modules['httptools'] = sys.modules['uvloop'] = None; "}


def store_region(url: str, region: Any) -> str:
    """Migrate the database at ``url``, store ``region`` in it and make a coordinator key: its token."""
    db = make_engine(url)
    migrate(db)
    with db.begin() as conn:
        replace_region(conn, region)
        token = create_key(conn, role=Role.COORDINATOR, name="bench").token
    db.dispose()
    return token


def prepare(size: str, folder: Path) -> tuple[str, str, list[str], float]:
    """A database with the region and a coordinator key; and the bare shortlist() cost in ms."""
    url = f"sqlite:///{folder / f'{size}.db'}"
    region = generate_region("gothenburg", size, seed=7)
    token = store_region(url, region)
    places = region.places.get_column("place_id").to_list()
    policy = load_policy(region.manifest.policy)
    pool, table = build_pool(region, policy)
    sample = random.Random(3).sample(places, min(100, len(places)))
    started = time.perf_counter()
    for place in sample:
        shortlist(pool, table, place, k=10, policy=policy)
    bare_ms = (time.perf_counter() - started) / len(sample) * 1000
    return url, token, places, bare_ms


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system, all threads) of process ``pid`` so far; None where there is no /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_parts(pid: int) -> str:
    """The HTTP parser and event loop process ``pid`` runs, from the extension modules it has mapped.

    uvicorn's ``http="auto"`` and ``loop="auto"`` take httptools and uvloop when they import, and
    the pure-Python h11 on asyncio otherwise. ``?`` where there is no ``/proc``.
    """
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return "?"
    http = "httptools" if "/httptools/" in maps else "h11"
    return f"{http}/{'uvloop' if '/uvloop/' in maps else 'asyncio'}"


def start_server(url: str, port: int, cache_mb: str, uvicorn: str) -> tuple[subprocess.Popen[bytes], float]:
    """The server, once its region is loaded and it has gone idle; and the seconds it took to go idle."""
    env = {**os.environ, "PLATSA_DATABASE_URL": url, "PLATSA_SHORTLIST_CACHE_MB": cache_mb}
    code = f"import sys; {UVICORN[uvicorn]}from service.cli import main; sys.exit(main(sys.argv[1:]))"
    process = subprocess.Popen([sys.executable, "-c", code, "serve", "--port", str(port),
                                "--log-level", "warning"], env=env)
    deadline = time.monotonic() + 600
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).json().get("region_loaded"):
                break
        except (httpx.TransportError, ValueError):
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.2)
    # Warming the shortlist cache runs after the region is loaded: wait until it is done.
    loaded = time.monotonic()
    while (before := cpu_seconds(process.pid)) is not None and time.monotonic() < deadline:
        time.sleep(0.5)
        after = cpu_seconds(process.pid)
        if after is None or after - before < 0.025:
            break
    return process, time.monotonic() - loaded


class Connection:
    """One keep-alive HTTP/1.1 connection sending GETs (enough HTTP for this server's answers)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, token: str) -> None:
        self.reader, self.writer = reader, writer
        self.headers = f"Host: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n"

    @classmethod
    async def open(cls, port: int, token: str) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer, token)

    async def get(self, path: str) -> int:
        """Send one request, read the whole answer; its status."""
        self.writer.write(f"GET {path} HTTP/1.1\r\n{self.headers}".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            raise RuntimeError("an answer without Content-Length")
        await self.reader.readexactly(length)
        return int(head.split(b" ", 2)[1])

    def close(self) -> None:
        self.writer.close()


async def send(connections: list[Connection], plans: list[list[str]]) -> tuple[list[float], int]:
    """Each connection asks for the shortlists of its plan's places, one after the other, all
    connections at once; the latencies (s, in order of completion) and the errors (not a 200)."""
    latencies: list[float] = []
    errors = 0

    async def client(connection: Connection, plan: list[str]) -> None:
        nonlocal errors
        for place in plan:
            t0 = time.perf_counter()
            try:
                errors += await connection.get(f"/v1/places/{place}/shortlist?k=10") != 200
            except (OSError, asyncio.IncompleteReadError, RuntimeError):
                errors += 1
            latencies.append(time.perf_counter() - t0)

    await asyncio.gather(*(client(c, plan) for c, plan in zip(connections, plans, strict=True)))
    return latencies, errors


async def load(port: int, token: str, places: list[str], clients: int, total: int, seed: int,
               asked: set[str], server_pid: int | None = None) -> dict[str, float | None]:
    """``total`` requests from ``clients`` connections; ``asked`` holds the places asked so far."""
    per_client = max(1, total // clients)
    rng = random.Random(seed)
    plans = [[rng.choice(places) for _ in range(per_client)] for _ in range(clients)]
    asked.add(places[0])  # the warm-up's place
    repeats = 0
    for place in (p for plan in plans for p in plan):  # in the order of the requests' positions
        repeats += place in asked
        asked.add(place)
    connections = [await Connection.open(port, token) for _ in range(clients)]
    # Warm-up, not measured: every connection open and used once (the same place for all).
    for connection in connections:
        await connection.get(f"/v1/places/{places[0]}/shortlist?k=10")

    load_average = os.getloadavg()[0]
    cpu_before = None if server_pid is None else cpu_seconds(server_pid)
    started = time.perf_counter()
    latencies, errors = await send(connections, plans)
    elapsed = time.perf_counter() - started
    cpu_after = None if server_pid is None else cpu_seconds(server_pid)
    server_us = (None if cpu_before is None or cpu_after is None
                 else round((cpu_after - cpu_before) / len(latencies) * 1e6))
    for connection in connections:
        connection.close()
    lat = np.array(latencies) * 1000
    return {"clients": clients, "requests": len(latencies), "errors": errors, "seconds": round(elapsed, 2),
            "requests_per_s": round(len(latencies) / elapsed, 1),
            "p50_ms": round(float(np.percentile(lat, 50)), 1),
            "p99_ms": round(float(np.percentile(lat, 99)), 1),
            "repeat_pct": round(100 * repeats / len(latencies), 1), "load_average": round(load_average, 2),
            "server_cpu_us_per_request": server_us}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pools", nargs="+", default=list(POOLS), choices=list(POOLS))
    parser.add_argument("--clients", nargs="+", type=int, default=[1, 10, 100])
    parser.add_argument("--cache", nargs="+", default=list(CACHE_MB), choices=list(CACHE_MB),
                        help="serve with the shortlist cache on, off (the baseline), or both")
    parser.add_argument("--cache-mb", default=CACHE_MB["on"],
                        help=f"PLATSA_SHORTLIST_CACHE_MB of the cache-on server (default: the service's "
                             f"{CACHE_MB['on']})")
    parser.add_argument("--uvicorn", nargs="+", default=["standard"], choices=list(UVICORN),
                        help="standard: uvicorn as installed (httptools, uvloop); plain: without them "
                             "(h11, asyncio), the baseline of uvicorn[standard]; or both")
    parser.add_argument("--requests", type=int, default=1000,
                        help="requests per (pool, uvicorn, cache, clients) run")
    parser.add_argument("--same-places", action="store_true",
                        help="every run draws the same places (one seed), so that runs after the first "
                             "ask only for lists the server has already answered")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "service.json"))
    args = parser.parse_args()
    rows = []
    bare: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.pools:
            url, token, places, bare[POOLS[size]] = prepare(size, Path(tmp))
            print(f"{POOLS[size]:>5} bare shortlist(): {bare[POOLS[size]]:.2f} ms", flush=True)
            for uvicorn, cache in ((u, c) for u in args.uvicorn for c in args.cache):
                port = free_port()
                server, warm_s = start_server(url, port, args.cache_mb if cache == "on" else CACHE_MB[cache],
                                              uvicorn)
                parts = server_parts(server.pid)
                print(f"{POOLS[size]:>5} {parts} cache {cache:>3}: idle {warm_s:.1f} s after the region "
                      "was loaded", flush=True)
                asked: set[str] = set()
                try:
                    for clients in args.clients:
                        total = max(args.requests, clients * 2)
                        # A seed per run: every run draws its own places (repeats are counted).
                        seed = 11 if args.same_places else 11 + clients
                        measured = asyncio.run(load(port, token, places, clients, total, seed, asked,
                                                    server.pid))
                        row = {"pool": POOLS[size], "size": size, "uvicorn": uvicorn, "server": parts,
                               "cache": cache, "warm_s": round(warm_s, 1), **measured}
                        rows.append(row)
                        print(f"{row['pool']:>5} {parts} cache {cache:>3} {clients:>4} clients: "
                              f"{row['requests_per_s']:>7} req/s  p50 {row['p50_ms']:>7} ms  "
                              f"p99 {row['p99_ms']:>7} ms  repeat {row['repeat_pct']:>5} %  "
                              f"server {row['server_cpu_us_per_request']} µs/req  "
                              f"errors {row['errors']}  load {row['load_average']}", flush=True)
                finally:
                    server.terminate()
                    server.wait(timeout=30)
    off = {(r["pool"], r["uvicorn"], r["clients"]): r for r in rows if r["cache"] == "off"}
    for r in rows:
        base = off.get((r["pool"], r["uvicorn"], r["clients"]))
        if r["cache"] == "on" and base is not None:
            r["p99_vs_cache_off"] = round(r["p99_ms"] / base["p99_ms"], 3)
    result = {"server": "platsa serve (uvicorn, 1 process), SQLite",
              "cache_mb": args.cache_mb,
              "server_env": {k: v for k, v in os.environ.items()
                             if k.startswith("PLATSA_") and k != "PLATSA_DATABASE_URL"},
              "endpoint": "GET /v1/places/{id}/shortlist?k=10",
              "client": "asyncio, one keep-alive HTTP/1.1 connection per client, warmed before timing",
              "bare_shortlist_ms": {pool: round(ms, 2) for pool, ms in bare.items()},
              "same_places": args.same_places,
              "runs": rows}
    write_results(args.out, __file__, result)
    print("\n| pool | server | cache | warm s | clients | requests | repeat % | req/s | p50 ms | p99 ms "
          "| p99 vs cache off | server µs/req | errors | load avg |"
          "\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['pool']} | {r['server']} | {r['cache']} | {r['warm_s']} | {r['clients']} | "
              f"{r['requests']} | {r['repeat_pct']} | {r['requests_per_s']} | {r['p50_ms']} | "
              f"{r['p99_ms']} | {r.get('p99_vs_cache_off', '')} | {r['server_cpu_us_per_request']} | "
              f"{r['errors']} | {r['load_average']} |")


if __name__ == "__main__":
    main()
