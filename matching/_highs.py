"""HiGHS MIPs through highspy: silent, interruptible, with a time limit that holds.

scipy's ``milp`` runs the same solver but offers no callback, so a running MIP could neither be
cancelled nor stopped at the solve's own deadline, and its HiGHS build writes a debugging line
(``HighsMipSolverData::transformNewIntegerFeasibleSolution tmpSolver.run();``) straight to
stdout. highspy's MIP interrupt callback polls :func:`matching._control.out_of_time`, and its
logging is switched off.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass

import highspy
import numpy as np
import numpy.typing as npt
from scipy import sparse

from matching import _control

F64 = npt.NDArray[np.float64]

_banner_lock = threading.Lock()
_banner_shown = False


def _new_highs() -> highspy.Highs:
    """A silent HiGHS instance.

    The first instance in a process prints HiGHS's banner to stdout from its constructor,
    before any option can be set; it is built with stdout pointed at ``/dev/null``.
    """
    global _banner_shown
    with _banner_lock:
        if _banner_shown:
            h = highspy.Highs()
        else:
            sys.stdout.flush()
            saved = os.dup(1)
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, 1)
                h = highspy.Highs()
            finally:
                os.dup2(saved, 1)
                os.close(saved)
                os.close(devnull)
            _banner_shown = True
    h.setOptionValue("output_flag", False)
    return h


@dataclass
class MilpResult:
    """``status`` as scipy's: 0 optimal, 1 stopped (time or cancel; ``x`` may be set),
    2 infeasible, 3 unbounded, 4 other."""

    status: int
    x: F64 | None
    fun: float
    message: str
    row_dual: F64 | None = None  # LPs only (no integral column): the rows' duals, HiGHS's sign


def milp(c: F64, a: sparse.spmatrix | None, row_lo: F64, row_hi: F64, integrality: F64,
         col_lo: F64, col_hi: F64, deadline: float, *, mip_rel_gap: float = 0.0,
         presolve: bool = True, phase: str | None = None) -> MilpResult:
    """Minimise ``c @ x`` with ``row_lo <= a x <= row_hi``, ``col_lo <= x <= col_hi``,
    ``x_j`` integral where ``integrality[j]``; stops at ``deadline`` or when asked to.
    With ``phase``, reports the MIP's closed gap as that phase's progress."""
    n = int(c.size)
    limit = _control.remaining(deadline)
    if limit <= 0:
        return MilpResult(1, None, np.nan, "no time left")
    h = _new_highs()
    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_col_ = n
    lp.col_cost_ = np.asarray(c, np.float64)
    lp.col_lower_ = np.where(np.isfinite(col_lo), col_lo, -inf).astype(np.float64)
    lp.col_upper_ = np.where(np.isfinite(col_hi), col_hi, inf).astype(np.float64)
    if a is not None and a.shape[0]:
        csc = sparse.csc_matrix(a)
        lp.num_row_ = int(csc.shape[0])
        lp.row_lower_ = np.where(np.isfinite(row_lo), row_lo, -inf).astype(np.float64)
        lp.row_upper_ = np.where(np.isfinite(row_hi), row_hi, inf).astype(np.float64)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = csc.indptr.astype(np.int32)
        lp.a_matrix_.index_ = csc.indices.astype(np.int32)
        lp.a_matrix_.value_ = csc.data.astype(np.float64)
    kinds = (highspy.HighsVarType.kContinuous, highspy.HighsVarType.kInteger)
    lp.integrality_ = [kinds[int(v != 0)] for v in np.asarray(integrality).tolist()]
    h.passModel(lp)
    h.setOptionValue("time_limit", float(max(limit, 0.01)))
    h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    h.setOptionValue("presolve", "on" if presolve else "off")
    h.setOptionValue("threads", 1)

    def interrupt(event: object) -> None:
        if _control.out_of_time(deadline):
            event.interrupt()  # type: ignore[attr-defined]

    def mip_progress(event: object) -> None:
        gap = float(event.data_out.mip_gap)  # type: ignore[attr-defined]
        if phase is not None and np.isfinite(gap):
            _control.report(phase, 1.0 - min(max(gap, 0.0), 1.0))
        interrupt(event)

    h.cbMipInterrupt.subscribe(mip_progress)
    h.cbSimplexInterrupt.subscribe(interrupt)
    t0 = time.perf_counter()
    h.run()
    status = h.getModelStatus()
    ms = highspy.HighsModelStatus
    message = h.modelStatusToString(status)
    if status == ms.kOptimal:
        code = 0
    elif status in (ms.kInfeasible,):
        code = 2
    elif status in (ms.kUnbounded, ms.kUnboundedOrInfeasible):
        code = 3
    elif status in (ms.kTimeLimit, ms.kInterrupt, ms.kIterationLimit, ms.kSolutionLimit):
        code = 1
    else:
        code = 4
    x = None
    info = h.getInfo()
    if code in (0, 1) and info.primal_solution_status == 2:  # kSolutionStatusFeasible
        x = np.asarray(h.getSolution().col_value, np.float64)
    fun = float(info.objective_function_value) if x is not None else np.nan
    row_dual = None
    if code == 0 and not np.any(integrality) and info.dual_solution_status == 2:
        row_dual = np.asarray(h.getSolution().row_dual, np.float64)
    del t0
    return MilpResult(code, x, fun, message, row_dual)


class ColumnLp:
    """An LP grown column by column, re-solved from the previous basis (column generation).

    Rows are fixed at construction (``row_lo <= A x <= row_hi``, no columns yet); columns are
    added in CSC form. Minimisation.
    """

    def __init__(self, row_lo: F64, row_hi: F64) -> None:
        self._h = _new_highs()
        self._h.setOptionValue("threads", 1)
        inf = highspy.kHighsInf
        n = int(row_lo.size)
        self.num_rows = n
        self.num_cols = 0
        self._h.addRows(n, np.where(np.isfinite(row_lo), row_lo, -inf).astype(np.float64),
                        np.where(np.isfinite(row_hi), row_hi, inf).astype(np.float64), 0,
                        np.zeros(n, np.int32), np.zeros(0, np.int32), np.zeros(0, np.float64))

    def add_columns(self, cost: F64, col_lo: F64, col_hi: F64, starts: npt.NDArray[np.int32],
                    rows: npt.NDArray[np.int32], values: F64) -> None:
        inf = highspy.kHighsInf
        n = int(cost.size)
        self._h.addCols(n, cost.astype(np.float64),
                        np.where(np.isfinite(col_lo), col_lo, -inf).astype(np.float64),
                        np.where(np.isfinite(col_hi), col_hi, inf).astype(np.float64),
                        int(values.size), starts.astype(np.int32), rows.astype(np.int32),
                        values.astype(np.float64))
        self.num_cols += n

    def solve(self, deadline: float) -> tuple[F64, F64, float] | None:
        """``(x, row_dual, objective)`` of the optimum, or ``None`` (no time, or not optimal)."""
        limit = _control.remaining(deadline)
        if limit <= 0:
            return None
        h = self._h
        h.setOptionValue("time_limit", float(max(limit, 0.01)))

        def interrupt(event: object) -> None:
            if _control.out_of_time(deadline):
                event.interrupt()  # type: ignore[attr-defined]

        h.cbSimplexInterrupt.subscribe(interrupt)
        h.run()
        h.cbSimplexInterrupt.unsubscribe(interrupt)
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        sol = h.getSolution()
        return (np.asarray(sol.col_value, np.float64), np.asarray(sol.row_dual, np.float64),
                float(h.getInfo().objective_function_value))
