"""``platsa model``: learn P(in work or studies 180 days after a placement) from recorded outcomes.

``platsa model train`` fits the outcome model (:mod:`scoring.outcome_model`) on a region's recorded
person outcomes (a region folder's file, or with ``--from-db`` the 180-day follow-ups the service
recorded), reports its discrimination and calibration overall and per priority group, says
whether the policy allows it, and stores it (:mod:`service.outcome_models`). ``platsa model check``
reads a stored model and says whether a policy allows it now. Definitions: ``docs/research.md``,
"Outcome model".
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import sys
from pathlib import Path

import numpy as np
import polars as pl
import sqlalchemy as sa

from scoring.exceptions import OutcomeModelRefusedError, ScoringError
from scoring.outcome_model import (
    MODEL_KINDS,
    PERSON_OUTCOME_SCHEMA,
    GroupFigures,
    ModelEvaluation,
    OutcomeModelParams,
    fit_outcome_model,
    require_usable,
    researcher_evaluation,
    usability_problems,
)
from scoring.policy import load_policy
from scoring.pool import build_pool
from scoring.region import Region, load_region
from service.cli.common import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, policy_dirs
from service.config import Settings
from service.outcome_models import load_outcome_model, save_outcome_model

ROLES = ("coordinator", "researcher")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "model",
        help="outcome model: learn P(in work or studies at 180 days) from recorded outcomes",
        description=(
            "The outcome model: P(in work or studies 180 days after a placement started | candidate, "
            "place), learnt from recorded person outcomes (never the supplier's 'hired'). "
            "Definitions: docs/research.md, 'Outcome model'."
        ),
    )
    cmds = p.add_subparsers(dest="model_command", metavar="SUBCOMMAND", required=True)
    train = cmds.add_parser(
        "train",
        help="fit, calibrate on a time-split hold-out, evaluate per priority group, store",
        description=(
            "Fit the outcome model on the earlier outcomes, calibrate it (sigmoid) on the next and "
            "evaluate it on the latest: Brier score, expected calibration error and AUC, overall and "
            "per priority group. The model is stored with its version, training windows and "
            "features; it is refused (exit 1) where a group's calibration error is above the "
            "policy's outcome_model.max_group_calibration_error or a group has too few outcomes."
        ),
    )
    train.add_argument("--data", metavar="DIR",
                       help="the region folder (with region.toml); not with --from-db")
    source = train.add_mutually_exclusive_group(required=True)
    source.add_argument("--from-db", action="store_true",
                        help="the service's database (PLATSA_DATABASE_URL): its region and the person "
                             "outcomes recorded with POST /v1/proposals/{id}/person-outcome; the model "
                             "is stored in PLATSA_MODELS_DIR unless --out says otherwise")
    source.add_argument("--outcomes", metavar="FILE",
                        help="recorded person outcomes, CSV or Parquet: "
                             + ", ".join(PERSON_OUTCOME_SCHEMA))
    source.add_argument("--simulate-year", action="store_true",
                        help="demo data: simulate a year of placements and draw their outcomes from the "
                             "fixtures' simulated truth (docs/research.md), then report against it")
    train.add_argument("--year", type=int,
                       help="with --simulate-year: the year (default: the reference year)")
    train.add_argument("--seed", type=int, default=7,
                       help="with --simulate-year: seed of the year and of the truth (default 7)")
    train.add_argument("--policy", help="policy id or TOML file (default: the region's policy)")
    train.add_argument("--model", choices=MODEL_KINDS, default="logistic",
                       help="logistic: elastic-net logistic regression (default); "
                            "gbt: gradient-boosted trees")
    train.add_argument("--out", metavar="DIR",
                       help="folder to store the model in (default: <DIR>/outcome-models; with --from-db "
                            "PLATSA_MODELS_DIR)")
    train.add_argument("--role", choices=ROLES, default="coordinator",
                       help="whose view of the figures: coordinator (all) or researcher (groups with "
                            "small cells suppressed)")
    train.set_defaults(func=run_train)

    check = cmds.add_parser("check", help="whether a policy allows a stored model",
                            description="Read a stored model (its .json manifest) and judge it by a "
                                        "policy's outcome_model rules: exit 0 if allowed, 1 if refused.")
    check.add_argument("manifest", metavar="MODEL.json", help="the model's manifest")
    check.add_argument("--policy", help="policy id or TOML file (default: the policy it was trained with)")
    check.set_defaults(func=run_check)


def _read_outcomes(path: str) -> pl.DataFrame:
    file = Path(path)
    try:
        if file.suffix == ".parquet":
            frame = pl.read_parquet(file)
        else:
            frame = pl.read_csv(file, schema_overrides=PERSON_OUTCOME_SCHEMA, try_parse_dates=True)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise ScoringError(f"{path}: cannot be read as person outcomes ({exc})") from None
    missing = [c for c in PERSON_OUTCOME_SCHEMA if c not in frame.columns]
    if missing:
        raise ScoringError(f"{path}: missing column(s) {', '.join(missing)}")
    try:
        return frame.select(list(PERSON_OUTCOME_SCHEMA)).cast(PERSON_OUTCOME_SCHEMA)  # type: ignore[arg-type]
    except pl.exceptions.PolarsError as exc:
        raise ScoringError(f"{path}: a column has values of the wrong type ({exc})") from None


def _simulated(region: Region, *, seed: int, year: int) -> tuple[Region, pl.DataFrame]:
    # Demo data only: the service may use fixtures here (pyproject.toml, import-linter).
    from fixtures.outcomes import simulate_person_outcomes
    from fixtures.simulate import simulate_year

    try:
        region = simulate_year(region, seed=seed, year=year)
    except ValueError as exc:
        raise ScoringError(str(exc)) from None
    through = max(region.manifest.reference_date, dt.date(year, 12, 31))
    region = dataclasses.replace(
        region, manifest=dataclasses.replace(region.manifest, reference_date=through))
    return region, simulate_person_outcomes(region, seed=seed)


def _num(x: float | int | None, digits: int = 3) -> str:
    if x is None:
        return "–"
    return f"{x:,}" if isinstance(x, int) else f"{x:.{digits}f}"


def render_figures(figures: ModelEvaluation) -> str:
    """The figures as a text table, one row per group (``–``: suppressed or undefined)."""
    head = f"{'group':<34} {'outcomes':>8} {'in work':>8} {'mean p':>7} {'Brier':>7} {'ECE':>7} {'AUC':>7}"
    lines = [head, "-" * len(head)]
    for r in figures.rows:
        row: GroupFigures = r
        label = row.group + (" (suppressed)" if row.suppressed else "")
        lines.append(f"{label:<34} {_num(row.outcomes):>8} {_num(row.in_work_or_studies):>8} "
                     f"{_num(row.mean_predicted):>7} {_num(row.brier):>7} {_num(row.calibration_error):>7} "
                     f"{_num(row.auc):>7}")
    return "\n".join(lines) + "\n"


def _from_db(settings: Settings) -> tuple[Region, pl.DataFrame]:
    """The service's stored region and its recorded person outcomes (those of candidates and places
    still in the region: an erased person's outcome names a pseudonym, and is left out)."""
    from service import store
    from service.db import make_engine, migrate
    from service.db.tables import person_outcomes

    db = make_engine(settings.sqlalchemy_url, pool_size=1, max_overflow=0)
    try:
        migrate(db)
        with db.connect() as conn:
            loaded = store.load_region(conn)
            rows = [dict(r) for r in conn.execute(
                sa.select(*[person_outcomes.c[c] for c in PERSON_OUTCOME_SCHEMA])
                .order_by(person_outcomes.c.placement_id)).mappings()]
    finally:
        db.dispose()
    if loaded is None:
        raise ScoringError("the database holds no region: import one first (POST /v1/region/import)")
    region = loaded[0]
    frame = pl.DataFrame(rows, schema=PERSON_OUTCOME_SCHEMA, orient="row")
    kept = frame.filter(pl.col("candidate_id").is_in(region.candidates["candidate_id"].to_list())
                        & pl.col("place_id").is_in(region.places["place_id"].to_list()))
    print(f"{frame.height:,} person outcome(s) recorded in the database"
          + (f", {frame.height - kept.height:,} of them left out (candidate or place no longer in the region)"
             if kept.height < frame.height else ""))
    return region, kept


