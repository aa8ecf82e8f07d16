"""The reference taxonomy: occupations (SSYK 2012) and a controlled vocabulary of competences.

Two data files ship with the package:

``scoring/data/occupations.csv``
    Four-digit unit groups of the Swedish occupational classification SSYK 2012 (*Standard för
    svensk yrkesklassificering*, SCB) that appear in procurements with employment requirements:
    cleaning, property care, construction, landscaping, kitchens, care, transport, warehouse,
    waste and security. Codes and Swedish names are those of SSYK 2012; the English names are ours.
    ``share_women`` is the share of women among those employed in the occupation, rounded, from
    *SCB, Yrkesregistret 2022 (approximate)*; it decides who is a gender-norm breaker (DOMAIN.md).

``scoring/data/competences.toml``
    About a hundred competence concepts (*kompetenser*): licences, certificates, trades, care,
    languages and personal qualities. Each has a stable ``code``, a canonical Swedish ``label`` and
    the ``variants`` people really write ("körkort B", "truckkörkort", "stallningsbygge").
    Matching free text against the vocabulary (fuzzy, rapidfuzz) lives elsewhere; this module only
    loads the data.

Both loaders are cached: the files are read once per process.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import polars as pl

from scoring.schema import OCCUPATIONS

__all__ = ["CompetenceVocabulary", "Concept", "load_competences", "load_occupations"]

_DATA = "data"


@dataclass(frozen=True)
class Concept:
    """One competence concept of the controlled vocabulary."""

    code: str
    """Stable id, lowercase ASCII (``lic-b``)."""
    label: str
    """Canonical Swedish label (``B-körkort``)."""
    variants: tuple[str, ...]
    """Other ways people write it, misspellings and ASCII forms included."""
    category: str = ""
    """Rough group: licence, certificate, trade, care, service, office, language, personal."""
    taxonomy_id: str | None = None
    """JobTech taxonomy concept id, where known for certain."""

    def surface_forms(self) -> tuple[str, ...]:
        """The label followed by every variant."""
        return (self.label, *self.variants)


@dataclass(frozen=True)
class CompetenceVocabulary:
    """The controlled vocabulary: concepts in file order."""

    concepts: tuple[Concept, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {c.code: c for c in self.concepts})

    def __len__(self) -> int:
        return len(self.concepts)

    @property
    def codes(self) -> tuple[str, ...]:
        """Every concept's code, in file order."""
        return tuple(c.code for c in self.concepts)

    def by_code(self, code: str) -> Concept:
        """The concept with ``code``.

        Raises
        ------
        KeyError
            No concept has that code.
        """
        index: dict[str, Concept] = getattr(self, "_index")  # noqa: B009 - set in __post_init__
        return index[code]

    def all_labels(self) -> Iterator[tuple[str, str]]:
        """Every (label or variant, code) pair, the canonical label of each concept first.

        Examples
        --------
        >>> pairs = dict(load_competences().all_labels())
        >>> pairs["körkort B"], pairs["truckkörkort"]
        ('lic-b', 'forklift')
        """
        for concept in self.concepts:
            for text in concept.surface_forms():
                yield text, concept.code


@lru_cache(maxsize=1)
def load_occupations() -> pl.DataFrame:
    """The occupations table (schema of :data:`scoring.schema.OCCUPATIONS`), sorted by code.

    Examples
    --------
    >>> occ = load_occupations()
    >>> occ.filter(pl.col("ssyk_code") == "9111").row(0)[:2]
    ('9111', 'Städare')
    """
    path = resources.files("scoring") / _DATA / "occupations.csv"
    with path.open("rb") as handle:
        frame = pl.read_csv(handle, schema_overrides={"ssyk_code": pl.String}, encoding="utf8")
    return frame.select([pl.col(c.name).cast(c.dtype) for c in OCCUPATIONS.columns]).sort("ssyk_code")


@lru_cache(maxsize=1)
def load_competences() -> CompetenceVocabulary:
    """The competence vocabulary from ``scoring/data/competences.toml``.

    Examples
    --------
    >>> vocab = load_competences()
    >>> vocab.by_code("scaffolding").label
    'Ställningsbyggnad'
    """
    path = resources.files("scoring") / _DATA / "competences.toml"
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    concepts = tuple(
        Concept(
            code=str(item["code"]),
            label=str(item["label"]),
            variants=tuple(str(v) for v in item.get("variants", ())),
            category=str(item.get("category", "")),
            taxonomy_id=None if item.get("taxonomy_id") is None else str(item["taxonomy_id"]),
        )
        for item in data["concept"]
    )
    return CompetenceVocabulary(concepts)
