"""A round's defaults are stated once (issue 19): the HTTP body, the command line and the core agree."""

from __future__ import annotations

import argparse

from scoring.allocation import RoundParams as CoreRoundParams
from service.cli import allocate
from service.routes.rounds import RoundParams


def test_the_http_body_and_the_command_line_take_the_cores_defaults() -> None:
    core = CoreRoundParams()
    body = RoundParams()
    for name in RoundParams.model_fields:
        assert getattr(body, name) == getattr(core, name), name
    parser = argparse.ArgumentParser()
    allocate.register(parser.add_subparsers())
    args = parser.parse_args(["allocate", "--data", "x"])
    assert args.objective.replace("-", "_") == core.objective
    assert args.method.replace("-", "_") == core.method
    assert (args.time_limit, args.seed) == (core.time_limit_s, core.seed)
    assert (not args.no_keys, not args.no_floors, not args.no_prune) == (core.use_keys, core.use_floors, core.prune)
