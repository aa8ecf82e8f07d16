"""Property-based fuzzing of the API from its own OpenAPI document (schemathesis).

A server of its own (its data is changed at random) per database backend, an admin key (every
operation is reachable), and for every operation a bounded number of generated requests, valid and
invalid. Checks: no 5xx, and every answer matches its documented schema and media type.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from service.config import Settings
from tests.service.conftest import (
    TEST_ENGINE,
    Api,
    ThreadServer,
    add_keys,
    free_port,
    new_database,
    region_zip,
)

#: Generated requests per operation (and backend): enough to find the classic 5xx, quick to run.
MAX_EXAMPLES = 15


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def fuzz_api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
             database_urls: dict[str, str]) -> Iterator[Api]:
    url = new_database(request.param, tmp_path_factory, database_urls, "fuzz")
    tokens = add_keys(url)
    settings_ = Settings(database_url=url, port=free_port(), engine=TEST_ENGINE)
    with ThreadServer(settings_):
        api = Api(request.param, f"http://127.0.0.1:{settings_.port}", url, tokens)
        with api.client("admin") as client:
            assert client.post("/v1/region/import", content=region_zip(),
                               headers={"Content-Type": "application/zip"}).status_code == 201
        yield api


def test_no_server_error_and_answers_match_their_schema(fuzz_api: Api) -> None:
    # schemathesis' own pytest plugin does not run under pytest 9, so each operation's strategy is
    # driven here with hypothesis directly; every failure is collected before the assertion.
    schema = schemathesis.openapi.from_url(f"{fuzz_api.base_url}/openapi.json")
    headers = {"Authorization": f"Bearer {fuzz_api.tokens['admin']}"}
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 28

    for operation in operations:

        @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(
                headers=headers,
                checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
            )

        try:
            run()
        except Exception as exc:  # a check failed: keep going, report all
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert failures == [], "\n\n".join(failures)
