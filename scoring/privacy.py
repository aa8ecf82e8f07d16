"""What a supplier may learn of a proposed candidate: a profile that neither reveals a protected
group nor singles the person out (issue 14, defect 9; ``docs/data-protection.md``).

A supplier sees, of each proposed person, only the fields of :data:`PROFILE_FIELDS` (an
allowlist). Two things can still go wrong with those, and this module prevents both:

**Proxy attributes.** A value held only by people of one protected group tells the supplier the
group: "tolk" (an interpreter) was held by foreign-born candidates only (83 of 83 in the demo), as
are mother tongues and SFI (Swedish for immigrants) among the competences. :func:`coarsen` replaces
such values by the coarse word the policy names (``[privacy] coarsen_support``,
``coarsen_competences``; an empty word withholds the value). Competence labels the vocabulary does
not know are never shown: free text may say anything.

**Linkability.** 999 of 1,004 supplier-visible profiles were unique, so two suppliers could tell
that their proposals were one person. :func:`generalise` makes the profiles *k-anonymous over the
region*: every candidate's profile, as shown, is shared by at least ``k`` of the region's
candidates. Profiles start coarsened; a profile shared by fewer than ``k`` candidates is
generalised by the policy's steps in order (``[privacy] generalise``: availability to the month,
hours rounded down to 10, competences to their categories, ..., finally a field withheld), and
the classes are counted again among those still short (local recoding: a candidate whose profile
is common keeps its detail). What is left short after the last step joins the most generalised
class, with the smallest classes before it, until that class too has ``k`` members.

:func:`group_shares` and :func:`smallest_class` measure the result (the privacy test and
``docs/data-protection.md`` quote them).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import polars as pl

from scoring.competence import UNKNOWN_PREFIX, CompetenceNormaliser
from scoring.policy import Privacy
from scoring.taxonomy import load_competences

__all__ = [
    "CATEGORY_WORDS",
    "PROFILE_FIELDS",
    "WITHHELD",
    "WITHHELD_FROM_SUPPLIERS",
    "GroupShare",
    "Profile",
    "coarsen",
    "generalise",
    "group_shares",
    "profile_values",
    "protected_groups",
    "smallest_class",
    "wilson_lower",
]

#: The candidate columns a supplier's profile is made of, and nothing else (the allowlist).
PROFILE_FIELDS: tuple[str, ...] = ("competences", "work_ladder_step", "support_needs", "available_from",
                                   "wished_hours", "wished_placement_types")

#: Every other candidate column, and why a supplier never sees it: a new column of the candidates
#: table is in neither list until someone decides, and a test fails until then.
WITHHELD_FROM_SUPPLIERS: dict[str, str] = {
    "candidate_id": "the municipality's id: a supplier sees a pseudonym of its own",
    "home_district": "where the person lives",
    "lat": "where the person lives",
    "lon": "where the person lives",
    "commute_limit_km": "with the place's address, it narrows down where the person lives",
    "registered_since": "time in unemployment, which reveals priority-group membership",
    "gender": "sensitive",
    "birth_year": "sensitive (age, and the youth group)",
    "foreign_born": "sensitive (birth country)",
    "disability": "sensitive (health)",
    "income_support": "sensitive (economic situation)",
    "placed": "the person's other placements are not the supplier's business",
}

#: A competence category of ``scoring/data/competences.toml`` in the words a supplier reads.
CATEGORY_WORDS: dict[str, str] = {
    "licence": "körkort och behörigheter", "certificate": "certifikat", "trade": "yrkeskunskaper",
    "care": "vård och omsorg", "service": "service", "office": "kontor och data", "language": "språk",
    "personal": "personliga egenskaper",
}
_ANY_SUPPORT = "stöd i arbetet"


@dataclass(frozen=True)
class Profile:
    """One candidate's profile as a supplier sees it.

    ``None`` (or an empty tuple for ``competences``) where a field is withheld; ``generalised``
    names each field shown coarser than it is, and how (``available_from: "month"``: the first day
    of the month is shown).
    """

    competences: tuple[str, ...]
    work_ladder_step: int | None
    support_at_work: tuple[str, ...] | None
    available_from: dt.date | None
    wished_hours: int | None
    wished_placement_types: tuple[str, ...] | None
    generalised: tuple[tuple[str, str], ...] = ()

    def key(self) -> tuple[Any, ...]:
        """What two profiles must share to look the same to a supplier."""
        return (self.competences, self.work_ladder_step, self.support_at_work, self.available_from,
                self.wished_hours, self.wished_placement_types, self.generalised)


@lru_cache(maxsize=1)
def _normaliser() -> CompetenceNormaliser:
    return CompetenceNormaliser.from_vocabulary(load_competences())


def _shown_competences(labels: Iterable[str], privacy: Privacy) -> tuple[str, ...]:
    """Canonical labels of known concepts, coarsened by the policy; unknown labels dropped."""
    vocab = load_competences()
    norm = _normaliser()
    words: set[str] = set()
    for label in labels:
        code = norm.concept_of(label)
        if code.startswith(UNKNOWN_PREFIX):
            continue
        word = privacy.coarsen_competences.get(code, vocab.by_code(code).label)
        if word:
            words.add(word)
    return tuple(sorted(words))


@lru_cache(maxsize=1)
def _category_of_label() -> dict[str, str]:
    return {c.label: c.category for c in load_competences().concepts}


def _category(words: tuple[str, ...]) -> tuple[str, ...]:
    by_label = _category_of_label()
    return tuple(sorted({CATEGORY_WORDS.get(by_label.get(w, ""), w) for w in words}))


def coarsen(candidates: pl.DataFrame, privacy: Privacy) -> list[Profile]:
    """Every candidate's profile with the policy's coarse words in place of proxy values.

    Parameters
    ----------
    candidates
        Rows of the candidates table (at least the columns of :data:`PROFILE_FIELDS`).
    privacy
        The policy's ``[privacy]`` section.

    Returns
    -------
    list of Profile
        One per row, in row order, not yet generalised.

    Examples
    --------
    >>> frame = pl.DataFrame({"competences": [["Arabiska", "B-körkort", "hemligt"]], "work_ladder_step": [3],
    ...     "support_needs": [["tolk", "handledare"]], "available_from": [dt.date(2026, 9, 14)],
    ...     "wished_hours": [35], "wished_placement_types": [["internship"]]})
    >>> p = coarsen(frame, Privacy())[0]
    >>> p.competences, p.support_at_work
    (('B-körkort',), ('handledare', 'stöd med kommunikation'))
    """
    out: list[Profile] = []
    support_map = privacy.coarsen_support
    shown: dict[tuple[str, ...], tuple[str, ...]] = {}  # the same labels, the same words: once each
    for row in candidates.select(PROFILE_FIELDS).iter_rows(named=True):
        labels = tuple(row["competences"] or ())
        words = shown.get(labels)
        if words is None:
            words = shown[labels] = _shown_competences(labels, privacy)
        support = {support_map.get(s, s) for s in row["support_needs"] or []}
        out.append(Profile(
            competences=words,
            work_ladder_step=int(row["work_ladder_step"]),
            support_at_work=tuple(sorted(s for s in support if s)),
            available_from=row["available_from"],
            wished_hours=int(row["wished_hours"]),
            wished_placement_types=tuple(sorted(row["wished_placement_types"] or [])),
        ))
    return out


def _apply(profile: Profile, step: str) -> Profile:
    """``profile`` one step coarser (``field:how``, a :data:`scoring.policy.GeneraliseStep`)."""
    name, how = step.split(":")
    changes: dict[str, Any] = {}
    if name == "available_from" and profile.available_from is not None:
        day = profile.available_from
        if how == "month":
            changes["available_from"] = day.replace(day=1)
        elif how == "quarter":
            changes["available_from"] = dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
        else:
            changes["available_from"] = None
    elif name == "wished_hours" and profile.wished_hours is not None:
        changes["wished_hours"] = profile.wished_hours // 10 * 10 if how == "10h" else None
    elif name == "competences":
        changes["competences"] = _category(profile.competences) if how == "category" else ()
    elif name == "support_at_work" and profile.support_at_work is not None:
        if how == "any":
            changes["support_at_work"] = (_ANY_SUPPORT,) if profile.support_at_work else ()
        else:
            changes["support_at_work"] = None
    elif name == "wished_placement_types":
        changes["wished_placement_types"] = None
    elif name == "work_ladder":
        changes["work_ladder_step"] = None
    shown = dict(profile.generalised)
    shown[_WIRE_NAME[name]] = "withheld" if how == "withhold" else how
    changes["generalised"] = tuple(sorted(shown.items()))
    return Profile(**{**profile.__dict__, **changes})


#: A step's field as the supplier's profile names it.
_WIRE_NAME = {"available_from": "available_from", "wished_hours": "wished_hours_per_week",
              "competences": "competences", "support_at_work": "support_at_work",
              "wished_placement_types": "wished_placement_types", "work_ladder": "work_ladder"}


#: The profile with every field withheld.
WITHHELD = Profile((), None, None, None, None, None,
                   tuple(sorted((name, "withheld") for name in _WIRE_NAME.values())))


def generalise(profiles: Sequence[Profile], privacy: Privacy) -> list[Profile]:
    """The profiles generalised until each, as shown, is shared by at least ``privacy.k`` of them.

    Parameters
    ----------
    profiles
        Every candidate of the region, coarsened (:func:`coarsen`): the population the k counts.
    privacy
        The policy's ``[privacy]`` section: ``k`` and the ``generalise`` steps.

    Returns
    -------
    list of Profile
        In the order given. Fewer than ``k`` profiles in all cannot be k-anonymous: they are all
        generalised by every step (and so alike).

    Examples
    --------
    >>> base = Profile(("B-körkort",), 3, (), dt.date(2026, 9, 1), 40, ())
    >>> odd = Profile(("Truckkort",), 3, (), dt.date(2026, 9, 20), 40, ())
    >>> shown = generalise([base] * 5 + [odd], Privacy(k=5))
    >>> shown[0] == base, shown[5].competences
    (False, ())
    """
    k = privacy.k
    current = list(profiles)
    final: list[Profile | None] = [None] * len(current)
    short = list(range(len(current)))
    for level in range(len(privacy.generalise) + 1):
        if level > 0:
            step = privacy.generalise[level - 1]
            applied: dict[Profile, Profile] = {}  # alike profiles are generalised once
            for i in short:
                before = current[i]
                after = applied.get(before)
                if after is None:
                    after = applied[before] = _apply(before, step)
                current[i] = after
        counts = Counter(current[i] for i in short)
        still: list[int] = []
        for i in short:
            if counts[current[i]] >= k:
                final[i] = current[i]
            else:
                still.append(i)
        short = still
        if not short:
            break
    if short:
        # Left short after every step: withheld whole, and so are the smallest classes (each whole)
        # until the withheld profile too is shared by k.
        members = set(short) | {i for i, p in enumerate(final) if p is not None and p.key() == WITHHELD.key()}
        sizes = Counter(p.key() for p in final if p is not None and p.key() != WITHHELD.key())
        for key, _ in sorted(sizes.items(), key=lambda item: item[1]):
            if len(members) >= k:
                break
            members |= {i for i, p in enumerate(final) if p is not None and p.key() == key}
        for i in members:
            final[i] = WITHHELD
    return [p for p in final if p is not None]


def smallest_class(profiles: Iterable[Profile]) -> int:
    """The number of candidates sharing the rarest profile (0 for none): the k the profiles reach."""
    counts = Counter(p.key() for p in profiles)
    return min(counts.values(), default=0)


def profile_values(profile: Profile) -> list[tuple[str, Any]]:
    """Every (field, value) a supplier reads in ``profile``: each competence and support word, and
    each other field's value whole."""
    values: list[tuple[str, Any]] = [("competences", c) for c in profile.competences]
    values += [("support_at_work", s) for s in profile.support_at_work or ()]
    values += [("work_ladder", profile.work_ladder_step), ("available_from", profile.available_from),
               ("wished_hours_per_week", profile.wished_hours),
               ("wished_placement_types", profile.wished_placement_types)]
    return [(f, v) for f, v in values if v is not None]


