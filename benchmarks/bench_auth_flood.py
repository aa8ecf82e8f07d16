"""A legitimate key's latency while another client floods the service with wrong keys.

The server runs in a subprocess (``platsa serve``, SQLite, one process) on 127.0.0.1. One client
sends ``GET /v1/districts`` with a valid coordinator key, one request at a time on a keep-alive
connection, and its latencies are measured; meanwhile ``--flooders`` connections send the same
request with a new wrong key each time, as fast as the server answers them. The flooders present
themselves as one remote client (``X-Forwarded-For: 203.0.113.7``, which uvicorn believes from
127.0.0.1, as from a reverse proxy on the same host); the legitimate client is 127.0.0.1.

Three servers, in the same run:

- ``alone``: no flood (the baseline);
- ``flood, no limit``: the flood with ``PLATSA_AUTH_FAILURE_LIMIT=0`` (the service before the limit:
  every wrong key is looked up in the database);
- ``flood, limit``: the flood with the default limit (20 failures a minute per address), so after
  the first 20 the flood is answered 429 before any lookup;
- with ``--compare-with CHECKOUT``, ``alone, other``: no flood, served by another checkout's code
  (the branch before the gate), the cost of the gate's checks on a legitimate request.

Ratios are against ``alone``. The machine is shared: read the ratios, not the milliseconds.

Run::

    python benchmarks/bench_auth_flood.py                   # 2000 legitimate requests, 4 flooders
    python benchmarks/bench_auth_flood.py --requests 500 --flooders 8
    python benchmarks/bench_auth_flood.py --compare-with ../main   # and the code before the gate

Prints a table and writes ``benchmarks/results/auth_flood.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import free_port, write_results  # noqa: E402 (benchmarks/_common.py)

from service.auth import create_key  # noqa: E402
from service.config import Settings  # noqa: E402
from service.db import make_engine, migrate  # noqa: E402

PATH = "/v1/districts"


def start(url: str, port: int, **env: str) -> subprocess.Popen[bytes]:
    environ = {**os.environ, "PLATSA_DATABASE_URL": url, **env}
    code = "import sys; from service.cli import main; sys.exit(main(sys.argv[1:]))"
    process = subprocess.Popen(
        [sys.executable, "-c", code, "serve", "--port", str(port), "--log-level", "error"], env=environ)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the server did not start")


async def request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, headers: str) -> int:
    writer.write(f"GET {PATH} HTTP/1.1\r\nHost: bench\r\n{headers}\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next(int(v) for k, _, v in (line.partition(":") for line in lines[1:])
                  if k.lower() == "content-length")
    await reader.readexactly(length)
    return int(lines[0].split()[1])


async def measure(port: int, token: str, requests: int, flooders: int) -> dict[str, float]:
    stop = asyncio.Event()
    flood_statuses: dict[int, int] = {}

    async def flood(n: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = 0
        while not stop.is_set():
            i += 1
            status = await request(reader, writer, f"Authorization: Bearer platsa_wrong-{n}-{i}\r\n"
                                                   "X-Forwarded-For: 203.0.113.7\r\n")
            flood_statuses[status] = flood_statuses.get(status, 0) + 1
        writer.close()

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    auth = f"Authorization: Bearer {token}\r\n"
    for _ in range(20):  # warm: the key is cached
        assert await request(reader, writer, auth) == 200
    tasks = [asyncio.create_task(flood(n)) for n in range(flooders)]
    await asyncio.sleep(0.5 if flooders else 0)
    latencies = []
    started = time.perf_counter()
    for _ in range(requests):
        t = time.perf_counter()
        status = await request(reader, writer, auth)
        latencies.append((time.perf_counter() - t) * 1000)
        assert status == 200, status
    elapsed = time.perf_counter() - started
    stop.set()
    await asyncio.gather(*tasks)
    writer.close()
    latencies.sort()
    return {"p50_ms": statistics.median(latencies), "p99_ms": latencies[int(len(latencies) * 0.99) - 1],
            "flood_per_s": sum(flood_statuses.values()) / elapsed,
            "flood_401": flood_statuses.get(401, 0), "flood_429": flood_statuses.get(429, 0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--flooders", type=int, default=4)
    parser.add_argument("--compare-with", metavar="CHECKOUT", default=None,
                        help="also serve 'alone' from this checkout (e.g. the main branch before the gate)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "auth_flood.json"))
    args = parser.parse_args()
    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        engine = make_engine(Settings(database_url=url).sqlalchemy_url)
        migrate(engine)
        with engine.begin() as conn:
            token = create_key(conn, role="coordinator", name="bench").token
        engine.dispose()
        runs: list[tuple[str, int, dict[str, str]]] = [
            ("alone", 0, {}), ("flood, no limit", args.flooders, {"PLATSA_AUTH_FAILURE_LIMIT": "0"}),
            ("flood, limit", args.flooders, {})]
        if args.compare_with:
            runs.insert(0, ("alone, other", 0, {"PYTHONPATH": str(Path(args.compare_with).resolve())}))
        for name, flooders, env in runs:
            port = free_port()
            process = start(url, port, **env)
            try:
                rows[name] = asyncio.run(measure(port, token, args.requests, flooders))
            finally:
                process.terminate()
                process.wait(timeout=30)
    base = rows["alone"]
    print(f"{'run':<18}{'p50 ms':>9}{'p99 ms':>9}{'p99 ×':>8}{'flood/s':>10}{'401':>8}{'429':>8}")
    for name, row in rows.items():
        print(f"{name:<18}{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}{row['p99_ms'] / base['p99_ms']:>8.2f}"
              f"{row['flood_per_s']:>10.0f}{row['flood_401']:>8.0f}{row['flood_429']:>8.0f}")
    write_results(args.out, __file__, {"requests": args.requests, "flooders": args.flooders, "runs": rows})


if __name__ == "__main__":
    main()
