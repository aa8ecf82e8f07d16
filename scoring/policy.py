"""Municipal policies, as data.

Each municipality's rules live in one TOML file: which procurements qualify for an employment
requirement, which priority groups count and how, distribution keys and their tolerance, group
floors, eligibility numbers, score weights, follow-up parameters. The files shipped with Platsa are
in ``scoring/policies/``; a user adds a municipality by writing a new file and passing its path
(or putting it in a directory named by ``PLATSA_POLICY_DIR``, which the service reads) — no code
changes. ``docs/policies.md`` documents every field.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from scoring.domain import PriorityGroup, ProcurementType, contract_months
from scoring.exceptions import PolicyError, Problem

Share = Annotated[float, Field(ge=0.0, le=1.0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QualifyingRule(_Strict):
    """Which procurements qualify for an employment requirement (DOMAIN.md, "Which procurements qualify")."""

    procurement_types: tuple[ProcurementType, ...]
    min_contract_months: float = Field(ge=0)
    #: True: the period must be *longer than* ``min_contract_months`` (Gothenburg); False: at least.
    contract_months_strict: bool = False
    #: The assignment needs at least this many employees (Gothenburg: more than one, so 2).
    min_staff_needed: int = Field(default=0, ge=0)
    #: Execution within the municipality's borders (Östersund).
    require_local_execution: bool = False
    #: Lower value limit (Östersund alternative 2: 1 MSEK).
    min_value_sek: int = Field(default=0, ge=0)


class GroupRules(_Strict):
    """Which priority groups the policy counts, and how."""

    enabled: tuple[PriorityGroup, ...]
    youth_max_age: int = Field(default=25, ge=15, le=35)
    #: Under-represented gender: below this share in the occupation (DOMAIN.md: 40 %).
    gender_norm_threshold: Share = 0.40


class FarFromLabourMarket(_Strict):
    """Registration-time thresholds (seed 001): > 6 months if aged up to 25, > 12 months if 26+."""

    young_max_age: int = 25
    young_min_months: int = Field(default=6, ge=0)
    older_min_months: int = Field(default=12, ge=0)


class Distribution(_Strict):
    """Geographic distribution keys (*geografiska fördelningsnycklar*, seed 000).

    ``keys`` maps district id to its share of a round's assigned places, counted by the candidate's
    home district; the shares sum to 1. Each district's count must lie within
    ``share ± tolerance`` of the round's total (see :meth:`bounds`).
    """

    tolerance: Share = 0.05
    keys: dict[str, Share]

    @model_validator(mode="after")
    def _keys_sum_to_one(self) -> Distribution:
        total = sum(self.keys.values())
        if self.keys and not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(f"distribution keys must sum to 1, they sum to {total:.6f}")
        return self

    def bounds(self, total: int) -> dict[str, tuple[int, int]]:
        """Absolute lower and upper counts per district for a round that assigns ``total``.

        The lower bound rounds down and the upper bound rounds up, so that a whole-number
        assignment can always meet them when there are candidates enough.

        Examples
        --------
        >>> Distribution(tolerance=0.05, keys={"a": 0.6, "b": 0.4}).bounds(10)
        {'a': (5, 7), 'b': (3, 5)}
        """
        out: dict[str, tuple[int, int]] = {}
        for district, share in self.keys.items():
            lo = max(0, math.floor((share - self.tolerance) * total + 1e-9))
            hi = min(total, math.ceil((share + self.tolerance) * total - 1e-9))
            out[district] = (lo, hi)
        return out


class Eligibility(_Strict):
    """Numbers behind the hard rules of a candidate–place pair."""

    #: A quality placement should preferably last at least 3 months (seed 001).
    min_duration_months: float = Field(default=3, ge=0)
    apply_min_duration: bool = True
    #: How many work-ladder steps below a place's lowest step a supervisor bridges.
    steps_below_with_supervisor: int = Field(default=1, ge=0, le=3)
    #: The candidate must be available this many days after the place starts at the latest.
    availability_grace_days: int = Field(default=0, ge=0)
    #: A candidate declined by a supplier is held back from that supplier's places this long.
    hold_back_days_after_decline: int = Field(default=90, ge=0)


class Capacity(_Strict):
    """When a place is open for matching and what holds its slots (DOMAIN.md, "A region is alive").

    A place is open from ``open_days_before_start`` days before its start date until the last day
    of its period, and only while a slot is free. Its free slots are its ``slots`` less its ongoing
    placements, its hires and, where ``open_proposals_hold_slots``, its open proposals.
    """

    #: Days before a place's start date from which candidates may be matched and proposed to it.
    open_days_before_start: int = Field(default=90, ge=0, le=3650)
    #: Whether an open proposal (open, viewed, interview) holds one of the place's slots.
    open_proposals_hold_slots: bool = True


#: How a competence the place *requires* counts: a hard rule (a candidate without it is not
#: eligible) or a score term only.
CompetenceRule = Literal["hard", "score"]


class Competences(_Strict):
    """Whether a place's required competences are a hard rule or a score term, per competence kind.

    The kind is the vocabulary's ``category`` of the concept (``licence``, ``certificate``,
    ``trade``, ``care``, ``language``, ...; ``scoring/data/competences.toml``); a label the vocabulary
    does not know has no kind and follows ``required``. A place may mark a required competence as
    learnt on the job (``competences_learnable``): it is then a score term at that place whatever
    its kind (DOMAIN.md, "Required competences").
    """

    required: CompetenceRule = "hard"
    by_kind: dict[str, CompetenceRule] = {}


class ScoreWeights(_Strict):
    """Weights of the named score terms (each term is in 0..1 before weighting)."""

    competence: float = Field(default=40, ge=0)
    distance: float = Field(default=15, ge=0)
    ladder: float = Field(default=10, ge=0)
    time_far: float = Field(default=10, ge=0)
    priority_group: float = Field(default=10, ge=0)
    gender_norm: float = Field(default=5, ge=0)
    wishes: float = Field(default=10, ge=0)


class FollowUp(_Strict):
    """Follow-up and socio-economic parameters (seed 001, Payoff's evaluation)."""

    #: Places requisitioned per year at least this many per company with a requirement (seed 001: half).
    yearly_places_per_company: float = Field(default=0.5, ge=0)
    #: Gain to the municipality per person-year, moving from social assistance to work.
    social_assistance_to_work_sek: int = Field(default=175_000, ge=0)
    #: Gain per person-year, moving from activity support to the same work.
    activity_support_to_work_sek: int = Field(default=43_000, ge=0)
    #: The monthly wage those figures assume.
    assumed_monthly_wage_sek: int = Field(default=22_500, ge=0)
    #: Aggregates for researchers suppress cells with fewer people than this.
    min_cell_size: int = Field(default=5, ge=1)
    #: A requirement is judged every this many months of its contract (and at its end); before the
    #: first checkpoint it is "not due yet" (docs/follow-up.md, "Requirement status").
    checkpoint_months: int = Field(default=12, ge=1, le=120)
    #: Share of the gross socio-economic gain deducted for displacement (undanträngning, seed 004):
    #: jobs the placed take from others. Default 0.65: Dahlberg & Forslund's estimate of direct
    #: displacement from subsidised work in Swedish municipalities, about 65 % (IFAU working paper
    #: 1999; Scandinavian Journal of Economics 2005). Sources in docs/follow-up.md.
    displacement_share: float = Field(default=0.65, ge=0, le=1)


#: One step of generalising the supplier's view of a candidate (``docs/data-protection.md``):
#: ``field:how``. Steps of one field go from fine to coarse; ``withhold`` removes the field.
GeneraliseStep = Literal[
    "available_from:month", "available_from:quarter", "available_from:withhold",
    "wished_hours:10h", "wished_hours:withhold",
    "competences:category", "competences:withhold",
    "support_at_work:any", "support_at_work:withhold",
    "wished_placement_types:withhold",
    "work_ladder:withhold",
]
_STEP_ORDER: dict[str, tuple[str, ...]] = {
    "available_from": ("month", "quarter", "withhold"), "wished_hours": ("10h", "withhold"),
    "competences": ("category", "withhold"), "support_at_work": ("any", "withhold"),
    "wished_placement_types": ("withhold",), "work_ladder": ("withhold",),
}

#: Support needs that only people of one protected group have (an interpreter, Swedish-language
#: support: 83 of 83 holders foreign-born in the demo, issue 14), shown to suppliers in one word.
DEFAULT_COARSEN_SUPPORT: dict[str, str] = {
    "tolk": "stöd i arbetet",
    "stöd med svenska språket": "stöd i arbetet",
    "hörselslinga": "stöd i arbetet",
}
#: Competence concepts that reveal birth abroad (mother tongues, Swedish for immigrants): withheld
#: (an empty word). Swedish and English stay: most people have them.
DEFAULT_COARSEN_COMPETENCES: dict[str, str] = {
    code: "" for code in ("lang-sfi", "lang-ar", "lang-so", "lang-ti", "lang-fa", "lang-prs", "lang-ku",
                          "lang-syc", "lang-tr", "lang-pl", "lang-bcs", "lang-fi")
}
DEFAULT_GENERALISE: tuple[GeneraliseStep, ...] = (
    "available_from:month", "wished_hours:10h", "competences:category", "available_from:quarter",
    "wished_placement_types:withhold", "wished_hours:withhold", "available_from:withhold",
    "support_at_work:any", "competences:withhold", "support_at_work:withhold", "work_ladder:withhold",
)


class Privacy(_Strict):
    """What a supplier may learn of a proposed candidate (issue 14; ``docs/data-protection.md``).

    The supplier's profile of a candidate is first *coarsened* (values that reveal a protected
    group are replaced by a coarse word or withheld), then *generalised* step by step, in the order
    of ``generalise``, until each profile shown is shared by at least ``k`` candidates of the region.
    """

    #: Every profile a supplier sees is shared by at least this many of the region's candidates.
    k: int = Field(default=5, ge=1, le=1000)
    #: A value a supplier sees may not reveal a protected group (foreign birth, disability, an age
    #: band, a priority group): the 95 % Wilson lower bound of the group's share among the
    #: candidates shown that value stays at or below this.
    max_group_share: Share = 0.70
    #: The same bound for gender, which the occupations' own segregation puts in the competences a
    #: place asks for (construction, care): measured and bounded separately.
    max_gender_share: Share = 0.85
    #: Support needs shown in a coarser word ("" withholds the need).
    coarsen_support: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_COARSEN_SUPPORT))
    #: Competence concepts (codes of ``scoring/data/competences.toml``) shown as a coarser word, or
    #: withheld ("").
    coarsen_competences: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_COARSEN_COMPETENCES))
    #: The generalisation steps, in the order they are applied to profiles shared by fewer than k.
    generalise: tuple[GeneraliseStep, ...] = DEFAULT_GENERALISE

    @model_validator(mode="after")
    def _steps_in_order(self) -> Privacy:
        seen: dict[str, int] = {}
        problems: list[str] = []
        for step in self.generalise:
            name, how = step.split(":")
            rank = _STEP_ORDER[name].index(how)
            if seen.get(name, -1) >= rank:
                problems.append(f"{step!r} comes after a coarser or equal step of {name!r}")
            seen[name] = rank
        if problems:
            raise ValueError("; ".join(problems))
        return self


