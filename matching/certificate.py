"""A dual certificate of a round's bound, checkable without the solver (numpy only).

The exact method proves its bound with Lagrangian prices for the floors and the optimal node
potentials of a min-cost flow for everything else. :class:`Certificate` hands those prices out as
plain arrays, so that anyone can (a) re-check the bound against the round's own pairs and (b)
price pairs the round did not contain (a pruned graph's left-out pairs) without running a solver.

The duality it rests on
-----------------------
Write ``x_e`` in {0, 1} for choosing pair ``e = (c, p)`` and, per active floor ``g`` with
``floor_g = p_g / q_g``, ``A_ge = q_g * [e counts for g] - p_g`` (so the floor reads
``sum_e A_ge x_e + a_g >= 0``, ``a_g`` the pins' part). In *c-units* (``units_per_score`` per
score unit, i.e. ``K * SCORE_SCALE`` with the Lagrangian scale ``K``) the pair's *value* at floor
multipliers ``lambda >= 0`` is::

    value_e = K * (round(score_e * SCORE_SCALE) + M) + sum_g lambda_g * A_ge

(``M`` is the placement weight: 0 with ``objective="score"``, the lexicographic weight per person
placed with ``"max_placed"``). For any floor-feasible ``x``,
``K * objective(x) <= L(x, lambda) = sum_e value_e x_e + const(lambda)`` (Lagrangian relaxation:
the floor terms are non-negative). ``max L`` over one place per candidate, slots per place and
the district keys is a network LP, integral, whose LP dual is::

    min  sum_c u_c + sum_p s_p v_p + sum_d (U_d alpha_d - L_d beta_d) + const(lambda)
    s.t. u_c + v_p + alpha_d(c) - beta_d(c) >= value_e   for every pair e = (c, p)
         u, v, alpha, beta >= 0

with ``s_p``, ``U_d``, ``L_d`` the slots and keys left after the pins. The certificate holds
``lambda`` (``floor_price``), ``u`` (``candidate_price``), ``v`` (``place_price``) and
``delta = alpha - beta`` (``district_price``, ``alpha = max(delta, 0)``,
``beta = max(-delta, 0)``), all exact integers in c-units taken from the solver's own flow
potentials (not recomputed). Weak LP duality makes the dual objective, :attr:`dual_bound`, an
upper bound on the combined objective over every pair satisfying the dual constraint;
:meth:`verify` recomputes it from the round's arrays alone and checks every constraint.

Pricing pairs outside the round
-------------------------------
:attr:`bound` is the solver's bound (``result.bound``), which may be below :attr:`dual_bound`
when a search closed the gap further. An assignment using a new pair ``e`` has
``L(x) <= dual_bound + rc_lp(e)`` with ``rc_lp(e) = value_e - u_c - v_p - delta_d``, so the
pair cannot lift the optimum above :attr:`bound` when ``rc_lp(e) <= -(dual_bound - bound)``.
:meth:`reduced_cost` returns ``rc_lp(e) + (dual_bound - bound)`` in score units: ``<= 0``
(within :attr:`tolerance`) means the pair cannot raise the bound if added; ``> 0`` means it
could. With several such pairs, and at most one per candidate in any assignment,
:meth:`bound_over` (``bound + sum_c max_e max(rc(e), 0)``) stays valid.

Conventions
-----------
- Units: score units, like ``result.bound``; ``max_placed`` counts ``M`` per person placed in
  the values and :attr:`bound` follows ``result.bound`` (the combined bound less ``M`` times the
  result's number placed: :attr:`offset`), so differences and sums are in one unit throughout.
- Pins: pinned pairs are constants of ``const(lambda)``; a pinned candidate cannot take a second
  place, a place the pins fill has no slot, so a new pair of either has reduced cost ``-inf``.
- Forbidden pairs are not pairs of the round: :meth:`verify` skips them and a caller must not
  offer one (a forbidden pair stays forbidden).
- Districts whose upper key the pins already reach (hard rules): their candidates cannot be
  placed; their pairs have reduced cost ``-inf``.
- Penalised mode (``on_infeasible="penalise"``): keys and floors are soft with ``P``
  (``penalty``, c-units) per unit missed; the dual then also needs ``alpha, beta <= P`` and
  ``lambda_g * q_g <= P``, which :meth:`verify` checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from matching.problem import AllocationProblem

__all__ = ["Certificate", "CertificateError"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class CertificateError(ValueError):
    """A certificate does not prove its bound on the round it is checked against."""


@dataclass(frozen=True, eq=False)
class Certificate:
    """Dual prices proving a round's bound; see the module docstring for the duality.

    Attributes
    ----------
    bound
        The proven upper bound, equal to ``result.bound`` (score units).
    dual_bound
        The LP dual objective of the prices (score units, ``result.bound``'s convention):
        ``>= bound``; what :meth:`verify` recomputes.
    placement_weight
        ``M`` in score units (0 with ``objective="score"``).
    offset
        What ``result.bound``'s convention subtracts from the combined bound (score units):
        ``M`` times the result's number placed less violation units (0 in score mode).
    units_per_score
        c-units per score unit (``K * SCORE_SCALE``); every price is an integer in c-units.
    tolerance
        Half a c-unit in score units: a reduced cost ``<= tolerance`` is ``<= 0`` exactly.
    """

    bound: float
    units_per_score: int
    placement_weight_w: int  # M in w-units (score * SCORE_SCALE)
    score_scale: int
    penalty: int | None  # c-units per unit of violation (penalised mode), None for hard rules
    floor_pq: tuple[tuple[int, int], ...]  # per problem group (p, q); (0, 1) for inactive
    floor_price_c: I64 = field(repr=False)  # (G,)
    candidate_price_c: I64 = field(repr=False)  # (C,)
    place_price_c: I64 = field(repr=False)  # (P,)
    district_price_c: I64 = field(repr=False)  # (D,), signed
    blocked_candidate: BoolArray = field(repr=False)
    blocked_place: BoolArray = field(repr=False)
    blocked_district: BoolArray = field(repr=False)
    dual_value_c: int = 0  # the dual objective, combined convention, c-units
    slack_c: int = 0  # floor(dual_value - K * combined bound), >= 0
    offset_c: float = 0.0

    # --------------------------------------------------------------- score-unit views
    @property
    def dual_bound(self) -> float:
        return (self.dual_value_c - self.offset_c) / self.units_per_score

    @property
    def placement_weight(self) -> float:
        return self.placement_weight_w / self.score_scale

    @property
    def offset(self) -> float:
        return self.offset_c / self.units_per_score

    @property
    def tolerance(self) -> float:
        return 0.5 / self.units_per_score

    @property
    def floor_price(self) -> F64:
        """float64 (G,): ``lambda_g`` in score units per unit of floor row ``A_g``."""
        return self.floor_price_c / self.units_per_score

    @property
    def candidate_price(self) -> F64:
        """float64 (C,): ``u_c`` in score units (``inf`` for a pinned candidate)."""
        return np.where(self.blocked_candidate, np.inf, self.candidate_price_c
                        / self.units_per_score)

    @property
    def place_price(self) -> F64:
        """float64 (P,): ``v_p`` in score units per slot (``inf`` for a place pins fill)."""
        return np.where(self.blocked_place, np.inf, self.place_price_c / self.units_per_score)

    @property
    def district_price(self) -> F64:
        """float64 (D,): ``delta_d = alpha_d - beta_d`` in score units (``inf``: blocked)."""
        return np.where(self.blocked_district, np.inf,
                        self.district_price_c / self.units_per_score)

    # --------------------------------------------------------------- pricing
    def pair_value_c(self, edge_score: npt.ArrayLike, edge_groups: npt.ArrayLike) -> I64:
        """``value_e`` (c-units, exact) of pairs with these scores and group bitmasks."""
        k = self.units_per_score // self.score_scale
        w = np.rint(np.asarray(edge_score, np.float64) * self.score_scale).astype(np.int64)
        groups = np.asarray(edge_groups).astype(np.uint32)
        value = k * (w + self.placement_weight_w)
        for g, (p, q) in enumerate(self.floor_pq):
            lam = int(self.floor_price_c[g])
            if lam:
                bit = ((groups >> np.uint32(g)) & 1).astype(np.int64)
                value = value + lam * (q * bit - p)
        return value

    def lp_reduced_cost_c(self, edge_candidate: npt.ArrayLike, edge_place: npt.ArrayLike,
                          edge_score: npt.ArrayLike, edge_groups: npt.ArrayLike,
                          candidate_district: npt.ArrayLike) -> tuple[I64, BoolArray]:
        """``rc_lp`` (c-units, exact) and a mask of pairs that can never be chosen."""
        c = np.asarray(edge_candidate, np.int64)
        p = np.asarray(edge_place, np.int64)
        d = np.asarray(candidate_district, np.int64)[c]
        price = self.candidate_price_c[c] + self.place_price_c[p] + self.district_price_c[d]
        blocked = self.blocked_candidate[c] | self.blocked_place[p] | self.blocked_district[d]
        return self.pair_value_c(edge_score, edge_groups) - price, blocked

    def reduced_cost(self, edge_candidate: npt.ArrayLike, edge_place: npt.ArrayLike,
                     edge_score: npt.ArrayLike, edge_groups: npt.ArrayLike | None = None,
                     *, candidate_district: npt.ArrayLike) -> F64:
        """Reduced cost (score units) of pairs given by candidate and place positions.

        Parameters
        ----------
        edge_candidate, edge_place
            Positions of the round's candidates and places (the pairs need not be pairs of the
            round).
        edge_score
            The pairs' scores (score units; rounded to ``1/SCORE_SCALE`` like the round's).
        edge_groups
            uint32 group bitmasks of the pairs (``None``: no group).
        candidate_district
            The round's ``candidate_district`` (C,).

        Returns
        -------
        numpy.ndarray
            float64: ``<= tolerance`` means adding the pair cannot raise the optimum above
            :attr:`bound`; ``> tolerance`` means it could (then see :meth:`bound_over`).
            ``-inf`` for a pair that can never be chosen (pinned candidate, place the pins
            fill, district the pins close).
        """
        groups = np.zeros(np.shape(edge_score), np.uint32) if edge_groups is None else edge_groups
        rc, blocked = self.lp_reduced_cost_c(edge_candidate, edge_place, edge_score, groups,
                                             candidate_district)
        out = (rc + self.slack_c) / self.units_per_score
        return np.where(blocked, -np.inf, out)

    def bound_over(self, extra_positive_by_candidate: npt.ArrayLike) -> float:
        """A bound valid when pairs outside the round with positive reduced cost are added.

        Parameters
        ----------
        extra_positive_by_candidate
            float64: for each candidate with such pairs, the largest positive reduced cost among
            them (score units); zeros and negatives are ignored. Any shape: only the sum counts.

        Returns
        -------
        float
            ``bound + sum(max(extra, 0))``: each candidate takes at most one place, so no
            assignment gains more than its largest positive reduced cost from the new pairs.
        """
        extra = np.maximum(np.asarray(extra_positive_by_candidate, np.float64), 0.0)
        return self.bound + float(extra.sum())

    # --------------------------------------------------------------- checking
    def verify(self, problem: AllocationProblem) -> float:
        """Re-check the certificate on ``problem`` from its arrays alone; return the bound proven.

        Checks that the prices are dual feasible for every non-forbidden pair of the round (and
        non-negative where the LP needs it), recomputes the dual objective with the pins' part
        and returns it in score units (``result.bound``'s convention). It never calls a solver.

        Raises
        ------
        CertificateError
            Listing every check that fails.
        """
        pr = problem
        bad: list[str] = []
        k_units = self.units_per_score
        k = k_units // self.score_scale
        pins = pr.pins
        pinned_c = np.zeros(pr.num_candidates, bool)
        pinned_c[pr.edge_candidate[pins]] = True
        slots = pr.place_slots.astype(np.int64) - np.bincount(pr.edge_place[pins],
                                                              minlength=pr.num_places)
        pins_d = np.bincount(pr.candidate_district[pr.edge_candidate[pins]],
                             minlength=pr.num_districts).astype(np.int64)
        lower = np.maximum(pr.district_lower.astype(np.int64) - pins_d, 0)
        upper = pr.district_upper.astype(np.int64) - pins_d
        up = np.maximum(upper, 0)
        alpha = np.maximum(self.district_price_c, 0)
        beta = np.maximum(-self.district_price_c, 0)
        bad += self._price_problems(pr, pinned_c, slots, upper)
        usable = ~pr.forbidden & ~pinned_c[pr.edge_candidate] & (slots[pr.edge_place] > 0)
        if self.penalty is None:
            usable &= upper[pr.candidate_district[pr.edge_candidate]] > 0
        e = np.flatnonzero(usable)
        rc, _ = self.lp_reduced_cost_c(pr.edge_candidate[e], pr.edge_place[e], pr.edge_score[e],
                                       pr.edge_groups[e], pr.candidate_district)
        if (rc > 0).any():
            bad.append(f"{int((rc > 0).sum())} pairs of the round violate the dual constraint "
                       f"(largest by {float(rc.max()) / k_units:g} score units)")
        if bad:
            raise CertificateError("; ".join(bad))
        const = self._pins_constant(pr, k, upper)
        free_c = ~self.blocked_candidate
        value = (int(self.candidate_price_c[free_c].sum())
                 + int((np.maximum(slots, 0) * self.place_price_c).sum())
                 + int((up * alpha).sum()) - int((lower * beta).sum()) + const)
        return (value - self.offset_c) / k_units

    def _price_problems(self, pr: AllocationProblem, pinned_c: npt.NDArray[np.bool_],
                        slots: npt.NDArray[np.int64], upper: npt.NDArray[np.int64]) -> list[str]:
        """What is wrong with the prices themselves: floors, signs, penalty caps, blocks."""
        bad: list[str] = []
        for g, (pq, lam) in enumerate(zip(self.floor_pq, self.floor_price_c.tolist(),
                                          strict=True)):
            if lam and (g >= pr.num_groups or pr.floor_fractions[g] != pq):
                bad.append(f"floor {g} differs from the round's")
        if (self.floor_price_c < 0).any():
            bad.append("a floor price is negative")
        if (self.candidate_price_c < 0).any() or (self.place_price_c < 0).any():
            bad.append("a candidate or place price is negative")
        alpha = np.maximum(self.district_price_c, 0)
        beta = np.maximum(-self.district_price_c, 0)
        if self.penalty is not None:
            if (alpha > self.penalty).any() or (beta > self.penalty).any():
                bad.append("a district price exceeds the violation penalty")
            denominators = np.array([q for _, q in self.floor_pq], np.int64)
            if (self.floor_price_c * denominators > self.penalty).any():
                bad.append("a floor price exceeds the violation penalty")
        else:
            if (~pinned_c & self.blocked_candidate).any():
                bad.append("a candidate is blocked without a pin")
            if (self.blocked_district & (upper > 0)).any():
                bad.append("a district is blocked with room left")
        if (self.blocked_place & (slots > 0)).any():
            bad.append("a place is blocked with slots left")
        return bad

    def _pins_constant(self, pr: AllocationProblem, k: int, upper: npt.NDArray[np.int64]) -> int:
        """const(lambda): the pins' combined value and their floor rows (c-units)."""
        pins = pr.pins
        pin_w = int(pr.scaled_score[pins].sum()) + self.placement_weight_w * int(pins.size)
        const = k * pin_w
        pin_groups = pr.edge_groups[pins]
        for g, (p, q) in enumerate(self.floor_pq):
            lam = int(self.floor_price_c[g])
            if lam:
                a_pin = q * int(((pin_groups >> np.uint32(g)) & 1).sum()) - p * int(pins.size)
                const += lam * a_pin
        if self.penalty is not None:
            const -= self.penalty * int(np.maximum(-upper, 0).sum())
        return const
