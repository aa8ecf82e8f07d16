"""The outcome model: P(in work or studies 180 days after a placement | candidate, place) (issue 18).

It is learnt from *recorded person outcomes* (DOMAIN.md, "Outcome": the person's state 180 days
after a placement started, never the supplier's "hired", which is the supplier's decision and would
teach the model the suppliers' preferences). Hard eligibility stays outside it: the model scores
pairs the rules have let through, as the score does.

Phases
------
:func:`outcome_features`
    The pair's features, from the arrays the scorer already uses (:mod:`scoring.pool`): the
    policy-blind score terms (competence, distance, ladder, time registered, wishes), the
    candidate's work-ladder step and time registered, the place's type, occupation, district,
    supplier, length, hours and supervisor, and competence × occupation group (experience pays off
    differently by trade). No priority-group attribute is a feature (:data:`EXCLUDED_ATTRIBUTES`):
    not age, gender, foreign birth, disability, income support, the candidate's home district (a
    close proxy of foreign birth in the fixture regions), nor the priority-group and gender-norm
    score terms.
:func:`time_split`
    The outcomes in order of the placement's start: the earliest train the model, the next
    calibrate it, the latest evaluate it.
:func:`fit_outcome_model`
    An elastic-net logistic regression on standardised features (default) or gradient-boosted
    trees (``OutcomeModelParams(model="gbt")``), then a sigmoid (Platt) calibration on the
    calibration outcomes, then :func:`evaluate_predictions` on the evaluation outcomes.
:func:`evaluate_predictions`
    Brier score, expected calibration error and AUC, overall and per priority group (fairlearn
    ``MetricFrame``).
:func:`usability_problems` / :func:`require_usable`
    Whether the policy allows the model: every group's calibration error within
    ``policy.outcome_model.max_group_calibration_error`` on enough outcomes.
:func:`researcher_evaluation`
    The evaluation as a researcher may see it: a group's figures suppressed where its counts of
    people are small cells (:func:`scoring.metrics.protect`, ``policy.follow_up.min_cell_size``).

Definitions and the figures on the fixture regions: ``docs/research.md``, "Outcome model".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl
from fairlearn.metrics import MetricFrame
from sklearn.base import ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from scoring.domain import PlacementType, PriorityGroup
from scoring.exceptions import OutcomeModelRefusedError, ScoringError
from scoring.metrics import CellSpec, Population, protect
from scoring.policy import Policy
from scoring.pool import PLACEMENT_TYPE_BITS, CandidatePool, PlaceTable
from scoring.schema import SENSITIVE_COLUMNS
from scoring.score import hand_terms, norm_breaker_pairs

__all__ = [
    "ALL_OUTCOMES",
    "EXCLUDED_ATTRIBUTES",
    "FOLLOW_UP_DAYS",
    "MODEL_KINDS",
    "PERSON_OUTCOME_SCHEMA",
    "SCORE_TERMS_USED",
    "FeatureSpec",
    "GroupFigures",
    "ModelEvaluation",
    "OutcomeModel",
    "OutcomeModelParams",
    "TimeSplit",
    "Window",
    "evaluate_predictions",
    "expected_calibration_error",
    "fit_outcome_model",
    "outcome_features",
    "pair_groups",
    "require_usable",
    "researcher_evaluation",
    "time_split",
    "usability_problems",
]

#: A person is followed up this many days after the placement started (DOMAIN.md, "Outcome").
FOLLOW_UP_DAYS = 180
#: Recorded person outcomes: one row per placement whose person was followed up.
PERSON_OUTCOME_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "placement_id": pl.String, "candidate_id": pl.String, "place_id": pl.String, "started_on": pl.Date,
    "followed_up_on": pl.Date, "in_work_or_studies": pl.Boolean,
}
#: The score terms the model reads: the policy-blind ones (not priority_group, not gender_norm).
SCORE_TERMS_USED: tuple[str, ...] = ("competence", "distance", "ladder", "time_far", "wishes")
#: Attributes that are never features: the sensitive columns, the priority groups, the score terms
#: made of them, and the home district (a proxy of foreign birth; the *place's* district is a feature).
EXCLUDED_ATTRIBUTES: frozenset[str] = frozenset(
    SENSITIVE_COLUMNS | {g.value for g in PriorityGroup}
    | {"age", "priority_group", "gender_norm", "home_district"}
)
MODEL_KINDS: tuple[str, ...] = ("logistic", "gbt")
#: The row of the evaluation that holds every outcome.
ALL_OUTCOMES = "all"
_TYPE_OF_BIT = {bit: name for name, bit in PLACEMENT_TYPE_BITS.items()}

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class OutcomeModelParams:
    """How the model is fitted, calibrated and evaluated.

    ``model``: ``"logistic"`` (elastic-net logistic regression, ``saga``, on standardised features:
    coefficients a coordinator can read) or ``"gbt"`` (scikit-learn's histogram gradient boosting:
    interactions found by itself). ``calibration_share`` and ``evaluation_share`` are the parts of
    the outcomes, latest last, held out to calibrate and to evaluate. ``num_bins``: equal-width bins
    of the calibration error.
    """

    model: Literal["logistic", "gbt"] = "logistic"
    c: float = 0.5
    """Inverse regularisation strength of the logistic regression."""
    l1_ratio: float = 0.5
    """Elastic-net mix: 1 is the lasso (L1), 0 ridge (L2)."""
    max_iter: int = 5000
    gbt_max_iter: int = 150
    gbt_learning_rate: float = 0.05
    gbt_max_leaf_nodes: int = 15
    gbt_l2_regularization: float = 1.0
    calibration_share: float = 0.2
    evaluation_share: float = 0.2
    num_bins: int = 10
    seed: int = 0
    threads: int = 1
    """Threads of the fit's native code (OpenMP, BLAS), limited for the fit only. One: the fits are
    small, and on a shared two-core machine the trees took 75 s with every thread and 5 s with one."""

    def problems(self) -> list[str]:
        """Every value out of range, in words (empty when the parameters can be used)."""
        out = []
        if self.model not in MODEL_KINDS:
            out.append(f"model must be one of {', '.join(MODEL_KINDS)}, not {self.model!r}")
        if not 0 < self.calibration_share < 1 or not 0 < self.evaluation_share < 1:
            out.append("calibration_share and evaluation_share must lie strictly between 0 and 1")
        elif self.calibration_share + self.evaluation_share >= 0.9:
            out.append("calibration_share + evaluation_share must leave at least 10 % to train on")
        if self.c <= 0:
            out.append("c must be positive")
        if not 0 <= self.l1_ratio <= 1:
            out.append("l1_ratio must lie in 0..1")
        if self.num_bins < 2:
            out.append("num_bins must be at least 2")
        if self.threads < 1:
            out.append("threads must be at least 1")
        return out


# ---------------------------------------------------------------------------------------------
# Features
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureSpec:
    """The categories the model knows, fixed when it is fitted: a category first seen later (a new
    supplier) has all its indicator columns 0, the average of the training data's reference level."""

    occupation_groups: tuple[str, ...]
    occupations: tuple[str, ...]
    districts: tuple[str, ...]
    suppliers: tuple[str, ...]
    placement_types: tuple[str, ...] = tuple(t.value for t in PlacementType)

    @property
    def names(self) -> tuple[str, ...]:
        """Every feature's name, in the columns' order."""
        return (
            *SCORE_TERMS_USED, "work_ladder_step", "log_years_registered", "duration_months",
            "hours_per_week", "supervisor_offered",
            *(f"placement_type={t}" for t in self.placement_types),
            *(f"occupation_group={g}" for g in self.occupation_groups),
            *(f"competence*occupation_group={g}" for g in self.occupation_groups),
            *(f"occupation={o}" for o in self.occupations),
            *(f"place_district={d}" for d in self.districts),
            *(f"supplier={s}" for s in self.suppliers),
        )

    @classmethod
    def from_pairs(cls, pool: CandidatePool, places: PlaceTable, place_idx: npt.ArrayLike) -> FeatureSpec:
        """The categories of the places in ``place_idx`` (the training pairs)."""
        place = np.unique(np.asarray(place_idx, dtype=np.int64))
        codes = sorted({str(c) for c in places.ssyk_code[place]})
        return cls(
            occupation_groups=tuple(sorted({c[:1] for c in codes})),
            occupations=tuple(codes),
            districts=tuple(sorted({pool.district_ids[d] for d in places.district[place]})),
            suppliers=tuple(sorted({places.supplier_ids[s] for s in places.supplier[place]})),
        )


