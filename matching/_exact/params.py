"""The exact method's tuning, in one frozen object.

Every knob of the search lives here with the reason for its value; the defaults are the values
the method was measured with (docs/allocation.md, benchmarks/README.md). The phases read them
from the :class:`ExactParams` their :class:`~matching._exact.state.SearchState` carries; a round
solved through :func:`matching.solve` uses :data:`DEFAULT` (read when the solve starts, so a test
may put a variant in its place).

Units: *w-units* are scaled scores (``round(score * SCORE_SCALE)``); c-units are w-units times the
Lagrangian scale ``K``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExactParams:
    """Tuning of the exact method (defaults: the measured values).

    Attributes
    ----------
    full_core_edges
        Below this many active pairs, the whole edge list is the core network.
    core_per_candidate, core_per_slot
        Otherwise the first core holds each candidate's best few pairs and each place's best
        ``core_per_slot * slots + 2``.
    core_window
        Score units of reduced cost (no floor prices) kept in the core after the first flow.
    max_kelley
        Kelley steps per pricing round from a warm start (the fixed-count phase refines what
        this search leaves).
    max_kelley_rounds
        ... per pricing round; this many times ``max_kelley`` in all.
    max_kelley_cold
        Kelley steps without a warm start (its LP failed, or floor prices of zero).
    kelley_tol_w
        w-units: stop when the cutting-plane model proves the dual this close.
    sample_tol_w, sample_max_kelley
        The same two for the sampled sub-round, which only gives a start.
    warm_radius_div
        The first trust region is ``1 / warm_radius_div`` of the warm-start multipliers.
    regrow_below
        A trust region shrunk to ``1 / regrow_below`` of its start may grow back (crawling).
    max_scale_k
        Largest Lagrangian scale ``K``: finer multipliers cost cost-scaling phases in the flow
        solver.
    lp_window
        Score units of reduced cost kept free in the window warm-start LP (its fallback).
    lp_max_pairs
        The window LP keeps at most this many free pairs.
    lp_max_rounds
        Column-generation rounds of the warm-start LP.
    lp_enter_min
        Pairs that may enter the warm-start LP per round, at least.
    lp_start_all
        Up to this many active pairs, the warm-start LP starts with all of them.
    lp_sample_pairs
        Above this many active pairs, the warm start is the LP of a sampled sub-round of about
        this many pairs.
    sample_above
        Candidates: above this, warm-start from the Lagrangian of a sampled sub-round.
    repair_partners
        Flows on each side of the floors the primal repair combines.
    polish_rounds
        Rounds of polishing the repaired assignment against the best flows.
    count_core_window
        Score units of ``|rc|`` (free-n prices) in the fixed-count core.
    max_count_kelley
        Flows per number placed in the fixed-count phase.
    count_tol_w
        w-units: the fixed-count search stops when its model proves this ...
    count_tol_fine_w
        ... or this, while the bound may still fall below the incumbent.
    max_counts
        Numbers placed the fixed-count phase examines at most.
    mip_margin_w
        w-units below the rounded bound that the first exact model covers.
    mip_widen
        Each further exact model covers this many times the previous depth.
    cbc_max_pairs
        Fixed-count models up to this size go to CBC, larger ones to HiGHS.
    restrict_above
        Fixed-count models above this many pairs are re-bounded as rounds of their own first ...
    restrict_depth
        ... this many times at most ...
    restrict_shrink
        ... and only while the re-bound frees at most this share of the pairs.
    presolve
        HiGHS presolve on the exact models (off: measured slower on these models).
    """

    full_core_edges: int = 250_000
    core_per_candidate: int = 4
    core_per_slot: int = 2
    core_window: int = 2
    max_kelley: int = 6
    max_kelley_rounds: int = 4
    max_kelley_cold: int = 30
    kelley_tol_w: int = 20
    sample_tol_w: int = 100
    sample_max_kelley: int = 10
    warm_radius_div: int = 8
    regrow_below: int = 8
    max_scale_k: int = 64
    lp_window: int = 1
    lp_max_pairs: int = 30_000
    lp_max_rounds: int = 30
    lp_enter_min: int = 5_000
    lp_start_all: int = 60_000
    lp_sample_pairs: int = 20_000
    sample_above: int = 15_000
    repair_partners: int = 6
    polish_rounds: int = 3
    count_core_window: float = 0.2
    max_count_kelley: int = 15
    count_tol_w: int = 5
    count_tol_fine_w: int = 1
    max_counts: int = 2000
    mip_margin_w: int = 20
    mip_widen: int = 4
    cbc_max_pairs: int = 10_000
    restrict_above: int = 10_000
    restrict_depth: int = 3
    restrict_shrink: float = 0.9
    presolve: bool = False


DEFAULT = ExactParams()
"""The tuning :func:`matching.solve` uses."""


def current() -> ExactParams:
    """The default tuning, read now (not when a function was defined)."""
    return DEFAULT
