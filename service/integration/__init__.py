"""The supplier integration: proposals' lifecycle, pseudonyms, webhooks and idempotent POSTs.

Modules
-------
:mod:`~service.integration.tables`
    The tables (events, webhook endpoints, secrets and deliveries, idempotency keys).
:mod:`~service.integration.pseudonyms`
    The candidate reference a supplier sees: stable per supplier, unlinkable across suppliers.
:mod:`~service.integration.lifecycle`
    The proposal state machine, every transition recorded with who and when.
:mod:`~service.integration.signing`
    Webhook signatures (HMAC-SHA256 over timestamp and body) and their verification.
:mod:`~service.integration.webhooks`
    Endpoints, secrets, events into deliveries, and the delivery worker with backoff.
:mod:`~service.integration.sealing`
    Webhook signing secrets sealed at rest under the server's key.
:mod:`~service.integration.history`
    What a region re-import keeps of the proposal history.
:mod:`~service.integration.idempotency`
    The ``Idempotency-Key`` middleware for every POST.

``docs/integration.md`` is the supplier developer's guide to all of it.
"""