def _indicators(values: npt.NDArray[np.object_], levels: Sequence[str]) -> FloatArray:
    """(E, len(levels)) 0/1 columns: ``values == level`` for each level."""
    col = {v: j for j, v in enumerate(levels)}
    out = np.zeros((len(values), len(levels)), dtype=np.float64)
    hit = np.fromiter((col.get(str(v), -1) for v in values), dtype=np.int64, count=len(values))
    rows = np.flatnonzero(hit >= 0)
    out[rows, hit[rows]] = 1.0
    return out


def outcome_features(
    pool: CandidatePool,
    places: PlaceTable,
    cand_idx: npt.ArrayLike,
    place_idx: npt.ArrayLike,
    policy: Policy,
    spec: FeatureSpec,
) -> FloatArray:
    """The (E, F) feature matrix of (candidate, place) pairs, columns named by ``spec.names``.

    Parameters
    ----------
    pool, places
        From :func:`scoring.pool.build_pool`.
    cand_idx, place_idx
        (E,) positions of the pairs.
    policy
        For the score terms' numbers (the time-registered cap, the ladder's supervisor steps).
    spec
        The categories (from the training pairs, :meth:`FeatureSpec.from_pairs`).
    """
    cand = np.asarray(cand_idx, dtype=np.int64)
    place = np.asarray(place_idx, dtype=np.int64)
    terms = hand_terms(pool, places, cand, place, policy)
    months = np.maximum(pool.months_registered[cand].astype(np.float64), 0.0)
    codes = places.ssyk_code[place]
    groups = np.array([str(c)[:1] for c in codes], dtype=object)
    group_cols = _indicators(groups, spec.occupation_groups)
    columns = [
        np.column_stack([terms[t] for t in SCORE_TERMS_USED]),
        np.column_stack([
            pool.ladder_step[cand].astype(np.float64), np.log1p(months / 12.0),
            places.duration_months[place].astype(np.float64), places.hours[place].astype(np.float64),
            places.supervisor[place].astype(np.float64),
        ]),
        _indicators(np.array([_TYPE_OF_BIT[int(b)] for b in places.placement_type[place]], dtype=object),
                    spec.placement_types),
        group_cols,
        group_cols * terms["competence"][:, None],
        _indicators(codes, spec.occupations),
        _indicators(np.array([pool.district_ids[d] for d in places.district[place]], dtype=object),
                    spec.districts),
        _indicators(np.array([places.supplier_ids[s] for s in places.supplier[place]], dtype=object),
                    spec.suppliers),
    ]
    return np.ascontiguousarray(np.hstack(columns))


