"""Primary and complementary suppression of counts of people, audited against differencing.

Researchers get aggregates only, and a count of fewer than ``min_cell_size`` people must not be
recoverable, neither read directly nor worked out from other published figures: a total minus the
other cells of its table, a margin of one table minus the cells of another, or any other linear
combination of what is published together (issue 16, item 7).

The model
---------
A *population* is a set of units (people), each with one value per *dimension* (home district,
membership of each priority group, placement type, ...). Every cell published about it, in any
table, is a count of the units matching a filter (``{dimension: allowed values}``). The attacker
knows every dimension's possible values, every published cell, that counts are whole numbers ≥ 0,
and that a suppressed cell is ≥ 1 (zeros are shown). The unknowns are the counts of the *atoms*, the
combinations of one value per dimension; every linear relation between published tables follows from
them, so the audit below catches every differencing attack, however many tables are combined.

The method
----------
1. *Primary*: every cell with ``0 < count < min_cell_size`` is suppressed.
2. *Audit*: for each suppressed cell, two linear programmes (HiGHS, :func:`scipy.optimize.linprog`)
   find the smallest and largest value it can take given everything published. A cell is
   *protected* when the range, rounded inwards to whole numbers, holds at least
   ``1 + protection_width`` values (default: 3, so the cell is not known to within ±1).
3. *Complementary*: while a suppressed cell is not protected, the smallest non-zero published cell of
   its own table (failing that, of any table sharing units with it) is suppressed as well, and the
   audit runs again until every suppressed cell is protected.

By default a zero is shown (it counts no one) and never suppressed, so the attacker also knows every
suppressed cell is ≥ 1; with ``hide_zeros`` zeros are suppressed too and the attacker knows only ≥ 0.
The result is deterministic for the same cells.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy import sparse
from scipy.optimize import linprog

__all__ = ["CellSpec", "Population", "ProtectedCells", "protect"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CellSpec:
    """One published cell: its table, its key within the table, and which units it counts.

    ``where`` maps a dimension to the values the cell counts; a dimension not named is not filtered.
    """

    table: str
    key: tuple[object, ...]
    where: Mapping[str, frozenset[object]]


@dataclass(frozen=True)
class Population:
    """Units with categorical dimensions: ``frame`` has one row per unit and a column per dimension;
    ``domains`` lists every value a dimension can take (also the values no unit has).

    ``blocks`` groups the dimensions that published cells cross (default: one block of all). When no
    cell crosses dimensions of two blocks, any counts per block with the same total can be combined
    into one population (a transportation problem always has a whole-number solution), so the audit
    is exact with one set of atoms per block tied by their common total, far fewer than the product.
    """

    frame: pl.DataFrame
    domains: Mapping[str, Sequence[object]]
    blocks: Sequence[Sequence[str]] | None = None

    def block_list(self) -> list[list[str]]:
        return [list(b) for b in self.blocks] if self.blocks is not None else [list(self.domains)]


@dataclass(frozen=True)
class ProtectedCells:
    """The outcome of :func:`protect`: every cell's true value and whether it is published."""

    values: dict[tuple[str, tuple[object, ...]], int]
    suppressed: frozenset[tuple[str, tuple[object, ...]]]
    primary: frozenset[tuple[str, tuple[object, ...]]]

    def value(self, table: str, key: tuple[object, ...]) -> int | None:
        """The published value: None where suppressed."""
        if (table, key) in self.suppressed:
            return None
        return self.values[(table, key)]

    def is_suppressed(self, table: str, key: tuple[object, ...]) -> bool:
        return (table, key) in self.suppressed


@dataclass(frozen=True)
class _Atoms:
    block: np.ndarray
    """(m,) the block of each atom."""
    codes: dict[str, np.ndarray]
    """Per dimension, (m,) each atom's value index (-1 for atoms of other blocks)."""
    counts: np.ndarray
    blocks: list[list[str]]


