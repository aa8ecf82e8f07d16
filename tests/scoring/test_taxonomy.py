"""The reference taxonomy: occupations (SSYK 2012) and the competence vocabulary."""

from __future__ import annotations

import re
from collections import Counter

import polars as pl

from scoring.schema import OCCUPATIONS
from scoring.taxonomy import load_competences, load_occupations


def test_occupations_follow_the_schema() -> None:
    occ = load_occupations()
    assert occ.schema == pl.Schema(OCCUPATIONS.polars_schema)
    assert 25 <= occ.height <= 40
    assert occ["ssyk_code"].is_unique().all()
    assert all(re.fullmatch(r"[1-9]\d{3}", code) for code in occ["ssyk_code"])
    assert occ["share_women"].is_between(0.0, 1.0).all()
    assert occ.filter(pl.col("ssyk_code") == "9111")["name_sv"].item() == "Städare"
    assert occ.filter(pl.col("ssyk_code") == "5152")["name_sv"].item() == "Fastighetsskötare"


def test_concept_codes_unique_and_labels_unambiguous() -> None:
    vocab = load_competences()
    assert 60 <= len(vocab) <= 110
    assert len(set(vocab.codes)) == len(vocab.codes)
    assert all(re.fullmatch(r"[a-z0-9-]+", code) for code in vocab.codes)
    counts = Counter(text.casefold().strip() for text, _ in vocab.all_labels())
    assert [text for text, n in counts.items() if n > 1] == []
    assert not any(";" in text for text, _ in vocab.all_labels())


def test_lookups() -> None:
    vocab = load_competences()
    pairs = dict(vocab.all_labels())
    assert pairs["körkort B"] == "lic-b"
    assert pairs["stallningsbygge"] == "scaffolding"
    assert vocab.by_code("forklift").label == "Truckkort"
    assert load_competences() is vocab  # cached
