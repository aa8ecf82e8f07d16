"""The ``platsa`` command line.

Each command lives in its own module of this package and exposes ``register(subparsers)``, which adds
its parser and sets ``func`` (a callable taking the parsed arguments and returning an exit code).
``main`` wires them together, configures logging, and turns the project's errors into a message and a
non-zero exit code: a user never sees a traceback for bad input.

Exit codes: 0 success, 1 the work ran but found problems (invalid data, infeasible round),
2 bad usage or input that could not be read.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from scoring.exceptions import PolicyError, RegionValidationError, ScoringError
from service.cli import (
    account,
    admin,
    allocate,
    bench,
    candidate,
    demo,
    fixtures,
    model,
    plan,
    policies,
    report,
    retention,
    serve,
    shortlist,
    validate,
    verify_round,
    worker,
)
from service.cli.common import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, policy_dirs

#: The command modules, in the order ``platsa --help`` lists them.
COMMANDS = (demo, fixtures, validate, policies, shortlist, allocate, verify_round, serve, worker, admin,
            account, candidate, retention, bench, report, plan, model)

__all__ = ["COMMANDS", "EXIT_OK", "EXIT_PROBLEMS", "EXIT_USAGE", "build_parser", "main", "policy_dirs"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="platsa",
        description=(
            "Platsa matches candidates far from the labour market to the places that suppliers offer "
            "under employment requirements in public contracts. Start with 'platsa demo', or generate "
            "a region with 'platsa fixtures generate' and explore it with the other commands."
        ),
        epilog="Run 'platsa COMMAND --help' for a command's options. Docs: README.md and docs/.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to standard error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        code: int = args.func(args)
    except (RegionValidationError, PolicyError) as exc:
        print(f"platsa {args.command}: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    except ScoringError as exc:
        print(f"platsa {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader went away (e.g. `platsa ... | head`): not an error worth a traceback.
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