def pair_groups(
    pool: CandidatePool, places: PlaceTable, cand_idx: npt.ArrayLike, place_idx: npt.ArrayLike,
    policy: Policy,
) -> dict[str, npt.NDArray[np.bool_]]:
    """Each enabled priority group's membership of each pair: the candidate-level groups on the
    pool's reference date, and gender-norm breaking per pair (DOMAIN.md). For evaluation only:
    never a feature."""
    cand = np.asarray(cand_idx, dtype=np.int64)
    place = np.asarray(place_idx, dtype=np.int64)
    out = {g.value: np.asarray(mask[cand], dtype=bool) for g, mask in pool.groups.items()}
    if PriorityGroup.GENDER_NORM_BREAKER in policy.groups.enabled:
        out[PriorityGroup.GENDER_NORM_BREAKER.value] = norm_breaker_pairs(pool, places, cand, place)
    return {g.value: out[g.value] for g in policy.groups.enabled if g.value in out}


# ---------------------------------------------------------------------------------------------
# Time split
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """The outcomes of one part of the split: how many, and the placements' first and last start."""

    outcomes: int
    started_from: dt.date | None
    started_to: dt.date | None


@dataclass(frozen=True)
class TimeSplit:
    """Row positions of the outcomes in each part, earliest start first."""

    train: npt.NDArray[np.int64]
    calibration: npt.NDArray[np.int64]
    evaluation: npt.NDArray[np.int64]

    def window(self, outcomes: pl.DataFrame, part: Literal["train", "calibration", "evaluation"]) -> Window:
        rows = getattr(self, part)
        if rows.size == 0:
            return Window(0, None, None)
        days = outcomes["started_on"].gather(rows)
        return Window(int(rows.size), days.min(), days.max())  # type: ignore[arg-type]


