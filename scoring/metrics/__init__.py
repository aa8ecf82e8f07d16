"""Fairness and outcome metrics: plain functions over arrays, named the way the field names them.

* Selection (:mod:`~scoring.metrics.selection`): selection rate per group, demographic parity
  difference and ratio, the four-fifths rule, equal opportunity among the qualified; fairlearn's
  unsigned and AIF360's signed conventions.
* Rankings (:mod:`~scoring.metrics.ranking`): Skew@k, MinSkew@k / MaxSkew@k and NDKL
  (Geyik et al., KDD 2019); exposure per group and the disparate treatment ratio
  (Singh & Joachims, KDD 2018).
* Allocations (:mod:`~scoring.metrics.allocation`): district shares vs. distribution keys,
  priority-group shares vs. floors, the anti-creaming share, placements per supplier.
* Suppression (:func:`protect`): primary and complementary suppression of counts of people, audited
  against every differencing attack on the cells published together (``docs/follow-up.md``).

All group metrics share one engine (:func:`group_rates`) that keeps small groups and unknown
values as reported rows, never folded into a comparison. Definitions, formulas and sources are in
``docs/metrics.md``. Nothing here imports fairlearn or pandas; the tests check agreement with
fairlearn on the same inputs.
"""

from scoring.metrics._engine import FeatureKind, GroupRates, GroupRow, Membership, group_rates, membership
from scoring.metrics._suppression import CellSpec, Population, ProtectedCells, protect
from scoring.metrics.allocation import (
    AntiCreaming,
    ShareRow,
    anti_creaming_share,
    district_share_vs_key,
    group_share_vs_floor,
    placements_per_supplier,
)
from scoring.metrics.ranking import (
    GroupExposure,
    SkewAtK,
    disparate_treatment_ratio,
    exposure_by_group,
    max_skew_at_k,
    min_skew_at_k,
    ndkl,
    skew_at_k,
    skew_by_group,
)
from scoring.metrics.selection import (
    Convention,
    Disparity,
    FourFifths,
    demographic_parity_difference,
    demographic_parity_ratio,
    disparate_impact_ratio,
    equal_opportunity_difference,
    equal_opportunity_ratio,
    selection_rate_by_group,
)

__all__ = [
    "AntiCreaming",
    "CellSpec",
    "Convention",
    "Disparity",
    "FeatureKind",
    "FourFifths",
    "GroupExposure",
    "GroupRates",
    "GroupRow",
    "Membership",
    "Population",
    "ProtectedCells",
    "ShareRow",
    "SkewAtK",
    "anti_creaming_share",
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "disparate_impact_ratio",
    "disparate_treatment_ratio",
    "district_share_vs_key",
    "equal_opportunity_difference",
    "equal_opportunity_ratio",
    "exposure_by_group",
    "group_rates",
    "group_share_vs_floor",
    "max_skew_at_k",
    "membership",
    "min_skew_at_k",
    "ndkl",
    "placements_per_supplier",
    "protect",
    "selection_rate_by_group",
    "skew_at_k",
    "skew_by_group",
]
