"""The region's tables: every column, its type and its rule, declared once.

A region is a folder of tables (CSV or Parquet, one file per table) plus a ``region.toml`` manifest.
The declarations here drive validation (:mod:`scoring.region`), the fixture generator, the import
endpoint and ``docs/data-format.md``. In CSV, list columns hold their items separated by ``;``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import polars as pl

from scoring.domain import (
    Gender,
    IncomeSupport,
    PlacementEnd,
    PlacementType,
    ProcurementType,
    ProposalStatus,
    RequirementType,
)

LIST_SEPARATOR = ";"
ID_PATTERN = "^[A-Za-z0-9._:@+~\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff-]{1,200}$"
"""What an id is, wherever it enters (a file, a request's body or path, a CLI flag): 1 to 200 ASCII
letters and digits, Latin-1 letters (å, ä, ö, é, ü ...) and ``. _ : @ + ~ -``. No space, slash,
percent sign or control character: an id goes into URLs, ``Location`` headers (Latin-1 only) and
spreadsheet cells as it is."""
ID_RULE = ("an id is 1 to 200 letters (a-z, A-Z, Latin-1 letters such as å, ä, ö), digits and . _ : @ + ~ -"
           " (no space, slash, percent sign or control character)")
DATE_RANGE = (dt.date(1900, 1, 1), dt.date(2199, 12, 31))
"""Every date column's values lie in this range (inclusive), from a file or through the API: a
day past it (``9999-12-31``) has no next day to count a period's months up to."""


@dataclass(frozen=True)
class Column:
    """One column of a table and the rule its values follow."""

    name: str
    dtype: pl.DataType | type[pl.DataType]
    description: str
    required: bool = True
    """A value must be present in every row (the column itself must always be present)."""
    unique: bool = False
    minimum: float | None = None
    maximum: float | None = None
    allowed: tuple[str, ...] | None = None
    """For strings (and list items): the only values allowed."""
    references: tuple[str, str] | None = None
    """(table, column) this column's values must exist in."""
    sensitive: bool = False
    """Sensitive personal data: never sent to a supplier, never logged, aggregated for researchers."""
    may_be_absent: bool = False
    """The column may be left out of a file altogether: it is then read as empty (lists) or missing.
    Columns added after regions were first exchanged are so, so that older files still load."""

    @property
    def is_id(self) -> bool:
        """An id column (a table's key or a reference to one): its values follow :data:`ID_PATTERN`."""
        return self.dtype == pl.String and (self.unique or self.references is not None)


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    columns: tuple[Column, ...]
    optional: bool = False
    """The table's file may be absent (read as an empty table)."""
    key: str | None = field(default=None)

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def polars_schema(self) -> dict[str, pl.DataType | type[pl.DataType]]:
        return {c.name: c.dtype for c in self.columns}


def _values(enum: type) -> tuple[str, ...]:
    return tuple(member.value for member in enum)  # type: ignore[attr-defined]


# Sweden's extent, so that swapped or projected coordinates are caught.
_LAT_RANGE = (55.0, 69.1)
_LON_RANGE = (10.9, 24.2)


def _lat(description: str) -> Column:
    return Column("lat", pl.Float64, description, minimum=_LAT_RANGE[0], maximum=_LAT_RANGE[1])


def _lon(description: str) -> Column:
    return Column("lon", pl.Float64, description, minimum=_LON_RANGE[0], maximum=_LON_RANGE[1])

DISTRICTS = Table(
    "districts",
    "The region's districts (stadsdelar / kommundelar); distribution keys name them.",
    (
        Column("district_id", pl.String, "Stable id, lowercase ASCII, used by policies' keys.", unique=True),
        Column("name", pl.String, "Display name, Swedish spelling."),
        Column("municipality", pl.String, "The municipality the district belongs to."),
        _lat("Latitude of the district's centre (WGS84)."),
        _lon("Longitude of the district's centre (WGS84)."),
    ),
    key="district_id",
)

CANDIDATES = Table(
    "candidates",
    "Jobseekers the labour-market units may propose.",
    (
        Column("candidate_id", pl.String, "Internal id; never shown to suppliers.", unique=True),
        Column("home_district", pl.String, "District of residence.", references=("districts", "district_id")),
        _lat("Home location, latitude (WGS84), coarsened to ~100 m."),
        _lon("Home location, longitude (WGS84), coarsened to ~100 m."),
        Column("work_ladder_step", pl.Int8, "Readiness on the work ladder, 1 (farthest) to 4.",
               minimum=1, maximum=4),
        Column("competences", pl.List(pl.String),
               "Competences as free-text labels or taxonomy codes (`;`-separated in CSV).", required=False),
        Column("commute_limit_km", pl.Float64, "Longest commute the candidate accepts, km as the crow flies.",
               minimum=0.0, maximum=500.0),
        Column("wished_placement_types", pl.List(pl.String),
               "Placement types the candidate wants; empty means any.", required=False,
               allowed=_values(PlacementType)),
        Column("wished_hours", pl.Int16, "Wished working hours per week.", minimum=1, maximum=60),
        Column("support_needs", pl.List(pl.String),
               "Support that helps at work, in plain words (shown to suppliers).", required=False),
        Column("available_from", pl.Date, "First day the candidate can start."),
        Column("registered_since", pl.Date, "Registered with the public employment service since."),
        Column("gender", pl.String, "Legal gender: F, M or X.", allowed=_values(Gender), sensitive=True),
        Column("birth_year", pl.Int16, "Year of birth (the birth date is not kept).",
               minimum=1940, maximum=2012, sensitive=True),
        Column("foreign_born", pl.Boolean, "Born outside Sweden.", sensitive=True),
        Column("disability", pl.Boolean, "Has a disability that reduces work capacity.", sensitive=True),
        Column("income_support", pl.String, "What the candidate lives on today.",
               allowed=_values(IncomeSupport), sensitive=True),
        Column("placed", pl.Boolean, "Already in a placement (not available for a new one)."),
    ),
    key="candidate_id",
)

SUPPLIERS = Table(
    "suppliers",
    "Companies that won procurements with an employment requirement.",
    (
        Column("supplier_id", pl.String, "Internal id.", unique=True),
        Column("name", pl.String, "Company name."),
        Column("org_number", pl.String, "Swedish organisation number, NNNNNN-NNNN."),
    ),
    key="supplier_id",
)

PROCUREMENTS = Table(
    "procurements",
    "Public procurements, with or without an employment requirement.",
    (
        Column("procurement_id", pl.String, "Internal id (the diary number).", unique=True),
        Column("title", pl.String, "What is procured."),
        Column("procurement_type", pl.String, "Kind of procurement.", allowed=_values(ProcurementType)),
        Column("supplier_id", pl.String, "The winning supplier.", references=("suppliers", "supplier_id")),
        Column("contract_start", pl.Date, "First day of the contract period."),
        Column("contract_end", pl.Date, "Last day of the contract period."),
        Column("value_sek", pl.Int64, "Estimated contract value, SEK.", minimum=0),
        Column("executed_locally", pl.Boolean, "Executed within the municipality's borders."),
        Column("staff_needed", pl.Int32, "Employees the assignment needs.", minimum=0),
        Column("requirement_type", pl.String, "Employment requirement: none, dialogue or hard.",
               allowed=_values(RequirementType)),
        Column("required_places", pl.Int32, "Places a hard requirement demands (0 otherwise).", minimum=0),
        Column("penalty_sek", pl.Int64, "Penalty (vite) per place not delivered under a hard requirement.",
               minimum=0),
    ),
    key="procurement_id",
)

PLACES = Table(
    "places",
    "Places (jobs, apprenticeships, internships, ...) that suppliers offer under a requirement.",
    (
        Column("place_id", pl.String, "Internal id.", unique=True),
        Column("supplier_id", pl.String, "Supplier offering the place.",
               references=("suppliers", "supplier_id")),
        Column("procurement_id", pl.String, "Procurement whose requirement the place serves.",
               references=("procurements", "procurement_id")),
        Column("placement_type", pl.String, "What the place offers.", allowed=_values(PlacementType)),
        Column("ssyk_code", pl.String, "Occupation, SSYK 2012 four-digit code.",
               references=("occupations", "ssyk_code")),
        Column("title", pl.String, "Job title as the supplier writes it."),
        Column("competences_required", pl.List(pl.String), "Competence profile: required.",
               required=False),
        Column("competences_wanted", pl.List(pl.String), "Competence profile: wanted.", required=False),
        Column("competences_learnable", pl.List(pl.String),
               "Required competences the place teaches on the job (each also in competences_required): "
               "a candidate without them stays eligible.", required=False, may_be_absent=True),
        Column("district_id", pl.String, "District where the work is done.",
               references=("districts", "district_id")),
        _lat("Workplace latitude (WGS84)."),
        _lon("Workplace longitude (WGS84)."),
        Column("slots", pl.Int32, "How many people the place takes.", minimum=1, maximum=1000),
        Column("start_date", pl.Date, "First day of the placement."),
        Column("duration_months", pl.Float64, "Planned length, months.", minimum=0.25, maximum=120),
        Column("lowest_ladder_step", pl.Int8, "Lowest work-ladder step the place takes.",
               minimum=1, maximum=4),
        Column("supervisor_offered", pl.Boolean, "A supervisor (handledare) is offered."),
        Column("hours_per_week", pl.Int16, "Working hours per week.", minimum=1, maximum=60),
    ),
    key="place_id",
)

OCCUPATIONS = Table(
    "occupations",
    "Occupations (SSYK 2012) that appear in the region's places, with their gender composition.",
    (
        Column("ssyk_code", pl.String, "SSYK 2012 four-digit code.", unique=True),
        Column("name_sv", pl.String, "Swedish name as in SSYK 2012."),
        Column("name_en", pl.String, "English name."),
        Column("share_women", pl.Float64, "Share of women among those employed in the occupation.",
               minimum=0.0, maximum=1.0),
    ),
    key="ssyk_code",
)

PROPOSALS = Table(
    "proposals",
    "Proposals of candidates to places, and how they stand.",
    (
        Column("proposal_id", pl.String, "Internal id.", unique=True),
        Column("candidate_id", pl.String, "Candidate proposed.", references=("candidates", "candidate_id")),
        Column("place_id", pl.String, "Place proposed to.", references=("places", "place_id")),
        Column("created_on", pl.Date, "Day the proposal was made."),
        Column("status", pl.String, "Where it stands.", allowed=_values(ProposalStatus)),
        Column("decided_on", pl.Date, "Day it was declined, withdrawn or hired.", required=False),
        Column("decline_reason", pl.String, "Reason code when declined.", required=False),
    ),
    optional=True,
    key="proposal_id",
)

PLACEMENTS = Table(
    "placements",
    "What happened after a proposal was taken up: the placement, how it ended, and hiring.",
    (
        Column("placement_id", pl.String, "Internal id.", unique=True),
        Column("proposal_id", pl.String, "The proposal that led to it.",
               references=("proposals", "proposal_id")),
        Column("candidate_id", pl.String, "Candidate placed.", references=("candidates", "candidate_id")),
        Column("place_id", pl.String, "Place taken.", references=("places", "place_id")),
        Column("started_on", pl.Date, "First day in the place."),
        Column("ended_on", pl.Date, "Last day in the place; empty while it goes on.", required=False),
        Column("end_reason", pl.String, "How it ended, or ongoing.", allowed=_values(PlacementEnd)),
        Column("ended_by", pl.String, "Who ended it early: supplier, candidate or municipality.",
               required=False, allowed=("supplier", "candidate", "municipality")),
        Column("hired_on", pl.Date, "Day the candidate was hired, if hired.", required=False),
        Column("contract_type", pl.String, "Employment contract when hired.", required=False,
               allowed=("permanent", "fixed_term", "apprenticeship", "trainee")),
    ),
    optional=True,
    key="placement_id",
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (DISTRICTS, OCCUPATIONS, SUPPLIERS, PROCUREMENTS, PLACES, CANDIDATES, PROPOSALS, PLACEMENTS)
}
"""Every table, in an order where each table comes after those it references."""

#: The start of the pseudonym that replaces an erased candidate's id in the history kept of them
#: (proposals, placements, rounds, audit): it names no candidate, and no import may use it.
ERASED_PREFIX = "erased-"

SENSITIVE_COLUMNS: frozenset[str] = frozenset(
    c.name for t in TABLES.values() for c in t.columns if c.sensitive
)
