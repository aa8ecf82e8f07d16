"""``platsa admin``: API keys (create, revoke, list) on the service's database."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from service.cli.common import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE

if TYPE_CHECKING:
    from sqlalchemy import Engine


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from service.auth import Role

    p = sub.add_parser("admin", help="manage API keys of the HTTP service",
                       description="Manage the API keys in the database named by PLATSA_DATABASE_URL.")
    asub = p.add_subparsers(dest="admin_command", metavar="ACTION", required=True)
    c = asub.add_parser("create-key", help="create a key and print its token (shown once)")
    c.add_argument("--role", required=True, choices=[r.value for r in Role])
    c.add_argument("--district", default=None, help="a labour_market_unit key's district id")
    c.add_argument("--supplier", default=None, help="a supplier key's supplier id")
    c.add_argument("--name", default="", help="who the key is for")
    c.set_defaults(func=run_create)
    r = asub.add_parser("revoke-key", help="revoke a key by its id")
    r.add_argument("key_id", type=int, metavar="ID")
    r.set_defaults(func=run_revoke)
    ls = asub.add_parser("list-keys", help="list keys (never their tokens)")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=run_list)


def _db() -> Engine:
    from service.config import Settings
    from service.db import make_engine, migrate
    from service.db.engine import writer

    db = make_engine(Settings.from_env().sqlalchemy_url)
    migrate(db)
    return writer(db)


def run_create(args: argparse.Namespace) -> int:
    from service.auth import KeyBindingError, create_key

    db = _db()
    try:
        with db.begin() as conn:
            key = create_key(conn, role=args.role, name=args.name, district_id=args.district,
                             supplier_id=args.supplier)
    except KeyBindingError as exc:
        for problem in exc.problems:
            print(f"platsa admin create-key: {problem}", file=sys.stderr)
        print("platsa admin create-key: no key was created", file=sys.stderr)
        return EXIT_USAGE
    finally:
        db.dispose()
    for warning in key.warnings:
        print(f"platsa admin create-key: warning: {warning}", file=sys.stderr)
    print(f"key {key.principal.key_id} ({key.principal.role.value}) created; its token, shown only now:")
    print(key.token)
    return EXIT_OK


def run_revoke(args: argparse.Namespace) -> int:
    from service.auth import revoke_key

    db = _db()
    with db.begin() as conn:
        done = revoke_key(conn, args.key_id)
    db.dispose()
    print(f"key {args.key_id} revoked" if done else f"no active key {args.key_id}")
    return EXIT_OK if done else EXIT_PROBLEMS


def run_list(args: argparse.Namespace) -> int:
    from service.auth import list_keys

    db = _db()
    with db.connect() as conn:
        keys = list_keys(conn)
    db.dispose()
    if args.json:
        print(json.dumps(keys, default=str, indent=2))
        return EXIT_OK
    for k in keys:
        state = "revoked" if k["revoked_at"] else "active"
        binding = k["district_id"] or k["supplier_id"] or ""
        print(f"{k['key_id']:>4}  {k['role']:<20} {binding:<14} {k['token_prefix']}…  {state:<8} {k['name']}")
    return EXIT_OK