class Retention(_Strict):
    """How long each kind of record is kept (``docs/data-protection.md``, "Retention").

    Applied by the service's scheduled job and by ``platsa retention`` (:mod:`service.retention`);
    0 keeps for ever.
    """

    #: Closed proposals (declined, withdrawn) and their history, months after they closed.
    closed_proposals_months: int = Field(default=24, ge=0, le=1200)
    #: Audit entries, years after they were written.
    audit_years: int = Field(default=5, ge=0, le=100)
    #: Webhook deliveries (and their attempt logs), days after they finished.
    delivery_days: int = Field(default=90, ge=0, le=36500)
    # Stored answers of idempotent requests are kept PLATSA_IDEMPOTENCY_TTL_HOURS (the replay window
    # the API documents, one setting of the service), not here.


class OutcomeModelRules(_Strict):
    """When a learnt outcome model may be used (issue 18; ``docs/policies.md``, "outcome_model").

    A model of P(in work or studies 180 days after a placement) is refused where any priority group's
    expected calibration error on the time-split evaluation outcomes is above
    ``max_group_calibration_error``, or where a group has fewer than ``min_group_outcomes``
    evaluation outcomes (its calibration cannot be judged): the model's probabilities are then not
    the same promise for every group.
    """

    #: The largest expected calibration error (10 equal-width bins) allowed for any priority group
    #: and for all outcomes together. 0.10: a predicted 40 % means 30-50 % in work, group by group.
    max_group_calibration_error: Share = 0.10
    #: A group with fewer evaluation outcomes than this cannot be judged, and the model is refused.
    #: 200: a *perfectly* calibrated model's 10-bin error is itself 0.105 on 50 outcomes, 0.076 on
    #: 100 (one in ten above 0.113), 0.053 on 200 (one in ten above 0.081), 0.039 on 400 (simulated
    #: with predictions spread as the fitted models', ``docs/research.md``): on fewer, the limit
    #: would judge the noise of the sample rather than the model.
    min_group_outcomes: int = Field(default=200, ge=1)
    #: The score's ``outcome`` term's weight: points for a predicted probability of 1 of being in
    #: work or studies 180 days after the placement (``docs/scoring.md``, "outcome"). 0 (default):
    #: the model is not used, and the score is the hand-weighted terms' alone.
    weight: float = Field(default=0.0, ge=0)
    #: The stored model the ``outcome`` term uses: its version (``platsa model train`` prints it,
    #: e.g. ``om-logistic-3f2a9c1d0b7e``), looked up among the models the service or command knows
    #: (``docs/policies.md``, "outcome_model"). A name, never a path. Needed when ``weight`` > 0.
    model: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=100)
    #: The loaded model, once :func:`service.outcome_models.bind_outcome_model` has checked it
    #: (never read from a file: a policy names its model, the service resolves the name).
    _predictor: object | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _weight_names_a_model(self) -> OutcomeModelRules:
        if self.weight > 0 and self.model is None:
            raise ValueError("a weight above 0 needs model = the version of a stored outcome model")
        return self

    @property
    def used(self) -> bool:
        """Whether the score has the ``outcome`` term (a weight above 0)."""
        return self.weight > 0

    @property
    def predictor(self) -> object | None:
        """The bound model (:func:`service.outcome_models.bind_outcome_model`), or None."""
        return self._predictor

    def bound_to(self, predictor: object) -> OutcomeModelRules:
        """A copy of these rules with ``predictor`` as the model they name."""
        rules = self.model_copy()
        rules._predictor = predictor
        return rules