def time_split(outcomes: pl.DataFrame, params: OutcomeModelParams) -> TimeSplit:
    """Split the outcomes by the placement's start: train on the earlier, calibrate on the next,
    evaluate on the latest (``params.calibration_share``, ``params.evaluation_share``).

    Outcomes that start on the same day stay in one part, so that no part learns from a day it is
    judged on; ties in order are broken by ``placement_id``.

    Examples
    --------
    >>> frame = pl.DataFrame({"placement_id": list("abcdefghij"),
    ...                       "started_on": [dt.date(2026, 1, d) for d in range(1, 11)]})
    >>> split = time_split(frame, OutcomeModelParams())
    >>> split.train.tolist(), split.calibration.tolist(), split.evaluation.tolist()
    ([0, 1, 2, 3, 4, 5], [6, 7], [8, 9])
    """
    order = np.lexsort((outcomes["placement_id"].to_numpy(), outcomes["started_on"].to_physical().to_numpy()))
    days = outcomes["started_on"].to_physical().to_numpy()[order]
    n = len(order)

    def cut(share_before: float) -> int:
        # The first position of the day on which the cut falls: a day is never split.
        at = min(n, max(0, math.ceil(n * share_before - 1e-9)))
        if at == n:
            return n
        return int(np.searchsorted(days, days[at], side="left"))

    a = cut(1 - params.calibration_share - params.evaluation_share)
    b = cut(1 - params.evaluation_share)
    return TimeSplit(order[:a].astype(np.int64), order[a:b].astype(np.int64), order[b:].astype(np.int64))


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------


def expected_calibration_error(y_true: npt.ArrayLike, y_prob: npt.ArrayLike, *, num_bins: int = 10) -> float:
    """Expected calibration error: ``Σ_b (n_b / n) · |mean(y in b) − mean(p in b)|`` over
    ``num_bins`` equal-width bins of the predicted probability.

    A probability on a bin's edge goes to the lower bin (bin ``b`` holds ``(b/B, (b+1)/B]``, the
    first bin also 0), the convention of :func:`sklearn.calibration.calibration_curve`.

    Examples
    --------
    >>> expected_calibration_error([0, 1, 1, 1], [0.1, 0.9, 0.9, 0.7], num_bins=10)
    0.15
    """
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_prob, dtype=np.float64)
    if y.size == 0:
        return math.nan
    edges = np.linspace(0.0, 1.0, num_bins + 1)
    bins = np.searchsorted(edges[1:-1], p, side="left")
    count = np.bincount(bins, minlength=num_bins).astype(np.float64)
    gap = np.abs(np.bincount(bins, weights=y, minlength=num_bins) - np.bincount(bins, weights=p,
                                                                                minlength=num_bins))
    return round(float(gap.sum() / y.size), 12) if count.sum() else math.nan


def _auc(y_true: npt.ArrayLike, y_prob: npt.ArrayLike) -> float:
    y = np.asarray(y_true)
    return float(roc_auc_score(y, y_prob)) if np.unique(y).size == 2 else math.nan


@dataclass(frozen=True)
class GroupFigures:
    """Discrimination and calibration of one group's evaluation outcomes (or of all of them).

    ``None`` where a figure is suppressed for researchers, or undefined (AUC of a group whose
    outcomes are all alike).
    """

    group: str
    outcomes: int | None
    in_work_or_studies: int | None
    mean_predicted: float | None
    brier: float | None
    calibration_error: float | None
    auc: float | None
    suppressed: bool = False


@dataclass(frozen=True)
class ModelEvaluation:
    """The model's figures on the evaluation outcomes: all of them first, then each group."""

    rows: tuple[GroupFigures, ...]
    num_bins: int

    @property
    def overall(self) -> GroupFigures:
        return self.rows[0]

    def group(self, name: str) -> GroupFigures:
        for row in self.rows:
            if row.group == name:
                return row
        raise KeyError(name)

    def table(self) -> pl.DataFrame:
        """One row per group: ``group, outcomes, in_work_or_studies, mean_predicted, brier,
        calibration_error, auc, suppressed``."""
        return pl.DataFrame(
            [vars(r) for r in self.rows],
            schema={"group": pl.String, "outcomes": pl.Int64, "in_work_or_studies": pl.Int64,
                    "mean_predicted": pl.Float64, "brier": pl.Float64, "calibration_error": pl.Float64,
                    "auc": pl.Float64, "suppressed": pl.Boolean},
            orient="row",
        )


