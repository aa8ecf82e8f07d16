"""``platsa serve``: run the HTTP service (uvicorn), migrating the database first.

One process (the round worker and the audit writer are threads in it). uvicorn runs with its
fastest available parts (``loop="auto"``: uvloop when installed; ``http="auto"``: httptools when
installed; both come with ``uvicorn[standard]``) and without the access log, which costs a log
record per request; ``--access-log`` turns it on.
"""

from __future__ import annotations

import argparse

from service.cli import EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve",
        help="run the HTTP API",
        description=(
            "Serve the HTTP API (docs/api.md). The database is PLATSA_DATABASE_URL (default "
            "sqlite:///./platsa.db); migrations are applied on start. With --demo, an empty database "
            "first gets a generated demo region and one API key per role, printed once."
        ),
    )
    p.add_argument("--host", default=None, help="interface to listen on (default PLATSA_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default PLATSA_PORT or 8000)")
    p.add_argument("--demo", action="store_true", help="load a demo region and print one key per role")
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    p.add_argument("--access-log", action="store_true", help="log every request (off by default: it costs)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from service.app import create_app
    from service.config import Settings
    from service.db import make_engine, migrate

    settings = Settings.from_env(host=args.host, port=args.port)
    if args.demo:
        from service.demo import load_demo

        db = make_engine(settings.sqlalchemy_url)
        migrate(db)
        keys = load_demo(db)
        db.dispose()
        if keys is None:
            print("--demo: the database already holds a region; nothing loaded, no keys created")
        else:
            print("Demo region loaded. API keys (shown once, keep them):")
            for key in keys:
                binding = key.principal.district_id or key.principal.supplier_id or ""
                print(f"  {key.principal.role.value:<20} {binding:<12} {key.token}")
            base = f"http://{settings.host}:{settings.port}"
            print(f"Try: curl -H 'Authorization: Bearer {keys[1].token}' {base}/v1/places?limit=1")
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=args.log_level,
                access_log=args.access_log, loop="auto", http="auto")
    return EXIT_OK
