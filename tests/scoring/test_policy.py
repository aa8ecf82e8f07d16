"""Every shipped policy file, and the qualifying rule of each, with hand-checked verdicts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from scoring.domain import PriorityGroup
from scoring.exceptions import PolicyError
from scoring.policy import Distribution, builtin_policy_ids, load_policy, procurement_qualifies

JAN_1 = dt.date(2026, 1, 1)


def qualifies(policy_id: str, **overrides: object) -> bool:
    args: dict[str, object] = {
        "procurement_type": "service",
        "contract_start": JAN_1,
        "contract_end": dt.date(2026, 12, 31),
        "staff_needed": 5,
        "value_sek": 2_000_000,
        "executed_locally": True,
    }
    args.update(overrides)
    return procurement_qualifies(load_policy(policy_id), **args).qualifies  # type: ignore[arg-type]


def test_shipped_policies() -> None:
    assert builtin_policy_ids() == ["gothenburg", "ostersund-alt1", "ostersund-alt2", "sodertalje"]
    for pid in builtin_policy_ids():
        policy = load_policy(pid)
        assert policy.id == pid
        assert sum(policy.distribution.keys.values()) == pytest.approx(1.0)
        assert all(0 < share < 1 for share in policy.floors.values())


class TestGothenburg:
    # seeds 000, 002: execution longer than 4 months, needs more than one employee;
    # service procurements, works contracts and renewed competitions.
    def test_groups_and_districts(self) -> None:
        policy = load_policy("gothenburg")
        assert policy.groups.enabled == (
            PriorityGroup.YOUTH, PriorityGroup.FOREIGN_BORN, PriorityGroup.DISABILITY,
        )
        assert len(policy.distribution.keys) == 10  # the ten former district administrations

    @pytest.mark.parametrize(
        ("overrides", "expected"),
        [
            ({}, True),
            ({"contract_end": dt.date(2026, 4, 30)}, False),  # exactly 4 months is not longer than 4
            ({"contract_end": dt.date(2026, 5, 1)}, True),  # 4 months and a day
            ({"staff_needed": 1}, False),  # needs more than one employee
            ({"staff_needed": 2}, True),
            ({"procurement_type": "works"}, True),
            ({"procurement_type": "renewed_competition"}, True),
            ({"procurement_type": "goods"}, False),
            ({"procurement_type": "framework_agreement"}, False),
            ({"executed_locally": False}, True),  # Gothenburg does not require local execution
            ({"value_sek": 10}, True),  # no value limit
        ],
    )
    def test_qualifying(self, overrides: dict[str, object], expected: bool) -> None:
        assert qualifies("gothenburg", **overrides) is expected

    def test_reasons_name_every_rule(self) -> None:
        verdict = procurement_qualifies(
            load_policy("gothenburg"), procurement_type="goods", contract_start=JAN_1,
            contract_end=dt.date(2026, 2, 28), staff_needed=1, value_sek=0, executed_locally=True,
        )
        assert not verdict.qualifies
        assert [r.split(":")[0] for r in verdict.reasons] == ["fails", "fails", "fails"]
        assert "2.0 months" in verdict.reasons[1]


class TestOstersund:
    # seed 001: alternative 1: at least 4 months, executed within the municipality;
    # alternative 2 adds a lower value limit of 1 MSEK; framework agreements included.
    @pytest.mark.parametrize(
        ("overrides", "alt1", "alt2"),
        [
            ({}, True, True),
            ({"contract_end": dt.date(2026, 4, 30)}, True, True),  # exactly 4 months is "at least 4"
            ({"contract_end": dt.date(2026, 4, 29)}, False, False),
            ({"executed_locally": False}, False, False),
            ({"value_sek": 999_999}, True, False),
            ({"value_sek": 1_000_000}, True, True),
            ({"procurement_type": "framework_agreement"}, True, True),
            ({"staff_needed": 1}, True, True),  # no staff rule in Östersund
        ],
    )
    def test_alternatives(self, overrides: dict[str, object], alt1: bool, alt2: bool) -> None:
        assert qualifies("ostersund-alt1", **overrides) is alt1
        assert qualifies("ostersund-alt2", **overrides) is alt2

    def test_groups(self) -> None:
        policy = load_policy("ostersund-alt1")
        assert PriorityGroup.GENDER_NORM_BREAKER in policy.groups.enabled
        assert policy.groups.gender_norm_threshold == 0.40
        assert policy.far_from_labour_market.young_min_months == 6
        assert policy.far_from_labour_market.older_min_months == 12


def test_sodertalje_follows_gothenburg() -> None:
    # seed 003: Södertälje follows the Gothenburg model, with its own districts.
    got, sod = load_policy("gothenburg"), load_policy("sodertalje")
    assert sod.qualifying == got.qualifying
    assert sod.groups == got.groups
    assert set(sod.distribution.keys).isdisjoint(set(got.distribution.keys) - {"centrum"})
    assert qualifies("sodertalje", staff_needed=1) is False


def test_follow_up_defaults() -> None:
    follow_up = load_policy("gothenburg").follow_up
    # seed 001 (Payoff): 175,000 SEK a year from social assistance, 43,000 from activity support.
    assert follow_up.social_assistance_to_work_sek == 175_000
    assert follow_up.activity_support_to_work_sek == 43_000
    assert follow_up.assumed_monthly_wage_sek == 22_500
    assert follow_up.yearly_places_per_company == 0.5


def test_distribution_bounds() -> None:
    # 0.16 ± 0.05 of 100 → 11..21 places for Angered.
    assert load_policy("gothenburg").distribution.bounds(100)["angered"] == (11, 21)
    assert Distribution(tolerance=0.0, keys={"a": 0.5, "b": 0.5}).bounds(7) == {"a": (3, 4), "b": (3, 4)}


def test_a_municipality_without_code(tmp_path: Path) -> None:
    text = (Path(__file__).parents[2] / "scoring" / "policies" / "gothenburg.toml").read_text("utf-8")
    text = text.replace('id = "gothenburg"', 'id = "kungalv"').replace("min_staff_needed = 2", "min_staff_needed = 5")
    path = tmp_path / "kungalv.toml"
    path.write_text(text, encoding="utf-8")
    assert load_policy(path).qualifying.min_staff_needed == 5
    assert load_policy("kungalv", search_dirs=[tmp_path]).id == "kungalv"


def test_every_problem_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        'id = "Bad Id"\nname = "x"\nmunicipality = "x"\nregion = "x"\n'
        '[qualifying]\nprocurement_types = ["service", "cheese"]\nmin_contract_months = -1\n'
        '[groups]\nenabled = ["youth"]\n'
        '[distribution]\ntolerance = 0.05\nkeys = { a = 0.5, b = 0.4 }\n',
        encoding="utf-8",
    )
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    columns = {p.column for p in info.value.problems}
    assert {"id", "qualifying.procurement_types.1", "qualifying.min_contract_months", "distribution"} <= columns


def test_unknown_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="no policy named"):
        load_policy("atlantis")
    broken = tmp_path / "broken.toml"
    broken.write_text("id = ", encoding="utf-8")
    with pytest.raises(PolicyError, match="not valid TOML"):
        load_policy(broken)
