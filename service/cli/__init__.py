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
import importlib
import importlib.util
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from scoring.exceptions import PolicyError, RegionValidationError, ScoringError

#: Command modules, in the order ``platsa --help`` lists them.
COMMAND_MODULES = (
    "demo",
    "fixtures",
    "validate",
    "policies",
    "shortlist",
    "allocate",
    "verify_round",
    "serve",
    "admin",
    "candidate",
    "retention",
    "bench",
    "report",
    "plan",
)

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2


def policy_dirs() -> tuple[Path, ...]:
    """The folders of extra policy files (``PLATSA_POLICY_DIR``), searched as the server searches them.

    A region folder's ``region.toml`` names its policy by id; the commands that read a folder find
    that id where ``platsa serve`` would, so that a folder valid here imports there.
    """
    from service.config import Settings

    return Settings.from_env().policy_dirs


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
    for name in COMMAND_MODULES:
        if importlib.util.find_spec(f"service.cli.{name}") is None:
            continue  # a command whose module is not part of this build
        module = importlib.import_module(f"service.cli.{name}")
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
