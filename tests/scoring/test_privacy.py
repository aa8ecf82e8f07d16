"""The supplier's view of a candidate: proxy attributes and linkability, measured (issue 14, defect 9).

On the demo region (Gothenburg ``small``, seed 7, what ``platsa serve --demo`` serves) and on
``medium`` (10,000 candidates), the attack is first reproduced on the profile as it was shown
before (the allowlisted fields as stored), then refuted on the profile shown now: the largest share
of any protected group behind any value a supplier can see stays within the policy's bounds, and the
smallest number of candidates sharing a profile reaches the policy's k.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from functools import lru_cache

import hypothesis.strategies as st
import polars as pl
import pytest
from hypothesis import given, settings

from fixtures import generate_region
from scoring.exceptions import PolicyError
from scoring.policy import Privacy, load_policy, parse_policy
from scoring.privacy import (
    PROFILE_FIELDS,
    WITHHELD,
    WITHHELD_FROM_SUPPLIERS,
    GroupShare,
    Profile,
    coarsen,
    generalise,
    group_shares,
    protected_groups,
    smallest_class,
)
from scoring.schema import SENSITIVE_COLUMNS, TABLES

#: The profile as it was shown before issue 14: no coarse words.
AS_STORED = Privacy(coarsen_support={}, coarsen_competences={})


@lru_cache(maxsize=2)
def measured(size: str) -> dict[str, object]:
    region = generate_region("gothenburg", size, seed=7)
    policy = load_policy("gothenburg")
    cands = region.candidates
    groups = protected_groups(cands, reference_year=region.manifest.reference_date.year,
                              youth_max_age=policy.groups.youth_max_age)
    before = coarsen(cands, AS_STORED)
    shown = generalise(coarsen(cands, policy.privacy), policy.privacy)
    proposed = set(region.proposals.get_column("candidate_id").to_list())
    ids = cands.get_column("candidate_id").to_list()
    return {"policy": policy, "cands": cands, "before": before, "shown": shown,
            "before_shares": group_shares(before, groups), "shares": group_shares(shown, groups),
            "visible": [p for cid, p in zip(ids, shown, strict=True) if cid in proposed]}


def worst(shares: list[GroupShare], *, gender: bool) -> GroupShare:
    return next(s for s in shares if s.group.startswith("gender_") == gender)


@pytest.mark.parametrize("size", ["small", "medium"])
def test_the_attack_reproduced_on_the_profile_as_stored(size: str) -> None:
    m = measured(size)
    interpreter = next(s for s in m["before_shares"]  # type: ignore[attr-defined]
                       if s.value == "tolk" and s.group == "foreign_born")
    assert interpreter.members == interpreter.holders >= 40  # every holder foreign-born
    policy = m["policy"]
    assert worst(m["before_shares"], gender=False).lower_bound > policy.privacy.max_group_share  # type: ignore
    before = m["before"]
    unique = sum(1 for n in Counter(p.key() for p in before).values() if n == 1)  # type: ignore[attr-defined]
    assert unique >= 0.99 * len(before)  # type: ignore[arg-type]
    assert smallest_class(before) == 1  # type: ignore[arg-type]


@pytest.mark.parametrize("size", ["small", "medium"])
def test_no_value_shown_reveals_a_protected_group(size: str) -> None:
    m = measured(size)
    privacy = m["policy"].privacy  # type: ignore[attr-defined]
    shares: list[GroupShare] = m["shares"]  # type: ignore[assignment]
    other, gender = worst(shares, gender=False), worst(shares, gender=True)
    assert other.lower_bound <= privacy.max_group_share, other
    assert gender.lower_bound <= privacy.max_gender_share, gender
    shown_values = {s.value for s in shares}
    assert not {"tolk", "stöd med svenska språket", "SFI", "Arabiska", "Somaliska"} & shown_values
    # docs/data-protection.md quotes these figures.
    print(f"{size}: worst {other.group} {other.members}/{other.holders} behind "
          f"{other.field}={other.value!r} (lower bound {other.lower_bound:.3f}); gender: "
          f"{gender.group} {gender.members}/{gender.holders} behind {gender.field}={gender.value!r} "
          f"({gender.lower_bound:.3f})")


@pytest.mark.parametrize("size", ["small", "medium"])
def test_every_profile_shown_is_shared_by_k_candidates(size: str) -> None:
    m = measured(size)
    k = m["policy"].privacy.k  # type: ignore[attr-defined]
    shown: list[Profile] = m["shown"]  # type: ignore[assignment]
    assert smallest_class(shown) >= k == 5
    # Those the suppliers see now (proposed candidates) are among them: each shares its profile
    # with at least k of the region, so neither one supplier nor two together tell them apart by it.
    counts = Counter(p.key() for p in shown)
    assert m["visible"] and min(counts[p.key()] for p in m["visible"]) >= k  # type: ignore[attr-defined]
    detailed = sum(1 for p in shown if p.competences)
    print(f"{size}: smallest class {smallest_class(shown)}; {detailed} of {len(shown)} show competences")


def test_coarse_words_and_unknown_labels() -> None:
    frame = pl.DataFrame({
        "competences": [["Arabiska", "körkort b", "Maria Svensson, diabetes"]], "work_ladder_step": [2],
        "support_needs": [["tolk", "hörselslinga", "handledare"]], "available_from": [dt.date(2026, 11, 17)],
        "wished_hours": [35], "wished_placement_types": [["internship", "employment"]]})
    profile = coarsen(frame, Privacy())[0]
    assert profile.competences == ("B-körkort",)  # the mother tongue withheld; free text never shown
    assert profile.support_at_work == ("handledare", "stöd i arbetet")
    assert profile.wished_placement_types == ("employment", "internship")


def test_generalisation_keeps_detail_where_it_is_common_and_withholds_the_rest() -> None:
    common = Profile(("B-körkort",), 3, ("handledare",), dt.date(2026, 9, 14), 35, ())
    near = [Profile(("B-körkort",), 3, ("handledare",), dt.date(2026, 9, d), h, ())
            for d, h in ((2, 31), (3, 33), (20, 35), (28, 37), (30, 39))]
    odd = Profile(("Truckkort",), 1, ("lugn arbetsmiljö",), dt.date(2027, 5, 1), 10, ("trainee",))
    shown = generalise(near + [odd] + [common] * 6, Privacy(k=5))
    assert shown[6:] == [common] * 6  # six alike: shown as they are
    # Five that differ only by day and hours: the month and 10 h make them alike.
    month = generalise(near, Privacy(k=5))
    assert {p.available_from for p in month} == {dt.date(2026, 9, 1)}
    assert {p.wished_hours for p in month} == {30}
    assert month[0].generalised == (("available_from", "month"), ("wished_hours_per_week", "10h"))
    # The odd one has no four like it at any step: withheld whole, with the smallest class (the
    # five near ones) so that the withheld profile too is shared by five.
    assert shown[:6] == [WITHHELD] * 6
    assert Counter(p.key() for p in shown)[WITHHELD.key()] >= 5
    assert smallest_class(shown) >= 5


def test_fewer_candidates_than_k_are_all_withheld() -> None:
    people = [Profile((), s, (), dt.date(2026, 9, 1), 40, ()) for s in (1, 2, 3)]
    assert generalise(people, Privacy(k=5)) == [WITHHELD] * 3


_profiles = st.builds(
    Profile,
    competences=st.lists(st.sampled_from(["B-körkort", "Truckkort", "Lokalvård", "HLR"]), max_size=2,
                         unique=True).map(lambda c: tuple(sorted(c))),
    work_ladder_step=st.integers(1, 4),
    support_at_work=st.sampled_from([(), ("handledare",), ("lugn arbetsmiljö", "handledare")]),
    available_from=st.dates(dt.date(2026, 1, 1), dt.date(2027, 12, 31)),
    wished_hours=st.sampled_from([10, 20, 25, 30, 35, 40]),
    wished_placement_types=st.sampled_from([(), ("internship",), ("employment",)]),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_profiles, min_size=5, max_size=60), st.integers(2, 6))
def test_every_generalised_population_is_k_anonymous(people: list[Profile], k: int) -> None:
    shown = generalise(people, Privacy(k=k))
    assert len(shown) == len(people)
    if len(people) >= k:
        assert smallest_class(shown) >= k


def test_the_policy_refuses_steps_out_of_order() -> None:
    data = load_policy("gothenburg").model_dump(mode="json")
    data["privacy"]["generalise"] = ["available_from:quarter", "available_from:month"]
    with pytest.raises(PolicyError, match="coarser or equal step"):
        parse_policy(data)


def test_every_candidate_column_is_shown_to_suppliers_or_withheld_with_a_reason() -> None:
    """A new column of the candidates table reaches no supplier until it is classified here."""
    columns = {c.name for c in TABLES["candidates"].columns}
    shown, withheld = set(PROFILE_FIELDS), set(WITHHELD_FROM_SUPPLIERS)
    assert not shown & withheld
    assert columns == shown | withheld, (
        f"classify {sorted(columns - shown - withheld)} (shown or withheld); "
        f"no longer columns: {sorted((shown | withheld) - columns)}")
    assert SENSITIVE_COLUMNS.issubset(withheld)
    assert all(WITHHELD_FROM_SUPPLIERS.values())