def run_train(args: argparse.Namespace) -> int:
    dirs = policy_dirs()
    settings = Settings.from_env()
    if args.from_db == (args.data is not None):
        print("platsa model train: give --data DIR (with --outcomes or --simulate-year) or --from-db",
              file=sys.stderr)
        return EXIT_USAGE
    if args.from_db and args.out is None and settings.models_dir is None:
        print("platsa model train --from-db: say where to store the model: --out DIR or PLATSA_MODELS_DIR",
              file=sys.stderr)
        return EXIT_USAGE
    if args.from_db:
        region, outcomes = _from_db(settings)
    else:
        region = load_region(args.data, policy_dirs=None if args.policy else dirs)
    policy = load_policy(args.policy or region.manifest.policy, search_dirs=dirs)
    if args.simulate_year:
        year = args.year or region.manifest.reference_date.year
        region, outcomes = _simulated(region, seed=args.seed, year=year)
        print(f"simulated {year} (seed {args.seed}): {region.placements.height:,} placements, "
              f"{outcomes.height:,} person outcomes drawn from the simulated truth")
    elif args.year is not None:
        print("platsa model train: --year belongs to --simulate-year", file=sys.stderr)
        return EXIT_USAGE
    elif not args.from_db:
        outcomes = _read_outcomes(args.outcomes)
    pool, places = build_pool(region, policy)
    params = OutcomeModelParams(model=args.model)
    model, data = fit_outcome_model(pool, places, outcomes, policy, region=region.manifest.region,
                                    params=params)
    print(f"model {model.version} ({model.kind}), {len(model.features)} features, policy {policy.id}")
    for part in ("train", "calibration", "evaluation"):
        w = getattr(model, part)
        print(f"  {part:<12} {w.outcomes:>6,} outcomes, "
              f"placements started {w.started_from} to {w.started_to}")
    figures = model.figures
    if args.role == "researcher":
        figures = researcher_evaluation(figures, data["y"], data["groups"], policy.follow_up.min_cell_size)
    print(f"\nOn the evaluation outcomes (ECE: {figures.num_bins} equal-width bins):")
    sys.stdout.write(render_figures(figures))
    if args.simulate_year:
        from fixtures.outcomes import true_outcome_probability  # demo data only, as above

        truth = true_outcome_probability(region, data["candidate_ids"], data["place_ids"], seed=args.seed,
                                         policy=policy)
        from sklearn.metrics import roc_auc_score

        print(f"\nAgainst the simulated truth: AUC of the true probabilities "
              f"{roc_auc_score(data['y'], truth):.3f}"
              f" (the best any model can do on these outcomes); correlation of predicted and true "
              f"{np.corrcoef(truth, data['p'])[0, 1]:.3f}; mean |predicted - true| "
              f"{np.mean(np.abs(truth - data['p'])):.3f}")
    out = Path(args.out) if args.out else (
        settings.models_dir if args.from_db and settings.models_dir is not None
        else Path(args.data) / "outcome-models")
    _, manifest_path = save_outcome_model(model, policy, out)
    print(f"\nstored {manifest_path}")
    problems = usability_problems(model.figures, policy)
    if problems:
        print(f"REFUSED by policy {policy.id}: the model may not be used:")
        for problem in problems:
            print(f"  - {problem}")
        return EXIT_PROBLEMS
    print(f"allowed by policy {policy.id}: every group's calibration error is within "
          f"{policy.outcome_model.max_group_calibration_error:.3f}")
    return EXIT_OK


def run_check(args: argparse.Namespace) -> int:
    model = load_outcome_model(args.manifest)
    policy = load_policy(args.policy or model.policy_id, search_dirs=policy_dirs())
    try:
        require_usable(model, policy)
    except OutcomeModelRefusedError as exc:
        print(f"REFUSED: {exc}")
        return EXIT_PROBLEMS
    print(f"allowed: model {model.version} by policy {policy.id}")
    return EXIT_OK
