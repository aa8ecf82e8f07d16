"""One router per resource (STYLE.md); :data:`ROUTERS` is the order the OpenAPI document lists them."""

from service.routes import (
    aggregates,
    audit,
    candidates,
    districts,
    meta,
    places,
    policies,
    procurements,
    proposals,
    proposing,
    region,
    reports,
    rounds,
    shortlists,
    subjects,
    supplier,
    suppliers,
)

ROUTERS = [
    meta.router, region.router, districts.router, candidates.router, suppliers.router,
    procurements.router, places.router, shortlists.router, policies.router, rounds.router,
    proposals.router, aggregates.router, audit.router,
    reports.router,  # follow-up reports (docs/follow-up.md)
    proposing.router, supplier.router,  # the supplier integration (docs/integration.md)
    subjects.router,  # the data subject's rights (docs/data-protection.md)
]
