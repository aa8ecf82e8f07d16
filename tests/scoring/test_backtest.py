"""The backtest harness (benchmarks/bench_backtest.py, ``platsa bench backtest``) on small inputs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from matching import build_problem, hindsight
from service.cli import EXIT_USAGE, main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bt() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_backtest", ROOT / "benchmarks" / "bench_backtest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_backtest"] = module
    spec.loader.exec_module(module)
    return module


def _year():  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(4)
    ec, ep, es = [], [], []
    for c in range(40):
        for p in rng.choice(5, 3, replace=False):
            ec.append(c)
            ep.append(int(p))
            es.append(int(rng.integers(0, 10_000)) / 100)
    groups = (np.array(ec) % 3 == 0).astype(np.uint32)
    problem = build_problem(num_candidates=40, num_places=5, edge_candidate=ec, edge_place=ep,
                            edge_score=es, place_slots=[3] * 5, edge_groups=groups,
                            group_floor=[0.2])
    ab = np.arange(40) // 8
    return problem, ab, np.arange(40)


def test_every_policy_replays_the_year_within_its_rules(bt: ModuleType) -> None:
    problem, ab, order = _year()
    best = hindsight(problem, ab)[0].objective
    got = {}
    for name in bt.POLICIES:
        edges, _ = bt._replay(problem, ab, order, name, 3, 1)
        assert np.unique(problem.edge_candidate[edges]).size == edges.size
        assert (np.bincount(problem.edge_place[edges], minlength=5) <= problem.place_slots).all()
        got[name] = float(problem.edge_score[edges].sum())
        fair = bt._fairness(problem, edges, ("youth",))
        assert fair["num_floors"] == 1 and 0 <= fair["group_share"]["youth"] <= 1
        if name != "greedy":  # greedy ignores floors; every other policy holds the year's floor
            assert fair["floors_met"] == 1 and fair["violations"] == 0
    assert got["hindsight"] == pytest.approx(best)
    assert got["known_future"] == pytest.approx(best)
    assert max(got.values()) == pytest.approx(best)


def test_the_summary_spreads_over_seeds_and_the_gain_is_learnt_over_hand(bt: ModuleType) -> None:
    rows = []
    for seed, (hand, learnt) in enumerate([(10.0, 11.0), (10.0, 12.0)], start=1):
        for score, value in (("hand", hand), ("learnt", learnt)):
            for policy in bt.POLICIES:
                rows.append({"order": "real", "region": "r", "seed": seed, "score": score,
                             "policy": policy, "true_in_work": value,
                             "score_vs_hindsight": value / 12, "true_vs_hindsight": 1.0,
                             "true_vs_oracle": value / 20, "placed": 5, "floors_met": 1,
                             "districts_within": 2, "seconds": 0.1})
    summary = bt.summarise(rows)
    gain = next(g for g in summary["learnt_gain"] if g["policy"] == "dynamic")
    assert gain["mean"] == pytest.approx(0.15) and gain["min"] == pytest.approx(0.1)
    assert gain["max"] == pytest.approx(0.2) and gain["seeds"] == 2
    entry = next(e for e in summary["by_policy"]
                 if (e["score"], e["policy"]) == ("learnt", "greedy"))
    assert entry["true_vs_oracle"] == {"mean": pytest.approx(11.5 / 20), "min": 0.55, "max": 0.6}


def test_bad_options_exit_2_with_a_message(bt: ModuleType, tmp_path: Path,
                                           capfd: pytest.CaptureFixture[str]) -> None:
    for argv, words in ((["--seeds", "x"], "--seeds 'x': expected whole numbers"),
                        (["--orders", "backwards"], "--orders 'backwards': real and/or shuffled")):
        with pytest.raises(SystemExit) as stop:
            bt.main(argv)
        assert stop.value.code == EXIT_USAGE
        assert words in capfd.readouterr().err
    assert main(["bench", "backtest", "--bench-dir", str(tmp_path / "none")]) == EXIT_USAGE
    assert "no benchmarks/bench_backtest.py found" in capfd.readouterr().err
    # The command passes the options after -- to the script and its usage error on as exit 2.
    fake = tmp_path / "benchmarks"
    fake.mkdir()
    (fake / "bench_backtest.py").write_text(
        "import sys\nprint('args', sys.argv[1:])\nsys.exit(2 if '--bad' in sys.argv else 0)\n",
        encoding="utf-8")
    assert main(["bench", "backtest", "--bench-dir", str(fake), "--", "--seeds", "1"]) == 0
    assert "args ['--seeds', '1']" in capfd.readouterr().out
    assert main(["bench", "backtest", "--bench-dir", str(fake), "--", "--bad"]) == EXIT_USAGE