def protected_groups(candidates: pl.DataFrame, *, reference_year: int, youth_max_age: int
                     ) -> dict[str, list[bool]]:
    """Membership of every protected group a profile must not reveal, per candidate.

    Foreign birth, disability, each gender, and the age bands (youth up to ``youth_max_age``, then
    up to 39, up to 54, 55 and over). Gender-norm breaking belongs to a pair, not to a candidate.
    """
    age = reference_year - candidates.get_column("birth_year")
    gender = candidates.get_column("gender")
    groups = {
        "foreign_born": candidates.get_column("foreign_born").to_list(),
        "disability": candidates.get_column("disability").to_list(),
        f"age_up_to_{youth_max_age}": (age <= youth_max_age).to_list(),
        f"age_{youth_max_age + 1}_to_39": ((age > youth_max_age) & (age <= 39)).to_list(),
        "age_40_to_54": ((age >= 40) & (age <= 54)).to_list(),
        "age_55_and_over": (age >= 55).to_list(),
    }
    for value in ("F", "M", "X"):
        groups[f"gender_{value}"] = (gender == value).to_list()
    return groups


def wilson_lower(successes: int, total: int, z: float = 1.96) -> float:
    """The lower bound of the Wilson score interval of a share (95 % by default).

    Examples
    --------
    >>> round(wilson_lower(10, 10), 3), round(wilson_lower(5, 6), 3)
    (0.722, 0.436)
    """
    if total == 0:
        return 0.0
    p = successes / total
    centre = p + z * z / (2 * total)
    spread = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    return (centre - spread) / (1 + z * z / total)


@dataclass(frozen=True)
class GroupShare:
    """The share of one protected group among the candidates shown one value."""

    field: str
    value: Any
    group: str
    members: int
    holders: int

    @property
    def share(self) -> float:
        return self.members / self.holders

    @property
    def lower_bound(self) -> float:
        """The 95 % Wilson lower bound of :attr:`share`: what the policy's threshold bounds."""
        return wilson_lower(self.members, self.holders)


def group_shares(profiles: Sequence[Profile], groups: Mapping[str, Sequence[bool]]) -> list[GroupShare]:
    """Every (value shown, protected group) pair, largest lower bound first.

    Parameters
    ----------
    profiles
        The profiles as shown, one per candidate.
    groups
        Membership per group, aligned with ``profiles`` (:func:`protected_groups`).
    """
    holders: dict[tuple[str, Any], list[int]] = {}
    for i, profile in enumerate(profiles):
        for value in set(profile_values(profile)):
            holders.setdefault(value, []).append(i)
    out = [GroupShare(field, value, group, sum(1 for i in rows if member[i]), len(rows))
           for (field, value), rows in holders.items() for group, member in groups.items()]
    return sorted(out, key=lambda s: (-s.lower_bound, -s.share, s.group, s.field, str(s.value)))