def _atoms(population: Population) -> _Atoms:
    """The atoms of every block, with each atom's count of units."""
    blocks = population.block_list()
    named = [d for b in blocks for d in b]
    if sorted(named) != sorted(population.domains):
        raise ValueError(f"blocks {blocks} must name every dimension once: {list(population.domains)}")
    block_ids, counts = [], []
    codes: dict[str, list[np.ndarray]] = {d: [] for d in named}
    lookups = {d: {v: j for j, v in enumerate(population.domains[d])} for d in named}
    for i, dims in enumerate(blocks):
        sizes = [len(population.domains[d]) for d in dims]
        grid = np.indices(sizes).reshape(len(dims), -1) if dims else np.zeros((0, 1), dtype=np.int64)
        m = grid.shape[1]
        block_ids.append(np.full(m, i))
        for d in named:
            codes[d].append(grid[dims.index(d)] if d in dims else np.full(m, -1))
        count = np.zeros(m, dtype=np.int64)
        if population.frame.height:
            flat = np.zeros(population.frame.height, dtype=np.int64)
            for j, d in enumerate(dims):
                column = population.frame[d].to_list()
                bad = [v for v in column if v not in lookups[d]]
                if bad:
                    raise ValueError(f"dimension {d!r}: value {bad[0]!r} is not in its domain")
                flat = flat * sizes[j] + np.fromiter((lookups[d][v] for v in column), dtype=np.int64,
                                                     count=len(column))
            np.add.at(count, flat, 1)
        counts.append(count)
    return _Atoms(np.concatenate(block_ids), {d: np.concatenate(c) for d, c in codes.items()},
                  np.concatenate(counts), blocks)


def _incidence(cells: Sequence[CellSpec], population: Population, atoms: _Atoms) -> sparse.csr_matrix:
    rows = []
    home = {d: i for i, b in enumerate(atoms.blocks) for d in b}
    for cell in cells:
        unknown = [d for d in cell.where if d not in home]
        if unknown:
            raise ValueError(f"cell {cell.table}{cell.key} filters on unknown dimension {unknown[0]!r}")
        touched = {home[d] for d in cell.where}
        if len(touched) > 1:
            raise ValueError(f"cell {cell.table}{cell.key} crosses blocks {sorted(touched)}: put its "
                             "dimensions in one block")
        mask = atoms.block == (touched.pop() if touched else 0)
        for d, allowed in cell.where.items():
            wanted = [j for j, v in enumerate(population.domains[d]) if v in allowed]
            mask &= np.isin(atoms.codes[d], wanted)
        rows.append(sparse.csr_matrix(mask.astype(float)))
    return sparse.vstack(rows, format="csr") if rows else sparse.csr_matrix((0, len(atoms.counts)))


def _ties(atoms: _Atoms) -> sparse.csr_matrix | None:
    """Rows ``sum(block i) - sum(block 0) = 0``: every block counts the same units."""
    rows = []
    for i in range(1, len(atoms.blocks)):
        rows.append(sparse.csr_matrix((atoms.block == i).astype(float) - (atoms.block == 0).astype(float)))
    return sparse.vstack(rows, format="csr") if rows else None