def _none_if_nan(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def evaluate_predictions(
    y_true: npt.ArrayLike,
    y_prob: npt.ArrayLike,
    groups: Mapping[str, npt.ArrayLike],
    *,
    num_bins: int = 10,
) -> ModelEvaluation:
    """Brier score, expected calibration error and AUC over all outcomes and per group.

    Groups overlap (one person may be young and foreign-born): each group's figures are those of
    the ``True`` side of a fairlearn ``MetricFrame`` split by that group's membership.

    Parameters
    ----------
    y_true
        (n,) 0/1 recorded outcomes.
    y_prob
        (n,) predicted probabilities.
    groups
        Group name → (n,) bool membership.
    num_bins
        Bins of :func:`expected_calibration_error`.
    """
    y = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(y_prob, dtype=np.float64)

    def ece(yt: Any, yp: Any) -> float:
        return expected_calibration_error(yt, yp, num_bins=num_bins)

    def count(yt: Any, yp: Any) -> int:
        return len(yt)

    def positives(yt: Any, yp: Any) -> int:
        return int(np.sum(yt))

    def mean_predicted(yt: Any, yp: Any) -> float:
        return float(np.mean(yp)) if len(yp) else math.nan

    def brier(yt: Any, yp: Any) -> float:
        return float(brier_score_loss(yt, yp)) if len(yt) else math.nan

    metrics = {"outcomes": count, "in_work_or_studies": positives, "mean_predicted": mean_predicted,
               "brier": brier, "calibration_error": ece, "auc": _auc}

    def figures(name: str, values: Mapping[str, Any]) -> GroupFigures:
        return GroupFigures(
            group=name, outcomes=int(values["outcomes"]),
            in_work_or_studies=int(values["in_work_or_studies"]),
            mean_predicted=_none_if_nan(values["mean_predicted"]), brier=_none_if_nan(values["brier"]),
            calibration_error=_none_if_nan(values["calibration_error"]), auc=_none_if_nan(values["auc"]),
        )

    everyone = MetricFrame(metrics=metrics, y_true=y, y_pred=p,
                           sensitive_features=np.zeros(len(y), dtype=bool))
    rows = [figures(ALL_OUTCOMES, everyone.overall.to_dict())]
    for name, member in groups.items():
        mask = np.asarray(member, dtype=bool)
        if not mask.any():
            rows.append(GroupFigures(name, 0, 0, None, None, None, None))
            continue
        frame = MetricFrame(metrics=metrics, y_true=y, y_pred=p, sensitive_features=mask)
        rows.append(figures(name, frame.by_group.loc[True].to_dict()))
    return ModelEvaluation(tuple(rows), num_bins)


def researcher_evaluation(
    evaluation: ModelEvaluation,
    y_true: npt.ArrayLike,
    groups: Mapping[str, npt.ArrayLike],
    min_cell_size: int,
) -> ModelEvaluation:
    """The evaluation as researchers may see it: aggregates only, small cells suppressed.

    The published counts (outcomes and people in work or studies, overall and per group) go through
    :func:`scoring.metrics.protect` as one population of the evaluation's people; a group any of
    whose counts is suppressed has all its figures withheld (a Brier score or a calibration error of
    three people says something about each of them).
    """
    y = np.asarray(y_true, dtype=bool)
    names = list(groups)
    frame = pl.DataFrame({"in_work": y, **{g: np.asarray(groups[g], dtype=bool) for g in names}})
    domains: dict[str, list[object]] = {"in_work": [False, True], **{g: [False, True] for g in names}}
    cells = [CellSpec("outcomes", (ALL_OUTCOMES,), {}),
             CellSpec("in_work", (ALL_OUTCOMES,), {"in_work": frozenset({True})})]
    for g in names:
        cells.append(CellSpec("outcomes", (g,), {g: frozenset({True})}))
        cells.append(CellSpec("in_work", (g,), {g: frozenset({True}), "in_work": frozenset({True})}))
    protected = protect(Population(frame, domains), cells, min_cell_size)
    rows = []
    for row in evaluation.rows:
        hidden = (protected.is_suppressed("outcomes", (row.group,))
                  or protected.is_suppressed("in_work", (row.group,)))
        rows.append(GroupFigures(row.group, None, None, None, None, None, None, suppressed=True)
                    if hidden else row)
    return replace(evaluation, rows=tuple(rows))


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class OutcomeModel:
    """A fitted, calibrated outcome model with what it was trained on and how it did.

    ``version`` is a digest of the training outcomes and the parameters: the same data and
    parameters give the same version. ``estimator`` maps :func:`outcome_features` to calibrated
    probabilities (``predict_proba``).
    """

    kind: str
    version: str
    features: tuple[str, ...]
    spec: FeatureSpec
    estimator: ClassifierMixin
    params: OutcomeModelParams
    policy_id: str
    region: str
    reference_date: dt.date
    train: Window
    calibration: Window
    evaluation: Window
    figures: ModelEvaluation
    coefficients: dict[str, float] = field(default_factory=dict)
    """The logistic regression's coefficients on standardised features (empty for trees)."""

    def predict(
        self, pool: CandidatePool, places: PlaceTable, cand_idx: npt.ArrayLike, place_idx: npt.ArrayLike,
        policy: Policy,
    ) -> FloatArray:
        """(E,) calibrated P(in work or studies at 180 days) of each pair."""
        if np.size(cand_idx) == 0:
            return np.zeros(0, dtype=np.float64)
        x = outcome_features(pool, places, cand_idx, place_idx, policy, self.spec)
        return np.asarray(self.estimator.predict_proba(x)[:, 1], dtype=np.float64)


def _base_estimator(params: OutcomeModelParams) -> Pipeline | HistGradientBoostingClassifier:
    if params.model == "gbt":
        return HistGradientBoostingClassifier(
            max_iter=params.gbt_max_iter, learning_rate=params.gbt_learning_rate,
            max_leaf_nodes=params.gbt_max_leaf_nodes, l2_regularization=params.gbt_l2_regularization,
            early_stopping=False, random_state=params.seed,
        )
    return make_pipeline(
        StandardScaler(),
        LogisticRegression(C=params.c, l1_ratio=params.l1_ratio, solver="saga", max_iter=params.max_iter,
                           random_state=params.seed),
    )


def _version(outcomes: pl.DataFrame, params: OutcomeModelParams, policy: Policy, region: str) -> str:
    digest = hashlib.sha256()
    digest.update(repr((params, policy.id, region)).encode())
    for row in outcomes.sort("placement_id").iter_rows():
        digest.update(repr(row).encode())
    return f"om-{params.model}-{digest.hexdigest()[:12]}"


def fit_outcome_model(
    pool: CandidatePool,
    places: PlaceTable,
    outcomes: pl.DataFrame,
    policy: Policy,
    *,
    region: str,
    params: OutcomeModelParams = OutcomeModelParams(),
) -> tuple[OutcomeModel, dict[str, Any]]:
    """Fit, calibrate and evaluate the outcome model on recorded person outcomes.

    Parameters
    ----------
    pool, places
        ``build_pool(region, policy)`` of the region the outcomes belong to.
    outcomes
        Recorded person outcomes (:data:`PERSON_OUTCOME_SCHEMA`); every candidate and place must be
        in the pool.
    policy
        The policy the pool was built with: the score terms' numbers and the groups evaluated.
    region
        The region's name, kept with the model.
    params
        How to fit (:class:`OutcomeModelParams`).

    Returns
    -------
    model : OutcomeModel
    evaluation_data : dict
        ``y`` (recorded outcomes), ``p`` (predictions), ``groups`` (membership masks),
        ``candidate_ids`` and ``place_ids`` of the evaluation outcomes, for reports that go further
        (a researcher's suppressed view; a comparison with a simulated truth).

    Raises
    ------
    ScoringError
        Bad parameters, missing columns, unknown ids, or too few outcomes of each kind in a part.
    """
    problems = params.problems()
    missing = [c for c in PERSON_OUTCOME_SCHEMA if c not in outcomes.columns]
    if missing:
        problems.append(f"the outcomes lack the column(s) {', '.join(missing)}")
    if problems:
        raise ScoringError("outcome model: " + "; ".join(problems))
    outcomes = outcomes.select(list(PERSON_OUTCOME_SCHEMA)).filter(pl.col("in_work_or_studies").is_not_null())
    unknown = sorted(set(outcomes["candidate_id"].to_list()) - set(pool.index))[:5] + sorted(
        set(outcomes["place_id"].to_list()) - set(places.index))[:5]
    if unknown:
        raise ScoringError(f"outcome model: the outcomes name ids not in the region: {', '.join(unknown)}")
    split = time_split(outcomes, params)
    y_all = outcomes["in_work_or_studies"].to_numpy().astype(np.int64)
    for part in ("train", "calibration", "evaluation"):
        ys = y_all[getattr(split, part)]
        if ys.size < 10 or ys.min() == ys.max():
            problems.append(f"the {part} part has {ys.size} outcome(s), not both kinds among at least 10")
    if problems:
        raise ScoringError(f"outcome model: too few outcomes to learn from ({outcomes.height}): "
                           + "; ".join(problems))
    cand = pool.positions(outcomes["candidate_id"].to_list())
    place = np.fromiter((places.index[p] for p in outcomes["place_id"].to_list()), dtype=np.int64,
                        count=outcomes.height)
    spec = FeatureSpec.from_pairs(pool, places, place[split.train])
    x = outcome_features(pool, places, cand, place, policy, spec)
    base = _base_estimator(params)
    calibrated = CalibratedClassifierCV(FrozenEstimator(base), method="sigmoid")
    ev = split.evaluation
    with threadpool_limits(params.threads):
        base.fit(x[split.train], y_all[split.train])
        calibrated.fit(x[split.calibration], y_all[split.calibration])
        p = calibrated.predict_proba(x[ev])[:, 1]
    groups = {g: m[ev] for g, m in pair_groups(pool, places, cand, place, policy).items()}
    figures = evaluate_predictions(y_all[ev], p, groups, num_bins=params.num_bins)
    coefficients: dict[str, float] = {}
    if params.model == "logistic":
        logistic = base.named_steps["logisticregression"]
        coefficients = {"intercept": float(logistic.intercept_[0]),
                        **{n: float(c) for n, c in zip(spec.names, logistic.coef_[0], strict=True)}}
    model = OutcomeModel(
        kind=params.model, version=_version(outcomes, params, policy, region), features=spec.names, spec=spec,
        estimator=calibrated, params=params, policy_id=policy.id, region=region,
        reference_date=pool.reference_date, train=split.window(outcomes, "train"),
        calibration=split.window(outcomes, "calibration"), evaluation=split.window(outcomes, "evaluation"),
        figures=figures, coefficients=coefficients,
    )
    data = {"y": y_all[ev], "p": p, "groups": groups,
            "candidate_ids": outcomes["candidate_id"].gather(ev).to_list(),
            "place_ids": outcomes["place_id"].gather(ev).to_list()}
    return model, data


# ---------------------------------------------------------------------------------------------
# Whether the policy allows it
# ---------------------------------------------------------------------------------------------


def usability_problems(figures: ModelEvaluation, policy: Policy) -> list[str]:
    """Why the policy refuses a model with these figures (empty: it may be used).

    Every enabled priority group, and all outcomes together, must have at least
    ``policy.outcome_model.min_group_outcomes`` evaluation outcomes and a calibration error at or
    below ``policy.outcome_model.max_group_calibration_error``.
    """
    rules = policy.outcome_model
    out = []
    names = [ALL_OUTCOMES, *(g.value for g in policy.groups.enabled)]
    known = {r.group: r for r in figures.rows}
    for name in names:
        row = known.get(name)
        if row is None or row.outcomes is None:
            out.append(f"{name}: no figures to judge its calibration by")
            continue
        if row.outcomes < rules.min_group_outcomes:
            out.append(f"{name}: {row.outcomes} evaluation outcome(s), fewer than the "
                       f"{rules.min_group_outcomes} the policy needs to judge calibration")
        elif row.calibration_error is None or row.calibration_error > rules.max_group_calibration_error:
            shown = "undefined" if row.calibration_error is None else f"{row.calibration_error:.3f}"
            out.append(f"{name}: calibration error {shown} is above the policy's "
                       f"{rules.max_group_calibration_error:.3f}")
    return out


def require_usable(model: OutcomeModel, policy: Policy) -> OutcomeModel:
    """The model, if ``policy`` allows it; else :class:`~scoring.exceptions.OutcomeModelRefusedError`
    naming every group that fails.

    The check reads the policy in force, not the one the model was trained with: a stricter policy
    refuses a model stored earlier.
    """
    problems = usability_problems(model.figures, policy)
    if problems:
        raise OutcomeModelRefusedError(model.version, policy.id, problems)
    return model
