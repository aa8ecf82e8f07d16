"""Dynamic rounds over a region (scoring.dynamic) and ``platsa allocate --mode dynamic``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fixtures import generate_region
from matching import YearSoFar, hindsight, year_violations
from scoring.allocation import RoundParams, build_round
from scoring.dynamic import DynamicRoundParams, arrival_batches, run_dynamic_round, with_scores
from scoring.exceptions import RoundSetupError
from scoring.policy import load_policy
from scoring.pool import build_pool
from scoring.region import region_from_frames, write_region
from service.cli import EXIT_OK, EXIT_USAGE, main
from tests.regions import MANIFEST, hand_region


@pytest.fixture(scope="module")
def small():  # type: ignore[no-untyped-def]
    region = generate_region("gothenburg", "small", seed=3)
    policy = load_policy(region.manifest.policy)
    pool, places = build_pool(region, policy)
    return pool, places, policy, build_round(pool, places, policy, RoundParams(objective="score"))


def test_a_weekly_dynamic_round_keeps_the_years_rules(small) -> None:  # type: ignore[no-untyped-def]
    pool, places, policy, rnd = small
    result = run_dynamic_round(pool, places, policy, RoundParams(objective="score"),
                               DynamicRoundParams(k=2, seed=1), template=rnd)
    problem = rnd.problem
    edges = result.run.placed_edges
    assert edges.size == result.assignments.height > 0
    # Each candidate once, each place within its slots, the year's keys and floors met.
    assert np.unique(problem.edge_candidate[edges]).size == edges.size
    assert (np.bincount(problem.edge_place[edges], minlength=problem.num_places)
            <= problem.place_slots).all()
    assert not year_violations(problem, edges) and not result.run.violations
    # Placed in the week they became available (weeks from the earliest arrival with a pair).
    has_pair = np.zeros(pool.size, bool)
    has_pair[problem.edge_candidate] = True
    first = int(pool.available_day[has_pair].min())
    for row in result.assignments.iter_rows(named=True):
        c = pool.index[row["candidate_id"]]
        assert row["batch"] == (int(pool.available_day[c]) - first) // 7
    # The upper keys hold after every batch, not only at the end.
    year = YearSoFar.empty(problem)
    for b in result.run.batches:
        year = year.add(problem, b.placed_edges)
        assert (year.per_district(problem.num_districts) <= problem.district_upper).all()
    # No better than knowing the year in advance.
    assert result.run.total_score(problem) <= hindsight(problem, result.arrival_batch)[0].objective + 1e-6
    assert result.batches["placed"].sum() == edges.size


def test_an_import_is_one_batch_priced_against_the_rest_of_the_year(small) -> None:  # type: ignore[no-untyped-def]
    pool, places, policy, rnd = small
    alone = run_dynamic_round(pool, places, policy, RoundParams(objective="score"),
                              DynamicRoundParams(batch="import"), template=rnd)
    assert alone.batches.height == 1 and alone.run.batches[0].final
    # With 1,000 more arrivals expected, the places cost more: the future competes for them.
    ahead = run_dynamic_round(pool, places, policy, RoundParams(objective="score"),
                              DynamicRoundParams(batch="import", expected_arrivals=1000), template=rnd)
    assert not ahead.run.batches[0].final
    now, later = alone.run.batches[0].prices.place, ahead.run.batches[0].prices.place
    assert later.sum() > now.sum() + 1
    assert ahead.assignments["adjusted_score"].sum() < alone.assignments["adjusted_score"].sum()


def test_other_scores_replace_the_policys(small) -> None:  # type: ignore[no-untyped-def]
    *_, rnd = small
    p = with_scores(rnd.problem, np.ones(rnd.problem.num_edges))
    assert p.edge_score.tolist() == [1.0] * rnd.problem.num_edges
    assert p.district_upper.tolist() == rnd.problem.district_upper.tolist()
    with pytest.raises(ValueError, match="scores must have shape"):
        with_scores(rnd.problem, np.ones(3))


def test_bad_dynamic_parameters_are_listed_together(small) -> None:  # type: ignore[no-untyped-def]
    pool, places, policy, rnd = small
    bad = DynamicRoundParams(batch="monthly", batch_days=0, k=0, lookback_days=0, expected_arrivals=-1)
    with pytest.raises(RoundSetupError) as err:
        run_dynamic_round(pool, places, policy, None, bad, template=rnd)
    fields = {(p.column, p.value) for p in err.value.problems}
    assert fields == {("batch", "'monthly'"), ("batch_days", "0"), ("k", "0"),
                      ("lookback_days", "0"), ("expected_arrivals", "-1")}
    with pytest.raises(RoundSetupError, match="a batch must be at least 1 day long"):
        arrival_batches([1, 2, 3], batch_days=0)
    assert arrival_batches([10, 16, 17, 30]).tolist() == [0, 0, 1, 2]


def test_the_cli_runs_a_dynamic_round_and_refuses_bad_options(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_region(region_from_frames(MANIFEST, hand_region()), tmp_path / "region", fmt="csv")
    folder = str(tmp_path / "region")
    out = tmp_path / "dyn.json"
    assert main(["allocate", "--data", folder, "--mode", "dynamic", "--quiet", "--out", str(out)]) == EXIT_OK
    shown = capsys.readouterr().out
    assert "dynamic round:" in shown
    payload = json.loads(out.read_text(encoding="utf-8"))
    assert payload["params"]["mode"] == "dynamic" and payload["mode"] == "dynamic"
    assert payload["num_assigned"] == len(payload["assignments"])
    for argv, words in ((["--batch", "monthly"], "--batch 'monthly': unknown batch mode"),
                        (["--futures", "0"], "--k 0: at least 1 sampled future"),
                        (["--batch-days", "0"], "--batch-days 0: a batch must be at least 1 day long"),
                        (["--method", "greedy"], "--method greedy: the dynamic mode places each batch")):
        assert main(["allocate", "--data", folder, "--mode", "dynamic", "--quiet", *argv]) == EXIT_USAGE
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err
    with pytest.raises(SystemExit) as stop:
        main(["allocate", "--data", folder, "--mode", "weekly"])
    assert stop.value.code == EXIT_USAGE
    assert "invalid choice: 'weekly'" in capsys.readouterr().err
