"""``platsa candidate``: the data subject's rights on the service's database (docs/data-protection.md).

``platsa candidate export ID`` prints (or writes) everything stored about a candidate as JSON
(GDPR art. 15); ``platsa candidate erase ID --yes`` erases the person (art. 17): the candidate row
goes, the history keeps a pseudonym. Both are audited, as the command line (no API key).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from service.cli.common import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE

if TYPE_CHECKING:
    from service.auth import Principal


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("candidate", help="export or erase a candidate's data (GDPR art. 15, 17)",
                       description="Export or erase one candidate's data in the database named by "
                                   "PLATSA_DATABASE_URL (docs/data-protection.md).")
    csub = p.add_subparsers(dest="candidate_command", metavar="ACTION", required=True)
    e = csub.add_parser("export", help="everything stored about a candidate, as JSON")
    e.add_argument("candidate_id", metavar="ID")
    e.add_argument("--out", type=Path, default=None, help="write to this file instead of standard output")
    e.set_defaults(func=run_export)
    r = csub.add_parser("erase", help="erase a candidate's personal data; the history keeps a pseudonym")
    r.add_argument("candidate_id", metavar="ID")
    r.add_argument("--yes", action="store_true", help="confirm: the erasure cannot be undone")
    r.set_defaults(func=run_erase)


def _cli_principal() -> Principal:
    from service.auth import Principal, Role

    # key_id None: not an API key (the audit log's key_id is empty for the service's own acts).
    return Principal(None, "platsa candidate (command line)", Role.ADMIN)  # type: ignore[arg-type]


def run_export(args: argparse.Namespace) -> int:
    from fastapi.encoders import jsonable_encoder

    from service import audit, subject
    from service.cli.admin import _db

    db = _db()
    try:
        with db.begin() as conn:
            try:
                data = subject.export(conn, args.candidate_id)
            except subject.NoSuchCandidate:
                print(f"platsa candidate export: no candidate {args.candidate_id!r}", file=sys.stderr)
                return EXIT_PROBLEMS
            audit.record(conn, _cli_principal(), "export", "candidate", args.candidate_id,
                         candidate_ids=[args.candidate_id], detail="data subject export (GDPR art. 15)")
    finally:
        db.dispose()
    text = json.dumps(jsonable_encoder(data), ensure_ascii=False, indent=2)
    if args.out is None:
        print(text)
    else:
        args.out.write_text(text + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return EXIT_OK


def run_erase(args: argparse.Namespace) -> int:
    from service import store, subject
    from service.cli.admin import _db

    if not args.yes:
        print("platsa candidate erase: the erasure cannot be undone; add --yes to confirm", file=sys.stderr)
        return EXIT_USAGE
    db = _db()
    try:
        with db.begin() as conn:
            store.lock_region(conn, exclusive=True)
            try:
                pseudonym = subject.erase(conn, args.candidate_id, _cli_principal())
            except subject.NoSuchCandidate:
                print(f"platsa candidate erase: no candidate {args.candidate_id!r}", file=sys.stderr)
                return EXIT_PROBLEMS
    finally:
        db.dispose()
    print(f"erased {args.candidate_id}: its history is kept under {pseudonym}; a server running on this "
          "database drops the person from its answers within a second (docs/deploy.md)")
    return EXIT_OK
