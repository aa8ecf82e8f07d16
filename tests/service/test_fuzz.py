"""Property-based fuzzing of the API from its own OpenAPI document: schemathesis, every check, every role.

A server with the test region (its data is changed at random as the runs go), and for each role — admin,
coordinator, labour-market unit of a district, orderer, supplier, researcher, and no key at all — one run
of schemathesis' engine over every operation: the **examples** phase (every documented example, once),
the **fuzzing** phase (generated requests, valid and invalid) and, for admin, the **coverage** phase.
Every check schemathesis has is on; the test fails on any failure or error, naming the request and the
answer:

- ``not_a_server_error`` (no 5xx), ``status_code_conformance`` (no undocumented status),
  ``content_type_conformance``, ``response_headers_conformance``, ``response_schema_conformance`` (no
  schema violation: every timestamp with its zone, every problem of its documented kind);
- ``negative_data_rejection`` (invalid input is a 4xx), ``positive_data_acceptance`` (valid input is
  not refused; see :data:`ACCEPTED_STATUSES`), ``missing_required_header``, ``ignored_auth`` (a key is
  needed), ``unsupported_method`` and ``allow_header_conformance`` (a method the path does not take is a
  405 naming the path's methods in ``Allow``; it runs in the coverage phase). ``use_after_free``,
  ``ensure_resource_availability`` and ``object_level_authorization`` are on too, but they judge
  sequences of calls, which only the stateful phase makes: it is left out (the document declares no
  links between operations), so they check nothing here.

The admin run is repeated on
PostgreSQL. The number of generated requests per operation of each run is in :data:`RUNS` (per
generation mode, positive and negative, on top of the documented examples): about 4 600 requests in
all (2 600 of them admin's), some 90 s on a shared 2-core machine (the test it replaces, admin only and
without the checks beyond schema and status, took 60 s).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema

from tests.service.conftest import Api, server_with_region

#: The runs: backend, role, generated requests per operation and generation mode (positive and
#: negative, deterministic: the same every run), and whether the coverage phase runs too. Admin
#: reaches every operation's logic, so it gets the most, and the coverage phase (schemathesis' boundary
#: and invalid values for every parameter, and every method a path does not take: about 2 200
#: requests, negative mode); a role refused an operation gets a 403 for every request there, and two
#: per mode show each operation refusing it properly. PostgreSQL repeats admin's fuzzing.
RUNS: list[tuple[str, str, int, bool]] = [
    ("sqlite", "admin", 4, True),
    ("sqlite", "coordinator", 2, False),
    ("sqlite", "labour_market_unit", 2, False),
    ("sqlite", "orderer", 2, False),
    ("sqlite", "supplier", 2, False),
    ("sqlite", "researcher", 2, False),
    ("sqlite", "no key", 2, False),
    ("postgres", "admin", 2, False),
]

#: The key of each role (``tests.service.conftest.KEYS``); None: no ``Authorization`` header at all.
ROLE_KEYS = {"admin": "admin", "coordinator": "coordinator", "labour_market_unit": "lmu_angered",
             "orderer": "orderer", "supplier": "supplier_s1", "researcher": "researcher", "no key": None}

#: What a valid request may be answered with: besides schemathesis' default, 422. A request can be
#: valid by the schema and still break a rule JSON Schema cannot state: a reference to a row that does
#: not exist (a district, a supplier, a candidate), two fields that contradict each other (a contract
#: that ends before it starts, ``as_of`` outside the year), a reused ``Idempotency-Key``. Each such 422
#: is documented and names every field; a 5xx or an undocumented status still fails.
ACCEPTED_STATUSES = ["2xx", "3xx", 401, 403, 404, 409, 422, 429]

# The region upload's zip body is bytes, as application/octet-stream's.
schemathesis.serializer.alias("application/zip", "application/octet-stream")


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory,
            database_urls: dict[str, str]) -> Iterator[Callable[[str], Api]]:
    """A server per backend with the test region, started when first asked for."""
    started: dict[str, Api] = {}
    with ExitStack() as stack:
        def get(backend: str) -> Api:
            if backend not in started:
                started[backend] = stack.enter_context(
                    server_with_region(backend, tmp_path_factory, database_urls, f"fuzz-{backend}"))
            return started[backend]

        yield get


def _config(token: str | None, base_url: str, max_examples: int, coverage: bool) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict({
        "base-url": base_url,
        "headers": {"Authorization": f"Bearer {token}"} if token else {},
        "checks": {"enabled": True, "positive_data_acceptance": {"expected-statuses": ACCEPTED_STATUSES}},
        "generation": {"max-examples": max_examples, "deterministic": True, "mode": "all"},
        "phases": {"examples": {"enabled": True},
                   "coverage": {"enabled": coverage, "generation": {"mode": "negative"}},
                   "fuzzing": {"enabled": True}, "stateful": {"enabled": False}},
        "workers": 1,
        "suppress-health-check": ["all"],
        "request-timeout": 30,
    })


def _describe(recorder: Any, case_id: str, check: Any) -> str:
    case = recorder.cases[case_id].value
    interaction = recorder.interactions.get(case_id)
    answer = "no answer"
    if interaction is not None and interaction.response is not None:
        body = interaction.response.content[:400].decode("utf-8", "replace")
        answer = f"{interaction.response.status_code} {body}"
    failure = check.failure_info.failure
    return (f"{getattr(failure, 'code', '')} {check.name} on {recorder.label}: {failure.title}\n"
            f"    request: {case.as_curl_command()}\n    answer:  {answer}")


def run_schemathesis(api: Api, role: str, max_examples: int, coverage: bool) -> tuple[int, list[str]]:
    """One engine run for ``role``: the requests it sent, and every failure and error it met."""
    document = httpx.get(f"{api.base_url}/openapi.json", timeout=60).json()
    key = ROLE_KEYS[role]
    config = _config(api.tokens[key] if key else None, api.base_url, max_examples, coverage)
    schema = schemathesis.openapi.from_dict(document, config=config)
    sent, problems = 0, []
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            sent += len(recorder.interactions)
            for case_id, checks in recorder.checks.items():
                problems += [_describe(recorder, case_id, c) for c in checks if c.failure_info is not None]
        elif isinstance(event, events.NonFatalError | events.FatalError):
            # An operation that could not be tested is a failure too (a body it cannot send, ...).
            problems.append(f"error on {getattr(event, 'label', '?')}: {getattr(event, 'value', event)!r}")
    return sent, sorted(set(problems))


@pytest.mark.parametrize(("backend", "role", "max_examples", "coverage"), RUNS,
                         ids=[f"{run[0]}-{run[1].replace(' ', '-')}" for run in RUNS])
def test_every_check_passes_for_every_role(servers: Callable[[str], Api], backend: str, role: str,
                                           max_examples: int, coverage: bool) -> None:
    api = servers(backend)
    with server_errors() as errors:
        sent, problems = run_schemathesis(api, role, max_examples, coverage)
    assert sent >= 57 * 2, f"only {sent} requests: not every operation was reached"
    print(f"{backend} {role}: {sent} requests")  # the figure in the module's docstring
    assert problems == [], "\n\n".join(problems + errors)


class _Errors(logging.Handler):
    """The server's logged exceptions, each as the last lines of its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            lines = "".join(traceback.format_exception(*record.exc_info)).rstrip().splitlines()
            self.found.append(f"server log ({record.name}): " + "\n    ".join(lines[-24:]))