def _range(matrix: sparse.csr_matrix, values: np.ndarray, hidden: set[int], target: int,
           ties: sparse.csr_matrix | None, floor: float = 1.0) -> tuple[float, float]:
    """The least and greatest value cell ``target`` can take given the published cells."""
    shown = [i for i in range(matrix.shape[0]) if i not in hidden]
    parts = ([matrix[shown]] if shown else []) + ([ties] if ties is not None else [])
    a_eq = sparse.vstack(parts, format="csr") if parts else None
    b_eq = (np.concatenate([values[shown].astype(float), np.zeros(ties.shape[0] if ties is not None else 0)])
            if parts else None)
    others = sorted(hidden)
    # A suppressed cell is ≥ 1 where zeros are shown (as -A x ≤ -1), else ≥ 0 (the atoms' bound).
    a_ub = -matrix[others] if others and floor > 0 else None
    b_ub = -np.full(len(others), floor) if others and floor > 0 else None
    objective = matrix[target].toarray().ravel()
    bounds = (0, None)
    low = linprog(objective, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
    high = linprog(-objective, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
    if low.status != 0:  # pragma: no cover - the true counts are always feasible
        raise RuntimeError(f"suppression audit: {low.message}")
    top = math.inf if high.status == 3 else -float(high.fun)
    return float(low.fun), top


def _width(bounds: tuple[float, float]) -> float:
    """How many whole numbers beyond the first the range holds (infinite when unbounded above)."""
    low, high = bounds
    if math.isinf(high):
        return math.inf
    return math.floor(high + 1e-7) - math.ceil(low - 1e-7)


def protect(
    population: Population,
    cells: Sequence[CellSpec],
    min_cell_size: int,
    *,
    protection_width: int = 2,
    hide_zeros: bool = False,
) -> ProtectedCells:
    """Suppress the small cells of everything published about one population, and enough others that
    none of them can be worked out.

    Parameters
    ----------
    population
        The units and their dimensions.
    cells
        Every cell published about the population, in every table published together.
    min_cell_size
        Counts ``0 < c < min_cell_size`` are suppressed (policy ``follow_up.min_cell_size``).
    protection_width
        A suppressed cell's feasible whole-number range must span at least this much.
    hide_zeros
        Suppress zeros too (then the attacker knows only that a suppressed cell is ≥ 0): for counts
        where a zero would itself say something about everyone in a row, e.g. "no candidate in this
        district has a disability".

    Returns
    -------
    ProtectedCells

    Examples
    --------
    >>> people = Population(pl.DataFrame({"type": ["a"] * 20 + ["b"] * 10 + ["c"] * 4}),
    ...                     {"type": ["a", "b", "c"]})
    >>> cells = [CellSpec("t", (v,), {"type": frozenset({v})}) for v in "abc"]
    >>> cells.append(CellSpec("total", (), {}))
    >>> out = protect(people, cells, 5)
    >>> [out.value("t", (v,)) for v in "abc"], out.value("total", ())
    ([20, None, None], 34)
    """
    atoms = _atoms(population)
    counts = atoms.counts
    matrix = _incidence(cells, population, atoms)
    ties = _ties(atoms)
    values = np.asarray(matrix @ counts).astype(np.int64).ravel()
    keys = [(c.table, c.key) for c in cells]
    hidden = {i for i, v in enumerate(values) if (0 if hide_zeros else 1) <= v < min_cell_size}
    floor = 0.0 if hide_zeros else 1.0
    primary = set(hidden)
    home = {d: b for b, dims in enumerate(atoms.blocks) for d in dims}
    # A cell's block (None: the total, which every block shares).
    block = [next((home[d] for d in c.where), None) for c in cells]
    order = lambda i: (values[i], keys[i][0], str(keys[i][1]))  # noqa: E731
    verified: set[int] = set()
    while True:
        failing = None
        for i in sorted(hidden - verified, key=order):
            if _width(_range(matrix, values, hidden, i, ties, floor)) < protection_width:
                failing = i
                break
            verified.add(i)
        if failing is None:
            if verified >= hidden:
                # Every cell passed, but a later suppression adds its own "≥ 1", which can narrow
                # an earlier cell's range: confirm them all once more against the final set.
                recheck = [i for i in sorted(hidden, key=order)
                           if _width(_range(matrix, values, hidden, i, ties, floor)) < protection_width]
                if not recheck:
                    break
                failing = recheck[0]
            else:  # pragma: no cover - the loop above verifies or fails every hidden cell
                continue
        verified.discard(failing)
        related = [j for j in range(len(cells)) if j not in hidden and values[j] > 0
                   and (block[j] is None or block[failing] is None or block[j] == block[failing])]
        if not related:  # nothing published shares a unit with it: it cannot be narrowed by anything
            logger.warning("suppression: cell %s stays narrow with every related cell suppressed",
                           keys[failing])
            break
        table, key = keys[failing]

        def preference(j: int, table: str = table, key: tuple[object, ...] = key) -> tuple[object, ...]:
            # Its own table first, there a cell of its row or column (one key part in common), then smallest.
            same_table = keys[j][0] == table
            shares = same_table and any(a == b for a, b in zip(keys[j][1], key, strict=False))
            return (not same_table, not shares, *order(j))

        hidden.add(min(related, key=preference))
    return ProtectedCells(
        values={k: int(v) for k, v in zip(keys, values, strict=True)},
        suppressed=frozenset(keys[i] for i in hidden),
        primary=frozenset(keys[i] for i in primary),
    )
