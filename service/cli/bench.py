"""``platsa bench``: the research benchmarks.

``platsa bench fairness`` runs every registered allocation and shortlist method
(:mod:`scoring.research`) over seeded fixture regions and writes a tidy results table (Parquet and
CSV) and charts (PNG). ``platsa bench perf`` runs the speed scripts of ``benchmarks/`` and collects
their results into one file; it needs a source checkout, since ``benchmarks/`` is not installed.
The protocol is ``docs/research.md``; ``benchmarks/README.md`` has the commands.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from service.cli.common import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE

DEFAULT_FAIRNESS_OUT = Path("benchmarks/results/fairness")
DEFAULT_PERF_OUT = Path("benchmarks/results/perf.json")
DEFAULT_PERF_QUICK_OUT = Path("benchmarks/results/perf-quick.json")

#: The summary table's columns: (kind, metric, heading, format).
_SUMMARY_COLUMNS = (
    ("allocation", "num_placed", "placed", "{:,.0f}"),
    ("allocation", "mean_score", "score/pl", "{:.2f}"),
    ("allocation", "districts_outside_bounds", "dist out", "{:.1f}"),
    ("allocation", "floor_gap_min", "floor gap", "{:+.3f}"),
    ("allocation", "anti_creaming_difference", "low-step", "{:+.3f}"),
    ("allocation", "demographic_parity_difference", "DP diff", "{:.3f}"),
    ("allocation", "four_fifths_ratio", "4/5 ratio", "{:.2f}"),
    ("shortlist", "mean_score", "score/ln", "{:.2f}"),
    ("shortlist", "min_skew_at_k", "minskew", "{:+.3f}"),
    ("shortlist", "max_skew_at_k", "maxskew", "{:+.3f}"),
    ("shortlist", "ndkl_mean", "NDKL", "{:.3f}"),
    ("shortlist", "exposure_ratio_min", "exp ratio", "{:.2f}"),
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "bench",
        help="research benchmarks: fairness vs match quality, and speed",
        description="Research benchmarks (docs/research.md, benchmarks/README.md).",
    )
    bench = p.add_subparsers(dest="bench_command", metavar="BENCHMARK", required=True)

    f = bench.add_parser(
        "fairness",
        help="every allocation and shortlist method over fixture regions and seeds",
        description=(
            "Run every allocation method (the exact round with and without keys and floors, and the "
            "greedy, serial-dictatorship and deferred-acceptance baselines) and every shortlist method "
            "(FA*IR and plain top k) on seeded fixture regions, evaluate match quality and fairness, "
            "and write OUT/results.parquet, OUT/results.csv (one row per region, size, seed, method, "
            "metric and group: aggregates only) and OUT/charts/*.png. See docs/research.md."
        ),
    )
    f.add_argument("--regions", default="gothenburg,ostersund,sodertalje",
                   help="fixture regions, comma-separated (default all three)")
    f.add_argument("--sizes", default="small", help="fixture sizes, comma-separated (default small)")
    f.add_argument("--seeds", default="1,2,3", help="seeds, comma-separated (default 1,2,3)")
    f.add_argument("--methods", help="registered methods, comma-separated (default all; see --list)")
    f.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="import a module or .py file that registers more methods first; repeatable")
    f.add_argument("-k", type=int, default=20, metavar="K", help="shortlist length (default 20)")
    f.add_argument("--lists", type=int, default=20, metavar="N",
                   help="places sampled per instance for the shortlist methods (default 20)")
    f.add_argument("--objective", choices=("max-placed", "score"), default="max-placed",
                   help="the rounds' objective (default max-placed, as 'platsa allocate')")
    f.add_argument("--time-limit", type=float, default=120.0, metavar="SECONDS", help="solver time limit")
    f.add_argument("--weight", action="append", default=[], metavar="TERM=VALUE",
                   help="override a score weight of every region's policy, e.g. priority_group=0 (a "
                        "group-blind score); repeatable")
    f.add_argument("--floor", action="append", default=[], metavar="GROUP=SHARE",
                   help="override (or add) a priority-group floor where the policy enables the group, "
                        "e.g. disability=0.3; repeatable")
    f.add_argument("--out", type=Path, default=DEFAULT_FAIRNESS_OUT, metavar="DIR",
                   help=f"output folder (default {DEFAULT_FAIRNESS_OUT})")
    f.add_argument("--charts", type=Path, metavar="DIR", help="chart folder (default OUT/charts)")
    f.add_argument("--no-charts", action="store_true", help="write the tables only")
    f.add_argument("--replot", action="store_true",
                   help="redraw the charts and the summary from OUT/results.parquet without running")
    f.add_argument("--list", action="store_true", help="list the registered methods and exit")
    f.set_defaults(func=run_fairness)

    q = bench.add_parser(
        "perf",
        help="run the speed benchmarks of benchmarks/ and collect their results",
        description=(
            "Run the speed scripts in benchmarks/ (each in a subprocess, from a temporary copy so that "
            "the committed per-script results are not overwritten), collect their JSON results into "
            "one file and print a table. Needs a source checkout: run it from the repository root "
            "or pass --bench-dir. With --quick each script runs on its smallest configuration."
        ),
    )
    q.add_argument("--quick", action="store_true", help="small sizes: a smoke run in seconds")
    q.add_argument("--only", metavar="NAMES", help="run only these scripts (comma-separated names)")
    q.add_argument("--out", type=Path, metavar="FILE",
                   help=f"results file (default {DEFAULT_PERF_OUT}; {DEFAULT_PERF_QUICK_OUT} with --quick)")
    q.add_argument("--bench-dir", type=Path, metavar="DIR",
                   help="the benchmarks folder (default: benchmarks/ of the checkout holding the "
                        "current directory)")
    q.add_argument("--timeout", type=float, default=3600.0, metavar="SECONDS", help="per script")
    q.set_defaults(func=run_perf)

    b = bench.add_parser(
        "backtest",
        help="replay simulated years: hindsight, greedy, batch rounds and the dynamic mode",
        description=(
            "Replay a simulated year of arrivals in weekly batches on seeded fixture regions and place "
            "them by the hindsight optimum, greedy, batch rounds and the dynamic mode, with the "
            "hand-weighted score and with the learnt outcome model's probability; judge every "
            "placement by the simulated true probability of being in work or studies at 180 days. "
            "Runs benchmarks/bench_backtest.py (needs a source checkout) and writes "
            "benchmarks/results/backtest.json and SVG charts beside it. See docs/research.md, "
            "'Backtest'. Options after -- are passed to the script (e.g. -- --seeds 1 --no-timing)."
        ),
    )
    b.add_argument("--bench-dir", type=Path, metavar="DIR",
                   help="the benchmarks folder (default: benchmarks/ of the checkout holding the "
                        "current directory)")
    b.add_argument("script_args", nargs=argparse.REMAINDER, metavar="-- OPTIONS",
                   help="options of bench_backtest.py (--regions, --size, --seeds, -k, --orders, "
                        "--no-timing, --timing-size, --timing-batch, --out, --no-charts)")
    b.set_defaults(func=run_backtest)


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


# ---------------------------------------------------------------------------------------------
# platsa bench fairness
# ---------------------------------------------------------------------------------------------


def _load_plugin(name: str) -> None:
    """Import a module (dotted name) or a .py file for the methods it registers."""
    if name.endswith(".py") or os.sep in name:
        path = Path(name)
        spec = importlib.util.spec_from_file_location(f"platsa_bench_plugin_{path.stem}", path)
        if spec is None or spec.loader is None:
            raise FileNotFoundError(name)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        importlib.import_module(name)


def run_fairness(args: argparse.Namespace) -> int:
    from fixtures import REGIONS, SIZES, generate_region
    from scoring.policy import load_policy
    from scoring.pool import build_pool
    from scoring.research import Instance, list_methods, plot_tradeoffs, run_instance

    for plugin in args.plugin:
        try:
            _load_plugin(plugin)
        except (ImportError, FileNotFoundError, OSError) as exc:
            print(f"platsa bench fairness: --plugin {plugin}: {exc}", file=sys.stderr)
            return EXIT_USAGE
    if args.list:
        for m in list_methods():
            print(f"{m.name:24} {m.kind:11} {m.description}")
        return EXIT_OK

    if args.replot:
        return _replot(args)
    regions, sizes = _split(args.regions), _split(args.sizes)
    known = {m.name for m in list_methods()}
    methods = _split(args.methods) or [m.name for m in list_methods()]
    errors = [f"--regions: unknown region {r!r} (known: {', '.join(sorted(REGIONS))})"
              for r in regions if r not in REGIONS]
    errors += [f"--sizes: unknown size {s!r} (known: {', '.join(SIZES)})" for s in sizes if s not in SIZES]
    errors += [f"--methods: unknown method {m!r} (known: {', '.join(known)})"
               for m in methods if m not in known]
    try:
        seeds = [int(s) for s in _split(args.seeds)]
    except ValueError:
        errors.append(f"--seeds {args.seeds!r}: expected whole numbers, comma-separated")
        seeds = []
    if args.k < 1 or args.lists < 1:
        errors.append("-k and --lists must be at least 1")
    if not (regions and sizes and seeds and methods) and not errors:
        errors.append("--regions, --sizes, --seeds and --methods must not be empty")
    weights, more = _assignments(args.weight, "--weight")
    floors, more2 = _assignments(args.floor, "--floor")
    errors += more + more2
    if errors:
        for error in errors:
            print(f"platsa bench fairness: {error}", file=sys.stderr)
        return EXIT_USAGE

    started = time.perf_counter()
    parts = []
    total = len(regions) * len(sizes) * len(seeds)
    done = 0
    for size in sizes:
        for region in regions:
            for seed in seeds:
                t0 = time.perf_counter()
                data = generate_region(region, size, seed=seed)
                policy = _override_policy(load_policy(data.manifest.policy), weights, floors)
                pool, places = build_pool(data, policy)
                instance = Instance(pool, places, policy, region=region, size=size, seed=seed,
                                    objective="max_placed" if args.objective == "max-placed" else "score",
                                    time_limit_s=args.time_limit)
                parts.append(run_instance(instance, methods, k=args.k, num_lists=args.lists))
                done += 1
                print(f"[{done}/{total}] {region} {size} seed {seed}: {pool.size:,} candidates, "
                      f"{places.size:,} places, {time.perf_counter() - t0:.1f} s",
                      file=sys.stderr, flush=True)
    table = pl.concat(parts)

    args.out.mkdir(parents=True, exist_ok=True)
    table.write_parquet(args.out / "results.parquet")
    table.write_csv(args.out / "results.csv")
    command = "platsa bench fairness " + " ".join(_argv_of(args))
    (args.out / "run.json").write_text(json.dumps({
        "command": command,
        "when": dt.datetime.now().isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 1),
        "regions": regions, "sizes": sizes, "seeds": seeds, "methods": methods,
        "k": args.k, "lists": args.lists, "objective": args.objective,
        "weights": weights, "floors": floors,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
    }, indent=2) + "\n", encoding="utf-8")
    charts: list[Path] = []
    if not args.no_charts:
        charts = plot_tradeoffs(table, args.charts or args.out / "charts", method_order=methods)

    print(render_summary(table))
    print()
    print(f"{table.height:,} rows -> {args.out / 'results.parquet'}, {args.out / 'results.csv'}")
    if charts:
        print(f"{len(charts)} charts -> {charts[0].parent}")
    print(f"command: {command}  ({time.perf_counter() - started:.0f} s)")
    return EXIT_OK


def _replot(args: argparse.Namespace) -> int:
    from scoring.research import plot_tradeoffs

    source = args.out / "results.parquet"
    if not source.is_file():
        print(f"platsa bench fairness --replot: no {source}; run without --replot first", file=sys.stderr)
        return EXIT_USAGE
    table = pl.read_parquet(source)
    methods = table["method"].unique(maintain_order=True).to_list()
    charts = plot_tradeoffs(table, args.charts or args.out / "charts", method_order=methods)
    print(render_summary(table))
    print(f"\n{len(charts)} charts -> {charts[0].parent if charts else '(none)'}")
    return EXIT_OK


def _argv_of(args: argparse.Namespace) -> list[str]:
    """The options that reproduce this run (for run.json and the summary)."""
    out = [f"--regions {args.regions}", f"--sizes {args.sizes}", f"--seeds {args.seeds}"]
    if args.methods:
        out.append(f"--methods {args.methods}")
    out += [f"--plugin {p}" for p in args.plugin]
    out += [f"--weight {w}" for w in args.weight] + [f"--floor {f}" for f in args.floor]
    if args.k != 20:
        out.append(f"-k {args.k}")
    if args.lists != 20:
        out.append(f"--lists {args.lists}")
    if args.objective != "max-placed":
        out.append(f"--objective {args.objective}")
    out.append(f"--out {args.out}")
    if args.charts:
        out.append(f"--charts {args.charts}")
    return out


def _assignments(values: list[str], flag: str) -> tuple[dict[str, float], list[str]]:
    """``NAME=NUMBER`` options as a dict, and the ones that do not parse."""
    out: dict[str, float] = {}
    errors = []
    for value in values:
        name, sep, number = value.partition("=")
        try:
            out[name.strip()] = float(number)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            errors.append(f"{flag} {value!r}: expected NAME=NUMBER")
    return out, errors


def _override_policy(policy: Any, weights: dict[str, float], floors: dict[str, float]) -> Any:
    """The policy with some score weights and floors replaced, validated like a policy file.

    A floor for a group the policy does not enable is left out (Östersund counts other groups than
    Gothenburg), so that one command can stress every region.
    """
    from scoring.policy import parse_policy

    if not weights and not floors:
        return policy
    data = policy.model_dump(mode="json")
    data["weights"] = {**data["weights"], **weights}
    enabled = set(data["groups"]["enabled"])
    data["floors"] = {**data["floors"], **{g: share for g, share in floors.items() if g in enabled}}
    return parse_policy(data, source=f"policy {policy.id} with --weight/--floor")


def render_summary(table: pl.DataFrame) -> str:
    """Means over seeds per region, size and method, a few key metrics (plain text)."""
    from scoring.research import summarise

    summary = summarise(table.filter(pl.col("group").is_null()))
    lines = []
    for kind in ("allocation", "shortlist"):
        columns = [c for c in _SUMMARY_COLUMNS if c[0] == kind]
        part = summary.filter(pl.col("kind") == kind)
        if part.is_empty():
            continue
        lookup = {(r["region"], r["size"], r["method"], r["metric"]): r["mean"]
                  for r in part.iter_rows(named=True)}
        header = f"{'region':11} {'size':7} {kind + ' method':24}" + "".join(f"{c[2]:>10}" for c in columns)
        lines += [header, "-" * len(header)]
        runs = part.select("region", "size", "method").unique(maintain_order=True)
        for region, size, method in runs.rows():
            cells = []
            for _, metric, _, fmt in columns:
                value = lookup.get((region, size, method, metric))
                cells.append(f"{'–' if value is None else fmt.format(value):>10}")
            lines.append(f"{region:11} {size:7} {method:24}" + "".join(cells))
        lines.append("")
    lines.append("Means over seeds; NaN-valued metrics shown as –. Definitions: docs/research.md.")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# platsa bench perf
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PerfScript:
    """A speed script of ``benchmarks/`` and how ``platsa bench perf`` runs it.

    Attributes
    ----------
    name
        Short name (``--only``, the results file's keys).
    script
        File name in ``benchmarks/``.
    result
        The JSON file the script writes under ``results/`` next to itself.
    full_args, quick_args
        Arguments for a full run (the README's figures) and for ``--quick``.
    out_flag
        The script's option naming its results file, if it has one.
    """

    name: str
    script: str
    result: str
    full_args: tuple[str, ...] = ()
    quick_args: tuple[str, ...] = ()
    out_flag: str | None = "--out"


#: The speed scripts, in the order they run. A script in benchmarks/ that is not listed here is
#: reported as skipped: add an entry with its quick arguments.
PERF_SCRIPTS: tuple[PerfScript, ...] = (
    PerfScript("fixtures", "bench_fixtures.py", "fixtures.json",
               full_args=("--sizes", "small", "medium", "large", "county", "xl", "--region", "gothenburg"),
               quick_args=("--sizes", "small", "--region", "gothenburg"), out_flag=None),
    PerfScript("shortlist", "bench_shortlist.py", "shortlist.json",
               quick_args=("--sizes", "1000", "--queries", "5", "--repeats", "1",
                           "--baseline-sample", "1000")),
    PerfScript("allocation", "bench_allocation.py", "allocation.json",
               quick_args=("--sizes", "2000x200x10")),
    # --baseline: the place-by-place graph of before, the same-run baseline (and its "same" check).
    PerfScript("round_build", "bench_round_build.py", "round_build.json",
               full_args=("--sizes", "medium", "large", "county", "--baseline"),
               quick_args=("--sizes", "small", "--baseline")),
    # The live state's cost: a round with it, without it, and its own checks timed alone.
    PerfScript("live_state", "bench_live_state.py", "live_state.json",
               full_args=("--sizes", "medium", "large"), quick_args=("--sizes", "small")),
    # A round certified over every eligible pair beside today's pruned round (and --no-prune).
    PerfScript("certified", "bench_certified.py", "certified.json",
               full_args=("--sizes", "medium", "--seeds", "1", "2", "3", "4", "5", "--full"),
               quick_args=("--sizes", "small", "--seeds", "1", "--full")),
    PerfScript("service", "bench_service.py", "service.json",
               quick_args=("--pools", "medium", "--clients", "1", "10", "--requests", "50")),
    # Shortlists at 100 clients, idle and during a round: one process vs 2 web + 1 worker (PostgreSQL).
    PerfScript("workers", "bench_workers.py", "workers.json",
               quick_args=("--size", "small", "--requests", "200", "--max-blocks", "1")),
    # A legitimate key's latency alone, under a flood of wrong keys, with and without the limit.
    PerfScript("auth_flood", "bench_auth_flood.py", "auth_flood.json",
               full_args=("--requests", "3000", "--flooders", "4"), quick_args=("--requests", "200")),
    # Server time of every web page on the large pool, against its 300 ms budget (docs/pages.md).
    PerfScript("pages", "bench_pages.py", "pages.json",
               full_args=("--size", "large"), quick_args=("--size", "small", "--requests", "5")),
    # What the learnt outcome term costs a shortlist and a round (weight 0 beside weight 10).
    PerfScript("outcome_term", "bench_outcome_term.py", "outcome_term.json",
               quick_args=("--size", "small", "--places", "3")),
    # The dynamic mode's backtest and its 500-arrival batch over 100k candidates (also
    # `platsa bench backtest`, which writes the committed figures).
    PerfScript("backtest", "bench_backtest.py", "backtest.json",
               quick_args=("--regions", "gothenburg", "--seeds", "1", "--orders", "real",
                           "--no-timing", "--no-charts")),
)


def find_bench_dir(start: Path | None = None) -> Path | None:
    """``benchmarks/`` of the source checkout that holds ``start`` (default: the current directory)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "benchmarks").is_dir() and (folder / "pyproject.toml").is_file():
            return folder / "benchmarks"
    return None


def run_backtest(args: argparse.Namespace) -> int:
    """``platsa bench backtest``: run benchmarks/bench_backtest.py with the options given."""
    bench_dir = args.bench_dir or find_bench_dir()
    if bench_dir is None or not (bench_dir / "bench_backtest.py").is_file():
        print("platsa bench backtest: no benchmarks/bench_backtest.py found. It is part of the source "
              "checkout, not the installed package: run from the repository root or pass --bench-dir.",
              file=sys.stderr)
        return EXIT_USAGE
    argv = [a for a in args.script_args if a != "--"] if args.script_args else []
    done = subprocess.run([sys.executable, str(bench_dir / "bench_backtest.py"), *argv],
                          cwd=bench_dir.parent, check=False)
    return EXIT_OK if done.returncode == 0 else (EXIT_USAGE if done.returncode == 2 else EXIT_PROBLEMS)


def run_perf(args: argparse.Namespace) -> int:
    bench_dir = args.bench_dir or find_bench_dir()
    if bench_dir is None or not bench_dir.is_dir():
        print("platsa bench perf: no benchmarks/ folder found. It is part of the source checkout, not the "
              "installed package: run from the repository root or pass --bench-dir.", file=sys.stderr)
        return EXIT_USAGE
    only = set(_split(args.only))
    names = {s.name for s in PERF_SCRIPTS}
    unknown = sorted(only - names)
    if unknown:
        print(f"platsa bench perf: --only: unknown script name(s) {', '.join(unknown)} "
              f"(known: {', '.join(names)})", file=sys.stderr)
        return EXIT_USAGE
    out = args.out or (DEFAULT_PERF_QUICK_OUT if args.quick else DEFAULT_PERF_OUT)

    records: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="platsa-perf-") as tmp:
        # Scripts write results/<name>.json next to themselves; running a copy keeps a quick run
        # from overwriting the committed full results that the README quotes.
        work = Path(tmp) / "benchmarks"
        shutil.copytree(bench_dir, work, ignore=shutil.ignore_patterns("results", "__pycache__"))
        (work / "results").mkdir()
        for spec in PERF_SCRIPTS:
            if only and spec.name not in only:
                continue
            records.append(_run_script(spec, bench_dir, work, quick=args.quick, timeout=args.timeout))
        listed = {s.script for s in PERF_SCRIPTS}
        for extra in sorted(bench_dir.glob("bench_*.py")):
            if extra.name not in listed and not only:
                records.append({"name": extra.stem.removeprefix("bench_"), "script": extra.name,
                                "status": "skipped",
                                "reason": "not configured in service/cli/bench.py PERF_SCRIPTS"})

    report = {
        "benchmark": "perf",
        "command": "platsa bench perf" + (" --quick" if args.quick else "")
                   + (f" --only {args.only}" if args.only else ""),
        "quick": bool(args.quick),
        "when": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "scripts": records,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    for r in records:
        if r["status"] == "ran" and r.get("stdout", "").strip():
            print(f"== {r['script']} {' '.join(r.get('args', []))}")
            print(r["stdout"].rstrip())
            print()
    print(f"{'script':22} {'status':8} {'seconds':>8}  note")
    for r in records:
        seconds = f"{r['seconds']:.1f}" if "seconds" in r else ""
        print(f"{r['script']:22} {r['status']:8} {seconds:>8}  {r.get('reason', '')}")
    ran = [r["script"] for r in records if r["status"] == "ran"]
    skipped = [r["script"] for r in records if r["status"] == "skipped"]
    failed = [r["script"] for r in records if r["status"] == "failed"]
    print(f"\nran: {', '.join(ran) or 'none'}; skipped: {', '.join(skipped) or 'none'}; "
          f"failed: {', '.join(failed) or 'none'}")
    print(f"results -> {out}")
    return EXIT_PROBLEMS if failed else EXIT_OK


def _run_script(
    spec: PerfScript, bench_dir: Path, work: Path, *, quick: bool, timeout: float
) -> dict[str, Any]:
    script = work / spec.script
    record: dict[str, Any] = {"name": spec.name, "script": spec.script}
    if not (bench_dir / spec.script).is_file():
        return {**record, "status": "skipped", "reason": f"{spec.script} not in {bench_dir}"}
    result_file = work / "results" / spec.result
    argv = list(spec.quick_args if quick else spec.full_args)
    if spec.out_flag:
        argv += [spec.out_flag, str(result_file)]
    record["args"] = argv
    started = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, str(script), *argv], capture_output=True, text=True,
                              timeout=timeout, cwd=work.parent, check=False)
    except subprocess.TimeoutExpired:
        return {**record, "status": "failed", "seconds": time.perf_counter() - started,
                "reason": f"timed out after {timeout:.0f} s"}
    record["seconds"] = time.perf_counter() - started
    record["stdout"] = done.stdout[-4000:]
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        return {**record, "status": "failed", "reason": f"exit {done.returncode}: {last}",
                "stderr": done.stderr[-4000:]}
    if not result_file.is_file():
        return {**record, "status": "failed", "reason": f"wrote no {spec.result}"}
    record["result"] = json.loads(result_file.read_text(encoding="utf-8"))
    return {**record, "status": "ran"}
