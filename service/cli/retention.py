"""``platsa retention``: what the policy's retention periods make due, counted or deleted
(``docs/data-protection.md``, "Retention"), on the database named by ``PLATSA_DATABASE_URL``."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from service.cli.common import EXIT_OK, EXIT_USAGE


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("retention", help="count (--dry-run) or delete (--apply) records past their retention",
                       description="Records older than the region policy's [retention] periods: counted "
                                   "per table with --dry-run, deleted with --apply (one audit entry).")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--dry-run", action="store_true", help="count what is due; delete nothing")
    what.add_argument("--apply", action="store_true", help="delete what is due")
    p.add_argument("--at", default=None, metavar="TIME",
                   help="with --dry-run: count what is due at this ISO 8601 time (UTC if no offset) instead "
                        "of now, to see what a later run will delete")
    p.add_argument("--json", action="store_true", help="print the counts as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from service import retention
    from service.cli.admin import _db
    from service.config import Settings

    now = dt.datetime.now(dt.UTC)
    if args.at is not None:
        if args.apply:
            print("platsa retention: --at goes with --dry-run only (--apply deletes what is due now)",
                  file=sys.stderr)
            return EXIT_USAGE
        try:
            now = dt.datetime.fromisoformat(args.at)
        except ValueError:
            print(f"platsa retention: --at {args.at!r} is not an ISO 8601 time", file=sys.stderr)
            return EXIT_USAGE
        now = now if now.tzinfo is not None else now.replace(tzinfo=dt.UTC)
    settings = Settings.from_env()
    db = _db()
    try:
        with db.begin() as conn:
            periods = retention.retention_for(conn, settings)
            if args.apply:
                counts = retention.apply(conn, periods, settings, now)
            else:
                counts = retention.due(conn, periods, settings, now)
    finally:
        db.dispose()
    if args.json:
        print(json.dumps({"applied": bool(args.apply), "counts": counts}))
        return EXIT_OK
    verb = "deleted" if args.apply else "due (nothing deleted: --apply deletes)"
    print(f"retention at {now.isoformat(timespec='seconds')}: {verb}")
    for name, n in counts.items():
        print(f"  {name}: {n}")
    return EXIT_OK
