"""Progress reports and cancellation of a running solve (issue 20, item 5)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from matching import SolveParams, Status, build_problem, solve
from tests.matching.shapes import Shape, make_round

# A round the exact method needs a few seconds for (three floors, keys, 2,000 candidates).
SLOW = Shape(2000, 200, 10, "decimal", 3)


def test_progress_reports_real_fractions_per_phase() -> None:
    calls: list[tuple[str, float]] = []
    p = build_problem(**make_round(Shape(1000, 100, 8, "decimal", 3), 1))
    r = solve(p, SolveParams(time_limit_s=60, progress=lambda ph, f: calls.append((ph, f))))
    assert r.status is Status.OPTIMAL
    phases = {ph for ph, _ in calls}
    assert {"prepare", "lagrangian", "explain"} <= phases
    for phase in phases:
        fractions = [f for ph, f in calls if ph == phase]
        assert all(0.0 <= f <= 1.0 for f in fractions)
        assert fractions == sorted(fractions), f"{phase} went backwards"
    lagrangian = [f for ph, f in calls if ph == "lagrangian"]
    assert any(0.0 < f < 1.0 for f in lagrangian), "more than 0 then 1"
    assert lagrangian[-1] == 1.0


@pytest.mark.parametrize("when", ["at once", "mid-lagrangian"])
def test_should_stop_ends_the_solve_promptly(when: str) -> None:
    # "mid-lagrangian": stopped once the Lagrangian phase has reported progress, so the stop comes
    # while the solve runs whatever the machine's speed (SLOW takes 0.5 s on a quiet machine).
    p = build_problem(**make_round(SLOW, 1))
    seen: list[float] = []

    def progress(phase: str, fraction: float) -> None:
        if phase == "lagrangian" and 0.0 < fraction < 1.0:
            seen.append(fraction)

    def stop() -> bool:
        return when == "at once" or bool(seen)

    t0 = time.perf_counter()
    r = solve(p, SolveParams(time_limit_s=60, should_stop=stop, progress=progress))
    assert time.perf_counter() - t0 < 2.0
    assert r.stopped_by == "cancel"
    if r.status is Status.FEASIBLE:
        assert r.num_assigned > 0 and np.isfinite(r.bound) and r.bound >= r.objective - 1e-9
        assert r.certificate is not None and r.certificate.bound == r.bound
    else:
        assert r.status is Status.UNKNOWN and r.num_assigned == 0


def test_no_solver_output_reaches_the_terminal(capfd: pytest.CaptureFixture[str]) -> None:
    p = build_problem(**make_round(Shape(600, 60, 5, "integer", 2), 2))
    solve(p, SolveParams(time_limit_s=30))
    out, err = capfd.readouterr()
    assert out == "" and err == ""
