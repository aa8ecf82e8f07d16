"""scoring.metrics agrees with fairlearn (the reference implementation) on the same inputs.

fairlearn's functions take ``(y_true, y_pred, *, sensitive_features)``; ours take
``(y_pred, *, y_true=..., sensitive_features=...)``. Inputs are drawn so that every group has
members, and for equal opportunity qualified members: where a group has nobody qualified fairlearn
counts its TPR as 0 and we leave the group out (tested in test_metrics_selection.py).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    equal_opportunity_ratio,
    selection_rate,
    true_positive_rate,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring import metrics as m


def _draw(seed: int, n: int, groups: list[str], p_sel: float = 0.4) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    g = rng.choice(groups, size=n)
    g[: len(groups)] = groups  # every group has a member
    y_true = rng.integers(0, 2, size=n)
    y_true[: len(groups)] = 1  # ... and a qualified one
    y_pred = (rng.random(n) < p_sel).astype(int)
    y_pred[0] = 1  # somebody selected: ratios are defined
    return y_true, y_pred, g


@pytest.mark.parametrize("seed", range(20))
def test_selection_rate_by_group_equals_metricframe(seed: int) -> None:
    y_true, y_pred, g = _draw(seed, 200, ["a", "b", "c", "d"])
    ours = m.selection_rate_by_group(y_pred, sensitive_features=g).by_group()
    mf = MetricFrame(metrics=selection_rate, y_true=y_true, y_pred=y_pred, sensitive_features=g)
    assert ours == pytest.approx(mf.by_group.to_dict())
    assert m.group_rates(y_pred, sensitive_features=g).overall.selection_rate == pytest.approx(mf.overall)


@pytest.mark.parametrize("seed", range(20))
def test_true_positive_rate_by_group_equals_metricframe(seed: int) -> None:
    y_true, y_pred, g = _draw(seed, 150, ["a", "b", "c"])
    ours = m.group_rates(y_pred, y_true=y_true, sensitive_features=g).by_group("true_positive_rate")
    mf = MetricFrame(metrics=true_positive_rate, y_true=y_true, y_pred=y_pred, sensitive_features=g)
    assert ours == pytest.approx(mf.by_group.to_dict())


@pytest.mark.parametrize("seed", range(25))
def test_disparities_equal_fairlearn_multivalued(seed: int) -> None:
    y_true, y_pred, g = _draw(seed, 120, ["a", "b", "c", "d", "e"])
    kw = {"sensitive_features": g}
    assert m.demographic_parity_difference(y_pred, **kw).value == pytest.approx(
        demographic_parity_difference(y_true, y_pred, **kw)
    )
    assert m.demographic_parity_ratio(y_pred, **kw).value == pytest.approx(
        demographic_parity_ratio(y_true, y_pred, **kw)
    )
    assert m.equal_opportunity_difference(y_pred, y_true=y_true, **kw).value == pytest.approx(
        equal_opportunity_difference(y_true, y_pred, **kw)
    )
    assert m.equal_opportunity_ratio(y_pred, y_true=y_true, **kw).value == pytest.approx(
        equal_opportunity_ratio(y_true, y_pred, **kw)
    )


@pytest.mark.parametrize("seed", range(15))
def test_intersectional_equals_fairlearn_dataframe(seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    n = 300
    sex = rng.choice(["f", "m"], size=n)
    born = rng.choice(["se", "abroad", "unk"], size=n)
    sex[:6], born[:6] = ["f", "f", "f", "m", "m", "m"], ["se", "abroad", "unk"] * 2
    y_true = rng.integers(0, 2, size=n)
    y_true[:6] = 1
    y_pred = rng.integers(0, 2, size=n)
    y_pred[0] = 1
    df = pd.DataFrame({"sex": sex, "born": born})
    cols = {"sex": sex, "born": born}

    rates = m.selection_rate_by_group(y_pred, sensitive_features=cols)
    assert rates.kind == "intersectional"
    mf = MetricFrame(metrics=selection_rate, y_true=y_true, y_pred=y_pred, sensitive_features=df)
    assert rates.by_group() == pytest.approx(mf.by_group.to_dict())

    assert m.demographic_parity_difference(y_pred, sensitive_features=cols).value == pytest.approx(
        demographic_parity_difference(y_true, y_pred, sensitive_features=df)
    )
    assert m.demographic_parity_ratio(y_pred, sensitive_features=cols).value == pytest.approx(
        demographic_parity_ratio(y_true, y_pred, sensitive_features=df)
    )
    assert m.equal_opportunity_difference(
        y_pred, y_true=y_true, sensitive_features=cols
    ).value == pytest.approx(equal_opportunity_difference(y_true, y_pred, sensitive_features=df))
    # The same columns as a 2-D array give the same result.
    stacked = np.column_stack([sex, born])
    assert m.demographic_parity_ratio(y_pred, sensitive_features=stacked).value == pytest.approx(
        demographic_parity_ratio(y_true, y_pred, sensitive_features=df)
    )


@pytest.mark.parametrize("seed", range(15))
def test_overlapping_worst_group_equals_fairlearn_per_column(seed: int) -> None:
    # Overlapping groups: each membership column is a binary feature for fairlearn (member vs.
    # the rest); ours reports the worst of those per-column figures.
    rng = np.random.default_rng(2000 + seed)
    n, num_groups = 200, 3
    mem = rng.random((n, num_groups)) < 0.3
    mem[:2] = [[True] * num_groups, [False] * num_groups]  # both sides of every column exist
    y_true = rng.integers(0, 2, size=n)
    y_true[:2] = 1
    y_pred = rng.integers(0, 2, size=n)
    y_pred[:2] = 1
    names = ["youth", "foreign_born", "disability"]
    feats = m.membership(mem, names=names)

    dpd = [demographic_parity_difference(y_true, y_pred, sensitive_features=mem[:, j]) for j in range(3)]
    dpr = [demographic_parity_ratio(y_true, y_pred, sensitive_features=mem[:, j]) for j in range(3)]
    eod = [equal_opportunity_difference(y_true, y_pred, sensitive_features=mem[:, j]) for j in range(3)]
    assert m.demographic_parity_difference(y_pred, sensitive_features=feats).value == pytest.approx(max(dpd))
    assert m.demographic_parity_ratio(y_pred, sensitive_features=feats).value == pytest.approx(min(dpr))
    assert m.equal_opportunity_difference(y_pred, y_true=y_true, sensitive_features=feats).value == (
        pytest.approx(max(eod))
    )
    # Per-group rates: members' and non-members' rates are fairlearn's True / False rows.
    rates = m.selection_rate_by_group(y_pred, sensitive_features=feats)
    for j, name in enumerate(names):
        mf = MetricFrame(metrics=selection_rate, y_true=y_true, y_pred=y_pred, sensitive_features=mem[:, j])
        assert rates.row(name).selection_rate == pytest.approx(mf.by_group[True])
        assert rates.row(f"not {name}").selection_rate == pytest.approx(mf.by_group[False])


@settings(max_examples=60, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.booleans(), st.booleans()),
        min_size=2,  # fairlearn squeezes a single sample to a 0-d array and rejects it
        max_size=60,
    )
)
def test_demographic_parity_agrees_on_arbitrary_inputs(data: list[tuple[str, bool, bool]]) -> None:
    g = np.array([d[0] for d in data])
    y_pred = np.array([int(d[1]) for d in data])
    y_true = np.array([int(d[2]) for d in data])
    ours_d = m.demographic_parity_difference(y_pred, sensitive_features=g)
    ours_r = m.demographic_parity_ratio(y_pred, sensitive_features=g)
    theirs_d = demographic_parity_difference(y_true, y_pred, sensitive_features=g)
    theirs_r = demographic_parity_ratio(y_true, y_pred, sensitive_features=g)
    if len(set(g)) < 2:
        # One group: fairlearn says 0 / 1; we say "not comparable" (NaN with a note).
        assert math.isnan(ours_d.value) and ours_d.note
        assert theirs_d == 0
        return
    assert ours_d.value == pytest.approx(theirs_d)
    if math.isnan(theirs_r):
        assert math.isnan(ours_r.value)  # nobody selected anywhere: 0/0
    else:
        assert ours_r.value == pytest.approx(theirs_r)
