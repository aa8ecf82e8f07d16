"""Write a round as a self-contained MPS model that any MIP solver reads.

The model is the whole round, not the decomposition the exact method uses: one binary column per
non-forbidden pair (``x<edge index>``), pinned pairs fixed to 1 by their bounds, rows for
candidates (``C<c>``: at most one place), places (``P<p>``: at most its slots), districts
(``D<d>``: between the bounds, a ranged row) and floors (``G<g>``: ``q*count_g - p*assigned >= 0``
with the floor read as ``p/q``). The objective, in score units with three decimals (the scaled
integers divided by SCORE_SCALE), is maximised (``OBJSENSE MAX``), so the model's optimum equals
:attr:`AllocationResult.objective` of :func:`matching.solve` on the same round and params.

In ``max_placed`` mode the model is the round's second level, the one its objective is the optimum
of: ``num_placed`` (the most people the rules let the round place, the first level) fixes the number
placed by an equality row ``NPLACED``, and the objective is the total score, so the model's optimum
is :attr:`AllocationResult.objective` itself. (Without ``num_placed`` the one-level form is written:
each pair's coefficient is ``M + score``, the header gives ``M``, and the optimum is
``M * num_assigned + objective``.) The header's comment lines state which. In the penalised mode
(``on_infeasible = "penalise"``) soft rules get continuous violation columns ``UD<d>``, ``OD<d>``,
``SG<g>`` that cost the penalty per unit.
"""

from __future__ import annotations

import os
from typing import TextIO

import numpy as np

from matching._exact.prepare import prepare
from matching.problem import SCORE_SCALE, AllocationProblem
from matching.solve import SolveParams

__all__ = ["export_mps"]


