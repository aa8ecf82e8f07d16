"""Selection metrics: hand-checked and published values, small and unknown groups, conventions."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

from scoring import metrics as m
from scoring.metrics import _engine, allocation, ranking, selection


@pytest.mark.parametrize("module", [_engine, selection, ranking, allocation])
def test_docstring_examples_run(module: object) -> None:
    result = doctest.testmod(module, raise_on_error=False)  # type: ignore[arg-type]
    assert result.attempted > 0
    assert result.failed == 0


def test_public_surface_matches_all() -> None:
    public = {name for name in dir(m) if not name.startswith("_")} - {"allocation", "ranking", "selection"}
    assert public == set(m.__all__)


def _four_fifths_case() -> tuple[list[int], list[str]]:
    # The common textbook illustration of 29 CFR 1607.4(D): 48 of 80 hired (60 %) vs 12 of 40 (30 %).
    return [1] * 48 + [0] * 32 + [1] * 12 + [0] * 28, ["w"] * 80 + ["b"] * 40


def test_four_fifths_uniform_guidelines_example() -> None:
    y, g = _four_fifths_case()
    r = m.disparate_impact_ratio(y, sensitive_features=g)
    # 0.30 / 0.60 = 0.5 < 0.8
    assert r.value == pytest.approx(0.5)
    assert r.reference_group == "w"
    assert r.passes_four_fifths is False
    assert r.adverse_impact_groups == ("b",)
    # Named reference gives the same; AIF360's disparate impact (unpriv/priv) is the same number.
    assert m.disparate_impact_ratio(y, sensitive_features=g, reference_group="w").value == pytest.approx(0.5)
    dpr = m.demographic_parity_ratio(y, sensitive_features=g, convention="aif360", privileged_group="w")
    assert dpr.value == pytest.approx(0.5) and dpr.group == "b"


def test_four_fifths_eeoc_questions_and_answers_example() -> None:
    # EEOC et al., Questions and Answers to Clarify ... the Uniform Guidelines (1979), quoted at
    # https://dataethicsrepository.iaa.ncsu.edu/?p=1099: hiring rates
    # whites 60 %, American Indians 45 %, Hispanics 48 %, Blacks 51 % give impact ratios 45/60 = 75 %,
    # 48/60 = 80 %, 51/60 = 85 %: adverse impact for American Indians only (80 % is not "less than").
    groups = {"white": 60, "american_indian": 45, "hispanic": 48, "black": 51}
    y: list[int] = []
    g: list[str] = []
    for name, hired in groups.items():
        y += [1] * hired + [0] * (100 - hired)
        g += [name] * 100
    r = m.disparate_impact_ratio(y, sensitive_features=g)
    assert dict(r.impact_ratios) == pytest.approx({"american_indian": 0.75, "black": 0.85, "hispanic": 0.8})
    assert r.adverse_impact_groups == ("american_indian",)  # Hispanics at exactly 4/5 pass
    assert r.value == pytest.approx(0.75)
    assert r.passes_four_fifths is False
    # Without the American Indian group every ratio is >= 4/5.
    keep = [i for i, x in enumerate(g) if x != "american_indian"]
    r2 = m.disparate_impact_ratio([y[i] for i in keep], sensitive_features=[g[i] for i in keep])
    assert r2.passes_four_fifths is True
    assert r2.value == pytest.approx(0.8)


def test_four_fifths_undefined_when_nobody_selected() -> None:
    r = m.disparate_impact_ratio([0, 0, 0, 0], sensitive_features=["a", "a", "b", "b"])
    assert math.isnan(r.value) and r.passes_four_fifths is None


def test_hand_checked_rates_and_differences() -> None:
    # a: 3 of 4 selected (0.75), b: 1 of 4 (0.25), c: 1 of 2 (0.5)
    y = [1, 1, 1, 0, 1, 0, 0, 0, 1, 0]
    g = ["a"] * 4 + ["b"] * 4 + ["c"] * 2
    assert m.selection_rate_by_group(y, sensitive_features=g).by_group() == {"a": 0.75, "b": 0.25, "c": 0.5}
    d = m.demographic_parity_difference(y, sensitive_features=g)
    assert (d.value, d.group, d.reference_group) == (0.5, "b", "a")  # 0.75 - 0.25
    assert m.demographic_parity_ratio(y, sensitive_features=g).value == pytest.approx(1 / 3)  # 0.25 / 0.75
    # AIF360: unprivileged c vs privileged a: 0.5 - 0.75 = -0.25; 0.5 / 0.75 = 2/3
    kw = {"sensitive_features": g, "convention": "aif360", "privileged_group": "a", "unprivileged_group": "c"}
    assert m.demographic_parity_difference(y, **kw).value == pytest.approx(-0.25)  # type: ignore[arg-type]
    assert m.demographic_parity_ratio(y, **kw).value == pytest.approx(2 / 3)  # type: ignore[arg-type]


def test_equal_opportunity_hand_checked() -> None:
    # a: qualified at 0,1,2 -> selected 0,1 -> TPR 2/3; b: qualified 4,5,6,7 -> selected 4 -> 1/4
    sel = [1, 1, 0, 1, 1, 0, 0, 0]
    qual = [1, 1, 1, 0, 1, 1, 1, 1]
    g = ["a"] * 4 + ["b"] * 4
    d = m.equal_opportunity_difference(sel, y_true=qual, sensitive_features=g)
    assert d.value == pytest.approx(2 / 3 - 1 / 4)
    r = m.equal_opportunity_ratio(sel, y_true=qual, sensitive_features=g)
    assert r.value == pytest.approx((1 / 4) / (2 / 3))  # = 0.375
    s = m.equal_opportunity_difference(
        sel, y_true=qual, sensitive_features=g, convention="aif360", privileged_group="a"
    )
    assert s.value == pytest.approx(1 / 4 - 2 / 3)


def test_equal_opportunity_leaves_out_groups_with_too_few_qualified() -> None:
    # c has 3 members but nobody qualified: fairlearn would count TPR 0; we leave c out.
    sel = [1, 0, 1, 0, 1, 1, 1]
    qual = [1, 1, 1, 1, 0, 0, 0]
    g = ["a", "a", "b", "b", "c", "c", "c"]
    d = m.equal_opportunity_difference(sel, y_true=qual, sensitive_features=g)
    assert d.value == 0.0  # a: 1/2, b: 1/2
    assert d.excluded_small == ("c",)
    rates = m.group_rates(sel, y_true=qual, sensitive_features=g)
    assert math.isnan(rates.row("c").true_positive_rate)  # type: ignore[arg-type]


def test_small_groups_reported_not_folded_in() -> None:
    # c has 2 members with rate 0: below min_group_size=3 it must not drive the difference.
    y = [1, 1, 1, 0, 1, 0, 1, 0, 0, 0]
    g = ["a"] * 4 + ["b"] * 4 + ["c"] * 2
    rates = m.selection_rate_by_group(y, sensitive_features=g, min_group_size=3)
    assert rates.row("c").small and rates.small_groups == ("c",)
    assert rates.row("c").num_members == 2  # still reported with its counts
    d = m.demographic_parity_difference(y, sensitive_features=g, min_group_size=3)
    assert d.value == pytest.approx(0.75 - 0.5)
    assert d.excluded_small == ("c",)
    # With the default minimum the small group counts: 0.75 - 0
    assert m.demographic_parity_difference(y, sensitive_features=g).value == 0.75


@pytest.mark.parametrize("unknown", [None, float("nan"), ""])
def test_unknown_values_are_their_own_row(unknown: object) -> None:
    y = [1, 0, 1, 1, 0, 0]
    g = ["a", "a", "b", "b", unknown, unknown]
    rates = m.selection_rate_by_group(y, sensitive_features=g)
    assert [(r.group, r.unknown, r.num_members) for r in rates.rows] == [
        ("a", False, 2),
        ("b", False, 2),
        (None, True, 2),
    ]
    d = m.demographic_parity_difference(y, sensitive_features=g)
    assert d.value == 0.5  # b 1.0 - a 0.5; the unknown row's 0.0 is not used
    assert d.excluded_unknown == (None,)
    assert rates.overall.num_members == 6  # the overall row counts everybody


def test_intersectional_unknown_part_is_flagged() -> None:
    y = [1, 0, 1, 0]
    cols = {"sex": ["f", "f", "m", None], "born": ["se", "se", "se", "se"]}
    rates = m.selection_rate_by_group(y, sensitive_features=cols)
    assert [(r.group, r.unknown) for r in rates.rows] == [
        (("f", "se"), False),
        (("m", "se"), False),
        ((None, "se"), True),
    ]


def test_overlapping_groups_count_a_person_for_each_group() -> None:
    # person 0 is youth and foreign-born; person 3 has unknown disability status
    nan = float("nan")
    mem = m.membership(
        [[1, 1, 0], [1, 0, 0], [0, 1, 0], [0, 0, nan], [0, 0, 1]],
        names=["youth", "foreign_born", "disability"],
    )
    y = [1, 0, 1, 1, 0]
    rates = m.selection_rate_by_group(y, sensitive_features=mem)
    assert rates.kind == "overlapping"
    assert rates.row("youth").num_members == 2 and rates.row("youth").selection_rate == 0.5
    assert rates.row("foreign_born").selection_rate == 1.0  # persons 0, 2
    assert rates.row("not foreign_born").selection_rate == pytest.approx(1 / 3)  # persons 1, 3, 4
    assert rates.row("disability: unknown").unknown
    assert rates.row("not disability").num_members == 3  # 0, 1, 2; person 3 is not counted
    d = m.demographic_parity_difference(y, sensitive_features=mem)
    # youth: 0.5 vs 2/3; foreign_born: 1 vs 1/3; disability: 0 vs 2/3 -> worst |diff| = 2/3
    assert d.value == pytest.approx(2 / 3)
    s = m.demographic_parity_difference(
        y, sensitive_features=mem, convention="aif360", unprivileged_group="youth"
    )
    assert s.value == pytest.approx(0.5 - 2 / 3) and s.reference_group == "not youth"
    # A plain boolean matrix is read the same way (names "0", "1", ...).
    assert m.group_rates(
        y, sensitive_features=np.array([[True], [False], [True], [False], [False]])
    ).kind == ("overlapping")


def test_fewer_than_two_comparable_groups_is_nan_with_a_note() -> None:
    d = m.demographic_parity_difference([1, 0, 1], sensitive_features=["a", "a", "b"], min_group_size=2)
    assert math.isnan(d.value) and "1 comparable" in d.note


def test_aif360_convention_needs_the_pair() -> None:
    y, g = [1, 0, 1, 0, 1, 1], ["a", "a", "b", "b", "c", "c"]
    with pytest.raises(ValueError, match="privileged_group"):
        m.demographic_parity_difference(y, sensitive_features=g, convention="aif360")
    with pytest.raises(ValueError, match="unprivileged_group"):
        m.demographic_parity_difference(y, sensitive_features=g, convention="aif360", privileged_group="a")
    small = m.demographic_parity_difference(
        y,
        sensitive_features=g,
        convention="aif360",
        privileged_group="a",
        unprivileged_group="c",
        min_group_size=3,
    )
    assert math.isnan(small.value) and "small or unknown" in small.note


def test_results_become_table_rows() -> None:
    y, g = _four_fifths_case()
    rows = m.selection_rate_by_group(y, sensitive_features=g).to_rows()
    assert rows[-1]["group"] == "(overall)" and rows[-1]["num_members"] == 120
    assert m.demographic_parity_difference(y, sensitive_features=g).as_dict()["value"] == pytest.approx(0.3)
    assert float(m.disparate_impact_ratio(y, sensitive_features=g)) == pytest.approx(0.5)


def test_invalid_inputs_raise() -> None:
    with pytest.raises(ValueError, match="0/1"):
        m.group_rates([2, 0], sensitive_features=["a", "b"])
    with pytest.raises(ValueError, match="shape"):
        m.group_rates([1, 0], sensitive_features=["a", "b", "c"])
