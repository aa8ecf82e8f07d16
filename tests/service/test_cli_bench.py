"""``platsa bench fairness`` and ``platsa bench perf``: smoke runs and the error paths."""

from __future__ import annotations

import contextlib
import io
import json
import textwrap
from pathlib import Path

import polars as pl
import pytest

from scoring.research import RESULT_SCHEMA, list_methods, unregister_method
from service.cli import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, bench, main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fairness_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str]:
    out = tmp_path_factory.mktemp("fairness")
    buffer = io.StringIO()  # a module-scoped fixture cannot use capsys
    with contextlib.redirect_stdout(buffer):
        code = main(["bench", "fairness", "--regions", "gothenburg", "--sizes", "tiny,small", "--seeds", "1",
                     "--out", str(out), "-k", "10", "--lists", "5"])
    return out, code, buffer.getvalue()


def test_fairness_writes_parquet_csv_and_charts(fairness_run: tuple[Path, int, str]) -> None:
    out, code, printed = fairness_run
    assert code == EXIT_OK
    table = pl.read_parquet(out / "results.parquet")
    assert table.schema == pl.Schema(RESULT_SCHEMA)
    assert set(table["size"]) == {"tiny", "small"}
    assert set(table["method"]) == {m.name for m in list_methods()}
    csv = pl.read_csv(out / "results.csv", schema=RESULT_SCHEMA)
    assert csv.height == table.height
    charts = sorted((out / "charts").glob("*.png"))
    assert {c.name for c in charts} >= {"allocation_floor_gap_min.png", "allocation_four_fifths_ratio.png",
                                        "shortlist_min_skew_at_k.png", "shortlist_exposure_ratio_min.png"}
    assert all(c.read_bytes()[:8] == PNG_MAGIC for c in charts)
    run = json.loads((out / "run.json").read_text())
    assert run["command"].startswith("platsa bench fairness --regions gothenburg --sizes tiny,small --seeds 1")
    assert "optimal_unconstrained" in printed and "fair_topk" in printed
    assert f"{table.height:,} rows" in printed