@contextmanager
def server_errors() -> Iterator[list[str]]:
    """Collect what the in-process server logs with a traceback while the block runs: a 5xx's cause
    is then part of the failure itself, not only of the captured output (which CI may cut short)."""
    handler = _Errors()
    loggers = [logging.getLogger(), logging.getLogger("uvicorn.error")]  # uvicorn's does not propagate
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler.found
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


# -- 5xx that fuzzing found (issue 14) -----------------------------------------------------------


def test_a_procurement_id_outside_latin_1_is_refused_not_a_500(servers: Callable[[str], Api]) -> None:
    # Found by `schemathesis run --checks all` (coverage phase) as admin:
    #   POST /v1/procurements {"procurement_id": "\uda47\ude39", "supplier_id": "s2", ...}
    #   → 500 {"type": "/problems/internal", ...}
    body = {"procurement_id": "\U000a1e39", "title": "Ombyggnad förskola", "procurement_type": "service",
            "supplier_id": "s2", "contract_start": "2026-12-31", "contract_end": "2070-01-01",
            "value_sek": 100000, "executed_locally": False, "staff_needed": 3, "requirement_type": "hard",
            "required_places": 1, "penalty_sek": 100000}
    with servers("sqlite").client("admin") as client:
        answer = client.post("/v1/procurements", json=body)
    assert answer.status_code == 422, answer.text