def export_mps(problem: AllocationProblem, path: str | os.PathLike[str],
               params: SolveParams | None = None, *, penalised: bool | None = None,
               num_placed: int | None = None) -> int:
    """Write the round as an MPS file.

    Parameters
    ----------
    problem
        The round.
    path
        Output file.
    params
        Objective mode and penalty; defaults to ``SolveParams()``.
    penalised
        Write the soft-rule model; defaults to ``params.on_infeasible == "penalise"``. Note that
        :func:`solve` penalises only when the hard rules cannot be met, so compare a penalised
        model with a solve only for such rounds.
    num_placed
        In ``max_placed`` mode (hard rules): fix the number placed to this (the solve's
        ``num_assigned``) and maximise the score alone, so that the model's optimum is the solve's
        objective. Ignored in ``score`` mode and in the penalised model.

    Returns
    -------
    int
        Number of binary columns written.
    """
    params = params or SolveParams()
    if penalised is None:
        penalised = params.on_infeasible == "penalise"
    two_level = params.objective == "max_placed" and num_placed is not None and not penalised
    prep = prepare(problem, params.objective == "max_placed" and not two_level,
                   params.violation_penalty if penalised else None)
    p = problem
    big_m = prep.big_m
    pen = 0 if prep.penalty_w is None else prep.penalty_w
    edges = np.flatnonzero(~p.forbidden)
    floors = [(g, *p.floor_fractions[g]) for g in p.active_groups]
    with open(path, "w", encoding="ascii") as f:
        f.write(f"* Platsa allocation round: {p.num_candidates} candidates, {p.num_places} places,"
                f" {edges.size} pairs\n")
        if two_level:
            f.write(f"* objective mode max_placed: the number placed is fixed to {num_placed} by row "
                    f"NPLACED (the most the rules allow);\n* maximise the total score in score units: "
                    f"the optimum equals the round's objective\n")
        elif params.objective == "max_placed":
            f.write(f"* objective mode max_placed in one level (coefficient M + score per pair; the "
                    f"optimum is M * num_assigned + objective); score units; placement weight M = "
                    f"{_num(big_m)}\n")
        else:
            f.write("* objective mode score: maximise the total score in score units: the optimum "
                    "equals the round's objective\n")
        f.write("NAME          PLATSA_ROUND\nOBJSENSE\n    MAX\nROWS\n N  OBJ\n")
        cands = np.unique(p.edge_candidate[edges])
        places = np.unique(p.edge_place[edges])
        f.writelines(f" L  C{c}\n" for c in cands.tolist())
        f.writelines(f" L  P{q}\n" for q in places.tolist())
        for d in range(p.num_districts):
            if penalised:
                f.write(f" G  DL{d}\n L  DU{d}\n")
            else:
                f.write(f" G  D{d}\n")
        f.writelines(f" G  G{g}\n" for g, _, _ in floors)
        if two_level:
            f.write(" E  NPLACED\n")
        f.write("COLUMNS\n    MARKER                 'MARKER'                 'INTORG'\n")
        _columns(f, p, edges, big_m, floors, penalised, two_level)
        f.write("    MARKER                 'MARKER'                 'INTEND'\n")
        if penalised:
            for d in range(p.num_districts):
                f.write(f"    UD{d}  OBJ  {_num(-pen)}  DL{d}  1\n")
                f.write(f"    OD{d}  OBJ  {_num(-pen)}  DU{d}  -1\n")
            for g, _pp, q in floors:
                f.write(f"    SG{g}  OBJ  {_num(-pen)}  G{g}  {q}\n")
        f.write("RHS\n")
        f.writelines(f"    RHS  C{c}  1\n" for c in cands.tolist())
        f.writelines(f"    RHS  P{q}  {int(p.place_slots[q])}\n" for q in places.tolist())
        if two_level:
            f.write(f"    RHS  NPLACED  {int(num_placed or 0)}\n")
        for d in range(p.num_districts):
            lo, up = int(p.district_lower[d]), int(p.district_upper[d])
            if penalised:
                f.write(f"    RHS  DL{d}  {lo}\n    RHS  DU{d}  {up}\n")
            else:
                f.write(f"    RHS  D{d}  {lo}\n")
        if not penalised:
            f.write("RANGES\n")
            for d in range(p.num_districts):
                f.write(f"    RNG  D{d}  {int(p.district_upper[d] - p.district_lower[d])}\n")
        f.write("BOUNDS\n")
        f.writelines(f" UP BND  x{e}  1\n" for e in edges.tolist())
        f.writelines(f" LO BND  x{e}  1\n" for e in p.pins.tolist())
        f.write("ENDATA\n")
    return int(edges.size)


def _columns(f: TextIO, p: AllocationProblem, edges: np.ndarray, big_m: int,
             floors: list[tuple[int, int, int]], penalised: bool, two_level: bool = False) -> None:
    w = p.scaled_score[edges] + big_m
    cand = p.edge_candidate[edges]
    place = p.edge_place[edges]
    dist = p.candidate_district[cand]
    groups = p.edge_groups[edges]
    drow = "DL{0}  1  DU{0}  1" if penalised else "D{0}  1"
    for i, e in enumerate(edges.tolist()):
        parts = [f"OBJ  {_num(int(w[i]))}", f"C{cand[i]}  1", f"P{place[i]}  1",
                 drow.format(dist[i])]
        if two_level:
            parts.append("NPLACED  1")
        for g, pp, q in floors:
            coef = (q if (int(groups[i]) >> g) & 1 else 0) - pp
            if coef:
                parts.append(f"G{g}  {coef}")
        # Free MPS: at most two (row, value) pairs per line.
        flat = "  ".join(parts).split("  ")
        for j in range(0, len(flat), 4):
            f.write(f"    x{e}  " + "  ".join(flat[j:j + 4]) + "\n")


def _num(w: int) -> str:
    """A scaled integer as an exact decimal in score units."""
    sign = "-" if w < 0 else ""
    a = abs(int(w))
    whole, frac = divmod(a, SCORE_SCALE)
    digits = len(str(SCORE_SCALE)) - 1
    return f"{sign}{whole}.{frac:0{digits}d}"