def test_fairness_rejects_unknown_names(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = main(["bench", "fairness", "--regions", "malmo", "--sizes", "huge", "--methods", "magic",
                 "--seeds", "x", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE
    for text in ("unknown region 'malmo'", "unknown size 'huge'", "unknown method 'magic'", "--seeds 'x'"):
        assert text in err
    assert not (tmp_path / "results.parquet").exists()


def test_fairness_list_and_a_plugin_method(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    plugin = tmp_path / "my_methods.py"
    plugin.write_text(textwrap.dedent('''
        from scoring.research import Allocation, register_method

        def nobody(instance, *, seed):
            return Allocation(candidate=[], place=[])

        register_method("nobody", "allocation", nobody, description="places no one", replace=True)
    '''))
    try:
        assert main(["bench", "fairness", "--plugin", str(plugin), "--list"]) == EXIT_OK
        assert "nobody" in capsys.readouterr().out
        code = main(["bench", "fairness", "--plugin", str(plugin), "--regions", "gothenburg", "--sizes", "tiny",
                     "--seeds", "1", "--methods", "optimal,nobody", "--no-charts", "--out", str(tmp_path / "o")])
    finally:
        unregister_method("nobody")
    assert code == EXIT_OK
    table = pl.read_parquet(tmp_path / "o" / "results.parquet")
    placed = table.filter(pl.col("metric") == "num_placed").sort("method")
    assert placed["method"].to_list() == ["nobody", "optimal"]
    assert placed["value"][0] == 0
    assert not (tmp_path / "o" / "charts").exists()
    assert main(["bench", "fairness", "--plugin", str(tmp_path / "missing.py"), "--list"]) == EXIT_USAGE


# ---------------------------------------------------------------------------------------------
# perf
# ---------------------------------------------------------------------------------------------


def _fake_bench_dir(root: Path) -> Path:
    folder = root / "checkout" / "benchmarks"
    folder.mkdir(parents=True)
    (root / "checkout" / "pyproject.toml").write_text("")
    (folder / "bench_ok.py").write_text(textwrap.dedent('''
        import json, sys
        from pathlib import Path
        out = Path(sys.argv[sys.argv.index("--out") + 1])
        out.write_text(json.dumps({"rows": [{"n": int(sys.argv[2])}]}))
        print("n  time")
    '''))
    (folder / "bench_old_style.py").write_text(textwrap.dedent('''
        import json
        from pathlib import Path
        # No --out: writes next to itself, as bench_fixtures.py does.
        (Path(__file__).parent / "results" / "old.json").write_text(json.dumps({"ok": True}))
    '''))
    (folder / "bench_broken.py").write_text("raise SystemExit('no such size')\n")
    (folder / "bench_unlisted.py").write_text("")
    (folder / "results").mkdir()
    (folder / "results" / "old.json").write_text('{"committed": true}')
    return folder


def test_perf_runs_scripts_reports_skips_and_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _fake_bench_dir(tmp_path)
    monkeypatch.setattr(bench, "PERF_SCRIPTS", (
        bench.PerfScript("ok", "bench_ok.py", "ok.json", full_args=("--n", "1000"), quick_args=("--n", "10")),
        bench.PerfScript("old", "bench_old_style.py", "old.json", out_flag=None),
        bench.PerfScript("broken", "bench_broken.py", "broken.json"),
        bench.PerfScript("absent", "bench_absent.py", "absent.json"),
    ))
    out = tmp_path / "perf.json"
    code = main(["bench", "perf", "--quick", "--bench-dir", str(folder), "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == EXIT_PROBLEMS  # one script failed
    report = json.loads(out.read_text())
    status = {r["name"]: r["status"] for r in report["scripts"]}
    assert status == {"ok": "ran", "old": "ran", "broken": "failed", "absent": "skipped", "unlisted": "skipped"}
    ok = next(r for r in report["scripts"] if r["name"] == "ok")
    assert ok["result"] == {"rows": [{"n": 10}]} and ok["args"][:2] == ["--n", "10"]
    assert report["quick"] is True
    # The copy ran, not the checkout: its committed result file is untouched.
    assert json.loads((folder / "results" / "old.json").read_text()) == {"committed": True}
    assert "ran: bench_ok.py, bench_old_style.py" in printed
    assert "skipped: bench_absent.py, bench_unlisted.py" in printed
    assert "failed: bench_broken.py" in printed
    assert "no such size" in next(r for r in report["scripts"] if r["name"] == "broken")["reason"]


def test_perf_needs_a_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert bench.find_bench_dir() is None
    assert main(["bench", "perf", "--quick"]) == EXIT_USAGE
    assert "source checkout" in capsys.readouterr().err
    assert main(["bench", "perf", "--only", "nope", "--bench-dir", str(tmp_path)]) == EXIT_USAGE


@pytest.mark.skipif(not (REPO / "benchmarks" / "bench_fixtures.py").is_file(), reason="needs the checkout")
def test_perf_quick_runs_a_real_script(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "perf.json"
    code = main(["bench", "perf", "--quick", "--only", "fixtures", "--bench-dir", str(REPO / "benchmarks"),
                 "--out", str(out)])
    assert code == EXIT_OK, capsys.readouterr()
    (record,) = json.loads(out.read_text())["scripts"]
    assert record["status"] == "ran" and record["result"]["results"][0]["size"] == "small"


@pytest.mark.skipif(not (REPO / "benchmarks").is_dir(), reason="needs the checkout")
def test_every_benchmark_script_is_configured() -> None:
    # A script missing from PERF_SCRIPTS would only ever show as "skipped" in `platsa bench perf`.
    scripts = {path.name for path in (REPO / "benchmarks").glob("bench_*.py")}
    assert scripts == {spec.script for spec in bench.PERF_SCRIPTS}
    assert all(spec.quick_args for spec in bench.PERF_SCRIPTS)


@pytest.mark.slow
@pytest.mark.skipif(not (REPO / "benchmarks" / "bench_round_build.py").is_file(), reason="needs the checkout")
def test_perf_quick_runs_the_round_build_with_its_baseline(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "perf.json"
    code = main(["bench", "perf", "--quick", "--only", "round_build", "--bench-dir", str(REPO / "benchmarks"),
                 "--out", str(out)])
    assert code == EXIT_OK, capsys.readouterr()
    (record,) = json.loads(out.read_text())["scripts"]
    assert record["status"] == "ran"
    runs = {row["variant"]: row for row in record["result"]["results"]}
    assert set(runs) == {"new", "old"} and {row["size"] for row in runs.values()} == {"small"}
    assert runs["new"]["edges_sha1"] == runs["old"]["edges_sha1"]  # the baseline finds the same graph
