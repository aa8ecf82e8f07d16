"""One router per resource (STYLE.md); :data:`ROUTERS` is the order the OpenAPI document lists them."""

from service.routes import (
    aggregates,
    audit,
    candidates,
    districts,
    meta,
    outcomes,
    places,
    planning,
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
    outcomes.router,  # outcomes recorded where they happen (docs/follow-up.md)
    planning.router,  # planning before procuring (docs/follow-up.md)
    subjects.router,  # the data subject's rights (docs/data-protection.md)
]
