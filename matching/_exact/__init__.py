"""The exact method, as named phases over one search state.

A min-cost flow for the keys, Lagrangian prices for the floors, a core network priced by reduced
costs, and small exact models to close the last gap. See docs/allocation.md for the formulation
and the optimality proof. The phases, in order (:mod:`~matching._exact.search` runs them):

========================  =====================================================================
``prepare``               pins out, forbidden pairs dropped, scores scaled (:class:`Prepared`)
``bound``                 the Lagrangian bound: floor prices by a cutting-plane search on flows
``repair``                assignments meeting every floor, from the flows the search met
``fixed_count``           the gap closed number placed by number placed
``close``                 the gap closed by exact models on the whole round (when the above
                          does not apply)
``certificate``           potentials proving a flow optimal, reduced costs, the public
                          :class:`matching.Certificate`
``warm``                  a start from an earlier solve of the same round on other pairs (the
                          re-solves after pricing): floor prices, first core, incumbent
========================  =====================================================================

Shared by them: :mod:`~matching._exact.state` (the one :class:`SearchState`, the immutable
:class:`ExactOutcome`), :mod:`~matching._exact.params` (the tuning, :class:`ExactParams`),
:mod:`~matching._exact.keys` (where the district keys and the floors become constraints and
Lagrangian terms), :mod:`~matching._exact.oracle` (the flow that evaluates the Lagrangian) and
:mod:`~matching._exact.lp` (the LP and MIP helpers).

Units: *w-units* are scaled scores (``round(score * SCORE_SCALE)``, plus the placement weight
``M`` in ``max_placed`` mode); *c-units* are network costs ``K * w + sum_g mu_g * A_g`` with the
integer Lagrangian scale ``K``.
"""

from matching._exact.certificate import public_certificate
from matching._exact.params import ExactParams
from matching._exact.params import current as current_params
from matching._exact.prepare import Prepared, prepare
from matching._exact.repair import primal_value
from matching._exact.search import solve_exact
from matching._exact.state import ExactOutcome, SearchState
from matching._exact.warm import WarmStart
from matching._exact.warm import from_result as warm_from_result

__all__ = ["ExactOutcome", "ExactParams", "Prepared", "SearchState", "WarmStart", "current_params",
           "prepare", "primal_value", "public_certificate", "solve_exact", "warm_from_result"]