class Policy(_Strict):
    """One municipality's policy. Load it with :func:`load_policy`."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str
    municipality: str
    #: The fixture region whose districts the distribution keys name.
    region: str
    description: str = ""
    sources: tuple[str, ...] = ()
    qualifying: QualifyingRule
    groups: GroupRules
    far_from_labour_market: FarFromLabourMarket = FarFromLabourMarket()
    distribution: Distribution
    #: Priority-group floors: minimum share of a round's (or shortlist's) assigned from a group.
    floors: dict[PriorityGroup, Share] = {}
    eligibility: Eligibility = Eligibility()
    capacity: Capacity = Capacity()
    competences: Competences = Competences()
    weights: ScoreWeights = ScoreWeights()
    follow_up: FollowUp = FollowUp()
    privacy: Privacy = Privacy()
    retention: Retention = Retention()
    outcome_model: OutcomeModelRules = OutcomeModelRules()

    @model_validator(mode="after")
    def _floors_name_enabled_groups(self) -> Policy:
        unknown = [g.value for g in self.floors if g not in self.groups.enabled]
        if unknown:
            raise ValueError(f"floors name groups the policy does not enable: {unknown}")
        return self


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def builtin_policy_ids() -> list[str]:
    """Ids of the policies shipped with Platsa."""
    folder = resources.files("scoring") / "policies"
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def policy_ids(search_dirs: Iterable[Path] = ()) -> list[str]:
    """Ids that :func:`load_policy` finds by id: the shipped ones and ``<id>.toml`` in ``search_dirs``.

    Examples
    --------
    >>> policy_ids()
    ['gothenburg', 'ostersund-alt1', 'ostersund-alt2', 'sodertalje']
    """
    ids = set(builtin_policy_ids())
    for folder in search_dirs:
        ids.update(p.stem for p in Path(folder).glob("*.toml"))
    return sorted(ids)


def load_policy(name_or_path: str | Path, *, search_dirs: Iterable[Path] = ()) -> Policy:
    """Load a policy by id (a shipped one, or ``<id>.toml`` in ``search_dirs``) or by file path.

    Raises
    ------
    PolicyError
        The file is missing, is not TOML, or breaks the policy schema; every problem is listed.
    """
    path = _find_policy(name_or_path, search_dirs)
    label = str(name_or_path)
    try:
        text = path.read_text(encoding="utf-8") if isinstance(path, Path) else path.read_text("utf-8")
        data = tomllib.loads(text)
    except FileNotFoundError:
        raise PolicyError([Problem(label, None, None, None, "no such policy file")]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PolicyError([Problem(label, None, None, None, f"not valid TOML: {exc}")]) from None
    return parse_policy(data, source=label)


POLICY_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
"""What a policy id looks like: a file name without a path or suffix (``ostersund-alt1``)."""


def load_named_policy(policy_id: str, *, search_dirs: Iterable[Path] = ()) -> Policy:
    """Load the policy named ``policy_id`` from the closed set :func:`policy_ids` lists; never a path.

    Unlike :func:`load_policy`, which also takes a file path (the CLI's ``--policy``), an id that is
    not one of the listed names is refused before any file is looked at, so that what a caller sends
    (an HTTP path, a region's ``region.toml``) can never name a file of the server's choosing.

    Raises
    ------
    PolicyError
        ``no policy named ...`` for an id outside the set (whatever it looks like); otherwise as
        :func:`load_policy` for a listed policy whose file is invalid.

    Examples
    --------
    >>> load_named_policy("gothenburg").id
    'gothenburg'
    >>> load_named_policy("../pyproject")
    Traceback (most recent call last):
    ...
    scoring.exceptions.PolicyError: ...no policy named '../pyproject'...
    """
    dirs = tuple(search_dirs)
    known = policy_ids(dirs)
    if not POLICY_ID.fullmatch(policy_id) or policy_id not in known:
        shipped = ", ".join(builtin_policy_ids())
        reason = f"no policy named {policy_id!r} (shipped: {shipped})"
        raise PolicyError([Problem(policy_id, None, None, None, reason)])
    path: Path | resources.abc.Traversable = resources.files("scoring") / "policies" / f"{policy_id}.toml"
    for folder in reversed(dirs):
        if (Path(folder) / f"{policy_id}.toml").is_file():
            path = Path(folder) / f"{policy_id}.toml"
    try:
        return parse_policy(tomllib.loads(path.read_text(encoding="utf-8")), source=f"{policy_id}.toml")
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        reason = f"not valid TOML: {exc}" if isinstance(exc, tomllib.TOMLDecodeError) else "cannot be read"
        raise PolicyError([Problem(f"{policy_id}.toml", None, None, None, reason)]) from None
    except PolicyError as exc:
        # The file is the server's: say where and what is wrong, never what it holds.
        raise PolicyError([Problem(p.file, p.row, p.column, None, p.reason) for p in exc.problems]) from None


def parse_policy(data: dict[str, object], *, source: str = "<policy>") -> Policy:
    """Validate a policy given as a mapping (as read from TOML or JSON)."""
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        problems = [
            Problem(
                source,
                None,
                ".".join(str(p) for p in err["loc"]) or None,
                None if err.get("input") is None or isinstance(err["input"], dict) else str(err["input"]),
                err["msg"],
            )
            for err in exc.errors()
        ]
        raise PolicyError(problems) from None


def _find_policy(name_or_path: str | Path, search_dirs: Iterable[Path]) -> Path | resources.abc.Traversable:
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or candidate.exists():
        return candidate
    name = str(name_or_path)
    for folder in search_dirs:
        path = Path(folder) / f"{name}.toml"
        if path.exists():
            return path
    shipped = resources.files("scoring") / "policies" / f"{name}.toml"
    if shipped.is_file():
        return shipped
    known = ", ".join(builtin_policy_ids())
    raise PolicyError([Problem(name, None, None, None, f"no policy named {name!r} (shipped: {known})")])


# ---------------------------------------------------------------------------------------------
# The qualifying verdict
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QualifyingVerdict:
    """Whether a procurement qualifies for an employment requirement under a policy, and why."""

    qualifies: bool
    reasons: tuple[str, ...]
    """Every rule checked, in words, each prefixed ``ok:`` or ``fails:``."""

    def describe(self) -> str:
        head = "qualifies" if self.qualifies else "does not qualify"
        return f"{head}: " + "; ".join(self.reasons)


def procurement_qualifies(
    policy: Policy,
    *,
    procurement_type: ProcurementType | str,
    contract_start: dt.date,
    contract_end: dt.date,
    staff_needed: int,
    value_sek: int,
    executed_locally: bool,
) -> QualifyingVerdict:
    """Decide whether a procurement qualifies for an employment requirement under ``policy``.

    ``contract_end`` is the period's last day (see :func:`scoring.domain.contract_months`).

    Examples
    --------
    >>> import datetime as dt
    >>> v = procurement_qualifies(load_policy("gothenburg"), procurement_type="service",
    ...     contract_start=dt.date(2026, 1, 1), contract_end=dt.date(2026, 4, 30),
    ...     staff_needed=3, value_sek=500_000, executed_locally=True)
    >>> v.qualifies, v.reasons[1]
    (False, 'fails: contract period 4.0 months, must be longer than 4 months')
    """
    rule = policy.qualifying
    reasons: list[str] = []
    ok = True

    def check(passed: bool, text: str) -> None:
        nonlocal ok
        ok = ok and passed
        reasons.append(("ok: " if passed else "fails: ") + text)

    ptype = ProcurementType(procurement_type)
    allowed = ", ".join(t.value for t in rule.procurement_types)
    check(ptype in rule.procurement_types, f"type {ptype.value} (qualifying types: {allowed})")
    months = contract_months(contract_start, contract_end)
    if rule.contract_months_strict:
        check(months > rule.min_contract_months,
              f"contract period {months:.1f} months, must be longer than {rule.min_contract_months:g} months")
    else:
        check(months >= rule.min_contract_months - 1e-9,
              f"contract period {months:.1f} months, must be at least {rule.min_contract_months:g} months")
    if rule.min_staff_needed:
        check(staff_needed >= rule.min_staff_needed,
              f"needs {staff_needed} employee(s), must need at least {rule.min_staff_needed}")
    if rule.require_local_execution:
        check(executed_locally, "executed within the municipality" if executed_locally
              else "executed outside the municipality, must be executed within it")
    if rule.min_value_sek:
        check(value_sek >= rule.min_value_sek,
              f"value {value_sek:,} SEK, must be at least {rule.min_value_sek:,} SEK")
    return QualifyingVerdict(ok, tuple(reasons))

