"""The example client of ``docs/integration.md`` runs against a live server: it receives and verifies
webhooks, polls with its cursor and answers; a second run sees only what changed."""

# ruff: noqa: F811 - the integration_api fixture is imported, then named by the tests that use it

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from tests.service.conftest import Api, free_port
from tests.service.integration_support import (  # noqa: F401 - integration_api: a fixture
    client,
    integration_api,
    new_candidate,
    propose,
)

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "supplier_client.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("supplier_client", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["supplier_client"] = module
    spec.loader.exec_module(module)
    return module


def test_the_example_client_polls_answers_and_verifies_webhooks(integration_api: Api) -> None:
    api = integration_api
    example = load_example()
    port = free_port()
    s2 = client(api, "supplier_s2")
    endpoint = s2.post("/v1/supplier/webhooks", json={"url": f"http://127.0.0.1:{port}/platsa/webhook",
                                                      "event_types": ["proposal.created"]}).json()
    # Proposed before the client listens: the deliveries fail, back off, and arrive once it does.
    new = propose(api, "pl2", [new_candidate(api), new_candidate(api)])
    try:
        first = example.main(api.base_url, api.tokens["supplier_s2"], endpoint["secret"], listen_port=port,
                             wait_for_events=2, wait_s=20)
        assert {e["proposal_id"] for e in first["events"]} >= set(new)
        assert {e["type"] for e in first["events"]} == {"proposal.created"}
        assert first["rejected_webhooks"] == 0
        assert {first["answers"][p] for p in new} == {"view"}
        for pid in new:
            assert s2.get(f"/v1/supplier/proposals/{pid}").json()["status"] == "viewed"
        # The next run, from the stored cursor, sees only what changed since: the new proposal, and
        # the two the first run answered after it had polled.
        [later] = propose(api, "pl2", [new_candidate(api)])
        second = example.main(api.base_url, api.tokens["supplier_s2"], endpoint["secret"], listen_port=port,
                              cursor=first["cursor"])
        assert second["proposals_seen"] == 3 and second["answers"] == {later: "view"}
        third = example.main(api.base_url, api.tokens["supplier_s2"], endpoint["secret"], listen_port=port,
                             cursor=second["cursor"])
        assert (third["proposals_seen"], third["answers"]) == (1, {})  # its own answer to `later`
    finally:
        s2.delete(f"/v1/supplier/webhooks/{endpoint['endpoint_id']}")


def test_the_example_verifies_like_the_service_signs() -> None:
    import pytest

    from service.integration import signing

    example = load_example()
    body = b'{"id":"evt_1"}'
    headers = signing.headers(["whsec_a", "whsec_b"], "evt_1", body)
    assert example.verify_signature("whsec_b", body, headers) == "evt_1"
    with pytest.raises(example.InvalidSignature):
        example.verify_signature("whsec_c", body, headers)
    with pytest.raises(example.InvalidSignature):
        example.verify_signature("whsec_a", body + b"x", headers)
