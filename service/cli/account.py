"""``platsa account``: personal accounts of the web pages (create, list, disable, set-password).

The rules are :mod:`service.accounts`' (the admin page ``/admin/accounts`` uses the same functions):
a username of lower-case letters, digits, ``.``, ``_`` and ``-``; a password of at least 12
characters, read from a prompt (twice) or, with ``--password-stdin``, from the first line of
standard input, never from the command line (it would stay in the shell's history and in ``ps``).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import TYPE_CHECKING

from service.cli.common import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE

if TYPE_CHECKING:
    from sqlalchemy import Engine


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from service.auth import Role

    p = sub.add_parser("account", help="manage people's accounts for the web pages",
                       description="Manage the personal accounts (sign-in to the web pages) in the database "
                                   "named by PLATSA_DATABASE_URL. API keys: 'platsa admin'.")
    asub = p.add_subparsers(dest="account_command", metavar="ACTION", required=True)
    c = asub.add_parser("create", help="create an account (the password is asked for)")
    c.add_argument("--username", required=True)
    c.add_argument("--role", required=True, choices=[r.value for r in Role])
    c.add_argument("--district", default=None, help="a labour_market_unit account's district id")
    c.add_argument("--supplier", default=None, help="a supplier account's supplier id")
    c.add_argument("--name", default="", help="the person's name, as the pages show it")
    c.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    c.set_defaults(func=run_create)
    ls = asub.add_parser("list", help="list accounts (never their passwords)")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=run_list)
    d = asub.add_parser("disable", help="disable an account and end its sessions")
    d.add_argument("username")
    d.set_defaults(func=run_disable)
    s = asub.add_parser("set-password",
                        help="set a new password (ends the account's sessions, lifts a lockout)")
    s.add_argument("username")
    s.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    s.set_defaults(func=run_set_password)


def _db() -> Engine:
    from service.config import Settings
    from service.db import make_engine, migrate
    from service.db.engine import writer

    db = make_engine(Settings.from_env().sqlalchemy_url)
    migrate(db)
    return writer(db)


def _password(args: argparse.Namespace) -> str | None:
    """The new password from standard input or a prompt; None (said why) when it cannot be read."""
    command = f"platsa account {args.account_command}"
    if args.password_stdin:
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    if not sys.stdin.isatty():
        print(f"{command}: no terminal to ask for the password: use --password-stdin", file=sys.stderr)
        return None
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        print(f"{command}: the two passwords differ; nothing was changed", file=sys.stderr)
        return None
    return first


def run_create(args: argparse.Namespace) -> int:
    from service.accounts import AccountError, create_account

    password = _password(args)
    if password is None:
        return EXIT_USAGE
    db = _db()
    try:
        with db.begin() as conn:
            created = create_account(conn, username=args.username, password=password, role=args.role,
                                     district_id=args.district, supplier_id=args.supplier,
                                     display_name=args.name)
    except AccountError as exc:
        for problem in exc.problems:
            print(f"platsa account create: {problem}", file=sys.stderr)
        print("platsa account create: no account was created", file=sys.stderr)
        return EXIT_USAGE
    finally:
        db.dispose()
    for warning in created.warnings:
        print(f"platsa account create: warning: {warning}", file=sys.stderr)
    account = created.account
    binding = account.district_id or account.supplier_id
    print(f"account {account.username} ({account.role.value}{', ' + binding if binding else ''}) created; "
          "sign in at /sign-in")
    return EXIT_OK


def run_list(args: argparse.Namespace) -> int:
    from service.accounts import list_accounts

    db = _db()
    with db.connect() as conn:
        listed = list_accounts(conn)
    db.dispose()
    if args.json:
        print(json.dumps([{"username": a.username, "name": a.display_name, "role": a.role.value,
                           "district_id": a.district_id, "supplier_id": a.supplier_id,
                           "created_at": a.created_at.isoformat(),
                           "disabled_at": a.disabled_at and a.disabled_at.isoformat()} for a in listed],
                         indent=2))
        return EXIT_OK
    for a in listed:
        state = "disabled" if a.disabled_at else "active"
        binding = a.district_id or a.supplier_id or ""
        print(f"{a.username:<24} {a.role.value:<20} {binding:<24} {state:<8} {a.display_name}")
    return EXIT_OK


def run_disable(args: argparse.Namespace) -> int:
    from service.accounts import disable_account

    db = _db()
    with db.begin() as conn:
        done = disable_account(conn, args.username)
    db.dispose()
    print(f"account {args.username} disabled; its sessions ended" if done
          else f"no active account {args.username}")
    return EXIT_OK if done else EXIT_PROBLEMS


def run_set_password(args: argparse.Namespace) -> int:
    from service.accounts import AccountError, set_password

    password = _password(args)
    if password is None:
        return EXIT_USAGE
    db = _db()
    try:
        with db.begin() as conn:
            done = set_password(conn, args.username, password)
    except AccountError as exc:
        for problem in exc.problems:
            print(f"platsa account set-password: {problem}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        db.dispose()
    print(f"account {args.username}: new password set; its sessions ended" if done
          else f"no account {args.username}")
    return EXIT_OK if done else EXIT_PROBLEMS
