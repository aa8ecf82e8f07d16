"""The domain's vocabulary and its derived rules.

Every term here means what ``../shared/DOMAIN.md`` says it means; the Swedish term is given once, in
the docstring of the thing it names, and in ``docs/glossary.md``.

The rules are plain functions over numpy arrays (scalars work too), so that the same code answers
for one candidate in a test and for a million in a shortlist query.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from scoring.policy import Policy

ArrayLike = npt.ArrayLike
BoolArray = npt.NDArray[np.bool_]


class WorkLadderStep(IntEnum):
    """A candidate's readiness for work: the work ladder (*arbetstrappan*, DOMAIN.md, seed 001).

    Four steps, from farthest from the labour market to closest. A place states the lowest step it can
    take; those higher on the ladder suit placements first.
    """

    VERY_LARGE_SUPPORT = 1
    LARGE_SUPPORT = 2
    NEEDS_SUPPORT = 3
    SOME_SUPPORT = 4

    def describe(self) -> str:
        """The step in plain words, as a recruiter or a supplier reads it."""
        return _LADDER_WORDS[self]


_LADDER_WORDS = {
    WorkLadderStep.VERY_LARGE_SUPPORT: "needs a great deal of support at work, not yet independent",
    WorkLadderStep.LARGE_SUPPORT: "needs a lot of support at work, somewhat independent",
    WorkLadderStep.NEEDS_SUPPORT: "needs support, does tasks by instruction, fairly independent",
    WorkLadderStep.SOME_SUPPORT: "needs some support, does most tasks independently",
}


#: The work-ladder steps that count as low in the anti-creaming figure: steps 1-2, a very large or
#: large need of support (DOMAIN.md, "Readiness: the work ladder"; seed 001). The one statement of
#: the step set: :func:`scoring.metrics.anti_creaming_share` and the protected follow-up cells use it.
LOW_LADDER_STEPS: tuple[int, ...] = (
    int(WorkLadderStep.VERY_LARGE_SUPPORT), int(WorkLadderStep.LARGE_SUPPORT))


class PlacementType(StrEnum):
    """What a place offers (DOMAIN.md, "Placement types").

    *anställning* (employment), *lärlingsplats* (apprenticeship), *trainee*, *praktik* (internship),
    *sysselsättning* (other occupation).
    """

    EMPLOYMENT = "employment"
    APPRENTICESHIP = "apprenticeship"
    TRAINEE = "trainee"
    INTERNSHIP = "internship"
    OTHER_OCCUPATION = "other_occupation"


class ProcurementType(StrEnum):
    """The kind of public procurement.

    *tjänsteupphandling* (service), *entreprenad* (works contract), *förnyad konkurrensutsättning*
    (renewed competition under a framework), *ramavtal* (framework agreement), *varuupphandling* (goods).
    """

    SERVICE = "service"
    WORKS = "works"
    RENEWED_COMPETITION = "renewed_competition"
    FRAMEWORK_AGREEMENT = "framework_agreement"
    GOODS = "goods"


class RequirementType(StrEnum):
    """The employment requirement a contract carries (*sysselsättningskrav*, seed 001).

    *dialogkrav*: the supplier must hold a dialogue on offering places; *skarpt krav*: a fixed number
    of places, with a penalty (*vite*).
    """

    NONE = "none"
    DIALOGUE = "dialogue"
    HARD = "hard"


class Gender(StrEnum):
    """Legal gender as registered; ``X`` where it is neither or unknown (never a norm breaker)."""

    WOMAN = "F"
    MAN = "M"
    OTHER = "X"


class PriorityGroup(StrEnum):
    """The priority groups (*prioriterade målgrupper*) a policy may enable.

    Groups overlap: one person can count for several. ``GENDER_NORM_BREAKER`` (*normbrytare*) belongs to
    a candidate–place *pair*, not to the candidate alone.
    """

    YOUTH = "youth"
    FOREIGN_BORN = "foreign_born"
    DISABILITY = "disability"
    GENDER_NORM_BREAKER = "gender_norm_breaker"
    FAR_FROM_LABOUR_MARKET = "far_from_labour_market"


#: Groups that are properties of the candidate alone (the others depend on the place too).
CANDIDATE_GROUPS = (
    PriorityGroup.YOUTH,
    PriorityGroup.FOREIGN_BORN,
    PriorityGroup.DISABILITY,
    PriorityGroup.FAR_FROM_LABOUR_MARKET,
)


class IncomeSupport(StrEnum):
    """What the candidate lives on today, for the socio-economic estimate (seed 001).

    *försörjningsstöd* (social assistance), *aktivitetsstöd* (activity support).
    """

    SOCIAL_ASSISTANCE = "social_assistance"
    ACTIVITY_SUPPORT = "activity_support"
    OTHER = "other"


class ProposalStatus(StrEnum):
    """Where a proposal of a candidate to a place stands."""

    OPEN = "open"
    VIEWED = "viewed"
    INTERVIEW = "interview"
    INTERNSHIP = "internship"
    HIRED = "hired"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"


class PlacementEnd(StrEnum):
    """How a placement ended (or that it goes on), for the follow-up."""

    ONGOING = "ongoing"
    COMPLETED = "completed"
    HIRED = "hired"
    ENDED_EARLY = "ended_early"


#: Proposals in these states still hold the candidate (not free for another proposal).
OPEN_PROPOSAL_STATES = frozenset(
    {ProposalStatus.OPEN, ProposalStatus.VIEWED, ProposalStatus.INTERVIEW, ProposalStatus.INTERNSHIP}
)


# ---------------------------------------------------------------------------------------------
# Derived rules
# ---------------------------------------------------------------------------------------------


def age_on(birth_year: ArrayLike, reference_date: dt.date) -> npt.NDArray[np.int64]:
    """Age in whole years reached during the reference date's year.

    Only the birth *year* is kept (data minimisation), so the age is the one the person reaches
    in that calendar year; this is how the employment service counts age groups too.
    """
    return reference_date.year - np.asarray(birth_year, dtype=np.int64)


def months_between(start: ArrayLike, end: dt.date) -> npt.NDArray[np.int64]:
    """Whole calendar months from ``start`` (dates, ``datetime64[D]``) to ``end``.

    A month counts once its day of month is reached: 2026-01-31 → 2026-02-28 is 0 months.
    """
    start_d = np.asarray(start, dtype="datetime64[D]")
    end_d = np.datetime64(end, "D")
    start_m = start_d.astype("datetime64[M]")
    end_m = end_d.astype("datetime64[M]")
    months = (end_m - start_m).astype(np.int64)
    start_day = (start_d - start_m.astype("datetime64[D]")).astype(np.int64)
    end_day = (end_d - end_m.astype("datetime64[D]")).astype(np.int64)
    return np.asarray(months - (end_day < start_day), dtype=np.int64)


def add_months(day: ArrayLike, months: ArrayLike) -> npt.NDArray[np.datetime64]:
    """Dates moved by whole calendar months, clamped to the target month's last day.

    Vectorised over ``day`` (dates, ``datetime64[D]``) and ``months`` (whole numbers).

    Examples
    --------
    >>> add_months(np.datetime64("2026-08-31"), 6)
    np.datetime64('2027-02-28')
    >>> add_months(np.array(["2026-03-01", "2026-01-31"], dtype="datetime64[D]"), [6, 1]).tolist()
    [datetime.date(2026, 9, 1), datetime.date(2026, 2, 28)]
    """
    d = np.asarray(day, dtype="datetime64[D]")
    month_start = d.astype("datetime64[M]")
    day_of_month = (d - month_start.astype("datetime64[D]")).astype(np.int64)
    target = month_start + np.asarray(months, dtype=np.int64).astype("timedelta64[M]")
    last = ((target + np.timedelta64(1, "M")).astype("datetime64[D]") - np.timedelta64(1, "D"))
    first = target.astype("datetime64[D]")
    return np.minimum(first + day_of_month.astype("timedelta64[D]"), last)


def period_last_day(start: ArrayLike, duration_months: ArrayLike) -> npt.NDArray[np.datetime64]:
    """The last day of a period that starts on ``start`` and lasts ``duration_months`` months.

    Whole months are counted on the calendar (6 months from 1 March end on 31 August); a fraction
    of a month is that share of the following calendar month, rounded to whole days. The inverse
    of :func:`contract_months`: a place's period and a contract's length are read the same way.

    Examples
    --------
    >>> period_last_day(np.datetime64("2026-03-01"), 6)
    np.datetime64('2026-08-31')
    >>> period_last_day(np.datetime64("2026-01-15"), 0.5)
    np.datetime64('2026-01-30')
    """
    months = np.asarray(duration_months, dtype=np.float64)
    whole = np.floor(months + 1e-9).astype(np.int64)
    anchor = add_months(start, whole)
    following = add_months(start, whole + 1)
    extra = np.rint((months - whole).clip(0, 1) * (following - anchor).astype(np.float64))
    return anchor + extra.astype(np.int64).astype("timedelta64[D]") - np.timedelta64(1, "D")


def period_last_date(start: dt.date, duration_months: float) -> dt.date:
    """:func:`period_last_day` for one period, as a date.

    Examples
    --------
    >>> period_last_date(dt.date(2026, 3, 1), 6)
    datetime.date(2026, 8, 31)
    """
    last = period_last_day(np.datetime64(start, "D"), duration_months).item()
    assert isinstance(last, dt.date)
    return last


def is_far_from_labour_market(
    age: ArrayLike,
    registered_since: ArrayLike,
    on: ArrayLike | dt.date,
    *,
    young_max_age: int = 25,
    young_min_months: int = 6,
    older_min_months: int = 12,
) -> BoolArray:
    """Whether a person stands far from the labour market (*långt från arbetsmarknaden*).

    DOMAIN.md, seed 001: registered with the public employment service for *more than* 6 months if
    aged up to 25, or *more than* 12 months if aged 26 or older. Measured by calendar date: a person
    registered since 1 March is registered exactly 6 months on 1 September (not more), and more
    than 6 months from 2 September on; months are never truncated to whole ones first.

    Parameters
    ----------
    age
        Age in whole years (as :func:`age_on` counts it).
    registered_since
        Dates (``datetime64[D]`` or ``datetime.date``) registered since.
    on
        The day it is judged on: one date, or one per person.

    Examples
    --------
    >>> import datetime as dt
    >>> since = np.array(["2026-03-01", "2026-02-28", "2025-09-01", "2025-08-31"], dtype="datetime64[D]")
    >>> is_far_from_labour_market([25, 25, 26, 26], since, dt.date(2026, 9, 1)).tolist()
    [False, True, False, True]
    """
    age_a = np.asarray(age)
    since = np.asarray(registered_since, dtype="datetime64[D]")
    day = np.asarray(on, dtype="datetime64[D]")
    threshold = np.where(age_a <= young_max_age, young_min_months, older_min_months)
    return np.asarray(add_months(since, threshold) < day)


def is_gender_norm_breaker(
    gender: ArrayLike, occupation_share_women: ArrayLike, *, threshold: float = 0.40
) -> BoolArray:
    """Whether a candidate of ``gender`` breaks the gender norm in an occupation (*normbrytare*).

    The candidate's gender is the under-represented one in the place's occupation: below
    ``threshold`` (a policy number, 40 % by default) of those working in it (DOMAIN.md). A property of
    the candidate–place *pair*: pass the gender and the share of women of the pair's occupation,
    element by element. Gender ``X`` never counts.

    Examples
    --------
    >>> is_gender_norm_breaker(["F", "M", "F", "X"], [0.10, 0.10, 0.45, 0.10]).tolist()
    [True, False, False, False]
    """
    g = np.asarray(gender).astype(str)
    women = np.asarray(occupation_share_women, dtype=np.float64)
    return np.asarray(
        ((g == Gender.WOMAN.value) & (women < threshold))
        | ((g == Gender.MAN.value) & ((1.0 - women) < threshold))
    )


def priority_groups(
    *,
    age: ArrayLike,
    foreign_born: ArrayLike,
    disability: ArrayLike,
    registered_since: ArrayLike,
    on: ArrayLike | dt.date,
    policy: Policy,
) -> dict[PriorityGroup, BoolArray]:
    """The candidate-level priority groups each person belongs to, as overlapping masks.

    Only the groups the policy enables are returned. Gender-norm breaking depends on the place and is
    computed per pair with :func:`is_gender_norm_breaker`. ``on`` is the day the groups are judged on
    (one date, or one per person): far from the labour market counts the time registered up to it.

    Examples
    --------
    >>> import datetime as dt
    >>> from scoring.policy import load_policy
    >>> since = np.array(["2026-07-01", "2024-03-01"], dtype="datetime64[D]")
    >>> masks = priority_groups(age=[19, 40], foreign_born=[True, False], disability=[False, True],
    ...                         registered_since=since, on=dt.date(2026, 9, 1),
    ...                         policy=load_policy("gothenburg"))
    >>> {g.value: m.tolist() for g, m in masks.items()}
    {'youth': [True, False], 'foreign_born': [True, False], 'disability': [False, True]}
    """
    age_a = np.asarray(age)
    rules = policy.groups
    masks: dict[PriorityGroup, BoolArray] = {}
    for group in rules.enabled:
        if group == PriorityGroup.YOUTH:
            masks[group] = np.asarray(age_a <= rules.youth_max_age)
        elif group == PriorityGroup.FOREIGN_BORN:
            masks[group] = np.asarray(foreign_born, dtype=bool)
        elif group == PriorityGroup.DISABILITY:
            masks[group] = np.asarray(disability, dtype=bool)
        elif group == PriorityGroup.FAR_FROM_LABOUR_MARKET:
            far = policy.far_from_labour_market
            masks[group] = is_far_from_labour_market(
                age_a,
                registered_since,
                on,
                young_max_age=far.young_max_age,
                young_min_months=far.young_min_months,
                older_min_months=far.older_min_months,
            )
    return masks


def ladder_step_eligible(
    candidate_step: ArrayLike,
    place_lowest_step: ArrayLike,
    supervisor_offered: ArrayLike,
    *,
    steps_below_with_supervisor: int = 1,
) -> BoolArray:
    """Whether a candidate's work-ladder step suits a place.

    DOMAIN.md: a place states the lowest step it can take; a step below that is eligible only where
    the place offers a supervisor (*handledare*). How many steps below a supervisor bridges is a
    policy number (one by default).

    Examples
    --------
    >>> ladder_step_eligible([3, 2, 2, 1], [3, 3, 3, 3], [False, False, True, True]).tolist()
    [True, False, True, False]
    """
    cand = np.asarray(candidate_step)
    return np.asarray(cand >= lowest_admitted_step(place_lowest_step, supervisor_offered,
                                                   steps_below_with_supervisor=steps_below_with_supervisor))


def lowest_admitted_step(
    place_lowest_step: ArrayLike,
    supervisor_offered: ArrayLike,
    *,
    steps_below_with_supervisor: int = 1,
) -> npt.NDArray[np.int64]:
    """The lowest work-ladder step a place admits: its own lowest step, less the steps a supervisor
    bridges where it offers one (:func:`ladder_step_eligible` is ``step >= this``).

    Examples
    --------
    >>> lowest_admitted_step([3, 3], [False, True]).tolist()
    [3, 2]
    """
    lowest = np.asarray(place_lowest_step).astype(np.int64)
    sup = np.asarray(supervisor_offered, dtype=bool)
    return np.asarray(lowest - np.where(sup, max(int(steps_below_with_supervisor), 0), 0))


@functools.lru_cache(maxsize=65_536)
def contract_months(start: dt.date, end: dt.date) -> float:
    """A contract period's length in calendar months, counting ``end`` as its last day.

    Whole months are counted on the calendar (1 January to 30 April is exactly 4 months); the
    remainder is the share of the following month. This is how a procurer reads "4 months".

    Examples
    --------
    >>> contract_months(dt.date(2026, 1, 1), dt.date(2026, 4, 30))
    4.0
    >>> round(contract_months(dt.date(2026, 1, 15), dt.date(2026, 5, 29)), 3)
    4.484
    """
    stop = end + dt.timedelta(days=1)  # the first day after the period
    months = (stop.year - start.year) * 12 + (stop.month - start.month)
    if _add_months(start, months) > stop:
        months -= 1
    anchor = _add_months(start, months)
    following = _add_months(start, months + 1)
    return months + (stop - anchor).days / (following - anchor).days


def _add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by whole calendar months, clamped to the month's last day (:func:`add_months`,
    for one day in plain Python: a NumPy call per day cost most of a year's follow-up)."""
    years, month0 = divmod(day.month - 1 + int(months), 12)
    year, month = day.year + years, month0 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
