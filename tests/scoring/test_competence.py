"""Competence labels to concepts: keys, exact and fuzzy matches, codes, unknown labels, cache."""

from __future__ import annotations

import pytest

from scoring.competence import CompetenceNormaliser, compact_key, spaced_key
from scoring.taxonomy import load_competences


@pytest.fixture(scope="module")
def normaliser() -> CompetenceNormaliser:
    return CompetenceNormaliser.from_vocabulary(load_competences())


@pytest.mark.parametrize(
    ("label", "code"),
    [
        ("B-körkort", "lic-b"),
        ("körkort B", "lic-b"),        # word order
        ("Korkort b", "lic-b"),        # no ring or dots, case
        ("B körkort", "lic-b"),
        ("lic-b", "lic-b"),            # a code maps to itself
        ("C-körkort", "lic-c"),
        ("truckkort", "forklift"),
        ("Truck-kort", "forklift"),    # hyphen
        ("Truckkörkort A+B", "forklift"),
        ("ställningsbygge", "scaffolding"),
        ("stallningsbyggnad", "scaffolding"),  # ASCII and another ending
        ("Första hjälpen/HLR", "first-aid"),
        ("hlr", "first-aid"),
        ("Golvvrd", "floor-care"),     # a dropped letter
        ("omvardnad", "personal-care"),
    ],
)
def test_real_variants(normaliser: CompetenceNormaliser, label: str, code: str) -> None:
    assert normaliser.normalise(label) == code


def test_keys() -> None:
    assert spaced_key("  B-Körkort ") == "b korkort"
    assert compact_key("Truck-kort") == compact_key("truck kort") == compact_key("TRUCKKORT") == "truckkort"
    assert spaced_key("Ställnings_bygge/ÅÄÖ") == "stallnings bygge aao"


def test_unknown_kept_and_counted() -> None:
    norm = CompetenceNormaliser([("Svetsning", "weld"), ("Truckkort", "forklift")])
    assert norm.normalise("Dykare") is None
    assert norm.normalise("Dykare") is None
    assert norm.unknown == {"Dykare": 2}
    assert norm.concept_of("Dykare") == "?dykare"  # kept as its own pseudo-concept


def test_short_keys_are_not_fuzzy() -> None:
    norm = CompetenceNormaliser([("El", "electric"), ("Truckkort", "forklift")])
    assert norm.normalise("el") == "electric"  # exact
    assert norm.normalise("ek") is None        # one edit away, but too short to guess


def test_ambiguous_label_is_unknown() -> None:
    # "körkort" is as close to B as to C: no guess.
    norm = CompetenceNormaliser([("B-körkort", "lic-b"), ("C-körkort", "lic-c")])
    assert norm.normalise("körkort") is None
    assert norm.normalise("körkort C") == "lic-c"


def test_cutoff_rejects_different_compounds() -> None:
    norm = CompetenceNormaliser([("Traktorkort", "tractor")])
    assert norm.normalise("truckkort") is None  # ratio 70 < 85


def test_each_distinct_label_matched_once(monkeypatch: pytest.MonkeyPatch) -> None:
    norm = CompetenceNormaliser([("Ställningsbygge", "scaffolding")])
    calls = []
    original = norm._match

    def counting(label: str) -> str | None:
        calls.append(label)
        return original(label)

    monkeypatch.setattr(norm, "_match", counting)
    for _ in range(1000):
        assert norm.normalise("stallningsbyggnad") == "scaffolding"
    assert calls == ["stallningsbyggnad"]
    assert norm.fuzzy_matches == {"stallningsbyggnad": "scaffolding"}


def test_pool_reports_unknown_labels() -> None:
    from scoring.pool import build_pool
    from tests.scoring.test_eligibility import VOCABULARY, hand_policy, hand_region

    pool, places = build_pool(hand_region(), hand_policy(), normaliser=CompetenceNormaliser(VOCABULARY))
    assert pool.unknown_competences == {"Svetsare": 1}
    assert places.required_concepts[0] == ("lic-b", "lic-truck")
    assert places.wanted_concepts[2] == ("lic-b",)
